/* gradcheck.c: writes the model twice (double and float) and a driver
   into a temporary folder, compiles them with $CC and runs the driver,
   which compares the double gradient with central differences and the
   float gradient with the double one. */
#include "gradcheck.h"

#include <dirent.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "emit.h"

/* Runs ARGV (no shell, so no path needs quoting) with its stdout and
   stderr into a string; returns its exit status, or -1 if it did not run. */
static int run_captured(char *const *argv, char **output) {
  size_t size;
  FILE *mem = open_memstream(output, &size);
  int fds[2];
  if (pipe(fds) != 0) {
    fclose(mem);
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run '%s'\n", argv[0]);
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0)
    fwrite(buf, 1, (size_t)n, mem);
  close(fds[0]);
  fclose(mem);
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* $CC, split at spaces ("gcc -m64"), then ARGS: a NULL-terminated argv. */
static char **compiler_argv(Arena *a, const char *cc, const char *const *args) {
  int n = 0, cap = 8;
  for (const char *const *p = args; *p; p++)
    cap++;
  for (const char *p = cc; *p; p++)
    cap += *p == ' ';
  char **argv = arena_array(a, char *, cap);
  char *copy = arena_strdup(a, cc);
  for (char *p = copy; *p;) {
    while (*p == ' ')
      *p++ = '\0';
    if (*p)
      argv[n++] = p;
    while (*p && *p != ' ')
      p++;
  }
  for (const char *const *p = args; *p; p++)
    argv[n++] = (char *)*p;
  argv[n] = NULL;
  return argv;
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
  emit_target_classes(mem, p);
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
  const char *source = emit_source_name(&a, d->path);
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
    char *exe = arena_printf(&a, "%s/gradcheck", dir);
    const char *args[] = {"-std=c99", "-O1", "-o", exe, arena_printf(&a, "%s/gradcheck.c", dir),
                          arena_printf(&a, "%s/m.c", dir), arena_printf(&a, "%s/mf.c", dir), "-lm", NULL};
    char *output = NULL;
    int rc = run_captured(compiler_argv(&a, cc, args), &output);
    if (rc != 0) {
      fprintf(err, "netc: error: the C compiler failed on the generated code (CC=%s):\n%s", cc, output ? output : "");
    } else {
      free(output);
      output = NULL;
      fprintf(out, "gradcheck %s: %s\n", source, p->name);
      char *run[] = {exe, NULL};
      rc = run_captured(run, &output);
      fputs(output ? output : "", out);
      status = rc == 0 ? 0 : 1;
    }
    free(output);
  }
  remove_folder(dir);
  arena_free(&a);
  return status;
}
