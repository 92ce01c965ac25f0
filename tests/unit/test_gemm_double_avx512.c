/* test_gemm_double_avx512.c: test_gemm.c in double, built with -mavx512f
   -mavx2 -mfma where the machine is x86-64 (see the Makefile): 8-wide
   vectors and 6 x 16 blocks. */
#define NC_DOUBLE 1
#include "test_gemm.c"
