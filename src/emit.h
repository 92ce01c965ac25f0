/* emit.h: C source for a model's forward and backward passes. */
#ifndef NETC_EMIT_H
#define NETC_EMIT_H

#include <stdio.h>

#include "diff.h"

typedef struct {
  const char *prefix;      /* of every public name: P_forward, P_real */
  bool dbl;                /* double instead of float */
  bool input_grads;        /* also P_grad_inputs */
  int threads;             /* OpenMP threads for batches and products; 1: none */
  bool blas;               /* products over the batch through CBLAS */
  int lanes;               /* examples per group in lanes (1: one at a time); 0: the default */
  const char *source_name; /* the .net file, as named in the header comment */
  const char *source_text; /* for the hash and the statements quoted in comments */
  int source_len;
} EmitOptions;

typedef struct {
  int lines;      /* of the .c file */
  int temporaries; /* values kept in the workspace or in locals */
  size_t workspace_bytes; /* per example */
} EmitStats;

/* Writes the header to H and the implementation to C. */
void emit_model(const Graph *g, const Backward *bw, const EmitOptions *o, FILE *h, FILE *c, EmitStats *stats);

/* Per target slot, the class count of a class target or 0, as a C
   initializer ending in 0: what trainers and gradcheck draw targets by. */
void emit_target_classes(FILE *f, const Program *p);

/* FNV-1a of LEN bytes, continuing from H (start from EMIT_HASH_START). */
#define EMIT_HASH_START 0xcbf29ce484222325u
uint64_t emit_hash(uint64_t h, const void *data, size_t len);

/* The file name of PATH as emitted files quote it, in comments and C
   strings: characters other than letters, digits and . - _ become _. */
const char *emit_source_name(Arena *a, const char *path);

/* Writes DIR/P.h and DIR/P.c, making DIR if needed; false after an
   error, reported to ERR. */
bool emit_files(const Graph *g, const Backward *bw, const EmitOptions *o, const char *dir, EmitStats *stats,
                FILE *err);

/* A slot of a template: {{NAME}} in a line, or a whole line holding
   slash-star-@@ NAME @@-star-slash, replaced by TEXT. */
typedef struct {
  const char *name, *text;
} Slot;

/* Writes the template NAME with its slots filled; an unknown slot is a bug. */
void emit_template(const char *name, const Slot *slots, int nslots, FILE *out);

/* The fixed parts of emitted files (templates/), built into netc. */
const char *template_text(const char *name);

#endif
