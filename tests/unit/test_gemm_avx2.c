/* test_gemm_avx2.c: test_gemm.c built with -mavx2 -mfma (see the Makefile),
   so the vector kernel is tested wherever the processor has it. */
#include "test_gemm.c"
