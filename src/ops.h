/* ops.h: the operations of the language, from ops.def. */
#ifndef NETC_OPS_H
#define NETC_OPS_H

typedef enum {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) kind,
#include "ops.def"
#undef OP
  OP_COUNT
} OpKind;

enum {
  OPF_INFIX = 1 << 0,      /* written a OP b */
  OPF_PREFIX = 1 << 1,     /* written OP a */
  OPF_CALL = 1 << 2,       /* written name(a, ...) */
  OPF_ELEMWISE = 1 << 3,   /* element i of the result needs element i of the operands */
  OPF_CLASS_ARG2 = 1 << 4, /* the second operand may be a class target */
  OPF_REDUCE = 1 << 5,     /* a sum over the elements of 'scalar' */
  OPF_MEAN = 1 << 6,       /* ... divided by their number */
  OPF_INTERNAL = 1 << 7,   /* made by differentiation, never written in a model */
  OPF_PICK = 1 << 8,       /* 'scalar' chooses with nc_pick, which the generated file then defines */
};

typedef struct {
  const char *name;
  int arity;
  int flags;
  const char *scalar; /* the scalar column, as C text */
} OpInfo;

extern const OpInfo op_info[OP_COUNT];

/* The function called NAME, or -1. */
int op_lookup_call(const char *name);
/* An elementwise op applied to numbers, as the generated code would. */
double op_fold(OpKind op, double a, double b);

#endif
