/* test_mathf.c: the float exp and tanh of generated code (templates/mathf.c)
   against double precision, over every 127th float bit pattern (some 34
   million values, every exponent), and their special values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

/* With NC_LANES, the forms for lanes, under the names the tests call. */
#ifdef NC_LANES
#define NC_USES_EXPF_LANES
#define NC_USES_TANHF_LANES
#include "../../templates/mathf.c"
#define nc_expf nc_expf_lanes
#define nc_tanhf nc_tanhf_lanes
#else
#define NC_USES_EXPF
#define NC_USES_TANHF
#include "../../templates/mathf.c"
#endif

/* The distance from GOT to the exact WANT in units of the last place of
   the float nearest WANT (the subnormals' spacing below them). */
static double ulps(float got, double want) {
  float near = (float)want;
  if (isinf(near))
    return isinf(got) && signbit(got) == signbit(near) ? 0 : HUGE_VAL;
  double spacing = fabs(near) < 0x1p-126 ? 0x1p-149 : ldexp(1.0, ilogb(near) - 23);
  return fabs((double)got - want) / spacing;
}

/* The largest error of F against G over the sweep, and where. */
static double sweep(float (*f)(float), double (*g)(double), float *worst) {
  double max = 0;
  for (uint64_t bits = 0; bits < 0x100000000u; bits += 127) {
    uint32_t b = (uint32_t)bits;
    float x;
    memcpy(&x, &b, sizeof x);
    if (isnan(x))
      continue;
    double e = ulps(f(x), g((double)x));
    if (e > max) {
      max = e;
      *worst = x;
    }
  }
  return max;
}

static void exp_within_two_ulps(void **state) {
  (void)state;
  float worst = 0;
  double max = sweep(nc_expf, exp, &worst);
  print_message("nc_expf: at most %.3f ulps (at %.9g)\n", max, (double)worst);
  if (max > 2)
    fail_msg("nc_expf(%.9g) is %.3f ulps off", (double)worst, max);
}

static void tanh_within_two_ulps(void **state) {
  (void)state;
  float worst = 0;
  double max = sweep(nc_tanhf, tanh, &worst);
  print_message("nc_tanhf: at most %.3f ulps (at %.9g)\n", max, (double)worst);
  if (max > 2)
    fail_msg("nc_tanhf(%.9g) is %.3f ulps off", (double)worst, max);
}

static void special_values(void **state) {
  (void)state;
  assert_true(isnan(nc_expf(NAN)) && isnan(nc_tanhf(NAN)));
  assert_true(nc_expf(INFINITY) == INFINITY && nc_expf(-INFINITY) == 0);
  assert_true(nc_expf(89.0f) == INFINITY && nc_expf(-104.0f) == 0);
  assert_true(nc_expf(0.0f) == 1.0f && nc_expf(-0.0f) == 1.0f);
  assert_true(nc_expf(-100.0f) > 0); /* a subnormal, not 0 */
  assert_true(nc_tanhf(INFINITY) == 1.0f && nc_tanhf(-INFINITY) == -1.0f);
  assert_true(nc_tanhf(0.0f) == 0.0f && signbit(nc_tanhf(-0.0f)));
  assert_true(nc_tanhf(1e-30f) == 1e-30f && nc_tanhf(-1e-30f) == -1e-30f);
  assert_true(nc_tanhf(20.0f) == 1.0f && nc_tanhf(-20.0f) == -1.0f);
  static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7fa5a5a5u, 0xffffffffu};
  for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) { /* a NaN comes back as itself, quieted at most */
    float x, y[2];
    memcpy(&x, &nans[i], sizeof x);
    y[0] = nc_expf(x), y[1] = nc_tanhf(x);
    for (int f = 0; f < 2; f++) {
      uint32_t bits;
      memcpy(&bits, &y[f], sizeof bits);
      if ((bits | 0x00400000u) != (nans[i] | 0x00400000u))
        fail_msg("%s of NaN %08x is %08x", f ? "nc_tanhf" : "nc_expf", (unsigned)nans[i], (unsigned)bits);
    }
  }
  for (float x = -12; x <= 12; x += 0.01f) /* odd, and never past 1 */
    assert_true(nc_tanhf(-x) == -nc_tanhf(x) && fabsf(nc_tanhf(x)) <= 1.0f);
}

int main(void) {
#if defined(NC_LANES) && defined(FP_FAST_FMAF) && defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("fma")) {
    printf("mathf: this processor has no FMA; nothing to test\n");
    return 0;
  }
#endif
#if defined(NC_LANES) && defined(FP_FAST_FMAF)
  printf("mathf: for lanes, with fmaf\n");
#elif defined(NC_LANES)
  printf("mathf: for lanes, a * b + c in two roundings\n");
#else
  printf("mathf: one value at a time\n");
#endif
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exp_within_two_ulps),
      cmocka_unit_test(tanh_within_two_ulps),
      cmocka_unit_test(special_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
