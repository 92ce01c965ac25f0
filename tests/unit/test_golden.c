/* test_golden.c: golden files. tests/golden/CMD/NAME.net is run as
   'netc CMD NAME.net' from its folder; what it prints must equal NAME.out
   (stdout) and NAME.err (stderr), each absent when empty, and it must exit
   1 exactly when NAME.err holds an error. NETC_UPDATE_GOLDEN=1 rewrites
   the expected files instead (make update-golden); review the diff. */
#include "harness.h"

#include <dirent.h>
#include <unistd.h>

typedef struct {
  char dir[512]; /* tests/golden/CMD */
  char cmd[256];
  char name[256]; /* NAME.net */
} Case;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t size = 0;
  FILE *mem = open_memstream(&buf, &size);
  int ch;
  while ((ch = fgetc(f)) != EOF)
    fputc(ch, mem);
  fclose(mem);
  fclose(f);
  return buf;
}

/* Compares PATH with ACTUAL (or rewrites it); adds a report to PROBLEMS. */
static void expect_file(const char *path, const char *actual, bool update, FILE *problems) {
  if (update) {
    if (!*actual) {
      remove(path);
      return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fputs(actual, f) < 0 || fclose(f) != 0)
      fprintf(problems, "cannot write %s\n", path);
    return;
  }
  char *expected = slurp(path);
  const char *want = expected ? expected : "";
  if (strcmp(want, actual) != 0)
    fprintf(problems, "%s differs.\n--- expected\n%s--- actual\n%s---\n", path, want, actual);
  free(expected);
}

static void golden(void **state) {
  const Case *c = *state;
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(c->dir), 0);
  const char *args[] = {c->cmd, c->name, NULL};
  Run r = run_netc(args);
  bool update = getenv("NETC_UPDATE_GOLDEN") != NULL;
  char stem[300], path[320];
  char *problems;
  size_t size;
  FILE *report = open_memstream(&problems, &size);
  snprintf(stem, sizeof stem, "%.*s", (int)(strlen(c->name) - 4), c->name);
  snprintf(path, sizeof path, "%s.out", stem);
  expect_file(path, r.out, update, report);
  snprintf(path, sizeof path, "%s.err", stem);
  expect_file(path, r.err, update, report);
  int want = strstr(r.err, ": error: ") ? 1 : 0;
  if (r.status != want)
    fprintf(report, "%s/%s: exit status %d, expected %d\n", c->dir, c->name, r.status, want);
  fclose(report);
  run_free(&r);
  /* Back to the top before failing, or every later case would fail too. */
  assert_int_equal(chdir(cwd), 0);
  if (*problems)
    fail_msg("%s", problems);
  free(problems);
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const Case *)a)->name, ((const Case *)b)->name);
}

int main(void) {
  const char *root = "tests/golden";
  DIR *top = opendir(root);
  if (!top) {
    fprintf(stderr, "test_golden: cannot open %s; run from the top of the tree\n", root);
    return 1;
  }
  Case *cases = NULL;
  size_t n = 0, cap = 0;
  struct dirent *cmd;
  while ((cmd = readdir(top))) {
    if (cmd->d_name[0] == '.')
      continue;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%s", root, cmd->d_name);
    DIR *d = opendir(dir);
    if (!d)
      continue;
    struct dirent *f;
    while ((f = readdir(d))) {
      size_t len = strlen(f->d_name);
      if (len < 5 || strcmp(f->d_name + len - 4, ".net") != 0)
        continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        cases = realloc(cases, cap * sizeof *cases);
        assert_non_null(cases);
      }
      Case *c = &cases[n++];
      snprintf(c->dir, sizeof c->dir, "%s", dir);
      snprintf(c->cmd, sizeof c->cmd, "%s", cmd->d_name);
      snprintf(c->name, sizeof c->name, "%s", f->d_name);
    }
    closedir(d);
  }
  closedir(top);
  qsort(cases, n, sizeof *cases, by_name);

  struct CMUnitTest *tests = calloc(n ? n : 1, sizeof *tests);
  char **names = calloc(n ? n : 1, sizeof *names);
  for (size_t i = 0; i < n; i++) {
    names[i] = malloc(strlen(cases[i].cmd) + strlen(cases[i].name) + 2);
    sprintf(names[i], "%s/%s", cases[i].cmd, cases[i].name);
    tests[i] = (struct CMUnitTest){names[i], golden, NULL, NULL, &cases[i]};
  }
  int failed = _cmocka_run_group_tests("golden", tests, n, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(tests);
  free(cases);
  return failed;
}
