/* check.h: names, shapes and settings. Turns the syntax tree into a
   checked Program, the input of every later stage. */
#ifndef NETC_CHECK_H
#define NETC_CHECK_H

#include <stdint.h>

#include "ast.h"

typedef enum {
  SYM_INPUT,  /* input x[64];    per-example data */
  SYM_TARGET, /* target y;       per-example data the loss compares with */
  SYM_PARAM,  /* param W[32, 64]; trained */
  SYM_CONST,  /* const k = 3;    a number, folded */
  SYM_VALUE,  /* h = EXPR;  output p = EXPR; */
} SymKind;

typedef enum {
  INIT_VALUE,   /* every element a */
  INIT_UNIFORM, /* uniform in [a, b) */
  INIT_NORMAL,  /* normal, mean a, standard deviation b */
  INIT_XAVIER,  /* uniform, a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010) */
  INIT_HE,      /* normal, std sqrt(2 / fan_in) (He et al., 2015) */
} InitKind;

typedef struct {
  InitKind kind;
  double a, b;
} Init;

struct Symbol {
  SymKind kind;
  const char *name;
  int index; /* position in Program.syms */
  Loc loc;   /* the name, where it is defined */
  Ast *stmt; /* the defining statement */
  Shape shape;
  int nclass;     /* > 0 for a class target: one slot holding 0..nclass-1 */
  Init init;      /* SYM_PARAM */
  double value;   /* SYM_CONST */
  Ast *expr;      /* SYM_VALUE */
  Symbol *target; /* SYM_VALUE: a target its value depends on, or NULL */
  bool is_output;
  bool used;         /* named anywhere */
  bool reaches_loss; /* the loss depends on it */
  bool live;         /* the loss or an output depends on it */
  bool invalid;      /* its definition had an error; uses say nothing more */
};

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } OptKind;

/* The train block, with every default filled in. */
typedef struct {
  OptKind optimizer;
  double lr, momentum, beta1, beta2, eps, weight_decay;
  int batch, epochs;
  uint64_t seed;
  double clip; /* gradient-norm clipping; 0 is off */
} TrainConfig;

typedef struct {
  const char *name; /* a C identifier */
  Ast *stmts;       /* the source, in order */
  Symbol **syms;    /* in order of definition */
  int nsyms;
  Symbol **outputs; /* in order of the output statements */
  int noutputs;
  Ast *loss;
  TrainConfig train;
} Program;

/* Checks STMTS, parsed from PATH. Errors and warnings go to D; when
   d->errors is non-zero afterwards the program must not be used. */
Program *check_program(Ast *stmts, const char *path, Diag *d, Arena *a);

/* The slots a symbol takes in its example's data: its elements, or one
   for a class target, which holds the class index. */
long symbol_size(const Symbol *s);
/* The slots of all symbols of KIND: P_INPUT_SIZE, P_TARGET_SIZE, P_NUM_PARAMS. */
long program_size(const Program *p, SymKind kind);

/* The program with every value's shape: 'netc ast'. */
void check_print(FILE *out, const Program *p);

const char *optimizer_name(OptKind kind);
const char *init_name(InitKind kind);

#endif
