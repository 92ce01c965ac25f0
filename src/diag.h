/* diag.h: source files, locations and messages in the style of gcc and clang:
     model.net:9:10: error: shape mismatch in '+': [32] and [10]
     h = relu(W1 @ x + b2);
              ^~~~~~~~~~~
*/
#ifndef NETC_DIAG_H
#define NETC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "arena.h"

/* A byte range [begin, end) of the source. Line and column are computed
   only when a message is printed, from a table of line starts. */
typedef struct {
  int begin, end;
} Loc;

typedef struct {
  int line, col; /* both from 1; col counts bytes */
} LineCol;

enum { DIAG_MAX_ERRORS = 20 };

typedef struct {
  const char *path; /* as the user named it */
  const char *text; /* the whole source, NUL-terminated */
  int len;
  int *line_start; /* built on first use */
  int nlines;
  Arena *arena;
  FILE *out;     /* where messages go: stderr, or a buffer in tests */
  int errors;    /* counted even past the limit */
  int warnings;
} Diag;

/* Reads PATH whole. On failure prints "netc: error: cannot open ..." to
   OUT and returns false. */
bool diag_open(Diag *d, Arena *a, const char *path, FILE *out);
/* Uses TEXT (of LEN bytes) as the source named PATH; for tests. */
void diag_init(Diag *d, Arena *a, const char *path, const char *text, int len, FILE *out);

LineCol diag_linecol(Diag *d, int offset);
/* Has the error limit been passed? Stages stop early when it has. */
bool diag_stopped(const Diag *d);

void error_at(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void warning_at(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void note_at(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A message about the file as a whole: "model.net: error: no 'loss' statement". */
void error_file(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Internal failures: not the user's fault. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void diag_unreachable(const char *file, int line);
#define unreachable() diag_unreachable(__FILE__, __LINE__)

#endif
