/* harness.h: running the front end and the command line in-process, with
   their output captured, for the cmocka tests. */
#ifndef NETC_TEST_HARNESS_H
#define NETC_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "cli.h"
#include "parse.h"

/* One compilation of a source text named "t.net": its program (NULL after
   errors) and everything it printed. */
typedef struct {
  Arena arena;
  Diag diag;
  Ast *stmts;
  Program *program;
  char *messages; /* malloc'd */
  size_t size;
} Compiled;

static inline void compile_text(Compiled *c, const char *src) {
  arena_init(&c->arena);
  FILE *out = open_memstream(&c->messages, &c->size);
  assert_non_null(out);
  diag_init(&c->diag, &c->arena, "t.net", arena_strdup(&c->arena, src), (int)strlen(src), out);
  c->stmts = parse_program(&c->diag, &c->arena);
  c->program = NULL;
  if (c->diag.errors == 0) {
    Program *p = check_program(c->stmts, "t.net", &c->diag, &c->arena);
    c->program = c->diag.errors ? NULL : p;
  }
  fclose(out);
}

static inline void compiled_free(Compiled *c) {
  arena_free(&c->arena);
  free(c->messages);
}

/* Asserts that SRC gives exactly one error and that it contains MESSAGE. */
static inline void assert_one_error(const char *src, const char *message) {
  Compiled c;
  compile_text(&c, src);
  if (c.diag.errors != 1 || !strstr(c.messages, message))
    fail_msg("source:\n%s\nexpected one error containing \"%s\", got %d:\n%s", src, message, c.diag.errors,
             c.messages);
  compiled_free(&c);
}

/* Asserts that SRC checks without errors and warnings. */
static inline void assert_clean(const char *src) {
  Compiled c;
  compile_text(&c, src);
  if (c.diag.errors || c.diag.warnings)
    fail_msg("source:\n%s\nexpected no diagnostics, got:\n%s", src, c.messages);
  compiled_free(&c);
}

/* Runs the netc command line with ARGS (NULL-terminated, without "netc"). */
typedef struct {
  int status;
  char *out, *err; /* malloc'd */
  size_t out_size, err_size;
} Run;

static inline Run run_netc(const char *const *args) {
  Run r;
  char *argv[32] = {"netc"};
  int argc = 1;
  for (; args[argc - 1]; argc++) {
    assert_true(argc < 31);
    argv[argc] = (char *)args[argc - 1];
  }
  FILE *out = open_memstream(&r.out, &r.out_size);
  FILE *err = open_memstream(&r.err, &r.err_size);
  r.status = cli_main(argc, argv, out, err);
  fclose(out);
  fclose(err);
  return r;
}

static inline void run_free(Run *r) {
  free(r->out);
  free(r->err);
}

#endif
