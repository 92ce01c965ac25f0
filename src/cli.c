/* cli.c: commands and flags. Each command runs the stages it needs, in
   order, and stops after the first stage that reports an error. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diff.h"
#include "emit.h"
#include "gradcheck.h"
#include "parse.h"
#include "trainer.h"

static const char usage[] =
    "usage: netc COMMAND FILE.net [options]\n"
    "\n"
    "commands:\n"
    "  check FILE.net        parse and check the model; print its diagnostics\n"
    "  ast FILE.net          print the checked model with the shape of every value\n"
    "  grad FILE.net         print the backward pass: one line per adjoint\n"
    "  compile FILE.net -o DIR\n"
    "                        write DIR/P.h and DIR/P.c, the model's forward and\n"
    "                        backward passes in C99 (P is the model's name)\n"
    "  gradcheck FILE.net    compile the model in double and compare its gradient\n"
    "                        with central finite differences\n"
    "  trainer FILE.net -o DIR\n"
    "                        write the model, a training program DIR/P_train.c\n"
    "                        and DIR/Makefile: make -C DIR builds DIR/P_train\n"
    "\n"
    "options:\n"
    "  -o DIR                compile, trainer: where the files go\n"
    "  --prefix P            compile, trainer: the files' and the API's prefix\n"
    "  --double              compile, trainer: double instead of float\n"
    "  --input-grads         compile, grad, trainer: also the gradients of the inputs\n"
    "  --stats               compile, trainer: print lines, temporaries and workspace bytes\n"
    "  --threads N           compile, trainer: split batches and products over N threads\n"
    "                        (OpenMP: build with -fopenmp; trainers do)\n"
    "  --blas                compile, trainer: large products through CBLAS (-lopenblas)\n"
    "  --lanes N             compile, trainer: N examples at a time in the lanes of\n"
    "                        a vector, for models without large products (default:\n"
    "                        4 in float where gcc builds the file; 1: one at a time)\n"
    "  --tol T               gradcheck: the largest relative error allowed (1e-6)\n"
    "  --samples K           gradcheck: scalars checked per large tensor (20)\n"
    "  --seed S              gradcheck: the random point's seed (1)\n"
    "  -h, --help            show this help\n"
    "  --version             show netc's version\n"
    "\n"
    "gradcheck compiles with $CC (default cc).\n"
    "Exit status: 0 success, 1 errors in the model, 2 bad usage; gradcheck: 1 also\n"
    "when a gradient is out of tolerance.\n";

typedef struct {
  const char *path, *outdir, *prefix;
  bool dbl, input_grads, stats, blas;
  int threads, lanes;
  GradcheckOptions gc;
} Options;

typedef struct {
  Arena *arena;
  Diag *diag;
  Program *program;
  FILE *out, *err;
} Run;

__attribute__((format(printf, 2, 3))) static int usage_error(FILE *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("netc: error: ", err);
  vfprintf(err, fmt, ap);
  fputs("\nTry 'netc --help'.\n", err);
  va_end(ap);
  return 2;
}

/* ---- commands ---- */

static int run_check(const Options *o, Run *r) {
  (void)o, (void)r;
  return 0; /* the diagnostics are the result */
}

static int run_ast(const Options *o, Run *r) {
  (void)o;
  check_print(r->out, r->program);
  return 0;
}

/* The graph and its backward pass; rewrites are warned about once, here. */
static Backward *differentiate(const Options *o, Run *r, Graph **g) {
  *g = graph_build(r->program, r->diag, r->arena);
  return diff_backward(*g, o->input_grads);
}

static int run_grad(const Options *o, Run *r) {
  Graph *g;
  Backward *bw = differentiate(o, r, &g);
  diff_print(r->out, g, bw);
  return 0;
}

static bool is_identifier(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9'))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

static EmitOptions emit_options(const Options *o, const Run *r) {
  return (EmitOptions){
      .prefix = o->prefix ? o->prefix : r->program->name,
      .dbl = o->dbl,
      .input_grads = o->input_grads,
      .threads = o->threads,
      .blas = o->blas,
      .lanes = o->lanes,
      .source_name = emit_source_name(r->arena, o->path),
      .source_text = r->diag->text,
      .source_len = r->diag->len,
  };
}

static void print_stats(const Options *o, Run *r, const EmitStats *stats) {
  if (o->stats)
    fprintf(r->out, "%d lines, %d temporaries, %zu workspace bytes per example\n", stats->lines,
            stats->temporaries, stats->workspace_bytes);
}

static int run_compile(const Options *o, Run *r) {
  Graph *g;
  Backward *bw = differentiate(o, r, &g);
  EmitOptions eo = emit_options(o, r);
  EmitStats stats;
  if (!emit_files(g, bw, &eo, o->outdir, &stats, r->err))
    return 1;
  print_stats(o, r, &stats);
  return 0;
}

static int run_trainer(const Options *o, Run *r) {
  Graph *g;
  Backward *bw = differentiate(o, r, &g);
  EmitOptions eo = emit_options(o, r);
  EmitStats stats;
  if (!trainer_write(g, bw, &eo, o->outdir, &stats, r->err))
    return 1;
  print_stats(o, r, &stats);
  return 0;
}

static int run_gradcheck(const Options *o, Run *r) {
  Graph *g;
  Backward *bw = differentiate(o, r, &g);
  return gradcheck_run(r->program, g, bw, r->diag, &o->gc, r->out, r->err);
}

/* ---- the command line ---- */

typedef struct {
  const char *name;
  int (*run)(const Options *o, Run *r);
  const char *options; /* the options it takes, space-separated */
} Command;

static const Command commands[] = {
    {"check", run_check, ""},
    {"ast", run_ast, ""},
    {"grad", run_grad, "--input-grads"},
    {"compile", run_compile, "-o --prefix --double --input-grads --stats --threads --blas --lanes"},
    {"gradcheck", run_gradcheck, "--tol --samples --seed"},
    {"trainer", run_trainer, "-o --prefix --double --input-grads --stats --threads --blas --lanes"},
};

static bool takes(const Command *c, const char *opt) {
  size_t n = strlen(opt);
  for (const char *p = c->options; (p = strstr(p, opt)); p += n)
    if ((p == c->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
      return true;
  return false;
}

static bool parse_number(const char *s, double *v) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return *s && !*end && errno == 0;
}

/* Reads argv into O; returns 0, or 2 after a usage error. */
static int parse_args(int argc, char **argv, const Command *c, Options *o, FILE *err) {
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-' || arg[1] == '\0') {
      if (o->path)
        return usage_error(err, "more than one model file: '%s'", arg);
      o->path = arg;
      continue;
    }
    if (!takes(c, arg)) {
      for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (takes(&commands[k], arg))
          return usage_error(err, "'%s' does not take the option '%s'", c->name, arg);
      return usage_error(err, "unknown option '%s'", arg);
    }
    if (strcmp(arg, "--double") == 0)
      o->dbl = true;
    else if (strcmp(arg, "--input-grads") == 0)
      o->input_grads = true;
    else if (strcmp(arg, "--stats") == 0)
      o->stats = true;
    else if (strcmp(arg, "--blas") == 0)
      o->blas = true;
    else {
      if (i + 1 >= argc)
        return usage_error(err, "'%s' needs a value", arg);
      const char *val = argv[++i];
      double v;
      if (strcmp(arg, "-o") == 0) {
        o->outdir = val;
      } else if (strcmp(arg, "--prefix") == 0) {
        if (!is_identifier(val))
          return usage_error(err, "the prefix '%s' is not a C identifier", val);
        o->prefix = val;
      } else if (!parse_number(val, &v)) {
        return usage_error(err, "'%s' needs a number, got '%s'", arg, val);
      } else if (strcmp(arg, "--lanes") == 0) {
        if (!(v >= 1 && v <= 64 && v == (int)v))
          return usage_error(err, "'--lanes' must be an integer from 1 to 64, got '%s'", val);
        o->lanes = (int)v;
      } else if (strcmp(arg, "--threads") == 0) {
        if (!(v >= 1 && v <= 256 && v == (int)v))
          return usage_error(err, "'--threads' must be an integer from 1 to 256, got '%s'", val);
        o->threads = (int)v;
      } else if (strcmp(arg, "--tol") == 0) {
        if (!(v > 0))
          return usage_error(err, "'--tol' must be positive, got '%s'", val);
        o->gc.tol = v;
      } else if (strcmp(arg, "--samples") == 0) {
        if (!(v >= 1 && v <= 1e6 && v == (int)v))
          return usage_error(err, "'--samples' must be a positive integer, got '%s'", val);
        o->gc.samples = (int)v;
      } else if (strcmp(arg, "--seed") == 0) {
        if (!(v >= 0 && v <= 9007199254740992.0 && v == (double)(uint64_t)v))
          return usage_error(err, "'--seed' must be a non-negative integer, got '%s'", val);
        o->gc.seed = (uint64_t)v;
      }
    }
  }
  if (!o->path)
    return usage_error(err, "'%s' needs a model file", c->name);
  if (takes(c, "-o") && !o->outdir)
    return usage_error(err, "'%s' needs an output folder: -o DIR", c->name);
  return 0;
}

int cli_main(int argc, char **argv, FILE *out, FILE *err) {
  if (argc < 2)
    return usage_error(err, "no command given");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || (i == 1 && strcmp(argv[i], "help") == 0)) {
      fputs(usage, out);
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      fprintf(out, "netc %s\n", NETC_VERSION);
      return 0;
    }
  }
  const Command *command = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, argv[1]) == 0)
      command = &commands[i];
  if (!command)
    return usage_error(err, "unknown command '%s'", argv[1]);
  Options o = {.threads = 1, .gc = {.tol = 1e-6, .samples = 20, .seed = 1}};
  int status = parse_args(argc, argv, command, &o, err);
  if (status)
    return status;

  Arena arena;
  arena_init(&arena);
  Diag diag;
  Run r = {.arena = &arena, .diag = &diag, .out = out, .err = err};
  status = 1;
  if (diag_open(&diag, &arena, o.path, err)) {
    Ast *stmts = parse_program(&diag, &arena);
    if (diag.errors == 0)
      r.program = check_program(stmts, o.path, &diag, &arena);
    if (diag.errors == 0)
      status = command->run(&o, &r);
    if (diag.errors)
      status = 1;
  }
  arena_free(&arena);
  return status;
}
