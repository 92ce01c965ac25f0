/* ---- matrix products over the batch: a BLIS-style GEMM ----

   C[i][j] (+)= s * sum_p A(i, p) B(p, j), s a scale (1 but for fused
   updates: W -= lr / batch * dY^T X), then a bias per column and relu if
   asked (a forward product's epilogue), with A(i, p) = a[i * rsa + p * csa]
   and B(p, j) = b[p * rsb + j * csb]: the strides say which operand is
   transposed, so one routine serves Y = X W^T, dX = dY W and dW += dY^T X.
   Blocks of B (KC x NC) are copied into panels of NR columns, in the order
   the micro-kernel reads them, and blocks of A (MC x KC) into panels of MR
   rows unless the kernel reads A where it is; the kernel keeps an MR x NR
   block of C in registers across KC steps. Each element
   of C sums its terms in the order of p, in blocks of KC, so a build gives
   the same results on every run and for every batch size of six or more. */

/* Vectors of 512 bits where the compiler may use AVX-512 (-march=native on
   such a machine): twice the columns for each instruction. Even where the
   processor splits them in two, as AMD's Zen 4 does, the kernel issues
   half the instructions for the same FMAs; it ran 1.10-1.15 times as fast
   as the same kernel in AVX2 here. */
#if defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#define GEMM_WIDE 1
#else
#define GEMM_WIDE 0
#endif
#if NC_DOUBLE
enum { GEMM_MR = 6, GEMM_NR = GEMM_WIDE ? 16 : 8 };
#else
enum { GEMM_MR = 6, GEMM_NR = GEMM_WIDE ? 32 : 16 };
#endif
enum { GEMM_MC = 144, GEMM_KC = 256, GEMM_NC = 4096 - GEMM_NR }; /* NC: whole panels */

/* What C's elements get once their sums are complete: bias[j] added to
   column j (NULL: nothing), then max(x, 0) if relu. A forward product's
   user, relu(W @ x + b), then needs no pass of its own; the arithmetic is
   that pass's, to the bit. */
typedef struct {
  const real *bias;
  int relu;
} GemmFinish;

static real gemm_finish1(real v, GemmFinish f, size_t j) {
  v = f.bias ? v + f.bias[j] : v;
  return f.relu ? (v > 0 ? v : 0) : v;
}

/* F for the columns from J on. */
static GemmFinish gemm_finish_at(GemmFinish f, size_t j) {
  GemmFinish at = {f.bias ? f.bias + j : NULL, f.relu};
  return at;
}

static size_t gemm_round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
static size_t gemm_min(size_t a, size_t b) { return a < b ? a : b; }

/* Reals of the panels of A one thread packs for an M x N x K product:
   whole cache lines, so that the panels of B after them start 64-byte
   aligned, as each thread's do (gemm_pack_size, below). */
static size_t gemm_pack_a_size(size_t m, size_t k) {
  return gemm_round_up(gemm_round_up(gemm_min(m, GEMM_MC), GEMM_MR) * gemm_min(k, GEMM_KC), 16);
}


/* dst[p * ldd + j] = src[j * lds + p] for p, j < 8: a block of B^T into a panel. */
#if defined(__AVX2__) && defined(__FMA__) && !NC_DOUBLE
#include <immintrin.h>
/* The 8 x 8 block in R (a vector a row) transposed in place. */
static void gemm_transpose_block(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
    u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xee);
    u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
    u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xee);
  }
  for (int k = 0; k < 4; k++) {
    r[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
    r[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
  }
}

static void gemm_transpose8(const float *src, size_t lds, float *dst, size_t ldd) {
  __m256 r[8];
  for (int k = 0; k < 8; k++)
    r[k] = _mm256_loadu_ps(src + k * lds);
  gemm_transpose_block(r);
  for (int k = 0; k < 8; k++)
    _mm256_storeu_ps(dst + k * ldd, r[k]);
}

#else
static void gemm_transpose8(const real *src, size_t lds, real *dst, size_t ldd) {
  for (size_t p = 0; p < 8; p++)
    for (size_t j = 0; j < 8; j++)
      dst[p * ldd + j] = src[j * lds + p];
}
#endif

/* A(i0.., p0..) for MC x KC into panels of MR rows: panel r holds
   A(i0 + r * MR + i, p0 + p) at [p * MR + i]. The rows of the last panel
   past M are left as they are: the kernel never reads them. Only a
   transposed A, or rows 4 KB apart, get here (gemm_reads_a_in_place). */
static void gemm_pack_a(size_t mc, size_t kc, const real *a, size_t rsa, size_t csa, real *pack) {
  for (size_t r = 0; r < mc; r += GEMM_MR) {
    size_t rows = gemm_min(GEMM_MR, mc - r), p = 0;
    if (rows == GEMM_MR && rsa == 1) /* A^T stored row-major: a step is MR contiguous reals */
      for (; p < kc; p++)
        for (size_t i = 0; i < GEMM_MR; i++)
          pack[p * GEMM_MR + i] = a[r + i + p * csa];
    for (; p < kc; p++)
      for (size_t i = 0; i < rows; i++)
        pack[p * GEMM_MR + i] = a[(r + i) * rsa + p * csa];
    pack += GEMM_MR * kc;
  }
}

/* B(p0.., j0..) for KC x NC into panels of NR columns: panel q holds
   B(p0 + p, j0 + q * NR + j) at [p * NR + j]; columns past N are zero. */
static void gemm_pack_b(size_t kc, size_t nc, const real *b, size_t rsb, size_t csb, real *pack) {
  for (size_t q = 0; q < nc; q += GEMM_NR) {
    size_t cols = gemm_min(GEMM_NR, nc - q);
    if (csb == 1 && cols == GEMM_NR) { /* whole rows of the panel: copies of a fixed length */
      for (size_t p = 0; p < kc; p++)
        for (size_t j = 0; j < GEMM_NR; j++)
          pack[p * GEMM_NR + j] = b[p * rsb + q + j];
    } else if (csb == 1 || rsb != 1) {
      if (cols < GEMM_NR) /* the last panel: zero, then its columns */
        memset(pack, 0, sizeof(real) * GEMM_NR * kc);
      for (size_t p = 0; p < kc; p++)
        for (size_t j = 0; j < cols; j++)
          pack[p * GEMM_NR + j] = b[p * rsb + (q + j) * csb];
    } else { /* B^T stored row-major: along its rows, eight by eight where whole */
      size_t p = 0;
      if (cols == GEMM_NR)
        for (; p + 8 <= kc; p += 8)
          for (size_t j = 0; j < GEMM_NR; j += 8)
            gemm_transpose8(b + p + (q + j) * csb, csb, pack + p * GEMM_NR + j, GEMM_NR);
      else /* the last panel: zero, then its columns, each along B^T's row */
        memset(pack, 0, sizeof(real) * GEMM_NR * kc);
      for (size_t j = 0; j < cols; j++)
        for (size_t pj = p; pj < kc; pj++)
          pack[pj * GEMM_NR + j] = b[pj + (q + j) * csb];
    }
    pack += GEMM_NR * kc;
  }
}

/* The MR x NR block of C at c (rows x cols of it inside C): the KC-long
   product of MR rows of A, A(i, p) at a[i * rsa + p * csa] (a panel: rsa
   1, csa MR), and one panel of B, stored or added. */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
/* Vectors of 256 bits: the kernel's without AVX-512, and gemm_dot's always. */
#if NC_DOUBLE
#define GEMM_YMM_VEC __m256d
#define GEMM_YMM_LOAD _mm256_loadu_pd
#define GEMM_YMM_STORE _mm256_storeu_pd
#define GEMM_YMM_ADD _mm256_add_pd
#define GEMM_YMM_MAX _mm256_max_pd
#define GEMM_YMM_MUL _mm256_mul_pd
#define GEMM_YMM_FMA _mm256_fmadd_pd
#define GEMM_YMM_ZERO _mm256_setzero_pd
#define GEMM_YMM_SPLAT _mm256_broadcast_sd
enum { GEMM_YMM_W = 4 };
#else
#define GEMM_YMM_VEC __m256
#define GEMM_YMM_LOAD _mm256_loadu_ps
#define GEMM_YMM_STORE _mm256_storeu_ps
#define GEMM_YMM_ADD _mm256_add_ps
#define GEMM_YMM_MAX _mm256_max_ps
#define GEMM_YMM_MUL _mm256_mul_ps
#define GEMM_YMM_FMA _mm256_fmadd_ps
#define GEMM_YMM_ZERO _mm256_setzero_ps
#define GEMM_YMM_SPLAT _mm256_broadcast_ss
enum { GEMM_YMM_W = 8 };
#endif
#if GEMM_WIDE && NC_DOUBLE
#define GEMM_VEC __m512d
#define GEMM_LOAD _mm512_loadu_pd
#define GEMM_STORE _mm512_storeu_pd
#define GEMM_ADD _mm512_add_pd
#define GEMM_MAX _mm512_max_pd
#define GEMM_MUL _mm512_mul_pd
#define GEMM_FMA _mm512_fmadd_pd
#define GEMM_ZERO _mm512_setzero_pd
#define GEMM_SPLAT(p) _mm512_set1_pd(*(p))
enum { GEMM_W = 8 };
#elif GEMM_WIDE
#define GEMM_VEC __m512
#define GEMM_LOAD _mm512_loadu_ps
#define GEMM_STORE _mm512_storeu_ps
#define GEMM_ADD _mm512_add_ps
#define GEMM_MAX _mm512_max_ps
#define GEMM_MUL _mm512_mul_ps
#define GEMM_FMA _mm512_fmadd_ps
#define GEMM_ZERO _mm512_setzero_ps
#define GEMM_SPLAT(p) _mm512_set1_ps(*(p))
enum { GEMM_W = 16 };
#else
#define GEMM_VEC GEMM_YMM_VEC
#define GEMM_LOAD GEMM_YMM_LOAD
#define GEMM_STORE GEMM_YMM_STORE
#define GEMM_ADD GEMM_YMM_ADD
#define GEMM_MAX GEMM_YMM_MAX
#define GEMM_MUL GEMM_YMM_MUL
#define GEMM_FMA GEMM_YMM_FMA
#define GEMM_ZERO GEMM_YMM_ZERO
#define GEMM_SPLAT GEMM_YMM_SPLAT
enum { GEMM_W = GEMM_YMM_W };
#endif
/* Twelve accumulators in named variables: an array of them would live in
   memory under some compilers. Row R of the block is cR0 and cR1. */
#define GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define GEMM_DECLARE(R) GEMM_VEC c##R##0 = GEMM_ZERO(), c##R##1 = GEMM_ZERO();
#define GEMM_SCALE(R) c##R##0 = GEMM_MUL(c##R##0, s), c##R##1 = GEMM_MUL(c##R##1, s);
#define GEMM_PREFETCH(R)                                                                                              \
  _mm_prefetch((const char *)(c + R * ldc), _MM_HINT_T0);                                                             \
  _mm_prefetch((const char *)(c + R * ldc + GEMM_NR - 1), _MM_HINT_T0);
#define GEMM_ROW_OF_A(R) const real *a##R = a + (R < rows ? R : rows - 1) * rsa;
#define GEMM_STEP(R)                                                                                                  \
  {                                                                                                                   \
    GEMM_VEC ar = GEMM_SPLAT(a##R + o);                                                                               \
    c##R##0 = GEMM_FMA(ar, b0, c##R##0);                                                                              \
    c##R##1 = GEMM_FMA(ar, b1, c##R##1);                                                                              \
  }
#define GEMM_STEP_HALF(R) c##R##0 = GEMM_FMA(GEMM_SPLAT(a##R + o), b0, c##R##0);
#if defined(__GNUC__) && !GEMM_WIDE
/* B's two vectors in registers here: with only 16 of them, gcc otherwise
   folds their loads into the FMAs that use them, six loads where one
   will do, and the loads, not the FMAs, set the pace (1.05-1.15 times
   as slow on AMD's Zen 3). An empty asm costs nothing. */
#define GEMM_HOLD(x, y) __asm__("" : "+x"(x), "+x"(y));
#else
#define GEMM_HOLD(x, y)
#endif
/* The KC steps from p on, A's CSA reals apart, four a turn: fewer
   branches between the FMAs. It advances gemm_kernel's p, o and b. */
#define GEMM_STEPS(CSA)                                                                                               \
  for (; p + 4 <= kc; p += 4, b += 4 * GEMM_NR) {                                                                     \
    GEMM_VEC b0 = GEMM_LOAD(b), b1 = GEMM_LOAD(b + GEMM_W);                                                           \
    GEMM_HOLD(b0, b1)                                                                                                 \
    GEMM_ROWS(GEMM_STEP)                                                                                              \
    b0 = GEMM_LOAD(b + GEMM_NR), b1 = GEMM_LOAD(b + GEMM_NR + GEMM_W); GEMM_HOLD(b0, b1)                              \
    o += (CSA);                                                                                                       \
    GEMM_ROWS(GEMM_STEP)                                                                                              \
    b0 = GEMM_LOAD(b + 2 * GEMM_NR), b1 = GEMM_LOAD(b + 2 * GEMM_NR + GEMM_W); GEMM_HOLD(b0, b1)                      \
    o += (CSA);                                                                                                       \
    GEMM_ROWS(GEMM_STEP)                                                                                              \
    b0 = GEMM_LOAD(b + 3 * GEMM_NR), b1 = GEMM_LOAD(b + 3 * GEMM_NR + GEMM_W); GEMM_HOLD(b0, b1)                      \
    o += (CSA);                                                                                                       \
    GEMM_ROWS(GEMM_STEP)                                                                                              \
    o += (CSA);                                                                                                       \
  }                                                                                                                   \
  GEMM_STEPS_BY_ONE(CSA)
/* The same, one step a turn. */
#define GEMM_STEPS_BY_ONE(CSA)                                                                                        \
  for (; p < kc; p++, o += (CSA), b += GEMM_NR) {                                                                     \
    GEMM_VEC b0 = GEMM_LOAD(b), b1 = GEMM_LOAD(b + GEMM_W);                                                           \
    GEMM_ROWS(GEMM_STEP)                                                                                              \
  }
/* Rows past the block's are not C's to read or write: the tests of R < rows */
#define GEMM_ADD_C(R)                                                                                                 \
  if (R < rows)                                                                                                       \
    c##R##0 = GEMM_ADD(GEMM_LOAD(c + R * ldc), c##R##0), c##R##1 = GEMM_ADD(GEMM_LOAD(c + R * ldc + GEMM_W), c##R##1);
#define GEMM_BIAS(R) c##R##0 = GEMM_ADD(c##R##0, bias0), c##R##1 = GEMM_ADD(c##R##1, bias1);
/* max(x, 0) with x first: a NaN or either zero gives the second, 0, as x > 0 ? x : 0 does */
#define GEMM_RELU(R) c##R##0 = GEMM_MAX(c##R##0, zero), c##R##1 = GEMM_MAX(c##R##1, zero);
#define GEMM_PUT(R)                                                                                                   \
  if (R < rows)                                                                                                       \
    GEMM_STORE(out + R * ld, c##R##0), GEMM_STORE(out + R * ld + GEMM_W, c##R##1);

static void gemm_kernel(size_t kc, const real *a, size_t rsa, size_t csa, const real *b, real *c, size_t ldc,
                        size_t rows, size_t cols, int add, real scale, GemmFinish fin) {
  GEMM_ROWS(GEMM_ROW_OF_A) /* rows past the block repeat its last: their sums stop in the tile */
  if (rows == GEMM_MR) { /* C's block, read or written after the loop; rows past C are not C's to point at */
    GEMM_ROWS(GEMM_PREFETCH)
  }
  GEMM_ROWS(GEMM_DECLARE)
  size_t p = 0, o = 0; /* o: step p's offset in A's rows, p * csa */
  if (cols <= GEMM_W) { /* a panel at most half full (10 classes): half the FMAs */
    for (; p < kc; p++, o += csa, b += GEMM_NR) {
      GEMM_VEC b0 = GEMM_LOAD(b);
      GEMM_ROWS(GEMM_STEP_HALF)
    }
  }
  /* A's step a constant where it is one, rows in place (1) or a panel
     (MR): four steps of a row then sit at fixed offsets from one pointer.
     With a variable step gcc keeps 24 pointers, spills them and runs 1.2
     times as slow; there one step a turn is 1.3 times as fast as four. */
  if (csa == 1) {
    GEMM_STEPS(1)
  } else if (csa == GEMM_MR) {
    GEMM_STEPS(GEMM_MR)
  } else {
    GEMM_STEPS_BY_ONE(csa)
  }
  if (scale != 1) {
    GEMM_VEC s = GEMM_SPLAT(&scale);
    GEMM_ROWS(GEMM_SCALE)
  }
  if (cols < GEMM_NR) { /* a block at C's right edge goes through a tile */
    real tile[GEMM_MR * GEMM_NR], *out = tile;
    size_t ld = GEMM_NR;
    GEMM_ROWS(GEMM_PUT)
    for (size_t i = 0; i < rows; i++)
      for (size_t j = 0; j < cols; j++)
        c[i * ldc + j] = gemm_finish1(add ? c[i * ldc + j] + tile[i * GEMM_NR + j] : tile[i * GEMM_NR + j], fin, j);
    return;
  }
  /* whole rows: finished in registers, the order of the tile's arithmetic */
  if (add) {
    GEMM_ROWS(GEMM_ADD_C)
  }
  if (fin.bias) {
    GEMM_VEC bias0 = GEMM_LOAD(fin.bias), bias1 = GEMM_LOAD(fin.bias + GEMM_W);
    GEMM_ROWS(GEMM_BIAS)
  }
  if (fin.relu) {
    const GEMM_VEC zero = GEMM_ZERO();
    GEMM_ROWS(GEMM_RELU)
  }
  real *out = c;
  size_t ld = ldc;
  GEMM_ROWS(GEMM_PUT)
}
#else
/* Portable: the same sums in the same order, as plain loops. */
static void gemm_kernel(size_t kc, const real *a, size_t rsa, size_t csa, const real *b, real *c, size_t ldc,
                        size_t rows, size_t cols, int add, real scale, GemmFinish fin) {
  real acc[GEMM_MR][GEMM_NR];
  memset(acc, 0, sizeof acc);
  for (size_t p = 0; p < kc; p++, b += GEMM_NR)
    for (size_t i = 0; i < rows; i++)
      for (int j = 0; j < GEMM_NR; j++)
        acc[i][j] += a[i * rsa + p * csa] * b[j];
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < cols; j++)
      c[i * ldc + j] = gemm_finish1(add ? c[i * ldc + j] + scale * acc[i][j] : scale * acc[i][j], fin, j);
}
#endif

/* A block of C finished after its sums are stored: the products that go
   row by row or by CBLAS; the kernel finishes its blocks in registers. */
static void gemm_finish_block(real *c, size_t ldc, size_t rows, size_t cols, GemmFinish f) {
  for (size_t i = 0; i < rows; i++) { /* a loop for each part of the finish: each vectorizes */
    real *ci = c + i * ldc;
    for (size_t j = 0; f.bias && j < cols; j++)
      ci[j] += f.bias[j];
    for (size_t j = 0; f.relu && j < cols; j++)
      ci[j] = ci[j] > 0 ? ci[j] : 0;
  }
}

/* The sum of x[p] y[p] for p < k, both contiguous, in a fixed order:
   partial sums in four vectors where there are vectors, eight partial
   sums that a compiler vectorizes without -ffast-math where not. The
   vectors are of 256 bits even where the kernel's are of 512: four of 512
   bits need 64 steps, and the rows a dot product reads are seldom 64-byte
   aligned, so that each 512-bit load crosses a cache line (10 classes
   took 1.15-1.5 times as long with them). */
#if defined(__AVX2__) && defined(__FMA__)
static real gemm_dot(size_t k, const real *x, const real *y) {
  GEMM_YMM_VEC s0 = GEMM_YMM_ZERO(), s1 = GEMM_YMM_ZERO(), s2 = GEMM_YMM_ZERO(), s3 = GEMM_YMM_ZERO();
  size_t p = 0;
  for (; p + 4 * GEMM_YMM_W <= k; p += 4 * GEMM_YMM_W) {
    s0 = GEMM_YMM_FMA(GEMM_YMM_LOAD(x + p), GEMM_YMM_LOAD(y + p), s0);
    s1 = GEMM_YMM_FMA(GEMM_YMM_LOAD(x + p + GEMM_YMM_W), GEMM_YMM_LOAD(y + p + GEMM_YMM_W), s1);
    s2 = GEMM_YMM_FMA(GEMM_YMM_LOAD(x + p + 2 * GEMM_YMM_W), GEMM_YMM_LOAD(y + p + 2 * GEMM_YMM_W), s2);
    s3 = GEMM_YMM_FMA(GEMM_YMM_LOAD(x + p + 3 * GEMM_YMM_W), GEMM_YMM_LOAD(y + p + 3 * GEMM_YMM_W), s3);
  }
  for (; p + GEMM_YMM_W <= k; p += GEMM_YMM_W)
    s0 = GEMM_YMM_FMA(GEMM_YMM_LOAD(x + p), GEMM_YMM_LOAD(y + p), s0);
  real part[GEMM_YMM_W];
  GEMM_YMM_STORE(part, GEMM_YMM_ADD(GEMM_YMM_ADD(s0, s1), GEMM_YMM_ADD(s2, s3)));
  for (int half = GEMM_YMM_W / 2; half > 0; half /= 2) /* a tree: fewer adds in a row than lanes */
    for (int u = 0; u < half; u++)
      part[u] += part[u + half];
  real acc = part[0];
  for (size_t left = k - p, u = 0; u < left; u++) /* counted from 0, as in gemm_outer */
    acc += x[p + u] * y[p + u];
  return acc;
}
#else
static real gemm_dot(size_t k, const real *x, const real *y) {
  real part[8] = {0};
  size_t whole = k - k % 8;
  for (size_t p = 0; p < whole; p += 8)
    for (int u = 0; u < 8; u++)
      part[u] += x[p + u] * y[p + u];
  real acc = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (size_t p = whole; p < k; p++)
    acc += x[p] * y[p];
  return acc;
}
#endif

/* Eight sums at once: C[c] (+)= s * sum_p x[p] y_c[p], y_c = y + c *
   ldy, the columns of B that a row of A meets. One vector of partial
   sums per column shares each load of x; a tree of horizontal adds brings
   the eight vectors down to one, which is scaled and stored as it is. The
   order is fixed, as in gemm_dot. */
#if defined(__AVX2__) && defined(__FMA__) && !NC_DOUBLE
#define GEMM_DOT8(C) s##C = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y + C * ldy + p), s##C);
static void gemm_dot8(size_t k, const float *x, const float *y, size_t ldy, float *c, int add, float scale) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  size_t whole = k - k % 8; /* the steps in vectors: a bound of its own lets the compiler count the tail's */
  for (size_t p = 0; p < whole; p += 8) {
    __m256 xv = _mm256_loadu_ps(x + p);
    GEMM_DOT8(0) GEMM_DOT8(1) GEMM_DOT8(2) GEMM_DOT8(3) GEMM_DOT8(4) GEMM_DOT8(5) GEMM_DOT8(6) GEMM_DOT8(7)
  }
  __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
  __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(s4, s5), _mm256_hadd_ps(s6, s7));
  __m256 dots = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
  if (whole < k) { /* the steps left over, one sum at a time */
    float part[8];
    _mm256_storeu_ps(part, dots);
    for (size_t u = 0; u < 8; u++)
      for (size_t p = whole; p < k; p++)
        part[u] += x[p] * y[u * ldy + p];
    dots = _mm256_loadu_ps(part);
  }
  dots = _mm256_mul_ps(_mm256_set1_ps(scale), dots);
  _mm256_storeu_ps(c, add ? _mm256_add_ps(_mm256_loadu_ps(c), dots) : dots);
}
#else
static void gemm_dot8(size_t k, const real *x, const real *y, size_t ldy, real *c, int add, real scale) {
  for (size_t u = 0; u < 8; u++)
    c[u] = add ? c[u] + scale * gemm_dot(k, x, y + u * ldy) : scale * gemm_dot(k, x, y + u * ldy);
}
#endif

/* C's row (+)= s * the row of A times B, B along its rows (csb 1): C's
   row stays in registers, four vectors at a time, then one, over all k
   steps. Terms
   are added in the order of p, each as s * A(i, p) times B's element. */
#if defined(__AVX2__) && defined(__FMA__)
#define GEMM_AXPY_COLS (4 * GEMM_W)
static void gemm_row_axpy(size_t n, size_t k, const real *ai, size_t csa, const real *b, size_t rsb, real *ci,
                          int add, real scale) {
  size_t whole = n - n % GEMM_AXPY_COLS;
  for (size_t j = 0; j < whole; j += GEMM_AXPY_COLS) {
    GEMM_VEC c0 = GEMM_ZERO(), c1 = c0, c2 = c0, c3 = c0;
    if (add)
      c0 = GEMM_LOAD(ci + j), c1 = GEMM_LOAD(ci + j + GEMM_W), c2 = GEMM_LOAD(ci + j + 2 * GEMM_W),
      c3 = GEMM_LOAD(ci + j + 3 * GEMM_W);
    for (size_t p = 0; p < k; p++) {
      real aip = scale * ai[p * csa];
      GEMM_VEC av = GEMM_SPLAT(&aip);
      const real *bp = b + p * rsb + j;
      c0 = GEMM_FMA(av, GEMM_LOAD(bp), c0);
      c1 = GEMM_FMA(av, GEMM_LOAD(bp + GEMM_W), c1);
      c2 = GEMM_FMA(av, GEMM_LOAD(bp + 2 * GEMM_W), c2);
      c3 = GEMM_FMA(av, GEMM_LOAD(bp + 3 * GEMM_W), c3);
    }
    GEMM_STORE(ci + j, c0), GEMM_STORE(ci + j + GEMM_W, c1), GEMM_STORE(ci + j + 2 * GEMM_W, c2),
        GEMM_STORE(ci + j + 3 * GEMM_W, c3);
  }
  /* then two vectors, whose sums' chains of FMAs overlap (dL/dh of 32 units, 10 classes), then one */
  size_t pairs = whole + (n - whole) / (2 * GEMM_W) * (2 * GEMM_W);
  for (size_t j = whole; j < pairs; j += 2 * GEMM_W) {
    GEMM_VEC c0 = GEMM_ZERO(), c1 = c0;
    if (add)
      c0 = GEMM_LOAD(ci + j), c1 = GEMM_LOAD(ci + j + GEMM_W);
    for (size_t p = 0; p < k; p++) {
      real aip = scale * ai[p * csa];
      GEMM_VEC av = GEMM_SPLAT(&aip);
      c0 = GEMM_FMA(av, GEMM_LOAD(b + p * rsb + j), c0);
      c1 = GEMM_FMA(av, GEMM_LOAD(b + p * rsb + j + GEMM_W), c1);
    }
    GEMM_STORE(ci + j, c0), GEMM_STORE(ci + j + GEMM_W, c1);
  }
  size_t vectors = n - n % GEMM_W;
  for (size_t j = pairs; j < vectors; j += GEMM_W) {
    GEMM_VEC c0 = add ? GEMM_LOAD(ci + j) : GEMM_ZERO();
    for (size_t p = 0; p < k; p++) {
      real aip = scale * ai[p * csa];
      c0 = GEMM_FMA(GEMM_SPLAT(&aip), GEMM_LOAD(b + p * rsb + j), c0);
    }
    GEMM_STORE(ci + j, c0);
  }
  for (size_t j = vectors; j < n; j++) {
    real acc = add ? ci[j] : 0;
    for (size_t p = 0; p < k; p++)
      acc += scale * ai[p * csa] * b[p * rsb + j];
    ci[j] = acc;
  }
}
#else
static void gemm_row_axpy(size_t n, size_t k, const real *ai, size_t csa, const real *b, size_t rsb, real *ci,
                          int add, real scale) {
  if (!add)
    for (size_t j = 0; j < n; j++)
      ci[j] = 0;
  for (size_t p = 0; p < k; p++) {
    const real aip = scale * ai[p * csa], *bp = b + p * rsb;
    for (size_t j = 0; j < n; j++)
      ci[j] += aip * bp[j];
  }
}
#endif

/* C (+)= s * a b^T, a product of one step (the outer product of one
   example's adjoint and input: dW for a batch of one), B's row
   contiguous and at most eight vectors long. B stays in registers down
   all of C's rows, eight vectors at a time, then four, then one, so each
   element of C costs a load, an FMA and a store. A longer row goes along
   C's rows instead (gemm_row_axpy), in the order of memory: column
   blocks down a large C were slower. The arithmetic is gemm_row_axpy's
   for k = 1, to the bit; where gemm_row takes dot products instead (A's
   row and B's columns contiguous), it still does, so no stride pattern
   changes its results. */
#if defined(__AVX2__) && defined(__FMA__)
#define GEMM_OUTER_COLS (8 * GEMM_W)
#define GEMM_VECTORS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define GEMM_VECTORS4(X) X(0) X(1) X(2) X(3)
#define GEMM_VECTORS1(X) X(0)
#define GEMM_OUTER_LOAD(V) GEMM_VEC b##V = GEMM_LOAD(b + j + V * GEMM_W);
#define GEMM_OUTER_PUT(V) GEMM_STORE(ci + V * GEMM_W, GEMM_FMA(av, b##V, add ? GEMM_LOAD(ci + V * GEMM_W) : zero));
/* Columns from j on, V vectors at a time, down all the rows. */
#define GEMM_OUTER_BLOCKS(V)                                                                                          \
  for (; j + V * GEMM_W <= n; j += V * GEMM_W) {                                                                      \
    GEMM_VECTORS##V(GEMM_OUTER_LOAD)                                                                                  \
    for (size_t i = 0; i < m; i++) {                                                                                  \
      real ai = scale * a[i * rsa], *ci = c + i * ldc + j;                                                            \
      GEMM_VEC av = GEMM_SPLAT(&ai);                                                                                  \
      GEMM_VECTORS##V(GEMM_OUTER_PUT)                                                                                 \
    }                                                                                                                 \
  }
static void gemm_outer(size_t m, size_t n, const real *a, size_t rsa, const real *b, real *c, size_t ldc, int add,
                       real scale) {
  const GEMM_VEC zero = GEMM_ZERO();
  size_t j = 0;
  GEMM_OUTER_BLOCKS(8)
  GEMM_OUTER_BLOCKS(4)
  GEMM_OUTER_BLOCKS(1)
  /* counted from 0 to n - j: gcc -O3 warns on "j < n" here, seeing an
     endless loop in a copy it specializes (-Waggressive-loop-optimizations) */
  for (size_t left = n - j, i = 0; left > 0 && i < m; i++)
    for (size_t u = 0; u < left; u++) {
      real acc = add ? c[i * ldc + j + u] : 0;
      acc += scale * a[i * rsa] * b[j + u];
      c[i * ldc + j + u] = acc;
    }
}
#endif

/* Row i of C from row i of A, AI, along whichever of B's strides is 1. */
static void gemm_row(size_t n, size_t k, const real *ai, size_t csa, const real *b, size_t rsb, size_t csb, real *ci,
                     int add, real scale) {
  if (rsb == 1 && csa == 1) { /* the row of A by columns of B, both contiguous */
    size_t whole = n - n % 8;
    for (size_t j = 0; j < whole; j += 8)
      gemm_dot8(k, ai, b + j * csb, csb, ci + j, add, scale);
    for (size_t j = whole; j < n; j++)
      ci[j] = add ? ci[j] + scale * gemm_dot(k, ai, b + j * csb) : scale * gemm_dot(k, ai, b + j * csb);
    return;
  }
  if (csb == 1) {
    gemm_row_axpy(n, k, ai, csa, b, rsb, ci, add, scale);
    return;
  }
  if (!add)
    for (size_t j = 0; j < n; j++)
      ci[j] = 0;
  for (size_t p = 0; p < k; p++) { /* down B's columns */
    const real aip = scale * ai[p * csa], *bp = b + p * rsb;
    for (size_t j = 0; j < n; j++)
      ci[j] += aip * bp[j * csb];
  }
}

/* A product of one step that adds into C (k = 1, as dW for a batch of
   one) adds s a[i] times B's row to C's row i. Where a[i] is 0 and s and
   B's row are finite, that adds zeros, and the row is left as it is:
   with relu, an example's adjoint is 0 at every unit that is off, about
   half of them, so an SGD step of one example writes only the rows of W
   it changes. Adding the zeros could change one thing, a -0 in C, which
   -0 + 0 makes +0 and a skipped row keeps. The rows to compute are
   listed without branches, so a pattern that changes from example to
   example costs no mispredicted jumps. Rows shorter than
   GEMM_SKIP_FROM are all computed: there the list and the check of B
   cost as much as the rows they save (64-32-10 at batch 1: no faster). */
#define GEMM_SKIP_FROM 128
#define GEMM_LISTED_ROWS 256
static int gemm_skips_zero_rows(size_t n, size_t k, const real *b, size_t csb, int add, real scale, GemmFinish fin) {
  if (k != 1 || !add || n < GEMM_SKIP_FROM || fin.bias || fin.relu)
    return 0;
  int finite = scale - scale == 0;
  for (size_t j = 0; j < n; j++)
    finite &= b[j * csb] - b[j * csb] == 0;
  return finite;
}

/* C's rows from i0 on, at most GEMM_LISTED_ROWS of the m, whose factor in
   A is not 0, for a product that skips zero rows. */
static void gemm_nonzero_rows(size_t m, size_t i0, size_t n, const real *a, size_t rsa, size_t csa, const real *b,
                              size_t rsb, size_t csb, real *c, size_t ldc, real scale) {
  size_t rows[GEMM_LISTED_ROWS], count = 0;
  for (size_t i = i0; i < gemm_min(m, i0 + GEMM_LISTED_ROWS); i++) {
    rows[count] = i;
    count += a[i * rsa] != 0;
  }
  for (size_t r = 0; r < count; r++)
    gemm_row(n, 1, a + rows[r] * rsa, csa, b, rsb, csb, c + rows[r] * ldc, 1, scale);
}

/* Too few rows or steps for panels to pay (a batch of one, an outer
   product of one example), or too few columns (gemm_by_rows): each row
   of C straight from the operands, then finished. */
static void gemm_rows(size_t m, size_t n, size_t k, const real *a, size_t rsa, size_t csa, const real *b, size_t rsb,
                      size_t csb, real *c, size_t ldc, int add, real scale, GemmFinish fin) {
  if (gemm_skips_zero_rows(n, k, b, csb, add, scale, fin)) {
    for (size_t i0 = 0; i0 < m; i0 += GEMM_LISTED_ROWS)
      gemm_nonzero_rows(m, i0, n, a, rsa, csa, b, rsb, csb, c, ldc, scale);
    return;
  }
#if defined(__AVX2__) && defined(__FMA__)
  if (k == 1 && csb == 1 && !(rsb == 1 && csa == 1) && n <= GEMM_OUTER_COLS && !fin.bias && !fin.relu) {
    gemm_outer(m, n, a, rsa, b, c, ldc, add, scale);
    return;
  }
#endif
  for (size_t i = 0; i < m; i++) {
    real *ci = c + i * ldc;
    gemm_row(n, k, a + i * rsa, csa, b, rsb, csb, ci, add, scale);
    if (fin.bias || fin.relu)
      gemm_finish_block(ci, ldc, 1, n, fin);
  }
}

/* Does an M x N x K product go row by row (gemm_rows), not through panels?
   With few rows or steps, and where it is so narrow that its one panel of
   B would be more than a third zeros (10 classes in panels of 16 or 32):
   the kernel's FMAs on the zeros cost more than dot products do. Decided
   for the whole product, never for a thread's share of its columns, so
   that the number of threads changes no sum's order. */
static int gemm_by_rows(size_t m, size_t n, size_t k) { return m < GEMM_MR || k < 4 || 3 * n <= 2 * GEMM_NR; }

/* Does the kernel read A where it is, rather than from panels? Where A's
   rows are contiguous the kernel reads six of them side by side, as it
   would a panel, and packing them took 40% of a 32 x 32 x 64 product
   (1.47 times as fast without it, 1.2 times for 64 x 128 x 784), unless
   the rows are a multiple of 4 KB apart: then every row's line at a
   given column falls in the same set of the caches, and the kernel's six
   rows, its panel of B and the block's other rows evict each other
   (1024 floats a row, 256 x 1024 x 1024: 1.02-1.09 times as fast packed,
   a step of 1024-1024-1024 about 1.02 times; Zen 3). A transposed A is
   read in place only while all of it fits in L1: each step of a large
   one would read another line and page (1.2 times as slow for 1024 x
   1024 x 256). */
static int gemm_reads_a_in_place(size_t m, size_t k, size_t rsa, size_t csa) {
  return m * k <= 4096 || (csa == 1 && rsa * sizeof(real) % 4096 != 0);
}

/* Reals of panels one thread packs for an M x N x K product whose A has
   strides RSA, CSA: A's only where the kernel does not read it in place. */
static size_t gemm_pack_size(size_t m, size_t n, size_t k, size_t rsa, size_t csa) {
  size_t b = gemm_round_up(gemm_min(k, GEMM_KC) * gemm_round_up(gemm_min(n, GEMM_NC), GEMM_NR), 16);
  return (gemm_reads_a_in_place(m, k, rsa, csa) ? 0 : gemm_pack_a_size(m, k)) + b;
}

/* Reals of scratch gemm() needs for that product: panels for each of its
   NC_THREADS threads; none with CBLAS, nor where it goes row by row (a
   batch of one: the workspace holds only what the backward pass needs). */
static size_t gemm_scratch(size_t m, size_t n, size_t k, size_t rsa, size_t csa) {
  return NC_BLAS || gemm_by_rows(m, n, k) ? 0 : NC_THREADS * gemm_pack_size(m, n, k, rsa, csa);
}

/* One thread's product: blocks of C, each from a packed panel of B and
   MR rows of A, packed or where they are (gemm_reads_a_in_place). PACK
   holds gemm_pack_size(m, n, k, rsa, csa) reals, 64-byte aligned for speed. */
static void gemm_serial(size_t m, size_t n, size_t k, const real *a, size_t rsa, size_t csa, const real *b,
                        size_t rsb, size_t csb, real *c, size_t ldc, int add, real scale, GemmFinish fin,
                        real *pack) {
  const GemmFinish none = {NULL, 0}; /* for the blocks of K before the last */
  int in_place = gemm_reads_a_in_place(m, k, rsa, csa);
  size_t rsp = in_place ? rsa : 1, csp = in_place ? csa : (size_t)GEMM_MR; /* the strides the kernel reads A by */
  real *pack_b = in_place ? pack : pack + gemm_pack_a_size(m, k);
  for (size_t jc = 0; jc < n; jc += GEMM_NC) {
    size_t nc = gemm_min(GEMM_NC, n - jc);
    for (size_t pc = 0; pc < k; pc += GEMM_KC) {
      size_t kc = gemm_min(GEMM_KC, k - pc);
      gemm_pack_b(kc, nc, b + pc * rsb + jc * csb, rsb, csb, pack_b);
      for (size_t ic = 0; ic < m; ic += GEMM_MC) {
        size_t mc = gemm_min(GEMM_MC, m - ic);
        if (!in_place)
          gemm_pack_a(mc, kc, a + ic * rsa + pc * csa, rsa, csa, pack);
        for (size_t jr = 0; jr < nc; jr += GEMM_NR)
          for (size_t ir = 0; ir < mc; ir += GEMM_MR) {
            real *block = c + (ic + ir) * ldc + jc + jr;
            size_t rows = gemm_min(GEMM_MR, mc - ir), cols = gemm_min(GEMM_NR, nc - jr);
            const real *panel = in_place ? a + (ic + ir) * rsa + pc * csa : pack + ir * kc;
            gemm_kernel(kc, panel, rsp, csp, pack_b + jr * kc, block, ldc, rows, cols, add || pc > 0, scale,
                        pc + kc == k ? gemm_finish_at(fin, jc + jr) : none);
          }
      }
    }
  }
}

#if NC_BLAS
#include <cblas.h>
static size_t gemm_max(size_t a, size_t b) { return a > b ? a : b; }

/* The same product by the system's CBLAS: each operand has one stride of
   1, the other its leading dimension, transposed when its rows are the 1. */
static void gemm(size_t m, size_t n, size_t k, const real *a, size_t rsa, size_t csa, const real *b, size_t rsb,
                 size_t csb, real *c, size_t ldc, int add, real scale, const real *bias, int relu, real *pack) {
  (void)pack, (void)gemm_serial, (void)gemm_rows, (void)gemm_by_rows, (void)gemm_scratch;
  if (m == 0 || n == 0)
    return;
  GemmFinish fin = {bias, relu};
  CBLAS_TRANSPOSE ta = csa == 1 ? CblasNoTrans : CblasTrans, tb = csb == 1 ? CblasNoTrans : CblasTrans;
  int lda = (int)(csa == 1 ? gemm_max(rsa, k) : gemm_max(csa, m));
  int ldb = (int)(csb == 1 ? gemm_max(rsb, n) : gemm_max(csb, k));
#if NC_DOUBLE
  cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, scale, a, lda, b, ldb, add ? 1 : 0, c, (int)ldc);
#else
  cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, scale, a, lda, b, ldb, add ? 1 : 0, c, (int)ldc);
#endif
  if (bias || relu)
    gemm_finish_block(c, ldc, m, n, fin);
}
#else
/* C (+)= s A B, then finished with BIAS (NULL: none) and RELU. With
   NC_THREADS, large products split C's columns between the threads in
   whole panels: each packs its own B (and A, where packed) into its own
   scratch and stores only its own columns, so no two threads ever write
   the same cache line of panels, and every element sums in the same
   order whatever the number of threads. PACK holds gemm_scratch(m, n, k, rsa, csa). */
static void gemm(size_t m, size_t n, size_t k, const real *a, size_t rsa, size_t csa, const real *b, size_t rsb,
                 size_t csb, real *c, size_t ldc, int add, real scale, const real *bias, int relu, real *pack) {
  GemmFinish fin = {bias, relu};
  if (gemm_by_rows(m, n, k)) {
    gemm_rows(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, add, scale, fin);
    return;
  }
#if NC_THREADS > 1 && defined(_OPENMP)
  if (n >= 2 * GEMM_NR && (double)m * (double)n * (double)k >= 65536.0) {
    size_t share = gemm_round_up((n + NC_THREADS - 1) / NC_THREADS, GEMM_NR);
    size_t each = gemm_pack_size(m, share, k, rsa, csa);
#pragma omp parallel for num_threads(NC_THREADS) schedule(static)
    for (int t = 0; t < NC_THREADS; t++) {
      size_t j0 = (size_t)t * share;
      if (j0 < n)
        gemm_serial(m, gemm_min(share, n - j0), k, a, rsa, csa, b + j0 * csb, rsb, csb, c + j0, ldc, add,
                    scale, gemm_finish_at(fin, j0), pack + (size_t)t * each);
    }
    return;
  }
#endif
  gemm_serial(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, add, scale, fin, pack);
}
#endif
