/* test_mathf_lanes.c: test_mathf.c for code that runs in lanes (NC_LANES:
   exp and tanh without branches), without fmaf. */
#define NC_LANES 8
#include "test_mathf.c"
