/* ast.c: constructors and small helpers for the syntax tree. */
#include "ast.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static Ast *new_node(Arena *a, AstKind kind, Loc loc) {
  Ast *n = arena_new(a, Ast);
  n->kind = kind;
  n->loc = loc;
  return n;
}

Ast *ast_num(Arena *a, Loc loc, double num) {
  Ast *n = new_node(a, AST_NUM, loc);
  n->num = num;
  return n;
}

Ast *ast_name(Arena *a, Loc loc, const char *name) {
  Ast *n = new_node(a, AST_NAME, loc);
  n->ref.name = name;
  return n;
}

Ast *ast_unary(Arena *a, Loc loc, OpKind op, Ast *operand) {
  Ast *n = new_node(a, AST_UNARY, loc);
  n->op.op = op;
  n->op.a = operand;
  return n;
}

Ast *ast_binary(Arena *a, Loc loc, OpKind op, Ast *lhs, Ast *rhs) {
  Ast *n = new_node(a, AST_BINARY, loc);
  n->op.op = op;
  n->op.a = lhs;
  n->op.b = rhs;
  return n;
}

Ast *ast_call(Arena *a, Loc loc, const char *name, Loc name_loc, Ast *args) {
  Ast *n = new_node(a, AST_CALL, loc);
  n->call.name = name;
  n->call.name_loc = name_loc;
  n->call.args = args;
  n->call.nargs = ast_length(args);
  n->call.op = -1;
  return n;
}

Ast *ast_stmt(Arena *a, AstKind kind, Loc loc, const char *name, Loc name_loc) {
  Ast *n = new_node(a, kind, loc);
  n->stmt.name = name;
  n->stmt.name_loc = name_loc;
  return n;
}

Ast *ast_append(Ast *list, Ast *item) {
  if (!list)
    return item;
  Ast *p = list;
  while (p->next)
    p = p->next;
  p->next = item;
  return list;
}

int ast_length(const Ast *list) {
  int n = 0;
  for (; list; list = list->next)
    n++;
  return n;
}

Loc loc_span(Loc from, Loc to) { return (Loc){from.begin, to.end}; }

const char *ast_kind_name(AstKind kind) {
  static const char *names[] = {
      [AST_NUM] = "number",   [AST_NAME] = "name",     [AST_UNARY] = "unary",
      [AST_BINARY] = "binary", [AST_CALL] = "call",    [AST_MODEL] = "model",
      [AST_INPUT] = "input",  [AST_TARGET] = "target", [AST_PARAM] = "param",
      [AST_CONST] = "const",  [AST_LET] = "value",     [AST_OUTPUT] = "output",
      [AST_LOSS] = "loss",    [AST_TRAIN] = "train",   [AST_SETTING] = "setting",
  };
  return names[kind];
}

const char *shape_str(Shape s, char *buf) {
  if (s.rank == 0)
    return strcpy(buf, "scalar");
  char *p = buf;
  *p++ = '[';
  for (int i = 0; i < s.rank; i++)
    p += snprintf(p, (size_t)(SHAPE_STR_MAX - (p - buf)), i ? ", %d" : "%d", s.dim[i]);
  strcpy(p, "]");
  return buf;
}

bool shape_eq(Shape a, Shape b) {
  if (a.rank != b.rank)
    return false;
  for (int i = 0; i < a.rank; i++)
    if (a.dim[i] != b.dim[i])
      return false;
  return true;
}

long shape_size(Shape s) {
  long n = 1;
  for (int i = 0; i < s.rank; i++) {
    if (s.dim[i] > 0 && n > LONG_MAX / s.dim[i])
      return LONG_MAX; /* four dimensions of 2^28 would overflow */
    n *= s.dim[i];
  }
  return n;
}

const char *num_str(double v, char *buf) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, NUM_STR_MAX, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  /* "%g" writes 100 as 1e+02. An integer reads better in full, which
     "%.0f" gives exactly: always below 1e15, and above while it is no
     longer than the exponent form (9007199254740992, but 1e+20). */
  if (fabs(v) < 1e21 && v == floor(v)) {
    char plain[NUM_STR_MAX];
    snprintf(plain, sizeof plain, "%.0f", v);
    if (fabs(v) < 1e15 || strlen(plain) <= strlen(buf))
      strcpy(buf, plain);
  }
  return buf;
}

/* Binding strength, as in the grammar: higher binds tighter. */
static int precedence(const Ast *e) {
  if (e->kind == AST_UNARY)
    return 3;
  if (e->kind != AST_BINARY)
    return 5;
  switch (e->op.op) {
  case OP_ADD:
  case OP_SUB:
    return 1;
  case OP_POW:
    return 4;
  default:
    return 2;
  }
}

static void print_operand(FILE *out, const Ast *e, int min_prec) {
  bool paren = precedence(e) < min_prec;
  if (paren)
    fputc('(', out);
  ast_print_expr(out, e);
  if (paren)
    fputc(')', out);
}

void ast_print_expr(FILE *out, const Ast *e) {
  switch (e->kind) {
  case AST_NUM: {
    char buf[NUM_STR_MAX];
    fputs(num_str(e->num, buf), out);
    break;
  }
  case AST_NAME:
    fputs(e->ref.name, out);
    break;
  case AST_UNARY:
    fputc('-', out);
    print_operand(out, e->op.a, 4); /* -(a) needs parens unless it is a power or tighter */
    break;
  case AST_BINARY: {
    int p = precedence(e);
    bool right_assoc = e->op.op == OP_POW;
    print_operand(out, e->op.a, right_assoc ? p + 1 : p);
    fprintf(out, e->op.op == OP_POW ? "%s" : " %s ", op_info[e->op.op].name);
    print_operand(out, e->op.b, right_assoc ? p : p + 1);
    break;
  }
  case AST_CALL:
    fprintf(out, "%s(", e->call.name);
    for (const Ast *arg = e->call.args; arg; arg = arg->next) {
      if (arg->label)
        fprintf(out, "%s = ", arg->label);
      ast_print_expr(out, arg);
      if (arg->next)
        fputs(", ", out);
    }
    fputc(')', out);
    break;
  default:
    unreachable();
  }
}
