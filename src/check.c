/* check.c: resolves names, computes and checks every shape, folds
   constants, validates initializers and the train block, and warns about
   what does not reach the loss. Errors are reported and checking goes on,
   so one run shows them all. */
#include "check.h"

#include <math.h>
#include <string.h>

enum {
  MAX_ELEMENTS = 1 << 28, /* per tensor */
};

typedef struct {
  Diag *d;
  Arena *a;
  Program *p;
  Ast *stmts;
  int nsyms_cap;
  Ast *stmt; /* the statement being checked */
  int depth;
  bool too_deep;
  Ast *model_stmt, *loss_stmt, *train_stmt;
} Checker;

/* ---- names ---- */

static const char *const initializer_names[] = {"zeros", "ones", "uniform", "normal", "xavier", "he"};
enum { NUM_INITIALIZERS = sizeof initializer_names / sizeof initializer_names[0] };

static Symbol *lookup(Checker *c, const char *name) {
  for (int i = 0; i < c->p->nsyms; i++)
    if (strcmp(c->p->syms[i]->name, name) == 0)
      return c->p->syms[i];
  return NULL;
}

static int edit_distance(const char *s, const char *t) {
  int n = (int)strlen(s), m = (int)strlen(t);
  if (n > 63 || m > 63)
    return 99;
  int row[64];
  for (int j = 0; j <= m; j++)
    row[j] = j;
  for (int i = 1; i <= n; i++) {
    int diag = row[0];
    row[0] = i;
    for (int j = 1; j <= m; j++) {
      int up = row[j];
      int best = diag + (s[i - 1] != t[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

/* The closest of CANDIDATES to NAME, if close enough to be a likely typo. */
static const char *suggest(const char *name, const char *const *candidates, int n) {
  const char *best = NULL;
  int len = (int)strlen(name);
  int best_dist = len < 2 ? 0 : len / 3 + 1; /* any one letter is close to any other */
  if (best_dist > 3)
    best_dist = 3;
  for (int i = 0; i < n; i++) {
    int dist = edit_distance(name, candidates[i]);
    if (dist <= best_dist && (!best || dist < best_dist)) {
      best = candidates[i];
      best_dist = dist;
    }
  }
  return best;
}

static void error_unknown(Checker *c, Loc loc, const char *what, const char *name,
                          const char *const *candidates, int n) {
  const char *hint = suggest(name, candidates, n);
  if (hint)
    error_at(c->d, loc, "unknown %s '%s'; did you mean '%s'?", what, name, hint);
  else
    error_at(c->d, loc, "unknown %s '%s'", what, name);
}

static const char **symbol_names(Checker *c) {
  const char **names = arena_array(c->a, const char *, c->p->nsyms + 1);
  for (int i = 0; i < c->p->nsyms; i++)
    names[i] = c->p->syms[i]->name;
  return names;
}

static int function_names(const char **out) {
  int n = 0;
  for (int i = 0; i < OP_COUNT; i++)
    if (op_info[i].flags & OPF_CALL)
      out[n++] = op_info[i].name;
  return n;
}

static bool defines_name(const Ast *s) {
  switch (s->kind) {
  case AST_INPUT:
  case AST_TARGET:
  case AST_PARAM:
  case AST_CONST:
  case AST_LET:
    return true;
  case AST_OUTPUT:
    return s->stmt.expr != NULL; /* 'output h;' names a value defined elsewhere */
  default:
    return false;
  }
}

/* A definition later in the file, to explain an unknown name better. */
static Ast *defined_later(const char *name, Ast *from) {
  for (Ast *s = from; s; s = s->next)
    if (defines_name(s) && strcmp(s->stmt.name, name) == 0)
      return s;
  return NULL;
}

static bool is_initializer(const char *name);

static void error_unknown_name(Checker *c, Loc loc, const char *name) {
  if (is_initializer(name)) {
    error_at(c->d, loc, "'%s' is an initializer; it can only initialize a 'param'", name);
    return;
  }
  if (op_lookup_call(name) >= 0) {
    error_at(c->d, loc, "'%s' is a built-in function; call it: %s(...)", name, name);
    return;
  }
  Ast *later = defined_later(name, c->stmt);
  if (later && later == c->stmt) {
    error_at(c->d, loc, "'%s' is used in its own definition", name);
    return;
  }
  if (later) {
    LineCol lc = diag_linecol(c->d, later->stmt.name_loc.begin);
    error_at(c->d, loc, "'%s' is used before its definition at %d:%d", name, lc.line, lc.col);
    return;
  }
  error_unknown(c, loc, "name", name, symbol_names(c), c->p->nsyms);
}

static bool is_initializer(const char *name) {
  for (int i = 0; i < NUM_INITIALIZERS; i++)
    if (strcmp(name, initializer_names[i]) == 0)
      return true;
  return false;
}

/* Names a model cannot define, and why. */
static const char *reserved(const char *name) {
  if (op_lookup_call(name) >= 0)
    return "a built-in function";
  if (is_initializer(name))
    return "an initializer";
  return NULL;
}

static Symbol *add_symbol(Checker *c, Ast *s, SymKind kind) {
  Program *p = c->p;
  if (p->nsyms == c->nsyms_cap) {
    c->nsyms_cap = c->nsyms_cap ? 2 * c->nsyms_cap : 16;
    Symbol **grown = arena_array(c->a, Symbol *, c->nsyms_cap);
    if (p->nsyms)
      memcpy(grown, p->syms, sizeof(Symbol *) * (size_t)p->nsyms);
    p->syms = grown;
  }
  Symbol *sym = arena_new(c->a, Symbol);
  sym->kind = kind;
  sym->name = s->stmt.name;
  sym->loc = s->stmt.name_loc;
  sym->stmt = s;
  s->stmt.sym = sym;
  sym->index = p->nsyms;
  p->syms[p->nsyms++] = sym;
  return sym;
}

/* Defines the name of statement S, or reports why it cannot be. */
static Symbol *define(Checker *c, Ast *s, SymKind kind) {
  const char *what = reserved(s->stmt.name);
  if (what) {
    error_at(c->d, s->stmt.name_loc, "'%s' is %s and cannot be redefined", s->stmt.name, what);
    /* Defined all the same, as an invalid symbol, so that the uses of
       'relu' after 'relu = x * 2;' are not reported again. */
    if (!lookup(c, s->stmt.name))
      add_symbol(c, s, kind)->invalid = true;
    return NULL;
  }
  Symbol *old = lookup(c, s->stmt.name);
  if (old) {
    LineCol lc = diag_linecol(c->d, old->loc.begin);
    error_at(c->d, s->stmt.name_loc, "'%s' is already defined at %d:%d", s->stmt.name, lc.line, lc.col);
    return NULL;
  }
  return add_symbol(c, s, kind);
}

/* ---- constants ---- */

static bool is_integer(double v) { return isfinite(v) && v == floor(v); }

/* EXPR, already checked, as a constant; reports WHAT must be one if not. */
static bool constant(Checker *c, const Ast *e, const char *what, double *out) {
  if (!e->is_const) {
    error_at(c->d, e->loc, "%s must be a constant", what);
    return false;
  }
  *out = e->value;
  return true;
}

/* ---- expressions ---- */

/* The number of elements of SH in decimal, exact even where a long
   overflows: four dimensions of 2^28 make 2^112, 34 digits. */
enum { COUNT_STR_MAX = 40 };
static const char *count_str(Shape sh, char *buf) {
  char digit[COUNT_STR_MAX] = {1}; /* least significant first */
  int n = 1;
  for (int i = 0; i < sh.rank; i++) {
    long long carry = 0;
    for (int j = 0; j < n; j++) {
      carry += (long long)digit[j] * sh.dim[i];
      digit[j] = (char)(carry % 10);
      carry /= 10;
    }
    for (; carry; carry /= 10)
      digit[n++] = (char)(carry % 10);
  }
  for (int j = 0; j < n; j++)
    buf[j] = (char)('0' + digit[n - 1 - j]);
  buf[n] = '\0';
  return buf;
}

static bool expr(Checker *c, Ast *e);

typedef bool ShapeRule(Checker *c, Ast *e, Ast *x, Ast *y);
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) static ShapeRule shape_##shape;
#include "ops.def"
#undef OP

static ShapeRule *const shape_rules[OP_COUNT] = {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) [kind] = shape_##shape,
#include "ops.def"
#undef OP
};

static const Shape scalar_shape = {0, {0}};

static const char *shape_of(Checker *c, const Ast *e) {
  char buf[SHAPE_STR_MAX];
  return arena_strdup(c->a, shape_str(e->shape, buf));
}

static bool mismatch(Checker *c, Ast *e, OpKind op, Ast *x, Ast *y) {
  error_at(c->d, e->loc, "shape mismatch in '%s': %s and %s", op_info[op].name, shape_of(c, x), shape_of(c, y));
  return false;
}

static OpKind op_of(const Ast *e) { return e->kind == AST_CALL ? (OpKind)e->call.op : e->op.op; }

/* Internal ops are never written in a model. */
static bool shape_none(Checker *c, Ast *e, Ast *x, Ast *y) {
  (void)c, (void)e, (void)x, (void)y;
  unreachable();
}

/* exp(x), -x: the operand's shape. */
static bool shape_same(Checker *c, Ast *e, Ast *x, Ast *y) {
  (void)c, (void)y;
  e->shape = x->shape;
  return true;
}

/* x ^ 2, leaky_relu(x, 0.01): x's shape; the second operand a constant. */
static bool shape_with_const(Checker *c, Ast *e, Ast *x, Ast *y) {
  double v;
  const char *what = op_of(e) == OP_POW ? "the exponent of '^'" : "the second argument of 'leaky_relu'";
  if (!constant(c, y, what, &v))
    return false;
  e->shape = x->shape;
  return true;
}

/* a + b: equal shapes, or a scalar on either side. */
static bool shape_broadcast(Checker *c, Ast *e, Ast *x, Ast *y) {
  if (x->shape.rank == 0)
    e->shape = y->shape;
  else if (y->shape.rank == 0 || shape_eq(x->shape, y->shape))
    e->shape = x->shape;
  else
    return mismatch(c, e, op_of(e), x, y);
  return true;
}

/* [m,n] @ [n] -> [m], [m,n] @ [n,k] -> [m,k], [n] @ [n,k] -> [k], [n] @ [n] -> scalar. */
static bool shape_matmul(Checker *c, Ast *e, Ast *x, Ast *y) {
  Shape a = x->shape, b = y->shape;
  if (a.rank < 1 || a.rank > 2 || b.rank < 1 || b.rank > 2) {
    error_at(c->d, e->loc, "'@' needs a vector or a matrix on each side, got %s and %s", shape_of(c, x),
             shape_of(c, y));
    return false;
  }
  int inner_a = a.dim[a.rank - 1], inner_b = b.dim[0];
  if (inner_a != inner_b) {
    error_at(c->d, e->loc, "shape mismatch in '@': %s and %s (inner dimensions %d and %d differ)",
             shape_of(c, x), shape_of(c, y), inner_a, inner_b);
    return false;
  }
  Shape r = {0, {0}};
  if (a.rank == 2)
    r.dim[r.rank++] = a.dim[0];
  if (b.rank == 2)
    r.dim[r.rank++] = b.dim[1];
  e->shape = r;
  return true;
}

/* sum(x): any shape to a scalar. */
static bool shape_reduce(Checker *c, Ast *e, Ast *x, Ast *y) {
  (void)c, (void)x, (void)y;
  e->shape = scalar_shape;
  return true;
}

/* dot(a, b): equal shapes, to a scalar. */
static bool shape_dot(Checker *c, Ast *e, Ast *x, Ast *y) {
  if (!shape_eq(x->shape, y->shape))
    return mismatch(c, e, OP_DOT, x, y);
  e->shape = scalar_shape;
  return true;
}

static bool need_rank(Checker *c, Ast *e, Ast *x, int rank) {
  if (x->shape.rank == rank)
    return true;
  error_at(c->d, e->loc, "'%s' needs a %s, got %s", op_info[op_of(e)].name, rank == 1 ? "vector" : "matrix",
           shape_of(c, x));
  return false;
}

/* softmax(x): a vector to one of the same length. */
static bool shape_vector(Checker *c, Ast *e, Ast *x, Ast *y) {
  (void)y;
  if (!need_rank(c, e, x, 1))
    return false;
  e->shape = x->shape;
  return true;
}

/* transpose(M): [m, n] -> [n, m]. */
static bool shape_transpose(Checker *c, Ast *e, Ast *x, Ast *y) {
  (void)y;
  if (!need_rank(c, e, x, 2))
    return false;
  e->shape = (Shape){2, {x->shape.dim[1], x->shape.dim[0]}};
  return true;
}

/* mse(pred, target), bce, bce_logits: equal shapes, to a scalar (the mean). */
static bool shape_loss(Checker *c, Ast *e, Ast *x, Ast *y) {
  if (!shape_eq(x->shape, y->shape))
    return mismatch(c, e, op_of(e), x, y);
  e->shape = scalar_shape;
  return true;
}

/* cross_entropy(logits[K], t): t a class target of K classes or a vector [K]. */
static bool shape_cross_entropy(Checker *c, Ast *e, Ast *x, Ast *y) {
  if (!need_rank(c, e, x, 1))
    return false;
  Symbol *t = y->kind == AST_NAME ? y->ref.sym : NULL;
  if (t && t->nclass) {
    if (t->nclass != x->shape.dim[0]) {
      error_at(c->d, e->loc, "'%s' has %d classes but the logits have %d", t->name, t->nclass, x->shape.dim[0]);
      return false;
    }
  } else if (!shape_eq(x->shape, y->shape)) {
    return mismatch(c, e, OP_CROSS_ENTROPY, x, y);
  }
  e->shape = scalar_shape;
  return true;
}

/* An operator or built-in applied to checked operands X and Y (Y may be NULL). */
static bool apply(Checker *c, Ast *e, OpKind op, Ast *x, Ast *y) {
  if (!shape_rules[op](c, e, x, y))
    return false;
  /* The limit on declared tensors holds for every result: '@' can make
     [100000, 100000] of two vectors' worth of elements. */
  if (shape_size(e->shape) > MAX_ELEMENTS) {
    char count[COUNT_STR_MAX];
    error_at(c->d, e->loc, "the result of '%s' is %s, %s elements; at most %d are allowed", op_info[op].name,
             shape_of(c, e), count_str(e->shape, count), MAX_ELEMENTS);
    return false;
  }
  if ((op_info[op].flags & OPF_ELEMWISE) && x->is_const && (!y || y->is_const)) {
    double v = op_fold(op, x->value, y ? y->value : 0);
    if (!isfinite(v)) {
      error_at(c->d, e->loc, "this constant expression has no finite value");
      return false;
    }
    e->is_const = true;
    e->value = v;
  }
  return true;
}

static bool name_expr(Checker *c, Ast *e, bool class_ok) {
  Symbol *sym = lookup(c, e->ref.name);
  /* A param, input, target or const is defined before its dimensions and
     value are checked, but is not visible in them: 'const k = k + 1;' is
     an error, as 'h = h + 1;' is. */
  if (!sym || sym->stmt == c->stmt) {
    error_unknown_name(c, e->loc, e->ref.name);
    return false;
  }
  sym->used = true;
  e->ref.sym = sym;
  if (sym->invalid)
    return false;
  e->shape = sym->shape;
  if (sym->nclass && !class_ok) {
    error_at(c->d, e->loc, "class target '%s' can only be the second argument of 'cross_entropy'", sym->name);
    return false;
  }
  if (sym->kind == SYM_CONST) {
    e->is_const = true;
    e->value = sym->value;
  }
  return true;
}

static bool call_expr(Checker *c, Ast *e) {
  const char *name = e->call.name;
  int op = op_lookup_call(name);
  if (op < 0) {
    if (is_initializer(name)) {
      error_at(c->d, e->call.name_loc, "'%s' is an initializer; it can only initialize a 'param'", name);
    } else {
      const char *names[OP_COUNT];
      error_unknown(c, e->call.name_loc, "function", name, names, function_names(names));
    }
    return false;
  }
  e->call.op = op;
  int arity = op_info[op].arity;
  if (e->call.nargs != arity) {
    error_at(c->d, e->loc, "'%s' takes %d argument%s, got %d", name, arity, arity == 1 ? "" : "s", e->call.nargs);
    return false;
  }
  bool ok = true;
  int i = 0;
  for (Ast *arg = e->call.args; arg; arg = arg->next, i++) {
    if (arg->label) {
      error_at(c->d, arg->label_loc, "'%s' takes no named arguments", name);
      ok = false;
    } else if (i == 1 && (op_info[op].flags & OPF_CLASS_ARG2) && arg->kind == AST_NAME) {
      ok = name_expr(c, arg, true) && ok;
    } else {
      ok = expr(c, arg) && ok;
    }
  }
  return ok && apply(c, e, (OpKind)op, e->call.args, e->call.args->next);
}

static bool expr_inner(Checker *c, Ast *e) {
  switch (e->kind) {
  case AST_NUM:
    e->is_const = true;
    e->value = e->num;
    e->shape = scalar_shape;
    return true;
  case AST_NAME:
    return name_expr(c, e, false);
  case AST_UNARY:
    return expr(c, e->op.a) && apply(c, e, e->op.op, e->op.a, NULL);
  case AST_BINARY: {
    bool ok = expr(c, e->op.a);
    ok = expr(c, e->op.b) && ok;
    return ok && apply(c, e, e->op.op, e->op.a, e->op.b);
  }
  case AST_CALL:
    return call_expr(c, e);
  default:
    unreachable();
  }
}

/* Checks E and its operands; false after an error in it, reported once. */
static bool expr(Checker *c, Ast *e) {
  if (c->depth >= MAX_DEPTH) {
    if (!c->too_deep)
      error_at(c->d, e->loc, "expression is nested too deeply (more than %d levels)", MAX_DEPTH);
    c->too_deep = true;
    return false;
  }
  c->depth++;
  bool ok = expr_inner(c, e);
  c->depth--;
  return ok;
}

/* ---- named arguments: uniform(a, b), adam(lr = 0.01) ---- */

/* Binds the arguments of CALL to the parameters NAMES (N of them), by
   position first, then by name. Each must be constant. VALUES and LOCS
   hold the defaults on entry; LOCS gets where each given one was written. */
static bool bind_args(Checker *c, Ast *call, const char *const *names, int n, double *values, Loc *locs) {
  bool given[8] = {false};
  bool ok = true, named = false;
  int pos = 0;
  for (Ast *arg = call->call.args; arg; arg = arg->next) {
    int slot;
    if (arg->label) {
      named = true;
      for (slot = 0; slot < n && strcmp(names[slot], arg->label) != 0; slot++)
        ;
      if (slot == n) {
        const char *hint = suggest(arg->label, names, n);
        if (hint)
          error_at(c->d, arg->label_loc, "unknown argument '%s' of '%s'; did you mean '%s'?", arg->label,
                   call->call.name, hint);
        else
          error_at(c->d, arg->label_loc, "unknown argument '%s' of '%s'", arg->label, call->call.name);
        ok = false;
        continue;
      }
    } else if (named) {
      error_at(c->d, arg->loc, "a positional argument cannot follow a named one");
      ok = false;
      continue;
    } else if ((slot = pos++) >= n) {
      if (pos == n + 1) /* the first one too many */
        error_at(c->d, arg->loc, "'%s' takes at most %d argument%s", call->call.name, n, n == 1 ? "" : "s");
      ok = false;
      continue;
    }
    if (given[slot]) {
      error_at(c->d, arg->label ? arg->label_loc : arg->loc, "'%s' is given twice", names[slot]);
      ok = false;
      continue;
    }
    given[slot] = true;
    locs[slot] = arg->loc;
    char what[96];
    snprintf(what, sizeof what, "'%s'", names[slot]);
    if (!expr(c, arg) || !constant(c, arg, what, &values[slot]))
      ok = false;
  }
  return ok;
}

/* ---- statements ---- */

static bool dims(Checker *c, Ast *s, Shape *out) {
  Shape sh = {0, {0}};
  for (Ast *d = s->stmt.dims; d; d = d->next) {
    if (sh.rank == MAX_RANK) {
      error_at(c->d, d->loc, "a tensor has at most %d dimensions", MAX_RANK);
      return false;
    }
    double v;
    char num[NUM_STR_MAX];
    if (!expr(c, d) || !constant(c, d, "a dimension", &v))
      return false;
    if (!is_integer(v) || v < 1) {
      error_at(c->d, d->loc, "a dimension must be a positive integer, got %s", num_str(v, num));
      return false;
    }
    if (v > MAX_ELEMENTS) {
      error_at(c->d, d->loc, "a dimension must be at most %d, got %s", MAX_ELEMENTS, num_str(v, num));
      return false;
    }
    sh.dim[sh.rank++] = (int)v;
  }
  if (shape_size(sh) > MAX_ELEMENTS) {
    char count[COUNT_STR_MAX];
    error_at(c->d, s->stmt.name_loc, "'%s' has %s elements; at most %d are allowed", s->stmt.name,
             count_str(sh, count), MAX_ELEMENTS);
    return false;
  }
  *out = sh;
  return true;
}

static void stmt_model(Checker *c, Ast *s) {
  if (c->model_stmt) {
    error_at(c->d, s->loc, "duplicate 'model' statement");
    note_at(c->d, c->model_stmt->loc, "the first is here");
    return;
  }
  c->model_stmt = s;
  c->p->name = s->stmt.name;
}

/* input x[64];  target y;  target label : class(10); */
static void stmt_data(Checker *c, Ast *s) {
  Symbol *sym = define(c, s, s->kind == AST_INPUT ? SYM_INPUT : SYM_TARGET);
  if (!sym)
    return;
  if (!s->stmt.is_class) {
    sym->invalid = !dims(c, s, &sym->shape);
    return;
  }
  double k;
  char num[NUM_STR_MAX];
  if (!expr(c, s->stmt.expr) || !constant(c, s->stmt.expr, "the number of classes", &k)) {
    sym->invalid = true;
  } else if (!is_integer(k) || k < 2) {
    error_at(c->d, s->stmt.expr->loc, "the number of classes must be an integer of at least 2, got %s",
             num_str(k, num));
    sym->invalid = true;
  } else if (k > MAX_ELEMENTS) {
    error_at(c->d, s->stmt.expr->loc, "the number of classes must be at most %d, got %s", MAX_ELEMENTS,
             num_str(k, num));
    sym->invalid = true;
  } else {
    sym->nclass = (int)k;
  }
}

static bool init_call(Checker *c, Symbol *sym, Ast *e) {
  static const char *const uniform_args[] = {"a", "b"}, *const normal_args[] = {"mean", "std"};
  bool uniform = strcmp(e->call.name, "uniform") == 0;
  const char *const *names = uniform ? uniform_args : normal_args;
  double v[2] = {NAN, NAN}; /* constants are finite, so NAN marks a missing one */
  Loc locs[2] = {e->loc, e->loc};
  if (!bind_args(c, e, names, 2, v, locs))
    return false;
  for (int i = 0; i < 2; i++)
    if (isnan(v[i])) {
      error_at(c->d, e->loc, "'%s' needs '%s': %s", e->call.name, names[i],
               uniform ? "uniform(a, b)" : "normal(mean, std)");
      return false;
    }
  if (uniform && !(v[0] < v[1])) {
    char a[NUM_STR_MAX], b[NUM_STR_MAX];
    error_at(c->d, e->loc, "'uniform(a, b)' needs a < b, got a = %s and b = %s", num_str(v[0], a), num_str(v[1], b));
    return false;
  }
  if (!uniform && v[1] < 0) {
    char std[NUM_STR_MAX];
    error_at(c->d, locs[1], "'normal(mean, std)' needs std >= 0, got %s", num_str(v[1], std));
    return false;
  }
  sym->init = (Init){uniform ? INIT_UNIFORM : INIT_NORMAL, v[0], v[1]};
  return true;
}

static bool init_named(Checker *c, Symbol *sym, Ast *e) {
  const char *n = e->ref.name;
  if (strcmp(n, "zeros") == 0 || strcmp(n, "ones") == 0) {
    sym->init = (Init){INIT_VALUE, n[0] == 'o', 0};
    return true;
  }
  if (strcmp(n, "uniform") == 0 || strcmp(n, "normal") == 0) {
    error_at(c->d, e->loc, "'%s' needs its arguments: %s", n, n[0] == 'u' ? "uniform(a, b)" : "normal(mean, std)");
    return false;
  }
  InitKind kind = n[0] == 'x' ? INIT_XAVIER : INIT_HE;
  if (sym->shape.rank < 2) {
    char buf[SHAPE_STR_MAX];
    error_at(c->d, e->loc, "'%s' needs a parameter of rank 2 or more; '%s' is %s", n, sym->name,
             shape_str(sym->shape, buf));
    return false;
  }
  sym->init = (Init){kind, 0, 0};
  return true;
}

/* Does E name an initializer, itself or anywhere below? Gives up at the
   nesting limit, where expr() reports the depth instead. */
static bool has_initializer(const Ast *e, int depth) {
  if (depth >= MAX_DEPTH)
    return false;
  switch (e->kind) {
  case AST_NAME:
    return is_initializer(e->ref.name);
  case AST_UNARY:
  case AST_BINARY:
    return has_initializer(e->op.a, depth + 1) || (e->op.b && has_initializer(e->op.b, depth + 1));
  case AST_CALL:
    if (is_initializer(e->call.name))
      return true;
    for (const Ast *arg = e->call.args; arg; arg = arg->next)
      if (has_initializer(arg, depth + 1))
        return true;
    return false;
  default:
    return false;
  }
}

static bool is_sampled(const Ast *e) {
  return e->kind == AST_CALL && (strcmp(e->call.name, "uniform") == 0 || strcmp(e->call.name, "normal") == 0);
}

/* = 0.5, zeros, ones, uniform(a, b), normal(mean, std), xavier, he */
static bool init(Checker *c, Symbol *sym, Ast *e) {
  if (!e) {
    sym->init = (Init){sym->shape.rank >= 2 ? INIT_XAVIER : INIT_VALUE, 0, 0};
    return true;
  }
  if (e->kind == AST_NAME && is_initializer(e->ref.name))
    return init_named(c, sym, e);
  /* An initializer stands alone: 'zeros + 1', '-xavier', 'zeros(1)' and
     'uniform(zeros, 1)' are not initializers, and "'zeros' can only
     initialize a 'param'" would be no help here. */
  bool misused = false;
  if (is_sampled(e)) {
    for (const Ast *arg = e->call.args; arg; arg = arg->next)
      misused |= has_initializer(arg, 1);
  } else {
    misused = has_initializer(e, 0);
  }
  if (!misused && is_sampled(e))
    return init_call(c, sym, e);
  if (!misused && !expr(c, e))
    return false;
  if (misused || !e->is_const || e->shape.rank != 0) {
    error_at(c->d, e->loc, "an initializer is a number, zeros, ones, uniform(a, b), normal(mean, std), xavier or he");
    return false;
  }
  sym->init = (Init){INIT_VALUE, e->value, 0};
  return true;
}

static void stmt_param(Checker *c, Ast *s) {
  Symbol *sym = define(c, s, SYM_PARAM);
  if (sym)
    sym->invalid = !dims(c, s, &sym->shape) || !init(c, sym, s->stmt.expr);
}

static void stmt_const(Checker *c, Ast *s) {
  Symbol *sym = define(c, s, SYM_CONST);
  if (!sym)
    return;
  Ast *e = s->stmt.expr;
  sym->invalid = !expr(c, e);
  if (sym->invalid)
    return;
  if (!e->is_const || e->shape.rank != 0) {
    error_at(c->d, e->loc, "the value of a 'const' must be a constant expression");
    sym->invalid = true;
    return;
  }
  sym->value = e->value;
}

/* A target that E, checked, depends on, directly or through the values
   it names, or NULL. Values are defined before they are used, so theirs
   is already known. */
static Symbol *target_of(const Ast *e) {
  switch (e->kind) {
  case AST_NAME:
    return e->ref.sym->kind == SYM_TARGET ? e->ref.sym : e->ref.sym->target;
  case AST_UNARY:
  case AST_BINARY: {
    Symbol *t = target_of(e->op.a);
    return t || !e->op.b ? t : target_of(e->op.b);
  }
  case AST_CALL:
    for (const Ast *arg = e->call.args; arg; arg = arg->next) {
      Symbol *t = target_of(arg);
      if (t)
        return t;
    }
    return NULL;
  default:
    return NULL;
  }
}

/* Outputs are computed at prediction time, where there are no targets. */
static bool output_without_target(Checker *c, Loc loc, const Symbol *sym) {
  if (!sym->target)
    return true;
  error_at(c->d, loc, "output '%s' depends on target '%s'; outputs are computed without targets", sym->name,
           sym->target->name);
  return false;
}

/* h = EXPR;  output p = EXPR; */
static void stmt_let(Checker *c, Ast *s) {
  bool ok = expr(c, s->stmt.expr);
  Symbol *sym = define(c, s, SYM_VALUE);
  if (!sym)
    return;
  sym->expr = s->stmt.expr;
  sym->shape = s->stmt.expr->shape;
  sym->invalid = !ok;
  if (ok)
    sym->target = target_of(sym->expr);
  if (s->kind == AST_OUTPUT) {
    sym->is_output = true;
    c->p->outputs[c->p->noutputs++] = sym;
    output_without_target(c, s->stmt.name_loc, sym);
  }
}

static void stmt_output(Checker *c, Ast *s) {
  if (s->stmt.expr) {
    stmt_let(c, s);
    return;
  }
  Symbol *sym = lookup(c, s->stmt.name);
  if (!sym) {
    error_unknown_name(c, s->stmt.name_loc, s->stmt.name);
    return;
  }
  sym->used = true;
  if (sym->nclass) {
    error_at(c->d, s->stmt.name_loc, "class target '%s' cannot be an output", sym->name);
  } else if (sym->kind == SYM_TARGET) {
    error_at(c->d, s->stmt.name_loc, "target '%s' cannot be an output; outputs are computed without targets",
             sym->name);
  } else if (sym->is_output) {
    error_at(c->d, s->stmt.name_loc, "'%s' is already an output", sym->name);
  } else if (output_without_target(c, s->stmt.name_loc, sym)) {
    sym->is_output = true;
    s->stmt.sym = sym;
    c->p->outputs[c->p->noutputs++] = sym;
  }
}

static void stmt_loss(Checker *c, Ast *s) {
  if (c->loss_stmt) {
    error_at(c->d, s->loc, "duplicate 'loss' statement; a model has exactly one");
    note_at(c->d, c->loss_stmt->loc, "the first is here");
    return;
  }
  c->loss_stmt = s;
  Ast *e = s->stmt.expr;
  if (!expr(c, e))
    return;
  if (e->shape.rank != 0) {
    error_at(c->d, e->loc, "loss must be a scalar, got %s", shape_of(c, e));
    return;
  }
  c->p->loss = e;
}

/* ---- the train block ---- */

typedef enum { T_REAL, T_INT, T_SEED } SettingType;

/* A number the train block may set, and the values it may take:
   lo < v (or lo <= v when lo_closed), v < hi (or v <= hi when hi_closed). */
typedef struct {
  const char *name;
  SettingType type;
  size_t offset; /* into TrainConfig */
  double lo, hi;
  bool lo_closed, hi_closed;
} Setting;

#define SETTING(name, type, lo, lo_closed, hi, hi_closed) \
  {#name, type, offsetof(TrainConfig, name), lo, hi, lo_closed, hi_closed}
static const Setting settings[] = {
    SETTING(lr, T_REAL, 0, false, INFINITY, false),
    SETTING(momentum, T_REAL, 0, true, 1, false),
    SETTING(beta1, T_REAL, 0, true, 1, false),
    SETTING(beta2, T_REAL, 0, true, 1, false),
    SETTING(eps, T_REAL, 0, false, INFINITY, false),
    SETTING(weight_decay, T_REAL, 0, true, INFINITY, false),
    SETTING(batch, T_INT, 1, true, 1 << 20, true),
    SETTING(epochs, T_INT, 1, true, 1e9, true),
    /* Below 2^53, where every integer is exact in a double: 2^53 + 1
       would read as 2^53 and pass for it. */
    SETTING(seed, T_SEED, 0, true, 9007199254740992.0, false),
    SETTING(clip, T_REAL, 0, true, INFINITY, false),
};
#undef SETTING
enum { NUM_SETTINGS = sizeof settings / sizeof settings[0] };

typedef struct {
  const char *name;
  int nparams;
  const char *params[5]; /* names in the settings table */
  double defaults[5];
} OptimizerInfo;

static const OptimizerInfo optimizers[] = {
    [OPT_SGD] = {"sgd", 2, {"lr", "momentum"}, {0.01, 0}},
    [OPT_ADAM] = {"adam", 4, {"lr", "beta1", "beta2", "eps"}, {0.001, 0.9, 0.999, 1e-8}},
    [OPT_ADAMW] = {"adamw", 5, {"lr", "beta1", "beta2", "eps", "weight_decay"}, {0.001, 0.9, 0.999, 1e-8, 0.01}},
};
enum { NUM_OPTIMIZERS = sizeof optimizers / sizeof optimizers[0] };

const char *optimizer_name(OptKind kind) { return optimizers[kind].name; }

static const Setting *find_setting(const char *name) {
  for (int i = 0; i < NUM_SETTINGS; i++)
    if (strcmp(settings[i].name, name) == 0)
      return &settings[i];
  return NULL;
}

/* Checks V against the range of setting S and stores it. */
static bool store_setting(Checker *c, Loc loc, const Setting *s, double v) {
  bool ok = (s->lo_closed ? v >= s->lo : v > s->lo) && (s->hi_closed ? v <= s->hi : v < s->hi);
  char got[NUM_STR_MAX], lo[NUM_STR_MAX], hi[NUM_STR_MAX];
  num_str(v, got);
  if (s->type != T_REAL && !is_integer(v)) {
    error_at(c->d, loc, "'%s' must be an integer, got %s", s->name, got);
    return false;
  }
  if (!ok) {
    /* Exact numbers: with "%g", 1048577 is outside [1, 1.04858e+06] but
       prints as 1.04858e+06. */
    num_str(s->lo, lo);
    if (isinf(s->hi))
      error_at(c->d, loc, "'%s' must be %s %s, got %s", s->name, s->lo_closed ? "at least" : "greater than", lo, got);
    else
      error_at(c->d, loc, "'%s' must be in %c%s, %s%c, got %s", s->name, s->lo_closed ? '[' : '(', lo,
               num_str(s->hi, hi), s->hi_closed ? ']' : ')', got);
    return false;
  }
  char *field = (char *)&c->p->train + s->offset;
  switch (s->type) {
  case T_REAL:
    *(double *)field = v;
    break;
  case T_INT:
    *(int *)field = (int)v;
    break;
  case T_SEED:
    *(uint64_t *)field = (uint64_t)v;
    break;
  }
  return true;
}

/* optimizer = adam;  optimizer = sgd(lr = 0.1, momentum = 0.9); */
static void set_optimizer(Checker *c, Ast *e) {
  const char *name = e->kind == AST_CALL ? e->call.name : e->kind == AST_NAME ? e->ref.name : NULL;
  if (!name) {
    error_at(c->d, e->loc, "expected an optimizer: sgd(...), adam(...) or adamw(...)");
    return;
  }
  const char *names[NUM_OPTIMIZERS];
  int k = -1;
  for (int i = 0; i < NUM_OPTIMIZERS; i++) {
    names[i] = optimizers[i].name;
    if (strcmp(names[i], name) == 0)
      k = i;
  }
  if (k < 0) {
    error_unknown(c, e->kind == AST_CALL ? e->call.name_loc : e->loc, "optimizer", name, names, NUM_OPTIMIZERS);
    return;
  }
  const OptimizerInfo *opt = &optimizers[k];
  double values[5];
  Loc locs[5];
  memcpy(values, opt->defaults, sizeof values);
  for (int i = 0; i < opt->nparams; i++)
    locs[i] = e->loc;
  /* An argument with an error keeps its default, so the ranges of the
     others are still checked. */
  if (e->kind == AST_CALL)
    bind_args(c, e, opt->params, opt->nparams, values, locs);
  c->p->train.optimizer = (OptKind)k;
  for (int i = 0; i < opt->nparams; i++)
    store_setting(c, locs[i], find_setting(opt->params[i]), values[i]);
}

static bool takes(OptKind k, const char *arg) {
  for (int i = 0; i < optimizers[k].nparams; i++)
    if (strcmp(optimizers[k].params[i], arg) == 0)
      return true;
  return false;
}

/* An optimizer that takes ARG, for a hint: the one the block (from FIRST)
   chooses if it does, else adam, adamw or sgd, the first that does. */
static OptKind optimizer_taking(const char *arg, const Ast *first) {
  for (const Ast *s = first; s; s = s->next) {
    if (strcmp(s->stmt.name, "optimizer") != 0)
      continue;
    const Ast *e = s->stmt.expr;
    const char *name = e->kind == AST_CALL ? e->call.name : e->kind == AST_NAME ? e->ref.name : "";
    for (int k = 0; k < NUM_OPTIMIZERS; k++)
      if (strcmp(optimizers[k].name, name) == 0 && takes((OptKind)k, arg))
        return (OptKind)k;
  }
  static const OptKind order[] = {OPT_ADAM, OPT_ADAMW, OPT_SGD};
  for (int i = 0; i < NUM_OPTIMIZERS; i++)
    if (takes(order[i], arg))
      return order[i];
  unreachable();
}

static const char *const train_keys[] = {"optimizer", "batch", "epochs", "seed", "clip"};
enum { NUM_TRAIN_KEYS = sizeof train_keys / sizeof train_keys[0] };

/* KEY = VALUE; inside train { ... }. FIRST is the block's first setting,
   to find the same key set twice. */
static void setting(Checker *c, Ast *s, Ast *first) {
  const char *key = s->stmt.name;
  for (Ast *prev = first; prev != s; prev = prev->next)
    if (strcmp(prev->stmt.name, key) == 0) {
      LineCol lc = diag_linecol(c->d, prev->stmt.name_loc.begin);
      error_at(c->d, s->stmt.name_loc, "'%s' is already set at %d:%d", key, lc.line, lc.col);
      return;
    }
  int k;
  for (k = 0; k < NUM_TRAIN_KEYS && strcmp(train_keys[k], key) != 0; k++)
    ;
  if (k == NUM_TRAIN_KEYS) {
    if (find_setting(key))
      error_at(c->d, s->stmt.name_loc, "'%s' is an argument of the optimizer: optimizer = %s(%s = ...)", key,
               optimizers[optimizer_taking(key, first)].name, key);
    else
      error_unknown(c, s->stmt.name_loc, "train setting", key, train_keys, NUM_TRAIN_KEYS);
    return;
  }
  if (k == 0) {
    set_optimizer(c, s->stmt.expr);
    return;
  }
  double v;
  char what[64];
  snprintf(what, sizeof what, "'%s'", key);
  if (expr(c, s->stmt.expr) && constant(c, s->stmt.expr, what, &v))
    store_setting(c, s->stmt.expr->loc, find_setting(key), v);
}

static void stmt_train(Checker *c, Ast *s) {
  if (c->train_stmt) {
    error_at(c->d, s->loc, "duplicate 'train' block");
    note_at(c->d, c->train_stmt->loc, "the first is here");
    return;
  }
  c->train_stmt = s;
  for (Ast *st = s->stmt.body; st; st = st->next)
    setting(c, st, s->stmt.body);
}

static const TrainConfig default_train = {
    .optimizer = OPT_ADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
    .batch = 32, .epochs = 10, .seed = 1, .clip = 0,
};

/* ---- what reaches the loss ---- */

/* Flags the symbols that E names directly. */
static void mark(const Ast *e, bool loss) {
  switch (e->kind) {
  case AST_NAME:
    if (e->ref.sym) {
      e->ref.sym->live = true;
      e->ref.sym->reaches_loss |= loss;
    }
    return;
  case AST_UNARY:
  case AST_BINARY:
    mark(e->op.a, loss);
    if (e->op.b)
      mark(e->op.b, loss);
    return;
  case AST_CALL:
    for (const Ast *arg = e->call.args; arg; arg = arg->next)
      mark(arg, loss);
    return;
  default:
    return;
  }
}

/* Names are defined before they are used, so one walk from the last
   definition to the first carries the flags down every dependency. */
static void propagate(Program *p) {
  if (p->loss)
    mark(p->loss, true);
  for (int i = 0; i < p->noutputs; i++)
    p->outputs[i]->live = true;
  for (int i = p->nsyms - 1; i >= 0; i--) {
    Symbol *sym = p->syms[i];
    if (sym->expr && sym->live)
      mark(sym->expr, sym->reaches_loss);
  }
}

static void warn_unused(Checker *c) {
  Program *p = c->p;
  propagate(p);
  for (int i = 0; i < p->nsyms; i++) {
    Symbol *sym = p->syms[i];
    if (sym->invalid)
      continue;
    switch (sym->kind) {
    case SYM_PARAM:
      if (!sym->reaches_loss)
        warning_at(c->d, sym->loc, "parameter '%s' does not affect the loss; its gradient is always zero", sym->name);
      break;
    /* "never used" only when it is never named: one named by a value
       that goes nowhere is used, but does not matter either. */
    case SYM_INPUT:
      if (!sym->live && sym->used)
        warning_at(c->d, sym->loc, "input '%s' does not reach the loss or an output", sym->name);
      else if (!sym->live)
        warning_at(c->d, sym->loc, "input '%s' is never used", sym->name);
      break;
    case SYM_TARGET:
      if (!sym->reaches_loss)
        warning_at(c->d, sym->loc, "target '%s' is not used by the loss", sym->name);
      break;
    case SYM_VALUE:
      if (!sym->live && sym->used)
        warning_at(c->d, sym->loc, "'%s' does not reach the loss or an output", sym->name);
      else if (!sym->live)
        warning_at(c->d, sym->loc, "'%s' is computed but never used", sym->name);
      break;
    case SYM_CONST:
      if (!sym->used)
        warning_at(c->d, sym->loc, "constant '%s' is never used", sym->name);
      break;
    }
  }
}

/* ---- the program ---- */

/* "models/my-net.net" -> "my_net": the model is named after its file
   unless it says otherwise, and the name must work as a C identifier. */
static const char *name_from_path(Arena *a, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t len = strlen(base);
  if (len > 4 && strcmp(base + len - 4, ".net") == 0)
    len -= 4;
  if (len == 0)
    return "model";
  bool digit = base[0] >= '0' && base[0] <= '9';
  char *name = arena_alloc(a, len + 2);
  char *q = name;
  if (digit)
    *q++ = '_';
  for (size_t i = 0; i < len; i++) {
    char ch = base[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
    *q++ = ok ? ch : '_';
  }
  return name;
}

typedef void StmtRule(Checker *c, Ast *s);
static StmtRule *const stmt_rules[] = {
    [AST_MODEL] = stmt_model, [AST_INPUT] = stmt_data, [AST_TARGET] = stmt_data,
    [AST_PARAM] = stmt_param, [AST_CONST] = stmt_const, [AST_LET] = stmt_let,
    [AST_OUTPUT] = stmt_output, [AST_LOSS] = stmt_loss, [AST_TRAIN] = stmt_train,
};

Program *check_program(Ast *stmts, const char *path, Diag *d, Arena *a) {
  Program *p = arena_new(a, Program);
  p->train = default_train;
  p->stmts = stmts;
  int noutputs = 0;
  for (Ast *s = stmts; s; s = s->next)
    noutputs += s->kind == AST_OUTPUT;
  p->outputs = arena_array(a, Symbol *, noutputs + 1);
  Checker c = {.d = d, .a = a, .p = p, .stmts = stmts};
  for (Ast *s = stmts; s && !diag_stopped(d); s = s->next) {
    c.stmt = s;
    stmt_rules[s->kind](&c, s);
  }
  if (!p->name)
    p->name = name_from_path(a, path);
  if (!c.loss_stmt)
    error_file(d, "no 'loss' statement");
  if (d->errors == 0)
    warn_unused(&c);
  return p;
}

/* ---- printing: netc ast ---- */

const char *init_name(InitKind kind) {
  static const char *const names[] = {
      [INIT_VALUE] = "value", [INIT_UNIFORM] = "uniform", [INIT_NORMAL] = "normal",
      [INIT_XAVIER] = "xavier", [INIT_HE] = "he",
  };
  return names[kind];
}

static void print_type(FILE *out, const Symbol *sym) {
  char buf[SHAPE_STR_MAX];
  if (sym->nclass)
    fprintf(out, "class(%d)", sym->nclass);
  else
    fputs(shape_str(sym->shape, buf), out);
}

static void print_tree(FILE *out, const Ast *e, int indent) {
  char shape[SHAPE_STR_MAX], num[NUM_STR_MAX];
  fprintf(out, "%*s", indent, "");
  switch (e->kind) {
  case AST_NUM:
    fprintf(out, "%s\n", num_str(e->num, num));
    return;
  case AST_NAME:
    fprintf(out, "%s ", e->ref.name);
    print_type(out, e->ref.sym);
    fputc('\n', out);
    return;
  default:
    break;
  }
  OpKind op = op_of(e);
  fprintf(out, "%s %s", op == OP_NEG ? "neg" : op_info[op].name, shape_str(e->shape, shape));
  if (e->is_const)
    fprintf(out, " = %s", num_str(e->value, num));
  fputc('\n', out);
  if (e->kind == AST_CALL) {
    for (const Ast *arg = e->call.args; arg; arg = arg->next)
      print_tree(out, arg, indent + 2);
  } else {
    print_tree(out, e->op.a, indent + 2);
    if (e->op.b)
      print_tree(out, e->op.b, indent + 2);
  }
}

static void print_init(FILE *out, Init init) {
  char a[NUM_STR_MAX], b[NUM_STR_MAX];
  switch (init.kind) {
  case INIT_VALUE:
    fputs(num_str(init.a, a), out);
    break;
  case INIT_UNIFORM:
    fprintf(out, "uniform(%s, %s)", num_str(init.a, a), num_str(init.b, b));
    break;
  case INIT_NORMAL:
    fprintf(out, "normal(%s, %s)", num_str(init.a, a), num_str(init.b, b));
    break;
  default:
    fputs(init_name(init.kind), out);
  }
}

static void print_train(FILE *out, const TrainConfig *t) {
  const OptimizerInfo *opt = &optimizers[t->optimizer];
  char num[NUM_STR_MAX];
  fprintf(out, "train optimizer = %s(", opt->name);
  for (int i = 0; i < opt->nparams; i++) {
    const Setting *s = find_setting(opt->params[i]);
    fprintf(out, "%s%s = %s", i ? ", " : "", s->name, num_str(*(const double *)((const char *)t + s->offset), num));
  }
  fprintf(out, "); batch = %d; epochs = %d; seed = %llu; clip = %s\n", t->batch, t->epochs,
          (unsigned long long)t->seed, num_str(t->clip, num));
}

void check_print(FILE *out, const Program *p) {
  static const char *const kinds[] = {
      [SYM_INPUT] = "input", [SYM_TARGET] = "target", [SYM_PARAM] = "param",
      [SYM_CONST] = "const", [SYM_VALUE] = "value",
  };
  char num[NUM_STR_MAX];
  fprintf(out, "model %s\n", p->name);
  for (const Ast *s = p->stmts; s; s = s->next) {
    const Symbol *sym = s->stmt.sym;
    switch (s->kind) {
    case AST_MODEL:
    case AST_TRAIN:
      break;
    case AST_LOSS:
      fputs("loss scalar = ", out);
      ast_print_expr(out, s->stmt.expr);
      fputc('\n', out);
      print_tree(out, s->stmt.expr, 2);
      break;
    default:
      fprintf(out, "%s%s %s ", s->kind == AST_OUTPUT ? "output " : "", kinds[sym->kind], sym->name);
      print_type(out, sym);
      if (sym->kind == SYM_PARAM) {
        fputs(" = ", out);
        print_init(out, sym->init);
      } else if (sym->kind == SYM_CONST) {
        fprintf(out, " = %s", num_str(sym->value, num));
      } else if (s->stmt.expr && s->kind != AST_TARGET) {
        fputs(" = ", out);
        ast_print_expr(out, s->stmt.expr);
      }
      fputc('\n', out);
      if (sym->kind == SYM_VALUE && s->stmt.expr)
        print_tree(out, s->stmt.expr, 2);
    }
  }
  print_train(out, &p->train);
}

long symbol_size(const Symbol *s) { return s->nclass ? 1 : shape_size(s->shape); }

long program_size(const Program *p, SymKind kind) {
  long n = 0;
  for (int i = 0; i < p->nsyms; i++)
    if (p->syms[i]->kind == kind)
      n += symbol_size(p->syms[i]);
  return n;
}
