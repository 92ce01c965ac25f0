/* gradcheck.h: 'netc gradcheck': the generated gradient against central
   finite differences, by compiling and running the generated code. */
#ifndef NETC_GRADCHECK_H
#define NETC_GRADCHECK_H

#include <stdint.h>

#include "diff.h"

typedef struct {
  double tol;  /* the largest error allowed, relative to max(|analytic|, |numeric|, 1) */
  int samples; /* scalars checked in a tensor larger than this */
  uint64_t seed;
} GradcheckOptions;

/* Returns the exit status: 0 when every gradient is within tolerance. */
int gradcheck_run(const Program *p, const Graph *g, const Backward *bw, const Diag *d, const GradcheckOptions *o,
                  FILE *out, FILE *err);

#endif
