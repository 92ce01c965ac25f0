/* test_gradcheck.c: netc gradcheck. Every model in tests/gradcheck/ is one
   test and must pass; together they use every op a model can write. The
   check can fail (a tolerance no gradient meets, a compiler that fails, a
   bad model), its options are checked, and the worked examples (the
   neuron, a sigmoid neuron, the other examples) pass. */
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#define NETC(...) run_netc((const char *const[]){__VA_ARGS__, NULL})
#define TRY_HELP "Try 'netc --help'.\n"

static const char models_dir[] = "tests/gradcheck";

/* ---- helpers ---- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t size = 0;
  FILE *mem = open_memstream(&buf, &size);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    fwrite(chunk, 1, n, mem);
  fclose(mem);
  fclose(f);
  return buf;
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static bool ends_with(const char *s, size_t len, const char *suffix) {
  size_t n = strlen(suffix);
  return len >= n && strncmp(s + len - n, suffix, n) == 0;
}

/* The params of the model in PATH, from the front end. */
static int count_params(const char *path) {
  char *text = slurp(path);
  if (!text)
    fail_msg("cannot read '%s'", path);
  Compiled c;
  compile_text(&c, text);
  if (!c.program)
    fail_msg("%s does not check:\n%s", path, c.messages);
  int n = 0;
  for (int i = 0; i < c.program->nsyms; i++)
    n += c.program->syms[i]->kind == SYM_PARAM;
  compiled_free(&c);
  free(text);
  return n;
}

/* Asserts that R is a passing gradcheck of PATH, a model with NPARAMS
   param tensors: a header, one line per tensor ending in 'ok', the float
   line ending in 'ok', and 'gradcheck passed'. */
static void assert_passed(const Run *r, const char *path, int nparams) {
  if (r->status != 0 || r->err[0])
    fail_msg("netc gradcheck %s: exit %d\n--- stdout\n%s--- stderr\n%s---", path, r->status, r->out, r->err);
  const char *base = strrchr(path, '/');
  char head[512];
  snprintf(head, sizeof head, "gradcheck %s: ", base ? base + 1 : path);
  if (!starts_with(r->out, head))
    fail_msg("%s: the output does not start with '%s':\n%s", path, head, r->out);
  int tensors = 0, doubles = 0, floats = 0;
  bool passed = false;
  for (const char *line = r->out; *line;) {
    size_t len = strcspn(line, "\n");
    if (starts_with(line, "  ")) {
      tensors++;
      if (!ends_with(line, len, "  ok"))
        fail_msg("%s: a tensor is out of tolerance: '%.*s'\n%s", path, (int)len, line, r->out);
    } else if (starts_with(line, "double build against central differences")) {
      doubles++;
    } else if (starts_with(line, "float build against the double build: ")) {
      floats++;
      if (!ends_with(line, len, "  ok"))
        fail_msg("%s: the float build is out of tolerance: '%.*s'", path, (int)len, line);
    } else if (strncmp(line, "gradcheck passed", len) == 0 && len == strlen("gradcheck passed")) {
      passed = line[len] == '\n' && line[len + 1] == '\0';
    }
    line += len + (line[len] == '\n');
  }
  if (doubles != 1 || floats != 1 || !passed)
    fail_msg("%s: expected the double line, the float line and 'gradcheck passed' last:\n%s", path, r->out);
  if (tensors != nparams)
    fail_msg("%s: %d tensor lines for %d params:\n%s", path, tensors, nparams, r->out);
}

static void gradcheck_passes(const char *path) {
  Run r = NETC("gradcheck", path);
  assert_passed(&r, path, count_params(path));
  run_free(&r);
}

/* A model written to a temporary file, removed by the teardown. */
typedef struct {
  char path[64];
} TempModel;

static int setup(void **state) {
  *state = calloc(1, sizeof(TempModel));
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  TempModel *t = *state;
  if (t->path[0])
    remove(t->path);
  free(t);
  return 0;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static const char *temp_model(void **state, const char *text) {
  TempModel *t = *state;
  if (t->path[0])
    remove(t->path);
  strcpy(t->path, "/tmp/netc_test_gradcheck_XXXXXX");
  int fd = mkstemp(t->path);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  return t->path;
}

/* ---- one test per model in tests/gradcheck/ ---- */

static void model_passes(void **state) { gradcheck_passes(*state); }

/* The models, sorted: tests/gradcheck/NAME.net. */
static char **models;
static size_t nmodels;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_models(void) {
  DIR *d = opendir(models_dir);
  if (!d)
    return;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".net") != 0)
      continue;
    if (nmodels == cap) {
      cap = cap ? 2 * cap : 64;
      models = realloc(models, cap * sizeof *models);
      if (!models)
        abort();
    }
    models[nmodels] = malloc(sizeof models_dir + len + 1);
    if (!models[nmodels])
      abort();
    sprintf(models[nmodels++], "%s/%s", models_dir, e->d_name);
  }
  closedir(d);
  qsort(models, nmodels, sizeof *models, by_name);
}

/* ---- every op a model can write is checked ---- */

static const char *const op_kinds[OP_COUNT] = {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) #kind,
#include "ops.def"
#undef OP
};

/* Marks the ops of E in USED. A constant subexpression is folded and has
   no gradient, so it does not count. */
static void collect_ops(const Ast *e, bool *used) {
  if (!e || e->is_const)
    return;
  switch (e->kind) {
  case AST_UNARY:
  case AST_BINARY:
    used[e->op.op] = true;
    collect_ops(e->op.a, used);
    collect_ops(e->op.b, used);
    break;
  case AST_CALL:
    if (e->call.op >= 0)
      used[e->call.op] = true;
    for (const Ast *arg = e->call.args; arg; arg = arg->next)
      collect_ops(arg, used);
    break;
  default:
    break;
  }
}

static void every_op_is_checked(void **state) {
  (void)state;
  assert_true(nmodels > 0);
  bool used[OP_COUNT] = {false};
  for (size_t i = 0; i < nmodels; i++) {
    char *text = slurp(models[i]);
    if (!text)
      fail_msg("cannot read '%s'", models[i]);
    Compiled c;
    compile_text(&c, text);
    if (!c.program)
      fail_msg("%s does not check:\n%s", models[i], c.messages);
    for (const Ast *s = c.program->stmts; s; s = s->next)
      if (s->kind == AST_LET || s->kind == AST_OUTPUT || s->kind == AST_LOSS)
        collect_ops(s->stmt.expr, used);
    compiled_free(&c);
    free(text);
  }
  char missing[1024] = "";
  for (int op = 0; op < OP_COUNT; op++)
    if (!(op_info[op].flags & OPF_INTERNAL) && !used[op])
      snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s ('%s')", op_kinds[op],
               op_info[op].name);
  if (missing[0])
    fail_msg("no model in %s/ uses:%s; add one per op", models_dir, missing);
}

/* ---- it can fail ---- */

static void tolerance_too_small_fails(void **state) {
  (void)state;
  Run r = NETC("gradcheck", "tests/gradcheck/tanh.net", "--tol", "1e-300");
  assert_int_equal(r.status, 1);
  assert_string_equal(r.err, "");
  assert_non_null(strstr(r.out, "tolerance 1e-300"));
  assert_non_null(strstr(r.out, "  FAILED\n"));
  assert_non_null(strstr(r.out, "\ngradcheck FAILED\n"));
  assert_null(strstr(r.out, "gradcheck passed"));
  run_free(&r);
}

/* An environment variable set for a while, then restored. */
typedef struct {
  const char *name;
  char *saved; /* NULL when it was unset */
} SavedEnv;

static SavedEnv set_env(const char *name, const char *value) {
  const char *old = getenv(name);
  SavedEnv e = {name, old ? strdup(old) : NULL};
  assert_int_equal(setenv(name, value, 1), 0);
  return e;
}

static void restore_env(SavedEnv *e) {
  if (e->saved)
    setenv(e->name, e->saved, 1);
  else
    unsetenv(e->name);
  free(e->saved);
}

/* Runs gradcheck of PATH with CC set to COMPILER. */
static Run with_cc(const char *compiler, const char *path) {
  SavedEnv e = set_env("CC", compiler);
  Run r = NETC("gradcheck", path);
  restore_env(&e);
  return r;
}

static void compiler_failure(void **state) {
  (void)state;
  Run r = with_cc("false", "examples/neuron.net");
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_true(starts_with(r.err, "netc: error: the C compiler failed on the generated code (CC=false):\n"));
  run_free(&r);
  /* A compiler that does not exist. */
  r = with_cc("netc-no-such-compiler", "examples/neuron.net");
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "the C compiler failed"));
  run_free(&r);
}

static bool is_empty_folder(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return false;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n == 0;
}

/* Whether it passes or fails, gradcheck removes what it wrote in $TMPDIR. */
static void leaves_no_files(void **state) {
  (void)state;
  char tmp[] = "/tmp/netc_test_gradcheck_XXXXXX";
  assert_non_null(mkdtemp(tmp));
  SavedEnv e = set_env("TMPDIR", tmp);
  Run r = NETC("gradcheck", "examples/neuron.net");
  assert_int_equal(r.status, 0);
  assert_true(is_empty_folder(tmp));
  run_free(&r);
  r = NETC("gradcheck", "tests/gradcheck/tanh.net", "--tol", "1e-300");
  assert_int_equal(r.status, 1);
  assert_true(is_empty_folder(tmp));
  run_free(&r);
  r = with_cc("false", "examples/neuron.net");
  assert_int_equal(r.status, 1);
  assert_true(is_empty_folder(tmp));
  run_free(&r);
  restore_env(&e);
  assert_int_equal(rmdir(tmp), 0);
}

static void no_temporary_folder(void **state) {
  (void)state;
  SavedEnv e = set_env("TMPDIR", "/nonexistent/netc");
  Run r = NETC("gradcheck", "examples/neuron.net");
  restore_env(&e);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_string_equal(r.err, "netc: error: cannot make a temporary folder in '/nonexistent/netc'\n");
  run_free(&r);
}

static void bad_model(void **state) {
  const char *path = temp_model(state, "input x[3];\nparam W[2, 3];\nloss sum(W @ y);\n");
  Run r = NETC("gradcheck", path);
  char want[256];
  snprintf(want, sizeof want, "%s:3:14: error: unknown name 'y'\nloss sum(W @ y);\n             ^\n", path);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_string_equal(r.err, want);
  run_free(&r);
  path = temp_model(state, "input x[3]\nloss sum(x);\n");
  r = NETC("gradcheck", path);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_non_null(strstr(r.err, ":1:11: error: expected ';', found 'loss'"));
  run_free(&r);
}

static void assert_usage(const char *const *args, const char *message) {
  Run r = run_netc(args);
  char want[256];
  snprintf(want, sizeof want, "netc: error: %s\n" TRY_HELP, message);
  if (r.status != 2 || r.out[0] || strcmp(r.err, want) != 0)
    fail_msg("exit %d, expected 2\n--- stderr\n%s--- expected\n%s---", r.status, r.err, want);
  run_free(&r);
}

#define USAGE(message, ...) assert_usage((const char *const[]){__VA_ARGS__, NULL}, message)

static void usage_errors(void **state) {
  (void)state;
  const char *m = "examples/neuron.net";
  USAGE("'--samples' must be a positive integer, got '0'", "gradcheck", m, "--samples", "0");
  USAGE("'--samples' must be a positive integer, got '2.5'", "gradcheck", m, "--samples", "2.5");
  USAGE("'--samples' must be a positive integer, got '-3'", "gradcheck", m, "--samples", "-3");
  USAGE("'--tol' must be positive, got '-1'", "gradcheck", m, "--tol", "-1");
  USAGE("'--tol' must be positive, got '0'", "gradcheck", m, "--tol", "0");
  USAGE("'--tol' must be positive, got 'nan'", "gradcheck", m, "--tol", "nan");
  USAGE("'--seed' needs a number, got 'x'", "gradcheck", m, "--seed", "x");
  USAGE("'--seed' must be a non-negative integer, got '-1'", "gradcheck", m, "--seed", "-1");
  USAGE("'--tol' needs a number, got '1e-3x'", "gradcheck", m, "--tol", "1e-3x");
  USAGE("'--tol' needs a value", "gradcheck", m, "--tol");
  USAGE("'gradcheck' does not take the option '-o'", "gradcheck", m, "-o", "/tmp/x");
  USAGE("'gradcheck' does not take the option '--double'", "gradcheck", m, "--double");
  USAGE("'compile' does not take the option '--samples'", "compile", m, "-o", "/tmp/x", "--samples", "3");
  USAGE("'gradcheck' needs a model file", "gradcheck", "--tol", "1e-3");
}

/* ---- options that change the run ---- */

static void seed_and_samples(void **state) {
  (void)state;
  const char *m = "tests/gradcheck/matmul.net";
  Run a = NETC("gradcheck", m, "--seed", "7");
  Run b = NETC("gradcheck", m, "--seed", "7");
  Run c = NETC("gradcheck", m, "--seed", "8");
  assert_passed(&a, m, count_params(m));
  assert_passed(&c, m, count_params(m));
  assert_string_equal(a.out, b.out); /* the same point */
  assert_string_not_equal(a.out, c.out);
  run_free(&a);
  run_free(&b);
  run_free(&c);
  /* Fewer samples of a large tensor. */
  Run r = NETC("gradcheck", "examples/digits.net", "--samples", "3");
  assert_passed(&r, "examples/digits.net", 4);
  assert_non_null(strstr(r.out, "of   2048 scalars"));
  assert_null(strstr(r.out, "  20 of   2048"));
  run_free(&r);
  /* A tolerance that is loose enough for anything. */
  r = NETC("gradcheck", "tests/gradcheck/tanh.net", "--tol", "1");
  assert_passed(&r, "tests/gradcheck/tanh.net", 2);
  assert_non_null(strstr(r.out, "tolerance 1):\n"));
  run_free(&r);
}

/* ---- the worked examples ---- */

static void neuron_passes(void **state) {
  (void)state;
  gradcheck_passes("examples/neuron.net");
}

static void sigmoid_neuron_passes(void **state) {
  const char *path = temp_model(state, "input x;\ntarget y;\nparam W;\nparam b;\nz = W*x + b;\n"
                                       "a = sigmoid(z);\nloss (a - y)^2;\n");
  gradcheck_passes(path);
}

static void examples_pass(void **state) {
  (void)state;
  gradcheck_passes("examples/xor.net");
  gradcheck_passes("examples/iris.net");
  gradcheck_passes("examples/digits.net");
}

/* ---- netc grad's order, and paths ---- */

/* 'netc grad' names an adjoint only after the line that defines it, even
   where a param's adjoint is the one an unnamed pre-activation shares. */
static void grad_names_adjoints_after_their_line(void **state) {
  (void)state;
  static const char *const files[] = {"examples/neuron.net", "examples/xor.net", "examples/iris.net",
                                      "examples/digits.net"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    Run r = NETC("grad", files[k]);
    assert_int_equal(r.status, 0);
    char defined[64][64];
    int ndefined = 0;
    for (const char *line = r.out; *line;) {
      size_t len = strcspn(line, "\n");
      const char *eq = strstr(line, " = ");
      assert_true(starts_with(line, "dL/d") && eq && eq < line + len);
      for (const char *p = eq; (p = strstr(p, "dL/d")) && p < line + len; p += 4) {
        size_t n = strspn(p + 4, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        bool seen = false;
        for (int i = 0; i < ndefined; i++)
          seen |= strlen(defined[i]) == n && strncmp(defined[i], p + 4, n) == 0;
        if (!seen)
          fail_msg("%s: '%.*s' names dL/d%.*s before its line:\n%s", files[k], (int)len, line, (int)n, p + 4, r.out);
      }
      assert_true(ndefined < 64);
      snprintf(defined[ndefined++], sizeof defined[0], "%.*s", (int)(eq - line - 4), line + 4);
      line += len + (line[len] == '\n');
    }
    run_free(&r);
  }
}

/* gradcheck runs the compiler without a shell: any $TMPDIR works. */
static void tmpdir_with_a_quote(void **state) {
  (void)state;
  char tmp[] = "/tmp/netc_test_gradcheck_XXXXXX";
  assert_non_null(mkdtemp(tmp));
  char odd[64];
  snprintf(odd, sizeof odd, "%s/a'b", tmp);
  assert_int_equal(mkdir(odd, 0777), 0);
  SavedEnv e = set_env("TMPDIR", odd);
  Run r = NETC("gradcheck", "examples/neuron.net");
  restore_env(&e);
  rmdir(odd);
  rmdir(tmp);
  if (r.status != 0)
    fail_msg("exit %d\n--- stdout\n%s--- stderr\n%s---", r.status, r.out, r.err);
  run_free(&r);
}

int main(void) {
  list_models();
  if (nmodels == 0) {
    fprintf(stderr, "test_gradcheck: no models in %s; run from the top of the tree\n", models_dir);
    return 1;
  }
  struct CMUnitTest *tests = calloc(nmodels, sizeof *tests);
  if (!tests)
    return 1;
  for (size_t i = 0; i < nmodels; i++)
    tests[i] = (struct CMUnitTest){models[i] + sizeof models_dir, model_passes, NULL, NULL, models[i]};
  int failed = _cmocka_run_group_tests("gradcheck: tests/gradcheck/", tests, nmodels, NULL, NULL);
  free(tests);

  const struct CMUnitTest others[] = {
      TEST(every_op_is_checked),
      TEST(tolerance_too_small_fails),
      TEST(compiler_failure),
      TEST(leaves_no_files),
      TEST(no_temporary_folder),
      TEST(bad_model),
      TEST(usage_errors),
      TEST(seed_and_samples),
      TEST(neuron_passes),
      TEST(sigmoid_neuron_passes),
      TEST(examples_pass),
  };
  failed += cmocka_run_group_tests_name("gradcheck", others, NULL, NULL);
  const struct CMUnitTest order[] = {
      TEST(grad_names_adjoints_after_their_line),
      TEST(tmpdir_with_a_quote),
  };
  failed += cmocka_run_group_tests_name("gradcheck: grad order and paths", order, NULL, NULL);
  for (size_t i = 0; i < nmodels; i++)
    free(models[i]);
  free(models);
  return failed;
}
