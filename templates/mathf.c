/* ---- exp and tanh in float, as inline arithmetic ----

   libm's expf and tanhf are calls the compiler cannot vectorize, and
   tanhf goes through a slow expm1f; in small nets they were most of a
   step. These are within 2 ulps of the exact value (test_mathf checks a
   dense sweep of floats), keep NaN, infinities and -0, and need neither
   -ffast-math nor a particular rounding of the host's libm. Double builds
   call libm. Code that runs in lanes calls their forms without branches
   (nc_expf_lanes, nc_tanhf_lanes), so that a loop over the lanes
   vectorizes, with AVX2 as with AVX-512; one value at a time, the
   branches are faster. The two forms share their arithmetic, and so
   their bits (test_mathf_twins). The emitter defines NC_USES_EXPF and
   the rest for the forms the model calls: an unused static function is
   a warning. */

/* a * b + c, in one rounding where the machine has a fast fmaf (as with
   -march=native or -mfma): the polynomials below are chains of these, and
   every step that waits for the one before costs. Elsewhere two
   roundings; both stay within the bounds test_mathf checks. */
#ifdef FP_FAST_FMAF
#define NC_FMAF(a, b, c) fmaf(a, b, c)
#else
#define NC_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* exp(c) for c in [-103.972084, 88.7228394], where it is neither 0 nor
   inf: 2^n exp(r), r = c - n ln 2 in [-ln2/2, ln2/2], ln 2 in two parts so
   that n ln 2 is exact; exp(r) by a polynomial of degree 6; 2^n built from
   its bits in two halves, so that results in the subnormals round once.
   Both forms of nc_expf below share it, so they give the same bits. */
static inline float nc_expf_within(float c) {
  const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float n = NC_FMAF(c, 1.44269502f, shift) - shift;
  float r = NC_FMAF(-n, 1.42860677e-06f, NC_FMAF(-n, 0.693145752f, c));
  float q = NC_FMAF(NC_FMAF(NC_FMAF(r, 0.0013893838f, 0.00836312585f), r, 0.0416669436f), r, 0.166665778f);
  float p = NC_FMAF(r * r, NC_FMAF(q, r, 0.5f), 1.0f + r);
  float n1 = NC_FMAF(n, 0.5f, shift) - shift; /* n = n1 + (n - n1), both halves whole */
  uint32_t bits1 = (uint32_t)((int)n1 + 127) << 23, bits2 = (uint32_t)((int)(n - n1) + 127) << 23;
  float s1, s2;
  memcpy(&s1, &bits1, sizeof s1);
  memcpy(&s2, &bits2, sizeof s2);
  return p * s1 * s2;
}

/* tanh(x) = x + x^3 P(x^2) for |x| < 0.55, whose x^3 term cancels
   nothing; beyond, tanh|x| = 1 - 2 / (exp(2|x|) + 1), at least 0.5. */
#if defined(NC_USES_TANHF) || defined(NC_USES_TANHF_LANES)
static inline float nc_tanhf_near0(float x) {
  float z = x * x;
  float q = NC_FMAF(NC_FMAF(NC_FMAF(z, 0.00239218958f, -0.00841061771f), z, 0.0217816718f), z, -0.0539594665f);
  return NC_FMAF(x * z, NC_FMAF(NC_FMAF(q, z, 0.133332923f), z, -0.333333313f), x);
}
static inline float nc_tanhf_beyond(float a) { return 1.0f - 2.0f / (nc_expf_within(2.0f * a) + 1.0f); }
#endif

/* ---- the forms for lanes: nc_expf_lanes, nc_tanhf_lanes ---- */
#if defined(NC_USES_EXPF_LANES) || defined(NC_USES_TANHF_LANES)
/* A if KEEP, else B, by their bits. Both are computed whatever KEEP, and
   nothing but the choice depends on it: a compiler may move an operation
   that only one choice needs into a branch, and there, as it might trap,
   it keeps a loop of these from vectorizing; a choice by masks stays. */
static inline float nc_pickf(int keep, float a, float b) {
  uint32_t x, y, mask = -(uint32_t)keep;
  memcpy(&x, &a, sizeof x);
  memcpy(&y, &b, sizeof y);
  x = (x & mask) | (y & ~mask);
  memcpy(&a, &x, sizeof a);
  return a;
}
#endif

/* x is clamped first, so that every step is defined for every x (NaN
   too), and the special cases are picked at the end. */
#ifdef NC_USES_EXPF_LANES
static inline float nc_expf_lanes(float x) {
  float c = nc_pickf(x < 88.7228394f, x, 88.7228394f);
  c = nc_pickf(c > -103.972084f, c, -103.972084f);
  float y = nc_pickf(x < -103.972084f, 0.0f, nc_expf_within(c));
  return nc_pickf(x < 88.7228394f, y, nc_pickf(x > 0, HUGE_VALF, x)); /* overflow, +inf, NaN */
}
#endif

/* |x| is clamped at 9.1, past which tanh rounds to 1; x itself below
   2^-12, where x^3 / 3 is below half an ulp (and -0 stays -0). */
#ifdef NC_USES_TANHF_LANES
static inline float nc_tanhf_lanes(float x) {
  float a = fabsf(x);
  float y = nc_pickf(a < 0.55f, nc_tanhf_near0(x), copysignf(nc_tanhf_beyond(nc_pickf(a < 9.1f, a, 9.1f)), x));
  y = nc_pickf(a < 2.44140625e-4f, x, y);
  return nc_pickf(x == x, y, x);
}
#endif

/* ---- the forms for one value at a time: nc_expf, nc_tanhf ----
   Not inline: the compiler inlines them where they are called once or
   twice, as in a small net, and calls them from a model of many layers,
   whose copies cost it more than the calls cost the model (200 tanh
   layers: gcc -O2 took 1.4 times as long with 200 copies). */
#ifdef NC_USES_EXPF
static float nc_expf(float x) {
  if (!(x < 88.7228394f)) /* overflow, +inf, NaN */
    return x > 0 ? HUGE_VALF : x;
  if (x < -103.972084f)
    return 0.0f;
  return nc_expf_within(x);
}
#endif

/* As in lanes, with branches: 1 past 9.1, where tanh rounds to 1; a NaN
   is returned as it is, as the lanes' form returns it. */
#ifdef NC_USES_TANHF
static float nc_tanhf(float x) {
  float a = x < 0 ? -x : x;
  if (a < 2.44140625e-4f) /* 2^-12: x^3 / 3 is below half an ulp; and -0 stays -0 */
    return x;
  if (a < 0.55f)
    return nc_tanhf_near0(x);
  if (!(a <= 9.1f))
    return x != x ? x : (x < 0 ? -1.0f : 1.0f);
  float t = nc_tanhf_beyond(a);
  return x < 0 ? -t : t;
}
#endif
