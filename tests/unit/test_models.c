/* test_models.c: code that netc generated at build time from
   tests/models/ (in double, with --input-grads), linked in and run: the
   worked examples of backpropagation, and the promises of the API. */
#include "harness.h"

#include <math.h>

#include "bce_edge.h"
#include "choices.h"
#include "choices_float.h"
#include "classifier.h"
#include "layers.h"
#include "layers_blas.h"
#include "layers_threads.h"
#include "many_layers.h"
#include "neuron.h"
#include "shared_adjoint.h"
#include "sigmoid_neuron.h"
#include "classifier_lanes4.h"
#include "classifier_lanes3.h"
#include "shared_adjoint_lanes4.h"
#include "xor_each.h"
#include "xor_lanes.h"
#include "xor_threads.h"
#include "xor_default.h"
#include "xor_alone.h"
#include "wide_softmax.h"
#include "wide_softmax_lanes4.h"

static void assert_close(double actual, double expected, double tol) {
  if (!(fabs(actual - expected) <= tol))
    fail_msg("%.17g differs from %.17g by more than %g", actual, expected, tol);
}

/* ---- the worked example: one weight, identity activation, squared error ---- */

/* x = 1, W = 0.5, b = 0, y = 0: z = 0.5, loss 0.25, dL/dz = 2 (z - y) = 1,
   dL/dW = dL/dz * x = 1, dL/db = 1; SGD with lr 0.1 takes W to 0.4. */
static void neuron_worked_example(void **state) {
  (void)state;
  double params[neuron_NUM_PARAMS], grads[neuron_NUM_PARAMS];
  double ws[8];
  assert_true(neuron_workspace_size(1) <= sizeof ws);
  neuron_init(params, 1);
  assert_close(params[0], 0.5, 0); /* param W = 0.5 */
  assert_close(params[1], 0, 0);   /* param b = 0 */
  const double x = 1, y = 0;
  assert_close(neuron_forward(params, 1, &x, &y, NULL, ws), 0.25, 1e-15);
  double loss = neuron_grad(params, 1, &x, &y, grads, ws);
  assert_close(loss, 0.25, 1e-15);
  assert_close(grads[0], 1.0, 1e-15); /* dL/dW */
  assert_close(grads[1], 1.0, 1e-15); /* dL/db */
  const double lr = 0.1;
  for (int i = 0; i < neuron_NUM_PARAMS; i++)
    params[i] -= lr * grads[i];
  assert_close(params[0], 0.4, 1e-15);
  assert_close(params[1], -0.1, 1e-15);
}

/* d(mean loss)/dx = dL/dz * W = 0.5, from P_grad_inputs. */
static void neuron_input_gradient(void **state) {
  (void)state;
  double params[] = {0.5, 0}, grads[2], dx, ws[8];
  const double x = 1, y = 0;
  assert_close(neuron_grad_inputs(params, 1, &x, &y, grads, &dx, ws), 0.25, 1e-15);
  assert_close(dx, 0.5, 1e-15);
  assert_close(grads[0], 1.0, 1e-15);
}

/* The batch's loss and gradient are means over its examples. */
static void neuron_batch_mean(void **state) {
  (void)state;
  double params[] = {0.5, 0}, grads[2], ws[64];
  const double x[] = {1, 2}, y[] = {0, 3};
  assert_true(neuron_workspace_size(2) <= sizeof ws);
  /* z = 0.5, 1: losses 0.25 and 4; dL/dW = 2 (z - y) x = 1 and -8, dL/db = 1 and -4 */
  assert_close(neuron_grad(params, 2, x, y, grads, ws), (0.25 + 4) / 2, 1e-15);
  assert_close(grads[0], (1 - 8) / 2.0, 1e-15);
  assert_close(grads[1], (1 - 4) / 2.0, 1e-15);
  assert_close(neuron_forward(params, 2, x, y, NULL, ws), (0.25 + 4) / 2, 1e-15);
}

/* ---- one sigmoid neuron: the chain rule, factor by factor ---- */

/* x = 2, y = 1, a = sigmoid(w x), loss (a - y)^2: dL/dw is the product of
   dL/da = 2 (a - y), da/dz = a (1 - a) and dz/dw = x, and the middle
   factor never exceeds 1/4: why deep sigmoid nets' gradients vanish. */
static void sigmoid_neuron_chain_rule(void **state) {
  (void)state;
  const double x = 2, y = 1;
  const double ws_values[] = {-6, -3, -1, -0.25, 0, 0.3, 1, 2.5, 7};
  double ws[8];
  assert_true(sigmoid_neuron_workspace_size(1) <= sizeof ws);
  for (size_t k = 0; k < sizeof ws_values / sizeof ws_values[0]; k++) {
    double w = ws_values[k], grad;
    double a = 1 / (1 + exp(-w * x));
    double dl_da = 2 * (a - y), da_dz = a * (1 - a), dz_dw = x;
    double loss = sigmoid_neuron_grad(&w, 1, &x, &y, &grad, ws);
    assert_close(loss, (a - y) * (a - y), 1e-15);
    assert_close(grad, dl_da * da_dz * dz_dw, 1e-15);
    assert_true(da_dz <= 0.25);
    assert_true(fabs(grad) <= fabs(dl_da) * 0.25 * fabs(x) + 1e-15);
  }
}

/* The derivatives that choose (relu's step, abs's sign, leaky_relu's
   slope) where the choice is hardest: zeros of both signs, infinities,
   NaN. dL/dx is step + 2 sign + 4 slope, exact; the comparisons are
   false for NaN, so it gets neither 1 nor -1. Zeros must be +0: the
   sums of exact zeros and of x - x are. */
static const double choice_x[7] = {-2, -0.0, 0, 3, NAN, -INFINITY, INFINITY};
static const double choice_dx[7] = {-2 + 2, 0 + 2, 0 + 2, 1 + 2 + 4, 0 + 2, -2 + 2, 1 + 2 + 4};
static const double choice_finite[7] = {-2, -0.0, 0, 3, 0.5, -1, 1};
static const double choice_loss = (3 + 0.5 + 1) + 2 * (2 + 3 + 0.5 + 1 + 1) + 4 * (-1 + 3 + 0.5 - 0.5 + 1);

static void expect_choice_grads(const double *dx) {
  for (int i = 0; i < 7; i++)
    if (dx[i] != choice_dx[i] || signbit(dx[i]) != signbit(choice_dx[i]))
      fail_msg("dL/dx[%d] at %g: %g, want %g", i, choice_x[i], dx[i], choice_dx[i]);
}

static void choices_at_special_values(void **state) {
  (void)state;
  double w = 1, grad, dx[7], ws[64];
  assert_true(choices_workspace_size(1) <= sizeof ws);
  double loss = choices_grad_inputs(&w, 1, choice_x, NULL, &grad, dx, ws);
  assert_true(isnan(loss) && isnan(grad)); /* the NaN and inf - inf reach the loss */
  expect_choice_grads(dx);
  loss = choices_grad_inputs(&w, 1, choice_finite, NULL, &grad, dx, ws);
  assert_true(loss == choice_loss && grad == loss);
}

/* The same in float, built at -O3 -march=native, where the loops run in
   vector registers and choose by masks. */
static void choices_in_float_vectorized(void **state) {
  (void)state;
  float w = 1, grad, x[7], dx[7], ws[64];
  double dxd[7];
  assert_true(choices_float_workspace_size(1) <= sizeof ws);
  for (int i = 0; i < 7; i++)
    x[i] = (float)choice_x[i];
  float loss = choices_float_grad_inputs(&w, 1, x, NULL, &grad, dx, ws);
  assert_true(isnan(loss) && isnan(grad));
  for (int i = 0; i < 7; i++)
    dxd[i] = dx[i];
  expect_choice_grads(dxd);
  for (int i = 0; i < 7; i++)
    x[i] = (float)choice_finite[i];
  loss = choices_float_grad_inputs(&w, 1, x, NULL, &grad, dx, ws);
  assert_true(loss == (float)choice_loss && grad == loss);
}

/* ---- the API ---- */

static void classifier_sizes(void **state) {
  (void)state;
  assert_int_equal(classifier_NUM_PARAMS, 16);
  assert_int_equal(classifier_INPUT_SIZE, 3);
  assert_int_equal(classifier_TARGET_SIZE, 1);
  assert_int_equal(classifier_OUTPUT_SIZE, 4);
  assert_int_equal(classifier_NUM_PARAM_TENSORS, 2);
  assert_string_equal(classifier_params[0].name, "W");
  assert_int_equal(classifier_params[0].rank, 2);
  assert_int_equal(classifier_params[0].shape[0], 4);
  assert_int_equal(classifier_params[0].shape[1], 3);
  assert_int_equal(classifier_params[0].offset, 0);
  assert_int_equal(classifier_params[0].size, 12);
  assert_string_equal(classifier_params[1].name, "b");
  assert_int_equal(classifier_params[1].offset, 12);
  assert_int_equal(classifier_params[1].size, 4);
  /* Each example of a batch has a workspace of its own; this model's
     product is too small for gemm(), so there are no panels to add. */
  assert_true(classifier_workspace_size(1) > 0);
  assert_int_equal(classifier_workspace_size(1000), 1000 * classifier_workspace_size(1));
  assert_int_equal(classifier_workspace_size(0), 0);
}

/* Same seed, same params; another seed, others; each initializer's values. */
static void classifier_init_seeded(void **state) {
  (void)state;
  double a[16], b[16], c[16];
  classifier_init(a, 7);
  classifier_init(b, 7);
  classifier_init(c, 8);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  for (int i = 12; i < 16; i++)
    assert_close(a[i], 0.5, 0);
  double sum = 0;
  for (int i = 0; i < 12; i++)
    sum += a[i];
  assert_true(fabs(sum / 12) < 1.5); /* normal(0, 1) */
}

/* softmax outputs, the loss -log p[label], and P_forward without targets. */
static void classifier_forward_outputs(void **state) {
  (void)state;
  double params[16], ws[128];
  assert_true(classifier_workspace_size(2) <= sizeof ws);
  classifier_init(params, 3);
  const double x[] = {0.1, -0.4, 2, 1, 1, -1};
  const double labels[] = {2, 0};
  double out[8], out_no_targets[8];
  double loss = classifier_forward(params, 2, x, labels, out, ws);
  double expected = 0;
  for (int e = 0; e < 2; e++) {
    /* softmax computed here from the params, against the outputs */
    double z[4], zmax = -INFINITY, total = 0;
    for (int k = 0; k < 4; k++) {
      z[k] = params[12 + k];
      for (int j = 0; j < 3; j++)
        z[k] += params[k * 3 + j] * x[e * 3 + j];
      zmax = fmax(zmax, z[k]);
    }
    for (int k = 0; k < 4; k++)
      total += exp(z[k] - zmax);
    double sum = 0;
    for (int k = 0; k < 4; k++) {
      assert_close(out[e * 4 + k], exp(z[k] - zmax) / total, 1e-12);
      sum += out[e * 4 + k];
    }
    assert_close(sum, 1, 1e-12);
    expected += -log(out[e * 4 + (int)labels[e]]);
  }
  assert_close(loss, expected / 2, 1e-12);
  assert_close(classifier_forward(params, 2, x, NULL, out_no_targets, ws), 0, 0);
  assert_memory_equal(out, out_no_targets, sizeof out);
}

/* The max of a softmax's four partial results: logits of 800 and 799 at
   each position in turn, the rest near 0, where a max that missed both
   would overflow exp to inf and the outputs to NaN; against the softmax
   computed here. */
static void wide_softmax_max_anywhere(void **state) {
  (void)state;
  double params[wide_softmax_NUM_PARAMS], ws[64], out[11];
  assert_true(wide_softmax_workspace_size(1) <= sizeof ws);
  wide_softmax_init(params, 1); /* b = 0: the logits are z */
  for (int at = 0; at < 11; at++) {
    double z[11], total = 0, label = (double)((at + 3) % 11);
    for (int k = 0; k < 11; k++)
      z[k] = k == at ? 800 : k == (at + 6) % 11 ? 799 : 0.25 * k;
    for (int k = 0; k < 11; k++)
      total += exp(z[k] - 800);
    double loss = wide_softmax_forward(params, 1, z, &label, out, ws);
    for (int k = 0; k < 11; k++)
      assert_close(out[k], exp(z[k] - 800) / total, 1e-14);
    assert_close(loss, 800 + log(total) - z[(int)label], 1e-12);
  }
}

/* A class index out of range is not read out of bounds: the loss is NaN. */
static void classifier_bad_class(void **state) {
  (void)state;
  double params[16], ws[64];
  classifier_init(params, 3);
  const double x[] = {0.1, -0.4, 2};
  const double bad[] = {4}, negative[] = {-1};
  assert_true(isnan(classifier_forward(params, 1, x, bad, NULL, ws)));
  assert_true(isnan(classifier_forward(params, 1, x, negative, NULL, ws)));
}

/* A fractional or NaN class index is no class: the loss is NaN, and
   nothing undefined happens on the way (make check runs this under UBSan). */
static void classifier_fractional_class(void **state) {
  (void)state;
  double params[16], grads[16], ws[64];
  classifier_init(params, 3);
  const double x[] = {0.1, -0.4, 2};
  const double fractional[] = {2.7}, not_a_number[] = {NAN}, huge[] = {1e300};
  assert_true(isnan(classifier_forward(params, 1, x, fractional, NULL, ws)));
  assert_true(isnan(classifier_forward(params, 1, x, not_a_number, NULL, ws)));
  assert_true(isnan(classifier_grad(params, 1, x, huge, grads, ws)));
}

/* p = 1 and p = 0 exactly: each log is clamped at -100, and the gradient
   (p - t) / max(p (1 - p), 1e-12) stays finite. */
static void bce_at_the_edges(void **state) {
  (void)state;
  double w[2] = {1, 1}, grads[2], ws[16];
  assert_true(bce_edge_workspace_size(1) <= sizeof ws);
  const double x[] = {1, 0}, t[] = {0.5, 0.25};
  double loss = bce_edge_grad(w, 1, x, t, grads, ws);
  /* p = (1, 0): -(0.5 * 0 + 0.5 * -100) and -(0.25 * -100 + 0.75 * 0) */
  assert_close(loss, (50 + 25) / 2.0, 1e-9);
  assert_true(isfinite(grads[0]) && isfinite(grads[1]));
  assert_close(grads[0], (1 - 0.5) / 1e-12 / 2 * 1, 1e3); /* d/dw0 = dL/dp0 * x0 */
  assert_close(grads[1], 0, 0);                            /* x1 = 0 */
}

/* P_grad writes only grads and workspace, and repeats itself exactly. */
static void classifier_grad_is_pure(void **state) {
  (void)state;
  double params[16], copy[16], g1[16], g2[16], ws[128];
  assert_true(classifier_workspace_size(2) <= sizeof ws);
  classifier_init(params, 5);
  memcpy(copy, params, sizeof params);
  const double x[] = {0.1, -0.4, 2, 1, 1, -1}, labels[] = {3, 1};
  double x_copy[6], l_copy[2];
  memcpy(x_copy, x, sizeof x);
  memcpy(l_copy, labels, sizeof labels);
  memset(g1, 0xff, sizeof g1); /* garbage: P_grad overwrites, never adds */
  double l1 = classifier_grad(params, 2, x, labels, g1, ws);
  double l2 = classifier_grad(params, 2, x, labels, g2, ws);
  assert_memory_equal(&l1, &l2, sizeof l1);
  assert_memory_equal(g1, g2, sizeof g1);
  assert_memory_equal(params, copy, sizeof params);
  assert_memory_equal(x, x_copy, sizeof x);
  assert_memory_equal(labels, l_copy, sizeof labels);
  /* dL/db = mean over examples of softmax - onehot: sums to zero. */
  assert_close(g1[12] + g1[13] + g1[14] + g1[15], 0, 1e-12);
}

/* ---- products over the batch: gemm() against the examples one by one ---- */

/* A batch of 13 runs gemm()'s blocked path (6 rows a panel); a batch of
   one, its row path. The batch's mean loss, gradients and input gradients
   must be the mean of the examples', and its outputs theirs. */
static void layers_batch_is_mean_of_examples(void **state) {
  (void)state;
  enum { B = 13, IN = layers_INPUT_SIZE, NP = layers_NUM_PARAMS, OUT = layers_OUTPUT_SIZE };
  static double params[NP], x[B * IN], labels[B], grads[NP], din[B * IN], out[B * OUT];
  static double mean[NP], one[NP], one_din[IN], one_out[OUT];
  void *ws = malloc(layers_workspace_size(B)), *ws1 = malloc(layers_workspace_size(1));
  assert_true(ws && ws1);
  layers_init(params, 2);
  for (int i = 0; i < B * IN; i++)
    x[i] = sin(0.7 * i) + 0.1;
  for (int b = 0; b < B; b++)
    labels[b] = b % 10;
  double loss = layers_grad_inputs(params, B, x, labels, grads, din, ws);
  double forward_loss = layers_forward(params, B, x, labels, out, ws);
  assert_close(forward_loss, loss, 1e-12);
  double mean_loss = 0;
  for (int b = 0; b < B; b++) {
    mean_loss += layers_grad_inputs(params, 1, x + b * IN, labels + b, one, one_din, ws1) / B;
    for (int i = 0; i < NP; i++)
      mean[i] += one[i] / B;
    for (int j = 0; j < IN; j++)
      assert_close(din[b * IN + j], one_din[j] / B, 1e-13);
    layers_forward(params, 1, x + b * IN, NULL, one_out, ws1);
    for (int j = 0; j < OUT; j++)
      assert_close(out[b * OUT + j], one_out[j], 1e-13);
  }
  assert_close(loss, mean_loss, 1e-12);
  double norm = 0;
  for (int i = 0; i < NP; i++) {
    assert_close(grads[i], mean[i], 1e-13);
    norm += grads[i] * grads[i];
  }
  assert_true(norm > 1e-6); /* not a test of zeros */
  free(ws), free(ws1);
}

/* P_grad writes a weight's gradient that is one product over the batch
   straight into grads, the mean in the product's scale, and zeroes only
   the rest: garbage in grads changes nothing, at a batch whose products
   take several blocks of KC = 256 steps (300), one (13) and none, row by
   row (1); a batch of 0 zeroes all. */
static void layers_grad_overwrites(void **state) {
  (void)state;
  enum { B = 300, IN = layers_INPUT_SIZE, NP = layers_NUM_PARAMS };
  static double params[NP], x[B * IN], labels[B], clean[NP], dirty[NP], din[B * IN];
  void *ws = malloc(layers_workspace_size(B));
  assert_true(ws != NULL);
  layers_init(params, 3);
  for (int i = 0; i < B * IN; i++)
    x[i] = cos(0.3 * i);
  for (int b = 0; b < B; b++)
    labels[b] = (b * 7) % 10;
  static const int batches[] = {B, 13, 1};
  for (int t = 0; t < 3; t++) {
    memset(clean, 0, sizeof clean);
    memset(dirty, 0xff, sizeof dirty); /* NaNs */
    double l1 = layers_grad(params, batches[t], x, labels, clean, ws);
    double l2 = layers_grad(params, batches[t], x, labels, dirty, ws);
    assert_memory_equal(&l1, &l2, sizeof l1);
    assert_memory_equal(clean, dirty, sizeof clean);
    memset(dirty, 0xff, sizeof dirty);
    layers_grad_inputs(params, batches[t], x, labels, dirty, din, ws);
    assert_memory_equal(clean, dirty, sizeof clean);
  }
  memset(dirty, 0xff, sizeof dirty);
  memset(clean, 0, sizeof clean);
  assert_true(layers_grad(params, 0, x, labels, dirty, ws) == 0);
  assert_memory_equal(clean, dirty, sizeof clean);
  memset(dirty, 0xff, sizeof dirty);
  assert_true(layers_grad_inputs(params, 0, x, labels, dirty, din, ws) == 0);
  assert_memory_equal(clean, dirty, sizeof clean);
  free(ws);
}

/* Split over two threads, the same sums in the same order: the same bits.
   Through CBLAS, the same values up to rounding. */
static void layers_threads_and_blas(void **state) {
  (void)state;
  enum { B = 64, IN = layers_INPUT_SIZE, NP = layers_NUM_PARAMS }; /* 64 x 32 x 40: gemm() splits */
  static double params[NP], x[B * IN], labels[B], g[NP], gt[NP], gb[NP], din[B * IN], dint[B * IN], dinb[B * IN];
  size_t size = layers_workspace_size(B);
  if (layers_threads_workspace_size(B) > size)
    size = layers_threads_workspace_size(B);
  if (layers_blas_workspace_size(B) > size)
    size = layers_blas_workspace_size(B);
  void *ws = malloc(size);
  assert_non_null(ws);
  layers_init(params, 4);
  for (int i = 0; i < B * IN; i++)
    x[i] = cos(0.3 * i);
  for (int b = 0; b < B; b++)
    labels[b] = (b * 7) % 10;
  double loss = layers_grad_inputs(params, B, x, labels, g, din, ws);
  double loss_t = layers_threads_grad_inputs(params, B, x, labels, gt, dint, ws);
  double loss_b = layers_blas_grad_inputs(params, B, x, labels, gb, dinb, ws);
  assert_memory_equal(&loss, &loss_t, sizeof loss);
  assert_memory_equal(g, gt, sizeof g);
  assert_memory_equal(din, dint, sizeof din);
  assert_close(loss_b, loss, 1e-12);
  for (int i = 0; i < NP; i++)
    assert_close(gb[i], g[i], 1e-13);
  for (int i = 0; i < B * IN; i++)
    assert_close(dinb[i], din[i], 1e-13);
  free(ws);
}

/* ---- P_sgd_step: P_grad and the update, in one ---- */

/* params - lr * grads, as a user of P_grad writes it. */
static void sgd_by_hand(double *params, const double *grads, int n, double lr) {
  for (int i = 0; i < n; i++)
    params[i] -= lr * grads[i];
}

/* Nothing fused (no product over the batch): the same bits as P_grad and
   the update; the loss is the loss before the step. */
static void sgd_step_without_products(void **state) {
  (void)state;
  double params[16], by_hand[16], grads[16], scratch[16], ws[128];
  assert_true(classifier_workspace_size(2) <= sizeof ws);
  classifier_init(params, 5);
  memcpy(by_hand, params, sizeof params);
  const double x[] = {0.1, -0.4, 2, 1, 1, -1}, labels[] = {3, 1};
  double before = classifier_forward(params, 2, x, labels, NULL, ws);
  double loss = classifier_grad(by_hand, 2, x, labels, grads, ws);
  sgd_by_hand(by_hand, grads, 16, 0.5);
  double step_loss = classifier_sgd_step(params, 2, x, labels, 0.5, scratch, ws);
  assert_memory_equal(&step_loss, &loss, sizeof loss);
  assert_close(step_loss, before, 1e-15);
  assert_memory_equal(params, by_hand, sizeof params);
  assert_true(classifier_forward(params, 2, x, labels, NULL, ws) < before); /* a step downhill */
}

/* Weight matrices updated by their products: the same as P_grad and the
   update up to rounding, the biases through grads; on two threads, the same bits. */
static void sgd_step_with_products(void **state) {
  (void)state;
  enum { B = 64, IN = layers_INPUT_SIZE, NP = layers_NUM_PARAMS };
  static double params[NP], by_hand[NP], threaded[NP], x[B * IN], labels[B], grads[NP], scratch[NP];
  size_t size = layers_workspace_size(B) > layers_threads_workspace_size(B) ? layers_workspace_size(B)
                                                                          : layers_threads_workspace_size(B);
  void *ws = malloc(size);
  assert_non_null(ws);
  layers_init(params, 6);
  for (int i = 0; i < B * IN; i++)
    x[i] = sin(1.3 * i);
  for (int b = 0; b < B; b++)
    labels[b] = (b * 3) % 10;
  memcpy(by_hand, params, sizeof params);
  memcpy(threaded, params, sizeof params);
  double loss = layers_grad(by_hand, B, x, labels, grads, ws);
  sgd_by_hand(by_hand, grads, NP, 0.1);
  double step_loss = layers_sgd_step(params, B, x, labels, 0.1, scratch, ws);
  double threaded_loss = layers_threads_sgd_step(threaded, B, x, labels, 0.1, scratch, ws);
  assert_close(step_loss, loss, 1e-15);
  for (int i = 0; i < NP; i++)
    assert_close(params[i], by_hand[i], 1e-15);
  assert_memory_equal(&threaded_loss, &step_loss, sizeof loss);
  assert_memory_equal(threaded, params, sizeof params);
  double after = layers_forward(params, B, x, labels, NULL, ws);
  assert_true(after < loss);
  free(ws);
}

/* Forty layers: the passes run their steps in parts, and still give what
   the examples give one by one; P_sgd_step still takes the same step. */
static void many_layers_in_parts(void **state) {
  (void)state;
  enum { B = 9, IN = many_layers_INPUT_SIZE, NP = many_layers_NUM_PARAMS };
  static double params[NP], stepped[NP], x[B * IN], y[B * IN], grads[NP], one[NP], mean[NP];
  void *ws = malloc(many_layers_workspace_size(B));
  assert_non_null(ws);
  many_layers_init(params, 8);
  for (int i = 0; i < B * IN; i++) {
    x[i] = sin(0.9 * i);
    y[i] = 0.5 * cos(0.4 * i);
  }
  double loss = many_layers_grad(params, B, x, y, grads, ws), mean_loss = 0;
  for (int b = 0; b < B; b++) {
    mean_loss += many_layers_grad(params, 1, x + b * IN, y + b * IN, one, ws) / B;
    for (int i = 0; i < NP; i++)
      mean[i] += one[i] / B;
  }
  assert_close(loss, mean_loss, 1e-13);
  double norm = 0;
  for (int i = 0; i < NP; i++) {
    assert_close(grads[i], mean[i], 1e-13);
    norm += fabs(grads[i]);
  }
  assert_true(norm > 1e-3);
  memcpy(stepped, params, sizeof params);
  double step_loss = many_layers_sgd_step(stepped, B, x, y, 0.2, one, ws);
  assert_close(step_loss, loss, 1e-15);
  for (int i = 0; i < NP; i++)
    assert_close(stepped[i], params[i] - 0.2 * grads[i], 1e-15);
  free(ws);
}

/* ---- lanes: examples a group at a time, the same bits ---- */

/* Fails, naming the batch, unless the N reals at GOT and WANT are the same bits. */
#define SAME_BITS(got, want, n, what)                                                                                  \
  do {                                                                                                                 \
    if ((n) > 0 && memcmp(got, want, sizeof *(got) * (size_t)(n)) != 0)                                                \
      fail_msg("batch %d: %s differ", batch, what);                                                                    \
  } while (0)

/* Model A, built to run in lanes, against B, the same model one example
   at a time, at every batch from 1 to 19 (whole groups, examples left over,
   which run one at a time, and batches of no whole group), each in a
   workspace of just its size. P_grad_inputs, P_forward's outputs (with
   targets and without) and P_sgd_step give the same bits: each sum adds
   the same terms in the same order. TARGET(i) is target i. */
#define TWINS(A, B, real_t, TARGET)                                                                                    \
  static void A##_and_##B(void **state) {                                                                              \
    (void)state;                                                                                                       \
    enum { MAXB = 19, IN = A##_INPUT_SIZE, TG = A##_TARGET_SIZE, OUT = A##_OUTPUT_SIZE + 1, NP = A##_NUM_PARAMS };     \
    static real_t params[NP], p1[NP], p2[NP], g1[NP], g2[NP], x[MAXB * IN], t[MAXB * TG];                             \
    static real_t d1[MAXB * IN], d2[MAXB * IN], o1[MAXB * OUT], o2[MAXB * OUT];                                       \
    A##_init(params, 7);                                                                                               \
    for (int i = 0; i < MAXB * IN; i++)                                                                                \
      x[i] = (real_t)sin(0.7 * i + 0.2);                                                                               \
    for (int i = 0; i < MAXB * TG; i++)                                                                                \
      t[i] = (real_t)(TARGET);                                                                                         \
    for (int batch = 1; batch <= MAXB; batch++) {                                                                      \
      size_t wa = A##_workspace_size(batch), wb = B##_workspace_size(batch);                                          \
      real_t *wsa = malloc(wa), *wsb = malloc(wb);                                                                     \
      assert_true(wsa && wsb);                                                                                         \
      real_t l1 = A##_grad_inputs(params, batch, x, t, g1, d1, wsa);                                                   \
      real_t l2 = B##_grad_inputs(params, batch, x, t, g2, d2, wsb);                                                   \
      SAME_BITS(&l1, &l2, 1, "losses");                                                                                \
      SAME_BITS(g1, g2, NP, "gradients");                                                                              \
      SAME_BITS(d1, d2, batch * IN, "input gradients");                                                                \
      l1 = A##_forward(params, batch, x, t, o1, wsa);                                                                  \
      l2 = B##_forward(params, batch, x, t, o2, wsb);                                                                  \
      SAME_BITS(&l1, &l2, 1, "forward losses");                                                                        \
      SAME_BITS(o1, o2, batch * (OUT - 1), "outputs");                                                                 \
      A##_forward(params, batch, x, NULL, o1, wsa);                                                                    \
      B##_forward(params, batch, x, NULL, o2, wsb);                                                                    \
      SAME_BITS(o1, o2, batch * (OUT - 1), "outputs without targets");                                                 \
      memcpy(p1, params, sizeof params);                                                                               \
      memcpy(p2, params, sizeof params);                                                                               \
      l1 = A##_sgd_step(p1, batch, x, t, (real_t)0.1, g1, wsa);                                                        \
      l2 = B##_sgd_step(p2, batch, x, t, (real_t)0.1, g2, wsb);                                                        \
      SAME_BITS(&l1, &l2, 1, "SGD losses");                                                                            \
      SAME_BITS(p1, p2, NP, "SGD steps");                                                                              \
      free(wsa), free(wsb);                                                                                            \
    }                                                                                                                  \
  }

TWINS(classifier_lanes4, classifier, double, (i * 5) % 4)
TWINS(classifier_lanes3, classifier, double, (i * 5) % 4)
TWINS(shared_adjoint_lanes4, shared_adjoint, double, cos(0.9 * i))
TWINS(wide_softmax_lanes4, wide_softmax, double, (i * 7) % 11)
TWINS(xor_lanes, xor_each, float, (i * 3) % 2)
TWINS(xor_threads, xor_each, float, (i * 3) % 2)
TWINS(xor_default, xor_each, float, (i * 3) % 2)
TWINS(xor_alone, xor_each, float, (i * 3) % 2)

/* ---- leaves that share an adjoint ---- */

/* dW = dV and dp = dq are one node each: both gradients get it, and dp
   is the slope of the mean loss, by central differences. */
static void shared_adjoints(void **state) {
  (void)state;
  enum { B = 2, IN = shared_adjoint_INPUT_SIZE, TG = shared_adjoint_TARGET_SIZE, NP = shared_adjoint_NUM_PARAMS };
  double params[NP], grads[NP], inputs[B * IN], targets[B * TG], din[B * IN], ws[256];
  assert_true(shared_adjoint_workspace_size(B) <= sizeof ws);
  shared_adjoint_init(params, 3);
  for (int i = 0; i < B * IN; i++)
    inputs[i] = sin(1.7 * i + 0.3);
  for (int i = 0; i < B * TG; i++)
    targets[i] = cos(0.9 * i);
  shared_adjoint_grad_inputs(params, B, inputs, targets, grads, din, ws);
  assert_memory_equal(grads, grads + 6, 6 * sizeof(double)); /* dW = dV */
  for (int b = 0; b < B; b++) {
    assert_memory_equal(din + b * IN + 3, din + b * IN + 5, 2 * sizeof(double)); /* dp = dq */
    for (int j = 0; j < IN; j++) {
      double *v = &inputs[b * IN + j], saved = *v, h = 1e-6;
      *v = saved + h;
      double up = shared_adjoint_forward(params, B, inputs, targets, NULL, ws);
      *v = saved - h;
      double down = shared_adjoint_forward(params, B, inputs, targets, NULL, ws);
      *v = saved;
      assert_close(din[b * IN + j], (up - down) / (2 * h), 1e-8);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(neuron_worked_example),   cmocka_unit_test(neuron_input_gradient),
      cmocka_unit_test(neuron_batch_mean),       cmocka_unit_test(sigmoid_neuron_chain_rule),
      cmocka_unit_test(choices_at_special_values), cmocka_unit_test(choices_in_float_vectorized),
      cmocka_unit_test(classifier_sizes),        cmocka_unit_test(classifier_init_seeded),
      cmocka_unit_test(classifier_forward_outputs),      cmocka_unit_test(classifier_bad_class),
      cmocka_unit_test(classifier_grad_is_pure), cmocka_unit_test(classifier_fractional_class),
      cmocka_unit_test(bce_at_the_edges),        cmocka_unit_test(layers_batch_is_mean_of_examples),
      cmocka_unit_test(layers_grad_overwrites),  cmocka_unit_test(layers_threads_and_blas),
      cmocka_unit_test(sgd_step_without_products),
      cmocka_unit_test(sgd_step_with_products),   cmocka_unit_test(many_layers_in_parts),
      cmocka_unit_test(shared_adjoints),         cmocka_unit_test(wide_softmax_max_anywhere),
      cmocka_unit_test(classifier_lanes4_and_classifier), cmocka_unit_test(classifier_lanes3_and_classifier),
      cmocka_unit_test(shared_adjoint_lanes4_and_shared_adjoint),
      cmocka_unit_test(wide_softmax_lanes4_and_wide_softmax), cmocka_unit_test(xor_lanes_and_xor_each),
      cmocka_unit_test(xor_threads_and_xor_each), cmocka_unit_test(xor_default_and_xor_each),
      cmocka_unit_test(xor_alone_and_xor_each),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
