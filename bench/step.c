/* step.c: times one training step of a netc model: m_grad (fused forward
   and backward) and an SGD update of every parameter, or with
   -DBENCH_SGD_STEP the same step as m_sgd_step. Built once per model
   against netc's output for it (--prefix m):
     step BATCH SAMPLES   prints the median, min and max seconds per step
   Each sample runs enough steps to take about 20 ms. Every buffer is
   64-byte aligned, as PyTorch's allocator aligns its tensors and as
   netc's trainers allocate theirs: a 512-bit store that crosses a cache
   line ran at half speed here (the rows of W in an SGD step of one). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "m.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* N bytes, 64-byte aligned (NULL when out of memory). */
static void *aligned(size_t n) {
  void *p;
  return posix_memalign(&p, 64, n ? n : 1) == 0 ? p : NULL;
}

static unsigned long long state = 42;
static double uniform(void) {
  state = state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(state >> 11) / 9007199254740992.0;
}

/* One training step; returns the loss. */
static m_real step(m_real *params, int batch, const m_real *inputs, const m_real *targets, m_real lr, m_real *grads,
                   void *ws) {
#ifdef BENCH_SGD_STEP
  return m_sgd_step(params, batch, inputs, targets, lr, grads, ws);
#else
  m_real loss = m_grad(params, batch, inputs, targets, grads, ws);
  for (int i = 0; i < m_NUM_PARAMS; i++)
    params[i] -= lr * grads[i];
  return loss;
#endif
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: step BATCH SAMPLES\n");
    return 2;
  }
  int batch = atoi(argv[1]), samples = atoi(argv[2]);
  m_real *params = aligned(sizeof(m_real) * m_NUM_PARAMS);
  m_real *grads = aligned(sizeof(m_real) * m_NUM_PARAMS);
  m_real *inputs = aligned(sizeof(m_real) * (size_t)batch * m_INPUT_SIZE);
  m_real *targets = aligned(sizeof(m_real) * (size_t)batch * m_TARGET_SIZE);
  void *ws = aligned(m_workspace_size(batch));
  double *times = malloc(sizeof(double) * (size_t)samples);
  if (!params || !grads || !inputs || !targets || !ws || !times)
    return 1;
  m_init(params, 1);
  for (size_t i = 0; i < (size_t)batch * m_INPUT_SIZE; i++)
    inputs[i] = (m_real)uniform();
  for (size_t i = 0; i < (size_t)batch * m_TARGET_SIZE; i++)
    targets[i] = (m_real)(BENCH_CLASSES ? (int)(uniform() * BENCH_CLASSES) : uniform());
  const m_real lr = (m_real)1e-4;
  double sink = 0;
  /* Warm up, and find how many steps take about 20 ms. */
  long reps = 1;
  for (;;) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      sink += step(params, batch, inputs, targets, lr, grads, ws);
    if (now() - t0 > 0.02 || reps > (1L << 24))
      break;
    reps *= 2;
  }
  for (int s = 0; s < samples; s++) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      sink += step(params, batch, inputs, targets, lr, grads, ws);
    times[s] = (now() - t0) / (double)reps;
  }
  qsort(times, (size_t)samples, sizeof *times, by_value);
  printf("%.9e %.9e %.9e %zu\n", times[samples / 2], times[0], times[samples - 1], m_workspace_size(batch));
  if (sink != sink)
    fprintf(stderr, "step: the loss is NaN\n");
  return 0;
}
