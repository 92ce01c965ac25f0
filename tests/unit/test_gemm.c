/* test_gemm.c: the matrix product generated code uses (templates/gemm.c),
   against the textbook triple loop in double. Every stride pattern the
   emitter passes (X W^T, dY W, dY^T X, and plain), sizes on both sides of
   the panel and block edges, storing and adding. The Makefile builds it
   twice: as it is, for the portable kernel, and as test_gemm_avx2 with
   AVX2 and FMA, for the vector kernel. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#ifndef NC_DOUBLE
#define NC_DOUBLE 0
#endif
#define NC_BLAS 0
#ifndef NC_THREADS
#define NC_THREADS 1
#endif
#if NC_DOUBLE
typedef double real;
#define TOLERANCE 1e-15 /* a few units of the last place, per term's size */
#else
typedef float real;
#define TOLERANCE 4e-7
#endif
#include "../../templates/gemm.c"

static uint64_t seed = 1;
static real random_real(void) {
  seed = seed * 6364136223846793005u + 1442695040888963407u;
  return (real)((double)(seed >> 40) / (double)(1u << 24) * 2 - 1);
}

typedef struct {
  bool trans_a, trans_b;
} Layout;

/* gemm()'s scratch for a product, no more (one real where it needs none),
   so that the sanitizers see a product that writes past it. */
static real *new_scratch(size_t m, size_t n, size_t k, size_t rsa, size_t csa) {
  size_t reals = gemm_scratch(m, n, k, rsa, csa);
  return malloc(sizeof(real) * (reals ? reals : 1));
}

/* One product C (m x n, ldc = n + 3 to test the stride) against double
   sums, finished with a bias per column and relu as FIN says; the error
   allowed grows with k, as float rounding does. The finished C must also
   be, to the bit, the plain product finished afterwards. LDA_A is A's
   leading dimension, its row stride or, transposed, its column stride
   (0: one more than a row or column holds). */
static void check_product_with(size_t m, size_t n, size_t k, Layout l, int add, real scale, int bias, int relu,
                               size_t lda_a) {
  size_t lda = lda_a ? lda_a : (l.trans_a ? m : k) + 1, ldb = (l.trans_b ? k : n) + 2, ldc = n + 3;
  size_t rows_a = l.trans_a ? k : m, rows_b = l.trans_b ? n : k;
  real *a = malloc(sizeof(real) * (rows_a * lda + 1)), *b = malloc(sizeof(real) * (rows_b * ldb + 1));
  real *c = malloc(sizeof(real) * (m * ldc + 1)), *before = malloc(sizeof(real) * (m * ldc + 1));
  real *pack = new_scratch(m, n, k, l.trans_a ? 1 : lda, l.trans_a ? lda : 1);
  real *plain = malloc(sizeof(real) * (m * ldc + 1));
  real *bias_of = malloc(sizeof(real) * (n + 1));
  assert_true(a && b && c && before && pack && plain && bias_of);
  for (size_t j = 0; j < n; j++)
    bias_of[j] = random_real();
  for (size_t i = 0; i < rows_a * lda; i++)
    a[i] = random_real();
  for (size_t i = 0; i < rows_b * ldb; i++)
    b[i] = random_real();
  for (size_t i = 0; i < m * ldc; i++)
    c[i] = plain[i] = before[i] = random_real();
  size_t rsa = l.trans_a ? 1 : lda, csa = l.trans_a ? lda : 1;
  size_t rsb = l.trans_b ? 1 : ldb, csb = l.trans_b ? ldb : 1;
  GemmFinish fin = {bias ? bias_of : NULL, relu};
  gemm(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, add, scale, fin.bias, relu, pack);
  gemm(m, n, k, a, rsa, csa, b, rsb, csb, plain, ldc, add, scale, NULL, 0, pack);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < ldc; j++) {
      if (j >= n) { /* the gap between rows is not C's */
        assert_true(c[i * ldc + j] == before[i * ldc + j]);
        continue;
      }
      double sum = 0, size = add ? fabs(before[i * ldc + j]) : 0;
      for (size_t p = 0; p < k; p++) {
        double term = (double)scale * (double)a[i * rsa + p * csa] * (double)b[p * rsb + j * csb];
        sum += term;
        size += fabs(term);
      }
      double want = (add ? before[i * ldc + j] : 0) + sum + (bias ? bias_of[j] : 0);
      want = relu && !(want > 0) ? 0 : want;
      double got = c[i * ldc + j];
      real finished = gemm_finish1(plain[i * ldc + j], fin, j);
      if (memcmp(&finished, &c[i * ldc + j], sizeof finished) != 0)
        fail_msg("%zux%zux%zu bias %d relu %d: C[%zu][%zu] = %.9g, finished afterwards %.9g", m, n, k, bias, relu, i,
                 j, got, (double)finished);
      if (fabs(got - want) > TOLERANCE * (size + 1) * sqrt((double)k + 1))
        fail_msg("%zux%zux%zu trans_a %d trans_b %d add %d: C[%zu][%zu] = %.9g, want %.9g", m, n, k, l.trans_a,
                 l.trans_b, add, i, j, got, want);
    }
  free(a), free(b), free(c), free(before), free(pack), free(plain), free(bias_of);
}

static void check_product_finished(size_t m, size_t n, size_t k, Layout l, int add, real scale, int bias, int relu) {
  check_product_with(m, n, k, l, add, scale, bias, relu, 0);
}

static void check_product_scaled(size_t m, size_t n, size_t k, Layout l, int add, real scale) {
  check_product_finished(m, n, k, l, add, scale, 0, 0);
}

static void check_product(size_t m, size_t n, size_t k, Layout l, int add) {
  check_product_scaled(m, n, k, l, add, 1);
}

/* x * y + z in one rounding, and in two, as the product's own code
   (in this file, under the same contraction rules) computes it. */
static real fma_once(real x, real y, real z) { return NC_DOUBLE ? fma(x, y, z) : fmaf((float)x, (float)y, (float)z); }
static real fma_by_steps(real x, real y, real z) { return x * y + z; }

/* The columns of an N-wide row the vector kernels take; the rest go one by one. */
#if defined(__AVX2__) && defined(__FMA__)
#define VECTOR_COLUMNS(n) (long)((n) - (n) % GEMM_W)
#else
#define VECTOR_COLUMNS(n) 0L
#endif

static const Layout layouts[] = {{false, false}, {false, true}, {true, false}, {true, true}};

/* Small sizes, each edge of a 6 x 16 or 6 x 32 panel and of the blocks below them. */
static void small_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {1, 2, 5, 6, 7, 12, 15, 16, 17, 31, 32, 33};
  for (size_t l = 0; l < 4; l++)
    for (size_t im = 0; im < sizeof sizes / sizeof *sizes; im++)
      for (size_t in = 0; in < sizeof sizes / sizeof *sizes; in++)
        for (size_t k = 1; k <= 17; k += 8)
          for (int add = 0; add < 2; add++)
            check_product(sizes[im], sizes[in], k, layouts[l], add);
}

/* Fewer than 6 rows, as a batch of one to five is: dot products of eight
   columns at once and their leftovers, and rows of C kept in registers
   32 columns at a time, on both sides of every edge. */
static void row_path_sizes(void **state) {
  (void)state;
  static const size_t ms[] = {1, 2, 5}, ns[] = {7, 8, 10, 31, 32, 33, 64, 70}, ks[] = {1, 3, 8, 10, 32, 64, 100};
  for (size_t l = 0; l < 4; l++)
    for (size_t im = 0; im < 3; im++)
      for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
        for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
          check_product(ms[im], ns[in], ks[ik], layouts[l], (int)(in % 2));
          check_product_scaled(ms[im], ns[in], ks[ik], layouts[l], (int)(ik % 2), -0.5f);
        }
}

/* One step (k = 1), as dW = dY^T X is for a batch of one: B's row of up
   to eight vectors held down C's rows, eight, four or one vectors at a
   time, then columns one by one; a longer row along C's rows. Each
   element is s * a_i times b_j added to C in one rounding in the vector
   columns (with FMA) and in two elsewhere, so it is checked to the bit
   as well as against the double sums. With A's row and B's columns
   contiguous the row path's dot products stay: C + s * (a_i b_j). */
static void outer_product_sizes(void **state) {
  (void)state;
  static const size_t ms[] = {1, 6, 7, 32, 128}, ns[] = {1, 7, 8, 9, 32, 40, 63, 64, 65, 72, 100, 127, 128, 129, 784};
  for (size_t l = 0; l < 4; l++)
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
      for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
        check_product(ms[im], ns[in], 1, layouts[l], (int)(in % 2));
        check_product_scaled(ms[im], ns[in], 1, layouts[l], (int)(im % 2), -0.125f);
      }
  enum { M = 9, LDC = 80 };
  real a[M], b[LDC], c[M * LDC], want[M * LDC], pack[1];
  for (size_t i = 0; i < M; i++)
    a[i] = random_real();
  for (size_t j = 0; j < LDC; j++)
    b[j] = random_real();
  static const size_t widths[] = {13, 29, 32, 37, 61, 64, 75}; /* double's vectors hold 4: 32 is its eight */
  for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
    for (int add = 0; add < 2; add++) {
      size_t n = widths[w];
      for (size_t i = 0; i < M * LDC; i++)
        c[i] = want[i] = random_real();
      for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < n; j++) {
          real s_a = (real)-0.5 * a[i], *wij = &want[i * LDC + j];
          *wij = ((long)j < VECTOR_COLUMNS(n) ? fma_once : fma_by_steps)(s_a, b[j], add ? *wij : 0);
        }
      gemm(M, n, 1, a, 1, M, b, n, 1, c, LDC, add, (real)-0.5, NULL, 0, pack);
      assert_memory_equal(c, want, sizeof c);
      for (size_t i = 0; i < M; i++) /* the same product as dot products: csa = rsb = 1 */
        for (size_t j = 0; j < n; j++) {
          real dot = 0 + a[i] * b[j], *wij = &want[i * LDC + j];
          *wij = add ? c[i * LDC + j] + (real)-0.5 * dot : (real)-0.5 * dot;
        }
      gemm(M, n, 1, a, 1, 1, b, 1, 1, c, LDC, add, (real)-0.5, NULL, 0, pack);
      assert_memory_equal(c, want, sizeof c);
    }
}

/* Equal bits, or both NaN (whose sign and payload no one promises). */
static bool same_value(real x, real y) { return memcmp(&x, &y, sizeof x) == 0 || (isnan(x) && isnan(y)); }

/* Where C starts changes no bit: which columns are vectors, and so one
   rounding, must depend on N alone, never on the address, or a user's
   malloc would choose the results. C at every offset from 0 to 15 reals,
   for the outer product of one step (rows that all start alike: LDC
   whole vectors; 24 columns are at most eight vectors in every build)
   and for rows of axpy over three steps (five rows: the row path),
   storing and adding. */
static void alignment_changes_no_bit(void **state) {
  (void)state;
  enum { M = 7, N = 100, K = 3, LDC = 112, OFFSETS = 16 };
  static real a[M * K], b[K * N], start[M * LDC], c[M * LDC + OFFSETS], first[M * LDC];
  real pack[1];
  for (size_t i = 0; i < M * K; i++)
    a[i] = random_real();
  for (size_t i = 0; i < K * N; i++)
    b[i] = random_real();
  for (size_t i = 0; i < M * LDC; i++)
    start[i] = random_real();
  static const size_t widths[] = {24, N}, steps[] = {1, K};
  for (size_t w = 0; w < 2; w++)
    for (size_t s = 0; s < 2; s++)
      for (int add = 0; add < 2; add++)
        for (size_t off = 0; off < OFFSETS; off++) {
          real *at = c + off;
          size_t n = widths[w];
          memcpy(at, start, sizeof start);
          if (steps[s] == 1) /* a column of A, B one row: gemm_outer up to eight vectors */
            gemm(M, n, 1, a, 1, M, b, n, 1, at, LDC, add, (real)-0.75, NULL, 0, pack);
          else /* A and B row-major, five rows: gemm_row_axpy */
            gemm(5, n, K, a, K, 1, b, n, 1, at, LDC, add, (real)-0.75, NULL, 0, pack);
          if (off == 0)
            memcpy(first, at, sizeof first);
          for (size_t i = 0; i < M * LDC; i++)
            if (memcmp(&at[i], &first[i], sizeof at[i]) != 0)
              fail_msg("n %zu, k %zu, add %d, C %zu reals on: element %zu is %a, at 0 it was %a", n, steps[s], add,
                       off, i, (double)at[i], (double)first[i]);
          for (size_t j = 0; j < n; j++) /* and the product is there: row 0 moved */
            assert_true(at[j] != start[j]);
        }
}

/* A product of one step that adds into C, with rows of 128 or more,
   leaves the rows whose factor in A is 0 as they are, where s and B's row
   are finite: what it would add there are zeros. Against one FMA per
   element: zero rows first, last, on both sides of the list's 256, and
   every third; a NaN in A (computed); B with an infinity or a NaN, and
   an infinite s (no row skipped: their zeros give NaN); a -0 in C, which
   a skipped row keeps, and rows of 127, which are never skipped. Only the
   axpy form can tell a skipped -0: in the dot form -0 + s (0 + 0 b) is -0
   anyway. */
static void zero_rows_of_one_step(void **state) {
  (void)state;
  enum { M = 300, LDC = 203 };
  static real a[M], b[LDC], c[M * LDC], want[M * LDC];
  real pack[1];
  for (int bad = 0; bad < 4; bad++)
    for (size_t n = 127; n <= 200; n += 73)
      for (int dots = 0; dots < 2; dots++) { /* csa = rsb = 1: gemm_row's dot products */
        real scale = bad == 3 ? (real)INFINITY : (real)-0.25;
        for (size_t i = 0; i < M; i++)
          a[i] = i % 3 == 1 || i == 0 || i == 255 || i == 256 || i == M - 1 ? 0 : random_real();
        a[8] = (real)NAN;
        for (size_t j = 0; j < n; j++)
          b[j] = random_real();
        b[5] = (real)-0.5; /* s 0 b[5] is +0, which -0 + +0 makes +0 */
        if (bad == 1 || bad == 2)
          b[n - 1] = bad == 1 ? (real)-INFINITY : (real)NAN;
        for (size_t i = 0; i < M * LDC; i++)
          c[i] = random_real();
        c[1 * LDC + 5] = (real)-0.0; /* in row 1, whose factor is 0 */
        for (size_t i = 0; i < M; i++)
          for (size_t j = 0; j < n; j++) {
            real *wij = &want[i * LDC + j], cij = c[i * LDC + j];
            if (dots)
              *wij = cij + scale * (0 + a[i] * b[j]);
            else
              *wij = ((long)j < VECTOR_COLUMNS(n) ? fma_once : fma_by_steps)(scale * a[i], b[j], cij);
          }
        bool skips = bad == 0 && n >= 128;
        want[1 * LDC + 5] = skips ? (real)-0.0 : want[1 * LDC + 5];
        if (dots)
          gemm(M, n, 1, a, 1, 1, b, 1, 1, c, LDC, 1, scale, NULL, 0, pack);
        else
          gemm(M, n, 1, a, 1, M, b, n, 1, c, LDC, 1, scale, NULL, 0, pack);
        for (size_t i = 0; i < M; i++)
          for (size_t j = 0; j < n; j++)
            if (!same_value(c[i * LDC + j], want[i * LDC + j]))
              fail_msg("case %d, n %zu, dots %d: C(%zu, %zu) is %a, want %a", bad, n, dots, i, j,
                       (double)c[i * LDC + j], (double)want[i * LDC + j]);
        assert_true(isnan(c[8 * LDC]));                 /* A's NaN reached its row */
        assert_true(bad != 0 || isnan(c[1 * LDC]) == 0); /* and a zero row stayed finite */
        if (bad == 1 || bad == 2)
          assert_true(isnan(c[1 * LDC + n - 1]));
      }
}

/* Split between threads, a product gives the bits it gives on one, even
   where a thread's share of the columns is narrow enough that, taken
   alone, it would go row by row: 42 columns are 32 and 10 in panels of
   16, 74 are 64 and 10 in panels of 32. */
static void threads_change_no_bits(void **state) {
  (void)state;
  enum { M = 64, K = 64, N = 74 };
  static real a[M * K], b[K * N], c1[M * N], c2[M * N];
  real *pack = new_scratch(M, N, K, 1, M); /* the most of the layouts' */
  assert_non_null(pack);
  for (size_t i = 0; i < M * K; i++)
    a[i] = random_real();
  for (size_t i = 0; i < K * N; i++)
    b[i] = random_real();
  static const size_t widths[] = {42, 74};
  for (size_t w = 0; w < 2; w++)
    for (size_t l = 0; l < 4; l++) {
      size_t n = widths[w], rsa = layouts[l].trans_a ? 1 : K, csa = layouts[l].trans_a ? M : 1;
      size_t rsb = layouts[l].trans_b ? 1 : n, csb = layouts[l].trans_b ? K : 1;
      GemmFinish none = {NULL, 0};
      gemm(M, n, K, a, rsa, csa, b, rsb, csb, c1, n, 0, 1, NULL, 0, pack);
      if (gemm_by_rows(M, n, K))
        gemm_rows(M, n, K, a, rsa, csa, b, rsb, csb, c2, n, 0, 1, none);
      else
        gemm_serial(M, n, K, a, rsa, csa, b, rsb, csb, c2, n, 0, 1, none, pack);
      if (memcmp(c1, c2, sizeof(real) * M * n) != 0)
        fail_msg("%zu columns, layout %zu: %d threads and one differ", n, l, NC_THREADS);
    }
  free(pack);
}

/* Past MC = 144 rows and KC = 256 steps: several blocks, summed into C. */
static void blocked_sizes(void **state) {
  (void)state;
  for (size_t l = 0; l < 4; l++)
    for (int add = 0; add < 2; add++) {
      check_product(150, 40, 300, layouts[l], add);
      check_product(7, 100, 513, layouts[l], add);
      check_product(145, 17, 257, layouts[l], add);
    }
}

/* A's rows 4 KB apart, whose lines share a cache set: packed, as a
   transposed A is, past one block of rows and of steps, finished too. */
static void rows_a_page_apart(void **state) {
  (void)state;
  size_t page = 4096 / sizeof(real);
  for (int add = 0; add < 2; add++) {
    check_product_with(150, 40, 300, layouts[0], add, 1, 0, 0, page);
    check_product_with(13, 70, 320, layouts[1], add, (real)0.5, 1, 1, page);
  }
  assert_true(!gemm_reads_a_in_place(150, 300, page, 1) && gemm_reads_a_in_place(150, 300, page + 1, 1));
  assert_true(!gemm_reads_a_in_place(13, 320, page, 1));
}

/* Past NC (4064 to 4088 columns); with threads, shares of whole panels. */
static void wide_product(void **state) {
  (void)state;
  check_product(8, 4100, 3, layouts[0], 0);
  check_product(8, 4100, 3, layouts[3], 1);
  check_product(40, 4100, 9, layouts[1], 0);
  check_product(40, 131, 30, layouts[2], 1); /* a share that ends inside a panel */
}

/* A scale, as fused SGD updates use: every path multiplies by it. */
static void scaled_products(void **state) {
  (void)state;
  for (size_t l = 0; l < 4; l++) {
    check_product_scaled(2, 40, 30, layouts[l], 1, -0.25f);  /* rows, dot or axpy */
    check_product_scaled(40, 33, 30, layouts[l], 1, -0.25f); /* panels, edge blocks */
    check_product_scaled(13, 17, 300, layouts[l], 0, 3.0f);  /* two KC blocks */
  }
}

/* The forward products' epilogue: a bias per column, relu, or both, on
   the row path, on whole and edge blocks, after one KC block or two, and
   over threads' shares of the columns. */
static void finished_products(void **state) {
  (void)state;
  static const size_t shapes[][3] = {{1, 40, 30}, {5, 17, 3}, {13, 33, 20}, {40, 70, 300}, {64, 128, 64}, {7, 5, 0}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int f = 1; f < 4; f++)
      for (int add = 0; add < 2; add++)
        check_product_finished(shapes[s][0], shapes[s][1], shapes[s][2], layouts[(s + (size_t)f) % 4], add, 1, f & 1,
                               f >> 1);
}

/* relu as the generated code writes it, x > 0 ? x : 0: NaN and -0 give
   +0, on the row path (an empty sum added to C) and in the kernel (a NaN
   in A makes its row of C NaN; a scale of -1 makes a sum of zeros -0). */
static void relu_of_special_values(void **state) {
  (void)state;
  real c[6] = {-0.0f, NAN, -1, 2, INFINITY, -INFINITY}, pack[1], none[1] = {0};
  const real want[6] = {0, 0, 0, 2, INFINITY, 0};
  gemm(1, 6, 0, none, 0, 1, none, 6, 1, c, 6, 1, 1, NULL, 1, pack);
  assert_memory_equal(c, want, sizeof c);
  enum { M = 6, N = 16, K = 4 };
  real a[M * K], b[K * N], out[M * N], *panels = new_scratch(M, N, K, K, 1);
  assert_non_null(panels);
  for (int i = 0; i < M * K; i++)
    a[i] = i == 1 ? NAN : 1;
  for (int i = 0; i < K * N; i++)
    b[i] = (real)(i % 3) - 1;
  gemm(M, N, K, a, K, 1, b, N, 1, out, N, 0, 1, NULL, 1, panels);
  for (int j = 0; j < N; j++) {
    real zero = 0;
    assert_memory_equal(&out[j], &zero, sizeof zero); /* row 0: NaN, then 0 */
    for (int i = 1; i < M; i++)
      assert_true(out[i * N + j] >= 0);
  }
  /* -1 times a sum of zeros is -0 before relu, +0 after, in registers:
     wide enough for the kernel in every build */
  real *wide = new_scratch(M, 64, K, K, 1), zeros[K * 64] = {0}, sums[M * 64];
  assert_non_null(wide);
  gemm(M, 64, K, a, K, 1, zeros, 64, 1, sums, 64, 0, -1, NULL, 0, wide);
  assert_true(signbit(sums[64])); /* row 1: no NaN */
  gemm(M, 64, K, a, K, 1, zeros, 64, 1, sums, 64, 0, -1, NULL, 1, wide);
  for (int i = 0; i < M * 64; i++)
    assert_false(signbit(sums[i]));
  free(wide);
  free(panels);
}

/* k = 0 is an empty sum: C becomes 0, or stays as it was. */
static void empty_sum(void **state) {
  (void)state;
  check_product(7, 5, 0, layouts[0], 0);
  check_product(7, 5, 0, layouts[1], 1);
  check_product(2, 5, 0, layouts[2], 0);
}

/* The packed panels: MC x KC of A and KC x NC of B at most, each in whole
   cache lines, one set per thread; A's only where the kernel does not
   read it in place (rows of A contiguous, or all of it in L1), and none
   where the product goes row by row or through CBLAS. */
static void pack_size_is_enough(void **state) {
  (void)state;
  /* B: a panel of NR, in whole cache lines */
  assert_int_equal(gemm_pack_size(1, 1, 1, 1, 1), GEMM_NR == 32 ? 32 : 16);
  assert_int_equal(gemm_pack_size(1000, 10000, 1000, 1, 1000), GEMM_MC * GEMM_KC + GEMM_KC * GEMM_NC);
  assert_int_equal(gemm_pack_size(1000, 10000, 1000, 1001, 1), GEMM_KC * GEMM_NC);
  /* rows 4 KB apart, or 8 KB: packed */
  size_t page = 4096 / sizeof(real);
  assert_int_equal(gemm_pack_size(1000, 10000, 1000, page, 1), GEMM_MC * GEMM_KC + GEMM_KC * GEMM_NC);
  assert_int_equal(gemm_pack_size(1000, 10000, 1000, 2 * page, 1), GEMM_MC * GEMM_KC + GEMM_KC * GEMM_NC);
  assert_int_equal(gemm_pack_size(1000, 10000, 1000, page / 2, 1), GEMM_KC * GEMM_NC);
  assert_int_equal(gemm_pack_size(64, 100, 64, 1, 64), 64 * gemm_round_up(100, GEMM_NR)); /* 4096: in L1 */
  assert_int_equal(gemm_pack_size(65, 100, 64, 1, 65), 66 * 64 + 64 * gemm_round_up(100, GEMM_NR)); /* A: 11 panels of 6 */
  /* 3 steps of 17 columns, 24 wide in panels of 8, 32 in panels of 16 or 32 */
  assert_int_equal(gemm_pack_size(7, 17, 3, 1, 7), GEMM_NR == 8 ? 80 : 96);
  assert_int_equal(gemm_scratch(7, 100, 4, 1, 7), NC_THREADS * 4 * gemm_round_up(100, GEMM_NR));
  assert_int_equal(gemm_scratch(5, 100, 4, 1, 5), 0); /* fewer rows than a panel */
  assert_int_equal(gemm_scratch(7, 100, 3, 1, 7), 0); /* fewer steps than 4 */
  assert_int_equal(gemm_scratch(7, GEMM_NR / 2, 4, 1, 7), 0); /* one panel, half zeros */
}

int main(void) {
#if GEMM_WIDE
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("fma")) {
    printf("gemm: this processor has no AVX-512 and FMA; nothing to test\n");
    return 0;
  }
  printf("gemm: the AVX-512 kernel, %s, %d threads\n", NC_DOUBLE ? "double" : "float", NC_THREADS);
#elif defined(__AVX2__) && defined(__FMA__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("gemm: this processor has no AVX2 and FMA; nothing to test\n");
    return 0;
  }
  printf("gemm: the AVX2 and FMA kernel, %s, %d threads\n", NC_DOUBLE ? "double" : "float", NC_THREADS);
#else
  printf("gemm: the portable kernel, %s\n", NC_DOUBLE ? "double" : "float");
#endif
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(small_sizes),          cmocka_unit_test(row_path_sizes),
      cmocka_unit_test(outer_product_sizes),  cmocka_unit_test(alignment_changes_no_bit),
      cmocka_unit_test(zero_rows_of_one_step), cmocka_unit_test(threads_change_no_bits),
      cmocka_unit_test(blocked_sizes),        cmocka_unit_test(rows_a_page_apart),
      cmocka_unit_test(wide_product),
      cmocka_unit_test(empty_sum),   cmocka_unit_test(pack_size_is_enough), cmocka_unit_test(scaled_products),
      cmocka_unit_test(finished_products), cmocka_unit_test(relu_of_special_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
