/* ops.c: the descriptor table and constant folding, both from ops.def. */
#include "ops.h"

#include <math.h>
#include <string.h>

const OpInfo op_info[OP_COUNT] = {
#define OP(kind, name, arity, shape, flags, scalar) [kind] = {name, arity, flags},
#include "ops.def"
#undef OP
};

int op_lookup_call(const char *name) {
  for (int i = 0; i < OP_COUNT; i++)
    if ((op_info[i].flags & OPF_CALL) && strcmp(op_info[i].name, name) == 0)
      return i;
  return -1;
}

double op_fold(OpKind op, double a, double b) {
  (void)a, (void)b;
  switch (op) {
#define OP(kind, name, arity, shape, flags, scalar) \
  case kind:                                        \
    return (scalar);
#include "ops.def"
#undef OP
  default:
    return NAN;
  }
}
