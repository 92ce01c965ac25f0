/* test_gemm_double.c: test_gemm.c in double, built with -mavx2 -mfma
   where the machine is x86-64 (see the Makefile): the double kernel's
   4-wide vectors and 6 x 8 blocks. */
#define NC_DOUBLE 1
#include "test_gemm.c"
