/* test_emit.c: netc compile. The files it writes for every example compile
   cleanly as C99 under gcc and clang and as C++11 under g++, in float and
   double and with input gradients; a small driver links and runs the
   digits model; the output is deterministic, starts with the documented
   comment lines, keeps no template slot and declares the documented API;
   the code grows with statements, not with tensor sizes; --stats counts
   what was written; the error paths exit as documented; and generated/
   holds exactly what netc writes today. */
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixtures ---- */

/* A temporary folder for what a test writes, removed by the teardown. */
typedef struct {
  char dir[64];
} Fixture;

static int setup(void **state) {
  Fixture *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  strcpy(f->dir, "/tmp/netc_test_emit_XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

/* Removes PATH and, for a folder, everything in it. */
static void remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
          char sub[1024];
          snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
          remove_tree(sub);
        }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

static int teardown(void **state) {
  Fixture *f = *state;
  remove_tree(f->dir);
  free(f);
  return 0;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ---- helpers ---- */

/* A path in the fixture's folder, from a printf format; in a ring of
   buffers so a few can be alive at once. */
__attribute__((format(printf, 2, 3))) static const char *in_dir(void **state, const char *fmt, ...) {
  static char ring[8][1024];
  static int next;
  char *buf = ring[next++ % 8];
  Fixture *f = *state;
  int n = snprintf(buf, sizeof ring[0], "%s/", f->dir);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof ring[0] - (size_t)n, fmt, ap);
  va_end(ap);
  return buf;
}

/* The whole file, malloc'd; NULL when it cannot be read. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t size = 0;
  FILE *mem = open_memstream(&buf, &size);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    fwrite(chunk, 1, n, mem);
  fclose(mem);
  fclose(f);
  return buf;
}

static char *must_read(const char *path) {
  char *text = slurp(path);
  if (!text)
    fail_msg("cannot read '%s'", path);
  return text;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Line K (from 1) of TEXT, without its newline, in a static buffer. */
static const char *line_of(const char *text, int k) {
  static char buf[512];
  for (; k > 1 && text; k--) {
    text = strchr(text, '\n');
    if (text)
      text++;
  }
  if (!text)
    return "";
  size_t len = strcspn(text, "\n");
  snprintf(buf, sizeof buf, "%.*s", (int)len, text);
  return buf;
}

/* Runs the shell command CMD; its status, with stdout and stderr into
   *OUTPUT (malloc'd). */
static int sh(const char *cmd, char **output) {
  size_t size;
  FILE *mem = open_memstream(output, &size);
  char *full = malloc(strlen(cmd) + 8);
  assert_non_null(full);
  sprintf(full, "%s 2>&1", cmd);
  FILE *p = popen(full, "r");
  free(full);
  assert_non_null(p);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    fwrite(buf, 1, n, mem);
  int status = pclose(p);
  fclose(mem);
  return status;
}

static bool installed(const char *tool) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
  return system(cmd) == 0;
}

/* Runs 'netc compile MODEL -o DIR' and FLAGS (NULL-terminated, or NULL). */
static Run compile_to(const char *model, const char *dir, const char *const *flags) {
  const char *args[10] = {"compile", model, "-o", dir};
  int n = 4;
  for (int i = 0; flags && flags[i]; i++) {
    assert_true(n < 9);
    args[n++] = flags[i];
  }
  args[n] = NULL;
  return run_netc(args);
}

/* As compile_to, and the run must succeed without a word. */
static void compile_ok(const char *model, const char *dir, const char *const *flags) {
  Run r = compile_to(model, dir, flags);
  if (r.status != 0 || r.out[0] || r.err[0])
    fail_msg("netc compile %s -o %s: exit %d\n--- stdout\n%s--- stderr\n%s---", model, dir, r.status, r.out, r.err);
  run_free(&r);
}

#define FLAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The examples: examples/NAME.net, sorted by NAME. */
enum { MAX_EXAMPLES = 32 };
static char examples[MAX_EXAMPLES][64];
static int nexamples;

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

static void list_examples(void) {
  DIR *d = opendir("examples");
  if (!d)
    fail_msg("cannot open examples/; run from the top of the tree");
  nexamples = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len > 4 && len < sizeof examples[0] + 4 && strcmp(e->d_name + len - 4, ".net") == 0 &&
        nexamples < MAX_EXAMPLES)
      snprintf(examples[nexamples++], sizeof examples[0], "%.*s", (int)(len - 4), e->d_name);
  }
  closedir(d);
  qsort(examples, (size_t)nexamples, sizeof examples[0], by_name);
  assert_true(nexamples >= 4);
}

static const char *example_path(int i) {
  static char buf[128];
  snprintf(buf, sizeof buf, "examples/%.63s.net", examples[i]);
  return buf;
}

/* What every example is compiled with. */
typedef struct {
  const char *name;
  const char *flags[7];
} Variant;

static const Variant variants[] = {
    {"float", {NULL}},
    {"double", {"--double", NULL}},
    {"float-input-grads", {"--input-grads", NULL}},
    {"double-input-grads", {"--double", "--input-grads", NULL}},
    {"float-threads", {"--threads", "2", NULL}},
    {"float-blas", {"--blas", NULL}},
    {"double-threads-blas-input-grads", {"--double", "--threads", "2", "--blas", "--input-grads", NULL}},
    {"float-lanes3-threads-input-grads", {"--lanes", "3", "--threads", "2", "--input-grads", NULL}},
    {"float-lanes8", {"--lanes", "8", NULL}},
    {"double-lanes4-input-grads", {"--double", "--lanes", "4", "--input-grads", NULL}},
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

/* Example I compiled with variant V into the fixture: the folder. */
static const char *emit_variant(void **state, int i, int v) {
  const char *dir = in_dir(state, "%s-%s", examples[i], variants[v].name);
  compile_ok(example_path(i), dir, variants[v].flags);
  return dir;
}

/* ---- the generated files compile cleanly ---- */

#define C_FLAGS "-std=c99 -O2 -Wall -Wextra -pedantic -Werror -c"
#define CXX_FLAGS "-x c++ -std=c++11 -O2 -Wall -Wextra -Werror -c"
/* OpenMP's pragmas too, for --threads; clang's OpenMP runtime is a package of its own */
#define GCC_OMP " -fopenmp"

static void compile_examples_with(void **state, const char *cc, const char *flags) {
  if (!installed(cc)) {
    print_message("%s is not installed; skipping\n", cc);
    skip();
  }
  list_examples();
  for (int i = 0; i < nexamples; i++)
    for (int v = 0; v < NVARIANTS; v++) {
      const char *dir = emit_variant(state, i, v);
      char cmd[4096];
      snprintf(cmd, sizeof cmd, "%s %s -o '%s/%.63s.o' '%s/%.63s.c'", cc, flags, dir, examples[i], dir, examples[i]);
      char *output;
      int status = sh(cmd, &output);
      if (status != 0 || output[0])
        fail_msg("%s (%s) does not compile cleanly:\n%s\n%s", example_path(i), variants[v].name, cmd, output);
      free(output);
    }
}

/* gcc -O3 specializes gemm()'s loops for the sizes it is called with and
   warned (-Waggressive-loop-optimizations, on by default) on loops it
   took for endless in copies it made: products over the batch, of one
   step and of many, in float and double, with lanes where they apply. */
static void products_compile_with_gcc_O3_native(void **state) {
  static const char *const models[] = {"tests/models/layers.net", "tests/gradcheck/one_step_products.net",
                                       "tests/gradcheck/epilogue.net"};
  const char *const *const flags[] = {FLAGS("--prefix", "m"), FLAGS("--prefix", "m", "--double"),
                                      FLAGS("--prefix", "m", "--input-grads", "--lanes", "4")};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++)
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
      const char *dir = in_dir(state, "o3-%zu-%zu", i, f);
      compile_ok(models[i], dir, flags[f]);
      char cmd[2048], *output;
      snprintf(cmd, sizeof cmd, "gcc -std=c99 -O3 -march=native -Wall -Wextra -pedantic -Werror -c -o '%s/m.o' '%s/m.c'",
               dir, dir);
      int status = sh(cmd, &output);
      if (status != 0 || output[0])
        fail_msg("%s does not compile cleanly:\n%s\n%s", models[i], cmd, output);
      free(output);
    }
}

/* Models that need only part of a template: tanh without exp (mathf.c's
   nc_expf unused), lanes without targets (load_lanes' loop over none),
   by gcc and clang, which warn on different things. */
static void partial_templates_compile(void **state) {
  static const char *const models[] = {"tests/models/many_layers.net", "tests/models/choices.net"};
  const char *const *const flags[] = {FLAGS("--prefix", "m"), FLAGS("--prefix", "m", "--lanes", "8")};
  static const char *const compilers[] = {"gcc", "clang"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++)
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
      const char *dir = in_dir(state, "part-%zu-%zu", i, f);
      compile_ok(models[i], dir, flags[f]);
      for (size_t c = 0; c < sizeof compilers / sizeof *compilers; c++) {
        if (!installed(compilers[c]))
          continue;
        char cmd[2048], *output;
        snprintf(cmd, sizeof cmd,
                 "%s -std=c99 -O2 -march=native -Wall -Wextra -pedantic -Werror -c -o '%s/m.o' '%s/m.c'",
                 compilers[c], dir, dir);
        int status = sh(cmd, &output);
        if (status != 0 || output[0])
          fail_msg("%s does not compile cleanly:\n%s\n%s", models[i], cmd, output);
        free(output);
      }
    }
}

static void examples_compile_with_gcc(void **state) { compile_examples_with(state, "gcc", C_FLAGS GCC_OMP); }
static void examples_compile_with_clang(void **state) { compile_examples_with(state, "clang", C_FLAGS); }
static void examples_compile_as_cpp(void **state) { compile_examples_with(state, "g++", CXX_FLAGS GCC_OMP); }
/* gemm()'s vector kernel, and the examples large enough to use it */
static void examples_compile_with_avx2(void **state) {
  compile_examples_with(state, "gcc", C_FLAGS GCC_OMP " -mavx2 -mfma");
  compile_examples_with(state, "clang", C_FLAGS " -mavx2 -mfma");
}

/* ---- the digits model, linked and run ---- */

static const char digits_driver[] =
    "#include <math.h>\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "#include \"digits.h\"\n"
    "\n"
    "enum { B = 3 };\n"
    "static int failures;\n"
    "#define CHECK(c) \\\n"
    "  do { \\\n"
    "    if (!(c)) { \\\n"
    "      printf(\"driver.c:%d: %s\\n\", __LINE__, #c); \\\n"
    "      failures++; \\\n"
    "    } \\\n"
    "  } while (0)\n"
    "\n"
    "static digits_real params[digits_NUM_PARAMS], saved_params[digits_NUM_PARAMS];\n"
    "static digits_real inputs[B * digits_INPUT_SIZE], saved_inputs[B * digits_INPUT_SIZE];\n"
    "static digits_real targets[B * digits_TARGET_SIZE] = {3, 7, 0}, saved_targets[B * digits_TARGET_SIZE];\n"
    "static digits_real grads1[digits_NUM_PARAMS], grads2[digits_NUM_PARAMS];\n"
    "static digits_real outputs[B * digits_OUTPUT_SIZE];\n"
    "\n"
    "int main(void) {\n"
    "  static const char *const names[] = {\"W1\", \"b1\", \"W2\", \"b2\"};\n"
    "  static const int ranks[] = {2, 1, 2, 1}, rows[] = {32, 32, 10, 10}, cols[] = {64, 0, 32, 0};\n"
    "  size_t offset = 0;\n"
    "  CHECK(sizeof(digits_real) == sizeof(double));\n"
    "  for (int t = 0; t < digits_NUM_PARAM_TENSORS; t++) {\n"
    "    const digits_param_info *p = &digits_params[t];\n"
    "    CHECK(strcmp(p->name, names[t]) == 0);\n"
    "    CHECK(p->rank == ranks[t] && p->shape[0] == rows[t] && (p->rank == 1 || p->shape[1] == cols[t]));\n"
    "    CHECK(p->offset == offset);\n"
    "    CHECK(p->size == (size_t)rows[t] * (size_t)(cols[t] ? cols[t] : 1));\n"
    "    offset += p->size;\n"
    "  }\n"
    "  CHECK(offset == digits_NUM_PARAMS);\n"
    "\n"
    "  digits_init(params, 1);\n"
    "  int nonzero = 0;\n"
    "  for (int i = 0; i < digits_NUM_PARAMS; i++) {\n"
    "    CHECK(isfinite(params[i]));\n"
    "    nonzero += params[i] != 0;\n"
    "  }\n"
    "  CHECK(nonzero > 2000); /* W1 and W2 are drawn, b1 and b2 are zeros */\n"
    "  for (int i = 0; i < B * digits_INPUT_SIZE; i++)\n"
    "    inputs[i] = (digits_real)((i * 7) % 17);\n"
    "  memcpy(saved_params, params, sizeof params);\n"
    "  memcpy(saved_inputs, inputs, sizeof inputs);\n"
    "  memcpy(saved_targets, targets, sizeof targets);\n"
    "\n"
    "  /* The workspace is scratch: garbage in it must not matter. */\n"
    "  size_t size = digits_workspace_size(B);\n"
    "  CHECK(size > 0);\n"
    "  unsigned char *ws = malloc(size);\n"
    "  if (!ws)\n"
    "    return 2;\n"
    "  memset(ws, 0xa5, size);\n"
    "  for (int i = 0; i < B * digits_OUTPUT_SIZE; i++)\n"
    "    outputs[i] = -1;\n"
    "  digits_real none = digits_forward(params, B, inputs, NULL, outputs, ws);\n"
    "  CHECK(none == 0);\n"
    "  double expected_loss = 0;\n"
    "  for (int b = 0; b < B; b++) {\n"
    "    double sum = 0;\n"
    "    for (int k = 0; k < digits_OUTPUT_SIZE; k++) {\n"
    "      digits_real p = outputs[b * digits_OUTPUT_SIZE + k];\n"
    "      CHECK(p >= 0 && p <= 1);\n"
    "      sum += p;\n"
    "    }\n"
    "    CHECK(fabs(sum - 1) < 1e-12);\n"
    "    expected_loss -= log(outputs[b * digits_OUTPUT_SIZE + (int)targets[b]]) / B;\n"
    "  }\n"
    "\n"
    "  memset(ws, 0x5a, size);\n"
    "  digits_real loss1 = digits_grad(params, B, inputs, targets, grads1, ws);\n"
    "  memset(ws, 0xc3, size);\n"
    "  for (int i = 0; i < digits_NUM_PARAMS; i++)\n"
    "    grads2[i] = 12345;\n"
    "  digits_real loss2 = digits_grad(params, B, inputs, targets, grads2, ws);\n"
    "  CHECK(isfinite(loss1) && loss1 > 0);\n"
    "  CHECK(fabs(loss1 - expected_loss) < 1e-9); /* the mean cross-entropy of the outputs */\n"
    "  CHECK(memcmp(&loss1, &loss2, sizeof loss1) == 0);\n"
    "  CHECK(memcmp(grads1, grads2, sizeof grads1) == 0);\n"
    "  nonzero = 0;\n"
    "  for (int i = 0; i < digits_NUM_PARAMS; i++) {\n"
    "    CHECK(isfinite(grads1[i]));\n"
    "    nonzero += grads1[i] != 0;\n"
    "  }\n"
    "  CHECK(nonzero > 0);\n"
    "  CHECK(memcmp(params, saved_params, sizeof params) == 0);\n"
    "  CHECK(memcmp(inputs, saved_inputs, sizeof inputs) == 0);\n"
    "  CHECK(memcmp(targets, saved_targets, sizeof targets) == 0);\n"
    "\n"
    "  digits_real with_targets = digits_forward(params, B, inputs, targets, NULL, ws);\n"
    "  CHECK(fabs(with_targets - loss1) < 1e-12);\n"
    "  free(ws);\n"
    "  if (failures)\n"
    "    printf(\"driver: %d failures\\n\", failures);\n"
    "  else\n"
    "    printf(\"driver: ok\\n\");\n"
    "  return failures != 0;\n"
    "}\n";

static void digits_driver_runs(void **state) {
  const char *dir = in_dir(state, "digits");
  compile_ok("examples/digits.net", dir, FLAGS("--double"));
  write_file(in_dir(state, "digits/driver.c"), digits_driver);
  /* With the sanitizers where the compiler has them, so a stray index in
     the generated code shows. */
  static const char *const extra[] = {"-fsanitize=address,undefined -fno-sanitize-recover=all", ""};
  char cmd[1024];
  char *output = NULL;
  int status = -1;
  for (size_t k = 0; k < sizeof extra / sizeof extra[0] && status != 0; k++) {
    free(output);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O1 -g -Wall -Wextra -Werror %s -o '%s/driver' '%s/driver.c' '%s/digits.c' -lm",
             extra[k], dir, dir, dir);
    status = sh(cmd, &output);
  }
  if (status != 0)
    fail_msg("the driver does not build:\n%s\n%s", cmd, output);
  free(output);
  snprintf(cmd, sizeof cmd, "'%s/driver'", dir);
  status = sh(cmd, &output);
  if (status != 0 || strcmp(output, "driver: ok\n") != 0)
    fail_msg("the digits driver failed (status %d):\n%s", status, output);
  free(output);
}

/* ---- deterministic output, its first two lines ---- */

static void same_files(const char *dir1, const char *dir2, const char *prefix) {
  static const char *const exts[] = {"h", "c"};
  for (int k = 0; k < 2; k++) {
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/%s.%s", dir1, prefix, exts[k]);
    snprintf(p2, sizeof p2, "%s/%s.%s", dir2, prefix, exts[k]);
    char *a = must_read(p1), *b = must_read(p2);
    if (strcmp(a, b) != 0)
      fail_msg("%s and %s differ: the output is not deterministic", p1, p2);
    free(a);
    free(b);
  }
}

static void output_is_deterministic(void **state) {
  list_examples();
  for (int i = 0; i < nexamples; i++)
    for (int v = 0; v < NVARIANTS; v++) {
      const char *first = emit_variant(state, i, v);
      const char *again = in_dir(state, "%s-%s-again", examples[i], variants[v].name);
      compile_ok(example_path(i), again, variants[v].flags);
      same_files(first, again, examples[i]);
    }
}

/* The hash on the second line of TEXT, 16 hex digits, into HASH[17]. */
static void hash_of(const char *text, char *hash) {
  int end = 0;
  if (sscanf(line_of(text, 2), "/* model hash %16[0-9a-f]; flags: %n", hash, &end) != 1 || end == 0 ||
      strlen(hash) != 16)
    fail_msg("no model hash on the second line: '%s'", line_of(text, 2));
}

static void header_lines(void **state) {
  static const struct {
    const char *flags[4];
    const char *prefix, *line2_flags;
  } cases[] = {
      {{NULL}, "neuron", "--prefix neuron"},
      {{"--double", NULL}, "neuron", "--prefix neuron --double"},
      {{"--prefix", "nn", NULL}, "nn", "--prefix nn"},
      {{"--prefix", "nn", "--double", NULL}, "nn", "--prefix nn --double"},
  };
  char hash[17] = "", first_hash[17] = "";
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const char *dir = in_dir(state, "case%zu", k);
    compile_ok("examples/neuron.net", dir, cases[k].flags);
    for (int e = 0; e < 2; e++) {
      char path[1100];
      snprintf(path, sizeof path, "%s/%s.%s", dir, cases[k].prefix, e ? "c" : "h");
      char *text = must_read(path);
      assert_string_equal(line_of(text, 1), "/* generated by netc " NETC_VERSION " from neuron.net; do not edit */");
      hash_of(text, hash);
      char want[256];
      snprintf(want, sizeof want, "/* model hash %s; flags: %s */", hash, cases[k].line2_flags);
      assert_string_equal(line_of(text, 2), want);
      /* The hash is the model's, whatever the flags. */
      if (!first_hash[0])
        strcpy(first_hash, hash);
      assert_string_equal(hash, first_hash);
      free(text);
    }
  }
}

/* TEXT, a model named neuron, written to NAME.net in the fixture and
   compiled: the hash in its .c file, into HASH[17]. */
static void hash_of_model(void **state, const char *name, const char *text, char *hash) {
  const char *model = in_dir(state, "%s.net", name);
  write_file(model, text);
  const char *dir = in_dir(state, "%s-out", name);
  compile_ok(model, dir, NULL);
  char path[1100];
  snprintf(path, sizeof path, "%s/neuron.c", dir);
  char *c = must_read(path);
  hash_of(c, hash);
  free(c);
}

static void hash_follows_the_text(void **state) {
  static const char model[] = "model neuron;\ninput x;\ntarget y;\nparam W = 0.5;\nparam b = 0;\n"
                              "z = W * x + b;\nloss (z - y)^2;\n";
  char base[17], same[17], comment[17], value[17];
  hash_of_model(state, "base", model, base);
  hash_of_model(state, "same", model, same);
  hash_of_model(state, "comment", "# a comment\nmodel neuron;\ninput x;\ntarget y;\nparam W = 0.5;\nparam b = 0;\n"
                "z = W * x + b;\nloss (z - y)^2;\n", comment);
  hash_of_model(state, "value", "model neuron;\ninput x;\ntarget y;\nparam W = 0.25;\nparam b = 0;\n"
                "z = W * x + b;\nloss (z - y)^2;\n", value);
  assert_string_equal(base, same);
  assert_string_not_equal(base, comment);
  assert_string_not_equal(base, value);
  assert_string_not_equal(comment, value);
}

/* ---- no template slot survives ---- */

static void no_slot_survives(void **state) {
  list_examples();
  for (int i = 0; i < nexamples; i++)
    for (int v = 0; v < NVARIANTS; v++) {
      const char *dir = emit_variant(state, i, v);
      for (int e = 0; e < 2; e++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/%s.%s", dir, examples[i], e ? "c" : "h");
        char *text = must_read(path);
        const char *slot = strstr(text, "{{");
        if (!slot)
          slot = strstr(text, "/*@@");
        if (slot)
          fail_msg("%s keeps a template slot: '%.40s'", path, slot);
        free(text);
      }
    }
}

/* ---- the header's API ---- */

static void assert_contains(const char *text, const char *what, const char *where) {
  if (!strstr(text, what))
    fail_msg("%s lacks '%s'", where, what);
}

static void assert_lacks(const char *text, const char *what, const char *where) {
  if (strstr(text, what))
    fail_msg("%s has '%s'", where, what);
}

/* The declarations every header has, with prefix P and type REAL. */
static void assert_api(const char *h, const char *P, const char *real, const char *where) {
  char want[256];
  static const char *const macros[] = {"NUM_PARAMS", "INPUT_SIZE", "TARGET_SIZE", "OUTPUT_SIZE",
                                       "NUM_PARAM_TENSORS"};
  for (size_t k = 0; k < sizeof macros / sizeof macros[0]; k++) {
    snprintf(want, sizeof want, "#define %s_%s ", P, macros[k]);
    assert_contains(h, want, where);
  }
  const char *decls[] = {
      "typedef %s %s_real;",
      "} %s_param_info;",
      "extern const %s_param_info %s_params[];",
      "size_t %s_workspace_size(int batch);",
      "void %s_init(%s_real *params, uint64_t seed);",
      "%s_real %s_forward(const %s_real *params, int batch, const %s_real *inputs,",
      "%s_real %s_grad(const %s_real *params, int batch, const %s_real *inputs,",
  };
  for (size_t k = 0; k < sizeof decls / sizeof decls[0]; k++) {
    if (k == 0)
      snprintf(want, sizeof want, decls[k], real, P);
    else
      snprintf(want, sizeof want, decls[k], P, P, P, P);
    assert_contains(h, want, where);
  }
  assert_contains(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n", where);
}

static void digits_header_api(void **state) {
  const char *dir = in_dir(state, "digits");
  compile_ok("examples/digits.net", dir, NULL);
  char *h = must_read(in_dir(state, "digits/digits.h"));
  assert_api(h, "digits", "float", "digits.h");
  assert_contains(h, "#define digits_NUM_PARAMS 2410\n", "digits.h");
  assert_contains(h, "#define digits_INPUT_SIZE 64\n", "digits.h");
  assert_contains(h, "#define digits_TARGET_SIZE 1\n", "digits.h");
  assert_contains(h, "#define digits_OUTPUT_SIZE 10\n", "digits.h");
  assert_contains(h, "#define digits_NUM_PARAM_TENSORS 4\n", "digits.h");
  assert_contains(h, "#ifndef DIGITS_H\n#define DIGITS_H\n", "digits.h");
  assert_lacks(h, "grad_inputs", "digits.h without --input-grads");
  char *c = must_read(in_dir(state, "digits/digits.c"));
  assert_lacks(c, "grad_inputs", "digits.c without --input-grads");
  assert_contains(c, "#include \"digits.h\"\n", "digits.c");
  free(h);
  free(c);

  compile_ok("examples/digits.net", in_dir(state, "double"), FLAGS("--double"));
  h = must_read(in_dir(state, "double/digits.h"));
  assert_api(h, "digits", "double", "digits.h with --double");
  free(h);
}

static void input_grads_api(void **state) {
  list_examples();
  for (int i = 0; i < nexamples; i++) {
    const char *dir = in_dir(state, "%s", examples[i]);
    compile_ok(example_path(i), dir, FLAGS("--input-grads"));
    char path[1100], want[256];
    snprintf(path, sizeof path, "%s/%s.h", dir, examples[i]);
    char *h = must_read(path);
    snprintf(want, sizeof want, "%s_real %s_grad_inputs(const %s_real *params, int batch, const %s_real *inputs,",
             examples[i], examples[i], examples[i], examples[i]);
    assert_contains(h, want, path);
    free(h);
    snprintf(path, sizeof path, "%s/%s.c", dir, examples[i]);
    char *c = must_read(path);
    snprintf(want, sizeof want, "real %s_grad_inputs(", examples[i]);
    assert_contains(c, want, path);
    free(c);
  }
}

static void prefix_renames_files_and_symbols(void **state) {
  const char *dir = in_dir(state, "out");
  compile_ok("examples/digits.net", dir, FLAGS("--prefix", "foo", "--input-grads"));
  assert_true(exists(in_dir(state, "out/foo.h")));
  assert_true(exists(in_dir(state, "out/foo.c")));
  assert_false(exists(in_dir(state, "out/digits.h")));
  assert_false(exists(in_dir(state, "out/digits.c")));
  char *h = must_read(in_dir(state, "out/foo.h"));
  char *c = must_read(in_dir(state, "out/foo.c"));
  assert_api(h, "foo", "float", "foo.h");
  assert_contains(h, "#define foo_NUM_PARAMS 2410\n", "foo.h");
  assert_contains(h, "#ifndef FOO_H\n#define FOO_H\n", "foo.h");
  assert_contains(h, "foo_real foo_grad_inputs(", "foo.h");
  assert_contains(c, "#include \"foo.h\"\n", "foo.c");
  assert_lacks(h, "digits_", "foo.h");
  assert_lacks(c, "digits_", "foo.c");
  assert_lacks(h, "DIGITS", "foo.h");
  free(h);
  free(c);
}

static void prefix_must_be_an_identifier(void **state) {
  static const char *const bad[] = {"1abc", "a-b", "", "foo.bar", "a b", "é"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    const char *dir = in_dir(state, "bad%zu", k);
    Run r = compile_to("examples/digits.net", dir, FLAGS("--prefix", bad[k]));
    char want[256];
    snprintf(want, sizeof want, "netc: error: the prefix '%s' is not a C identifier\nTry 'netc --help'.\n", bad[k]);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, want);
    assert_false(exists(dir));
    run_free(&r);
  }
  /* An underscore first, digits after the first character: fine. */
  compile_ok("examples/digits.net", in_dir(state, "good"), FLAGS("--prefix", "_n2"));
  assert_true(exists(in_dir(state, "good/_n2.c")));
}

/* ---- code size follows statements, not tensor sizes ---- */

/* The lines of m.c for TEXT, a model named m, compiled with FLAGS. */
static int lines_of_model(void **state, const char *name, const char *text, const char *const *flags) {
  const char *model = in_dir(state, "%s.net", name);
  write_file(model, text);
  const char *dir = in_dir(state, "%s-out", name);
  compile_ok(model, dir, flags);
  char path[1100];
  snprintf(path, sizeof path, "%s/m.c", dir);
  char *c = must_read(path);
  int n = count_lines(c);
  free(c);
  return n;
}

/* A loop's form may depend on its trip count (a dot product of 16 or more
   gets partial sums, a tail when its length is not a multiple of 8), so
   sizes may differ by a few lines per product; never by a line per element.
   A product whose matrix has 1024 elements or more runs over the batch in
   gemm(), whose fixed code the file then holds: sizes are compared on the
   same side of that line, small with small and large with large. */
enum { FORM_SLACK = 6 };

/* FORM with its layer's size N for %2$d and the input's 2N for %1$d. */
static char *model_text(const char *form, int n) {
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  fprintf(f, form, 2 * n, n);
  fclose(f);
  return text;
}

/* The lines of FORM at sizes N1 and N2, which must be within SLACK. */
static int compare_sizes(void **state, const char *form, int n1, int n2, int slack, const char *const *flags) {
  char *t1 = model_text(form, n1), *t2 = model_text(form, n2);
  int a = lines_of_model(state, "one", t1, flags), b = lines_of_model(state, "two", t2, flags);
  if (abs(a - b) > slack)
    fail_msg("[%d, %d] gives %d lines, [%d, %d] gives %d", n1, 2 * n1, a, n2, 2 * n2, b);
  free(t1), free(t2);
  return a;
}

static void size_follows_statements(void **state) {
  static const char one[] = "model m;\ninput x[%1$d];\nparam W[%2$d, %1$d];\nloss sum(W @ x);\n";
  static const char layers[] = "model m;\ninput x[%1$d];\ntarget t[%2$d];\nparam W[%2$d, %1$d];\nparam b[%2$d];\n"
                               "param V[%2$d, %2$d];\nh = tanh(W @ x + b);\nz = V @ h;\noutput p = softmax(z);\n"
                               "loss mse(z, t) + sum(relu(transpose(V) @ h)) + logsumexp(W);\n";
  for (int dbl = 0; dbl < 2; dbl++) {
    const char *const *flags = dbl ? FLAGS("--double", "--input-grads") : NULL;
    int small = compare_sizes(state, one, 5, 7, FORM_SLACK, flags);
    int large = compare_sizes(state, one, 50, 500, FORM_SLACK, flags);
    int small2 = compare_sizes(state, layers, 5, 7, 2 * FORM_SLACK, flags);
    int large2 = compare_sizes(state, layers, 40, 500, 2 * FORM_SLACK, flags);
    /* More statements, more lines; gemm()'s fixed code once where it is used. */
    assert_true(small2 > small);
    assert_true(large2 > large);
    assert_true(large > small);
  }
}

/* ---- --stats ---- */

static void stats_counts_the_c_file(void **state) {
  list_examples();
  for (int i = 0; i < nexamples; i++) {
    size_t bytes[2] = {0, 0};
    for (int dbl = 0; dbl < 2; dbl++) {
      const char *dir = in_dir(state, "%s-%d", examples[i], dbl);
      /* one at a time: in lanes a float build also copies the inputs into the workspace */
      Run r = compile_to(example_path(i), dir, dbl ? FLAGS("--stats", "--double") : FLAGS("--stats", "--lanes", "1"));
      assert_int_equal(r.status, 0);
      assert_string_equal(r.err, "");
      int lines = -1, temporaries = -1, end = 0;
      if (sscanf(r.out, "%d lines, %d temporaries, %zu workspace bytes per example%n", &lines, &temporaries,
                 &bytes[dbl], &end) != 3 ||
          strcmp(r.out + end, "\n") != 0)
        fail_msg("--stats printed '%s'", r.out);
      char path[1100];
      snprintf(path, sizeof path, "%s/%s.c", dir, examples[i]);
      char *c = must_read(path);
      if (lines != count_lines(c))
        fail_msg("%s: --stats says %d lines, the file has %d", path, lines, count_lines(c));
      assert_true(temporaries >= 0);
      free(c);
      run_free(&r);
    }
    /* The same values, twice the bytes each. */
    assert_int_equal(bytes[1], 2 * bytes[0]);
  }
}

/* A file name that C would choke on in a comment or a string (a star
   and a slash, a quote, a percent sign) is quoted with those characters
   replaced; the files compile. */
static void odd_source_name(void **state) {
  const char *model = in_dir(state, "we\"ird%%s*.net");
  write_file(model, "model odd;\ninput x;\ntarget y;\nparam w;\nloss (w * x - y)^2;\n");
  const char *dir = in_dir(state, "odd");
  const char *args[] = {"trainer", model, "-o", dir, NULL};
  Run r = run_netc(args);
  assert_int_equal(r.status, 0);
  run_free(&r);
  char path[1100];
  snprintf(path, sizeof path, "%s/odd.c", dir);
  char *text = must_read(path);
  assert_string_equal(line_of(text, 1), "/* generated by netc " NETC_VERSION " from we_ird_s_.net; do not edit */");
  free(text);
  char cmd[1400], *output;
  snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Werror -c -o '%s/t.o' '%s/odd_train.c' 2>&1", dir, dir);
  if (sh(cmd, &output) != 0)
    fail_msg("%s\n%s", cmd, output);
  free(output);
}

/* netc trainer takes compile's flags: --stats reports the same model. */
static void trainer_stats_match_compile(void **state) {
  const char *dir = in_dir(state, "stats-compile");
  Run c = compile_to("examples/iris.net", dir, FLAGS("--stats"));
  const char *tdir = in_dir(state, "stats-trainer");
  const char *args[] = {"trainer", "examples/iris.net", "-o", tdir, "--stats", NULL};
  Run t = run_netc(args);
  assert_int_equal(c.status, 0);
  assert_int_equal(t.status, 0);
  assert_string_equal(t.out, c.out);
  run_free(&c);
  run_free(&t);
}

/* ---- errors ---- */

#define TRY_HELP "Try 'netc --help'.\n"

static void assert_run(const Run *r, int status, const char *out, const char *err) {
  if (r->status != status || strcmp(r->out, out) != 0 || strcmp(r->err, err) != 0)
    fail_msg("exit %d, expected %d\n--- stdout\n%s--- expected\n%s--- stderr\n%s--- expected\n%s---", r->status,
             status, r->out, out, r->err, err);
}

static void compile_needs_an_output_folder(void **state) {
  (void)state;
  Run r = run_netc((const char *const[]){"compile", "examples/digits.net", NULL});
  assert_run(&r, 2, "", "netc: error: 'compile' needs an output folder: -o DIR\n" TRY_HELP);
  run_free(&r);
  r = run_netc((const char *const[]){"compile", "examples/digits.net", "-o", NULL});
  assert_run(&r, 2, "", "netc: error: '-o' needs a value\n" TRY_HELP);
  run_free(&r);
}

static void impossible_output_folder(void **state) {
  Run r = compile_to("examples/digits.net", "/proc/netc-x", NULL);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_non_null(strstr(r.err, "netc: error: cannot create '/proc/netc-x': "));
  run_free(&r);

  /* A folder under one that does not exist. */
  const char *nested = in_dir(state, "no/such/folder");
  r = compile_to("examples/digits.net", nested, NULL);
  assert_int_equal(r.status, 1);
  char want[1100];
  snprintf(want, sizeof want, "netc: error: cannot create '%s': ", nested);
  assert_non_null(strstr(r.err, want));
  run_free(&r);

  /* A file where the folder should be. */
  const char *file = in_dir(state, "file");
  write_file(file, "not a folder\n");
  r = compile_to("examples/digits.net", file, NULL);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.out, "");
  assert_non_null(strstr(r.err, "netc: error: cannot "));
  assert_non_null(strstr(r.err, file));
  run_free(&r);
}

static void model_with_errors_writes_nothing(void **state) {
  const char *model = in_dir(state, "bad.net");
  write_file(model, "model bad;\ninput x[3];\nparam W[2, 3];\nloss sum(W @ y);\n");
  const char *dir = in_dir(state, "out");
  Run r = compile_to(model, dir, NULL);
  char want[1200];
  snprintf(want, sizeof want, "%s:4:14: error: unknown name 'y'\nloss sum(W @ y);\n             ^\n", model);
  assert_run(&r, 1, "", want);
  assert_false(exists(dir));
  run_free(&r);

  /* Into a folder that exists: still nothing. */
  assert_int_equal(mkdir(dir, 0777), 0);
  r = compile_to(model, dir, FLAGS("--stats"));
  assert_run(&r, 1, "", want);
  assert_false(exists(in_dir(state, "out/bad.h")));
  assert_false(exists(in_dir(state, "out/bad.c")));
  run_free(&r);

  /* A syntax error. */
  write_file(model, "model bad;\nloss 1 +;\n");
  r = compile_to(model, dir, NULL);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, ":2:9: error: expected an expression, found ';'"));
  assert_false(exists(in_dir(state, "out/bad.h")));
  run_free(&r);
}

static void compile_usage_errors(void **state) {
  const char *dir = in_dir(state, "out");
  Run r = compile_to("examples/digits.net", dir, FLAGS("--frob"));
  assert_run(&r, 2, "", "netc: error: unknown option '--frob'\n" TRY_HELP);
  run_free(&r);
  r = compile_to("examples/digits.net", dir, FLAGS("--tol", "1"));
  assert_run(&r, 2, "", "netc: error: 'compile' does not take the option '--tol'\n" TRY_HELP);
  run_free(&r);
  r = compile_to("examples/digits.net", dir, FLAGS("--seed", "1"));
  assert_run(&r, 2, "", "netc: error: 'compile' does not take the option '--seed'\n" TRY_HELP);
  run_free(&r);
  r = compile_to("examples/digits.net", dir, FLAGS("--prefix"));
  assert_run(&r, 2, "", "netc: error: '--prefix' needs a value\n" TRY_HELP);
  run_free(&r);
  static const char *const bad_threads[] = {"0", "257", "1.5", "-2", "two"};
  for (size_t k = 0; k < sizeof bad_threads / sizeof *bad_threads; k++) {
    r = compile_to("examples/digits.net", dir, FLAGS("--threads", bad_threads[k]));
    char want[200];
    if (strcmp(bad_threads[k], "two") == 0)
      snprintf(want, sizeof want, "netc: error: '--threads' needs a number, got 'two'\n" TRY_HELP);
    else
      snprintf(want, sizeof want, "netc: error: '--threads' must be an integer from 1 to 256, got '%s'\n" TRY_HELP,
               bad_threads[k]);
    assert_run(&r, 2, "", want);
    run_free(&r);
  }
  r = compile_to("examples/digits.net", dir, FLAGS("--threads"));
  assert_run(&r, 2, "", "netc: error: '--threads' needs a value\n" TRY_HELP);
  run_free(&r);
  static const char *const bad_lanes[] = {"0", "65", "2.5", "-8"};
  for (size_t k = 0; k < sizeof bad_lanes / sizeof *bad_lanes; k++) {
    r = compile_to("examples/xor.net", dir, FLAGS("--lanes", bad_lanes[k]));
    char want[200];
    snprintf(want, sizeof want, "netc: error: '--lanes' must be an integer from 1 to 64, got '%s'\n" TRY_HELP,
             bad_lanes[k]);
    assert_run(&r, 2, "", want);
    run_free(&r);
  }
  r = compile_to("examples/xor.net", dir, FLAGS("--lanes", "eight"));
  assert_run(&r, 2, "", "netc: error: '--lanes' needs a number, got 'eight'\n" TRY_HELP);
  run_free(&r);
  r = run_netc((const char *const[]){"gradcheck", "examples/xor.net", "--lanes", "2", NULL});
  assert_run(&r, 2, "", "netc: error: 'gradcheck' does not take the option '--lanes'\n" TRY_HELP);
  run_free(&r);
  r = run_netc((const char *const[]){"gradcheck", "examples/digits.net", "--blas", NULL});
  assert_run(&r, 2, "", "netc: error: 'gradcheck' does not take the option '--blas'\n" TRY_HELP);
  run_free(&r);
  /* The options of compile, given to other commands. */
  r = run_netc((const char *const[]){"grad", "examples/digits.net", "--double", NULL});
  assert_run(&r, 2, "", "netc: error: 'grad' does not take the option '--double'\n" TRY_HELP);
  run_free(&r);
  r = run_netc((const char *const[]){"check", "examples/digits.net", "-o", dir, NULL});
  assert_run(&r, 2, "", "netc: error: 'check' does not take the option '-o'\n" TRY_HELP);
  run_free(&r);
  assert_false(exists(dir));
}

/* ---- generated/ ---- */

static void generated_is_up_to_date(void **state) {
  list_examples();
  for (int i = 0; i < nexamples; i++) {
    const char *dir = in_dir(state, "%s", examples[i]);
    compile_ok(example_path(i), dir, NULL);
    for (int e = 0; e < 2; e++) {
      char fresh[1100], kept[256];
      snprintf(fresh, sizeof fresh, "%s/%s.%s", dir, examples[i], e ? "c" : "h");
      snprintf(kept, sizeof kept, "generated/%s/%s.%s", examples[i], examples[i], e ? "c" : "h");
      char *a = must_read(fresh), *b = slurp(kept);
      if (!b || strcmp(a, b) != 0)
        fail_msg("%s %s: generated/ is stale: run make generated", kept, b ? "differs" : "is missing");
      free(a);
      free(b);
    }
  }
}

/* ---- names ---- */

/* A model's names that are macros of the headers the generated code
   includes ('I', 'INFINITY', 'UINT64_MAX', g++'s 'M_PI', ...), of the
   headers of gemm() (immintrin.h brings stdlib.h's 'RAND_MAX', OpenBLAS's
   cblas.h complex.h's 'I' and stdio.h's 'EOF'), names the generated code
   uses itself, or reserved to C ('_X') are renamed or never meet those
   macros, so the file still compiles: with one example at a time, and
   with a product over the batch built with AVX2, OpenMP and CBLAS. */
static void names_that_are_header_macros(void **state) {
  static const char *const names[] = {
      "I",        "complex", "INFINITY",     "HUGE_VAL", "FP_NAN", "UINT64_MAX", "SIZE_MAX", "M_PI",
      "_Complex_I", "__x",   "isnan",        "expf",     "NULL",   "int",        "acc",      "t3",
      "RAND_MAX", "EOF",     "EXIT_FAILURE", "BUFSIZ",   "xdouble", "SEEK_SET",  "WS_SIZE",  "GEMM_MR",
      "nc_expf",  "nc_relu", "pack",         "gemm",     "batch",  "update",     "forward_1", "add_gradients_1"};
  static const char *const forms[] = {
      "model m;\ninput %s[3];\ntarget y;\nparam w[3];\nv = dot(w, %s);\nloss (v - y)^2;\n",
      "model m;\ninput x[40];\ntarget y[32];\nparam W[32, 40];\n%s = tanh(W @ x);\nloss mse(%s, y);\n",
  };
  static const char *const compilers[][2] = {{"gcc", C_FLAGS " -march=native" GCC_OMP},
                                             {"g++", CXX_FLAGS " -march=native" GCC_OMP}};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    for (int f = 0; f < 2; f++) {
      char text[256];
      snprintf(text, sizeof text, forms[f], names[k], names[k]);
      const char *model = in_dir(state, "m%zu-%d.net", k, f);
      write_file(model, text);
      const char *dir = in_dir(state, "m%zu-%d", k, f);
      compile_ok(model, dir, f ? FLAGS("--input-grads", "--blas", "--threads", "2") : FLAGS("--input-grads"));
      for (int c = 0; c < 2; c++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "%s %s -o '%s/m.o' '%s/m.c'", compilers[c][0], compilers[c][1], dir, dir);
        char *output;
        int status = sh(cmd, &output);
        if (status != 0)
          fail_msg("a model naming '%s' does not compile:\n%s\n%s", names[k], cmd, output);
        free(output);
      }
    }
  /* and the names of the loops in lanes, flat ones ('s') among them */
  static const char *const lane_names[] = {"s", "l", "i", "total", "acc"};
  for (size_t k = 0; k < sizeof lane_names / sizeof lane_names[0]; k++) {
    char text[256];
    snprintf(text, sizeof text, "model m;\ninput x[2];\ntarget y;\nparam W[4, 2];\nparam %s[4];\nh = tanh(W @ x + %s);\n"
             "loss (sum(h) - y)^2;\n",
             lane_names[k], lane_names[k]);
    const char *model = in_dir(state, "lanes%zu.net", k);
    write_file(model, text);
    const char *dir = in_dir(state, "lanes%zu", k);
    compile_ok(model, dir, FLAGS("--input-grads", "--lanes", "4"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gcc %s -O3 -march=native -o '%s/m.o' '%s/m.c'", C_FLAGS, dir, dir);
    char *output;
    if (sh(cmd, &output) != 0)
      fail_msg("a model in lanes naming '%s' does not compile:\n%s\n%s", lane_names[k], cmd, output);
    free(output);
  }
}

/* ---- segments ---- */

/* The text of the function NAME in C, from its line to its closing brace. */
static char *function_text(const char *c, const char *name) {
  const char *start = strstr(c, name);
  assert_non_null(start);
  const char *end = strstr(start, "\n}\n");
  assert_non_null(end);
  return strndup(start, (size_t)(end - start));
}

/* Forty small layers and no product over the batch: the per-example code
   is cut every 32 loop nests, and s0, made in the first segment and read
   in the second, goes through the workspace. (tests/gradcheck runs the
   same model, so its gradients are checked too.) */
static void long_runs_are_cut_into_segments(void **state) {
  const char *dir = in_dir(state, "chain");
  compile_ok("tests/gradcheck/long_chain.net", dir, NULL);
  char *c = must_read(in_dir(state, "chain/long_chain.c"));
  assert_non_null(strstr(c, "static void forward_2("));
  assert_non_null(strstr(c, "static void backward_2("));
  assert_lacks(c, "gemm(", "long_chain.c");
  char *first = function_text(c, "static void forward_1("), *second = function_text(c, "static void forward_2(");
  assert_contains(first, "] = s0;\n", "forward_1");      /* kept in ws */
  assert_contains(second, "const real s0 = ws[", "forward_2"); /* read back */
  assert_contains(second, "0.1f * s0", "forward_2");
  free(first), free(second);
  free(c);
  compile_ok("tests/gradcheck/long_chain.net", dir, FLAGS("--lanes", "8"));
  c = must_read(in_dir(state, "chain/long_chain.c"));
  /* the same with lanes: s0 has a real per lane, in ws and back */
  first = function_text(c, "static void forward_1_lanes("), second = function_text(c, "static void forward_2_lanes(");
  assert_contains(first, " + l] = s0[l];\n", "forward_1_lanes");
  assert_contains(second, "const real *s0 = ws + ", "forward_2_lanes");
  assert_contains(second, "0.1f * s0[l]", "forward_2_lanes");
  free(first), free(second), free(c);
}

/* A model of many segments keeps them functions (NC_NOINLINE), as it
   does the steps of its passes and the last segment's additions into
   the gradients, so that the C compiler's time stays linear in the
   model; a model of few lets the compiler inline them. */
static void many_segments_stay_functions(void **state) {
  const char *dir = in_dir(state, "apart");
  compile_ok("tests/models/many_layers.net", dir, FLAGS("--prefix", "m"));
  char *c = must_read(in_dir(state, "apart/m.c"));
  assert_contains(c, "NC_NOINLINE static void forward_1(", "many_layers");
  assert_contains(c, "NC_NOINLINE static void backward_1(", "many_layers");
  assert_contains(c, "NC_NOINLINE static real forward_steps_1(", "many_layers");
  /* its 40 biases' gradients: added by the last segment in two calls, 32 and 8 */
  assert_contains(c, "NC_NOINLINE static void add_gradients_2(", "many_layers");
  assert_contains(c, "  add_gradients_1(params, in, tg, ws, grads);\n  add_gradients_2(params, in, tg, ws, grads);\n",
                  "many_layers");
  assert_lacks(c, "add_gradients_3", "many_layers");
  free(c);
  compile_ok("tests/gradcheck/long_chain.net", dir, FLAGS("--prefix", "m", "--lanes", "1"));
  c = must_read(in_dir(state, "apart/m.c"));
  assert_contains(c, "\nstatic void forward_1(", "long_chain");
  assert_lacks(c, "NC_NOINLINE static", "long_chain");
  free(c);
}

/* gemm() finishes relu(W @ x), W @ x + b and relu(b + W @ x): no
   per-example loop is left for them, only the loss's. */
static void products_finished_by_gemm(void **state) {
  const char *dir = in_dir(state, "epilogue");
  compile_ok("tests/gradcheck/epilogue.net", dir, NULL);
  char *c = must_read(in_dir(state, "epilogue/epilogue.c"));
  assert_contains(c, "into h1, then relu */", "epilogue.c");
  assert_contains(c, "into h2, then + b2 */", "epilogue.c");
  assert_contains(c, "into h3, then + b3 and relu */", "epilogue.c");
  assert_contains(c, "params + 912, 1, pack);", "epilogue.c"); /* b3 and relu */
  assert_contains(c, "static real forward_1(", "epilogue.c"); /* the loss */
  assert_lacks(c, "static void forward_", "epilogue.c");
  free(c);
}

/* With --lanes, a model without products over the batch gets its
   segments for lanes too, which run a batch's whole groups, and the
   examples left over run one at a time; by default too, in float, 4 at
   a time where gcc compiles it; with --lanes 1, in double, or with
   products, it runs one example at a time. */
static void lanes_where_nothing_runs_over_the_batch(void **state) {
  const char *dir = in_dir(state, "xor");
  compile_ok("examples/xor.net", dir, FLAGS("--lanes", "8"));
  char *c = must_read(in_dir(state, "xor/xor.c"));
  assert_contains(c, "#define NC_LANES 8\n#define NC_IN_SLOT", "xor.c");
  assert_contains(c, "#define NC_IN_SIZE 2\n#define NC_TG_SIZE 1\n#define NC_IN_LANES 1\n", "xor.c"); /* any compiler */
  assert_contains(c, "NC_NOINLINE static void forward_1_lanes(", "xor.c");
  assert_contains(c, "NC_NOINLINE static void forward_1(", "xor.c"); /* both forms stay functions */
  /* the product lane by lane, then its tanh over all 32 elements at once, without branches */
  assert_contains(c, "h[i * 8 + l] = acc[l];", "xor.c");
  assert_contains(c, "for (int s = 0; s < 32; s++)\n    h[s] = nc_tanhf_lanes(h[s] + b1[s / 8]);", "xor.c");
  assert_contains(c, "h[i] = nc_tanhf(acc + b1[i]);", "xor.c"); /* one at a time, with them */
  assert_contains(c, "#define NC_USES_TANHF\n#define NC_USES_TANHF_LANES\n", "xor.c");
  /* sigmoid calls exp: a helper for each form */
  assert_contains(c, "static inline real nc_sigmoid(real a) { return nc_pick(a >= 0, 1, nc_expf(", "xor.c");
  assert_contains(c, "static inline real nc_sigmoid_lanes(real a) { return nc_pick(a >= 0, 1, nc_expf_lanes(", "xor.c");
  assert_contains(c, "p[l] = nc_sigmoid_lanes(t8[l] + b2);", "xor.c");
  assert_contains(c, "db1_ex[s] = db2_ex[s % 8] * W2[s / 8] * (1.0f - h[s] * h[s]);", "xor.c"); /* a scalar per lane */
  assert_contains(c, "for (int l = 0; l < 8; l++) {\n        dW1[", "xor.c"); /* sums over examples, every lane one */
  /* whole groups in lanes, the examples left over one at a time */
  assert_contains(c, "static int whole_groups(int batch) { return NC_IN_LANES ? batch - batch % NC_LANES : 0; }",
                  "xor.c");
  assert_contains(c, "for (int b = 0; b < whole_groups(batch); b += NC_LANES)\n    forward_1_lanes(", "xor.c");
  assert_contains(c, "for (int b = whole_groups(batch); b < batch; b++)\n    forward_1(", "xor.c");
  assert_contains(c, "real *ws) {\n  real total = 0;\n  for (int b = 0; b < whole_groups(batch); b += NC_LANES)\n    load_lanes(",
                  "xor.c"); /* forward() itself runs the groups */
  assert_lacks(c, "int live", "xor.c");
  assert_lacks(c, "live_lanes", "xor.c");
  free(c);
  compile_ok("examples/xor.net", dir, FLAGS("--double", "--lanes", "4"));
  c = must_read(in_dir(state, "xor/xor.c"));
  assert_contains(c, "#define NC_LANES 4\n", "xor.c, --double");
  assert_lacks(c, "_lanes(real a)", "xor.c, --double"); /* libm's exp in both forms: one helper */
  free(c);
  compile_ok("examples/xor.net", dir, NULL);
  c = must_read(in_dir(state, "xor/xor.c"));
  assert_contains(c, "#define NC_LANES 4\n", "xor.c, by default");
  assert_contains(c, "#ifndef NC_IN_LANES\n#if defined(__GNUC__) && !defined(__clang__)\n#define NC_IN_LANES 1\n#else\n"
                     "#define NC_IN_LANES 0\n#endif\n#endif\n",
                  "xor.c, by default"); /* lanes where gcc compiles it */
  free(c);
  const char *each[][2] = {{"--lanes", "1"}, {"--double", NULL}};
  for (int k = 0; k < 2; k++) {
    compile_ok("examples/xor.net", dir, FLAGS(each[k][0], each[k][1]));
    c = must_read(in_dir(state, "xor/xor.c"));
    assert_lacks(c, "forward_1_lanes(", each[k][0]);
    assert_lacks(c, "whole_groups(", each[k][0]);
    assert_lacks(c, "#define NC_LANES", each[k][0]); /* the template's lane helpers stay out */
    assert_lacks(c, "#define NC_USES_TANHF_LANES", each[k][0]);
    assert_lacks(c, "_lanes(real a)", each[k][0]); /* sigmoid: one helper */
    assert_lacks(c, "NC_NOINLINE static", each[k][0]);
    free(c);
  }
  const char *digits = in_dir(state, "digits");
  compile_ok("examples/digits.net", digits, FLAGS("--lanes", "8"));
  c = must_read(in_dir(state, "digits/digits.c"));
  assert_contains(c, "gemm(", "digits.c");
  assert_lacks(c, "forward_1_lanes(", "digits.c");
  assert_lacks(c, "#define NC_LANES", "digits.c");
  free(c);
}

int main(void) {
  const struct CMUnitTest compilers[] = {
      TEST(examples_compile_with_gcc),
      TEST(examples_compile_with_clang),
      TEST(examples_compile_with_avx2),
      TEST(products_compile_with_gcc_O3_native),
      TEST(partial_templates_compile),
      TEST(examples_compile_as_cpp),
      TEST(digits_driver_runs),
  };
  const struct CMUnitTest output[] = {
      TEST(output_is_deterministic),
      TEST(header_lines),
      TEST(hash_follows_the_text),
      TEST(no_slot_survives),
      TEST(digits_header_api),
      TEST(input_grads_api),
      TEST(prefix_renames_files_and_symbols),
      TEST(prefix_must_be_an_identifier),
      TEST(size_follows_statements),
      TEST(stats_counts_the_c_file),
      TEST(trainer_stats_match_compile),
      TEST(odd_source_name),
      TEST(generated_is_up_to_date),
  };
  const struct CMUnitTest errors[] = {
      TEST(compile_needs_an_output_folder),
      TEST(impossible_output_folder),
      TEST(model_with_errors_writes_nothing),
      TEST(compile_usage_errors),
  };
  int failed = 0;
  failed += cmocka_run_group_tests_name("emit: compiling the output", compilers, NULL, NULL);
  failed += cmocka_run_group_tests_name("emit: the output", output, NULL, NULL);
  failed += cmocka_run_group_tests_name("emit: errors", errors, NULL, NULL);
  const struct CMUnitTest names[] = {
      TEST(names_that_are_header_macros),
  };
  failed += cmocka_run_group_tests_name("emit: names", names, NULL, NULL);
  const struct CMUnitTest segments[] = {
      TEST(long_runs_are_cut_into_segments),
      TEST(many_segments_stay_functions),
      TEST(lanes_where_nothing_runs_over_the_batch),
      TEST(products_finished_by_gemm),
  };
  failed += cmocka_run_group_tests_name("emit: segments", segments, NULL, NULL);
  return failed;
}
