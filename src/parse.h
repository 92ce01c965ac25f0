/* parse.h: from source text to a syntax tree (grammar/lexer.l, grammar/parser.y). */
#ifndef NETC_PARSE_H
#define NETC_PARSE_H

#include "ast.h"
#include "diag.h"

/* What the lexer and the parser share: no globals, so parses can run side by side. */
typedef struct {
  Arena *arena;
  Diag *diag;
  Ast *stmts;   /* the program, built as it is parsed */
  int offset;   /* where the lexer is in the source */
  int prev_end; /* end of the token before the current one */
  int cur_end;  /* end of the current token */
  int bad_end;  /* end of the last token the lexer reported an error at */
} ParseCtx;

/* Parses the source of D. Errors go to D; the result is the statement list,
   partial when d->errors is non-zero. */
Ast *parse_program(Diag *d, Arena *a);

#endif
