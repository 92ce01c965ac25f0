/* test_check.c: the checker alone. Each test compiles a small model in
   memory (harness.h) and looks at what check_program made of it: the
   shape and kind of every symbol, folded constants, initializers, the
   train settings, or the exact message of the one error it must report. */
#include "harness.h"

#include <math.h>

/* ---- fixtures and helpers ---- */

/* The compilation a test is looking at; freed by the teardown, so a
   failing assertion leaks nothing. */
typedef struct {
  Compiled c;
  bool live;
} Fixture;

static int setup(void **state) {
  *state = calloc(1, sizeof(Fixture));
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  Fixture *f = *state;
  if (f->live)
    compiled_free(&f->c);
  free(f);
  return 0;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static Compiled *compile(void **state, const char *src) {
  Fixture *f = *state;
  if (f->live)
    compiled_free(&f->c);
  compile_text(&f->c, src);
  f->live = true;
  return &f->c;
}

/* SRC, which must check without errors (warnings are allowed). */
static Program *checked(void **state, const char *src) {
  Compiled *c = compile(state, src);
  if (c->diag.errors || !c->program)
    fail_msg("source:\n%s\nexpected no errors, got:\n%s", src, c->messages);
  return c->program;
}

static Symbol *find_sym(const Program *p, const char *name) {
  for (int i = 0; i < p->nsyms; i++)
    if (strcmp(p->syms[i]->name, name) == 0)
      return p->syms[i];
  fail_msg("no symbol '%s'", name);
  return NULL;
}

static const char *shape_text(Shape s) {
  static char buf[SHAPE_STR_MAX];
  return shape_str(s, buf);
}

static void assert_shape(const Symbol *sym, const char *want) {
  if (strcmp(shape_text(sym->shape), want) != 0)
    fail_msg("'%s' has shape %s, expected %s", sym->name, shape_text(sym->shape), want);
}

/* Doubles compared exactly: the checker must keep what the source says. */
#define assert_num(got, want) \
  do { \
    double got_ = (got), want_ = (want); \
    if (!(got_ == want_)) \
      fail_msg("%s is %.17g, expected %.17g", #got, got_, want_); \
  } while (0)

/* The source 'DECLS r = EXPR; loss sum(r);' */
static const char *with_result(char *buf, size_t size, const char *decls, const char *expr) {
  snprintf(buf, size, "%s\nr = %s;\nloss sum(r);\n", decls, expr);
  return buf;
}

/* The value r = EXPR, after DECLS, has shape WANT ("[3, 4]", "scalar"). */
static void expect_shape(void **state, const char *decls, const char *expr, const char *want) {
  char src[512];
  Program *p = checked(state, with_result(src, sizeof src, decls, expr));
  assert_shape(find_sym(p, "r"), want);
}

/* r = EXPR, after DECLS, is the one error MESSAGE. */
static void expect_error(const char *decls, const char *expr, const char *message) {
  char src[512];
  assert_one_error(with_result(src, sizeof src, decls, expr), message);
}

/* SRC has no errors and exactly N warnings; the messages follow N. */
static void expect_warnings(void **state, const char *src, int n, ...) {
  Compiled *c = compile(state, src);
  if (c->diag.errors || c->diag.warnings != n)
    fail_msg("source:\n%s\nexpected %d warnings and no errors, got %d and %d:\n%s", src, n, c->diag.warnings,
             c->diag.errors, c->messages);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    const char *want = va_arg(ap, const char *);
    if (!strstr(c->messages, want))
      fail_msg("source:\n%s\nno warning \"%s\" in:\n%s", src, want, c->messages);
  }
  va_end(ap);
}

static int count(const char *text, const char *what) {
  int n = 0;
  for (const char *s = text; (s = strstr(s, what)); s += strlen(what))
    n++;
  return n;
}

/* ---- 1. shape rules: success, for every op in ops.def ---- */

typedef struct {
  OpKind op;
  const char *decls, *expr, *shape;
} ShapeCase;

static const ShapeCase shape_cases[] = {
    {OP_ADD, "input a[3, 4]; input b[3, 4];", "a + b", "[3, 4]"},
    {OP_ADD, "input a[3, 4];", "2 + a", "[3, 4]"},
    {OP_ADD, "input a[3, 4];", "a + 2", "[3, 4]"},
    {OP_ADD, "input a; input b;", "a + b", "scalar"},
    {OP_SUB, "input a[5]; input b[5];", "a - b", "[5]"},
    {OP_SUB, "input a[5]; input s;", "s - a", "[5]"},
    {OP_MUL, "input a[2, 3, 4]; input s;", "a * s", "[2, 3, 4]"},
    {OP_MUL, "input a[2, 3, 4]; input b[2, 3, 4];", "a * b", "[2, 3, 4]"},
    {OP_DIV, "input a[7]; input s;", "s / a", "[7]"},
    {OP_DIV, "input a[7]; input b[7];", "a / b", "[7]"},
    {OP_MATMUL, "input M[2, 3]; input v[3];", "M @ v", "[2]"},
    {OP_MATMUL, "input M[2, 3]; input N[3, 5];", "M @ N", "[2, 5]"},
    {OP_MATMUL, "input v[3]; input N[3, 5];", "v @ N", "[5]"},
    {OP_MATMUL, "input v[3]; input w[3];", "v @ w", "scalar"},
    {OP_POW, "input a[2, 2];", "a ^ 2", "[2, 2]"},
    {OP_POW, "input a[4]; const k = 3;", "a ^ (k - 1)", "[4]"},
    {OP_NEG, "input a[6];", "-a", "[6]"},
    {OP_NEG, "input a;", "-a", "scalar"},
    {OP_LEAKY_RELU, "input a[3, 2];", "leaky_relu(a, 0.01)", "[3, 2]"},
    {OP_LEAKY_RELU, "input a; const s = 0.2;", "leaky_relu(a, s)", "scalar"},
    {OP_SUM, "input a[3, 4];", "sum(a)", "scalar"},
    {OP_SUM, "input a;", "sum(a)", "scalar"},
    {OP_MEAN, "input a[2, 3, 4, 5];", "mean(a)", "scalar"},
    {OP_LOGSUMEXP, "input a[9];", "logsumexp(a)", "scalar"},
    {OP_DOT, "input a[4]; input b[4];", "dot(a, b)", "scalar"},
    {OP_DOT, "input a[2, 3]; input b[2, 3];", "dot(a, b)", "scalar"},
    {OP_SOFTMAX, "input a[10];", "softmax(a)", "[10]"},
    {OP_LOG_SOFTMAX, "input a[10];", "log_softmax(a)", "[10]"},
    {OP_TRANSPOSE, "input M[2, 7];", "transpose(M)", "[7, 2]"},
    {OP_MSE, "input a[4]; target t[4];", "mse(a, t)", "scalar"},
    {OP_MSE, "input a; target t;", "mse(a, t)", "scalar"},
    {OP_CROSS_ENTROPY, "input a[3]; target t : class(3);", "cross_entropy(a, t)", "scalar"},
    {OP_CROSS_ENTROPY, "input a[3]; target t[3];", "cross_entropy(a, t)", "scalar"},
    {OP_BCE, "input a[2, 2]; target t[2, 2];", "bce(a, t)", "scalar"},
    {OP_BCE_LOGITS, "input a; target t;", "bce_logits(a, t)", "scalar"},
    /* the elementwise functions are added by shape_elementwise */
};

static void shape_ops(void **state) {
  for (size_t i = 0; i < sizeof shape_cases / sizeof shape_cases[0]; i++) {
    const ShapeCase *k = &shape_cases[i];
    expect_shape(state, k->decls, k->expr, k->shape);
  }
}

/* Every elementwise function of one argument keeps its operand's shape. */
static void shape_elementwise(void **state) {
  int n = 0;
  for (int op = 0; op < OP_COUNT; op++) {
    const OpInfo *info = &op_info[op];
    if (!(info->flags & OPF_CALL) || !(info->flags & OPF_ELEMWISE) || info->arity != 1)
      continue;
    char expr[64];
    snprintf(expr, sizeof expr, "%s(a)", info->name);
    expect_shape(state, "input a[3, 4];", expr, "[3, 4]");
    expect_shape(state, "input a;", expr, "scalar");
    expect_shape(state, "input a[5];", expr, "[5]");
    n++;
  }
  assert_int_equal(n, 10); /* exp log sqrt abs tanh sigmoid relu softplus sin cos */
}

/* Adding an op to ops.def needs a shape case here too. */
static void shape_every_op_covered(void **state) {
  (void)state;
  for (int op = 0; op < OP_COUNT; op++) {
    const OpInfo *info = &op_info[op];
    bool elementwise_call = (info->flags & OPF_CALL) && (info->flags & OPF_ELEMWISE) && info->arity == 1;
    bool found = elementwise_call || (info->flags & OPF_INTERNAL); /* never written in a model */
    for (size_t i = 0; i < sizeof shape_cases / sizeof shape_cases[0]; i++)
      found |= shape_cases[i].op == (OpKind)op;
    if (!found)
      fail_msg("op '%s' has no shape test", info->name);
  }
}

/* The generated file defines nc_pick where an op has OPF_PICK, so the
   flag must name every op whose scalar text calls it. */
static void pick_flag_matches_scalar(void **state) {
  (void)state;
  int picks = 0;
  for (int op = 0; op < OP_COUNT; op++) {
    const OpInfo *info = &op_info[op];
    bool calls = strstr(info->scalar, "nc_pick(") != NULL;
    if (calls != ((info->flags & OPF_PICK) != 0))
      fail_msg("op '%s': OPF_PICK is %s, its scalar text %s nc_pick", info->name,
               calls ? "missing" : "set", calls ? "calls" : "does not call");
    picks += calls;
  }
  assert_int_equal(picks, 6); /* sigmoid leaky_relu step sign leaky_step onehot */
}

/* The loss expression, and values built on values, get shapes too. */
static void shape_through_values(void **state) {
  Program *p = checked(state, "input x[64];\n"
                              "target label : class(10);\n"
                              "param W1[32, 64] = he;\n"
                              "param b1[32] = zeros;\n"
                              "param W2[10, 32];\n"
                              "param b2[10];\n"
                              "h = relu(W1 @ x + b1);\n"
                              "logits = W2 @ h + b2;\n"
                              "output probs = softmax(logits);\n"
                              "loss cross_entropy(logits, label);\n");
  assert_shape(find_sym(p, "h"), "[32]");
  assert_shape(find_sym(p, "logits"), "[10]");
  assert_shape(find_sym(p, "probs"), "[10]");
  assert_non_null(p->loss);
  assert_int_equal(p->loss->shape.rank, 0);
  assert_int_equal(find_sym(p, "label")->nclass, 10);
  assert_int_equal(find_sym(p, "label")->shape.rank, 0);
  assert_int_equal(p->nsyms, 9);
  assert_string_equal(p->syms[0]->name, "x");
  assert_string_equal(p->syms[8]->name, "probs");
  assert_int_equal(p->noutputs, 1);
  assert_ptr_equal(p->outputs[0], find_sym(p, "probs"));
  assert_true(p->outputs[0]->is_output);
  assert_int_equal(find_sym(p, "x")->kind, SYM_INPUT);
  assert_int_equal(find_sym(p, "label")->kind, SYM_TARGET);
  assert_int_equal(find_sym(p, "W1")->kind, SYM_PARAM);
  assert_int_equal(find_sym(p, "h")->kind, SYM_VALUE);
}

/* ---- 1. shape rules: failures ---- */

static void shape_errors_elementwise(void **state) {
  (void)state;
  expect_error("input x[32]; input b[10];", "x + b", "2:5: error: shape mismatch in '+': [32] and [10]");
  expect_error("input x[32]; input b[10];", "x - b", "shape mismatch in '-': [32] and [10]");
  expect_error("input x[2, 3]; input b[3, 2];", "x * b", "shape mismatch in '*': [2, 3] and [3, 2]");
  expect_error("input x[3]; input b[3, 1];", "x / b", "shape mismatch in '/': [3] and [3, 1]");
  expect_error("input x[2, 3]; input b[3];", "x + b", "shape mismatch in '+': [2, 3] and [3]"); /* no broadcasting */
  /* the error points at the whole operation */
  assert_one_error("input x[32];\ninput b[10];\nh = relu(x + b);\nloss sum(h);\n",
                   "t.net:3:10: error: shape mismatch in '+': [32] and [10]\nh = relu(x + b);\n         ^~~~~\n");
}

static void shape_errors_matmul(void **state) {
  (void)state;
  expect_error("input M[2, 3]; input v[4];", "M @ v",
               "shape mismatch in '@': [2, 3] and [4] (inner dimensions 3 and 4 differ)");
  expect_error("input M[2, 3]; input N[2, 3];", "M @ N",
               "shape mismatch in '@': [2, 3] and [2, 3] (inner dimensions 3 and 2 differ)");
  expect_error("input v[3]; input N[4, 5];", "v @ N",
               "shape mismatch in '@': [3] and [4, 5] (inner dimensions 3 and 4 differ)");
  expect_error("input v[3]; input w[4];", "v @ w",
               "shape mismatch in '@': [3] and [4] (inner dimensions 3 and 4 differ)");
  expect_error("input M[2, 3]; input s;", "M @ s",
               "'@' needs a vector or a matrix on each side, got [2, 3] and scalar");
  expect_error("input M[2, 3]; input s;", "s @ M",
               "'@' needs a vector or a matrix on each side, got scalar and [2, 3]");
  expect_error("input M[2, 3]; input T[3, 2, 2];", "M @ T",
               "'@' needs a vector or a matrix on each side, got [2, 3] and [3, 2, 2]");
  expect_error("input T[2, 2, 3]; input v[3];", "T @ v",
               "'@' needs a vector or a matrix on each side, got [2, 2, 3] and [3]");
}

/* The limit on the elements of a tensor holds for every result, not only
   for declared tensors. */
static void shape_errors_result_too_large(void **state) {
  expect_error("input a[100000, 1]; input b[1, 100000];", "a @ b",
               "2:5: error: the result of '@' is [100000, 100000], 10000000000 elements; at most 268435456 are "
               "allowed\n");
  expect_error("input a[16385, 1]; input b[1, 16385];", "(a @ b) * 2",
               "the result of '@' is [16385, 16385], 268468225 elements");
  /* 2^28 is allowed, and the error is not repeated up the expression */
  expect_shape(state, "input a[16384, 1]; input b[1, 16384];", "a @ b", "[16384, 16384]");
  Compiled *c = compile(state, "input a[16385, 1]; input b[1, 16385];\nloss sum(exp(a @ b) + 1);\n");
  assert_int_equal(c->diag.errors, 1);
}

static void shape_errors_pow_and_args(void **state) {
  (void)state;
  expect_error("input x[3]; input p;", "x ^ p", "2:9: error: the exponent of '^' must be a constant");
  expect_error("input x[3];", "2 ^ x", "the exponent of '^' must be a constant");
  expect_error("input x[3]; input p;", "leaky_relu(x, p)",
               "2:19: error: the second argument of 'leaky_relu' must be a constant");
  expect_error("input x[3];", "leaky_relu(x, x)", "the second argument of 'leaky_relu' must be a constant");
}

static void shape_errors_vector_and_matrix(void **state) {
  (void)state;
  expect_error("input s;", "softmax(s)", "'softmax' needs a vector, got scalar");
  expect_error("input M[2, 3];", "softmax(M)", "'softmax' needs a vector, got [2, 3]");
  expect_error("input M[2, 3];", "log_softmax(M)", "'log_softmax' needs a vector, got [2, 3]");
  expect_error("input v[3];", "transpose(v)", "'transpose' needs a matrix, got [3]");
  expect_error("input s;", "transpose(s)", "'transpose' needs a matrix, got scalar");
  expect_error("input T[2, 2, 2];", "transpose(T)", "'transpose' needs a matrix, got [2, 2, 2]");
  expect_error("input a[3]; input b[4];", "dot(a, b)", "shape mismatch in 'dot': [3] and [4]");
  expect_error("input a[3];", "dot(a, 1)", "shape mismatch in 'dot': [3] and scalar");
}

static void shape_errors_losses(void **state) {
  (void)state;
  expect_error("input a[3]; target t[4];", "mse(a, t)", "shape mismatch in 'mse': [3] and [4]");
  expect_error("input a[3]; target t;", "mse(a, t)", "shape mismatch in 'mse': [3] and scalar");
  expect_error("input a[3]; target t[4];", "bce(a, t)", "shape mismatch in 'bce': [3] and [4]");
  expect_error("input a[2, 2]; target t[4];", "bce_logits(a, t)", "shape mismatch in 'bce_logits': [2, 2] and [4]");
  /* cross_entropy: logits a vector, the target K classes or a vector [K] */
  expect_error("input a[3]; target t : class(4);", "cross_entropy(a, t)", "'t' has 4 classes but the logits have 3");
  expect_error("input a[3]; target t[4];", "cross_entropy(a, t)", "shape mismatch in 'cross_entropy': [3] and [4]");
  expect_error("input a[3]; target t;", "cross_entropy(a, t)", "shape mismatch in 'cross_entropy': [3] and scalar");
  expect_error("input a[3, 3]; target t : class(3);", "cross_entropy(a, t)",
               "'cross_entropy' needs a vector, got [3, 3]");
  expect_error("input a; target t : class(3);", "cross_entropy(a, t)", "'cross_entropy' needs a vector, got scalar");
  expect_error("input a[3]; target t : class(3);", "cross_entropy(t, a)",
               "class target 't' can only be the second argument of 'cross_entropy'");
}

static void shape_errors_calls(void **state) {
  expect_error("input x[3];", "sum(x, x)", "2:5: error: 'sum' takes 1 argument, got 2");
  expect_error("input x[3];", "relu()", "'relu' takes 1 argument, got 0");
  expect_error("input x[3];", "dot(x)", "'dot' takes 2 arguments, got 1");
  expect_error("input x[3];", "leaky_relu(x)", "'leaky_relu' takes 2 arguments, got 1");
  expect_error("input x[3]; target t[3];", "mse(x, t, t)", "'mse' takes 2 arguments, got 3");
  expect_error("input x[3];", "relu(x = x)", "2:10: error: 'relu' takes no named arguments");
  expect_error("input x[3];", "leaky_relu(x, slope = 0.1)", "'leaky_relu' takes no named arguments");
  expect_error("input x[3];", "rleu(x)", "2:5: error: unknown function 'rleu'; did you mean 'relu'?");
  expect_error("input x[3];", "softmx(x)", "unknown function 'softmx'; did you mean 'softmax'?");
  expect_error("input x[3];", "sigmod(x)", "unknown function 'sigmod'; did you mean 'sigmoid'?");
  expect_error("input x[3];", "frobnicate(x)", "unknown function 'frobnicate'");
  expect_error("input x[3];", "uniform(0, 1) * x", "'uniform' is an initializer; it can only initialize a 'param'");
  /* a name is not a function */
  Compiled *c = compile(state, "input x[3];\nr = x(1);\nloss sum(r);\n");
  assert_int_equal(c->diag.errors, 1);
  assert_non_null(strstr(c->messages, "unknown function 'x'"));
  assert_null(strstr(c->messages, "did you mean"));
}

/* One error per mistake: an operand with an error says nothing more. */
static void shape_errors_do_not_cascade(void **state) {
  (void)state;
  assert_one_error("input x[3];\ninput b[4];\nh = x + b;\ng = relu(h) @ x;\nloss sum(g) + sum(h);\n",
                   "3:5: error: shape mismatch in '+'");
  assert_one_error("input x[3];\nh = nope + x;\nloss sum(h * 2);\n", "unknown name 'nope'");
}

/* ---- 2. names ---- */

static void names_unknown(void **state) {
  assert_one_error("input x[4];\nparam W2[3, 4];\nparam b2[3];\nloss sum(W3 @ x + b2);\n",
                   "t.net:4:10: error: unknown name 'W3'; did you mean 'W2'?\nloss sum(W3 @ x + b2);\n         ^~\n");
  assert_one_error("input images[4];\nloss sum(imgaes);\n", "unknown name 'imgaes'; did you mean 'images'?");
  assert_one_error("input x[4];\nloss sum(hidden);\n", "unknown name 'hidden'");
  /* two candidates at the same distance: one of them is suggested */
  Compiled *c = compile(state, "param W1[3]; param W2[3]; loss sum(W3);");
  assert_int_equal(c->diag.errors, 1);
  assert_true(strstr(c->messages, "did you mean 'W1'?") || strstr(c->messages, "did you mean 'W2'?"));
}

static void names_order(void **state) {
  (void)state;
  assert_one_error("input x;\nloss y * x;\ny = 2 * x;\n", "2:6: error: 'y' is used before its definition at 3:1");
  assert_one_error("param W[k]; const k = 3; loss sum(W);", "'k' is used before its definition at 1:19");
  assert_one_error("input x;\noutput z;\nz = x;\nloss x;\n", "2:8: error: 'z' is used before its definition at 3:1");
  assert_one_error("input x;\ny = y + x;\nloss y;\n", "2:5: error: 'y' is used in its own definition");
  assert_one_error("input x;\noutput y = x * y;\nloss y;\n", "2:16: error: 'y' is used in its own definition");
}

/* A const is not visible in its own value. */
static void names_const_own_definition(void **state) {
  (void)state;
  assert_one_error("const k = k + 1; param W[k]; loss sum(W);", "1:11: error: 'k' is used in its own definition");
  assert_one_error("const k = k; loss k;", "'k' is used in its own definition");
}

/* Nor is a param, input or target in its own dimensions or initializer. */
static void names_dims_own_definition(void **state) {
  (void)state;
  assert_one_error("param W[W]; loss sum(W);", "1:9: error: 'W' is used in its own definition");
  assert_one_error("input x[x]; loss sum(x);", "1:9: error: 'x' is used in its own definition");
  assert_one_error("param W[2] = W; loss sum(W);", "1:14: error: 'W' is used in its own definition");
  assert_one_error("input x[2]; target y : class(y); loss cross_entropy(x, y);",
                   "1:30: error: 'y' is used in its own definition");
}

static void names_redefined(void **state) {
  (void)state;
  assert_one_error("input x;\ny = x;\ny = 2 * x;\nloss y;\n", "3:1: error: 'y' is already defined at 2:1");
  assert_one_error("input x;\nparam x[3];\nloss x;\n", "2:7: error: 'x' is already defined at 1:7");
  assert_one_error("input x; target x; loss x;", "'x' is already defined at 1:7");
  assert_one_error("input x; const x = 1; loss x;", "'x' is already defined at 1:7");
  assert_one_error("input x; output x = x; loss x;", "'x' is already defined at 1:7");
  assert_one_error("input x; exp = x; loss x;", "1:10: error: 'exp' is a built-in function and cannot be redefined");
  assert_one_error("param softmax[3]; loss 1;", "'softmax' is a built-in function and cannot be redefined");
  assert_one_error("input x; const cross_entropy = 1; loss x;",
                   "'cross_entropy' is a built-in function and cannot be redefined");
  assert_one_error("input x; param zeros[3]; loss x;",
                   "1:16: error: 'zeros' is an initializer and cannot be redefined");
  assert_one_error("input x; input uniform; loss x;", "'uniform' is an initializer and cannot be redefined");
  assert_one_error("input x; target he; loss x;", "'he' is an initializer and cannot be redefined");
  assert_one_error("input xavier; loss 1;", "'xavier' is an initializer and cannot be redefined");
}

/* A reserved name that is defined anyway is reported there, not again at each use. */
static void names_reserved_reported_once(void **state) {
  (void)state;
  assert_one_error("input x;\nrelu = x * 2;\nloss relu;\n", "'relu' is a built-in function and cannot be redefined");
  assert_one_error("input relu; loss relu * relu;", "1:7: error: 'relu' is a built-in function and cannot be redefined");
  assert_one_error("param he = 1; loss he;", "1:7: error: 'he' is an initializer and cannot be redefined");
}

static void names_initializers_in_expressions(void **state) {
  (void)state;
  assert_one_error("input x; h = x * xavier; loss h;",
                   "1:18: error: 'xavier' is an initializer; it can only initialize a 'param'");
  assert_one_error("input x; loss x + ones;", "'ones' is an initializer; it can only initialize a 'param'");
}

/* A built-in named without a call is not an unknown name. */
static void names_function_without_call(void **state) {
  (void)state;
  assert_one_error("input x; h = relu; loss x;", "1:14: error: 'relu' is a built-in function; call it: relu(...)\n");
  assert_one_error("input x[2]; loss sum(x) * sum;", "'sum' is a built-in function; call it: sum(...)");
}

static void names_class_target(void **state) {
  (void)state;
  const char *decls = "input x[3]; target t : class(3);";
  expect_error(decls, "cross_entropy(x, t) + sum(t)",
               "class target 't' can only be the second argument of 'cross_entropy'");
  expect_error(decls, "t + x", "class target 't' can only be the second argument of 'cross_entropy'");
  expect_error(decls, "cross_entropy(x, t + 0)", "class target 't' can only be the second argument of 'cross_entropy'");
  expect_error(decls, "mse(x, t)", "class target 't' can only be the second argument of 'cross_entropy'");
  assert_one_error("input x[3]; target t : class(3); loss cross_entropy(x, t); output t;",
                   "1:67: error: class target 't' cannot be an output");
  assert_one_error("input x[3]; target t : class(1); loss sum(x);",
                   "1:30: error: the number of classes must be an integer of at least 2, got 1");
  assert_one_error("input x[3]; target t : class(2.5); loss sum(x);",
                   "the number of classes must be an integer of at least 2, got 2.5");
  assert_one_error("input x[3]; target t : class(x); loss sum(x);", "the number of classes must be a constant");
}

/* Outputs are computed at prediction time, without targets: an output
   must not depend on one, directly or through values. */
static void names_outputs_without_targets(void **state) {
  (void)state;
  const char *decls = "input x[3]; target y[3]; target t : class(3); loss mse(x, y) + cross_entropy(x, t);";
  char src[512];
  snprintf(src, sizeof src, "%s output p = x * y;", decls);
  assert_one_error(src, "1:92: error: output 'p' depends on target 'y'; outputs are computed without targets\n");
  snprintf(src, sizeof src, "%s h = y + 1; g = relu(h); output p = sum(x) + dot(x, g);", decls);
  assert_one_error(src, "output 'p' depends on target 'y'");
  snprintf(src, sizeof src, "%s output p = cross_entropy(x, t);", decls);
  assert_one_error(src, "output 'p' depends on target 't'");
  snprintf(src, sizeof src, "%s h = y * 2; output h;", decls);
  assert_one_error(src, "1:103: error: output 'h' depends on target 'y'; outputs are computed without targets\n");
  snprintf(src, sizeof src, "%s output y;", decls);
  assert_one_error(src, "1:92: error: target 'y' cannot be an output; outputs are computed without targets\n");
  /* a value that depends on a target is fine when it is not an output */
  snprintf(src, sizeof src, "%s h = y * 2; output p = softmax(x); loss2 = sum(h);", decls);
  Compiled *c = compile(state, src);
  assert_int_equal(c->diag.errors, 0);
}

static void names_outputs(void **state) {
  assert_one_error("input x; output q; loss x;", "1:17: error: unknown name 'q'");
  assert_one_error("input x; output xx; loss x;", "unknown name 'xx'; did you mean 'x'?");
  assert_one_error("input x; output x; output x; loss x;", "1:27: error: 'x' is already an output");
  assert_one_error("input x; output h = x * 2; output h; loss x;", "'h' is already an output");
  /* outputs in the order of their statements, 'output NAME;' included */
  Program *p = checked(state, "input x;\nparam w;\nh = w * x;\noutput b = h + 1;\noutput h;\nloss (h - 1) ^ 2;\n");
  assert_int_equal(p->noutputs, 2);
  assert_string_equal(p->outputs[0]->name, "b");
  assert_string_equal(p->outputs[1]->name, "h");
  assert_true(find_sym(p, "h")->is_output);
  assert_false(find_sym(p, "x")->is_output);
}

/* ---- 3. constants ---- */

static void const_folding(void **state) {
  Program *p = checked(state, "const k = 2 * 3 + 1;\nparam W[k];\nloss sum(W);\n");
  assert_num(find_sym(p, "k")->value, 7);
  assert_int_equal(find_sym(p, "k")->kind, SYM_CONST);
  assert_shape(find_sym(p, "W"), "[7]");

  /* precedence: ^ binds tighter than unary -, and is right-associative */
  p = checked(state, "const a = 2 ^ 3 ^ 2; const b = -2 ^ 2; const c = 10 - 4 - 3; const d = 12 / 3 / 2;\n"
                     "param W[a, -b, c, d]; loss sum(W);\n");
  assert_num(find_sym(p, "a")->value, 512);
  assert_num(find_sym(p, "b")->value, -4);
  assert_num(find_sym(p, "c")->value, 3);
  assert_num(find_sym(p, "d")->value, 2);
  assert_shape(find_sym(p, "W"), "[512, 4, 3, 2]");

  /* constants from constants, and in dimensions directly */
  p = checked(state, "const n = 4; const m = n * 2; param W[m, n + 1, (n - 1) * 2]; loss sum(W);");
  assert_num(find_sym(p, "m")->value, 8);
  assert_shape(find_sym(p, "W"), "[8, 5, 6]");
  p = checked(state, "param W[8 / 2, 2 ^ 3, 1e1]; loss sum(W);");
  assert_shape(find_sym(p, "W"), "[4, 8, 10]");
}

/* Every elementwise op folds as the generated code would compute it. */
static void const_folding_functions(void **state) {
  const struct {
    const char *expr;
    double value;
  } cases[] = {
      {"exp(0)", 1},
      {"log(1)", 0},
      {"sqrt(16)", 4},
      {"abs(-3)", 3},
      {"tanh(0)", 0},
      {"sigmoid(0)", 0.5},
      {"relu(-2)", 0},
      {"relu(2.5)", 2.5},
      {"sin(0)", 0},
      {"cos(0)", 1},
      {"softplus(0)", log1p(1.0)},
      {"sigmoid(-1)", exp(-1.0) / (1 + exp(-1.0))},
      {"leaky_relu(-2, 0.25)", -0.5},
      {"leaky_relu(3, 0.25)", 3},
      {"-(3)", -3},
      {"2 ^ 10", 1024},
      {"7 / 2", 3.5},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[128];
    snprintf(src, sizeof src, "const k = %s; param W; loss W * k;", cases[i].expr);
    Program *p = checked(state, src);
    if (find_sym(p, "k")->value != cases[i].value)
      fail_msg("%s folds to %.17g, expected %.17g", cases[i].expr, find_sym(p, "k")->value, cases[i].value);
  }
}

static void const_dimensions(void **state) {
  (void)state;
  assert_one_error("param W[0]; loss sum(W);", "1:9: error: a dimension must be a positive integer, got 0");
  assert_one_error("param W[-3]; loss sum(W);", "a dimension must be a positive integer, got -3");
  assert_one_error("param W[2.5]; loss sum(W);", "a dimension must be a positive integer, got 2.5");
  assert_one_error("const k = 0.5; param W[3, k * 3]; loss sum(W);",
                   "1:27: error: a dimension must be a positive integer, got 1.5");
  assert_one_error("input x; param W[x]; loss sum(W) + x;", "1:18: error: a dimension must be a constant");
  assert_one_error("param W[1, 2, 3, 4, 5]; loss sum(W);", "1:21: error: a tensor has at most 4 dimensions");
  assert_one_error("input x[1, 1, 1, 1, 1, 1]; loss sum(x);", "a tensor has at most 4 dimensions");
  assert_one_error("param W[16384, 16385]; loss sum(W);",
                   "1:7: error: 'W' has 268451840 elements; at most 268435456 are allowed");
  assert_one_error("input x[1024, 1024, 1024]; loss sum(x);",
                   "'x' has 1073741824 elements; at most 268435456 are allowed");
}

/* An element count too large for a long is still counted exactly and reported. */
static void const_element_count_overflow(void **state) {
  (void)state;
  assert_one_error("param W[65536, 65536, 65536, 65536]; loss sum(W);",
                   "1:7: error: 'W' has 18446744073709551616 elements; at most 268435456 are allowed");
  assert_one_error("param W[268435456, 268435456, 268435456, 3]; loss sum(W);",
                   "'W' has 58028439341502200385896448 elements; at most 268435456 are allowed");
}

/* A dimension over 2^28 is an integer too large, and the message gives the limit. */
static void const_dimension_too_large(void **state) {
  (void)state;
  assert_one_error("param W[1e10]; loss sum(W);", "1:9: error: a dimension must be at most 268435456, got 10000000000");
  assert_one_error("param W[268435457]; loss sum(W);", "a dimension must be at most 268435456, got 268435457");
  assert_one_error("input x[3]; target t : class(1e10); loss sum(x);",
                   "1:30: error: the number of classes must be at most 268435456, got 10000000000");
}

static void const_errors(void **state) {
  (void)state;
  assert_one_error("const k = 1 / 0; loss k;", "1:11: error: this constant expression has no finite value");
  assert_one_error("const k = log(-1); loss k;", "1:11: error: this constant expression has no finite value");
  assert_one_error("const k = log(0); loss k;", "this constant expression has no finite value");
  assert_one_error("const k = sqrt(-4); loss k;", "this constant expression has no finite value");
  assert_one_error("const k = 0 ^ -1; loss k;", "this constant expression has no finite value");
  assert_one_error("const k = exp(1000); loss k;", "this constant expression has no finite value");
  assert_one_error("param W[1 / 0]; loss sum(W);", "this constant expression has no finite value");
  assert_one_error("input x; const k = x * 2; loss x;",
                   "1:20: error: the value of a 'const' must be a constant expression");
  assert_one_error("param w; const k = w; loss w * k;", "the value of a 'const' must be a constant expression");
  /* an error in a constant is reported once, not again where it is used */
  assert_one_error("const k = 1 / 0; param W[k]; loss sum(W) * k;", "this constant expression has no finite value");
}

/* ---- 4. params and initializers ---- */

static void init_assert(const Symbol *sym, InitKind kind, double a, double b) {
  if (sym->init.kind != kind || sym->init.a != a || sym->init.b != b)
    fail_msg("'%s' is initialized %s(%g, %g), expected %s(%g, %g)", sym->name, init_name(sym->init.kind), sym->init.a,
             sym->init.b, init_name(kind), a, b);
}

static void init_defaults(void **state) {
  Program *p = checked(state, "param s; param v[3]; param M[2, 3]; param T[2, 3, 4];\n"
                              "loss s + sum(v) + sum(M) + sum(T);\n");
  init_assert(find_sym(p, "s"), INIT_VALUE, 0, 0);
  init_assert(find_sym(p, "v"), INIT_VALUE, 0, 0);
  init_assert(find_sym(p, "M"), INIT_XAVIER, 0, 0);
  init_assert(find_sym(p, "T"), INIT_XAVIER, 0, 0);
  assert_shape(find_sym(p, "s"), "scalar");
  assert_shape(find_sym(p, "T"), "[2, 3, 4]");
}

static void init_kinds(void **state) {
  Program *p =
      checked(state, "const k = 0.25;\n"
                     "param a[3] = zeros; param b[3] = ones; param c = 0.5; param d[2] = -1.5;\n"
                     "param e[2] = k * 2; param f[2, 2] = uniform(-1, 1); param g[2] = uniform(b = 3, a = 2);\n"
                     "param h[2] = uniform(-k, b = k); param i[2] = normal(0, 0.1);\n"
                     "param j[2] = normal(std = 2, mean = 1); param l[2] = normal(3, 0);\n"
                     "param m[2, 3] = xavier; param n[4, 3, 2] = he; param o[2, 2] = zeros;\n"
                     "loss sum(a) + sum(b) + c + sum(d) + sum(e) + sum(f) + sum(g) + sum(h) + sum(i) + sum(j)\n"
                     "   + sum(l) + sum(m) + sum(n) + sum(o);\n");
  init_assert(find_sym(p, "a"), INIT_VALUE, 0, 0);
  init_assert(find_sym(p, "b"), INIT_VALUE, 1, 0);
  init_assert(find_sym(p, "c"), INIT_VALUE, 0.5, 0);
  init_assert(find_sym(p, "d"), INIT_VALUE, -1.5, 0);
  init_assert(find_sym(p, "e"), INIT_VALUE, 0.5, 0);
  init_assert(find_sym(p, "f"), INIT_UNIFORM, -1, 1);
  init_assert(find_sym(p, "g"), INIT_UNIFORM, 2, 3);
  init_assert(find_sym(p, "h"), INIT_UNIFORM, -0.25, 0.25);
  init_assert(find_sym(p, "i"), INIT_NORMAL, 0, 0.1);
  init_assert(find_sym(p, "j"), INIT_NORMAL, 1, 2);
  init_assert(find_sym(p, "l"), INIT_NORMAL, 3, 0);
  init_assert(find_sym(p, "m"), INIT_XAVIER, 0, 0);
  init_assert(find_sym(p, "n"), INIT_HE, 0, 0);
  init_assert(find_sym(p, "o"), INIT_VALUE, 0, 0);
}

static void init_errors(void **state) {
  (void)state;
  assert_one_error("param b[3] = xavier; loss sum(b);",
                   "1:14: error: 'xavier' needs a parameter of rank 2 or more; 'b' is [3]");
  assert_one_error("param b = he; loss b;", "1:11: error: 'he' needs a parameter of rank 2 or more; 'b' is scalar");
  assert_one_error("param W[2] = uniform(1, 1); loss sum(W);",
                   "1:14: error: 'uniform(a, b)' needs a < b, got a = 1 and b = 1");
  assert_one_error("param W[2] = uniform(2, 1); loss sum(W);", "'uniform(a, b)' needs a < b, got a = 2 and b = 1");
  assert_one_error("param W[2] = normal(0, -1); loss sum(W);",
                   "1:24: error: 'normal(mean, std)' needs std >= 0, got -1");
  assert_one_error("param W[2] = normal(std = -2, mean = 0); loss sum(W);",
                   "1:27: error: 'normal(mean, std)' needs std >= 0, got -2");
  assert_one_error("param W[2] = uniform(1); loss sum(W);", "'uniform' needs 'b': uniform(a, b)");
  assert_one_error("param W[2] = normal(std = 1); loss sum(W);", "'normal' needs 'mean': normal(mean, std)");
  assert_one_error("param W[2] = uniform(); loss sum(W);", "'uniform' needs 'a': uniform(a, b)");
  assert_one_error("param W[2] = uniform(1, 2, 3); loss sum(W);", "1:28: error: 'uniform' takes at most 2 arguments");
  assert_one_error("param W[2] = uniform(a = 1, c = 2); loss sum(W);", "1:29: error: unknown argument");
  assert_one_error("param W[2] = uniform(a = 1, c = 2); loss sum(W);", "'c'");
  assert_one_error("param W[2] = normal(mean = 0, sdt = 1); loss sum(W);", "did you mean 'std'?");
  assert_one_error("param W[2] = uniform(a = 1, 2); loss sum(W);",
                   "1:29: error: a positional argument cannot follow a named one");
  assert_one_error("param W[2] = uniform(1, a = 2); loss sum(W);", "1:25: error: 'a' is given twice");
  assert_one_error("param W[2, 2] = uniform; loss sum(W);", "'uniform' needs its arguments: uniform(a, b)");
  assert_one_error("param W[2, 2] = normal; loss sum(W);", "'normal' needs its arguments: normal(mean, std)");
  assert_one_error("input x; param W[2] = uniform(x, 1); loss sum(W) + x;", "1:31: error: 'a' must be a constant");
  assert_one_error(
      "input x; param W[2] = x; loss sum(W) + x;",
      "1:23: error: an initializer is a number, zeros, ones, uniform(a, b), normal(mean, std), xavier or he");
  assert_one_error("input v[2]; param W[2] = v * 0; loss sum(W + v);", "an initializer is a number, zeros, ones");
  assert_one_error("param W[2] = 1 / 0; loss sum(W);", "this constant expression has no finite value");
  assert_one_error("param W[2] = glorot; loss sum(W);", "unknown name 'glorot'");
  /* a bad initializer is one error: its uses say nothing more */
  assert_one_error("param W[2] = xavier; loss sum(W) + mean(W);", "'xavier' needs a parameter of rank 2 or more");
}

/* An initializer name that is part of a param's initializer, rather than
   the whole of it, gets the list of initializer forms. */
static void init_initializer_in_expression(void **state) {
  (void)state;
  const char *want = "an initializer is a number, zeros, ones, uniform(a, b), normal(mean, std), xavier or he";
  assert_one_error("param W[2, 2] = zeros + 1; loss sum(W);", want);
  assert_one_error("param W[2, 2] = -xavier; loss sum(W);", want);
  assert_one_error("param W[2, 2] = zeros(1); loss sum(W);", want);
  assert_one_error("param W[2, 2] = uniform(zeros, 1); loss sum(W);", want);
  assert_one_error("param W[2, 2] = 2 * (normal(0, 1)); loss sum(W);", "1:17: error: an initializer is a number");
}

/* ---- 5. the train block ---- */

static const TrainConfig *train(void **state, const char *settings) {
  char src[512];
  snprintf(src, sizeof src, "param W[3];\nloss sum(W);\ntrain {\n%s\n}\n", settings);
  return &checked(state, src)->train;
}

/* SETTINGS in a train block is the one error MESSAGE. */
static void train_error(const char *settings, const char *message) {
  char src[512];
  snprintf(src, sizeof src, "param W[3]; loss sum(W); train { %s }", settings);
  assert_one_error(src, message);
}

static void train_defaults(void **state) {
  const TrainConfig *t = &checked(state, "param W[3]; loss sum(W);")->train;
  assert_int_equal(t->optimizer, OPT_ADAM);
  assert_num(t->lr, 0.001);
  assert_num(t->beta1, 0.9);
  assert_num(t->beta2, 0.999);
  assert_num(t->eps, 1e-8);
  assert_num(t->momentum, 0);
  assert_num(t->weight_decay, 0);
  assert_int_equal(t->batch, 32);
  assert_int_equal(t->epochs, 10);
  assert_int_equal(t->seed, 1);
  assert_num(t->clip, 0);
  /* an empty block changes nothing */
  t = train(state, "");
  assert_int_equal(t->optimizer, OPT_ADAM);
  assert_num(t->lr, 0.001);
  assert_int_equal(t->batch, 32);
  assert_int_equal(t->epochs, 10);
}

static void train_sgd(void **state) {
  const TrainConfig *t = train(state, "optimizer = sgd;");
  assert_int_equal(t->optimizer, OPT_SGD);
  assert_num(t->lr, 0.01);
  assert_num(t->momentum, 0);
  t = train(state, "optimizer = sgd();");
  assert_int_equal(t->optimizer, OPT_SGD);
  assert_num(t->lr, 0.01);
  t = train(state, "optimizer = sgd(0.5, 0.9);");
  assert_num(t->lr, 0.5);
  assert_num(t->momentum, 0.9);
  t = train(state, "optimizer = sgd(momentum = 0.75);");
  assert_num(t->lr, 0.01);
  assert_num(t->momentum, 0.75);
  t = train(state, "optimizer = sgd(0.2, momentum = 0.5);");
  assert_num(t->lr, 0.2);
  assert_num(t->momentum, 0.5);
  t = train(state, "optimizer = sgd(momentum = 0, lr = 2 ^ -3);");
  assert_num(t->lr, 0.125);
}

static void train_adam(void **state) {
  const TrainConfig *t = train(state, "optimizer = adam;");
  assert_int_equal(t->optimizer, OPT_ADAM);
  assert_num(t->lr, 0.001);
  assert_num(t->beta1, 0.9);
  assert_num(t->beta2, 0.999);
  assert_num(t->eps, 1e-8);
  t = train(state, "optimizer = adam(0.01, 0.8, 0.99, 1e-6);");
  assert_num(t->lr, 0.01);
  assert_num(t->beta1, 0.8);
  assert_num(t->beta2, 0.99);
  assert_num(t->eps, 1e-6);
  t = train(state, "optimizer = adam(beta2 = 0.95, eps = 1e-7);");
  assert_num(t->lr, 0.001);
  assert_num(t->beta1, 0.9);
  assert_num(t->beta2, 0.95);
  assert_num(t->eps, 1e-7);
}

static void train_adamw(void **state) {
  const TrainConfig *t = train(state, "optimizer = adamw;");
  assert_int_equal(t->optimizer, OPT_ADAMW);
  assert_num(t->lr, 0.001);
  assert_num(t->beta1, 0.9);
  assert_num(t->beta2, 0.999);
  assert_num(t->eps, 1e-8);
  assert_num(t->weight_decay, 0.01);
  t = train(state, "optimizer = adamw(0.002, 0.8, 0.9, 1e-7, 0.05);");
  assert_num(t->lr, 0.002);
  assert_num(t->beta1, 0.8);
  assert_num(t->beta2, 0.9);
  assert_num(t->eps, 1e-7);
  assert_num(t->weight_decay, 0.05);
  t = train(state, "optimizer = adamw(weight_decay = 0);");
  assert_num(t->weight_decay, 0);
  assert_num(t->lr, 0.001);
}

static void train_settings(void **state) {
  const TrainConfig *t = train(state, "batch = 64; epochs = 3; seed = 42; clip = 1.5;");
  assert_int_equal(t->batch, 64);
  assert_int_equal(t->epochs, 3);
  assert_int_equal(t->seed, 42);
  assert_num(t->clip, 1.5);
  assert_int_equal(t->optimizer, OPT_ADAM);
  /* constants and constant expressions; the extremes of each range */
  Program *p = checked(state, "const n = 8;\nparam W[n];\nloss sum(W);\n"
                              "train { batch = n * 2; epochs = 1e9; seed = 9007199254740991; clip = 0; }\n");
  assert_int_equal(p->train.batch, 16);
  assert_int_equal(p->train.epochs, 1000000000);
  assert_true(p->train.seed == UINT64_C(9007199254740991));
  t = train(state, "batch = 1; epochs = 1; seed = 0;");
  assert_int_equal(t->batch, 1);
  assert_int_equal(t->epochs, 1);
  assert_int_equal(t->seed, 0);
  t = train(state, "batch = 1048576;");
  assert_int_equal(t->batch, 1048576);
  /* a train block before the loss is fine, and a ';' after it */
  p = checked(state, "train { batch = 4; };\nparam W[3];\nloss sum(W);\n");
  assert_int_equal(p->train.batch, 4);
}

static void train_unknown(void **state) {
  (void)state;
  train_error("optimizer = adma;", "1:46: error: unknown optimizer 'adma'; did you mean 'adam'?");
  train_error("optimizer = sdg(lr = 0.1);", "1:46: error: unknown optimizer 'sdg'; did you mean 'sgd'?");
  train_error("optimizer = rmsprop;", "unknown optimizer 'rmsprop'");
  train_error("optimizer = 3;", "1:46: error: expected an optimizer: sgd(...), adam(...) or adamw(...)");
  train_error("optimizer = adam + 1;", "expected an optimizer: sgd(...), adam(...) or adamw(...)");
  train_error("btach = 3;", "1:34: error: unknown train setting 'btach'; did you mean 'batch'?");
  train_error("epoch = 3;", "unknown train setting 'epoch'; did you mean 'epochs'?");
  train_error("dropout = 0.5;", "unknown train setting 'dropout'");
  train_error("lr = 1;", "1:34: error: 'lr' is an argument of the optimizer: optimizer = adam(lr = ...)");
  train_error("optimizer = adam(betta1 = 0.8);", "1:51: error: unknown argument");
  train_error("optimizer = adam(betta1 = 0.8);", "'betta1'");
  train_error("optimizer = adam(betta1 = 0.8);", "; did you mean 'beta1'?\n");
  train_error("optimizer = sgd(beta1 = 0.8);", "1:50: error: unknown argument");
  train_error("optimizer = sgd(beta1 = 0.8);", "'beta1'");
  train_error("optimizer = adam(weight_decay = 0.1);", "1:51: error: unknown argument");
  train_error("optimizer = adam(weight_decay = 0.1);", "'weight_decay'");
  train_error("batch = n;", "1:42: error: unknown name 'n'");
  train_error("batch = W;", "1:42: error: 'batch' must be a constant");
  train_error("optimizer = sgd(lr = W);", "1:55: error: 'lr' must be a constant");
}

/* An optimizer argument set as a train key points to an optimizer that
   takes it: the block's own, else adam, adamw or sgd. */
static void train_optimizer_argument_hint(void **state) {
  (void)state;
  train_error("momentum = 0.9;", "optimizer = sgd(momentum = ...)");
  train_error("weight_decay = 0.1;", "optimizer = adamw(weight_decay = ...)");
  train_error("beta2 = 0.9;", "optimizer = adam(beta2 = ...)");
  train_error("optimizer = sgd; lr = 0.1;", "'lr' is an argument of the optimizer: optimizer = sgd(lr = ...)");
  train_error("lr = 0.1; optimizer = adamw(eps = 1e-6);", "optimizer = adamw(lr = ...)");
  train_error("optimizer = sgd; beta1 = 0.5;", "optimizer = adam(beta1 = ...)");
}

/* An unknown argument is named next to the word "argument". */
static void train_unknown_argument_wording(void **state) {
  (void)state;
  train_error("optimizer = adam(betta1 = 0.8);", "1:51: error: unknown argument 'betta1' of 'adam'; did you mean 'beta1'?\n");
  train_error("optimizer = adam(weight_decay = 0.1);", "1:51: error: unknown argument 'weight_decay' of 'adam'\n");
  assert_one_error("param W[2] = uniform(a = 1, c = 2); loss sum(W);",
                   "1:29: error: unknown argument 'c' of 'uniform'\n");
}

static void train_arguments(void **state) {
  (void)state;
  train_error("optimizer = sgd(lr = 0.1, 0.9);", "1:60: error: a positional argument cannot follow a named one");
  train_error("optimizer = sgd(0.1, lr = 0.2);", "1:55: error: 'lr' is given twice");
  train_error("optimizer = adam(eps = 1e-6, eps = 1e-7);", "'eps' is given twice");
  train_error("optimizer = sgd(0.1, 0.9, 1);", "1:60: error: 'sgd' takes at most 2 arguments");
  train_error("optimizer = adam(1, 0.9, 0.9, 1, 1);", "'adam' takes at most 4 arguments");
  train_error("optimizer = adamw(1, 0.9, 0.9, 1, 1, 1);", "'adamw' takes at most 5 arguments");
}

static void train_duplicates(void **state) {
  (void)state;
  train_error("batch = 2; batch = 3;", "1:45: error: 'batch' is already set at 1:34");
  train_error("optimizer = sgd; optimizer = adam;", "1:51: error: 'optimizer' is already set at 1:34");
  assert_one_error("param W[3]; loss sum(W);\ntrain { batch = 2; }\ntrain { epochs = 2; }\n",
                   "3:1: error: duplicate 'train' block\ntrain { epochs = 2; }\n^~~~~~~~~~~~~~~~~~~~~\n"
                   "t.net:2:1: note: the first is here\n");
}

static void train_ranges(void **state) {
  (void)state;
  train_error("optimizer = sgd(lr = 0);", "1:55: error: 'lr' must be greater than 0, got 0");
  train_error("optimizer = adam(-0.1);", "'lr' must be greater than 0, got -0.1");
  train_error("optimizer = sgd(momentum = 1);", "'momentum' must be in [0, 1), got 1");
  train_error("optimizer = sgd(0.1, -0.5);", "'momentum' must be in [0, 1), got -0.5");
  train_error("optimizer = adam(beta1 = -0.1);", "'beta1' must be in [0, 1), got -0.1");
  train_error("optimizer = adam(beta1 = 1);", "'beta1' must be in [0, 1), got 1");
  train_error("optimizer = adam(beta2 = 1);", "'beta2' must be in [0, 1), got 1");
  train_error("optimizer = adamw(beta2 = 1.5);", "'beta2' must be in [0, 1), got 1.5");
  train_error("optimizer = adam(eps = 0);", "'eps' must be greater than 0, got 0");
  train_error("optimizer = adamw(weight_decay = -1);", "1:67: error: 'weight_decay' must be at least 0, got -1");
  train_error("batch = 0;", "1:42: error: 'batch' must be in [1, ");
  train_error("batch = 2.5;", "1:42: error: 'batch' must be an integer, got 2.5");
  train_error("epochs = 0;", "'epochs' must be in [1, ");
  train_error("epochs = 10.5;", "'epochs' must be an integer, got 10.5");
  train_error("seed = -1;", "'seed' must be in [0, ");
  train_error("seed = 0.5;", "'seed' must be an integer, got 0.5");
  /* 2^53 + 1 reads as 2^53: every seed must be below, where it is exact */
  train_error("seed = 9007199254740993;", "'seed' must be in [0, 9007199254740992), got 9007199254740992");
  train_error("seed = 9007199254740992;", "'seed' must be in [0, 9007199254740992), got 9007199254740992");
  train_error("clip = -1;", "1:41: error: 'clip' must be at least 0, got -1");
  train_error("batch = 1 / 0;", "this constant expression has no finite value");
}

/* An optimizer argument with an error does not stop the range checks of
   the others. */
static void train_each_argument_checked(void **state) {
  Compiled *c = compile(state, "param W; loss W;\ntrain { optimizer = adam(lr = -1, beta1 = x, beta2 = 2); }\n");
  assert_int_equal(c->diag.errors, 3);
  assert_non_null(strstr(c->messages, "t.net:2:43: error: unknown name 'x'\n"));
  assert_non_null(strstr(c->messages, "t.net:2:31: error: 'lr' must be greater than 0, got -1\n"));
  assert_non_null(strstr(c->messages, "t.net:2:54: error: 'beta2' must be in [0, 1), got 2\n"));
  /* one error for the arguments too many, and the others checked */
  c = compile(state, "param W; loss W;\ntrain { optimizer = sgd(-1, 2, 3, 4); }\n");
  assert_int_equal(c->diag.errors, 3);
  assert_int_equal(count(c->messages, "'sgd' takes at most 2 arguments"), 1);
  assert_non_null(strstr(c->messages, "'lr' must be greater than 0, got -1\n"));
  assert_non_null(strstr(c->messages, "'momentum' must be in [0, 1), got 2\n"));
}

/* Range messages print the bounds and the value exactly, so that a value
   just outside the range does not look inside it. */
static void train_range_messages_exact(void **state) {
  (void)state;
  train_error("batch = 1048577;", "'batch' must be in [1, 1048576], got 1048577");
  train_error("seed = 9007199254740994;", "'seed' must be in [0, 9007199254740992), got 9007199254740994");
  train_error("optimizer = adam(eps = -0.000123456789);", "'eps' must be greater than 0, got -0.000123456789");
  assert_one_error("param W[2] = uniform(0.1, 0.1); loss sum(W);", "needs a < b, got a = 0.1 and b = 0.1");
  assert_one_error("param W[2] = normal(0, -1234567); loss sum(W);", "needs std >= 0, got -1234567");
}

/* ---- 6. the program ---- */

/* The model name of SRC when read from PATH. */
static const char *name_for(void **state, const char *src, const char *path) {
  Fixture *f = *state;
  if (f->live)
    compiled_free(&f->c);
  f->live = true;
  Compiled *c = &f->c;
  arena_init(&c->arena);
  FILE *out = open_memstream(&c->messages, &c->size);
  assert_non_null(out);
  diag_init(&c->diag, &c->arena, path, arena_strdup(&c->arena, src), (int)strlen(src), out);
  c->stmts = parse_program(&c->diag, &c->arena);
  c->program = check_program(c->stmts, path, &c->diag, &c->arena);
  fclose(out);
  if (c->diag.errors)
    fail_msg("%s:\n%s", path, c->messages);
  return c->program->name;
}

static void program_model_name(void **state) {
  const char *src = "param W[3]; loss sum(W);";
  assert_string_equal(name_for(state, src, "dir/my-net.net"), "my_net");
  assert_string_equal(name_for(state, src, "2layer.net"), "_2layer");
  assert_string_equal(name_for(state, src, "models/2my-net.v1.net"), "_2my_net_v1");
  assert_string_equal(name_for(state, src, "models/v1.2/mlp.net"), "mlp");
  assert_string_equal(name_for(state, src, "a.b c.net"), "a_b_c");
  assert_string_equal(name_for(state, src, "noext"), "noext");
  assert_string_equal(name_for(state, src, "x.net.net"), "x_net");
  assert_string_equal(name_for(state, src, "dir/"), "model");
  /* 'model NAME;' wins over the file name */
  assert_string_equal(name_for(state, "model mine; param W[3]; loss sum(W);", "dir/2-other.net"), "mine");
  assert_string_equal(name_for(state, "param W[3]; loss sum(W); model last;", "first.net"), "last");
}

static void program_loss(void **state) {
  Compiled *c = compile(state, "param W[3];\n");
  assert_int_equal(c->diag.errors, 1);
  assert_string_equal(c->messages, "t.net: error: no 'loss' statement\n");
  assert_one_error("param W[3]; loss W;", "1:18: error: loss must be a scalar, got [3]");
  assert_one_error("param W[2, 2];\nloss W @ W;\n", "2:6: error: loss must be a scalar, got [2, 2]");
  assert_one_error("param W[3];\nloss sum(W);\nloss mean(W);\n",
                   "3:1: error: duplicate 'loss' statement; a model has exactly one\nloss mean(W);\n^~~~~~~~~~~~~\n"
                   "t.net:2:1: note: the first is here\n");
  assert_one_error("model a;\nmodel b;\nparam W[3];\nloss sum(W);\n",
                   "2:1: error: duplicate 'model' statement\nmodel b;\n^~~~~~~~\nt.net:1:1: note: the first is here\n");
  /* a loss with an error is still a loss statement */
  assert_one_error("param W[3]; loss sum(V);", "unknown name 'V'");
}

/* ---- 7. warnings ---- */

static void warnings(void **state) {
  expect_warnings(state, "input x;\nparam W[3];\nloss sum(W);\n", 1, "t.net:1:7: warning: input 'x' is never used");
  expect_warnings(state, "param V[3];\nparam W[3];\nloss sum(W);\n", 1,
                  "t.net:1:7: warning: parameter 'V' does not affect the loss; its gradient is always zero");
  expect_warnings(state, "param W[3];\nh = W * 2;\nloss sum(W);\n", 1,
                  "t.net:2:1: warning: 'h' is computed but never used");
  expect_warnings(state, "target y;\nparam W[3];\nloss sum(W);\n", 1,
                  "t.net:1:8: warning: target 'y' is not used by the loss");
  expect_warnings(state, "target t : class(3);\nparam W[3];\nloss sum(W);\n", 1, "target 't' is not used by the loss");
  expect_warnings(state, "const k = 2;\nparam W[3];\nloss sum(W);\n", 1,
                  "t.net:1:7: warning: constant 'k' is never used");
  expect_warnings(state, "input x; target y; const k = 1; param V; param W; h = W;\nloss W;\n", 5,
                  "input 'x' is never used", "target 'y' is not used by the loss", "constant 'k' is never used",
                  "parameter 'V' does not affect the loss", "'h' is computed but never used");
}

/* "never used" is said only of a name that is never named; one named only
   by values that go nowhere does not reach the loss or an output. */
static void warnings_unused_chains(void **state) {
  expect_warnings(state, "input u;\nparam W[3];\nh = u * 2;\ng = h + 1;\nloss sum(W);\n", 3,
                  "t.net:1:7: warning: input 'u' does not reach the loss or an output",
                  "t.net:3:1: warning: 'h' does not reach the loss or an output",
                  "t.net:4:1: warning: 'g' is computed but never used");
  Compiled *c = compile(state, "input u;\nparam W[3];\nh = u * 2;\ng = h + 1;\nloss sum(W);\n");
  assert_int_equal(count(c->messages, "never used"), 1);
}

static void warnings_outputs(void **state) {
  /* a param reaching only an output still warns: it is never trained */
  expect_warnings(state, "param V[3];\nparam W[3];\noutput o = V * 2;\nloss sum(W);\n", 1,
                  "parameter 'V' does not affect the loss");
  expect_warnings(state, "param V[3];\nparam W[3];\noutput V;\nloss sum(W);\n", 1,
                  "parameter 'V' does not affect the loss");
  /* inputs and values used only by outputs do not */
  expect_warnings(state, "input x;\nparam W[3];\nh = x * 2;\noutput o = h + 1;\nloss sum(W);\n", 0);
  expect_warnings(state, "input x;\nparam W[3];\noutput x;\nloss sum(W);\n", 0);
}

static void warnings_none(void **state) {
  /* everything reaches the loss through values, consts in dimensions and initializers count as used */
  assert_clean("const n = 3;\nconst s = 0.5;\ninput x[n];\ntarget y;\nparam W[n] = s;\nparam b;\n"
               "h = dot(W, x) + b;\ng = sigmoid(h);\noutput p = g;\nloss (p - y) ^ 2;\n");
  assert_clean("const lr = 0.1;\nparam W[3];\nloss sum(W);\ntrain { optimizer = sgd(lr); }\n");
  /* no warnings after an error */
  Compiled *c = compile(state, "input x; param V; param W[3]; loss sum(W) + nope;");
  assert_int_equal(c->diag.errors, 1);
  assert_int_equal(c->diag.warnings, 0);
}

/* ---- 8. the error limit ---- */

static void error_limit(void **state) {
  char src[1024];
  int len = snprintf(src, sizeof src, "loss 1;\n");
  for (int i = 1; i <= 30; i++)
    len += snprintf(src + len, sizeof src - (size_t)len, "v%d = nope%d;\n", i, i);
  Compiled *c = compile(state, src);
  assert_int_equal(count(c->messages, ": error: "), 20);
  assert_non_null(strstr(c->messages, "t.net:21:7: error: unknown name 'nope20'\n"));
  assert_null(strstr(c->messages, "nope21"));
  const char *note = "t.net: note: too many errors, stopping after 20\n";
  assert_int_equal(count(c->messages, note), 1);
  assert_string_equal(c->messages + c->size - strlen(note), note);
  assert_true(c->diag.errors > 20);
  assert_null(c->program);

  /* exactly 20 errors: all printed, no note */
  len = snprintf(src, sizeof src, "loss 1;\n");
  for (int i = 1; i <= 20; i++)
    len += snprintf(src + len, sizeof src - (size_t)len, "v%d = nope%d;\n", i, i);
  c = compile(state, src);
  assert_int_equal(c->diag.errors, 20);
  assert_int_equal(count(c->messages, ": error: "), 20);
  assert_null(strstr(c->messages, "too many errors"));
}

/* ---- 9. deep nesting: an error, not a crash ---- */

/* PREFIX, then N times REPEAT, then MIDDLE, then N times CLOSE, then SUFFIX. */
static char *repeated(const char *prefix, const char *repeat, int n, const char *middle, const char *close,
                      const char *suffix) {
  size_t size = strlen(prefix) + (size_t)n * (strlen(repeat) + strlen(close)) + strlen(middle) + strlen(suffix) + 1;
  char *s = malloc(size), *q = s;
  if (!s)
    abort(); /* out of memory: nothing to test */
  q += sprintf(q, "%s", prefix);
  for (int i = 0; i < n; i++)
    q += sprintf(q, "%s", repeat);
  q += sprintf(q, "%s", middle);
  for (int i = 0; i < n; i++)
    q += sprintf(q, "%s", close);
  sprintf(q, "%s", suffix);
  return s;
}

static void deep_nesting(void **state) {
  const char *too_deep = "expression is nested too deeply (more than 400 levels)";
  char *src = repeated("input x;\nloss ", "x + ", 4999, "x", "", ";\n"); /* 5000 terms */
  assert_one_error(src, "2:6: error: expression is nested too deeply (more than 400 levels)");
  free(src);
  src = repeated("input x;\nloss ", "x + (", 1000, "x", ")", ";\n");
  assert_one_error(src, too_deep);
  free(src);
  src = repeated("input x;\nloss ", "exp(", 1000, "x", ")", ";\n");
  assert_one_error(src, too_deep);
  free(src);
  src = repeated("input x;\nloss ", "-", 1000, "x", "", ";\n");
  assert_one_error(src, too_deep);
  free(src);
  src = repeated("input x;\nh = ", "x * ", 4999, "x", "", ";\nloss h;\n");
  assert_one_error(src, too_deep);
  free(src);
  /* also in dimensions, initializers and settings */
  src = repeated("param W[", "1 * ", 1000, "1", "", "];\nloss sum(W);\n");
  assert_one_error(src, too_deep);
  free(src);
  src = repeated("param W = ", "1 + ", 1000, "1", "", ";\nloss W;\n");
  assert_one_error(src, too_deep);
  free(src);
  src = repeated("param W; loss W; train { batch = ", "1 * ", 1000, "1", "", "; }\n");
  assert_one_error(src, too_deep);
  free(src);
  /* two deep statements: an error for each, or at least no crash */
  src = repeated("input x;\nh = ", "x + ", 999, "x", "", ";\n");
  char *both = repeated(src, "", 0, "g = h;\nloss g + ", "", "h;\n");
  Compiled *c = compile(state, both);
  assert_true(c->diag.errors >= 1);
  free(both);
  free(src);
}

static void deep_but_fine(void **state) {
  (void)state;
  /* parentheses alone add no depth */
  char *src = repeated("input x;\nloss ", "(", 1000, "x", ")", ";\n");
  assert_clean(src);
  free(src);
  /* 399 '+' are 400 levels, the most allowed; 400 are one too many */
  src = repeated("input x;\nloss ", "x + ", 399, "x", "", ";\n");
  assert_clean(src);
  free(src);
  src = repeated("input x;\nloss ", "x + ", 400, "x", "", ";\n");
  assert_one_error(src, "expression is nested too deeply (more than 400 levels)");
  free(src);
  src = repeated("input x;\nloss ", "x + (", 150, "x", ")", ";\n");
  assert_clean(src);
  free(src);
}

/* Deeper than the parser's stack: a clean error, not a crash. */
static void deep_parser_stack(void **state) {
  char *src = repeated("input x;\nloss ", "x + (", 5000, "x", ")", ";\n");
  Compiled *c = compile(state, src);
  assert_int_equal(c->diag.errors, 1);
  assert_null(c->program);
  free(src);
}

/* Deeper than the parser's stack, the message is the checker's, not
   bison's "memory exhausted". */
static void deep_parser_stack_message(void **state) {
  (void)state;
  char *src = repeated("input x;\nloss ", "x + (", 5000, "x", ")", ";\n");
  assert_one_error(src, "2:16666: error: expression is nested too deeply (more than 400 levels)");
  free(src);
  src = repeated("input x;\nloss ", "x ^ ", 5000, "2", "", ";\n");
  assert_one_error(src, "expression is nested too deeply (more than 400 levels)");
  free(src);
}

int main(void) {
  const struct CMUnitTest op_shapes[] = {
      TEST(shape_ops),
      TEST(shape_elementwise),
      TEST(shape_every_op_covered),
      TEST(pick_flag_matches_scalar),
      TEST(shape_through_values),
      TEST(shape_errors_elementwise),
      TEST(shape_errors_matmul),
      TEST(shape_errors_result_too_large),
      TEST(shape_errors_pow_and_args),
      TEST(shape_errors_vector_and_matrix),
      TEST(shape_errors_losses),
      TEST(shape_errors_calls),
      TEST(shape_errors_do_not_cascade),
  };
  const struct CMUnitTest names[] = {
      TEST(names_unknown),
      TEST(names_order),
      TEST(names_const_own_definition),
      TEST(names_dims_own_definition),
      TEST(names_redefined),
      TEST(names_reserved_reported_once),
      TEST(names_initializers_in_expressions),
      TEST(names_function_without_call),
      TEST(names_class_target),
      TEST(names_outputs),
      TEST(names_outputs_without_targets),
  };
  const struct CMUnitTest constants[] = {
      TEST(const_folding),
      TEST(const_folding_functions),
      TEST(const_dimensions),
      TEST(const_element_count_overflow),
      TEST(const_dimension_too_large),
      TEST(const_errors),
  };
  const struct CMUnitTest params[] = {
      TEST(init_defaults),
      TEST(init_kinds),
      TEST(init_errors),
      TEST(init_initializer_in_expression),
  };
  const struct CMUnitTest train_block[] = {
      TEST(train_defaults),
      TEST(train_sgd),
      TEST(train_adam),
      TEST(train_adamw),
      TEST(train_settings),
      TEST(train_unknown),
      TEST(train_optimizer_argument_hint),
      TEST(train_unknown_argument_wording),
      TEST(train_arguments),
      TEST(train_duplicates),
      TEST(train_ranges),
      TEST(train_each_argument_checked),
      TEST(train_range_messages_exact),
  };
  const struct CMUnitTest program[] = {
      TEST(program_model_name),
      TEST(program_loss),
      TEST(warnings),
      TEST(warnings_unused_chains),
      TEST(warnings_outputs),
      TEST(warnings_none),
      TEST(error_limit),
  };
  const struct CMUnitTest nesting[] = {
      TEST(deep_nesting),
      TEST(deep_but_fine),
      TEST(deep_parser_stack),
      TEST(deep_parser_stack_message),
  };
  int failed = 0;
  failed += cmocka_run_group_tests(op_shapes, NULL, NULL);
  failed += cmocka_run_group_tests(names, NULL, NULL);
  failed += cmocka_run_group_tests(constants, NULL, NULL);
  failed += cmocka_run_group_tests(params, NULL, NULL);
  failed += cmocka_run_group_tests(train_block, NULL, NULL);
  failed += cmocka_run_group_tests(program, NULL, NULL);
  failed += cmocka_run_group_tests(nesting, NULL, NULL);
  return failed != 0;
}
