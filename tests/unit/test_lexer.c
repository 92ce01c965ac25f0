/* test_lexer.c: the flex scanner of grammar/lexer.l, driven directly:
   keywords, names, numbers and their values, byte-range locations,
   comments and whitespace, and the located errors for bad numbers and
   stray bytes. */
#include "harness.h"

#include "parser.h"

/* The reentrant scanner's interface (flex writes no header for it here). */
int yylex_init_extra(ParseCtx *cx, void **scanner);
void *yy_scan_bytes(const char *bytes, int len, void *scanner);
int yylex(YYSTYPE *val, YYLTYPE *loc, void *scanner);
int yylex_destroy(void *scanner);

enum { MAX_TOKENS = 64 };

typedef struct {
  int kind; /* TK_..., a character, or TK_EOF */
  double num;
  const char *name;
  Loc loc;
  int prev_end; /* cx->prev_end once it was read: the end of the token before */
} Token;

/* A source named "t.net", scanned to the end. */
typedef struct {
  Arena arena;
  Diag diag;
  ParseCtx cx;
  char *messages; /* open_memstream's */
  size_t size;
  Token tok[MAX_TOKENS]; /* the tokens, the last one TK_EOF */
  int n;
} Lexed;

static int setup(void **state) {
  Lexed *l = calloc(1, sizeof *l);
  if (!l)
    return -1;
  arena_init(&l->arena);
  *state = l;
  return 0;
}

static int teardown(void **state) {
  Lexed *l = *state;
  free(l->messages);
  arena_free(&l->arena);
  free(l);
  return 0;
}

/* Scans LEN bytes of TEXT (which may hold NULs) to the end of file. */
static Lexed *lex_bytes(void **state, const char *text, int len) {
  Lexed *l = *state;
  char *copy = arena_strndup(&l->arena, text, (size_t)len);
  FILE *out = open_memstream(&l->messages, &l->size);
  assert_non_null(out);
  diag_init(&l->diag, &l->arena, "t.net", copy, len, out);
  l->cx = (ParseCtx){.arena = &l->arena, .diag = &l->diag};
  void *scanner;
  assert_int_equal(yylex_init_extra(&l->cx, &scanner), 0);
  assert_non_null(yy_scan_bytes(copy, len, scanner));
  l->n = 0;
  for (;;) {
    assert_true(l->n < MAX_TOKENS);
    YYSTYPE val = {0};
    YYLTYPE loc = {-1, -1};
    Token *t = &l->tok[l->n++];
    t->kind = yylex(&val, &loc, scanner);
    t->loc = loc;
    t->prev_end = l->cx.prev_end;
    if (t->kind == TK_NUMBER)
      t->num = val.num;
    if (t->kind == TK_NAME)
      t->name = val.name;
    if (t->kind == TK_EOF)
      break;
  }
  yylex_destroy(scanner);
  fclose(out);
  return l;
}

static Lexed *lex(void **state, const char *text) { return lex_bytes(state, text, (int)strlen(text)); }

static void assert_token(const Lexed *l, int i, int kind, int begin, int end) {
  assert_true(i < l->n);
  const Token *t = &l->tok[i];
  if (t->kind != kind || t->loc.begin != begin || t->loc.end != end)
    fail_msg("token %d: got kind %d at [%d, %d), expected kind %d at [%d, %d)", i, t->kind, t->loc.begin, t->loc.end,
             kind, begin, end);
}

static void assert_number(const Lexed *l, int i, double value, int begin, int end) {
  assert_token(l, i, TK_NUMBER, begin, end);
  if (l->tok[i].num != value)
    fail_msg("token %d: got %.17g, expected %.17g", i, l->tok[i].num, value);
}

static void assert_name(const Lexed *l, int i, const char *name, int begin, int end) {
  assert_token(l, i, TK_NAME, begin, end);
  assert_string_equal(l->tok[i].name, name);
}

static void assert_count(const Lexed *l, int tokens) {
  if (l->n != tokens + 1 || l->tok[l->n - 1].kind != TK_EOF)
    fail_msg("got %d tokens before the end of file, expected %d", l->n - 1, tokens);
}

static void assert_no_errors(const Lexed *l) {
  if (l->diag.errors)
    fail_msg("unexpected errors:\n%s", l->messages);
  assert_string_equal(l->messages, "");
}

/* ---- keywords and names ---- */

static void keywords(void **state) {
  static const struct {
    const char *text;
    int kind;
  } kw[] = {
      {"model", TK_MODEL}, {"input", TK_INPUT}, {"target", TK_TARGET}, {"param", TK_PARAM}, {"const", TK_CONST},
      {"output", TK_OUTPUT}, {"loss", TK_LOSS}, {"train", TK_TRAIN}, {"class", TK_CLASS},
  };
  for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
    Lexed *l = lex(state, kw[i].text);
    assert_count(l, 1);
    assert_token(l, 0, kw[i].kind, 0, (int)strlen(kw[i].text));
    assert_no_errors(l);
    free(l->messages);
    l->messages = NULL;
  }
}

static void keywords_in_a_row(void **state) {
  Lexed *l = lex(state, "model input target param const output loss train class");
  assert_count(l, 9);
  assert_token(l, 0, TK_MODEL, 0, 5);
  assert_token(l, 1, TK_INPUT, 6, 11);
  assert_token(l, 2, TK_TARGET, 12, 18);
  assert_token(l, 3, TK_PARAM, 19, 24);
  assert_token(l, 4, TK_CONST, 25, 30);
  assert_token(l, 5, TK_OUTPUT, 31, 37);
  assert_token(l, 6, TK_LOSS, 38, 42);
  assert_token(l, 7, TK_TRAIN, 43, 48);
  assert_token(l, 8, TK_CLASS, 49, 54);
  assert_no_errors(l);
}

static void names(void **state) {
  /* A keyword inside a longer name, or in another case, is a name. */
  Lexed *l = lex(state, "x W1 _b2 models Model class_ loss2 relu");
  assert_count(l, 8);
  assert_name(l, 0, "x", 0, 1);
  assert_name(l, 1, "W1", 2, 4);
  assert_name(l, 2, "_b2", 5, 8);
  assert_name(l, 3, "models", 9, 15);
  assert_name(l, 4, "Model", 16, 21);
  assert_name(l, 5, "class_", 22, 28);
  assert_name(l, 6, "loss2", 29, 34);
  assert_name(l, 7, "relu", 35, 39);
  assert_no_errors(l);
}

static void punctuation(void **state) {
  static const char ops[] = "-+*/@^()[],;:={}";
  Lexed *l = lex(state, ops);
  assert_count(l, (int)strlen(ops));
  for (int i = 0; ops[i]; i++)
    assert_token(l, i, ops[i], i, i + 1);
  assert_no_errors(l);
}

static void a_statement(void **state) {
  Lexed *l = lex(state, "param W1[32, 64] = he;");
  assert_count(l, 10);
  assert_token(l, 0, TK_PARAM, 0, 5);
  assert_name(l, 1, "W1", 6, 8);
  assert_token(l, 2, '[', 8, 9);
  assert_number(l, 3, 32, 9, 11);
  assert_token(l, 4, ',', 11, 12);
  assert_number(l, 5, 64, 13, 15);
  assert_token(l, 6, ']', 15, 16);
  assert_token(l, 7, '=', 17, 18);
  assert_name(l, 8, "he", 19, 21);
  assert_token(l, 9, ';', 21, 22);
  assert_no_errors(l);
}

/* ---- numbers: every form, and their values ---- */

static void number_forms(void **state) {
  Lexed *l = lex(state, "1 0.5 .5 1e-3 2. 1E+5 007 2.5e3 3e2 .25E-1 0");
  assert_count(l, 11);
  assert_number(l, 0, 1, 0, 1);
  assert_number(l, 1, 0.5, 2, 5);
  assert_number(l, 2, 0.5, 6, 8);
  assert_number(l, 3, 1e-3, 9, 13);
  assert_number(l, 4, 2, 14, 16);
  assert_number(l, 5, 1e5, 17, 21);
  assert_number(l, 6, 7, 22, 25);
  assert_number(l, 7, 2500, 26, 31);
  assert_number(l, 8, 300, 32, 35);
  assert_number(l, 9, 0.025, 36, 42);
  assert_number(l, 10, 0, 43, 44);
  assert_no_errors(l);
}

static void number_then_operator(void **state) {
  /* The sign after an exponent belongs to it; any other sign does not. */
  Lexed *l = lex(state, "1e-3-2 2.-1 -5");
  assert_count(l, 8);
  assert_number(l, 0, 1e-3, 0, 4);
  assert_token(l, 1, '-', 4, 5);
  assert_number(l, 2, 2, 5, 6);
  assert_number(l, 3, 2, 7, 9);
  assert_token(l, 4, '-', 9, 10);
  assert_number(l, 5, 1, 10, 11);
  assert_token(l, 6, '-', 12, 13);
  assert_number(l, 7, 5, 13, 14);
  assert_no_errors(l);
}

static void number_out_of_range(void **state) {
  Lexed *l = lex(state, "x = 1e999;");
  assert_count(l, 4);
  assert_number(l, 2, 0, 4, 9);
  assert_token(l, 3, ';', 9, 10);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:1:5: error: number '1e999' is out of range\n"
                                   "x = 1e999;\n"
                                   "    ^~~~~\n");
}

static void number_underflow(void **state) {
  /* Too small even for a subnormal: an error, as too large is, rather
     than a 0 the source did not write. */
  Lexed *l = lex(state, "1e-400");
  assert_count(l, 1);
  assert_number(l, 0, 0, 0, 6);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:1:1: error: number '1e-400' is out of range\n1e-400\n^~~~~~\n");
  free(l->messages);
  l->messages = NULL;
  /* a subnormal is a number, and so is a zero written with any exponent */
  l = lex(state, "5e-324 4e-320 0e-999 0.000");
  assert_count(l, 4);
  assert_number(l, 0, 5e-324, 0, 6);
  assert_number(l, 1, 4e-320, 7, 13);
  assert_number(l, 2, 0, 14, 20);
  assert_number(l, 3, 0, 21, 26);
  assert_no_errors(l);
}

static void number_largest(void **state) {
  Lexed *l = lex(state, "1.7976931348623157e308");
  assert_count(l, 1);
  assert_number(l, 0, 1.7976931348623157e308, 0, 22);
  assert_no_errors(l);
}

/* ---- invalid numbers: one located error, one number token of value 0 ---- */

static void invalid_number_missing_exponent(void **state) {
  Lexed *l = lex(state, "a = 1e;");
  assert_count(l, 4);
  assert_name(l, 0, "a", 0, 1);
  assert_number(l, 2, 0, 4, 6);
  assert_token(l, 3, ';', 6, 7);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:1:5: error: invalid number '1e'\na = 1e;\n    ^~\n");
}

static void invalid_number_two_points(void **state) {
  Lexed *l = lex(state, "loss 1.2.3 + 1;");
  assert_count(l, 5);
  assert_number(l, 1, 0, 5, 10);
  assert_token(l, 2, '+', 11, 12);
  assert_number(l, 3, 1, 13, 14);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:1:6: error: invalid number '1.2.3'\nloss 1.2.3 + 1;\n     ^~~~~\n");
}

static void invalid_number_with_letters(void **state) {
  Lexed *l = lex(state, "x = 2;\ny = 3x;\n");
  assert_count(l, 8);
  assert_number(l, 2, 2, 4, 5);
  assert_name(l, 4, "y", 7, 8);
  assert_number(l, 6, 0, 11, 13);
  assert_token(l, 7, ';', 13, 14);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:2:5: error: invalid number '3x'\ny = 3x;\n    ^~\n");
}

static void invalid_numbers_each_reported(void **state) {
  Lexed *l = lex(state, "1e 1.2.3 3x 1e5e .5.5 1_0");
  assert_count(l, 6);
  for (int i = 0; i < 6; i++)
    assert_true(l->tok[i].kind == TK_NUMBER && l->tok[i].num == 0);
  assert_token(l, 3, TK_NUMBER, 12, 16);
  assert_int_equal(l->diag.errors, 6);
  assert_non_null(strstr(l->messages, "t.net:1:1: error: invalid number '1e'\n"));
  assert_non_null(strstr(l->messages, "t.net:1:4: error: invalid number '1.2.3'\n"));
  assert_non_null(strstr(l->messages, "t.net:1:10: error: invalid number '3x'\n"));
  assert_non_null(strstr(l->messages, "t.net:1:13: error: invalid number '1e5e'\n"));
  assert_non_null(strstr(l->messages, "t.net:1:18: error: invalid number '.5.5'\n"));
  assert_non_null(strstr(l->messages, "t.net:1:23: error: invalid number '1_0'\n"));
}

/* ---- comments, whitespace, CRLF ---- */

static void comment_to_end_of_line(void **state) {
  Lexed *l = lex(state, "# model m;\nloss x; # x = 1;\n  # last");
  assert_count(l, 3);
  assert_token(l, 0, TK_LOSS, 11, 15);
  assert_name(l, 1, "x", 16, 17);
  assert_token(l, 2, ';', 17, 18);
  assert_no_errors(l);
}

static void comment_holds_anything(void **state) {
  /* Stray characters, bad numbers and non-ASCII bytes are fine in a comment. */
  Lexed *l = lex(state, "a # $ 1e \xc3\xa9 \x01\nb");
  assert_count(l, 2);
  assert_name(l, 0, "a", 0, 1);
  assert_name(l, 1, "b", 14, 15);
  assert_no_errors(l);
}

static void whitespace_and_crlf(void **state) {
  Lexed *l = lex(state, "\t model\r\n  m ;\r\n\r\nloss\t1;\r\n");
  assert_count(l, 6);
  assert_token(l, 0, TK_MODEL, 2, 7);
  assert_name(l, 1, "m", 11, 12);
  assert_token(l, 2, ';', 13, 14);
  assert_token(l, 3, TK_LOSS, 18, 22);
  assert_number(l, 4, 1, 23, 24);
  assert_token(l, 5, ';', 24, 25);
  assert_no_errors(l);
  LineCol lc = diag_linecol(&l->diag, l->tok[3].loc.begin);
  assert_int_equal(lc.line, 4);
  assert_int_equal(lc.col, 1);
}

static void empty_and_blank_sources(void **state) {
  Lexed *l = lex(state, "");
  assert_count(l, 0);
  assert_no_errors(l);
  free(l->messages);
  l->messages = NULL;
  l = lex(state, " \t\r\n# only a comment\n\n");
  assert_count(l, 0);
  assert_no_errors(l);
}

/* ---- the end of the token before, kept for "expected ';'" ---- */

static void prev_end_skips_whitespace_and_comments(void **state) {
  Lexed *l = lex(state, "x = 1  # one\n\n  y");
  assert_count(l, 4);
  assert_int_equal(l->tok[0].prev_end, 0);
  assert_int_equal(l->tok[1].prev_end, 1);  /* the end of 'x' */
  assert_int_equal(l->tok[2].prev_end, 3);  /* the end of '=' */
  assert_int_equal(l->tok[3].prev_end, 5);  /* the end of '1', not of the comment */
  assert_int_equal(l->cx.cur_end, 17);      /* the end of 'y' */
}

static void prev_end_skips_stray_bytes(void **state) {
  Lexed *l = lex(state, "a $ b");
  assert_count(l, 2);
  assert_int_equal(l->tok[1].prev_end, 1); /* still the end of 'a' */
  assert_int_equal(l->diag.errors, 1);
}

/* The end of file is an empty token where the text stops, and the token
   before it is the last one, with or without trailing whitespace. */
static void prev_end_at_end_of_file(void **state) {
  Lexed *l = lex(state, "model m");
  assert_count(l, 2);
  assert_token(l, 2, TK_EOF, 7, 7);
  assert_int_equal(l->tok[2].prev_end, 7); /* the end of 'm' */
  free(l->messages);
  l->messages = NULL;
  l = lex(state, "model m # end\n");
  assert_token(l, 2, TK_EOF, 14, 14);
  assert_int_equal(l->tok[2].prev_end, 7);
}

/* ---- stray characters: a located error, and no token ---- */

static void stray_character(void **state) {
  Lexed *l = lex(state, "x $= 2;");
  assert_count(l, 4);
  assert_name(l, 0, "x", 0, 1);
  assert_token(l, 1, '=', 3, 4);
  assert_number(l, 2, 2, 5, 6);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:1:3: error: stray '$' in program\nx $= 2;\n  ^\n");
}

static void stray_non_ascii_byte(void **state) {
  Lexed *l = lex(state, "loss\n a \xff;");
  assert_count(l, 3);
  assert_token(l, 0, TK_LOSS, 0, 4);
  assert_name(l, 1, "a", 6, 7);
  assert_token(l, 2, ';', 9, 10);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:2:4: error: stray byte '\\xff' in program\n a \xff;\n   ^\n");
}

static void stray_nul_byte(void **state) {
  static const char text[] = "a \0b";
  Lexed *l = lex_bytes(state, text, (int)sizeof text - 1);
  assert_count(l, 2);
  assert_name(l, 0, "a", 0, 1);
  assert_name(l, 1, "b", 3, 4);
  assert_int_equal(l->diag.errors, 1);
  assert_string_equal(l->messages, "t.net:1:3: error: stray byte '\\x00' in program\na  b\n  ^\n");
}

static void stray_characters_each_reported(void **state) {
  Lexed *l = lex(state, "$ ! ? ` ~ & | < > % \" ' \\ .");
  assert_count(l, 0);
  assert_int_equal(l->diag.errors, 14);
  assert_non_null(strstr(l->messages, "t.net:1:1: error: stray '$' in program\n"));
  assert_non_null(strstr(l->messages, "t.net:1:21: error: stray '\"' in program\n"));
  assert_non_null(strstr(l->messages, "t.net:1:25: error: stray '\\' in program\n"));
  assert_non_null(strstr(l->messages, "t.net:1:27: error: stray '.' in program\n"));
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(keywords),
      TEST(keywords_in_a_row),
      TEST(names),
      TEST(punctuation),
      TEST(a_statement),
      TEST(number_forms),
      TEST(number_then_operator),
      TEST(number_out_of_range),
      TEST(number_underflow),
      TEST(number_largest),
      TEST(invalid_number_missing_exponent),
      TEST(invalid_number_two_points),
      TEST(invalid_number_with_letters),
      TEST(invalid_numbers_each_reported),
      TEST(comment_to_end_of_line),
      TEST(comment_holds_anything),
      TEST(whitespace_and_crlf),
      TEST(empty_and_blank_sources),
      TEST(prev_end_skips_whitespace_and_comments),
      TEST(prev_end_skips_stray_bytes),
      TEST(prev_end_at_end_of_file),
      TEST(stray_character),
      TEST(stray_non_ascii_byte),
      TEST(stray_nul_byte),
      TEST(stray_characters_each_reported),
  };
  return cmocka_run_group_tests_name("lexer", tests, NULL, NULL);
}
