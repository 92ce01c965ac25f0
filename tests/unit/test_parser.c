/* test_parser.c: parse_program on source texts. The tree it builds for
   every statement, precedence and associativity, locations, the text and
   place of syntax errors, and recovery after them. */
#include "harness.h"

/* One parse of a source named "t.net". */
typedef struct {
  Arena arena;
  Diag diag;
  Ast *stmts;
  char *messages; /* open_memstream's */
  size_t size;
  char *text; /* a tree printed by tree() or printed(); malloc'd */
} Parsed;

static int setup(void **state) {
  Parsed *p = calloc(1, sizeof *p);
  if (!p)
    return -1;
  arena_init(&p->arena);
  *state = p;
  return 0;
}

static int teardown(void **state) {
  Parsed *p = *state;
  free(p->messages);
  free(p->text);
  arena_free(&p->arena);
  free(p);
  return 0;
}

static Parsed *parse(void **state, const char *src) {
  Parsed *p = *state;
  free(p->messages);
  p->messages = NULL;
  FILE *out = open_memstream(&p->messages, &p->size);
  assert_non_null(out);
  diag_init(&p->diag, &p->arena, "t.net", arena_strdup(&p->arena, src), (int)strlen(src), out);
  p->stmts = parse_program(&p->diag, &p->arena);
  fclose(out);
  return p;
}

/* Parses SRC, which must have no errors. */
static Parsed *parse_ok(void **state, const char *src) {
  Parsed *p = parse(state, src);
  if (p->diag.errors)
    fail_msg("source:\n%s\nunexpected errors:\n%s", src, p->messages);
  assert_string_equal(p->messages, "");
  return p;
}

/* The tree of E with every node in parentheses: "(+ a (* b c))",
   "(neg x)", "f(a, lr=0.1)". */
static void sexpr(FILE *out, const Ast *e) {
  switch (e->kind) {
  case AST_NUM:
    fprintf(out, "%.15g", e->num);
    break;
  case AST_NAME:
    fputs(e->ref.name, out);
    break;
  case AST_UNARY:
    assert_int_equal(e->op.op, OP_NEG);
    assert_null(e->op.b);
    fputs("(neg ", out);
    sexpr(out, e->op.a);
    fputc(')', out);
    break;
  case AST_BINARY:
    fprintf(out, "(%s ", op_info[e->op.op].name);
    sexpr(out, e->op.a);
    fputc(' ', out);
    sexpr(out, e->op.b);
    fputc(')', out);
    break;
  case AST_CALL:
    fprintf(out, "%s(", e->call.name);
    for (const Ast *arg = e->call.args; arg; arg = arg->next) {
      if (arg->label)
        fprintf(out, "%s=", arg->label);
      sexpr(out, arg);
      if (arg->next)
        fputs(", ", out);
    }
    fputc(')', out);
    assert_int_equal(e->call.nargs, ast_length(e->call.args));
    break;
  default:
    fail_msg("not an expression: kind %d", e->kind);
  }
}

static const char *tree(void **state, const Ast *e) {
  Parsed *p = *state;
  size_t size;
  free(p->text);
  FILE *out = open_memstream(&p->text, &size);
  assert_non_null(out);
  sexpr(out, e);
  fclose(out);
  return p->text;
}

/* E as ast_print_expr prints it. */
static const char *printed(void **state, const Ast *e) {
  Parsed *p = *state;
  size_t size;
  free(p->text);
  FILE *out = open_memstream(&p->text, &size);
  assert_non_null(out);
  ast_print_expr(out, e);
  fclose(out);
  return p->text;
}

/* The Nth statement (from 0). */
static Ast *stmt(const Parsed *p, int n) {
  Ast *s = p->stmts;
  for (int i = 0; i < n && s; i++)
    s = s->next;
  if (!s)
    fail_msg("no statement %d; there are %d", n, ast_length(p->stmts));
  return s;
}

/* The tree of the expression of the single statement "loss EXPR;". */
static const char *loss_tree(void **state, const char *expr) {
  char src[256];
  snprintf(src, sizeof src, "loss %s;", expr);
  Parsed *p = parse_ok(state, src);
  assert_int_equal(ast_length(p->stmts), 1);
  assert_int_equal(p->stmts->kind, AST_LOSS);
  return tree(state, p->stmts->stmt.expr);
}

static void assert_loc(Loc loc, int begin, int end) {
  if (loc.begin != begin || loc.end != end)
    fail_msg("location [%d, %d), expected [%d, %d)", loc.begin, loc.end, begin, end);
}

/* The text of the source that LOC covers. */
static void assert_loc_text(const Parsed *p, Loc loc, const char *text) {
  int len = (int)strlen(text);
  if (loc.end - loc.begin != len || memcmp(p->diag.text + loc.begin, text, (size_t)len) != 0)
    fail_msg("location covers '%.*s', expected '%s'", loc.end - loc.begin, p->diag.text + loc.begin, text);
}

static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *q = s; (q = strstr(q, needle)); q += strlen(needle))
    n++;
  return n;
}

/* ---- statements: kinds, names, dims, initializers, class targets ---- */

static void model_statement(void **state) {
  Parsed *p = parse_ok(state, "model digits;");
  Ast *s = p->stmts;
  assert_int_equal(s->kind, AST_MODEL);
  assert_string_equal(s->stmt.name, "digits");
  assert_loc(s->loc, 0, 13);
  assert_loc(s->stmt.name_loc, 6, 12);
  assert_null(s->next);
}

static void input_and_target_dims(void **state) {
  Parsed *p = parse_ok(state, "input x[64];\ninput s;\ntarget y[2, 3];\ntarget t;\ninput img[n * 2, 8, 8];");
  assert_int_equal(ast_length(p->stmts), 5);
  Ast *x = stmt(p, 0), *s = stmt(p, 1), *y = stmt(p, 2), *t = stmt(p, 3), *img = stmt(p, 4);
  assert_int_equal(x->kind, AST_INPUT);
  assert_string_equal(x->stmt.name, "x");
  assert_int_equal(ast_length(x->stmt.dims), 1);
  assert_string_equal(tree(state, x->stmt.dims), "64");
  assert_null(x->stmt.expr);
  assert_int_equal(s->kind, AST_INPUT);
  assert_null(s->stmt.dims); /* a scalar */
  assert_int_equal(y->kind, AST_TARGET);
  assert_string_equal(y->stmt.name, "y");
  assert_false(y->stmt.is_class);
  assert_int_equal(ast_length(y->stmt.dims), 2);
  assert_string_equal(tree(state, y->stmt.dims), "2");
  assert_string_equal(tree(state, y->stmt.dims->next), "3");
  assert_int_equal(t->kind, AST_TARGET);
  assert_null(t->stmt.dims);
  assert_false(t->stmt.is_class);
  assert_int_equal(ast_length(img->stmt.dims), 3);
  assert_string_equal(tree(state, img->stmt.dims), "(* n 2)");
  assert_loc_text(p, img->stmt.dims->loc, "n * 2");
  assert_loc_text(p, img->stmt.dims->next->next->loc, "8");
  assert_loc_text(p, img->loc, "input img[n * 2, 8, 8];");
}

static void class_target(void **state) {
  Parsed *p = parse_ok(state, "target label : class(10);\ntarget k : class(n + 1);");
  Ast *a = stmt(p, 0), *b = stmt(p, 1);
  assert_int_equal(a->kind, AST_TARGET);
  assert_string_equal(a->stmt.name, "label");
  assert_true(a->stmt.is_class);
  assert_null(a->stmt.dims);
  assert_string_equal(tree(state, a->stmt.expr), "10");
  assert_loc_text(p, a->stmt.expr->loc, "10");
  assert_loc_text(p, a->stmt.name_loc, "label");
  assert_loc_text(p, a->loc, "target label : class(10);");
  assert_true(b->stmt.is_class);
  assert_string_equal(tree(state, b->stmt.expr), "(+ n 1)");
}

static void param_initializers(void **state) {
  Parsed *p = parse_ok(state, "param A[2, 3];\n"
                              "param W1[32, 64] = he;\n"
                              "param W2[10, 32] = xavier;\n"
                              "param b1[32] = zeros;\n"
                              "param b2[32] = ones;\n"
                              "param U[4, 2] = uniform(-1, 1);\n"
                              "param N[4] = normal(0, 0.1);\n"
                              "param M[4] = normal(mean = 1, std = 2);\n"
                              "param w = 0.5;\n"
                              "param k = -2 * 3;\n");
  assert_int_equal(ast_length(p->stmts), 10);
  static const char *const want[] = {NULL,         "he",           "xavier", "zeros",
                                     "ones",       "uniform((neg 1), 1)", "normal(0, 0.1)",
                                     "normal(mean=1, std=2)", "0.5", "(* (neg 2) 3)"};
  for (int i = 0; i < 10; i++) {
    Ast *s = stmt(p, i);
    assert_int_equal(s->kind, AST_PARAM);
    if (want[i])
      assert_string_equal(tree(state, s->stmt.expr), want[i]);
    else
      assert_null(s->stmt.expr);
  }
  assert_string_equal(stmt(p, 0)->stmt.name, "A");
  assert_int_equal(ast_length(stmt(p, 0)->stmt.dims), 2);
  assert_string_equal(stmt(p, 1)->stmt.name, "W1");
  assert_int_equal(stmt(p, 1)->stmt.expr->kind, AST_NAME);
  assert_int_equal(stmt(p, 5)->stmt.expr->kind, AST_CALL);
  assert_int_equal(stmt(p, 5)->stmt.expr->call.nargs, 2);
  assert_null(stmt(p, 8)->stmt.dims);
  assert_int_equal(stmt(p, 8)->stmt.expr->kind, AST_NUM);
}

static void const_let_output_loss(void **state) {
  Parsed *p = parse_ok(state, "const k = 2 * 3;\n"
                              "h = relu(W @ x + b);\n"
                              "output probs = softmax(h);\n"
                              "output h;\n"
                              "loss (z - y)^2;\n");
  assert_int_equal(ast_length(p->stmts), 5);
  Ast *k = stmt(p, 0), *h = stmt(p, 1), *probs = stmt(p, 2), *out = stmt(p, 3), *loss = stmt(p, 4);
  assert_int_equal(k->kind, AST_CONST);
  assert_string_equal(k->stmt.name, "k");
  assert_string_equal(tree(state, k->stmt.expr), "(* 2 3)");
  assert_int_equal(h->kind, AST_LET);
  assert_string_equal(h->stmt.name, "h");
  assert_string_equal(tree(state, h->stmt.expr), "relu((+ (@ W x) b))");
  assert_loc_text(p, h->stmt.name_loc, "h");
  assert_loc_text(p, h->loc, "h = relu(W @ x + b);");
  assert_int_equal(probs->kind, AST_OUTPUT);
  assert_string_equal(probs->stmt.name, "probs");
  assert_string_equal(tree(state, probs->stmt.expr), "softmax(h)");
  assert_int_equal(out->kind, AST_OUTPUT);
  assert_string_equal(out->stmt.name, "h");
  assert_null(out->stmt.expr);
  assert_int_equal(loss->kind, AST_LOSS);
  assert_null(loss->stmt.name);
  assert_string_equal(tree(state, loss->stmt.expr), "(^ (- z y) 2)");
  assert_loc_text(p, loss->stmt.name_loc, "loss");
  assert_loc_text(p, loss->loc, "loss (z - y)^2;");
}

/* ---- train blocks: settings, named optimizer arguments ---- */

static void train_block(void **state) {
  Parsed *p = parse_ok(state, "train {\n"
                              "  optimizer = adam(lr = 0.001, beta1 = 0.9);\n"
                              "  batch = 32;\n"
                              "  epochs = 5 * 10;\n"
                              "  seed = 1;\n"
                              "}\n");
  assert_int_equal(ast_length(p->stmts), 1);
  Ast *t = p->stmts;
  assert_int_equal(t->kind, AST_TRAIN);
  assert_null(t->stmt.name);
  assert_loc_text(p, t->stmt.name_loc, "train");
  assert_int_equal(t->loc.begin, 0);
  assert_int_equal(t->loc.end, (int)strlen(p->diag.text) - 1); /* the '}' */
  assert_int_equal(ast_length(t->stmt.body), 4);
  static const char *const keys[] = {"optimizer", "batch", "epochs", "seed"};
  static const char *const values[] = {"adam(lr=0.001, beta1=0.9)", "32", "(* 5 10)", "1"};
  int i = 0;
  for (Ast *s = t->stmt.body; s; s = s->next, i++) {
    assert_int_equal(s->kind, AST_SETTING);
    assert_string_equal(s->stmt.name, keys[i]);
    assert_string_equal(tree(state, s->stmt.expr), values[i]);
  }
  Ast *opt = t->stmt.body->stmt.expr;
  assert_loc_text(p, t->stmt.body->loc, "optimizer = adam(lr = 0.001, beta1 = 0.9);");
  assert_loc_text(p, t->stmt.body->stmt.name_loc, "optimizer");
  assert_int_equal(opt->kind, AST_CALL);
  assert_int_equal(opt->call.nargs, 2);
  assert_loc_text(p, opt->call.name_loc, "adam");
  assert_loc_text(p, opt->loc, "adam(lr = 0.001, beta1 = 0.9)");
  Ast *lr = opt->call.args, *beta1 = lr->next;
  assert_string_equal(lr->label, "lr");
  assert_loc_text(p, lr->label_loc, "lr");
  assert_loc_text(p, lr->loc, "0.001"); /* the value, without its label */
  assert_string_equal(beta1->label, "beta1");
  assert_loc_text(p, beta1->label_loc, "beta1");
}

static void train_each_optimizer(void **state) {
  Parsed *p = parse_ok(state, "train { optimizer = sgd(lr = 0.1, momentum = 0.9); }\n"
                              "train { optimizer = adam(); }\n"
                              "train { optimizer = adamw(weight_decay = 0.01, eps = 1e-8); };\n"
                              "train { }\n"
                              "train {};\n");
  assert_int_equal(ast_length(p->stmts), 5);
  assert_string_equal(tree(state, stmt(p, 0)->stmt.body->stmt.expr), "sgd(lr=0.1, momentum=0.9)");
  assert_string_equal(tree(state, stmt(p, 1)->stmt.body->stmt.expr), "adam()");
  assert_int_equal(stmt(p, 1)->stmt.body->stmt.expr->call.nargs, 0);
  assert_null(stmt(p, 1)->stmt.body->stmt.expr->call.args);
  assert_string_equal(tree(state, stmt(p, 2)->stmt.body->stmt.expr), "adamw(weight_decay=0.01, eps=1e-08)");
  assert_null(stmt(p, 3)->stmt.body);
  assert_null(stmt(p, 4)->stmt.body);
  for (int i = 0; i < 5; i++)
    assert_int_equal(stmt(p, i)->kind, AST_TRAIN);
  assert_loc_text(p, stmt(p, 4)->loc, "train {};"); /* the optional ';' belongs to it */
}

static void call_arguments(void **state) {
  /* Named and positional arguments mix freely in the grammar; check
     decides where names are allowed. */
  assert_string_equal(loss_tree(state, "f()"), "f()");
  assert_string_equal(loss_tree(state, "f(a)"), "f(a)");
  assert_string_equal(loss_tree(state, "f(a, b = 2, c)"), "f(a, b=2, c)");
  assert_string_equal(loss_tree(state, "f(x = g(y = 1) + 2)"), "f(x=(+ g(y=1) 2))");
  assert_string_equal(loss_tree(state, "cross_entropy(W @ h + b, label)"), "cross_entropy((+ (@ W h) b), label)");
}

/* ---- precedence and associativity, as trees ---- */

static void precedence_mul_over_add(void **state) {
  assert_string_equal(loss_tree(state, "a + b * c"), "(+ a (* b c))");
  assert_string_equal(loss_tree(state, "a * b + c"), "(+ (* a b) c)");
  assert_string_equal(loss_tree(state, "a - b / c"), "(- a (/ b c))");
  assert_string_equal(loss_tree(state, "a / b - c * d"), "(- (/ a b) (* c d))");
}

static void left_associative(void **state) {
  assert_string_equal(loss_tree(state, "a - b - c"), "(- (- a b) c)");
  assert_string_equal(loss_tree(state, "a - b + c"), "(+ (- a b) c)");
  assert_string_equal(loss_tree(state, "a / b / c"), "(/ (/ a b) c)");
  assert_string_equal(loss_tree(state, "a / b * c"), "(* (/ a b) c)");
}

static void power_right_associative(void **state) {
  assert_string_equal(loss_tree(state, "2^3^2"), "(^ 2 (^ 3 2))");
  assert_string_equal(loss_tree(state, "a * b^c"), "(* a (^ b c))");
  assert_string_equal(loss_tree(state, "a^b * c"), "(* (^ a b) c)");
}

static void unary_minus(void **state) {
  assert_string_equal(loss_tree(state, "-x^2"), "(neg (^ x 2))");
  assert_string_equal(loss_tree(state, "-a * b"), "(* (neg a) b)");
  assert_string_equal(loss_tree(state, "-a + b"), "(+ (neg a) b)");
  assert_string_equal(loss_tree(state, "a - -b"), "(- a (neg b))");
  assert_string_equal(loss_tree(state, "--x"), "(neg (neg x))");
  assert_string_equal(loss_tree(state, "2^-1"), "(^ 2 (neg 1))");
  assert_string_equal(loss_tree(state, "2^-x^2"), "(^ 2 (neg (^ x 2)))");
  assert_string_equal(loss_tree(state, "-a @ b"), "(@ (neg a) b)");
}

static void matmul_with_multiplication(void **state) {
  /* '@' binds like '*' and '/': left to right among them. */
  assert_string_equal(loss_tree(state, "a @ b + c"), "(+ (@ a b) c)");
  assert_string_equal(loss_tree(state, "a + b @ c"), "(+ a (@ b c))");
  assert_string_equal(loss_tree(state, "a * b @ c"), "(@ (* a b) c)");
  assert_string_equal(loss_tree(state, "a @ b * c"), "(* (@ a b) c)");
  assert_string_equal(loss_tree(state, "a @ b @ c"), "(@ (@ a b) c)");
  assert_string_equal(loss_tree(state, "a @ b^2"), "(@ a (^ b 2))");
}

static void parentheses(void **state) {
  assert_string_equal(loss_tree(state, "(a + b) * c"), "(* (+ a b) c)");
  assert_string_equal(loss_tree(state, "a - (b - c)"), "(- a (- b c))");
  assert_string_equal(loss_tree(state, "(2^3)^2"), "(^ (^ 2 3) 2)");
  assert_string_equal(loss_tree(state, "(-x)^2"), "(^ (neg x) 2)");
  assert_string_equal(loss_tree(state, "a * (b @ c)"), "(* a (@ b c))");
  assert_string_equal(loss_tree(state, "((a))"), "a");
}

static void printed_with_needed_parentheses(void **state) {
  /* ast_print_expr puts back exactly the parentheses the tree needs. */
  static const char *const cases[][2] = {
      {"a + b * c", "a + b * c"},     {"(a + b) * c", "(a + b) * c"}, {"a - (b - c)", "a - (b - c)"},
      {"(a - b) - c", "a - b - c"},   {"-x^2", "-x^2"},               {"(-x)^2", "(-x)^2"},
      {"2^3^2", "2^3^2"},             {"(2^3)^2", "(2^3)^2"},         {"a * (b @ c)", "a * (b @ c)"},
      {"(a * b) @ c", "a * b @ c"},   {"-(a + b)", "-(a + b)"},       {"f(x, lr = 0.5)", "f(x, lr = 0.5)"},
      {"((1e-3))", "0.001"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[128];
    snprintf(src, sizeof src, "loss %s;", cases[i][0]);
    Parsed *p = parse_ok(state, src);
    assert_string_equal(printed(state, p->stmts->stmt.expr), cases[i][1]);
  }
}

/* ---- locations of expressions ---- */

static void expression_locations(void **state) {
  Parsed *p = parse_ok(state, "loss (a + b) * -c^2 + f(x, y);");
  Ast *e = p->stmts->stmt.expr; /* (+ (* (+ a b) (neg (^ c 2))) f(x, y)) */
  assert_loc_text(p, e->loc, "(a + b) * -c^2 + f(x, y)");
  Ast *mul = e->op.a;
  assert_loc_text(p, mul->loc, "(a + b) * -c^2");
  assert_loc_text(p, mul->op.a->loc, "(a + b)"); /* with its parentheses */
  assert_loc_text(p, mul->op.a->op.a->loc, "a");
  assert_loc_text(p, mul->op.b->loc, "-c^2");
  assert_loc_text(p, mul->op.b->op.a->loc, "c^2");
  assert_loc_text(p, mul->op.b->op.a->op.b->loc, "2");
  assert_loc_text(p, e->op.b->loc, "f(x, y)");
  assert_loc_text(p, e->op.b->call.name_loc, "f");
  assert_loc_text(p, e->op.b->call.args->next->loc, "y");
  assert_loc(p->stmts->loc, 0, 30);
}

/* ---- syntax errors: message and place ---- */

static void assert_syntax_error(void **state, const char *src, const char *message) {
  Parsed *p = parse(state, src);
  if (p->diag.errors != 1 || strcmp(p->messages, message) != 0)
    fail_msg("source:\n%s\nexpected one error:\n%sgot %d:\n%s", src, message, p->diag.errors, p->messages);
}

static void error_missing_semicolon_at_end_of_file(void **state) {
  assert_syntax_error(state, "model m;\nloss x\n",
                      "t.net:2:7: error: expected ';' or an operator, found end of file\nloss x\n      ^\n");
  assert_syntax_error(state, "model m\n", "t.net:1:8: error: expected ';', found end of file\nmodel m\n       ^\n");
}

static void error_missing_semicolon_on_previous_line(void **state) {
  /* Reported just past the last token of the line that lacks it, not at
     the next statement, even across blank lines and comments. */
  assert_syntax_error(state, "x = 1\ny = 2;\n",
                      "t.net:1:6: error: expected ';' or an operator, found name 'y'\nx = 1\n     ^\n");
  assert_syntax_error(state, "model m;\ninput x[2]  # two\n\n  # more\nloss 1;\n",
                      "t.net:2:11: error: expected ';', found 'loss'\ninput x[2]  # two\n          ^\n");
  assert_syntax_error(state, "param W = he\r\nloss 1;\r\n",
                      "t.net:1:13: error: expected ';' or an operator, found 'loss'\nparam W = he\n            ^\n");
}

static void error_missing_semicolon_on_same_line(void **state) {
  /* On the same line, the token found is the place. */
  assert_syntax_error(state, "x = 1 y = 2;\n",
                      "t.net:1:7: error: expected ';' or an operator, found name 'y'\nx = 1 y = 2;\n      ^\n");
  assert_syntax_error(state, "loss 1 2;\n",
                      "t.net:1:8: error: expected ';' or an operator, found number '2'\nloss 1 2;\n       ^\n");
}

static void error_expected_statement(void **state) {
  assert_syntax_error(state, "model m;\n) x;\n", "t.net:2:1: error: expected a statement, found ')'\n) x;\n^\n");
  assert_syntax_error(state, "1 + 2;\n",
                      "t.net:1:1: error: expected a statement, found number '1'\n1 + 2;\n^\n");
  assert_syntax_error(state, "x = 1;;\n", "t.net:1:7: error: expected a statement, found ';'\nx = 1;;\n      ^\n");
  assert_syntax_error(state, "class = 3;\n",
                      "t.net:1:1: error: expected a statement, found 'class'\nclass = 3;\n^~~~~\n");
}

static void error_expected_expression(void **state) {
  assert_syntax_error(state, "x = ;\n", "t.net:1:5: error: expected an expression, found ';'\nx = ;\n    ^\n");
  assert_syntax_error(state, "z = * 3;\n", "t.net:1:5: error: expected an expression, found '*'\nz = * 3;\n    ^\n");
  assert_syntax_error(state, "loss 2^;\n", "t.net:1:8: error: expected an expression, found ';'\nloss 2^;\n       ^\n");
  assert_syntax_error(state, "loss f(a, );\n",
                      "t.net:1:11: error: expected an expression, found ')'\nloss f(a, );\n          ^\n");
  assert_syntax_error(state, "param W[2, ] = he;\n",
                      "t.net:1:12: error: expected an expression, found ']'\nparam W[2, ] = he;\n           ^\n");
  assert_syntax_error(state, "x = model;\n",
                      "t.net:1:5: error: expected an expression, found 'model'\nx = model;\n    ^~~~~\n");
}

static void error_expected_tokens(void **state) {
  assert_syntax_error(state, "model;\n", "t.net:1:6: error: expected name, found ';'\nmodel;\n     ^\n");
  assert_syntax_error(state, "target t : class 3;\n",
                      "t.net:1:18: error: expected '(', found number '3'\ntarget t : class 3;\n                 ^\n");
  assert_syntax_error(state, "input x[2;\n",
                      "t.net:1:10: error: expected ']', ',' or an operator, found ';'\ninput x[2;\n         ^\n");
  assert_syntax_error(state, "loss (1 + 2;\n",
                      "t.net:1:12: error: expected ')' or an operator, found ';'\nloss (1 + 2;\n           ^\n");
  assert_syntax_error(state, "train { batch 3; }\n",
                      "t.net:1:15: error: expected '=', found number '3'\ntrain { batch 3; }\n              ^\n");
  assert_syntax_error(state, "train { batch = 3;\n",
                      "t.net:1:19: error: expected name or '}', found end of file\ntrain { batch = 3;\n                  ^\n");
  assert_syntax_error(state, "train { optimizer = adam(lr = 0.1; }\n",
                      "t.net:1:34: error: expected ')', ',' or an operator, found ';'\n"
                      "train { optimizer = adam(lr = 0.1; }\n"
                      "                                 ^\n");
}

static void error_found_name_is_shortened(void **state) {
  /* A long name is quoted to its first 40 bytes. */
  char src[128], want[256];
  const char *name = "abcdefghijabcdefghijabcdefghijabcdefghijXYZ"; /* 43 bytes */
  snprintf(src, sizeof src, "x = a %s;\n", name);
  Parsed *p = parse(state, src);
  assert_int_equal(p->diag.errors, 1);
  snprintf(want, sizeof want, "expected ';' or an operator, found name '%.40s'\n", name);
  assert_non_null(strstr(p->messages, want));
}

static void error_bad_number_is_still_a_number(void **state) {
  /* The lexer reports it; the parser goes on with a number. */
  Parsed *p = parse(state, "x = 1e + 2;\nloss x;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_non_null(strstr(p->messages, "t.net:1:5: error: invalid number '1e'\n"));
  assert_int_equal(ast_length(p->stmts), 2);
  assert_string_equal(tree(state, stmt(p, 0)->stmt.expr), "(+ 0 2)");
}

/* A token the lexer reported is not reported again by the parser. */
static void error_bad_number_reported_once(void **state) {
  Parsed *p = parse(state, "model 3a;\nloss 1;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_string_equal(p->messages, "t.net:1:7: error: invalid number '3a'\nmodel 3a;\n      ^~\n");
  assert_int_equal(ast_length(p->stmts), 1);
  p = parse(state, "input 1e999;\nloss 1;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_non_null(strstr(p->messages, "t.net:1:7: error: number '1e999' is out of range\n"));
  /* the next token is still reported */
  p = parse(state, "loss 1e999 1;\n");
  assert_int_equal(p->diag.errors, 2);
  assert_non_null(strstr(p->messages, "t.net:1:12: error: expected ';' or an operator, found number '1'\n"));
}

static void error_stray_character_is_skipped(void **state) {
  Parsed *p = parse(state, "x = 1 $ + 2;\nloss x;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_string_equal(p->messages, "t.net:1:7: error: stray '$' in program\nx = 1 $ + 2;\n      ^\n");
  assert_int_equal(ast_length(p->stmts), 2);
  assert_string_equal(tree(state, stmt(p, 0)->stmt.expr), "(+ 1 2)");
}

/* ---- recovery: report, skip to ';' or '}', go on ---- */

static void recovery_three_statements(void **state) {
  Parsed *p = parse(state, "model m;\n"
                           "x = ;\n"
                           "input a[2];\n"
                           "y = 1 +;\n"
                           ") z;\n"
                           "loss a * 2;\n"
                           "output w = a;\n");
  assert_int_equal(p->diag.errors, 3);
  assert_int_equal(count(p->messages, ": error: "), 3);
  assert_non_null(strstr(p->messages, "t.net:2:5: error: expected an expression, found ';'\n"));
  assert_non_null(strstr(p->messages, "t.net:4:8: error: expected an expression, found ';'\n"));
  assert_non_null(strstr(p->messages, "t.net:5:1: error: expected a statement, found ')'\n"));
  /* The statements in error are left out; all the others are there. */
  assert_int_equal(ast_length(p->stmts), 4);
  assert_int_equal(stmt(p, 0)->kind, AST_MODEL);
  assert_int_equal(stmt(p, 1)->kind, AST_INPUT);
  assert_string_equal(stmt(p, 1)->stmt.name, "a");
  assert_int_equal(stmt(p, 2)->kind, AST_LOSS);
  assert_string_equal(tree(state, stmt(p, 2)->stmt.expr), "(* a 2)");
  assert_int_equal(stmt(p, 3)->kind, AST_OUTPUT);
  assert_string_equal(stmt(p, 3)->stmt.name, "w");
}

static void recovery_inside_train_block(void **state) {
  Parsed *p = parse(state, "train { batch 3; epochs = ; seed = 1; }\nloss 1;\n");
  assert_int_equal(p->diag.errors, 2);
  assert_non_null(strstr(p->messages, "t.net:1:15: error: expected '=', found number '3'\n"));
  assert_non_null(strstr(p->messages, "t.net:1:27: error: expected an expression, found ';'\n"));
  assert_int_equal(ast_length(p->stmts), 2);
  Ast *t = stmt(p, 0);
  assert_int_equal(t->kind, AST_TRAIN);
  assert_int_equal(ast_length(t->stmt.body), 1); /* only 'seed' survives */
  assert_string_equal(t->stmt.body->stmt.name, "seed");
  assert_int_equal(stmt(p, 1)->kind, AST_LOSS);
}

static void recovery_after_bad_call(void **state) {
  Parsed *p = parse(state, "x = f(1, ;\ny = 2;\nz = ;\nloss y;\n");
  assert_int_equal(p->diag.errors, 2);
  assert_non_null(strstr(p->messages, "t.net:1:10: error: expected an expression, found ';'\n"));
  assert_non_null(strstr(p->messages, "t.net:3:5: error: expected an expression, found ';'\n"));
  assert_int_equal(ast_length(p->stmts), 2);
  assert_string_equal(stmt(p, 0)->stmt.name, "y");
  assert_int_equal(stmt(p, 1)->kind, AST_LOSS);
}

static void recovery_inside_parentheses(void **state) {
  /* An error between '(' and ')' loses the statement, up to its ';'. */
  Parsed *p = parse(state, "loss (1 + * 2) * 3;\nx = 1;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_non_null(strstr(p->messages, "t.net:1:11: error: expected an expression, found '*'\n"));
  assert_int_equal(ast_length(p->stmts), 1);
  assert_string_equal(stmt(p, 0)->stmt.name, "x");
}

/* An unclosed '(' does not make recovery skip across ';' to a later ')':
   the errors in the next statements are reported and later statements
   are kept. */
static void recovery_unclosed_parenthesis(void **state) {
  Parsed *p = parse(state, "loss (1 + 2;\nx = ;\ny = 1 +;\nz = 3;\n");
  assert_int_equal(p->diag.errors, 3);
  assert_non_null(strstr(p->messages, "t.net:1:12: error: expected ')' or an operator, found ';'\n"));
  assert_non_null(strstr(p->messages, "t.net:2:5: error: expected an expression, found ';'\n"));
  assert_non_null(strstr(p->messages, "t.net:3:8: error: expected an expression, found ';'\n"));
  assert_int_equal(ast_length(p->stmts), 1);
  assert_string_equal(stmt(p, 0)->stmt.name, "z");
  p = parse(state, "loss (1 + ;\nh = relu(x);\nk = 2;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_int_equal(ast_length(p->stmts), 2);
  assert_int_equal(stmt(p, 0)->kind, AST_LET);
  assert_string_equal(stmt(p, 0)->stmt.name, "h");
  /* nor across the '}' of a train block */
  p = parse(state, "train { batch = (1 + 2 }\nloss 1;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_int_equal(ast_length(p->stmts), 2);
}

static void recovery_stops_at_error_limit(void **state) {
  char src[1024] = "";
  for (int i = 0; i < 30; i++)
    strcat(src, "x = ;\n");
  strcat(src, "loss 1;\n");
  Parsed *p = parse(state, src);
  /* The 21st error stops the parse: 20 printed, then the note. */
  assert_int_equal(p->diag.errors, 21);
  assert_int_equal(count(p->messages, ": error: "), 20);
  assert_non_null(strstr(p->messages, "t.net:20:5: error: expected an expression, found ';'\n"));
  assert_non_null(strstr(p->messages, "t.net: note: too many errors, stopping after 20\n"));
  assert_null(p->stmts);
}

static void empty_program(void **state) {
  Parsed *p = parse_ok(state, "");
  assert_null(p->stmts);
  p = parse_ok(state, "# nothing\n\n");
  assert_null(p->stmts);
}

/* At the end of a file with no final newline, a missing token is placed
   just after the last token, not after the one before it. */
static void error_missing_token_at_end_of_file_without_newline(void **state) {
  assert_syntax_error(state, "model m", "t.net:1:8: error: expected ';', found end of file\nmodel m\n       ^\n");
  assert_syntax_error(state, "model m;\nloss (a + b",
                      "t.net:2:12: error: expected ')' or an operator, found end of file\nloss (a + b\n           ^\n");
}

/* A ';' missing before the '}' of a train block is one error: recovery
   stops at the '}', and the statements after the block are parsed. */
static void recovery_missing_semicolon_before_brace(void **state) {
  Parsed *p = parse(state, "train { batch = 3 }\ninput x[2];\nparam W = 1;\nloss 1;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_string_equal(p->messages, "t.net:1:19: error: expected ';' or an operator, found '}'\n"
                                   "train { batch = 3 }\n"
                                   "                  ^\n");
  assert_int_equal(ast_length(p->stmts), 4);
  assert_int_equal(stmt(p, 0)->kind, AST_TRAIN);
  assert_int_equal(stmt(p, 1)->kind, AST_INPUT);
  /* the settings before the bad one are kept */
  p = parse(state, "train { epochs = 2; batch 3 }\nloss 1;\n");
  assert_int_equal(p->diag.errors, 1);
  assert_non_null(strstr(p->messages, "t.net:1:27: error: expected '=', found number '3'\n"));
  assert_int_equal(ast_length(p->stmts), 2);
  assert_int_equal(ast_length(stmt(p, 0)->stmt.body), 1);
  assert_string_equal(stmt(p, 0)->stmt.body->stmt.name, "epochs");
}

/* Numbers print as the shortest text that reads back exactly, integers
   in full: 10, not 1e+01. */
static void printed_numbers(void **state) {
  Parsed *p = parse_ok(state, "loss x * 10 + 100 - 20;");
  assert_string_equal(printed(state, p->stmts->stmt.expr), "x * 10 + 100 - 20");
  static const struct {
    double v;
    const char *text;
  } cases[] = {
      {0, "0"}, {10, "10"}, {100, "100"}, {-250, "-250"}, {0.1, "0.1"}, {1e-3, "0.001"}, {2.5, "2.5"},
      {1e-8, "1e-08"}, {1.0 / 3, "0.3333333333333333"}, {1048576, "1048576"}, {123456789012345, "123456789012345"},
      {9007199254740992.0, "9007199254740992"}, {1e15, "1e+15"}, {1e20, "1e+20"}, {1.5e300, "1.5e+300"},
      {1.7976931348623157e308, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[NUM_STR_MAX];
    num_str(cases[i].v, buf);
    if (strcmp(buf, cases[i].text) != 0)
      fail_msg("num_str(%.17g) is \"%s\", expected \"%s\"", cases[i].v, buf, cases[i].text);
    if (strtod(buf, NULL) != cases[i].v)
      fail_msg("\"%s\" does not read back as %.17g", buf, cases[i].v);
  }
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(model_statement),
      TEST(input_and_target_dims),
      TEST(class_target),
      TEST(param_initializers),
      TEST(const_let_output_loss),
      TEST(train_block),
      TEST(train_each_optimizer),
      TEST(call_arguments),
      TEST(precedence_mul_over_add),
      TEST(left_associative),
      TEST(power_right_associative),
      TEST(unary_minus),
      TEST(matmul_with_multiplication),
      TEST(parentheses),
      TEST(printed_with_needed_parentheses),
      TEST(printed_numbers),
      TEST(expression_locations),
      TEST(error_missing_semicolon_at_end_of_file),
      TEST(error_missing_semicolon_on_previous_line),
      TEST(error_missing_semicolon_on_same_line),
      TEST(error_expected_statement),
      TEST(error_expected_expression),
      TEST(error_expected_tokens),
      TEST(error_found_name_is_shortened),
      TEST(error_bad_number_is_still_a_number),
      TEST(error_bad_number_reported_once),
      TEST(error_stray_character_is_skipped),
      TEST(recovery_three_statements),
      TEST(recovery_inside_train_block),
      TEST(recovery_after_bad_call),
      TEST(recovery_inside_parentheses),
      TEST(recovery_unclosed_parenthesis),
      TEST(recovery_stops_at_error_limit),
      TEST(empty_program),
      TEST(error_missing_token_at_end_of_file_without_newline),
      TEST(recovery_missing_semicolon_before_brace),
  };
  return cmocka_run_group_tests_name("parser", tests, NULL, NULL);
}
