/* ops.c: the descriptor table and constant folding, both from ops.def. */
#include "ops.h"

#include <math.h>
#include <string.h>

const OpInfo op_info[OP_COUNT] = {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) [kind] = {name, arity, flags, #scalar},
#include "ops.def"
#undef OP
};

int op_lookup_call(const char *name) {
  for (int i = 0; i < OP_COUNT; i++)
    if ((op_info[i].flags & OPF_CALL) && strcmp(op_info[i].name, name) == 0)
      return i;
  return -1;
}

/* The generated code's nc_pick, which the scalar texts of ops.def call. */
static double nc_pick(int keep, double a, double b) { return keep ? a : b; }

double op_fold(OpKind op, double a, double b) {
  const long i = 0; /* the element index: folded values are scalars */
  (void)a, (void)b, (void)i;
  switch (op) {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) \
  case kind:                                        \
    return (scalar);
#include "ops.def"
#undef OP
  default:
    return NAN;
  }
}
