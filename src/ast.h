/* ast.h: the syntax tree of a .net file, as parsed, then annotated by check. */
#ifndef NETC_AST_H
#define NETC_AST_H

#include <stdbool.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "ops.h"

enum {
  MAX_RANK = 4,
  MAX_DEPTH = 400, /* nesting of one expression, in operator and call nodes */
};

/* A tensor shape; rank 0 is a scalar. Row-major, like everything in netc. */
typedef struct {
  int rank;
  int dim[MAX_RANK];
} Shape;

typedef struct Symbol Symbol;
typedef struct Ast Ast;

typedef enum {
  /* expressions */
  AST_NUM,    /* 0.5 */
  AST_NAME,   /* W1 */
  AST_UNARY,  /* -a */
  AST_BINARY, /* a + b, a @ b, a ^ 2 */
  AST_CALL,   /* relu(a), uniform(-1, 1), adam(lr = 0.01) */
  /* statements */
  AST_MODEL,   /* model NAME; */
  AST_INPUT,   /* input NAME[dims]; */
  AST_TARGET,  /* target NAME[dims];  target NAME : class(K); */
  AST_PARAM,   /* param NAME[dims] = INIT; */
  AST_CONST,   /* const NAME = EXPR; */
  AST_LET,     /* NAME = EXPR; */
  AST_OUTPUT,  /* output NAME = EXPR;  output NAME; */
  AST_LOSS,    /* loss EXPR; */
  AST_TRAIN,   /* train { SETTING ... } */
  AST_SETTING, /* KEY = EXPR; inside train */
} AstKind;

struct Ast {
  AstKind kind;
  Loc loc;   /* the whole construct */
  Ast *next; /* the next statement, setting, argument or dimension */
  /* An argument written 'label = expr' (optimizer settings). */
  const char *label;
  Loc label_loc;
  /* Set by check on expressions. */
  Shape shape;
  bool is_const; /* folds to a number, then in 'value' */
  double value;
  union {
    double num; /* AST_NUM */
    struct {
      const char *name;
      Symbol *sym; /* set by check */
    } ref; /* AST_NAME */
    struct {
      OpKind op;
      Ast *a, *b; /* b is NULL for AST_UNARY */
    } op;
    struct {
      const char *name;
      Loc name_loc;
      Ast *args;
      int nargs;
      int op; /* the built-in, set by check; -1 for non-ops like uniform() */
    } call;
    struct {
      const char *name; /* NULL for 'loss' and 'train' */
      Loc name_loc;
      Ast *dims;   /* [d1, d2], a list of expressions, or NULL */
      Ast *expr;   /* the value, initializer or loss; the class count */
      Ast *body;   /* train settings */
      bool is_class;
      Symbol *sym; /* what it defines or names, set by check */
    } stmt;
  };
};

Ast *ast_num(Arena *a, Loc loc, double num);
Ast *ast_name(Arena *a, Loc loc, const char *name);
Ast *ast_unary(Arena *a, Loc loc, OpKind op, Ast *operand);
Ast *ast_binary(Arena *a, Loc loc, OpKind op, Ast *lhs, Ast *rhs);
Ast *ast_call(Arena *a, Loc loc, const char *name, Loc name_loc, Ast *args);
Ast *ast_stmt(Arena *a, AstKind kind, Loc loc, const char *name, Loc name_loc);

/* Joins two lists linked by 'next'; either may be NULL. */
Ast *ast_append(Ast *list, Ast *item);
int ast_length(const Ast *list);
Loc loc_span(Loc from, Loc to);

const char *ast_kind_name(AstKind kind);
/* "[32, 64]", or "scalar"; into BUF of at least SHAPE_STR_MAX bytes. */
enum { SHAPE_STR_MAX = 64 };
const char *shape_str(Shape s, char *buf);
bool shape_eq(Shape a, Shape b);
long shape_size(Shape s); /* number of elements; 1 for a scalar; LONG_MAX if more */

/* The shortest text that reads back as V exactly, with an integer below
   1e15 in full: "100", "0.1", "0.001", "1e-08", "1e+20". BUF of
   NUM_STR_MAX. */
enum { NUM_STR_MAX = 32 };
const char *num_str(double v, char *buf);

/* Prints an expression as source, fully parenthesized where needed. */
void ast_print_expr(FILE *out, const Ast *e);

#endif
