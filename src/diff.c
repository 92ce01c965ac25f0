/* diff.c: the chain rule. One derivative rule per op, from ops.def; each
   makes the graph nodes of its operands' adjoint contributions, and a
   value used by several nodes gets the sum of what each contributes.
   In the rules, g is the node's adjoint, n the node itself, a and b its
   operands. */
#include "diff.h"

#include <string.h>

typedef struct {
  Graph *g;
  int *adj;   /* per forward node */
  bool *need; /* the node depends on something differentiated */
} Diff;

static int op1(Diff *df, int op, int a) { return graph_op(df->g, op, a, -1); }
static int op2(Diff *df, int op, int a, int b) { return graph_op(df->g, op, a, b); }
static int num(Diff *df, double v) { return graph_const(df->g, v); }
static int in0(Diff *df, int n) { return df->g->nodes[n].in[0]; }
static int in1(Diff *df, int n) { return df->g->nodes[n].in[1]; }
static long size_of(Diff *df, int id) { return shape_size(df->g->nodes[id].shape); }

/* dL/dx += c. A scalar operand that was broadcast gets the sum. */
static void contribute(Diff *df, int x, int c) {
  if (!df->need[x])
    return;
  if (!shape_eq(df->g->nodes[c].shape, df->g->nodes[x].shape))
    c = op1(df, OP_SUM, c);
  df->adj[x] = df->adj[x] < 0 ? c : op2(df, OP_ADD, df->adj[x], c);
}

typedef void Rule(Diff *df, int n, int g);
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) static Rule d_##deriv;
#include "ops.def"
#undef OP

static Rule *const rules[OP_COUNT] = {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) [kind] = d_##deriv,
#include "ops.def"
#undef OP
};

/* Internal ops appear only in the backward pass, which is not differentiated. */
static void d_none(Diff *df, int n, int g) {
  (void)df, (void)n, (void)g;
  unreachable();
}

/* d(a + b) = g, g */
static void d_add(Diff *df, int n, int g) {
  contribute(df, in0(df, n), g);
  contribute(df, in1(df, n), g);
}

/* d(a - b) = g, -g */
static void d_sub(Diff *df, int n, int g) {
  contribute(df, in0(df, n), g);
  contribute(df, in1(df, n), op1(df, OP_NEG, g));
}

/* d(a * b) = g * b, g * a; also dot(a, b), whose g is a scalar */
static void d_mul(Diff *df, int n, int g) {
  int a = in0(df, n), b = in1(df, n);
  contribute(df, a, op2(df, OP_MUL, g, b));
  contribute(df, b, op2(df, OP_MUL, g, a));
}

/* d(a / b) = g / b, -g * n / b  (n = a / b, so -g a / b^2) */
static void d_div(Diff *df, int n, int g) {
  int a = in0(df, n), b = in1(df, n);
  int ga = op2(df, OP_DIV, g, b);
  contribute(df, a, ga);
  contribute(df, b, op1(df, OP_NEG, op2(df, OP_MUL, ga, n)));
}

/* d(a ^ k) = g * k * a^(k-1), k a constant */
static void d_pow(Diff *df, int n, int g) {
  int a = in0(df, n);
  double k = df->g->nodes[in1(df, n)].value;
  int slope = op2(df, OP_MUL, num(df, k), op2(df, OP_POW, a, num(df, k - 1)));
  contribute(df, a, op2(df, OP_MUL, g, slope));
}

/* d(-a) = -g */
static void d_neg(Diff *df, int n, int g) { contribute(df, in0(df, n), op1(df, OP_NEG, g)); }

/* d exp(a) = g * n */
static void d_exp(Diff *df, int n, int g) { contribute(df, in0(df, n), op2(df, OP_MUL, g, n)); }

/* d log(a) = g / a */
static void d_log(Diff *df, int n, int g) { contribute(df, in0(df, n), op2(df, OP_DIV, g, in0(df, n))); }

/* d sqrt(a) = g / (2 n) */
static void d_sqrt(Diff *df, int n, int g) {
  contribute(df, in0(df, n), op2(df, OP_DIV, g, op2(df, OP_MUL, num(df, 2), n)));
}

/* d |a| = g * sign(a) */
static void d_abs(Diff *df, int n, int g) {
  contribute(df, in0(df, n), op2(df, OP_MUL, g, op1(df, OP_SIGN, in0(df, n))));
}

/* d tanh(a) = g * (1 - n^2) */
static void d_tanh(Diff *df, int n, int g) {
  int slope = op2(df, OP_SUB, num(df, 1), op2(df, OP_POW, n, num(df, 2)));
  contribute(df, in0(df, n), op2(df, OP_MUL, g, slope));
}

/* d sigmoid(a) = g * n * (1 - n) */
static void d_sigmoid(Diff *df, int n, int g) {
  int slope = op2(df, OP_MUL, n, op2(df, OP_SUB, num(df, 1), n));
  contribute(df, in0(df, n), op2(df, OP_MUL, g, slope));
}

/* d relu(a) = g * (a > 0) = g * (n > 0): reading n leaves a free to be
   fused away, as in relu(W @ x + b) */
static void d_relu(Diff *df, int n, int g) { contribute(df, in0(df, n), op2(df, OP_MUL, g, op1(df, OP_STEP, n))); }

/* d softplus(a) = g * sigmoid(a) */
static void d_softplus(Diff *df, int n, int g) {
  contribute(df, in0(df, n), op2(df, OP_MUL, g, op1(df, OP_SIGMOID, in0(df, n))));
}

/* d sin(a) = g * cos(a) */
static void d_sin(Diff *df, int n, int g) {
  contribute(df, in0(df, n), op2(df, OP_MUL, g, op1(df, OP_COS, in0(df, n))));
}

/* d cos(a) = -(g * sin(a)) */
static void d_cos(Diff *df, int n, int g) {
  contribute(df, in0(df, n), op1(df, OP_NEG, op2(df, OP_MUL, g, op1(df, OP_SIN, in0(df, n)))));
}

/* d leaky_relu(a, s) = g * (a > 0 ? 1 : s) */
static void d_leaky_relu(Diff *df, int n, int g) {
  int a = in0(df, n);
  contribute(df, a, op2(df, OP_MUL, g, op2(df, OP_LEAKY_STEP, a, in1(df, n))));
}

/* d sum(a) = g, for every element */
static void d_sum(Diff *df, int n, int g) {
  int a = in0(df, n);
  contribute(df, a, graph_broadcast(df->g, g, df->g->nodes[a].shape));
}

/* d mean(a) = g / N, for every element */
static void d_mean(Diff *df, int n, int g) {
  int a = in0(df, n);
  int each = op2(df, OP_DIV, g, num(df, (double)size_of(df, a)));
  contribute(df, a, graph_broadcast(df->g, each, df->g->nodes[a].shape));
}

/* d logsumexp(a) = g * exp(a - n) */
static void d_logsumexp(Diff *df, int n, int g) {
  int a = in0(df, n);
  contribute(df, a, op2(df, OP_MUL, g, op1(df, OP_EXP, op2(df, OP_SUB, a, n))));
}

/* d softmax(a) = n * (g - dot(g, n)) */
static void d_softmax(Diff *df, int n, int g) {
  contribute(df, in0(df, n), op2(df, OP_MUL, n, op2(df, OP_SUB, g, op2(df, OP_DOT, g, n))));
}

/* d log_softmax(a) = g - exp(n) * sum(g) */
static void d_log_softmax(Diff *df, int n, int g) {
  int p = op1(df, OP_EXP, n);
  contribute(df, in0(df, n), op2(df, OP_SUB, g, op2(df, OP_MUL, p, op1(df, OP_SUM, g))));
}

/* d transpose(a) = transpose(g) */
static void d_transpose(Diff *df, int n, int g) { contribute(df, in0(df, n), op1(df, OP_TRANSPOSE, g)); }

/* d(A @ B) = g @ B^T, A^T @ g, with a vector taking the place of a
   matrix: [m,n] @ [n]: dA = outer(g, x), dx = A^T @ g;
   [n] @ [n,k]: dx = B @ g, dB = outer(x, g); [n] @ [n]: g * y, g * x. */
static void d_matmul(Diff *df, int n, int g) {
  Graph *G = df->g;
  int a = in0(df, n), b = in1(df, n);
  int ra = G->nodes[a].shape.rank, rb = G->nodes[b].shape.rank;
  if (ra == 2 && rb == 2) {
    contribute(df, a, graph_matmul(G, g, b, TRANS_B));
    contribute(df, b, graph_matmul(G, a, g, TRANS_A));
  } else if (ra == 2) {
    contribute(df, a, op2(df, OP_OUTER, g, b));
    contribute(df, b, graph_matmul(G, a, g, TRANS_A));
  } else if (rb == 2) {
    contribute(df, a, graph_matmul(G, b, g, 0));
    contribute(df, b, op2(df, OP_OUTER, a, g));
  } else {
    d_mul(df, n, g); /* a dot product */
  }
}

/* mse = mean((a - b)^2):  d = g * (2 / N) * (a - b), -d */
static void d_mse(Diff *df, int n, int g) {
  int a = in0(df, n), b = in1(df, n);
  int scale = op2(df, OP_MUL, g, num(df, 2.0 / (double)size_of(df, a)));
  int d = op2(df, OP_MUL, scale, op2(df, OP_SUB, a, b));
  contribute(df, a, d);
  contribute(df, b, op1(df, OP_NEG, d));
}

/* cross_entropy(z, t) = logsumexp(z) - z[t] for a class t:
     dz = g * (softmax(z) - onehot(t)), the p - y rule;
   = -sum(t * log_softmax(z)) for a probability vector t:
     dz = g * (softmax(z) * sum(t) - t), dt = -g * log_softmax(z). */
static void d_cross_entropy(Diff *df, int n, int g) {
  Graph *G = df->g;
  int z = in0(df, n), t = in1(df, n);
  int p = op1(df, OP_SOFTMAX, z);
  if (G->nodes[t].sym && G->nodes[t].sym->nclass) {
    contribute(df, z, op2(df, OP_MUL, g, op2(df, OP_SUB, p, op1(df, OP_ONEHOT, t))));
    return;
  }
  int pt = op2(df, OP_MUL, p, op1(df, OP_SUM, t));
  contribute(df, z, op2(df, OP_MUL, g, op2(df, OP_SUB, pt, t)));
  contribute(df, t, op1(df, OP_NEG, op2(df, OP_MUL, g, op1(df, OP_LOG_SOFTMAX, z))));
}

/* bce = mean(-(t log p + (1 - t) log(1 - p))):
     dp = g / N * (p - t) / max(p (1 - p), 1e-12),  dt = g / N * (log(1 - p) - log(p));
   the max keeps dp finite where the clamped loss is (PyTorch clamps alike) */
static void d_bce(Diff *df, int n, int g) {
  int p = in0(df, n), t = in1(df, n);
  int scale = op2(df, OP_DIV, g, num(df, (double)size_of(df, p)));
  int one_minus_p = op2(df, OP_SUB, num(df, 1), p);
  int denominator = op2(df, OP_MAX, op2(df, OP_MUL, p, one_minus_p), num(df, 1e-12));
  int dp = op2(df, OP_DIV, op2(df, OP_SUB, p, t), denominator);
  contribute(df, p, op2(df, OP_MUL, scale, dp));
  int dt = op2(df, OP_SUB, op1(df, OP_LOG, one_minus_p), op1(df, OP_LOG, p));
  contribute(df, t, op2(df, OP_MUL, scale, dt));
}

/* bce_logits = mean(max(z, 0) - z t + log(1 + exp(-|z|))):
     dz = g / N * (sigmoid(z) - t),  dt = -g / N * z */
static void d_bce_logits(Diff *df, int n, int g) {
  int z = in0(df, n), t = in1(df, n);
  int scale = op2(df, OP_DIV, g, num(df, (double)size_of(df, z)));
  contribute(df, z, op2(df, OP_MUL, scale, op2(df, OP_SUB, op1(df, OP_SIGMOID, z), t)));
  contribute(df, t, op1(df, OP_NEG, op2(df, OP_MUL, scale, z)));
}

Backward *diff_backward(Graph *g, bool input_grads) {
  Arena *a = g->arena;
  const Program *p = g->program;
  Backward *bw = arena_new(a, Backward);
  bw->wrt = arena_array(a, int, p->nsyms + 1);
  for (int i = 0; i < p->nsyms; i++) {
    Symbol *sym = p->syms[i];
    if (sym->kind == SYM_PARAM)
      bw->wrt[bw->nwrt++] = graph_leaf(g, LEAF_PARAM, sym);
  }
  for (int i = 0; i < p->nsyms && input_grads; i++) {
    Symbol *sym = p->syms[i];
    if (sym->kind == SYM_INPUT)
      bw->wrt[bw->nwrt++] = graph_leaf(g, LEAF_INPUT, sym);
  }
  /* Leaves made just now (a param no value uses) belong to the forward pass. */
  g->nforward = g->n;
  int nf = g->nforward;

  Diff df = {g, arena_array(a, int, nf), arena_array(a, bool, nf)};
  for (int i = 0; i < bw->nwrt; i++)
    df.need[bw->wrt[i]] = true;
  for (int id = 0; id < nf; id++) {
    df.adj[id] = -1;
    for (int k = 0; k < 2; k++)
      if (g->nodes[id].in[k] >= 0 && df.need[g->nodes[id].in[k]])
        df.need[id] = true;
  }
  if (df.need[g->loss])
    df.adj[g->loss] = graph_const(g, 1);
  for (int id = nf - 1; id >= 0; id--) {
    int op = g->nodes[id].op;
    if (df.adj[id] >= 0 && op < OP_COUNT)
      rules[op](&df, id, df.adj[id]);
  }
  /* Name the adjoints for readers: the first named node to claim one. */
  for (int id = nf - 1; id >= 0; id--) {
    int adj = df.adj[id];
    if (adj >= nf && g->nodes[id].name && g->nodes[adj].adjoint_of < 0)
      g->nodes[adj].adjoint_of = id;
  }
  bw->adjoint = df.adj;
  return bw;
}

static void print_adjoint(FILE *out, const Graph *g, const Backward *bw, int id) {
  int adj = bw->adjoint[id];
  if (adj < 0)
    return;
  fprintf(out, "dL/d%s = ", g->nodes[id].name);
  int owner = g->nodes[adj].adjoint_of;
  if (owner >= 0 && owner != id)
    fprintf(out, "dL/d%s", g->nodes[owner].name);
  else
    graph_print_expr(out, g, adj, true);
  fputc('\n', out);
}

/* One line of 'netc grad': a named value or a differentiated leaf. */
typedef struct {
  int id, adj;
} Line;

/* Does this line's name own its adjoint, or repeat another line's? */
static bool owns(const Graph *g, Line l) { return l.adj >= 0 && g->nodes[l.adj].adjoint_of == l.id; }

/* First the adjoints each line owns, in the order they are computed, so a
   line only names adjoints printed above it; then the lines that repeat
   another's (dL/db = dL/dz) and the zero ones, in declaration order. */
void diff_print(FILE *out, const Graph *g, const Backward *bw) {
  Line *lines = arena_array(g->arena, Line, g->nforward + 1);
  int n = 0;
  for (int id = g->nforward - 1; id >= 0; id--)
    if (g->nodes[id].op < OP_COUNT && g->nodes[id].name && bw->adjoint[id] >= 0)
      lines[n++] = (Line){id, bw->adjoint[id]};
  for (int i = 0; i < bw->nwrt; i++)
    lines[n++] = (Line){bw->wrt[i], bw->adjoint[bw->wrt[i]]};
  /* insertion sort of the owners by adjoint; stable for the rest */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0; j--) {
      Line a = lines[j - 1], b = lines[j];
      bool swap = owns(g, b) && (!owns(g, a) || b.adj < a.adj);
      if (!swap)
        break;
      lines[j - 1] = b;
      lines[j] = a;
    }
  for (int i = 0; i < n; i++) {
    if (lines[i].adj < 0)
      fprintf(out, "dL/d%s = 0\n", g->nodes[lines[i].id].name);
    else
      print_adjoint(out, g, bw, lines[i].id);
  }
}
