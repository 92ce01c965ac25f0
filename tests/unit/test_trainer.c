/* test_trainer.c: the training programs 'netc trainer' writes. Each
   example model's trainer is generated in-process into a temporary folder,
   built there with make (warnings as errors), and run as a user runs it:
   end to end on the example data sets, each optimizer against a step
   computed by hand, the weights file (round trips, damaged files), every
   bad CSV, exact reproducibility and resumption, divergence, early
   stopping, standardization, schedules and the command line. */
#include "harness.h"

#include <math.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  char root[256];          /* the temporary folder: one subfolder per trainer */
  char iris[1024];         /* examples/data/iris.csv, absolute */
  char digits[1024];       /* examples/data/digits.csv */
  char dirs[64][1024];     /* the trainers' folders, ROOT/NAME */
  int ndirs;
} Fixture;

static Fixture fx;

/* ---- files and commands ---- */

static char *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t n = 0;
  FILE *mem = open_memstream(&buf, &n);
  int ch;
  while ((ch = fgetc(f)) != EOF)
    fputc(ch, mem);
  fclose(mem);
  fclose(f);
  if (size)
    *size = n;
  return buf;
}

static void write_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* DIR/NAME in a static buffer (one of a few, so two may be used at once). */
static const char *path_in(const char *dir, const char *name) {
  static char bufs[4][1024];
  static int next;
  char *p = bufs[next++ % 4];
  snprintf(p, 1024, "%s/%s", dir, name);
  return p;
}

/* ROOT/NAME, the folder of trainer NAME: the same pointer for a name. */
static const char *trainer(const char *name) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", fx.root, name);
  for (int i = 0; i < fx.ndirs; i++)
    if (strcmp(fx.dirs[i], dir) == 0)
      return fx.dirs[i];
  assert_true(fx.ndirs < 64);
  snprintf(fx.dirs[fx.ndirs], sizeof fx.dirs[0], "%s", dir);
  return fx.dirs[fx.ndirs++];
}

/* What a command printed, and its exit status. */
typedef struct {
  int status;
  char *out, *err;
} Output;

static void output_free(Output *o) {
  free(o->out);
  free(o->err);
}

/* Runs a shell command (printf-style) in DIR, capturing its output. */
static Output run_in(const char *dir, const char *fmt, ...) {
  char cmd[4096], full[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "cd '%s' && (%s) >out.txt 2>err.txt", dir, cmd);
  int st = system(full);
  Output o;
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  o.out = slurp(path_in(dir, "out.txt"), NULL);
  o.err = slurp(path_in(dir, "err.txt"), NULL);
  assert_non_null(o.out);
  assert_non_null(o.err);
  return o;
}

static void expect_contains(const char *text, const char *needle) {
  if (!strstr(text, needle))
    fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static void expect_status(const Output *o, int status) {
  if (o->status != status)
    fail_msg("exit status %d, expected %d\nstdout:\n%s\nstderr:\n%s", o->status, status, o->out, o->err);
}

static bool same_file(const char *a, const char *b) {
  size_t na, nb;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  assert_non_null(x);
  assert_non_null(y);
  bool same = na == nb && memcmp(x, y, na) == 0;
  free(x);
  free(y);
  return same;
}

/* ---- building trainers ---- */

static int setup(void **state) {
  (void)state;
  /* The trainers' Makefiles are not the one running these tests. */
  unsetenv("MAKEFLAGS");
  unsetenv("MFLAGS");
  unsetenv("MAKELEVEL");
  char cwd[900];
  if (!getcwd(cwd, sizeof cwd))
    return -1;
  snprintf(fx.iris, sizeof fx.iris, "%s/examples/data/iris.csv", cwd);
  snprintf(fx.digits, sizeof fx.digits, "%s/examples/data/digits.csv", cwd);
  snprintf(fx.root, sizeof fx.root, "/tmp/netc-trainer-XXXXXX");
  if (!mkdtemp(fx.root))
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.root);
  return system(cmd) == 0 ? 0 : -1;
}

/* The trainers the tests run, built with their Makefiles and cc; then
   what else must compile warning-free: the trainer alone (-c; the model's
   C is tested elsewhere) with gcc in double where the runs are float, and
   with clang in both. The digits trainer differs from the iris one only in
   its constants. */
typedef struct {
  const char *name, *model;
  bool dbl;
  const char *cc;
  bool run; /* built with its Makefile, to be run */
} Build;

static const Build builds[] = {
    {"neuron", "neuron", false, "cc", true},
    {"neuron_double", "neuron", true, "cc", true},
    {"xor", "xor", false, "cc", true},
    {"iris", "iris", false, "cc", true},
    {"iris_double", "iris", true, "cc", true},
    {"digits", "digits", false, "cc", true},
    {"gcc_xor_double", "xor", true, "gcc", false},
    {"clang_neuron", "neuron", false, "clang", false},
    {"clang_neuron_double", "neuron", true, "clang", false},
    {"clang_xor", "xor", false, "clang", false},
    {"clang_xor_double", "xor", true, "clang", false},
    {"clang_iris", "iris", false, "clang", false},
    {"clang_iris_double", "iris", true, "clang", false},
};
enum { NUM_BUILDS = sizeof builds / sizeof builds[0] };

#define STRICT "-std=c99 -O2 -Wall -Wextra -pedantic -Werror"

/* Generates every trainer with netc in-process, then compiles them all at
   once, in parallel: compiling is most of this suite's time. No template
   slot may survive into the source. */
static void build_all(void **state) {
  (void)state;
  bool have[2] = {system("command -v gcc >/dev/null 2>&1") == 0, system("command -v clang >/dev/null 2>&1") == 0};
  char script[16384] = "";
  size_t len = 0;
  for (int i = 0; i < NUM_BUILDS; i++) {
    const Build *b = &builds[i];
    if ((strcmp(b->cc, "gcc") == 0 && !have[0]) || (strcmp(b->cc, "clang") == 0 && !have[1]))
      continue;
    const char *dir = trainer(b->name);
    char model[64], src[128];
    snprintf(model, sizeof model, "examples/%s.net", b->model);
    snprintf(src, sizeof src, "%s_train.c", b->model);
    const char *args[] = {"trainer", model, "-o", dir, b->dbl ? "--double" : NULL, NULL};
    Run r = run_netc(args);
    if (r.status != 0)
      fail_msg("netc trainer %s: %s", model, r.err);
    run_free(&r);
    char *text = slurp(path_in(dir, src), NULL);
    assert_non_null(text);
    assert_null(strstr(text, "{{"));
    assert_null(strstr(text, "/*@@"));
    free(text);
    if (b->run)
      len += (size_t)snprintf(script + len, sizeof script - len,
                              "(cd '%s' && make CC=%s CFLAGS='-O2 -Wall -Wextra -pedantic -Werror' >build.log 2>&1 "
                              "|| echo failed >build.failed) &\n",
                              dir, b->cc);
    else
      len += (size_t)snprintf(script + len, sizeof script - len,
                              "(cd '%s' && %s " STRICT " -c %s -o /dev/null >build.log 2>&1 "
                              "|| echo failed >build.failed) &\n",
                              dir, b->cc, src);
    assert_true(len < sizeof script);
  }
  snprintf(script + len, sizeof script - len, "wait\n");
  assert_int_equal(system(script), 0);
  for (int i = 0; i < NUM_BUILDS; i++) {
    const char *dir = trainer(builds[i].name);
    if (access(path_in(dir, "build.failed"), F_OK) == 0) {
      char *log = slurp(path_in(dir, "build.log"), NULL);
      fail_msg("building %s with %s failed:\n%s", builds[i].name, builds[i].cc, log ? log : "");
    }
  }
}

/* ---- reading what a trainer wrote ---- */

/* A weights file, as docs/weights.md lays it out. */
typedef struct {
  uint32_t version, real_size, optimizer, standardized;
  uint64_t hash, nparams, ninputs, epochs, seed, rng, t;
  double mean[64], std[64];
  double params[4096];
  size_t size;
} Weights;

static uint64_t le(const unsigned char *p, int n) {
  uint64_t x = 0;
  for (int k = 0; k < n; k++)
    x |= (uint64_t)p[k] << (8 * k);
  return x;
}

static double real_at(const unsigned char *p, uint32_t real_size) {
  if (real_size == 4) {
    uint32_t u = (uint32_t)le(p, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  uint64_t u = le(p, 8);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* CRC-32 (IEEE), bit by bit: an implementation independent of the trainer's. */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (c & 1 ? 0xedb88320u : 0);
  }
  return ~c;
}

static Weights read_weights(const char *path) {
  size_t size;
  unsigned char *b = (unsigned char *)slurp(path, &size);
  if (!b)
    fail_msg("cannot read '%s'", path);
  Weights w;
  memset(&w, 0, sizeof w);
  assert_true(size >= 84);
  assert_memory_equal(b, "NETCWTS", 8);
  w.size = size;
  w.version = (uint32_t)le(b + 8, 4);
  w.real_size = (uint32_t)le(b + 12, 4);
  w.hash = le(b + 16, 8);
  w.nparams = le(b + 24, 8);
  w.ninputs = le(b + 32, 8);
  w.epochs = le(b + 40, 8);
  w.seed = le(b + 48, 8);
  w.rng = le(b + 56, 8);
  w.optimizer = (uint32_t)le(b + 64, 4);
  w.standardized = (uint32_t)le(b + 68, 4);
  w.t = le(b + 72, 8);
  assert_true(w.nparams <= 4096 && w.ninputs <= 64);
  size_t pos = 80;
  if (w.standardized) {
    for (uint64_t j = 0; j < w.ninputs; j++, pos += 8)
      w.mean[j] = real_at(b + pos, 8);
    for (uint64_t j = 0; j < w.ninputs; j++, pos += 8)
      w.std[j] = real_at(b + pos, 8);
  }
  for (uint64_t i = 0; i < w.nparams; i++, pos += w.real_size)
    w.params[i] = real_at(b + pos, w.real_size);
  size_t buffers = w.optimizer == 1 ? 1 : 2;
  assert_int_equal(size, pos + buffers * w.nparams * w.real_size + 4);
  assert_int_equal(le(b + size - 4, 4), crc32_of(b, size - 4));
  free(b);
  return w;
}

static void assert_close(double actual, double expected, double tol) {
  if (!(fabs(actual - expected) <= tol))
    fail_msg("%.17g differs from %.17g by more than %g", actual, expected, tol);
}

/* The number after KEY in the last line of TEXT that holds KEY and LINE_KEY. */
static double number_after(const char *text, const char *line_key, const char *key) {
  const char *found = NULL;
  for (const char *line = text; line && *line;) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    char buf[2048];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), line);
    if (strstr(buf, line_key) && strstr(buf, key))
      found = line + (strstr(buf, key) - buf);
    line = eol ? eol + 1 : NULL;
  }
  if (!found)
    fail_msg("no line with \"%s\" and \"%s\" in:\n%s", line_key, key, text);
  return strtod(found + strlen(key), NULL);
}

/* The number after KEY in the first line of TEXT that holds it. */
static double first_number_after(const char *text, const char *key) {
  const char *found = strstr(text, key);
  if (!found)
    fail_msg("no \"%s\" in:\n%s", key, text);
  return strtod(found + strlen(key), NULL);
}

static int count_lines_with(const char *text, const char *key) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, key)); p += strlen(key))
    n++;
  return n;
}

/* Lines of TEXT that start with KEY. */
static int count_line_starts(const char *text, const char *key) {
  int n = 0;
  for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
    n += strncmp(line, key, strlen(key)) == 0;
  return n;
}

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Every value of the CSV TEXT (after its header) is printed with %.DIGITSg,
   so that it reads back as the real it was; some need that many digits. */
static void expect_round_trip_format(const char *text, int digits) {
  const char *p = strchr(text, '\n') + 1;
  int long_ones = 0;
  while (*p) {
    char *end;
    double v = strtod(p, &end);
    assert_true(end > p);
    char buf[64];
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strlen(buf) != (size_t)(end - p) || strncmp(buf, p, strlen(buf)) != 0)
      fail_msg("'%.*s' is not printed with %%.%dg ('%s')", (int)(end - p), p, digits, buf);
    long_ones += end - p > digits - 1;
    p = *end ? end + 1 : end;
  }
  assert_true(long_ones > 0);
}

/* ---- end to end: each example with its train block's defaults ---- */

static void iris_end_to_end(void **state) {
  (void)state;
  Output o = run_in(trainer("iris"), "./iris_train --data '%s'", fx.iris);
  expect_status(&o, 0);
  double first = first_number_after(o.out, "train loss "), last = number_after(o.out, "epoch 100/100", "train loss ");
  double accuracy = number_after(o.out, "done:", "valid accuracy ");
  print_message("iris: train loss %g -> %g, held-out accuracy %.2f%%\n", first, last, accuracy);
  assert_true(last < first / 5);
  assert_true(accuracy >= 95);
  assert_int_equal(count_line_starts(o.out, "epoch "), 100);
  expect_contains(o.out, "/30)"); /* 20% of 150 held out */
  expect_contains(o.out, "confusion matrix");
  assert_null(strchr(o.err, '\r')); /* no progress bar: stderr is not a terminal */
  output_free(&o);
}

static void digits_end_to_end(void **state) {
  (void)state;
  double start = seconds_now();
  Output o = run_in(trainer("digits"), "./digits_train --data '%s'", fx.digits);
  double seconds = seconds_now() - start;
  expect_status(&o, 0);
  double first = first_number_after(o.out, "train loss "), last = number_after(o.out, "epoch 50/50", "train loss ");
  double accuracy = number_after(o.out, "done:", "valid accuracy ");
  print_message("digits: train loss %g -> %g, held-out accuracy %.2f%%, %.2f s\n", first, last, accuracy, seconds);
  assert_true(last < first / 10);
  assert_true(accuracy >= 96);
  expect_contains(o.out, "/359)"); /* 20% of 1797, stratified by class */
  output_free(&o);
}

static const char xor_csv[] = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n";

static void xor_end_to_end(void **state) {
  (void)state;
  const char *dir = trainer("xor");
  write_text(dir, "xor.csv", xor_csv);
  Output o = run_in(dir, "./xor_train --data xor.csv --valid 0 --predict xor.csv --out p.csv");
  expect_status(&o, 0);
  /* the log goes to stdout since the predictions do not */
  double first = first_number_after(o.out, "train loss "), last = number_after(o.out, "epoch 500/500", "train loss ");
  assert_true(last < first / 10);
  assert_true(number_after(o.out, "done:", "train rmse ") < 0.1);
  expect_contains(o.err, "predict: 4 examples");
  char *p = slurp(path_in(dir, "p.csv"), NULL);
  double y[4];
  assert_int_equal(sscanf(p, "p\n%lf\n%lf\n%lf\n%lf\n", &y[0], &y[1], &y[2], &y[3]), 4);
  assert_true(y[0] < 0.2 && y[1] > 0.8 && y[2] > 0.8 && y[3] < 0.2);
  free(p);
  output_free(&o);
}

/* ---- optimizers: one or two steps on the one-weight model, by hand ----

   neuron.net: z = W x + b, loss (z - y)^2, W = 0.5, b = 0. With the one
   example x = 1, y = 0: z = 0.5, dL/dW = dL/db = 2 (z - y) x = 1. */

static Weights neuron_after(const char *options) {
  const char *dir = trainer("neuron");
  write_text(dir, "one.csv", "1,0\n");
  Output o = run_in(dir, "./neuron_train --data one.csv --valid 0 --save w.bin %s", options);
  expect_status(&o, 0);
  output_free(&o);
  return read_weights(path_in(dir, "w.bin"));
}

static void sgd_step(void **state) {
  (void)state;
  Weights w = neuron_after(""); /* the train block: sgd(lr = 0.1), batch 1, 1 epoch */
  assert_int_equal(w.optimizer, 1);
  assert_int_equal(w.t, 1);
  assert_int_equal(w.epochs, 1);
  assert_close(w.params[0], 0.4, 1e-7);  /* W = 0.5 - 0.1 * 1 */
  assert_close(w.params[1], -0.1, 1e-7); /* b = 0 - 0.1 * 1 */
}

/* Momentum 0.9, two steps. Step 1: v = 1, W = 0.4, b = -0.1. Step 2:
   z = 0.3, g = 0.6, v = 0.9 + 0.6 = 1.5, W = 0.4 - 0.15, b = -0.1 - 0.15. */
static void sgd_momentum_steps(void **state) {
  (void)state;
  Weights w = neuron_after("--momentum 0.9 --epochs 2");
  assert_int_equal(w.t, 2);
  assert_close(w.params[0], 0.25, 1e-7);
  assert_close(w.params[1], -0.25, 1e-7);
}

/* Nesterov: step 1: v = 1, w -= 0.1 (1 + 0.9) = 0.19: W = 0.31, b = -0.19.
   Step 2: z = 0.12, g = 0.24, v = 0.9 + 0.24 = 1.14, w -= 0.1 (0.24 + 0.9 * 1.14). */
static void sgd_nesterov_steps(void **state) {
  (void)state;
  Weights w = neuron_after("--momentum 0.9 --nesterov --epochs 2");
  assert_close(w.params[0], 0.31 - 0.1 * (0.24 + 0.9 * 1.14), 1e-6);
  assert_close(w.params[1], -0.19 - 0.1 * (0.24 + 0.9 * 1.14), 1e-6);
}

/* L2 weight decay with SGD: g = 1 + 0.5 W = 1.25 for W, 1 for b. */
static void sgd_weight_decay(void **state) {
  (void)state;
  Weights w = neuron_after("--weight-decay 0.5");
  assert_close(w.params[0], 0.5 - 0.1 * 1.25, 1e-7);
  assert_close(w.params[1], -0.1, 1e-7);
}

/* Adam's first step: m_hat = g, v_hat = g^2, so each weight moves by lr
   (less a trace of eps) against the sign of its gradient. */
static void adam_step(void **state) {
  (void)state;
  Weights w = neuron_after("--optimizer adam --lr 0.05");
  assert_int_equal(w.optimizer, 2);
  assert_close(w.params[0], 0.5 - 0.05, 1e-6);
  assert_close(w.params[1], -0.05, 1e-6);
  /* Two steps, the second from the moments of the first, by the formulas. */
  double W = 0.5, b = 0, mW = 0, vW = 0, mb = 0, vb = 0, lr = 0.01, b1 = 0.9, b2 = 0.999;
  for (int t = 1; t <= 2; t++) {
    double g = 2 * (W + b); /* dL/dW = dL/db at x = 1, y = 0 */
    mW = b1 * mW + (1 - b1) * g, vW = b2 * vW + (1 - b2) * g * g;
    mb = b1 * mb + (1 - b1) * g, vb = b2 * vb + (1 - b2) * g * g;
    double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
    W -= lr * (mW / c1) / (sqrt(vW / c2) + 1e-8);
    b -= lr * (mb / c1) / (sqrt(vb / c2) + 1e-8);
  }
  w = neuron_after("--optimizer adam --lr 0.01 --epochs 2");
  assert_int_equal(w.t, 2);
  assert_close(w.params[0], W, 1e-6);
  assert_close(w.params[1], b, 1e-6);
}

/* AdamW: W = 0.5 - 0.1 * 0.5 * 0.5 = 0.475 by decay, then the Adam step of
   0.1: 0.375. b = 0 is not decayed. Adam's L2 decay would leave W at 0.4. */
static void adamw_decay(void **state) {
  (void)state;
  Weights w = neuron_after("--optimizer adamw --lr 0.1 --weight-decay 0.5");
  assert_int_equal(w.optimizer, 3);
  assert_close(w.params[0], 0.375, 1e-6);
  assert_close(w.params[1], -0.1, 1e-6);
  w = neuron_after("--optimizer adam --lr 0.1 --weight-decay 0.5");
  assert_close(w.params[0], 0.4, 1e-6);
}

/* The gradient (1, 1) has norm sqrt(2) > 0.5: it is scaled to (0.3536, 0.3536). */
static void clipping(void **state) {
  (void)state;
  Weights w = neuron_after("--clip 0.5");
  double g = 0.5 / sqrt(2);
  assert_close(w.params[0], 0.5 - 0.1 * g, 1e-7);
  assert_close(w.params[1], -0.1 * g, 1e-7);
  w = neuron_after("--clip 2"); /* a norm below the threshold is left alone */
  assert_close(w.params[0], 0.4, 1e-7);
}

/* step: with 3 epochs, lr halves every epoch: 0.1, 0.05, 0.025. cosine
   over 2 epochs: 0.1, then 0.1 * 0.5 * (1 + cos(pi / 2)) = 0.05. Each step
   moves W and b by lr * 2 z, so z becomes z (1 - 4 lr). */
static void schedules(void **state) {
  (void)state;
  double lrs[3] = {0.1, 0.05, 0.025}, z = 0.5, W = 0.5;
  for (int e = 0; e < 3; e++) {
    W -= lrs[e] * 2 * z;
    z *= 1 - 4 * lrs[e];
  }
  Weights w = neuron_after("--schedule step --epochs 3");
  assert_close(w.params[0], W, 1e-6);
  z = 0.5, W = 0.5;
  double cos_lrs[2] = {0.1, 0.05};
  for (int e = 0; e < 2; e++) {
    W -= cos_lrs[e] * 2 * z;
    z *= 1 - 4 * cos_lrs[e];
  }
  w = neuron_after("--schedule cosine --epochs 2");
  assert_close(w.params[0], W, 1e-6);
}

/* The double build saves doubles, with the same steps. */
static void double_weights(void **state) {
  (void)state;
  const char *dir = trainer("neuron_double");
  write_text(dir, "one.csv", "1,0\n");
  Output o = run_in(dir, "./neuron_train --data one.csv --valid 0 --save w.bin");
  expect_status(&o, 0);
  Weights w = read_weights(path_in(dir, "w.bin"));
  assert_int_equal(w.real_size, 8);
  assert_close(w.params[0], 0.4, 1e-15);
  output_free(&o);
  /* neuron has no outputs: an empty header, an empty row per example */
  o = run_in(dir, "./neuron_train --load w.bin --predict one.csv");
  expect_status(&o, 0);
  assert_string_equal(o.out, "\n\n");
  expect_contains(o.err, "predict: 1 examples  loss 0.090000"); /* (W + b - y)^2 = (0.4 - 0.1)^2 */
  output_free(&o);
}

/* ---- the weights file ---- */

/* Predictions right after training equal those of the saved weights,
   byte for byte; loading and saving again copies the file exactly. */
static void save_load_predict(void **state) {
  (void)state;
  for (int dbl = 0; dbl < 2; dbl++) {
    const char *dir = trainer(dbl ? "iris_double" : "iris");
    const char *data = fx.iris;
    Output o = run_in(dir, "./iris_train --data '%s' --epochs 20 --save w.bin --predict '%s' --out a.csv", data, data);
    expect_status(&o, 0);
    output_free(&o);
    o = run_in(dir, "./iris_train --load w.bin --predict '%s' --out b.csv", data);
    expect_status(&o, 0);
    expect_contains(o.err, "predict: 150 examples  loss ");
    expect_contains(o.err, "accuracy ");
    output_free(&o);
    assert_true(same_file(path_in(dir, "a.csv"), path_in(dir, "b.csv")));
    o = run_in(dir, "./iris_train --load w.bin --save w2.bin && ./iris_train --load w2.bin --save w3.bin");
    expect_status(&o, 0);
    output_free(&o);
    assert_true(same_file(path_in(dir, "w.bin"), path_in(dir, "w2.bin")));
    assert_true(same_file(path_in(dir, "w.bin"), path_in(dir, "w3.bin")));
    assert_int_equal(access(path_in(dir, "w.bin.tmp"), F_OK), -1); /* renamed into place */

    /* the predictions: a header naming the outputs, 150 rows of 3 values
       printed to round-trip (%.9g for float, %.17g for double) */
    char *text = slurp(path_in(dir, "a.csv"), NULL);
    assert_memory_equal(text, "probs[0],probs[1],probs[2]\n", 27);
    assert_int_equal(count_lines_with(text, "\n"), 151);
    expect_round_trip_format(text, dbl ? 17 : 9);
    free(text);
  }
}

/* Predicting rows of inputs alone: no loss, the same outputs. */
static void predict_inputs_only(void **state) {
  (void)state;
  const char *dir = trainer("iris");
  write_text(dir, "in.csv", "5.1,3.5,1.4,0.2\n6.2,3.4,5.4,2.3\n");
  write_text(dir, "both.csv", "a,b,c,d,label\n5.1,3.5,1.4,0.2,0\n6.2,3.4,5.4,2.3,2\n");
  Output o = run_in(dir, "./iris_train --data '%s' --epochs 30 --save p.bin --quiet", fx.iris);
  expect_status(&o, 0);
  output_free(&o);
  Output a = run_in(dir, "./iris_train --load p.bin --predict in.csv");
  expect_status(&a, 0);
  assert_int_equal(count_lines_with(a.out, "\n"), 3);
  assert_null(strstr(a.err, "loss"));
  Output b = run_in(dir, "./iris_train --load p.bin --predict both.csv");
  expect_status(&b, 0);
  assert_string_equal(a.out, b.out);
  expect_contains(b.err, "predict: 2 examples  loss ");
  output_free(&a);
  output_free(&b);
}

static void expect_weights_error(const char *dir, const char *prog, const char *file, const char *message) {
  Output o = run_in(dir, "./%s --load %s --predict '%s'", prog, file, fx.iris);
  expect_status(&o, 1);
  char where[256];
  snprintf(where, sizeof where, "%s: error: ", file);
  expect_contains(o.err, where);
  expect_contains(o.err, message);
  assert_string_equal(o.out, "");
  output_free(&o);
}

static void bad_weights(void **state) {
  (void)state;
  const char *dir = trainer("iris");
  const char *data = fx.iris;
  Output o = run_in(dir, "./iris_train --data '%s' --epochs 2 --save good.bin --quiet", data);
  expect_status(&o, 0);
  output_free(&o);
  o = run_in(trainer("iris_double"), "./iris_train --data '%s' --epochs 2 --save '%s/double.bin' --quiet", data, dir);
  expect_status(&o, 0);
  output_free(&o);
  o = run_in(trainer("digits"), "./digits_train --data '%s' --epochs 1 --save '%s/digits.bin' --quiet",
             fx.digits, dir);
  expect_status(&o, 0);
  output_free(&o);

  size_t size;
  char *good = slurp(path_in(dir, "good.bin"), &size);
  assert_non_null(good);
  FILE *f = fopen(path_in(dir, "truncated.bin"), "wb");
  fwrite(good, 1, size - 100, f);
  fclose(f);
  f = fopen(path_in(dir, "short.bin"), "wb");
  fwrite(good, 1, 40, f);
  fclose(f);
  good[200] ^= 0x10; /* a param's bit */
  f = fopen(path_in(dir, "flipped.bin"), "wb");
  fwrite(good, 1, size, f);
  fclose(f);
  good[200] ^= 0x10;
  good[8] = 2; /* a later format */
  f = fopen(path_in(dir, "version.bin"), "wb");
  fwrite(good, 1, size, f);
  fclose(f);
  good[8] = 1;
  good[0] = 'X';
  f = fopen(path_in(dir, "magic.bin"), "wb");
  fwrite(good, 1, size, f);
  fclose(f);
  free(good);

  expect_weights_error(dir, "iris_train", "digits.bin", "weights of another model");
  expect_weights_error(dir, "iris_train", "double.bin", "the weights are double but this trainer is built for float");
  expect_weights_error(trainer("iris_double"), "iris_train", path_in(dir, "good.bin"),
                       "the weights are float but this trainer is built for double");
  expect_weights_error(dir, "iris_train", "truncated.bin", "truncated");
  expect_weights_error(dir, "iris_train", "short.bin", "truncated");
  expect_weights_error(dir, "iris_train", "flipped.bin", "checksum mismatch");
  expect_weights_error(dir, "iris_train", "magic.bin", "not a netc weights file");
  expect_weights_error(dir, "iris_train", "version.bin", "format version 2; this trainer reads version 1");
  expect_weights_error(dir, "iris_train", "missing.bin", "cannot open");
  /* resuming is refused the same way, before any training */
  o = run_in(dir, "./iris_train --data '%s' --resume flipped.bin --save never.bin", data);
  expect_status(&o, 1);
  expect_contains(o.err, "checksum mismatch");
  assert_int_equal(access(path_in(dir, "never.bin"), F_OK), -1);
  output_free(&o);
}

/* ---- bad data: each one named by file, line and field ---- */

static void expect_data_error(const char *csv, const char *where, const char *message) {
  const char *dir = trainer("iris");
  write_text(dir, "bad.csv", csv);
  Output o = run_in(dir, "./iris_train --data bad.csv");
  expect_status(&o, 1);
  char expected[512];
  snprintf(expected, sizeof expected, "%s: error: %s", where, message);
  expect_contains(o.err, expected);
  assert_null(strstr(o.out, "epoch"));
  output_free(&o);
}

static void bad_data(void **state) {
  (void)state;
  expect_data_error("a,b,c,d,label\n1,2,3,4,0\n1,2,3,0\n", "bad.csv:3:5", "4 fields, expected 5: 4 inputs and 1 target");
  expect_data_error("1,2,3,4,0\n1,2,3,4,0,7\n", "bad.csv:2:6", "6 fields, expected 5");
  expect_data_error("1,2,3,4,0\n1,2,abc,4,0\n", "bad.csv:2:3", "'abc' is not a number");
  expect_data_error("1,2,3,4,0\n1,2,3,4,\n", "bad.csv:2:5", "empty field");
  expect_data_error("1,2,3,4,0\n1,2,3,4,3\n", "bad.csv:2:5", "class index 3 is out of range");
  expect_data_error("1,2,3,4,0\n1,2,3,4,-1\n", "bad.csv:2:5", "class index -1 is out of range");
  expect_data_error("1,2,3,4,0\n1,2,3,4,1.5\n", "bad.csv:2:5", "class index '1.5' is not an integer");
  expect_data_error("1,2,3,4,0\n1,nan,3,4,1\n", "bad.csv:2:2", "'nan' is not a finite number");
  expect_data_error("1,2,3,4,0\n1,2,-inf,4,1\n", "bad.csv:2:3", "'-inf' is not a finite number");
  expect_data_error("1,2,3,4,0\n1,2,3,1e999,1\n", "bad.csv:2:4", "'1e999' is out of range");
  expect_data_error("1,2,3,4,0\n1,2,3,1e39,1\n", "bad.csv:2:4", "'1e39' is out of range for float");
  expect_data_error("", "bad.csv", "no examples: the file is empty");
  expect_data_error("a,b,c,d,e\n", "bad.csv", "no examples, only a header row");
  expect_data_error("1,2,3,4,0\n\n1,2,3,4,1\n", "bad.csv:2:1", "blank line between rows");
  expect_data_error("1,2,3,4,0\r\n1,2,3,4,x\r\n", "bad.csv:2:5", "'x' is not a number");

  Output o = run_in(trainer("iris"), "./iris_train --data missing.csv");
  expect_status(&o, 1);
  expect_contains(o.err, "missing.csv: error: cannot open: No such file or directory");
  output_free(&o);

  /* CRLF line ends and blank lines at the end are fine */
  write_text(trainer("iris"), "crlf.csv", "a,b,c,d,e\r\n1,2,3,4,0\r\n1,2,3,4,1\r\n1,2,3,4,2\r\n\r\n\n");
  o = run_in(trainer("iris"), "./iris_train --data crlf.csv --valid 0 --epochs 1");
  expect_status(&o, 0);
  expect_contains(o.out, "/3)");
  output_free(&o);

  /* the file to predict is checked the same way */
  o = run_in(trainer("iris"), "./iris_train --data crlf.csv --epochs 1 --valid 0 --predict bad.csv");
  expect_status(&o, 1);
  expect_contains(o.err, "bad.csv:2:5: error: 'x' is not a number");
  output_free(&o);
}

/* ---- the command line ---- */

static void usage_errors(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"", "nothing to do"},
      {"--data", "--data needs a value"},
      {"--data d.csv --lr -1", "--lr needs a number > 0, got '-1'"},
      {"--data d.csv --lr abc", "--lr needs a number > 0, got 'abc'"},
      {"--data d.csv --epochs 0", "--epochs needs an integer"},
      {"--data d.csv --batch 1.5", "--batch needs an integer"},
      {"--data d.csv --optimizer rmsprop", "--optimizer needs sgd, adam or adamw"},
      {"--data d.csv --schedule linear", "--schedule needs const, step or cosine"},
      {"--data d.csv --valid 1", "--valid needs a number in [0, 1)"},
      {"--data d.csv --momentum 1", "--momentum needs a number in [0, 1)"},
      {"--data d.csv --bogus", "unknown option '--bogus'"},
      {"--data d.csv extra", "unexpected argument 'extra'"},
      {"--load a --resume b --data d.csv", "--load and --resume exclude each other"},
      {"--resume w.bin", "--resume needs --data"},
      {"--predict d.csv", "--predict needs weights"},
      {"--data d.csv --out o.csv", "--out needs --predict"},
      {"--data d.csv --nesterov", "--nesterov needs --momentum > 0"},
      {"--data d.csv --valid 0 --early-stop 3", "--early-stop needs a validation split"},
      {"--load w.bin --predict d.csv --standardize", "--standardize needs --data"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Output o = run_in(trainer("iris"), "./iris_train %s", cases[i][0]);
    expect_status(&o, 2);
    expect_contains(o.err, "iris_train: error: ");
    expect_contains(o.err, cases[i][1]);
    expect_contains(o.err, "Try 'iris_train --help'.");
    output_free(&o);
  }
  Output o = run_in(trainer("iris"), "./iris_train --help");
  expect_status(&o, 0);
  expect_contains(o.out, "usage: iris_train --data FILE.csv [options]");
  expect_contains(o.out, "halves every\n                      epochs/3 epochs");
  expect_contains(o.out, "1-based number of the field");
  expect_contains(o.out, "(default 100)"); /* epochs, from iris.net's train block */
  output_free(&o);
  /* "--lr=0.1" is "--lr 0.1" */
  write_text(trainer("neuron"), "one.csv", "1,0\n");
  o = run_in(trainer("neuron"), "./neuron_train --data=one.csv --valid=0 --lr=0.2 --save=eq.bin");
  expect_status(&o, 0);
  assert_close(read_weights(path_in(trainer("neuron"), "eq.bin")).params[0], 0.3, 1e-7);
  output_free(&o);
}

/* ---- reproducibility ---- */

static void same_seed_same_weights(void **state) {
  (void)state;
  const char *dir = trainer("digits"), *data = fx.digits;
  Output o = run_in(dir,
                    "./digits_train --data '%s' --epochs 3 --save s1.bin --quiet && "
                    "./digits_train --data '%s' --epochs 3 --save s2.bin --quiet && "
                    "./digits_train --data '%s' --epochs 3 --seed 2 --save s3.bin --quiet",
                    data, data, data);
  expect_status(&o, 0);
  output_free(&o);
  assert_true(same_file(path_in(dir, "s1.bin"), path_in(dir, "s2.bin")));
  assert_false(same_file(path_in(dir, "s1.bin"), path_in(dir, "s3.bin")));
}

/* 10 epochs, then resumed to 20, is 20 epochs: the same file, byte for
   byte, with each optimizer (their state is in the file). */
static void resume_is_exact(void **state) {
  (void)state;
  const char *dir = trainer("digits"), *data = fx.digits;
  static const char *const options[] = {
      "",
      "--optimizer sgd --lr 0.01 --momentum 0.9 --nesterov --batch 50 --standardize",
      "--optimizer adamw --clip 1 --valid 0",
  };
  for (int i = 0; i < 3; i++) {
    int epochs = i == 0 ? 10 : 3;
    Output o = run_in(dir,
                      "./digits_train --data '%s' --epochs %d --save all.bin --quiet %s && "
                      "./digits_train --data '%s' --epochs %d --save half.bin --quiet %s && "
                      "./digits_train --data '%s' --resume half.bin --epochs %d --save rest.bin --quiet %s",
                      data, 2 * epochs, options[i], data, epochs, options[i], data, 2 * epochs, options[i]);
    expect_status(&o, 0);
    output_free(&o);
    if (!same_file(path_in(dir, "all.bin"), path_in(dir, "rest.bin")))
      fail_msg("resuming with '%s' differs from training in one run", options[i]);
    Weights w = read_weights(path_in(dir, "rest.bin"));
    assert_int_equal(w.epochs, 2 * epochs);
  }
  /* a different seed or optimizer is not a resumption */
  Output o = run_in(dir, "./digits_train --data '%s' --resume half.bin --epochs 8 --seed 9", data);
  expect_status(&o, 1);
  expect_contains(o.err, "half.bin: error: was trained with --seed 1, not 9");
  output_free(&o);
  o = run_in(dir, "./digits_train --data '%s' --resume half.bin --epochs 8 --optimizer sgd", data);
  expect_status(&o, 1);
  expect_contains(o.err, "holds the state of optimizer adamw, not sgd");
  output_free(&o);
}

/* ---- gradient health ---- */

/* x = 1000 and lr = 1e30: the first step throws W to -1e36, the next
   forward pass overflows float. */
static void divergence_stops(void **state) {
  (void)state;
  const char *dir = trainer("neuron");
  write_text(dir, "big.csv", "1000,0\n");
  Output o = run_in(dir, "./neuron_train --data big.csv --valid 0 --lr 1e30 --epochs 5 --save diverged.bin");
  expect_status(&o, 1);
  expect_contains(o.err, "error: training diverged at epoch 2, batch 1: the gradient of 'W' is not finite");
  expect_contains(o.err, "note: the last finite weights are saved in 'diverged.bin'");
  Weights w = read_weights(path_in(dir, "diverged.bin"));
  assert_true(isfinite(w.params[0]) && isfinite(w.params[1]));
  assert_close(w.params[0], 0.5 - 1e30 * 1e6, 1e30); /* after the one finite step */
  output_free(&o);
  /* a step that itself overflows: the weights before it are kept */
  o = run_in(dir, "./neuron_train --data big.csv --valid 0 --lr 1e38 --save diverged.bin");
  expect_status(&o, 1);
  expect_contains(o.err, "batch 1: the step made 'W' not finite");
  w = read_weights(path_in(dir, "diverged.bin"));
  assert_close(w.params[0], 0.5, 0);
  output_free(&o);
}

static void grad_stats(void **state) {
  (void)state;
  Output o = run_in(trainer("iris"), "./iris_train --data '%s' --epochs 3 --grad-stats", fx.iris);
  expect_status(&o, 0);
  assert_int_equal(count_lines_with(o.out, "  grad norm "), 3);
  for (const char *p = o.out; (p = strstr(p, "  grad norm ")); p++) {
    double w1, b1, w2, b2;
    assert_int_equal(sscanf(p, "  grad norm  W1 %lf b1 %lf W2 %lf b2 %lf", &w1, &b1, &w2, &b2), 4);
    assert_true(w1 > 0 && b1 > 0 && w2 > 0 && b2 > 0);
  }
  output_free(&o);
}

/* Five copies of x = 1, y = 0 with lr 1.5: each step multiplies z by
   1 - 4 lr = -5, so the loss rises from the first epoch on. Early stopping
   then keeps the first epoch's weights. */
static void early_stop(void **state) {
  (void)state;
  const char *dir = trainer("neuron");
  write_text(dir, "five.csv", "1,0\n1,0\n1,0\n1,0\n1,0\n");
  Output o = run_in(dir, "./neuron_train --data five.csv --lr 1.5 --epochs 10 --early-stop 2 --save es.bin");
  expect_status(&o, 0);
  assert_int_equal(count_line_starts(o.out, "epoch "), 3);
  expect_contains(o.out, "done: 3 epochs (stopped early: the weights are epoch 1's");
  output_free(&o);
  o = run_in(dir, "./neuron_train --data five.csv --lr 1.5 --epochs 1 --save one_epoch.bin");
  expect_status(&o, 0);
  output_free(&o);
  Weights best = read_weights(path_in(dir, "es.bin")), first = read_weights(path_in(dir, "one_epoch.bin"));
  assert_memory_equal(best.params, first.params, 2 * sizeof(double));
}

/* ---- standardization ---- */

/* With --valid 0 the training split is the whole file: the saved means
   and standard deviations are the file's columns'. Predictions from raw
   inputs with --load equal those right after training. */
static void standardize(void **state) {
  (void)state;
  const char *dir = trainer("iris"), *data = fx.iris;
  Output o = run_in(dir, "./iris_train --data '%s' --valid 0 --standardize --epochs 5 --save z.bin --quiet", data);
  expect_status(&o, 0);
  output_free(&o);
  Weights w = read_weights(path_in(dir, "z.bin"));
  assert_int_equal(w.standardized, 1);
  char *text = slurp(data, NULL);
  double sum[4] = {0}, sq[4] = {0}, x[4];
  int n = 0, label;
  for (const char *p = strchr(text, '\n') + 1; sscanf(p, "%lf,%lf,%lf,%lf,%d", &x[0], &x[1], &x[2], &x[3], &label) == 5;
       p = strchr(p, '\n') + 1, n++)
    for (int j = 0; j < 4; j++)
      sum[j] += (float)x[j]; /* the trainer reads floats */
  for (const char *p = strchr(text, '\n') + 1; sscanf(p, "%lf,%lf,%lf,%lf,%d", &x[0], &x[1], &x[2], &x[3], &label) == 5;
       p = strchr(p, '\n') + 1)
    for (int j = 0; j < 4; j++)
      sq[j] += ((float)x[j] - sum[j] / n) * ((float)x[j] - sum[j] / n);
  free(text);
  assert_int_equal(n, 150);
  for (int j = 0; j < 4; j++) {
    assert_close(w.mean[j], sum[j] / n, 1e-12);
    assert_close(w.std[j], sqrt(sq[j] / n), 1e-12);
  }

  o = run_in(dir,
             "./iris_train --data '%s' --standardize --epochs 20 --save z2.bin --predict '%s' --out z_a.csv && "
             "./iris_train --load z2.bin --predict '%s' --out z_b.csv",
             data, data, data);
  expect_status(&o, 0);
  output_free(&o);
  assert_true(same_file(path_in(dir, "z_a.csv"), path_in(dir, "z_b.csv")));
  /* from the training split alone: 120 of the 150 rows give other statistics */
  Weights w2 = read_weights(path_in(dir, "z2.bin"));
  assert_true(w2.mean[0] != w.mean[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(build_all),          cmocka_unit_test(iris_end_to_end),
      cmocka_unit_test(digits_end_to_end),  cmocka_unit_test(xor_end_to_end),
      cmocka_unit_test(sgd_step),           cmocka_unit_test(sgd_momentum_steps),
      cmocka_unit_test(sgd_nesterov_steps), cmocka_unit_test(sgd_weight_decay),
      cmocka_unit_test(adam_step),          cmocka_unit_test(adamw_decay),
      cmocka_unit_test(clipping),           cmocka_unit_test(schedules),
      cmocka_unit_test(double_weights),     cmocka_unit_test(save_load_predict),
      cmocka_unit_test(predict_inputs_only), cmocka_unit_test(bad_weights),
      cmocka_unit_test(bad_data),           cmocka_unit_test(usage_errors),
      cmocka_unit_test(same_seed_same_weights), cmocka_unit_test(resume_is_exact),
      cmocka_unit_test(divergence_stops),   cmocka_unit_test(grad_stats),
      cmocka_unit_test(early_stop),         cmocka_unit_test(standardize),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
