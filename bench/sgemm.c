/* sgemm.c: the machine's limit for a training step, from OpenBLAS on one
   thread: the time of the same GEMMs a dense layer's step needs, forward
   Y = X W^T, backward dW = dY^T X and dX = dY W (none for the first layer).
     sgemm BATCH SAMPLES IN H1 ... OUT   prints the median seconds and GFLOP/s */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: sgemm BATCH SAMPLES IN H1 ... OUT\n");
    return 2;
  }
  int batch = atoi(argv[1]), samples = atoi(argv[2]), layers = argc - 4;
  int *dims = malloc(sizeof(int) * (size_t)(layers + 1));
  size_t biggest = 0;
  for (int l = 0; l <= layers; l++) {
    dims[l] = atoi(argv[3 + l]);
    size_t s = (size_t)dims[l] * (size_t)(dims[l] > batch ? dims[l] : batch);
    if (s > biggest)
      biggest = s;
  }
  float *a = calloc(biggest, sizeof(float)), *b = calloc(biggest, sizeof(float)), *c = calloc(biggest, sizeof(float));
  double *times = malloc(sizeof(double) * (size_t)samples), flops = 0;
  for (size_t i = 0; i < biggest; i++)
    a[i] = b[i] = 0.001f * (float)(i % 1000);
  for (int l = 0; l < layers; l++) {
    double in = dims[l], out = dims[l + 1];
    flops += 2 * batch * in * out * (l == 0 ? 2 : 3);
  }
  long reps = 1;
  for (int s = -1; s < samples; s++) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      for (int l = 0; l < layers; l++) {
        int in = dims[l], out = dims[l + 1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1, a, in, b, in, 0, c, out);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, 1, a, out, b, in, 0, c, in);
        if (l > 0)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1, a, out, b, in, 0, c, in);
      }
    double t = (now() - t0) / (double)reps;
    if (s < 0) { /* calibrate: about 20 ms a sample */
      reps = (long)(0.02 / (t > 1e-9 ? t : 1e-9)) + 1;
      continue;
    }
    times[s] = t;
  }
  qsort(times, (size_t)samples, sizeof *times, by_value);
  printf("%.9e %.3f\n", times[samples / 2], flops / times[samples / 2] * 1e-9);
  return 0;
}
