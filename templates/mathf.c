/* ---- exp and tanh in float, as inline arithmetic ----

   libm's expf and tanhf are calls the compiler cannot vectorize, and
   tanhf goes through a slow expm1f; in small nets they were most of a
   step. These are within 2 ulps of the exact value (test_mathf checks a
   dense sweep of floats), keep NaN, infinities and -0, and need neither
   -ffast-math nor a particular rounding of the host's libm. Double builds
   call libm. */

/* exp(x) = 2^n exp(r), r = x - n ln 2 in [-ln2/2, ln2/2], ln 2 in two parts
   so that n ln 2 is exact; exp(r) by a polynomial of degree 6; 2^n built
   from its bits in two halves, so that results in the subnormals round once. */
static inline float nc_expf(float x) {
  if (!(x < 88.7228394f)) /* overflow, +inf, NaN */
    return x > 0 ? HUGE_VALF : x;
  if (x < -103.972084f)
    return 0.0f;
  const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float n = (x * 1.44269502f + shift) - shift;
  float r = (x - n * 0.693145752f) - n * 1.42860677e-06f;
  float p = 1.0f + r + r * r * (0.5f + r * (0.166665778f + r * (0.0416669436f + r * (0.00836312585f + r * 0.0013893838f))));
  int e = (int)n, e1 = e / 2;
  uint32_t bits1 = (uint32_t)(e1 + 127) << 23, bits2 = (uint32_t)(e - e1 + 127) << 23;
  float s1, s2;
  memcpy(&s1, &bits1, sizeof s1);
  memcpy(&s2, &bits2, sizeof s2);
  return p * s1 * s2;
}

/* tanh(x): x + x^3 P(x^2) where |x| < 0.55, whose x^3 term cancels nothing;
   1 - 2 / (exp(2|x|) + 1) beyond, where the result is at least 0.5; 1 past
   9.1, where tanh rounds to 1. Only where the model has a tanh: an unused
   static function is a warning. */
#ifdef NC_USES_TANHF
static inline float nc_tanhf(float x) {
  float a = x < 0 ? -x : x;
  if (a < 2.44140625e-4f) /* 2^-12: x^3 / 3 is below half an ulp; and -0 stays -0 */
    return x;
  if (a < 0.55f) {
    float z = x * x;
    return x + x * z * (-0.333333313f + z * (0.133332923f + z * (-0.0539594665f + z * (0.0217816718f +
                                                                  z * (-0.00841061771f + z * 0.00239218958f)))));
  }
  if (a > 9.1f)
    return x < 0 ? -1.0f : 1.0f;
  float t = 1.0f - 2.0f / (nc_expf(2.0f * a) + 1.0f);
  return x < 0 ? -t : t;
}
#endif
