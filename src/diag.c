/* diag.c: reading sources and reporting on them. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool diag_open(Diag *d, Arena *a, const char *path, FILE *out) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(out, "netc: error: cannot open '%s'\n", path);
    return false;
  }
  size_t cap = 4096, len = 0;
  char *buf = NULL;
  for (;;) {
    char *grown = realloc(buf, cap + 1);
    if (!grown)
      fatal("out of memory reading '%s'", path);
    buf = grown;
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap)
      break;
    if (cap > (size_t)1 << 30) {
      fprintf(out, "netc: error: '%s' is too large\n", path);
      free(buf);
      fclose(f);
      return false;
    }
    cap *= 2;
  }
  bool failed = ferror(f);
  fclose(f);
  if (failed) {
    fprintf(out, "netc: error: cannot read '%s'\n", path);
    free(buf);
    return false;
  }
  char *text = arena_strndup(a, buf, len);
  free(buf);
  diag_init(d, a, path, text, (int)len, out);
  return true;
}

void diag_init(Diag *d, Arena *a, const char *path, const char *text, int len, FILE *out) {
  memset(d, 0, sizeof *d);
  d->path = path;
  d->text = text;
  d->len = len;
  d->arena = a;
  d->out = out;
}

static void build_lines(Diag *d) {
  int n = 1;
  for (int i = 0; i < d->len; i++)
    n += d->text[i] == '\n';
  d->line_start = arena_array(d->arena, int, n);
  d->nlines = 0;
  d->line_start[d->nlines++] = 0;
  for (int i = 0; i < d->len; i++)
    if (d->text[i] == '\n')
      d->line_start[d->nlines++] = i + 1;
}

LineCol diag_linecol(Diag *d, int offset) {
  if (!d->line_start)
    build_lines(d);
  int lo = 0, hi = d->nlines - 1; /* the last line starting at or before offset */
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (d->line_start[mid] <= offset)
      lo = mid;
    else
      hi = mid - 1;
  }
  return (LineCol){lo + 1, offset - d->line_start[lo] + 1};
}

bool diag_stopped(const Diag *d) { return d->errors > DIAG_MAX_ERRORS; }

/* The source line, then a caret under the start of LOC and tildes under
   the rest of it on that line. Tabs are copied so the caret lines up. */
static void show_line(Diag *d, Loc loc) {
  LineCol lc = diag_linecol(d, loc.begin);
  int start = d->line_start[lc.line - 1], end = start;
  while (end < d->len && d->text[end] != '\n' && d->text[end] != '\r')
    end++;
  for (int i = start; i < end; i++) {
    unsigned char c = (unsigned char)d->text[i];
    fputc(c == '\t' || c >= ' ' ? c : ' ', d->out);
  }
  fputc('\n', d->out);
  for (int i = start; i < loc.begin; i++)
    fputc(d->text[i] == '\t' ? '\t' : ' ', d->out);
  fputc('^', d->out);
  int stop = loc.end < end ? loc.end : end;
  for (int i = loc.begin + 1; i < stop; i++)
    fputc('~', d->out);
  fputc('\n', d->out);
}

static void report(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap) {
  if (loc.begin < 0)
    loc.begin = 0;
  if (loc.begin > d->len)
    loc.begin = d->len;
  LineCol lc = diag_linecol(d, loc.begin);
  fprintf(d->out, "%s:%d:%d: %s: ", d->path, lc.line, lc.col, kind);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  show_line(d, loc);
}

/* Counts the error, and says whether it may still be printed. The first
   error past the limit is replaced by a line saying that we stop. */
static bool count_error(Diag *d) {
  d->errors++;
  if (d->errors == DIAG_MAX_ERRORS + 1)
    fprintf(d->out, "%s: note: too many errors, stopping after %d\n", d->path, DIAG_MAX_ERRORS);
  return d->errors <= DIAG_MAX_ERRORS;
}

void error_at(Diag *d, Loc loc, const char *fmt, ...) {
  if (!count_error(d))
    return;
  va_list ap;
  va_start(ap, fmt);
  report(d, loc, "error", fmt, ap);
  va_end(ap);
}

void warning_at(Diag *d, Loc loc, const char *fmt, ...) {
  d->warnings++;
  if (diag_stopped(d))
    return;
  va_list ap;
  va_start(ap, fmt);
  report(d, loc, "warning", fmt, ap);
  va_end(ap);
}

void note_at(Diag *d, Loc loc, const char *fmt, ...) {
  if (diag_stopped(d))
    return;
  va_list ap;
  va_start(ap, fmt);
  report(d, loc, "note", fmt, ap);
  va_end(ap);
}

void error_file(Diag *d, const char *fmt, ...) {
  if (!count_error(d))
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(d->out, "%s: error: ", d->path);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  va_end(ap);
}

void fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("netc: fatal: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

void diag_unreachable(const char *file, int line) {
  fprintf(stderr, "netc: internal error at %s:%d\n", file, line);
  abort();
}
