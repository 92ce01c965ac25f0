/* parser.y: the grammar of .net files. A pure parser: all state is in
   ParseCtx, so the compiler has no globals. Builds the Ast; meaning and
   shapes are check.c's business. */

%code requires {
#include "ast.h"
#include "parse.h"
typedef void *yyscan_t;
}

%code {
#include <string.h>

int yylex(YYSTYPE *val, YYLTYPE *loc, yyscan_t scanner);
void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *cx, const char *msg);

#define YYLLOC_DEFAULT(cur, rhs, n)                       \
  do {                                                    \
    if (n) {                                              \
      (cur).begin = YYRHSLOC(rhs, 1).begin;               \
      (cur).end = YYRHSLOC(rhs, n).end;                   \
    } else {                                              \
      (cur).begin = (cur).end = YYRHSLOC(rhs, 0).end;     \
    }                                                     \
  } while (0)

#define A (cx->arena)
}

%define api.pure full
%define api.location.type {Loc}
%locations
%define parse.error custom
%define parse.lac full
%param {yyscan_t scanner}
%parse-param {ParseCtx *cx}
%expect 0

%union {
  double num;
  char *name;
  Ast *ast;
}

%token TK_EOF 0 "end of file"
%token <name> TK_NAME "name"
%token <num> TK_NUMBER "number"
%token TK_MODEL "'model'" TK_INPUT "'input'" TK_TARGET "'target'" TK_PARAM "'param'"
%token TK_CONST "'const'" TK_OUTPUT "'output'" TK_LOSS "'loss'" TK_TRAIN "'train'"
%token TK_CLASS "'class'"

%type <ast> stmt dims expr_list expr args arg settings setting

%left '+' '-'
%left '*' '/' '@'
%precedence NEG
%right '^'

%%

program:
  %empty
| program stmt {
    if ($2)
      cx->stmts = ast_append(cx->stmts, $2);
    if (diag_stopped(cx->diag))
      YYABORT;
  }
;

stmt:
  TK_MODEL TK_NAME ';'            { $$ = ast_stmt(A, AST_MODEL, @$, $2, @2); }
| TK_INPUT TK_NAME dims ';'       { $$ = ast_stmt(A, AST_INPUT, @$, $2, @2); $$->stmt.dims = $3; }
| TK_TARGET TK_NAME dims ';'      { $$ = ast_stmt(A, AST_TARGET, @$, $2, @2); $$->stmt.dims = $3; }
| TK_TARGET TK_NAME ':' TK_CLASS '(' expr ')' ';' {
    $$ = ast_stmt(A, AST_TARGET, @$, $2, @2);
    $$->stmt.is_class = true;
    $$->stmt.expr = $6;
  }
| TK_PARAM TK_NAME dims ';'       { $$ = ast_stmt(A, AST_PARAM, @$, $2, @2); $$->stmt.dims = $3; }
| TK_PARAM TK_NAME dims '=' expr ';' {
    $$ = ast_stmt(A, AST_PARAM, @$, $2, @2);
    $$->stmt.dims = $3;
    $$->stmt.expr = $5;
  }
| TK_CONST TK_NAME '=' expr ';'   { $$ = ast_stmt(A, AST_CONST, @$, $2, @2); $$->stmt.expr = $4; }
| TK_NAME '=' expr ';'            { $$ = ast_stmt(A, AST_LET, @$, $1, @1); $$->stmt.expr = $3; }
| TK_OUTPUT TK_NAME '=' expr ';'  { $$ = ast_stmt(A, AST_OUTPUT, @$, $2, @2); $$->stmt.expr = $4; }
| TK_OUTPUT TK_NAME ';'           { $$ = ast_stmt(A, AST_OUTPUT, @$, $2, @2); }
| TK_LOSS expr ';'                { $$ = ast_stmt(A, AST_LOSS, @$, NULL, @1); $$->stmt.expr = $2; }
| TK_TRAIN '{' settings '}' semi_opt {
    $$ = ast_stmt(A, AST_TRAIN, @$, NULL, @1);
    $$->stmt.body = $3;
  }
  /* A setting without its ';' before the '}': 'setting: error ;' alone
     would skip the '}' and the statement after it. */
| TK_TRAIN '{' settings error '}' semi_opt {
    $$ = ast_stmt(A, AST_TRAIN, @$, NULL, @1);
    $$->stmt.body = $3;
    yyerrok;
  }
| error ';'                       { $$ = NULL; yyerrok; }
| error '}'                       { $$ = NULL; yyerrok; }
;

semi_opt: %empty | ';' ;

/* No brackets: a scalar, dims NULL. */
dims:
  %empty                          { $$ = NULL; }
| '[' expr_list ']'               { $$ = $2; }
;

expr_list:
  expr                            { $$ = $1; }
| expr_list ',' expr              { $$ = ast_append($1, $3); }
;

settings:
  %empty                          { $$ = NULL; }
| settings setting                { $$ = $2 ? ast_append($1, $2) : $1; }
;

setting:
  TK_NAME '=' expr ';' {
    $$ = ast_stmt(A, AST_SETTING, @$, $1, @1);
    $$->stmt.expr = $3;
  }
| error ';'                       { $$ = NULL; yyerrok; }
;

expr:
  expr '+' expr                   { $$ = ast_binary(A, @$, OP_ADD, $1, $3); }
| expr '-' expr                   { $$ = ast_binary(A, @$, OP_SUB, $1, $3); }
| expr '*' expr                   { $$ = ast_binary(A, @$, OP_MUL, $1, $3); }
| expr '/' expr                   { $$ = ast_binary(A, @$, OP_DIV, $1, $3); }
| expr '@' expr                   { $$ = ast_binary(A, @$, OP_MATMUL, $1, $3); }
| expr '^' expr                   { $$ = ast_binary(A, @$, OP_POW, $1, $3); }
| '-' expr %prec NEG              { $$ = ast_unary(A, @$, OP_NEG, $2); }
| '(' expr ')'                    { $$ = $2; $$->loc = @$; }
| TK_NUMBER                       { $$ = ast_num(A, @$, $1); }
| TK_NAME                         { $$ = ast_name(A, @$, $1); }
| TK_NAME '(' ')'                 { $$ = ast_call(A, @$, $1, @1, NULL); }
| TK_NAME '(' args ')'            { $$ = ast_call(A, @$, $1, @1, $3); }
;

args:
  arg                             { $$ = $1; }
| args ',' arg                    { $$ = ast_append($1, $3); }
;

/* 'lr = 0.01' names the argument; check says where that is allowed. */
arg:
  expr                            { $$ = $1; }
| TK_NAME '=' expr                { $$ = $3; $$->label = $1; $$->label_loc = @1; }
;

%%

/* How a token is named in a message: its text where it has one of its
   own ("name 'W3'"), else its alias ("';'", "end of file"). */
static void describe_token(ParseCtx *cx, yysymbol_kind_t tok, Loc loc, char *buf, size_t size) {
  const char *text = cx->diag->text + loc.begin;
  int len = loc.end - loc.begin;
  if (len > 40)
    len = 40;
  if (tok == YYSYMBOL_TK_NAME || tok == YYSYMBOL_TK_NUMBER)
    snprintf(buf, size, "%s '%.*s'", yysymbol_name(tok), len, text);
  else
    snprintf(buf, size, "%s", yysymbol_name(tok));
}

static bool expects(const yysymbol_kind_t *set, int n, yysymbol_kind_t tok) {
  for (int i = 0; i < n; i++)
    if (set[i] == tok)
      return true;
  return false;
}

static bool is_symbol(yysymbol_kind_t tok, const char *name) { return strcmp(yysymbol_name(tok), name) == 0; }

static bool expects_symbol(const yysymbol_kind_t *set, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (is_symbol(set[i], name))
      return true;
  return false;
}

static bool starts_expr(yysymbol_kind_t tok) {
  return tok == YYSYMBOL_TK_NUMBER || tok == YYSYMBOL_TK_NAME || is_symbol(tok, "'('") || is_symbol(tok, "'-'");
}

static bool is_binary_operator(yysymbol_kind_t tok) {
  static const char *const ops[] = {"'+'", "'-'", "'*'", "'/'", "'@'", "'^'"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (is_symbol(tok, ops[i]))
      return true;
  return false;
}

static bool starts_stmt(yysymbol_kind_t tok) {
  return tok == YYSYMBOL_TK_NAME || (tok >= YYSYMBOL_TK_MODEL && tok <= YYSYMBOL_TK_TRAIN) || tok == YYSYMBOL_YYEOF;
}

/* "expected ';' or ',', found name 'x'". Where a statement or an
   expression may start, the message says so instead of listing tokens. */
static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, ParseCtx *cx) {
  (void)scanner;
  /* The lexer has already reported this token ("invalid number '3a'"):
     one error for it is enough. */
  if (yypcontext_token(ctx) != YYSYMBOL_YYEOF && yypcontext_location(ctx)->end == cx->bad_end)
    return 0;
  yysymbol_kind_t expected[YYNTOKENS];
  int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
  bool statement = expects(expected, n, YYSYMBOL_TK_MODEL);
  bool expression = expects(expected, n, YYSYMBOL_TK_NUMBER);
  /* After an operand: the operators, and '(' when it was a name. */
  bool operand = expects_symbol(expected, n, "'@'");

  const char *items[YYNTOKENS + 2];
  int count = 0;
  if (statement)
    items[count++] = "a statement";
  if (expression)
    items[count++] = "an expression";
  for (int i = 0; i < n; i++) {
    yysymbol_kind_t t = expected[i];
    if (!(statement && starts_stmt(t)) && !(expression && starts_expr(t)) &&
        !(operand && (is_binary_operator(t) || is_symbol(t, "'('"))))
      items[count++] = yysymbol_name(t);
  }
  if (operand)
    items[count++] = "an operator";

  char list[512] = "";
  size_t len = 0;
  for (int i = 0; i < count && len < sizeof list; i++) {
    const char *sep = i == 0 ? "" : i == count - 1 ? " or " : ", ";
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", sep, items[i]);
  }

  yysymbol_kind_t found = yypcontext_token(ctx);
  Loc loc = *yypcontext_location(ctx);
  char what[96];
  describe_token(cx, found, loc, what, sizeof what);

  /* A missing ';' belongs at the end of the line it was left off, not at
     the start of the next statement (gcc does the same). */
  Diag *d = cx->diag;
  bool after_prev = found == YYSYMBOL_YYEOF ||
                    (expects_symbol(expected, n, "';'") && diag_linecol(d, loc.begin).line > diag_linecol(d, cx->prev_end).line);
  if (after_prev)
    loc = (Loc){cx->prev_end, cx->prev_end};

  if (count > 0)
    error_at(d, loc, "expected %s, found %s", list, what);
  else
    error_at(d, loc, "unexpected %s", what);
  return 0;
}

/* With custom syntax errors, bison calls this only when its stack is
   full (YYMAXDEPTH), which only an expression nested thousands of levels
   deep can do: the checker's error, rather than "memory exhausted". */
void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *cx, const char *msg) {
  (void)scanner;
  if (strcmp(msg, "memory exhausted") == 0)
    error_at(cx->diag, *loc, "expression is nested too deeply (more than %d levels)", MAX_DEPTH);
  else
    error_at(cx->diag, *loc, "%s", msg);
}
