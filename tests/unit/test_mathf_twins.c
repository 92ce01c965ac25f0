/* test_mathf_twins.c: the two forms of templates/mathf.c, with branches
   (one value at a time) and without them (in lanes), give the same bits
   over every 127th float bit pattern, NaN included, and a NaN back as it
   came, so that a model's values do not depend on whether a batch runs
   in lanes. Built with -mfma where the machine is x86-64 (see the
   Makefile), as generated code is under -march=native; without it both
   forms round twice alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

/* Both forms, as a file with lanes has them. */
#define NC_USES_EXPF
#define NC_USES_TANHF
#define NC_USES_EXPF_LANES
#define NC_USES_TANHF_LANES
#include "../../templates/mathf.c"

/* Fails unless F and G map every float of the sweep, NaN too, to the same bits. */
static void expect_same_bits(const char *name, float (*f)(float), float (*g)(float)) {
  long count = 0;
  float first = 0;
  for (uint64_t bits = 0; bits < 0x100000000u; bits += 127) {
    uint32_t b = (uint32_t)bits;
    float x, y, z;
    memcpy(&x, &b, sizeof x);
    y = f(x), z = g(x);
    if (memcmp(&y, &z, sizeof y) != 0 && count++ == 0)
      first = x;
  }
  if (count)
    fail_msg("%s: %ld floats differ between the forms, first %.9g", name, count, (double)first);
}

static void exp_forms_agree(void **state) {
  (void)state;
  expect_same_bits("nc_expf", nc_expf, nc_expf_lanes);
}

static void tanh_forms_agree(void **state) {
  (void)state;
  expect_same_bits("nc_tanhf", nc_tanhf, nc_tanhf_lanes);
}

/* A NaN comes back as itself, sign and payload, from both forms. */
static void nans_come_back(void **state) {
  (void)state;
  static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xffa5a5a5u, 0x7fffffffu};
  for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) {
    float x, y[4];
    memcpy(&x, &nans[i], sizeof x);
    y[0] = nc_expf(x), y[1] = nc_expf_lanes(x), y[2] = nc_tanhf(x), y[3] = nc_tanhf_lanes(x);
    for (int f = 0; f < 4; f++) {
      uint32_t bits;
      memcpy(&bits, &y[f], sizeof bits);
      if ((bits | 0x00400000u) != (nans[i] | 0x00400000u)) /* quieted, at most */
        fail_msg("NaN %08x came back as %08x from form %d", (unsigned)nans[i], (unsigned)bits, f);
    }
  }
}

int main(void) {
#if defined(FP_FAST_FMAF) && defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("fma")) {
    printf("mathf twins: this processor has no FMA; nothing to test\n");
    return 0;
  }
#endif
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exp_forms_agree),
      cmocka_unit_test(tanh_forms_agree),
      cmocka_unit_test(nans_come_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
