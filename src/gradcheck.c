/* gradcheck.c: writes the model twice (double and float) and a driver
   into a temporary folder, compiles them with $CC and runs the driver,
   which compares the double gradient with central differences and the
   float gradient with the double one. */
#include "gradcheck.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "emit.h"

/* Runs CMD with its output (stdout and stderr) into a string. */
static int run_captured(const char *cmd, char **output) {
  size_t size;
  FILE *mem = open_memstream(output, &size);
  FILE *p = popen(cmd, "r");
  if (!p) {
    fclose(mem);
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    fwrite(buf, 1, n, mem);
  int status = pclose(p);
  fclose(mem);
  return status;
}

static void remove_folder(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  closedir(d);
  rmdir(dir);
}

static bool write_driver(const Program *p, const char *dir, const char *source, const GradcheckOptions *o,
                         Arena *a, FILE *err) {
  char *classes;
  size_t size;
  FILE *mem = open_memstream(&classes, &size);
  for (int i = 0; i < p->nsyms; i++) {
    const Symbol *s = p->syms[i];
    if (s->kind != SYM_TARGET)
      continue;
    long n = s->nclass ? 1 : shape_size(s->shape);
    for (long k = 0; k < n; k++)
      fprintf(mem, "%d, ", s->nclass);
  }
  fputs("0", mem);
  fclose(mem);
  Slot slots[] = {
      {"VERSION", NETC_VERSION},
      {"SOURCE", source},
      {"SAMPLES", arena_printf(a, "%d", o->samples)},
      {"TOL", arena_printf(a, "%.17g", o->tol)},
      {"SEED", arena_printf(a, "%llu", (unsigned long long)o->seed)},
      {"TARGET_CLASSES", classes},
  };
  char *path = arena_printf(a, "%s/gradcheck.c", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(err, "netc: error: cannot write '%s'\n", path);
    free(classes);
    return false;
  }
  emit_template("gradcheck.c", slots, (int)(sizeof slots / sizeof slots[0]), f);
  free(classes);
  return fclose(f) == 0;
}

int gradcheck_run(const Program *p, const Graph *g, const Backward *bw, const Diag *d, const GradcheckOptions *o,
                  FILE *out, FILE *err) {
  Arena a;
  arena_init(&a);
  const char *tmp = getenv("TMPDIR");
  char *dir = arena_printf(&a, "%s/netc-gradcheck-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(err, "netc: error: cannot make a temporary folder in '%s'\n", tmp && *tmp ? tmp : "/tmp");
    arena_free(&a);
    return 1;
  }
  const char *base = strrchr(d->path, '/');
  const char *source = base ? base + 1 : d->path;
  EmitOptions eo = {.prefix = "m", .dbl = true, .source_name = source, .source_text = d->text, .source_len = d->len};
  EmitOptions fo = eo;
  fo.prefix = "mf";
  fo.dbl = false;
  int status = 1;
  if (emit_files(g, bw, &eo, dir, NULL, err) && emit_files(g, bw, &fo, dir, NULL, err) &&
      write_driver(p, dir, source, o, &a, err)) {
    const char *cc = getenv("CC");
    if (!cc || !*cc)
      cc = "cc";
    char *cmd = arena_printf(&a, "%s -std=c99 -O1 -o '%s/gradcheck' '%s/gradcheck.c' '%s/m.c' '%s/mf.c' -lm 2>&1", cc,
                             dir, dir, dir, dir);
    char *output = NULL;
    int rc = run_captured(cmd, &output);
    if (rc != 0) {
      fprintf(err, "netc: error: the C compiler failed on the generated code (%s):\n%s", cmd, output ? output : "");
    } else {
      free(output);
      output = NULL;
      fprintf(out, "gradcheck %s: %s\n", source, p->name);
      rc = run_captured(arena_printf(&a, "'%s/gradcheck' 2>&1", dir), &output);
      fputs(output ? output : "", out);
      status = rc == 0 ? 0 : 1;
    }
    free(output);
  }
  remove_folder(dir);
  arena_free(&a);
  return status;
}
