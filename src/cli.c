/* cli.c: commands and flags. Each command runs the stages it needs, in
   order, and stops after the first stage that reports an error. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#include "check.h"
#include "parse.h"

static const char usage[] =
    "usage: netc COMMAND FILE.net [options]\n"
    "\n"
    "commands:\n"
    "  check FILE.net    parse and check the model; print its diagnostics\n"
    "  ast FILE.net      print the checked model with the shape of every value\n"
    "\n"
    "options:\n"
    "  -h, --help        show this help\n"
    "  --version         show netc's version\n"
    "\n"
    "Exit status: 0 success, 1 errors in the model, 2 bad usage.\n";

/* Parses and checks PATH; NULL after errors, which have been printed. */
static Program *front_end(const char *path, Arena *a, Diag *d, FILE *err) {
  if (!diag_open(d, a, path, err))
    return NULL;
  Ast *stmts = parse_program(d, a);
  if (d->errors)
    return NULL;
  Program *p = check_program(stmts, path, d, a);
  return d->errors ? NULL : p;
}

typedef struct {
  const char *name;
  void (*run)(const Program *p, FILE *out);
} Command;

/* The diagnostics are the result. */
static void run_check(const Program *p, FILE *out) { (void)p, (void)out; }

static void run_ast(const Program *p, FILE *out) { check_print(out, p); }

static const Command commands[] = {
    {"check", run_check},
    {"ast", run_ast},
};

__attribute__((format(printf, 2, 3))) static int usage_error(FILE *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("netc: error: ", err);
  vfprintf(err, fmt, ap);
  fputs("\nTry 'netc --help'.\n", err);
  va_end(ap);
  return 2;
}

int cli_main(int argc, char **argv, FILE *out, FILE *err) {
  if (argc < 2)
    return usage_error(err, "no command given");
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, out);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    fprintf(out, "netc %s\n", NETC_VERSION);
    return 0;
  }
  const Command *command = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, cmd) == 0)
      command = &commands[i];
  if (!command)
    return usage_error(err, "unknown command '%s'", cmd);

  const char *path = NULL;
  for (int i = 2; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] != '\0')
      return usage_error(err, "unknown option '%s'", argv[i]);
    if (path)
      return usage_error(err, "more than one model file: '%s'", argv[i]);
    path = argv[i];
  }
  if (!path)
    return usage_error(err, "'%s' needs a model file", cmd);

  Arena arena;
  arena_init(&arena);
  Diag diag;
  Program *p = front_end(path, &arena, &diag, err);
  if (p)
    command->run(p, out);
  arena_free(&arena);
  return p ? 0 : 1;
}
