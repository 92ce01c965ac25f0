/* test_diag.c: sources, line and column, and the messages of diag.c:
   their format, the caret line under a range, the error limit, and
   reading files. */
#include "harness.h"

#include <unistd.h>

/* A source named "t.net" whose messages go to a buffer. */
typedef struct {
  Arena arena;
  Diag diag;
  FILE *out;
  char *buf; /* open_memstream's */
  size_t size;
} Fixture;

static int setup(void **state) {
  Fixture *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  arena_init(&f->arena);
  f->out = open_memstream(&f->buf, &f->size);
  if (!f->out)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  Fixture *f = *state;
  fclose(f->out);
  free(f->buf);
  arena_free(&f->arena);
  free(f);
  return 0;
}

static Diag *source(void **state, const char *text) {
  Fixture *f = *state;
  diag_init(&f->diag, &f->arena, "t.net", arena_strdup(&f->arena, text), (int)strlen(text), f->out);
  return &f->diag;
}

/* Everything printed so far. */
static const char *printed(void **state) {
  Fixture *f = *state;
  fflush(f->out);
  return f->buf ? f->buf : "";
}

static void assert_linecol(Diag *d, int offset, int line, int col) {
  LineCol lc = diag_linecol(d, offset);
  if (lc.line != line || lc.col != col)
    fail_msg("offset %d: got %d:%d, expected %d:%d", offset, lc.line, lc.col, line, col);
}

static int count_lines_with(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* ---- diag_linecol: lines and columns from 1, columns in bytes ---- */

static void linecol_first_line(void **state) {
  Diag *d = source(state, "model m;\nloss 1;\n");
  assert_linecol(d, 0, 1, 1);
  assert_linecol(d, 6, 1, 7);
  assert_linecol(d, 8, 1, 9); /* the '\n' itself is on line 1 */
}

static void linecol_after_newlines(void **state) {
  Diag *d = source(state, "a\n\nbc\n  d\n");
  assert_linecol(d, 2, 2, 1); /* the empty line */
  assert_linecol(d, 3, 3, 1);
  assert_linecol(d, 4, 3, 2);
  assert_linecol(d, 6, 4, 1);
  assert_linecol(d, 8, 4, 3);
  assert_linecol(d, 10, 5, 1); /* the end of a file ending in '\n' */
}

static void linecol_last_line_without_newline(void **state) {
  Diag *d = source(state, "x = 1;\nloss x");
  assert_linecol(d, 7, 2, 1);
  assert_linecol(d, 12, 2, 6);
  assert_linecol(d, 13, 2, 7); /* the end of the file */
}

static void linecol_crlf_counts_bytes(void **state) {
  Diag *d = source(state, "a;\r\nb;\r\n");
  assert_linecol(d, 2, 1, 3); /* '\r' ends no line */
  assert_linecol(d, 4, 2, 1);
  assert_linecol(d, 5, 2, 2);
}

static void linecol_empty_source(void **state) {
  Diag *d = source(state, "");
  assert_linecol(d, 0, 1, 1);
}

/* ---- message formats: "t.net:LINE:COL: KIND: message", the line, the caret ---- */

static void error_format(void **state) {
  Diag *d = source(state, "model m;\nh = relu(W1 @ x + b2);\n");
  error_at(d, (Loc){18, 29}, "shape mismatch in '%s': %s", "+", "[32] and [10]");
  assert_string_equal(printed(state), "t.net:2:10: error: shape mismatch in '+': [32] and [10]\n"
                                      "h = relu(W1 @ x + b2);\n"
                                      "         ^~~~~~~~~~~\n");
  assert_int_equal(d->errors, 1);
  assert_int_equal(d->warnings, 0);
}

static void warning_format(void **state) {
  Diag *d = source(state, "input x;\ninput unused[3];\n");
  warning_at(d, (Loc){15, 21}, "input '%s' is never used", "unused");
  assert_string_equal(printed(state), "t.net:2:7: warning: input 'unused' is never used\n"
                                      "input unused[3];\n"
                                      "      ^~~~~~\n");
  assert_int_equal(d->warnings, 1);
  assert_int_equal(d->errors, 0);
}

static void note_format(void **state) {
  Diag *d = source(state, "loss 1;\nloss 2;\n");
  note_at(d, (Loc){0, 7}, "the first is here");
  assert_string_equal(printed(state), "t.net:1:1: note: the first is here\n"
                                      "loss 1;\n"
                                      "^~~~~~~\n");
  assert_int_equal(d->errors, 0);
  assert_int_equal(d->warnings, 0);
}

static void error_file_format(void **state) {
  Diag *d = source(state, "model m;\n");
  error_file(d, "no '%s' statement", "loss");
  assert_string_equal(printed(state), "t.net: error: no 'loss' statement\n");
  assert_int_equal(d->errors, 1);
}

/* ---- the caret line ---- */

static void caret_single_byte(void **state) {
  Diag *d = source(state, "x = $;\n");
  error_at(d, (Loc){4, 5}, "stray");
  assert_string_equal(printed(state), "t.net:1:5: error: stray\nx = $;\n    ^\n");
}

static void caret_empty_range(void **state) {
  /* As a missing ';' is reported: just past the last token. */
  Diag *d = source(state, "model m\nloss 1;\n");
  error_at(d, (Loc){7, 7}, "expected ';'");
  assert_string_equal(printed(state), "t.net:1:8: error: expected ';'\nmodel m\n       ^\n");
}

static void caret_range_stops_at_end_of_line(void **state) {
  Diag *d = source(state, "loss (a +\n  b);\n");
  error_at(d, (Loc){5, 14}, "a range over two lines");
  assert_string_equal(printed(state), "t.net:1:6: error: a range over two lines\n"
                                      "loss (a +\n"
                                      "     ^~~~\n");
}

static void caret_range_stops_before_cr(void **state) {
  Diag *d = source(state, "loss abc\r\nx;\r\n");
  error_at(d, (Loc){5, 12}, "crlf");
  assert_string_equal(printed(state), "t.net:1:6: error: crlf\nloss abc\n     ^~~\n");
}

static void caret_keeps_tabs(void **state) {
  Diag *d = source(state, "\tx =\t$;\n");
  error_at(d, (Loc){5, 6}, "stray");
  assert_string_equal(printed(state), "t.net:1:6: error: stray\n\tx =\t$;\n\t   \t^\n");
}

static void caret_on_last_line_without_newline(void **state) {
  Diag *d = source(state, "model m;\nloss x");
  error_at(d, (Loc){14, 15}, "end");
  assert_string_equal(printed(state), "t.net:2:6: error: end\nloss x\n     ^\n");
}

static void caret_at_end_of_file(void **state) {
  Diag *d = source(state, "loss x");
  error_at(d, (Loc){6, 6}, "eof");
  assert_string_equal(printed(state), "t.net:1:7: error: eof\nloss x\n      ^\n");
}

static void control_bytes_print_as_spaces(void **state) {
  static const char text[] = "x = \0$;\n";
  Fixture *f = *state;
  diag_init(&f->diag, &f->arena, "t.net", text, (int)sizeof text - 1, f->out);
  error_at(&f->diag, (Loc){5, 6}, "stray");
  assert_string_equal(printed(state), "t.net:1:6: error: stray\nx =  $;\n     ^\n");
}

/* ---- the error limit: 20 errors printed, one note, then silence ---- */

static void error_limit(void **state) {
  Diag *d = source(state, "x;\n");
  for (int i = 1; i <= DIAG_MAX_ERRORS; i++) {
    error_at(d, (Loc){0, 1}, "error %d", i);
    assert_false(diag_stopped(d));
  }
  error_at(d, (Loc){0, 1}, "error 21");
  error_at(d, (Loc){0, 1}, "error 22");
  error_file(d, "error 23");
  warning_at(d, (Loc){0, 1}, "a warning");
  note_at(d, (Loc){0, 1}, "a note");
  const char *out = printed(state);
  assert_int_equal(count_lines_with(out, ": error: "), 20);
  assert_non_null(strstr(out, "t.net:1:1: error: error 20\n"));
  assert_null(strstr(out, "error 21"));
  assert_null(strstr(out, "error 23"));
  assert_null(strstr(out, "a warning"));
  assert_null(strstr(out, "a note"));
  assert_int_equal(count_lines_with(out, "too many errors"), 1);
  /* The note comes last. */
  const char *note = "t.net: note: too many errors, stopping after 20\n";
  assert_string_equal(out + strlen(out) - strlen(note), note);
  assert_int_equal(d->errors, 23);
  assert_int_equal(d->warnings, 1);
  assert_true(diag_stopped(d));
}

static void warnings_do_not_count_toward_the_limit(void **state) {
  Diag *d = source(state, "x;\n");
  for (int i = 0; i < 30; i++)
    warning_at(d, (Loc){0, 1}, "w");
  assert_false(diag_stopped(d));
  assert_int_equal(count_lines_with(printed(state), ": warning: w\n"), 30);
  assert_null(strstr(printed(state), "too many"));
  assert_int_equal(d->warnings, 30);
  assert_int_equal(d->errors, 0);
}

/* ---- diag_open: reading a file whole ---- */

static void open_missing_file(void **state) {
  Fixture *f = *state;
  assert_false(diag_open(&f->diag, &f->arena, "no/such/file.net", f->out));
  assert_string_equal(printed(state), "netc: error: cannot open 'no/such/file.net'\n");
}

static void open_directory(void **state) {
  Fixture *f = *state;
  assert_false(diag_open(&f->diag, &f->arena, "tests", f->out));
  assert_string_equal(printed(state), "netc: error: cannot read 'tests'\n");
}

/* Writes LEN bytes of TEXT to a new temporary file, named in PATH. */
static void temp_file(char *path, const char *text, size_t len) {
  strcpy(path, "/tmp/netc_test_diag_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
}

static void open_real_file(void **state) {
  Fixture *f = *state;
  char path[64];
  temp_file(path, "model m;\nloss 1;", 16);
  bool ok = diag_open(&f->diag, &f->arena, path, f->out);
  remove(path);
  assert_true(ok);
  assert_string_equal(printed(state), "");
  assert_int_equal(f->diag.len, 16);
  assert_string_equal(f->diag.text, "model m;\nloss 1;");
  assert_ptr_equal(f->diag.path, path);
  assert_int_equal(f->diag.errors, 0);
  assert_linecol(&f->diag, 14, 2, 6);
  assert_linecol(&f->diag, 16, 2, 8);
}

static void open_large_file(void **state) {
  /* Larger than the first 4096-byte read, with a NUL inside. */
  Fixture *f = *state;
  size_t len = 10000;
  char *text = malloc(len);
  assert_non_null(text);
  for (size_t i = 0; i < len; i++)
    text[i] = i % 50 == 49 ? '\n' : 'a' + (char)(i % 26);
  text[5000] = '\0';
  char path[64];
  temp_file(path, text, len);
  bool ok = diag_open(&f->diag, &f->arena, path, f->out);
  remove(path);
  assert_true(ok);
  assert_int_equal(f->diag.len, 10000);
  assert_memory_equal(f->diag.text, text, len);
  assert_int_equal(f->diag.text[len], '\0');
  assert_linecol(&f->diag, 9999, 200, 50);
  free(text);
}

static void open_empty_file(void **state) {
  Fixture *f = *state;
  char path[64];
  temp_file(path, "", 0);
  bool ok = diag_open(&f->diag, &f->arena, path, f->out);
  remove(path);
  assert_true(ok);
  assert_int_equal(f->diag.len, 0);
  assert_string_equal(f->diag.text, "");
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(linecol_first_line),
      TEST(linecol_after_newlines),
      TEST(linecol_last_line_without_newline),
      TEST(linecol_crlf_counts_bytes),
      TEST(linecol_empty_source),
      TEST(error_format),
      TEST(warning_format),
      TEST(note_format),
      TEST(error_file_format),
      TEST(caret_single_byte),
      TEST(caret_empty_range),
      TEST(caret_range_stops_at_end_of_line),
      TEST(caret_range_stops_before_cr),
      TEST(caret_keeps_tabs),
      TEST(caret_on_last_line_without_newline),
      TEST(caret_at_end_of_file),
      TEST(control_bytes_print_as_spaces),
      TEST(error_limit),
      TEST(warnings_do_not_count_toward_the_limit),
      TEST(open_missing_file),
      TEST(open_directory),
      TEST(open_real_file),
      TEST(open_large_file),
      TEST(open_empty_file),
  };
  return cmocka_run_group_tests_name("diag", tests, NULL, NULL);
}
