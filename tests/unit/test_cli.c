/* test_cli.c: the netc command line, run in-process: help and version,
   usage errors (exit 2), files that cannot be read and models with errors
   (exit 1), and good models (exit 0). */
#include "harness.h"

#include <unistd.h>

/* Runs netc with the arguments after it. */
#define NETC(...) run_netc((const char *const[]){__VA_ARGS__, NULL})

#define TRY_HELP "Try 'netc --help'.\n"

/* A model in a temporary file, removed by the teardown. */
typedef struct {
  char path[64];
} TempModel;

static int setup(void **state) {
  TempModel *t = calloc(1, sizeof *t);
  if (!t)
    return -1;
  *state = t;
  return 0;
}

static int teardown(void **state) {
  TempModel *t = *state;
  if (t->path[0])
    remove(t->path);
  free(t);
  return 0;
}

static const char *temp_model(void **state, const char *text) {
  TempModel *t = *state;
  strcpy(t->path, "/tmp/netc_test_cli_XXXXXX");
  int fd = mkstemp(t->path);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  return t->path;
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void assert_run(const Run *r, int status, const char *out, const char *err) {
  if (r->status != status || strcmp(r->out, out) != 0 || strcmp(r->err, err) != 0)
    fail_msg("exit %d, expected %d\n--- stdout\n%s--- expected\n%s--- stderr\n%s--- expected\n%s---", r->status,
             status, r->out, out, r->err, err);
}

/* ---- help and version: exit 0, on stdout ---- */

static void help(void **state) {
  (void)state;
  static const char *const flags[] = {"--help", "-h", "help"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    Run r = NETC(flags[i]);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_true(starts_with(r.out, "usage: netc COMMAND FILE.net [options]\n"));
    assert_non_null(strstr(r.out, "\n  check FILE.net "));
    assert_non_null(strstr(r.out, "\n  ast FILE.net "));
    assert_non_null(strstr(r.out, "--version"));
    assert_non_null(strstr(r.out, "Exit status: 0 success, 1 errors in the model, 2 bad usage"));
    run_free(&r);
  }
}

static void version(void **state) {
  (void)state;
  Run r = NETC("--version");
  assert_run(&r, 0, "netc " NETC_VERSION "\n", "");
  assert_string_equal(r.out, "netc 0.1.0\n");
  run_free(&r);
}

/* ---- bad usage: exit 2, a message and a hint on stderr ---- */

static void no_command(void **state) {
  (void)state;
  Run r = run_netc((const char *const[]){NULL});
  assert_run(&r, 2, "", "netc: error: no command given\n" TRY_HELP);
  run_free(&r);
}

static void unknown_command(void **state) {
  (void)state;
  Run r = NETC("frob", "examples/xor.net");
  assert_run(&r, 2, "", "netc: error: unknown command 'frob'\n" TRY_HELP);
  run_free(&r);
  r = NETC("examples/xor.net");
  assert_run(&r, 2, "", "netc: error: unknown command 'examples/xor.net'\n" TRY_HELP);
  run_free(&r);
}

static void unknown_option(void **state) {
  (void)state;
  Run r = NETC("check", "--frob", "examples/xor.net");
  assert_run(&r, 2, "", "netc: error: unknown option '--frob'\n" TRY_HELP);
  run_free(&r);
  r = NETC("ast", "examples/xor.net", "-O");
  assert_run(&r, 2, "", "netc: error: unknown option '-O'\n" TRY_HELP);
  run_free(&r);
  r = NETC("--frob");
  assert_run(&r, 2, "", "netc: error: unknown command '--frob'\n" TRY_HELP);
  run_free(&r);
}

static void missing_file_argument(void **state) {
  (void)state;
  Run r = NETC("check");
  assert_run(&r, 2, "", "netc: error: 'check' needs a model file\n" TRY_HELP);
  run_free(&r);
  r = NETC("ast");
  assert_run(&r, 2, "", "netc: error: 'ast' needs a model file\n" TRY_HELP);
  run_free(&r);
}

static void two_files(void **state) {
  (void)state;
  Run r = NETC("check", "examples/xor.net", "examples/iris.net");
  assert_run(&r, 2, "", "netc: error: more than one model file: 'examples/iris.net'\n" TRY_HELP);
  run_free(&r);
}

/* ---- files that cannot be read: exit 1, the file named ---- */

static void file_does_not_exist(void **state) {
  (void)state;
  Run r = NETC("check", "no/such/model.net");
  assert_run(&r, 1, "", "netc: error: cannot open 'no/such/model.net'\n");
  run_free(&r);
  r = NETC("ast", "missing.net");
  assert_run(&r, 1, "", "netc: error: cannot open 'missing.net'\n");
  run_free(&r);
}

static void dash_is_a_file_name(void **state) {
  (void)state;
  Run r = NETC("check", "-");
  assert_run(&r, 1, "", "netc: error: cannot open '-'\n");
  run_free(&r);
}

static void file_is_a_directory(void **state) {
  (void)state;
  Run r = NETC("check", "examples");
  assert_run(&r, 1, "", "netc: error: cannot read 'examples'\n");
  run_free(&r);
}

/* ---- check: silent on a good model, diagnostics and exit 1 on a bad one ---- */

static void check_good_examples(void **state) {
  (void)state;
  static const char *const files[] = {"examples/digits.net", "examples/iris.net", "examples/neuron.net",
                                      "examples/xor.net"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    Run r = NETC("check", files[i]);
    assert_run(&r, 0, "", "");
    run_free(&r);
  }
}

static void check_syntax_error(void **state) {
  const char *path = temp_model(state, "model m;\nloss 1 +;\n");
  char want[256];
  snprintf(want, sizeof want, "%s:2:9: error: expected an expression, found ';'\nloss 1 +;\n        ^\n", path);
  Run r = NETC("check", path);
  assert_run(&r, 1, "", want);
  run_free(&r);
}

static void check_semantic_error(void **state) {
  const char *path = temp_model(state, "model m;\ninput x[3];\nloss sum(y);\n");
  char want[256];
  snprintf(want, sizeof want, "%s:3:10: error: unknown name 'y'", path);
  Run r = NETC("check", path);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_true(starts_with(r.err, want));
  run_free(&r);
}

static void check_warnings_only(void **state) {
  /* Warnings are printed, but the model is good: exit 0. */
  const char *path = temp_model(state, "model m;\ninput x;\ninput unused[3];\nloss x * x;\n");
  char want[256];
  snprintf(want, sizeof want, "%s:3:7: warning: input 'unused' is never used\ninput unused[3];\n      ^~~~~~\n",
           path);
  Run r = NETC("check", path);
  assert_run(&r, 0, "", want);
  run_free(&r);
}

static void check_empty_file(void **state) {
  const char *path = temp_model(state, "");
  char want[128];
  snprintf(want, sizeof want, "%s: error: no 'loss' statement\n", path);
  Run r = NETC("check", path);
  assert_run(&r, 1, "", want);
  run_free(&r);
}

/* ---- ast: the checked model on stdout ---- */

static void ast_good_model(void **state) {
  (void)state;
  Run r = NETC("ast", "examples/neuron.net");
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  assert_true(starts_with(r.out, "model neuron\ninput x scalar\ntarget y scalar\n"));
  assert_non_null(strstr(r.out, "\ntrain optimizer = sgd(lr = 0.1, momentum = 0); batch = 1; epochs = 1;"));
  run_free(&r);
}

static void ast_bad_model_prints_nothing(void **state) {
  const char *path = temp_model(state, "model m\nloss 1;\n");
  char want[256];
  snprintf(want, sizeof want, "%s:1:8: error: expected ';', found 'loss'\nmodel m\n       ^\n", path);
  Run r = NETC("ast", path);
  assert_run(&r, 1, "", want);
  run_free(&r);
}

/* -h, --help and --version are understood anywhere on the line. */
static void help_after_command(void **state) {
  (void)state;
  Run r = NETC("check", "examples/xor.net", "--help");
  assert_int_equal(r.status, 0);
  assert_true(starts_with(r.out, "usage: netc"));
  run_free(&r);
  r = NETC("ast", "examples/xor.net", "--version");
  assert_run(&r, 0, "netc " NETC_VERSION "\n", "");
  run_free(&r);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(help),
      TEST(version),
      TEST(no_command),
      TEST(unknown_command),
      TEST(unknown_option),
      TEST(missing_file_argument),
      TEST(two_files),
      TEST(file_does_not_exist),
      TEST(dash_is_a_file_name),
      TEST(file_is_a_directory),
      TEST(check_good_examples),
      TEST(check_syntax_error),
      TEST(check_semantic_error),
      TEST(check_warnings_only),
      TEST(check_empty_file),
      TEST(ast_good_model),
      TEST(ast_bad_model_prints_nothing),
      TEST(help_after_command),
  };
  return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
