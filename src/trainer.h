/* trainer.h: 'netc trainer': the compiled model, a standalone training
   program made from templates/train.c, and a Makefile to build it. */
#ifndef NETC_TRAINER_H
#define NETC_TRAINER_H

#include "emit.h"

/* Writes DIR/P.h, DIR/P.c, DIR/P_train.c and DIR/Makefile, and the model's
   STATS if not NULL; false after an error, reported to ERR. */
bool trainer_write(const Graph *g, const Backward *bw, const EmitOptions *o, const char *dir, EmitStats *stats,
                   FILE *err);

#endif
