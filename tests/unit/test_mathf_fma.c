/* test_mathf_fma.c: test_mathf.c built with -mfma where the machine is
   x86-64 (see the Makefile), so that the float exp and tanh of generated
   code are tested with fmaf as well: FP_FAST_FMAF is defined. */
#include "test_mathf.c"
