/* test_mathf_fma.c: test_mathf.c for code that runs in lanes (NC_LANES:
   exp and tanh without branches), built with -mfma where the machine is
   x86-64 (see the Makefile), so that FP_FAST_FMAF says to use fmaf. */
#define NC_LANES 8
#include "test_mathf.c"
