/* test_gemm_avx512.c: test_gemm.c built with -mavx512f -mavx2 -mfma and
   -fopenmp where the machine is x86-64 (see the Makefile): the kernel's
   512-bit vectors and 6 x 32 blocks, over two threads; nothing where the
   processor has no AVX-512. */
#define NC_THREADS 2
#include "test_gemm.c"
