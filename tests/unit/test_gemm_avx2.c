/* test_gemm_avx2.c: test_gemm.c built with -mavx2 -mfma and -fopenmp (see
   the Makefile), so the vector kernel and the split between threads are
   tested wherever the processor has them. */
#define NC_THREADS 2
#include "test_gemm.c"
