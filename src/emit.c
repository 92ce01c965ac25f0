/* emit.c: the graph as C. The fixed parts of the files come from
   templates/; this file writes what depends on the model: one loop nest
   per value that must be kept, with the elementwise values that feed it
   computed inside that loop (fusion), and matrix products that feed an
   elementwise value computed in that value's loop (bias and activation in
   the product's loop).

   A node is either
   - a leaf or a constant, read where it is,
   - inlined: written out inside the one expression that uses it,
   - fused: a matrix product computed in its one user's loop, or
   - materialized: computed once into a named place, a slice of the
     workspace for tensors and forward values, a local for backward scalars,
     or straight into the gradient of the param it is the adjoint of.

   The code runs batch-major. Every example has a workspace of its own, and
   the materialized nodes are cut into segments: per-example code, one
   static function each, that the drivers forward() and backward() call for
   every example of the batch. Between segments stand the large matrix
   products, each computed for the whole batch at once by one call of the
   packed GEMM of templates/gemm.c: W @ x as X W^T, W^T @ g as G W, and a
   param's outer(g, x) as G^T X, added into its gradient. */
#include "emit.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef enum { FWD, BWD } Phase;

/* With lanes, element i of lane l of a group is at [i * lanes + l]. A
   segment runs over every lane, 'l' its lane (LANE_EACH), or over every
   element of every lane at once, 's' the position [i * lanes + l]
   (LANE_FLAT, an elementwise loop); write_outputs gets pointers already
   at its example's lane (LANE_ONE). */
typedef enum { LANE_EACH, LANE_FLAT, LANE_ONE } LaneView;

/* The functions of templates/mathf.c, one bit each: a form's for lanes is
   the bit after its own. */
enum { MATHF_EXP = 1, MATHF_EXP_LANES = 2, MATHF_TANH = 4, MATHF_TANH_LANES = 8 };

typedef struct {
  const Graph *g;
  const Backward *bw;
  const EmitOptions *o;
  Arena *a;
  /* analysis, one entry per node */
  bool *live;
  int *uses;        /* users among live nodes */
  bool *is_root;    /* the loss, an output or a gradient: kept whatever uses it */
  int *leaf_of;     /* per symbol: its leaf node, or -1 */
  int *user;        /* the last user seen */
  bool *mat;        /* materialized */
  int *fused;       /* for a materialized elementwise node: the product fused into its loop, or -1 */
  bool *is_fused;   /* a product computed in its user's loop */
  int *grad_of;     /* materialized straight into this param's gradient, or -1 */
  long *slot;       /* offset in the workspace, or -1 */
  bool *target_dep; /* depends on a target */
  bool *read_later; /* a forward value that the backward pass or the outputs read */
  bool *varying;    /* depends on an input or a target: one value per example */
  bool *gemm;       /* a product computed for the whole batch by gemm() */
  int *bias_of;     /* for a node gemm() finishes (relu(W @ x + b)): its bias b, or -1 for none */
  bool *relu_of;    /* ... and whether relu follows */
  bool *finished;   /* a fused node computed whole by gemm(), its epilogue included */
  int *seg;         /* the segment whose code computes the node, or -1 */
  int nsegs;
  Phase *seg_phase;  /* per segment */
  int final_fwd, final_bwd; /* the segments that return the loss and add the last gradients */
  bool *seg_adds_to_grads;   /* per segment: adds into grads, so examples must take turns */
  bool any_gemm;
  int lanes;          /* examples a group runs at once, one to a lane (1: one example at a time) */
  bool with_lanes;        /* the file has segments for lanes, whatever the mode now */
  bool lanes_by_compiler; /* lanes by default: the compiler decides whether groups run in them */
  long in_slot, tg_slot; /* with lanes: where the inputs and targets are copied in the workspace */
  int uses_mathf; /* the forms of templates/mathf.c float code calls: MATHF_EXP, ... */
  bool uses_pick;  /* the code chooses with nc_pick */
  int *with_softmax; /* per cross_entropy: the backward pass's softmax of its logits, computed with it, or -1 */
  bool *early;       /* a backward softmax computed in the forward pass, by its cross_entropy */
  const char **cname;
  const char **grad_name; /* per node (leaves in wrt): the name of its gradient pointer */
  const char **taken;
  int ntaken, cap_taken;
  long ws_forward, ws_size; /* reals: the forward values kept, and all */
  int temporaries;
  bool helper_used[OP_COUNT];       /* nc_<op> is called */
  bool helper_used_lanes[OP_COUNT]; /* nc_<op>_lanes is: its float form calls exp or tanh in lanes */
  /* writing */
  FILE *out;
  int indent;
  bool at_line_start;
  bool *referenced; /* in the function being written */
  bool *grad_used;  /* per leaf: its gradient pointer, in the function being written */
  int acc_node;     /* the fused product standing for 'acc', or -1 */
  int acc_home;     /* in a flat loop: the node whose buffer holds that product, or -1 */
  LaneView view;    /* with lanes: how the function being written sees them */
} Emit;

static const Node *node(const Emit *E, int id) { return &E->g->nodes[id]; }
static Phase phase(const Emit *E, int id) { return id < E->g->nforward ? FWD : BWD; }
static bool is_leaf(const Emit *E, int id) { return node(E, id)->op >= OP_COUNT; }
static bool is_scalar(const Emit *E, int id) { return node(E, id)->shape.rank == 0; }
static long size_of(const Emit *E, int id) { return shape_size(node(E, id)->shape); }
static const char *real_name(const Emit *E) { return E->o->dbl ? "double" : "float"; }
static int threads(const Emit *E) { return E->o->threads > 1 ? E->o->threads : 1; }
static bool in_lanes(const Emit *E) { return E->lanes > 1; }
/* Code for one example at a time (LANES 1) or for a group in lanes: what
   writes code reads the mode from E->lanes. Returns the mode replaced. */
static int set_mode(Emit *E, int lanes) {
  int was = E->lanes;
  E->lanes = lanes;
  return was;
}
/* The running sum of a dot product or a reduction: one per lane with lanes. */
static const char *acc_name(const Emit *E) { return in_lanes(E) ? "acc[l]" : "acc"; }

/* ---- writing, indented ---- */

static bool ident_char(char c);

/* The math functions of C99 that generated code calls and their float
   twins: a float build calls those, so no double is computed. exp and
   tanh become inline arithmetic (templates/mathf.c), which the compiler
   can vectorize and which is faster than libm's calls; code in lanes
   calls their forms without branches. */
static const struct {
  const char *name, *twin, *lanes_twin; /* lanes_twin: the form for lanes, where it has one */
  int mathf; /* the bit of Emit.uses_mathf that its twin sets, the lanes' form the next */
} math_functions[] = {{"exp", "nc_expf", "nc_expf_lanes", MATHF_EXP},
                      {"tanh", "nc_tanhf", "nc_tanhf_lanes", MATHF_TANH},
                      {"log", "logf", NULL, 0},
                      {"sqrt", "sqrtf", NULL, 0},
                      {"fabs", "fabsf", NULL, 0},
                      {"sin", "sinf", NULL, 0},
                      {"cos", "cosf", NULL, 0},
                      {"pow", "powf", NULL, 0},
                      {"log1p", "log1pf", NULL, 0},
                      {"fmax", "fmaxf", NULL, 0}};

/* TEXT with each math function call renamed to its float twin, or in
   LANES to the lanes' form; the forms of templates/mathf.c it calls are
   marked in *TWINS. */
static char *float_math(const char *text, int *twins, bool lanes) {
  char *out;
  size_t size;
  FILE *f = open_memstream(&out, &size);
  for (const char *p = text; *p;) {
    size_t len = 0;
    while (ident_char(p[len]))
      len++;
    if (len == 0) {
      fputc(*p++, f);
      continue;
    }
    size_t k = 0, n = sizeof math_functions / sizeof math_functions[0];
    while (k < n && !(strlen(math_functions[k].name) == len && strncmp(p, math_functions[k].name, len) == 0 &&
                      p[len] == '('))
      k++;
    if (k < n) {
      bool own_form = lanes && math_functions[k].lanes_twin;
      fputs(own_form ? math_functions[k].lanes_twin : math_functions[k].twin, f);
      *twins |= own_form ? math_functions[k].mathf << 1 : math_functions[k].mathf;
    } else {
      fwrite(p, 1, len, f);
    }
    p += len;
  }
  fclose(f);
  return out;
}

__attribute__((format(printf, 2, 3))) static void emitf(Emit *E, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *text = malloc((size_t)len + 1);
  if (!text)
    fatal("out of memory");
  va_start(ap, fmt);
  vsnprintf(text, (size_t)len + 1, fmt, ap);
  va_end(ap);
  if (!E->o->dbl) {
    char *renamed = float_math(text, &E->uses_mathf, in_lanes(E));
    free(text);
    text = renamed;
  }
  for (const char *p = text; *p; p++) {
    if (E->at_line_start && *p != '\n')
      fprintf(E->out, "%*s", 2 * E->indent, "");
    fputc(*p, E->out);
    E->at_line_start = *p == '\n';
  }
  free(text);
}

/* ---- names ---- */

static const char *const reserved_words[] = {
    /* C and C++ keywords */
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "and",
    "and_eq", "asm", "bitand", "bitor", "bool", "catch", "class", "compl", "const_cast", "constexpr", "decltype",
    "delete", "dynamic_cast", "explicit", "export", "false", "friend", "mutable", "namespace", "new", "noexcept",
    "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "reinterpret_cast",
    "static_assert", "static_cast", "template", "this", "throw", "true", "try", "typeid", "typename", "using",
    "virtual", "wchar_t", "xor", "xor_eq", "alignas", "alignof", "thread_local", "char16_t", "char32_t",
    /* what the generated code itself uses */
    "real", "params", "in", "tg", "ws", "grads", "din", "out", "i", "j", "k", "u", "acc", "part", "bk", "zmax", "zsum",
    "zmax0", "zmax1", "zmax2", "zmax3", "zsum0", "zsum1", "zsum2", "zsum3",
    "lse", "l", "s", "total",
    "cls", "exp", "log", "sqrt", "fabs", "tanh", "sin", "cos", "pow", "log1p", "fmax", "memset", "NAN", "NULL",
    "size_t", "uint64_t", "forward", "backward", "write_outputs", "fill_value", "fill_uniform", "fill_normal",
    "uniform01", "next_random", "input_grad_scratch", "main", "grad_runs", "zero_grads", "mean_grads",
    "sgd_update", "grad_mean",
    /* macros of math.h, stdint.h, stddef.h and string.h (more by prefix below) */
    "INFINITY", "isfinite", "isinf", "isnan", "isnormal", "signbit", "fpclassify", "isgreater", "isgreaterequal",
    "isless", "islessequal", "islessgreater", "isunordered", "math_errhandling", "offsetof", "expf", "logf",
    /* stdlib.h's, which C++'s math.h includes */
    "RAND_MAX", "EXIT_FAILURE", "EXIT_SUCCESS", "MB_CUR_MAX",
    "sqrtf", "fabsf", "tanhf", "sinf", "cosf", "powf", "log1pf", "fmaxf", "copysignf", "fmaf"};

/* Macro families of the same headers: M_PI, FP_NAN, HUGE_VAL, INT64_MAX, ... */
static const char *const reserved_prefixes[] = {"M_", "FP_", "HUGE_", "MATH_", "INT", "UINT", "SIZE_", "PTRDIFF_",
                                                "WCHAR_", "WINT_", "SIG_ATOMIC_", "GEMM_", "NC_", "WS_", "DIN_", "_mm",
                                                "nc_", "add_gradients_"};

/* Names taken by a family of macros (M_PI, UINT64_MAX), by the generated
   code's helpers (nc_relu) or by C itself (_X, __x): no suffix frees
   them, so they get a prefix. */
static bool reserved_family(const char *name) {
  if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z')))
    return true;
  for (size_t i = 0; i < sizeof reserved_prefixes / sizeof reserved_prefixes[0]; i++)
    if (strncmp(name, reserved_prefixes[i], strlen(reserved_prefixes[i])) == 0)
      return true;
  return false;
}

static bool is_taken(const Emit *E, const char *name) {
  for (size_t i = 0; i < sizeof reserved_words / sizeof reserved_words[0]; i++)
    if (strcmp(reserved_words[i], name) == 0)
      return true;
  /* temporaries are t<digits>, helpers nc_<op> */
  if (name[0] == 't' && name[1] && strspn(name + 1, "0123456789") == strlen(name + 1))
    return true;
  if (strncmp(name, "nc_", 3) == 0)
    return true;
  for (int i = 0; i < E->ntaken; i++)
    if (strcmp(E->taken[i], name) == 0)
      return true;
  return false;
}

/* NAME, or NAME with underscores appended until it is free; then taken. */
static const char *claim(Emit *E, const char *name) {
  char *unique = reserved_family(name) ? arena_printf(E->a, "v%s", name) : arena_strdup(E->a, name);
  while (is_taken(E, unique))
    unique = arena_printf(E->a, "%s_", unique);
  if (E->ntaken == E->cap_taken) {
    E->cap_taken = E->cap_taken ? 2 * E->cap_taken : 64;
    const char **grown = arena_array(E->a, const char *, E->cap_taken);
    if (E->ntaken)
      memcpy(grown, E->taken, sizeof(char *) * (size_t)E->ntaken);
    E->taken = grown;
  }
  E->taken[E->ntaken++] = unique;
  return unique;
}

/* ---- analysis: what is inlined, fused, materialized, and where ---- */

static bool accepts_inline(const Emit *E, int user) {
  int flags = op_info[node(E, user)->op].flags;
  return (flags & (OPF_ELEMWISE | OPF_REDUCE)) != 0;
}

static bool inlined(const Emit *E, int id) {
  return !is_leaf(E, id) && !E->mat[id] && !E->is_fused[id];
}

static void count_uses(Emit *E, const int *roots, int nroots) {
  const Graph *g = E->g;
  for (int id = 0; id < g->n; id++)
    if (E->live[id])
      for (int k = 0; k < 2; k++) {
        int in = g->nodes[id].in[k];
        if (in >= 0) {
          E->uses[in]++;
          E->user[in] = id;
        }
      }
  for (int i = 0; i < nroots; i++)
    if (roots[i] >= 0)
      E->is_root[roots[i]] = true;
}

static void mark_read_later(Emit *E) {
  const Graph *g = E->g;
  for (int id = g->nforward; id < g->n; id++)
    if (E->live[id])
      for (int k = 0; k < 2; k++)
        if (g->nodes[id].in[k] >= 0)
          E->read_later[g->nodes[id].in[k]] = true;
  for (int i = 0; i < g->noutputs; i++)
    E->read_later[g->outputs[i]] = true;
  for (int i = 0; i < E->bw->nwrt; i++)
    if (E->bw->adjoint[E->bw->wrt[i]] >= 0)
      E->read_later[E->bw->adjoint[E->bw->wrt[i]]] = true;
}

/* Inlined expressions nest at most this deep; deeper, a value is kept, so
   a chain of thousands of statements is not one line of C. */
enum { MAX_INLINE_DEPTH = 24 };

static void decide_materialized(Emit *E) {
  const Graph *g = E->g;
  int *depth = arena_array(E->a, int, g->n);
  for (int id = 0; id < g->n; id++) {
    const Node *n = &g->nodes[id];
    if (!E->live[id] || is_leaf(E, id))
      continue;
    bool can_inline = (op_info[n->op].flags & OPF_ELEMWISE) && E->uses[id] == 1 && !E->is_root[id] &&
                      phase(E, E->user[id]) == phase(E, id) && accepts_inline(E, E->user[id]);
    /* A named forward scalar costs nothing to keep, and reads better. */
    if (can_inline && is_scalar(E, id) && n->name && phase(E, id) == FWD)
      can_inline = false;
    for (int k = 0; k < 2 && can_inline; k++)
      if (n->in[k] >= 0 && !E->mat[n->in[k]] && depth[n->in[k]] + 1 > depth[id])
        depth[id] = depth[n->in[k]] + 1;
    if (depth[id] >= MAX_INLINE_DEPTH)
      can_inline = false;
    E->mat[id] = !can_inline;
  }
}

/* The single-use product in the inlined expression of ID, if any. */
static int find_fusable(const Emit *E, int id, Shape shape) {
  const Node *n = node(E, id);
  for (int k = 0; k < 2; k++) {
    int in = n->in[k];
    if (in < 0 || is_leaf(E, in))
      continue;
    const Node *x = node(E, in);
    if (x->op == OP_MATMUL && E->uses[in] == 1 && !E->is_root[in] && phase(E, in) == phase(E, id) &&
        shape_eq(x->shape, shape))
      return in;
    if (!E->mat[in]) {
      int found = find_fusable(E, in, shape);
      if (found >= 0)
        return found;
    }
  }
  return -1;
}

static void decide_fusion(Emit *E) {
  for (int id = 0; id < E->g->n; id++) {
    E->fused[id] = -1;
    const Node *n = node(E, id);
    if (!E->live[id] || !E->mat[id] || !(op_info[n->op].flags & OPF_ELEMWISE) || n->shape.rank == 0)
      continue;
    int m = find_fusable(E, id, n->shape);
    if (m >= 0) {
      E->fused[id] = m;
      E->is_fused[m] = true;
      E->mat[m] = false;
    }
  }
}

static void mark_target_dependence(Emit *E) {
  const Graph *g = E->g;
  for (int id = 0; id < g->n; id++) {
    const Node *n = &g->nodes[id];
    E->target_dep[id] = n->op == LEAF_TARGET;
    for (int k = 0; k < 2; k++)
      if (n->in[k] >= 0 && E->target_dep[n->in[k]])
        E->target_dep[id] = true;
  }
}

/* An adjoint that nothing else reads is computed straight into its leaf's
   gradient. One that is two leaves' adjoint (W @ x + V @ x gives dW = dV)
   is kept, and each adds it to its own. */
static void decide_gradients(Emit *E) {
  int *leaves = arena_array(E->a, int, E->g->n);
  for (int i = 0; i < E->bw->nwrt; i++) {
    int adj = E->bw->adjoint[E->bw->wrt[i]];
    if (adj >= 0)
      leaves[adj]++;
  }
  for (int i = 0; i < E->bw->nwrt; i++) {
    int leaf = E->bw->wrt[i], adj = E->bw->adjoint[leaf];
    if (adj >= E->g->nforward && E->uses[adj] == 0 && E->mat[adj] && leaves[adj] == 1)
      E->grad_of[adj] = leaf;
  }
}

static void mark_varying(Emit *E) {
  const Graph *g = E->g;
  for (int id = 0; id < g->n; id++) {
    const Node *n = &g->nodes[id];
    E->varying[id] = n->op == LEAF_INPUT || n->op == LEAF_TARGET;
    for (int k = 0; k < 2; k++)
      if (n->in[k] >= 0 && E->varying[n->in[k]])
        E->varying[id] = true;
  }
}

/* Products with fewer elements in their matrix stay in the per-example
   loops: below this, packing costs more than it saves. */
enum { GEMM_MIN_ELEMENTS = 256 };

/* A vector that has a row per example where gemm() can read it: an
   input, a target, or a value kept in the workspace. */
static bool batch_rows(const Emit *E, int id) {
  const Node *n = node(E, id);
  if (n->shape.rank != 1 || !E->varying[id])
    return false;
  return n->op == LEAF_INPUT || n->op == LEAF_TARGET || (!is_leaf(E, id) && E->mat[id] && E->grad_of[id] < 0);
}

/* A matrix that is the same for every example: a param, or a forward
   value of params alone, read from the first example's workspace. */
static bool shared_matrix(const Emit *E, int id) {
  const Node *n = node(E, id);
  if (n->shape.rank != 2 || E->varying[id] || shape_size(n->shape) < GEMM_MIN_ELEMENTS)
    return false;
  return n->op == LEAF_PARAM || (!is_leaf(E, id) && E->mat[id] && phase(E, id) == FWD);
}

/* The materialized node whose loop the product M is fused into. */
static int fused_root(const Emit *E, int m) {
  for (int id = m + 1; id < E->g->n; id++)
    if (E->fused[id] == m)
      return id;
  unreachable();
}

/* Which products run over the whole batch: a shared matrix times a
   vector per example, into the workspace or an input's gradient; and a
   param's gradient outer(g, x) summed over the examples. */
static void decide_gemms(Emit *E) {
  const Graph *g = E->g;
  for (int id = 0; id < g->n; id++) {
    const Node *n = &g->nodes[id];
    if (!E->live[id] || is_leaf(E, id))
      continue;
    if (n->op == OP_OUTER) {
      int leaf = E->grad_of[id];
      E->gemm[id] = leaf >= 0 && node(E, leaf)->op == LEAF_PARAM && shape_size(n->shape) >= GEMM_MIN_ELEMENTS &&
                    batch_rows(E, n->in[0]) && batch_rows(E, n->in[1]);
      continue;
    }
    if (n->op != OP_MATMUL || n->shape.rank != 1 || !(E->mat[id] || E->is_fused[id]))
      continue;
    bool batch_product = (shared_matrix(E, n->in[0]) && batch_rows(E, n->in[1])) ||
                         (shared_matrix(E, n->in[1]) && batch_rows(E, n->in[0]));
    if (!batch_product)
      continue;
    if (E->is_fused[id]) {
      /* Into its user's slot, which the user then finishes; a user that
         goes straight into a gradient has none, so the product gets its own. */
      int root = fused_root(E, id);
      if (E->grad_of[root] >= 0) {
        E->is_fused[id] = false;
        E->mat[id] = true;
        E->fused[root] = -1;
      }
    }
    int leaf = E->grad_of[id];
    E->gemm[id] = leaf < 0 || node(E, leaf)->op == LEAF_INPUT;
  }
  for (int id = 0; id < g->n; id++)
    E->any_gemm = E->any_gemm || E->gemm[id];
}

/* softmax(z) of the backward pass (the p of p - onehot(c)) is computed by
   the forward pass's cross_entropy(z, c), which finds the same max and sum:
   one pass over the logits instead of two. */
static void decide_early_softmax(Emit *E) {
  const Graph *g = E->g;
  for (int ce = 0; ce < g->nforward; ce++) {
    E->with_softmax[ce] = -1;
    if (!E->live[ce] || g->nodes[ce].op != OP_CROSS_ENTROPY || !E->mat[ce])
      continue;
    for (int sm = g->nforward; sm < g->n; sm++)
      if (E->live[sm] && E->mat[sm] && g->nodes[sm].op == OP_SOFTMAX && g->nodes[sm].in[0] == g->nodes[ce].in[0] &&
          E->grad_of[sm] < 0 && !E->early[sm]) {
        E->with_softmax[ce] = sm;
        E->early[sm] = true;
        break;
      }
  }
}

/* Is the product fused into node ID computed by gemm()? */
static bool fused_gemm(const Emit *E, int id) { return E->fused[id] >= 0 && E->gemm[E->fused[id]]; }

/* Is node ID computed by gemm(), alone or as the product fused into it? */
static bool by_gemm(const Emit *E, int id) { return E->gemm[id] || fused_gemm(E, id); }

/* Is X, inlined into a node, M + b or b + M, b a param vector of M's shape? Its b, or -1. */
static int biased(const Emit *E, int x, int m, bool root) {
  const Node *n = node(E, x);
  if (n->op != OP_ADD || (!root && !inlined(E, x)))
    return -1;
  for (int k = 0; k < 2; k++) {
    int b = n->in[1 - k];
    if (n->in[k] == m && node(E, b)->op == LEAF_PARAM && shape_eq(node(E, b)->shape, node(E, m)->shape))
      return b;
  }
  return -1;
}

/* The forward products whose user is relu(W @ x + b), W @ x + b or
   relu(W @ x): gemm() adds b and applies relu as it stores C (the
   epilogue), and the user has no loop of its own. The arithmetic is the
   loop's, to the bit. */
static void decide_epilogues(Emit *E) {
  for (int id = 0; id < E->g->n; id++) {
    E->bias_of[id] = -1;
    if (!fused_gemm(E, id) || phase(E, id) != FWD || E->grad_of[id] >= 0)
      continue;
    int m = E->fused[id];
    const Node *n = node(E, id);
    bool relu = n->op == OP_RELU;
    int inner = relu ? n->in[0] : id;
    int b = biased(E, inner, m, inner == id);
    if (relu && inner == m)
      E->finished[id] = E->relu_of[id] = true;
    else if (b >= 0)
      E->finished[id] = true, E->bias_of[id] = b, E->relu_of[id] = relu;
  }
}

/* Segments hold at most this many loop nests, so no function grows
   without bound and the C compiler stays fast on deep models. */
enum { MAX_SEGMENT_NODES = 32 };

static bool emitted_here(const Emit *E, int id);

/* The order in which materialized nodes are written: the forward values
   that need no target, those that do, then the backward pass. */
static int emit_group(const Emit *E, int id) {
  return phase(E, id) == BWD ? 2 : E->target_dep[id] ? 1 : 0;
}

/* Cuts the materialized nodes into segments, in the order they are
   written: a new one after each product over the batch, at each group's
   start, and every MAX_SEGMENT_NODES nodes. */
static void assign_segments(Emit *E) {
  const Graph *g = E->g;
  /* at most a segment per node, and the two empty ones that end the passes */
  E->seg_phase = arena_array(E->a, Phase, g->n + 2);
  int cur = -1, count = 0;
  for (int group = 0; group < 3; group++) {
    bool open = false;
    for (int id = 0; id < g->n; id++) {
      if (!emitted_here(E, id) || emit_group(E, id) != group || E->early[id])
        continue;
      if (E->gemm[id] || E->finished[id]) {
        open = false;
        continue;
      }
      if (!open || count == MAX_SEGMENT_NODES || fused_gemm(E, id)) {
        cur++, count = 0, open = true;
        E->seg_phase[cur] = group == 2 ? BWD : FWD;
      }
      E->seg[id] = cur;
      count++;
    }
    /* The loss is returned, and the last gradients added, at the end of a pass. */
    if (group == 1 || group == 2) {
      if (!open) {
        cur++;
        E->seg_phase[cur] = group == 2 ? BWD : FWD;
      }
      if (group == 1)
        E->final_fwd = cur;
      else
        E->final_bwd = cur;
    }
  }
  E->nsegs = cur + 1;
  /* A segment that adds into a param's gradient: a node of it goes straight
     there, or it ends the backward pass with gradients kept for other uses. */
  E->seg_adds_to_grads = arena_array(E->a, bool, E->nsegs);
  for (int id = 0; id < g->n; id++)
    if (E->seg[id] >= 0 && E->grad_of[id] >= 0 && node(E, E->grad_of[id])->op == LEAF_PARAM)
      E->seg_adds_to_grads[E->seg[id]] = true;
  for (int w = 0; w < E->bw->nwrt; w++) {
    int leaf = E->bw->wrt[w], adj = E->bw->adjoint[leaf];
    if (adj >= 0 && E->grad_of[adj] != leaf && node(E, leaf)->op == LEAF_PARAM)
      E->seg_adds_to_grads[E->final_bwd] = true;
  }
  for (int ce = 0; ce < g->nforward; ce++)
    if (E->with_softmax[ce] >= 0)
      E->seg[E->with_softmax[ce]] = E->seg[ce];
}

/* The segment whose code reads a value where node USER computes it: an
   inlined or fused user is written inside its own (single) user. */
static int seg_of_use(const Emit *E, int user) {
  while (E->seg[user] < 0 && !E->mat[user] && !is_leaf(E, user))
    user = E->user[user];
  return E->seg[user];
}

/* Scalars that are read in another segment than their own need a slot. */
static bool *scalars_crossing(Emit *E) {
  const Graph *g = E->g;
  bool *cross = arena_array(E->a, bool, g->n);
  for (int id = 0; id < g->n; id++) {
    if (!E->live[id] || is_leaf(E, id))
      continue;
    for (int k = 0; k < 2; k++) {
      int in = g->nodes[id].in[k];
      if (in >= 0 && E->seg[in] >= 0 && is_scalar(E, in) && E->seg[in] != seg_of_use(E, id))
        cross[in] = true;
    }
  }
  if (E->seg[g->loss] >= 0 && E->seg[g->loss] != E->final_fwd)
    cross[g->loss] = true;
  for (int i = 0; i < E->bw->nwrt; i++) {
    int adj = E->bw->adjoint[E->bw->wrt[i]];
    if (adj >= 0 && E->seg[adj] >= 0 && E->seg[adj] != E->final_bwd)
      cross[adj] = true;
  }
  return cross;
}

static void assign_places(Emit *E) {
  const Graph *g = E->g;
  const Program *p = g->program;
  bool *cross = scalars_crossing(E);
  /* The user's names first, so temporaries never take them. */
  const char **sym_cname = arena_array(E->a, const char *, p->nsyms + 1);
  for (int i = 0; i < p->nsyms; i++)
    sym_cname[i] = claim(E, p->syms[i]->name);
  for (int id = 0; id < g->n; id++) {
    const Node *n = &g->nodes[id];
    E->slot[id] = -1;
    if (n->sym)
      E->cname[id] = sym_cname[n->sym->index];
  }
  if (!g->nodes[g->loss].name && !is_leaf(E, g->loss))
    E->cname[g->loss] = claim(E, "loss");
  /* A value's node takes the value's name, unless it is a leaf or another value's. */
  for (int i = 0; i < p->nsyms; i++) {
    int id = g->sym_node[i];
    if (id >= 0 && !E->cname[id] && g->nodes[id].name == p->syms[i]->name)
      E->cname[id] = sym_cname[i];
  }
  /* Gradient pointers of the differentiated leaves. */
  for (int i = 0; i < E->bw->nwrt; i++) {
    int leaf = E->bw->wrt[i];
    E->grad_name[leaf] = claim(E, arena_printf(E->a, "d%s", E->cname[leaf]));
  }
  for (int id = 0; id < g->n; id++) {
    const Node *n = &g->nodes[id];
    if (!E->live[id] || !E->mat[id] || is_leaf(E, id) || E->grad_of[id] >= 0)
      continue;
    E->temporaries++;
    if (phase(E, id) == FWD) {
      if (!E->cname[id])
        E->cname[id] = arena_printf(E->a, "t%d", id);
      if (!is_scalar(E, id) || E->read_later[id] || cross[id]) {
        E->slot[id] = E->ws_forward;
        E->ws_forward += size_of(E, id);
      }
    } else {
      /* dh for the adjoint of the value h; a param's adjoint kept for
         other uses too is this example's share of its gradient: db1_ex. */
      int owner = n->adjoint_of;
      E->cname[id] = owner < 0 || !E->cname[owner] ? arena_printf(E->a, "t%d", id)
                     : is_leaf(E, owner)            ? claim(E, arena_printf(E->a, "d%s_ex", E->cname[owner]))
                                                    : claim(E, arena_printf(E->a, "d%s", E->cname[owner]));
    }
  }
  E->ws_size = E->ws_forward;
  for (int id = g->nforward; id < g->n; id++)
    if (E->live[id] && E->mat[id] && E->grad_of[id] < 0 && (!is_scalar(E, id) || cross[id])) {
      E->slot[id] = E->ws_size;
      E->ws_size += size_of(E, id);
    }
  if (in_lanes(E)) { /* each lane's copy of its example's inputs and targets */
    E->in_slot = E->ws_size;
    E->tg_slot = E->in_slot + program_size(p, SYM_INPUT);
    E->ws_size = E->tg_slot + program_size(p, SYM_TARGET);
  }
}

/* Examples run in lanes where nothing runs over the whole batch: the
   per-example code is all there is, and the lanes vectorize all of it.
   With --lanes N, N at a time; by default, in float, DEFAULT_LANES, and
   only where gcc compiles the file (NC_IN_LANES): gcc 12 runs them 1.4-2.8
   times as fast as one at a time, while clang vectorizes the loop over
   the examples itself and at -O3 leaves the lanes' flat loops scalar
   (docs/codegen.md has the measurements). In double, libm's exp and tanh
   keep the lanes from vectorizing: one at a time unless asked. */
#define DEFAULT_LANES 4
static void decide_lanes(Emit *E) {
  int lanes = E->o->lanes ? E->o->lanes : E->o->dbl ? 1 : DEFAULT_LANES;
  E->lanes = E->any_gemm ? 1 : lanes;
  E->with_lanes = E->lanes > 1;
  E->lanes_by_compiler = E->o->lanes == 0;
}

/* ---- expressions ---- */

/* V as a C constant of the build's precision: in float, the shortest text
   that reads back as the same float, and an overflow is the float's inf. */
static const char *literal(const Emit *E, double v) {
  char buf[NUM_STR_MAX];
  if (!E->o->dbl) {
    if (fabs(v) > FLT_MAX)
      return v < 0 ? "-HUGE_VALF" : "HUGE_VALF";
    float f = (float)v;
    for (int prec = 1; prec <= 9; prec++) {
      snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
      if (strtof(buf, NULL) == f)
        break;
    }
  } else {
    num_str(v, buf);
  }
  bool has_point = strpbrk(buf, ".e") != NULL;
  return arena_printf(E->a, "%s%s%s", buf, has_point ? "" : ".0", E->o->dbl ? "" : "f");
}

static bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* How loosely the C expression S binds at its top level: 0 a conditional
   or comparison, 1 a sum, 2 a product, 3 a negation, 4 an operand that
   never needs parentheses. */
static int binding(const char *s) {
  int depth = 0, prec = 4;
  char prev = 0; /* the last character outside spaces */
  for (const char *p = s; *p; p++) {
    char ch = *p;
    if (ch == '(' || ch == '[')
      depth++;
    else if (ch == ')' || ch == ']')
      depth--;
    else if (depth == 0) {
      bool after_operand = ident_char(prev) || prev == ')' || prev == ']' || prev == '.';
      if (ch == '?' || ch == '<' || ch == '>' || ch == '=' || ch == '!' || ch == '&' || ch == '|')
        return 0;
      if ((ch == '+' || ch == '-') && after_operand && prec > 1)
        prec = 1;
      else if ((ch == '*' || ch == '/') && prec > 2)
        prec = 2;
      else if (ch == '-' && !after_operand && prec > 3)
        prec = 3;
    }
    if (ch != ' ')
      prev = ch;
  }
  return prec;
}

/* How tightly an operand must bind to be pasted between BEFORE and AFTER,
   the characters around its slot in a template (0 at either end). */
static int slot_needs(char before, char after, bool at_start) {
  if ((before == 0 || before == '(' || before == ',') && (after == 0 || after == ')' || after == ','))
    return 0;
  if (before == '-' && at_start)
    return 4; /* -(-x), never --x */
  if (before == '*' || before == '/')
    return 3;
  if (before == '+' || before == '-')
    return 2;
  if (before == 0 || before == '(' || before == ',') {
    if (after == '+' || after == '-')
      return 1;
    if (after == '*' || after == '/')
      return 2;
  }
  return 4;
}

/* How many times the scalar text of an op names the operand NAME. */
static int count_uses_in(const char *text, char name) {
  int n = 0;
  for (const char *p = text; *p; p++)
    if (*p == name && (p == text || !ident_char(p[-1])) && !ident_char(p[1]))
      n++;
  return n;
}

static char neighbour(const char *text, const char *p, int step) {
  for (p += step; p >= text && *p; p += step)
    if (*p != ' ')
      return *p;
  return 0;
}

/* Writes an op's scalar text with a, b and i replaced, in parentheses
   only where C's precedence needs them. */
static const char *substitute(Emit *E, const char *text, const char *a, const char *b, const char *idx) {
  char *buf;
  size_t size;
  FILE *f = open_memstream(&buf, &size);
  for (const char *p = text; *p; p++) {
    bool alone = (p == text || !ident_char(p[-1])) && !ident_char(p[1]);
    const char *with = !alone ? NULL : *p == 'a' ? a : *p == 'b' ? b : *p == 'i' ? idx : NULL;
    if (!with) {
      fputc(*p, f);
      continue;
    }
    char before = neighbour(text, p, -1), after = neighbour(text, p, 1);
    bool at_start = p == text + 1 && text[0] == '-'; /* the template is -a */
    if (binding(with) < slot_needs(before, after, at_start))
      fprintf(f, "(%s)", with);
    else
      fputs(with, f);
  }
  fclose(f);
  const char *s = arena_strdup(E->a, buf);
  free(buf);
  return s;
}

/* An op's scalar text may be written out in place when it evaluates
   each operand once; otherwise it becomes a helper function. */
static bool writes_inline(int op) {
  const char *text = op_info[op].scalar;
  return count_uses_in(text, 'a') <= 1 && count_uses_in(text, 'b') <= 1;
}

static const char *helper_name(int op) { return op_info[op].name; }

/* Does OP's helper call a function of templates/mathf.c (exp, tanh) in
   float? In lanes it then has a form of its own that calls theirs. */
static bool helper_calls_mathf(const Emit *E, int op) {
  int twins = 0;
  free(float_math(op_info[op].scalar, &twins, false));
  return !E->o->dbl && twins != 0;
}

/* The value of OP on the element expressions A and B at IDX. */
static const char *apply_op(Emit *E, int op, const char *a, const char *b, const char *idx) {
  /* x^2 as x * x, which any compiler keeps exact and fast */
  if (op == OP_POW && (strcmp(b, "2.0") == 0 || strcmp(b, "2") == 0 || strcmp(b, "2.0f") == 0 || strcmp(b, "2f") == 0) &&
      binding(a) == 4)
    return arena_printf(E->a, "%s * %s", a, a);
  E->uses_pick |= (op_info[op].flags & OPF_PICK) != 0;
  if (writes_inline(op))
    return substitute(E, op_info[op].scalar, a, b, idx);
  bool lanes_form = in_lanes(E) && helper_calls_mathf(E, op);
  (lanes_form ? E->helper_used_lanes : E->helper_used)[op] = true;
  const char *name = arena_printf(E->a, "nc_%s%s", helper_name(op), lanes_form ? "_lanes" : "");
  bool indexed = count_uses_in(op_info[op].scalar, 'i') > 0;
  if (op_info[op].arity == 1)
    return arena_printf(E->a, indexed ? "%s(%s, %s)" : "%s(%s)", name, a, idx);
  return arena_printf(E->a, "%s(%s, %s)", name, a, b);
}

static const char *ref(Emit *E, int id, const char *idx);

static const char *expand(Emit *E, int id, const char *idx) {
  const Node *n = node(E, id);
  const char *a = ref(E, n->in[0], idx);
  const char *b = n->in[1] >= 0 ? ref(E, n->in[1], idx) : NULL;
  return apply_op(E, n->op, a, b, idx);
}

/* Element IDX of the array NAME that holds a value per example, in
   lanes: "h[i * 8 + l]" in a segment, "h[s]" (element i) in a flat loop,
   "h[i * 8]" in write_outputs. */
static const char *lane_elem(Emit *E, const char *name, const char *idx) {
  if (E->view == LANE_FLAT && strcmp(idx, "i") == 0)
    return arena_printf(E->a, "%s[s]", name);
  bool each = E->view != LANE_ONE; /* flat_loop declares i and l where an index needs them */
  if (strcmp(idx, "0") == 0)
    return arena_printf(E->a, "%s[%s]", name, each ? "l" : "0");
  bool simple = strspn(idx, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(idx);
  return arena_printf(E->a, simple ? "%s[%s * %d%s]" : "%s[(%s) * %d%s]", name, idx, E->lanes, each ? " + l" : "");
}

/* Element IDX of node ID, as a C expression. */
static const char *ref(Emit *E, int id, const char *idx) {
  const Node *n = node(E, id);
  if (n->op == LEAF_CONST)
    return literal(E, n->value);
  if (id == E->acc_node)
    return E->view == LANE_FLAT ? lane_elem(E, E->cname[E->acc_home], "i") : acc_name(E);
  if (inlined(E, id))
    return expand(E, id, idx);
  E->referenced[id] = true;
  bool per_lane = in_lanes(E) && n->op != LEAF_PARAM; /* the params are the same for every example */
  if (is_scalar(E, id) && per_lane && E->view == LANE_FLAT)
    return arena_printf(E->a, "%s[s %% %d]", E->cname[id], E->lanes);
  if (is_scalar(E, id))
    return per_lane && E->view == LANE_EACH ? arena_printf(E->a, "%s[l]", E->cname[id]) : E->cname[id];
  if (!per_lane && E->view == LANE_FLAT && strcmp(idx, "i") == 0)
    return arena_printf(E->a, "%s[s / %d]", E->cname[id], E->lanes);
  return per_lane ? lane_elem(E, E->cname[id], idx) : arena_printf(E->a, "%s[%s]", E->cname[id], idx);
}

/* ---- comments ---- */

static void comment_text(Emit *E, const char *text) {
  emitf(E, "/* ");
  for (const char *p = text; *p; p++) {
    if (*p == '\n' || *p == '\r' || *p == '\t') {
      if (p > text && p[-1] != ' ' && p[-1] != '\n')
        fputc(' ', E->out);
      continue;
    }
    fputc(*p, E->out);
    if (*p == '*' && p[1] == '/')
      fputc(' ', E->out); /* a comment cannot hold its own end */
  }
  fputs(" */\n", E->out);
  E->at_line_start = true;
}

static char *print_to_string(const Graph *g, int id, const char *lhs) {
  char *buf;
  size_t size;
  FILE *f = open_memstream(&buf, &size);
  fprintf(f, "%s = ", lhs);
  graph_print_expr(f, g, id, true);
  fclose(f);
  return buf;
}

/* Says what node ID computes: the source statement for a named value,
   the adjoint's formula in the backward pass. */
/* The named values computed inside node ID's loop (itself, what is
   inlined or fused into it), as flags in NAMED. */
static void named_inside(const Emit *E, int id, bool *named) {
  const Node *n = node(E, id);
  if (n->name && n->loc.end > n->loc.begin)
    named[id] = true;
  for (int k = 0; k < 2; k++) {
    int in = n->in[k];
    if (in >= 0 && (inlined(E, in) || E->is_fused[in]))
      named_inside(E, in, named);
  }
}

/* Is K computed inside node ID's loop? */
static bool feeds(const Emit *E, int k, int id) {
  const Node *n = node(E, id);
  for (int j = 0; j < 2; j++) {
    int in = n->in[j];
    if (in == k || (in >= 0 && (inlined(E, in) || E->is_fused[in]) && feeds(E, k, in)))
      return true;
  }
  return false;
}

/* The source statements of the named values node ID computes, in order. */
static bool comment_statements(Emit *E, int id) {
  bool *named = arena_array(E->a, bool, id + 1);
  named_inside(E, id, named);
  bool any = false;
  for (int k = 0; k <= id; k++) {
    if (!named[k])
      continue;
    const Node *n = node(E, k);
    const char *src = E->o->source_text + n->loc.begin;
    int len = n->loc.end - n->loc.begin;
    while (len > 0 && (src[len - 1] == ';' || src[len - 1] == ' '))
      len--;
    char shape[SHAPE_STR_MAX];
    comment_text(E, arena_printf(E->a, "%.*s   (%s)", len, src, shape_str(n->shape, shape)));
    any = true;
  }
  return any;
}

static void comment_node(Emit *E, int id) {
  const Node *n = node(E, id);
  char shape[SHAPE_STR_MAX];
  shape_str(n->shape, shape);
  if (phase(E, id) == FWD && comment_statements(E, id))
    return;
  /* Adjoints with names computed inside this loop get their line first. */
  for (int k = 0; k < id; k++) {
    int owner = node(E, k)->adjoint_of;
    if (owner < 0 || !(inlined(E, k) || E->is_fused[k]) || !feeds(E, k, id))
      continue;
    char *text = print_to_string(E->g, k, arena_printf(E->a, "dL/d%s", node(E, owner)->name));
    comment_text(E, arena_printf(E->a, "%s   (%s)", text, shape_str(node(E, k)->shape, (char[SHAPE_STR_MAX]){0})));
    free(text);
  }
  const char *lhs;
  if (E->grad_of[id] >= 0)
    lhs = arena_printf(E->a, "dL/d%s", node(E, E->grad_of[id])->name);
  else if (n->adjoint_of >= 0)
    lhs = arena_printf(E->a, "dL/d%s", node(E, n->adjoint_of)->name);
  else
    lhs = E->cname[id];
  char *text = print_to_string(E->g, id, lhs);
  comment_text(E, arena_printf(E->a, "%s   (%s)", text, shape));
  free(text);
}

/* ---- where results go ---- */

/* The gradient pointer of LEAF, declared by the function being written. */
static const char *grad_ptr(Emit *E, int leaf) {
  E->grad_used[leaf] = true;
  return E->grad_name[leaf];
}

/* Element IDX of LEAF's gradient: with lanes, an input's is in lane l's
   row of din (din holds a row per example). */
static const char *grad_elem(Emit *E, int leaf, const char *idx) {
  if (in_lanes(E) && node(E, leaf)->op == LEAF_INPUT)
    return strcmp(idx, "0") ? arena_printf(E->a, "%s[l * %s_INPUT_SIZE + %s]", grad_ptr(E, leaf), E->o->prefix, idx)
                            : arena_printf(E->a, "%s[l * %s_INPUT_SIZE]", grad_ptr(E, leaf), E->o->prefix);
  return arena_printf(E->a, "%s[%s]", grad_ptr(E, leaf), idx);
}

/* "h[i] = " or "dW1[i] += ": the start of a store of element IDX of ID. */
static const char *store(Emit *E, int id, const char *idx) {
  int leaf = E->grad_of[id];
  if (leaf >= 0)
    return arena_printf(E->a, "%s += ", grad_elem(E, leaf, is_scalar(E, id) ? "0" : idx));
  E->referenced[id] = true;
  if (in_lanes(E))
    return arena_printf(E->a, "%s = ", lane_elem(E, E->cname[id], idx));
  return arena_printf(E->a, "%s[%s] = ", E->cname[id], idx);
}

/* Declares the scalar ID where it is computed, unless it goes to a gradient. */
static void declare_scalar(Emit *E, int id) {
  if (E->grad_of[id] < 0 && in_lanes(E))
    emitf(E, "real %s[%d];\n", E->cname[id], E->lanes);
  else if (E->grad_of[id] < 0)
    emitf(E, "real %s;\n", E->cname[id]);
}

/* Sets the scalar ID to EXPR; forward values are kept for the backward pass. */
static void set_scalar(Emit *E, int id, const char *expr) {
  if (E->grad_of[id] >= 0) {
    emitf(E, "%s%s;\n", store(E, id, "0"), expr);
    return;
  }
  if (in_lanes(E)) {
    emitf(E, "%s[l] = %s;\n", E->cname[id], expr);
    if (E->slot[id] >= 0)
      emitf(E, "ws[%ld + l] = %s[l];\n", E->slot[id] * E->lanes, E->cname[id]);
    return;
  }
  emitf(E, "%s = %s;\n", E->cname[id], expr);
  if (E->slot[id] >= 0)
    emitf(E, "ws[%ld] = %s;\n", E->slot[id], E->cname[id]);
}

/* With lanes, a loop over the group's lanes around what follows, up to
   lanes_close; without, nothing. Every lane holds an example: a batch
   runs its whole groups in lanes and the rest one example at a time, so
   the sums over the examples have a constant count of terms, which the
   compiler unrolls (1.15 times as fast on 2-4-1 as a count of live lanes). */
static void lanes_open(Emit *E) {
  if (!in_lanes(E))
    return;
  emitf(E, "for (int l = 0; l < %d; l++) {\n", E->lanes);
  E->indent++;
}

static void lanes_close(Emit *E) {
  if (!in_lanes(E))
    return;
  E->indent--;
  emitf(E, "}\n");
}

/* Does a store of node ID add into a gradient, one lane after another? */
static bool adds_up(const Emit *E, int id) { return E->grad_of[id] >= 0; }

static void open_loop(Emit *E, const char *var, long n) {
  emitf(E, "for (int %s = 0; %s < %ld; %s++)", var, var, n, var);
}

static bool mentions(const char *text, const char *word, size_t len);

/* Can node ID, elementwise, be written as a flat loop in lanes? Not where
   it adds into a gradient (its lanes in turn, each element's), in
   write_outputs, or for a scalar, whose loop over the lanes is flat. */
static bool flat_in_lanes(const Emit *E, int id) {
  return in_lanes(E) && E->view == LANE_EACH && !adds_up(E, id) && !is_scalar(E, id);
}

/* Elementwise node ID in lanes as one loop over all its elements in every
   lane, s the position [i * lanes + l]: a vector then holds the lanes of
   several units, where a loop over one unit's lanes fills only part of
   one when the group is narrow (2-4-1 with 4 lanes: its 16 tanh in one
   512-bit vector instead of four 128-bit ones; 1.2 times as fast). */
static void flat_loop(Emit *E, int id) {
  LaneView was = E->view;
  E->view = LANE_FLAT;
  const char *lhs = store(E, id, "i"), *value = expand(E, id, "i");
  E->view = was;
  bool need_i = mentions(value, "i", 1), need_l = mentions(value, "l", 1);
  emitf(E, "for (int s = 0; s < %ld; s++)%s\n", size_of(E, id) * E->lanes, need_i || need_l ? " {" : "");
  E->indent++;
  if (need_i)
    emitf(E, "const int i = s / %d;\n", E->lanes);
  if (need_l)
    emitf(E, "const int l = s %% %d;\n", E->lanes);
  emitf(E, "%s%s;\n", lhs, value);
  E->indent--;
  if (need_i || need_l)
    emitf(E, "}\n");
}

/* ---- one materialized node: the emit column of ops.def ---- */

typedef void EmitRule(Emit *E, int id);
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) static EmitRule emit_##emit;
#include "ops.def"
#undef OP

static EmitRule *const emit_rules[OP_COUNT] = {
#define OP(kind, name, arity, shape, flags, scalar, deriv, emit) [kind] = emit_##emit,
#include "ops.def"
#undef OP
};

enum { PARTS = 8 }; /* partial sums of a contiguous dot product */

/* FMT with K for its %s: an element's index. "(k) * 32 + j" reads
   better as "k * 32 + j". */
static const char *at(Emit *E, const char *fmt, const char *k) {
  const char *s = arena_printf(E->a, fmt, k);
  const char *paren = strcmp(k, "k") == 0 ? strstr(s, "(k)") : NULL;
  return paren ? arena_printf(E->a, "%.*sk%s", (int)(paren - s), s, paren + 3) : s;
}

/* STATEMENT, and with lanes the same for each lane, in a loop of its own. */
static void each_lane(Emit *E, const char *statement) {
  if (in_lanes(E))
    emitf(E, "for (int l = 0; l < %d; l++)\n", E->lanes), E->indent++;
  emitf(E, "%s", statement);
  if (in_lanes(E))
    E->indent--;
}

/* real acc = VALUE, one per lane with lanes. */
static void declare_acc(Emit *E, const char *value) {
  if (in_lanes(E))
    emitf(E, "real acc[%d];\n", E->lanes);
  each_lane(E, arena_printf(E->a, "%s%s = %s;\n", in_lanes(E) ? "" : "real ", acc_name(E), value));
}

/* acc = the dot product of A and B over k < INNER, whose elements at k are
   A_AT and B_AT with K standing for k. Where both are contiguous in k,
   PARTS partial sums let the compiler vectorize without -ffast-math; the
   sum's order is fixed, so results are deterministic. With lanes, the
   same sums in the same order for every lane, each lane's in acc[l] and
   part[u][l]: the lanes are the loop innermost. */
static void dot_loop(Emit *E, int a, int b, const char *a_at, const char *b_at, long inner, bool contiguous) {
  const char *l = in_lanes(E) ? "[l]" : "";
  long main = contiguous && inner >= 2 * PARTS ? inner - inner % PARTS : 0;
  if (main) {
    if (in_lanes(E))
      emitf(E, "real part[%d][%d] = { {0} }; /* braced: clang++ asks */\n", PARTS, E->lanes);
    else
      emitf(E, "real part[%d] = {0};\n", PARTS);
    emitf(E, "for (int k = 0; k < %ld; k += %d)\n", main, PARTS);
    E->indent++;
    emitf(E, "for (int u = 0; u < %d; u++)\n", PARTS);
    E->indent++;
    each_lane(E, arena_printf(E->a, "part[u]%s += %s * %s;\n", l, ref(E, a, at(E, a_at, "k + u")),
                              ref(E, b, at(E, b_at, "k + u"))));
    E->indent -= 2;
  }
  const char *sum = main ? arena_printf(E->a,
                                        "((part[0]%s + part[1]%s) + (part[2]%s + part[3]%s)) + ((part[4]%s + "
                                        "part[5]%s) + (part[6]%s + part[7]%s))",
                                        l, l, l, l, l, l, l, l)
                         : "0";
  declare_acc(E, sum);
  if (main == inner)
    return;
  emitf(E, "for (int k = %ld; k < %ld; k++)\n", main, inner);
  E->indent++;
  each_lane(E, arena_printf(E->a, "%s += %s * %s;\n", acc_name(E), ref(E, a, at(E, a_at, "k")),
                            ref(E, b, at(E, b_at, "k"))));
  E->indent--;
}

/* The rest of ROOT's expression, once the product M is in ROOT's place
   (computed by gemm(), or by the loop before): 'acc' is read from there. */
static void finish_in_place(Emit *E, int m, int root) {
  open_loop(E, "i", size_of(E, root));
  emitf(E, " {\n");
  E->indent++;
  E->referenced[root] = true;
  emitf(E, "real acc = %s[i]; /* %s */\n", E->cname[root], graph_expr_string(E->g, m, 0));
  E->acc_node = m;
  const char *value = expand(E, root, "i");
  E->acc_node = -1;
  emitf(E, "%s%s;\n", store(E, root, "i"), value);
  E->indent--;
  emitf(E, "}\n");
}

/* A^T @ b into ROOT's own buffer, row of A by row: the transposed
   product reads A along its rows, not down its columns. Each element
   still sums over k upwards from 0, so the result is the same as the dot
   product's, to the bit. Then ROOT's expression, with 'acc' the product. */
static void transposed_matvec(Emit *E, int m, int root) {
  const Node *n = node(E, m);
  Shape sa = node(E, n->in[0])->shape;
  long rows = sa.dim[1], inner = sa.dim[0];
  E->referenced[root] = true;
  const char *dst = E->cname[root];
  open_loop(E, "i", rows);
  emitf(E, "\n");
  E->indent++;
  emitf(E, "%s[i] = 0;\n", dst);
  E->indent--;
  open_loop(E, "k", inner);
  emitf(E, " {\n");
  E->indent++;
  emitf(E, "const real bk = %s;\n", ref(E, n->in[1], "k"));
  open_loop(E, "i", rows);
  emitf(E, "\n");
  E->indent++;
  emitf(E, "%s[i] += %s * bk;\n", dst, ref(E, n->in[0], arena_printf(E->a, "k * %ld + i", rows)));
  E->indent -= 2;
  emitf(E, "}\n");
  if (root != m)
    finish_in_place(E, m, root);
}

/* The loops of the product M; its result, or ROOT's with the product's
   element standing in as 'acc', is stored at each element. */
static void matmul_loops(Emit *E, int m, int root) {
  const Node *n = node(E, m);
  if (!in_lanes(E) && (n->trans & TRANS_A) && node(E, n->in[0])->shape.rank == 2 &&
      node(E, n->in[1])->shape.rank < 2 && E->grad_of[root] < 0 && E->slot[root] >= 0) {
    transposed_matvec(E, m, root);
    return;
  }
  Shape sa = node(E, n->in[0])->shape, sb = node(E, n->in[1])->shape;
  bool ta = n->trans & TRANS_A, tb = n->trans & TRANS_B;
  long rows = sa.rank == 2 ? sa.dim[ta ? 1 : 0] : 1;
  long inner = sa.rank == 2 ? sa.dim[ta ? 0 : 1] : sa.dim[0];
  long cols = sb.rank == 2 ? sb.dim[tb ? 0 : 1] : 1;
  /* where the operands' elements are, %s standing for k */
  const char *ai = sa.rank < 2 ? "%s" : arena_printf(E->a, ta ? "(%%s) * %d + i" : "i * %d + %%s", sa.dim[1]);
  const char *bi = sb.rank < 2 ? "%s" : arena_printf(E->a, tb ? "j * %d + %%s" : "(%%s) * %d + j", sb.dim[1]);
  bool contiguous = (sa.rank < 2 || !ta) && (sb.rank < 2 || tb);
  const char *idx = sa.rank == 2 && sb.rank == 2 ? arena_printf(E->a, "i * %ld + j", cols)
                    : sa.rank == 2                ? "i"
                                                  : "j";
  bool scalar = n->shape.rank == 0;
  bool flat = root != m && flat_in_lanes(E, root); /* the product into root's buffer, then the rest flat */
  if (scalar)
    declare_scalar(E, root);
  int depth = 0;
  if (sa.rank == 2) {
    open_loop(E, "i", rows);
    emitf(E, " {\n");
    E->indent++, depth++;
  }
  if (sb.rank == 2) {
    open_loop(E, "j", cols);
    emitf(E, " {\n");
    E->indent++, depth++;
  }
  if (scalar) {
    emitf(E, "{\n");
    E->indent++, depth++;
  }
  dot_loop(E, n->in[0], n->in[1], ai, bi, inner, contiguous);
  lanes_open(E);
  if (scalar) {
    set_scalar(E, root, acc_name(E));
  } else if (root == m || flat) {
    emitf(E, "%s%s;\n", store(E, root, idx), acc_name(E));
  } else {
    E->acc_node = m;
    const char *value = expand(E, root, idx);
    E->acc_node = -1;
    emitf(E, "%s%s;\n", store(E, root, idx), value);
  }
  lanes_close(E);
  while (depth--) {
    E->indent--;
    emitf(E, "}\n");
  }
  if (flat) {
    E->acc_node = m, E->acc_home = root;
    flat_loop(E, root);
    E->acc_node = -1, E->acc_home = -1;
  }
}

/* Elementwise: one loop, the inlined operands written into its body. */
static void emit_map(Emit *E, int id) {
  if (fused_gemm(E, id)) {
    finish_in_place(E, E->fused[id], id);
    return;
  }
  if (E->fused[id] >= 0) {
    matmul_loops(E, E->fused[id], id);
    return;
  }
  if (is_scalar(E, id)) {
    const char *value = expand(E, id, "0");
    if (E->grad_of[id] >= 0 || in_lanes(E)) {
      declare_scalar(E, id);
      lanes_open(E);
      set_scalar(E, id, value);
      lanes_close(E);
      return;
    }
    emitf(E, "real %s = %s;\n", E->cname[id], value);
    if (E->slot[id] >= 0)
      emitf(E, "ws[%ld] = %s;\n", E->slot[id], E->cname[id]);
    return;
  }
  if (flat_in_lanes(E, id)) {
    flat_loop(E, id);
    return;
  }
  open_loop(E, "i", size_of(E, id));
  emitf(E, "\n");
  E->indent++;
  lanes_open(E);
  const char *value = expand(E, id, "i");
  emitf(E, "%s%s;\n", store(E, id, "i"), value);
  lanes_close(E);
  E->indent--;
}

static void emit_matmul(Emit *E, int id) { matmul_loops(E, id, id); }

/* The sum of the op's scalar text over the elements, divided by their
   number for a mean: sum, mean, dot, mse, bce, bce_logits. */
static void emit_sum(Emit *E, int id) {
  const Node *n = node(E, id);
  long count = size_of(E, n->in[0]);
  const char *acc = acc_name(E);
  declare_scalar(E, id);
  emitf(E, "{\n");
  E->indent++;
  declare_acc(E, "0");
  open_loop(E, "i", count);
  emitf(E, "\n");
  E->indent++;
  const char *a = ref(E, n->in[0], "i"), *b = n->in[1] >= 0 ? ref(E, n->in[1], "i") : NULL;
  each_lane(E, arena_printf(E->a, "%s += %s;\n", acc, apply_op(E, n->op, a, b, "i")));
  E->indent--;
  bool mean = op_info[n->op].flags & OPF_MEAN;
  lanes_open(E);
  set_scalar(E, id, mean ? arena_printf(E->a, "%s / %s", acc, literal(E, (double)count)) : acc);
  lanes_close(E);
  E->indent--;
  emitf(E, "}\n");
}

/* The block of a softmax-like node, whose scalars (zmax, zsum, cls)
   are its own: with lanes, each lane runs the block in turn. */
static void block_open(Emit *E) {
  if (in_lanes(E)) {
    lanes_open(E);
    return;
  }
  emitf(E, "{\n");
  E->indent++;
}

static void block_close(Emit *E) {
  if (in_lanes(E)) {
    lanes_close(E);
    return;
  }
  E->indent--;
  emitf(E, "}\n");
}

/* Element I (an index expression) of x, or exp(x[I] - zmax) if EXPS. */
static const char *term_of(Emit *E, int x, bool exps, const char *i) {
  const char *xi = ref(E, x, i);
  return exps ? arena_printf(E->a, "exp(%s - zmax)", xi) : xi;
}

/* One step of a max or sum into NAME: NAME = max(NAME, T) or NAME += T. */
static void reduce_step(Emit *E, const char *name, bool max, const char *t) {
  if (max)
    emitf(E, "%s = %s > %s ? %s : %s;\n", name, t, name, t, name);
  else
    emitf(E, "%s += %s;\n", name, t);
}

/* real NAME = the max (MAX) or the sum of x's elements (their exps if
   EXPS). Short vectors go in order; from 8 elements on, into four
   partial results, element i into partial i % 4, combined as (0, 1) and
   (2, 3): four chains of dependent adds instead of one, vectorized by
   their structure, not by -ffast-math, in a fixed order. The max keeps
   the ordered form's answer, a NaN only from x[0]: a later one never
   wins a comparison. */
static void reduce_of(Emit *E, const char *name, bool max, int x, bool exps) {
  long n = size_of(E, x);
  if (n < 8) {
    emitf(E, "real %s = %s;\n", name, term_of(E, x, exps, "0"));
    emitf(E, "for (int i = 1; i < %ld; i++)\n", n);
    E->indent++;
    reduce_step(E, name, max, term_of(E, x, exps, "i"));
    E->indent--;
    return;
  }
  const char *part[4];
  for (int u = 0; u < 4; u++)
    part[u] = arena_printf(E->a, "%s%d", name, u);
  emitf(E, "real %s = %s, %s = %s, %s = %s, %s = %s;\n", part[0], term_of(E, x, exps, "0"), part[1],
        term_of(E, x, exps, "1"), part[2], term_of(E, x, exps, "2"), part[3], term_of(E, x, exps, "3"));
  emitf(E, "for (int i = 4; i < %ld; i += 4) {\n", n - n % 4);
  E->indent++;
  for (int u = 0; u < 4; u++)
    reduce_step(E, part[u], max, term_of(E, x, exps, u ? arena_printf(E->a, "i + %d", u) : "i"));
  E->indent--;
  emitf(E, "}\n");
  for (long i = n - n % 4; i < n; i++)
    reduce_step(E, part[i % 4], max, term_of(E, x, exps, arena_printf(E->a, "%ld", i)));
  reduce_step(E, part[0], max, part[1]);
  reduce_step(E, part[2], max, part[3]);
  reduce_step(E, part[0], max, part[2]);
  emitf(E, "real %s = %s;\n", name, part[0]);
}

/* zmax = max(x), zsum = sum(exp(x - zmax)): the start of every stable softmax. */
static void max_and_sum(Emit *E, int x) {
  reduce_of(E, "zmax", true, x, false);
  reduce_of(E, "zsum", false, x, true);
}

/* zmax and zsum as max_and_sum, and P = softmax(x) for the backward pass,
   each exp(x - zmax) computed once: kept in P, then divided by zsum. The
   exps come in a loop of their own, which vectorizes. */
static void max_sum_softmax(Emit *E, int x, int p) {
  long count = size_of(E, x);
  reduce_of(E, "zmax", true, x, false);
  comment_text(E, arena_printf(E->a, "%s, for the backward pass", graph_expr_string(E->g, p, 0)));
  open_loop(E, "i", count);
  emitf(E, "\n");
  E->indent++;
  emitf(E, "%sexp(%s - zmax);\n", store(E, p, "i"), ref(E, x, "i"));
  E->indent--;
  reduce_of(E, "zsum", false, p, false);
  open_loop(E, "i", count);
  emitf(E, "\n");
  E->indent++;
  emitf(E, "%s /= zsum;\n", ref(E, p, "i"));
  E->indent--;
}

/* logsumexp(x) = zmax + log(sum(exp(x - zmax))), zmax = max(x): never overflows. */
static void emit_logsumexp(Emit *E, int id) {
  declare_scalar(E, id);
  block_open(E);
  max_and_sum(E, node(E, id)->in[0]);
  set_scalar(E, id, "zmax + log(zsum)");
  block_close(E);
}

/* softmax(x) = exp(x - zmax) / zsum;  log_softmax(x) = x - (zmax + log(zsum)) */
static void emit_softmax(Emit *E, int id) {
  int x = node(E, id)->in[0];
  block_open(E);
  max_and_sum(E, x);
  bool log_form = node(E, id)->op == OP_LOG_SOFTMAX;
  if (log_form)
    emitf(E, "real lse = zmax + log(zsum);\n");
  open_loop(E, "i", size_of(E, id));
  emitf(E, "\n");
  E->indent++;
  const char *xi = ref(E, x, "i");
  if (log_form)
    emitf(E, "%s%s - lse;\n", store(E, id, "i"), xi);
  else
    emitf(E, "%sexp(%s - zmax) / zsum;\n", store(E, id, "i"), xi);
  E->indent--;
  block_close(E);
}

static void emit_transpose(Emit *E, int id) {
  int x = node(E, id)->in[0];
  Shape s = node(E, x)->shape;
  open_loop(E, "i", s.dim[0]);
  emitf(E, "\n");
  E->indent++;
  open_loop(E, "j", s.dim[1]);
  emitf(E, "\n");
  E->indent++;
  const char *v = ref(E, x, arena_printf(E->a, "i * %d + j", s.dim[1]));
  lanes_open(E);
  emitf(E, "%s%s;\n", store(E, id, arena_printf(E->a, "j * %d + i", s.dim[0])), v);
  lanes_close(E);
  E->indent -= 2;
}

/* outer(a, b)[i, j] = a[i] * b[j] */
static void emit_outer(Emit *E, int id) {
  const Node *n = node(E, id);
  open_loop(E, "i", n->shape.dim[0]);
  emitf(E, "\n");
  E->indent++;
  open_loop(E, "j", n->shape.dim[1]);
  emitf(E, "\n");
  E->indent++;
  const char *a = ref(E, n->in[0], "i"), *b = ref(E, n->in[1], "j");
  lanes_open(E);
  emitf(E, "%s%s * %s;\n", store(E, id, arena_printf(E->a, "i * %d + j", n->shape.dim[1])), a, b);
  lanes_close(E);
  E->indent -= 2;
}

/* cross_entropy(z, c) = lse - z[c] for a class c, and -sum(t * (z - lse))
   for a probability vector t, where lse = logsumexp(z). */
static void emit_cross_entropy(Emit *E, int id) {
  const Node *n = node(E, id);
  int z = n->in[0], t = n->in[1];
  declare_scalar(E, id);
  block_open(E);
  int p = E->with_softmax[id];
  if (p >= 0)
    max_sum_softmax(E, z, p);
  else
    max_and_sum(E, z);
  const Symbol *ts = node(E, t)->sym;
  if (ts && ts->nclass) {
    /* Tested as a real first: casting a NaN or out-of-range value is undefined. */
    const char *c = ref(E, t, "0");
    emitf(E, "int cls = %s >= 0 && %s < %d && %s == (int)%s ? (int)%s : -1;\n", c, c, ts->nclass, c, c, c);
    set_scalar(E, id, arena_printf(E->a, "cls >= 0 ? zmax + log(zsum) - %s : NAN", ref(E, z, "cls")));
  } else {
    emitf(E, "real lse = zmax + log(zsum), acc = 0;\n");
    open_loop(E, "i", size_of(E, z));
    emitf(E, "\n");
    E->indent++;
    emitf(E, "acc += %s * (%s - lse);\n", ref(E, t, "i"), ref(E, z, "i"));
    E->indent--;
    set_scalar(E, id, "-acc");
  }
  block_close(E);
}

/* ---- functions ---- */

/* Where leaf ID's values start within params, in or tg. */
static long leaf_offset(const Emit *E, int id) {
  const Program *p = E->g->program;
  const Symbol *sym = node(E, id)->sym;
  long off = 0;
  for (int i = 0; i < sym->index; i++)
    if (p->syms[i]->kind == sym->kind)
      off += symbol_size(p->syms[i]);
  return off;
}

static const char *leaf_base(int op) {
  return op == LEAF_PARAM ? "params" : op == LEAF_INPUT ? "in" : "tg";
}

/* Declarations of what the body just written referenced, by kind of place. */
/* In the order the model declares them. */
static void declare_leaves(Emit *E, FILE *out, bool targets) {
  const Program *p = E->g->program;
  for (int i = 0; i < p->nsyms; i++) {
    int id = E->leaf_of[i];
    if (id < 0 || !E->referenced[id] || (node(E, id)->op == LEAF_TARGET) != targets)
      continue;
    const char *base = leaf_base(node(E, id)->op);
    long off = leaf_offset(E, id);
    bool per_lane = in_lanes(E) && node(E, id)->op != LEAF_PARAM;
    if (per_lane) /* the group's copy, element i of lane l at [i * lanes + l] */
      off *= E->lanes;
    if (is_scalar(E, id) && per_lane && E->view == LANE_EACH)
      fprintf(out, "  const real *%s = %s + %ld;\n", E->cname[id], base, off);
    else if (is_scalar(E, id))
      fprintf(out, "  const real %s = %s[%ld];\n", E->cname[id], base, off);
    else if (off == 0)
      fprintf(out, "  const real *%s = %s;\n", E->cname[id], base);
    else
      fprintf(out, "  const real *%s = %s + %ld;\n", E->cname[id], base, off);
  }
}

/* Forward values kept in ws, as read by the backward pass and outputs. */
static void declare_saved(Emit *E, FILE *out) {
  for (int id = 0; id < E->g->nforward; id++) {
    if (!E->referenced[id] || is_leaf(E, id) || E->slot[id] < 0)
      continue;
    long at = E->slot[id] * E->lanes;
    if (is_scalar(E, id))
      fprintf(out, "  const real %s = ws[%ld];\n", E->cname[id], at);
    else
      fprintf(out, "  const real *%s = ws + %ld;\n", E->cname[id], at);
  }
}

static void begin_body(Emit *E, char **buf, size_t *size) {
  memset(E->referenced, 0, sizeof(bool) * (size_t)E->g->n);
  E->out = open_memstream(buf, size);
  E->indent = 1;
  E->at_line_start = true;
}

static void emit_node(Emit *E, int id) {
  comment_node(E, id);
  emit_rules[node(E, id)->op](E, id);
}

static bool emitted_here(const Emit *E, int id) {
  return E->live[id] && !is_leaf(E, id) && E->mat[id];
}

/* Does C code TEXT name WORD outside its comments? */
static bool mentions(const char *text, const char *word, size_t len) {
  char *code = strdup(text);
  if (!code)
    fatal("out of memory");
  for (char *p = code; (p = strstr(p, "/*"));) { /* comments become spaces */
    char *end = strstr(p + 2, "*/");
    char *stop = end ? end + 2 : p + strlen(p);
    memset(p, ' ', (size_t)(stop - p));
    p = stop;
  }
  bool found = false;
  for (const char *p = code; !found && (p = strstr(p, word)); p++)
    found = (p == code || !ident_char(p[-1])) && !ident_char(p[len]);
  free(code);
  return found;
}

/* BODY, after a line that voids the function's PARAMS (space-separated)
   that BODY never names, so every model compiles without warnings. */
static char *void_unused(Emit *E, char *body, const char *params) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  bool any = false;
  for (const char *p = params; *p;) {
    size_t len = strcspn(p, " ");
    char *word = arena_strndup(E->a, p, len);
    if (!mentions(body, word, len)) {
      fprintf(out, any ? ", (void)%s" : "  (void)%s", word);
      any = true;
    }
    p += len + (p[len] == ' ');
  }
  if (any)
    fputs(";\n", out);
  fputs(body, out);
  fclose(out);
  free(body);
  return text;
}

static char *outputs_body(Emit *E);

/* With lanes, write_outputs_lanes: write_outputs for an example's lane. */
static char *outputs_lanes(Emit *E) {
  if (!in_lanes(E))
    return strdup("");
  char *body = outputs_body(E), *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  fprintf(out,
          "\n/* The same, for the example whose lane of its group's ws and in these point at. */\n"
          "static void write_outputs_lanes(const real *params, const real *in, const real *ws, real *out) {\n%s}\n",
          body);
  fclose(out);
  free(body);
  return text;
}

static char *outputs_body(Emit *E) {
  char *body;
  size_t size;
  begin_body(E, &body, &size);
  E->view = LANE_ONE;
  long off = 0;
  for (int k = 0; k < E->g->noutputs; k++) {
    int id = E->g->outputs[k];
    emitf(E, "/* output %s */\n", E->g->program->outputs[k]->name);
    if (is_scalar(E, id)) {
      emitf(E, "out[%ld] = %s;\n", off, ref(E, id, "0"));
    } else {
      open_loop(E, "i", size_of(E, id));
      emitf(E, "\n");
      E->indent++;
      emitf(E, "out[%ld + i] = %s;\n", off, ref(E, id, "i"));
      E->indent--;
    }
    off += size_of(E, id);
  }
  fclose(E->out);
  char *text;
  size_t text_size;
  FILE *out = open_memstream(&text, &text_size);
  declare_leaves(E, out, false);
  declare_saved(E, out);
  E->view = LANE_EACH;
  fputs(body, out);
  fclose(out);
  free(body);
  return void_unused(E, text, "params in ws out");
}

/* ---- segments: per-example code between the products over the batch ---- */

/* Does the last segment add the adjoint of wrt leaf W into its gradient
   (one not written whole by a product), at the end of the backward pass? */
static bool adds_last_gradient(const Emit *E, int w) {
  int leaf = E->bw->wrt[w], adj = E->bw->adjoint[leaf];
  return adj >= 0 && E->grad_of[adj] != leaf;
}

/* May a function other than the segment add it: is the adjoint in the
   workspace, not a local of the segment? */
static bool adds_outside_segment(const Emit *E, int w) {
  int leaf = E->bw->wrt[w], adj = E->bw->adjoint[leaf];
  return adds_last_gradient(E, w) && !is_scalar(E, leaf) && E->slot[adj] >= 0 && !is_leaf(E, adj);
}

/* Which of the last gradients add_last_gradients writes. */
typedef enum { ADDS_ALL, ADDS_IN_SEGMENT, ADDS_OUTSIDE } GradientAdds;

/* The additions into the gradients of the wrt leaves [FROM, TO) of
   bw->wrt, those that WHICH names. */
static void add_last_gradients(Emit *E, int from, int to, GradientAdds which) {
  const Graph *g = E->g;
  const Backward *bw = E->bw;
  for (int w = from; w < to; w++) {
    int leaf = bw->wrt[w], adj = bw->adjoint[leaf];
    bool outside = adds_outside_segment(E, w);
    if (!adds_last_gradient(E, w) || (which == ADDS_IN_SEGMENT && outside) || (which == ADDS_OUTSIDE && !outside))
      continue;
    char shape[SHAPE_STR_MAX];
    shape_str(node(E, leaf)->shape, shape);
    if (node(E, adj)->adjoint_of == leaf) { /* its formula heads the block above */
      comment_text(E, arena_printf(E->a, "dL/d%s: this example's, into the batch's   (%s)", node(E, leaf)->name, shape));
    } else {
      char *formula = print_to_string(g, adj, arena_printf(E->a, "dL/d%s", node(E, leaf)->name));
      comment_text(E, arena_printf(E->a, "%s   (%s)", formula, shape));
      free(formula);
    }
    if (is_scalar(E, leaf)) {
      lanes_open(E);
      emitf(E, "%s += %s;\n", grad_elem(E, leaf, "0"), ref(E, adj, "0"));
      lanes_close(E);
    } else {
      open_loop(E, "i", size_of(E, leaf));
      emitf(E, "\n");
      E->indent++;
      lanes_open(E);
      emitf(E, "%s += %s;\n", grad_elem(E, leaf, "i"), ref(E, adj, "i"));
      lanes_close(E);
      E->indent--;
    }
  }
}

/* Declarations of what segment K's body referenced: leaves, values
   computed here (into this example's ws) or in earlier segments (read
   from it), gradient pointers. */
static void declare_segment(Emit *E, FILE *out, int k) {
  declare_leaves(E, out, false);
  declare_leaves(E, out, true);
  for (int id = 0; id < E->g->n; id++) {
    if (!E->referenced[id] || is_leaf(E, id) || E->slot[id] < 0)
      continue;
    bool here = E->seg[id] == k;
    long at = E->slot[id] * E->lanes;
    if (is_scalar(E, id)) {
      if (!here)
        fprintf(out, in_lanes(E) ? "  const real *%s = ws + %ld;\n" : "  const real %s = ws[%ld];\n", E->cname[id], at);
    } else {
      fprintf(out, here ? "  real *%s = ws + %ld;\n" : "  const real *%s = ws + %ld;\n", E->cname[id], at);
    }
  }
  for (int w = 0; w < E->bw->nwrt; w++) {
    int leaf = E->bw->wrt[w];
    if (E->grad_used[leaf])
      fprintf(out, "  real *%s = %s + %ld;\n", E->grad_name[leaf], node(E, leaf)->op == LEAF_PARAM ? "grads" : "din",
              leaf_offset(E, leaf));
  }
}

/* forward_1, forward_2, ... and backward_1, ...: segment K's function name. */
static const char *seg_name(const Emit *E, int k) {
  int number = 1;
  for (int j = 0; j < k; j++)
    number += E->seg_phase[j] == E->seg_phase[k];
  return arena_printf(E->a, "%s_%d%s", E->seg_phase[k] == FWD ? "forward" : "backward", number,
                      in_lanes(E) ? "_lanes" : "");
}

/* HEAD then ARGS, a list split at its commas where the line would pass
   110 columns, the rest lined up after HEAD. */
static void print_wrapped(FILE *out, const char *head, const char *args) {
  size_t col = strlen(head);
  fputs(head, out);
  for (const char *p = args; *p;) {
    size_t len = strcspn(p, ",");
    if (col + len > 110 && p != args) {
      fprintf(out, "\n%*s", (int)strlen(head), "");
      col = strlen(head);
      while (*p == ' ')
        p++, len--;
    }
    fprintf(out, "%.*s%s", (int)len, p, p[len] ? "," : "");
    col += len + 1;
    p += len + (p[len] == ',');
  }
}

/* A driver runs at most this many steps itself; more go to functions of
   their own, each of this many, so no function grows with the model (the
   C compiler's time grows faster than a function's size). */
enum { MAX_DRIVER_STEPS = 24 };

/* Are the segments of a model too many for the drivers to take in? A
   compiler inlines a function called once into its caller; in a model of
   200 layers that made the steps' functions 400 segments large, and
   cost gcc -O2 1.15 times as long as calls to them, which cost the
   model nothing it can measure: each call runs a layer. */
static bool segments_kept_apart(const Emit *E) { return E->nsegs > MAX_DRIVER_STEPS; }

/* The parameters of segment K's function; TOTAL: the final forward
   segment's in lanes, which adds the lanes' losses. */
static const char *head_args(Emit *E, int k, bool total) {
  bool fwd = E->seg_phase[k] == FWD;
  return arena_printf(
      E->a, "const real *NC_RESTRICT params, const real *NC_RESTRICT in, const real *NC_RESTRICT tg, real *NC_RESTRICT ws%s%s%s",
      fwd ? "" : ", real *NC_RESTRICT grads", !fwd && E->o->input_grads ? ", real *NC_RESTRICT din" : "",
      total ? ", real *total" : "");
}

/* The last segment adds every gradient that no product writes whole
   into the batch's: one loop each, a bias in every layer. Past this many
   they go to functions of their own, this many each, which it calls: a
   function of 200 such loops took gcc -O2 1.7 s of the 200-layer model's
   8.9. Returns the number of such functions (0: the segment adds all). */
enum { MAX_GRADIENT_ADDS = 32 };
static int gradient_chunks(const Emit *E) {
  int outside = 0;
  for (int w = 0; w < E->bw->nwrt; w++)
    outside += adds_outside_segment(E, w);
  return outside > MAX_GRADIENT_ADDS ? (outside + MAX_GRADIENT_ADDS - 1) / MAX_GRADIENT_ADDS : 0;
}

/* The range of bw->wrt whose additions chunk C (from 1) holds. */
static void gradient_chunk_range(const Emit *E, int c, int *from, int *to) {
  int seen = 0;
  *from = E->bw->nwrt, *to = E->bw->nwrt;
  for (int w = 0; w < E->bw->nwrt; w++) {
    if (!adds_outside_segment(E, w))
      continue;
    if (seen == (c - 1) * MAX_GRADIENT_ADDS)
      *from = w;
    if (seen == c * MAX_GRADIENT_ADDS) {
      *to = w;
      return;
    }
    seen++;
  }
}

static const char *gradient_chunk_name(Emit *E, int c) {
  return arena_printf(E->a, "add_gradients_%d%s", c, in_lanes(E) ? "_lanes" : "");
}

static const char *gradient_chunk_call(Emit *E, int c) {
  return arena_printf(E->a, "%s(params, in, tg, ws, grads%s)", gradient_chunk_name(E, c),
                      E->o->input_grads ? ", din" : "");
}

/* A function of segment K's kind into OUT: HEAD and ARGS, declarations
   of what BODY (freed here) referenced, then BODY, parameters of PARAMS
   that it does not use cast to void. */
static void write_function(Emit *E, FILE *out, const char *head, const char *args, int k, char *body,
                           const char *params) {
  print_wrapped(out, head, args);
  fputs(") {\n", out);
  char *decls;
  size_t decls_size;
  FILE *d = open_memstream(&decls, &decls_size);
  declare_segment(E, d, k);
  fputs(body, d);
  fclose(d);
  free(body);
  char *checked = void_unused(E, decls, params);
  fprintf(out, "%s}\n\n", checked);
  free(checked);
}

/* Chunk C of the last segment K's gradient additions, as a function with
   the segment's parameters ARGS (PARAMS: their names), into OUT. */
static void write_gradient_chunk(Emit *E, FILE *out, int k, int c, const char *args, const char *params) {
  int from, to;
  gradient_chunk_range(E, c, &from, &to);
  char *body;
  size_t size;
  begin_body(E, &body, &size);
  memset(E->grad_used, 0, sizeof(bool) * (size_t)E->g->n);
  add_last_gradients(E, from, to, ADDS_OUTSIDE);
  fclose(E->out);
  write_function(E, out, arena_printf(E->a, "NC_NOINLINE static void %s(", gradient_chunk_name(E, c)), args, k,
                 body, params);
}

/* The function of segment K, for one example, or for a group's lanes. */
static char *segment_function(Emit *E, int k) {
  char *body;
  size_t size;
  begin_body(E, &body, &size);
  memset(E->grad_used, 0, sizeof(bool) * (size_t)E->g->n);
  for (int id = 0; id < E->g->n; id++) /* a segment lies within a group, in id order */
    if (E->seg[id] == k && !E->early[id])
      emit_node(E, id);
  bool lanes = in_lanes(E), final = k == E->final_fwd;
  if (final && lanes) /* the lanes' losses, in the order of their examples */
    emitf(E, "for (int l = 0; l < %d; l++)\n  *total += %s;\n", E->lanes, ref(E, E->g->loss, "0"));
  else if (final)
    emitf(E, "return %s;\n", ref(E, E->g->loss, "0"));
  int chunks = k == E->final_bwd ? gradient_chunks(E) : 0;
  if (k == E->final_bwd && chunks == 0)
    add_last_gradients(E, 0, E->bw->nwrt, ADDS_ALL);
  else if (k == E->final_bwd) {
    add_last_gradients(E, 0, E->bw->nwrt, ADDS_IN_SEGMENT);
    for (int c = 1; c <= chunks; c++)
      emitf(E, "%s;\n", gradient_chunk_call(E, c));
  }
  fclose(E->out);

  char *text;
  size_t text_size;
  FILE *out = open_memstream(&text, &text_size);
  bool fwd = E->seg_phase[k] == FWD;
  /* With lanes, both forms of a segment stay functions: a group's inlined
     into its driver next to the one-example segment the driver also
     calls, gcc 12 ran 2-4-1's step 1.2 times as slow; the one-example
     segments inlined beside the drivers' loops of groups, iris at a batch
     of one 1.3 times as slow. */
  const char *head = arena_printf(E->a, "%sstatic %s %s(", segments_kept_apart(E) || E->with_lanes ? "NC_NOINLINE " : "",
                                  fwd && final && !lanes ? "real" : "void", seg_name(E, k));
  const char *params = fwd ? "params in tg ws" : E->o->input_grads ? "params in tg ws grads din" : "params in tg ws grads";
  if (lanes && final)
    params = arena_printf(E->a, "%s total", params);
  write_function(E, out, head, head_args(E, k, fwd && final && lanes), k, body, params);
  fclose(out);
  if (chunks == 0)
    return text;
  char *all;
  size_t all_size;
  FILE *with = open_memstream(&all, &all_size);
  const char *chunk_args = head_args(E, k, false);
  for (int c = 1; c <= chunks; c++)
    write_gradient_chunk(E, with, k, c, chunk_args, params);
  fputs(text, with);
  fclose(with);
  free(text);
  return all;
}

/* The segments' functions for LANES examples at a time (1: one example). */
static void write_segments(Emit *E, int lanes, FILE *out) {
  int was = set_mode(E, lanes);
  for (int k = 0; k < E->nsegs; k++) {
    char *f = segment_function(E, k);
    fputs(f, out);
    free(f);
  }
  set_mode(E, was);
}

/* The segments' functions: for one example at a time, and with lanes
   for NC_LANES at a time too (forward_1_lanes, ...). */
static char *segments_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  write_segments(E, 1, out);
  if (in_lanes(E)) {
    fputs("/* ---- the same, for the NC_LANES examples of a group at once ---- */\n\n", out);
    write_segments(E, E->lanes, out);
  }
  fclose(out);
  return text;
}

/* ---- the drivers: every example through each segment, and the products ---- */

/* BASE + OFF as C, without a "+ 0". */
static const char *plus(Emit *E, const char *base, long off) {
  return off ? arena_printf(E->a, "%s + %ld", base, off) : base;
}

/* Where the rows of the per-example vector ID are, and their stride. */
static void rows_of(Emit *E, int id, const char **base, const char **stride) {
  const char *P = E->o->prefix;
  int op = node(E, id)->op;
  if (op == LEAF_INPUT || op == LEAF_TARGET) {
    *base = plus(E, op == LEAF_INPUT ? "inputs" : "targets", leaf_offset(E, id));
    *stride = arena_printf(E->a, "%s_%s_SIZE", P, op == LEAF_INPUT ? "INPUT" : "TARGET");
  } else {
    *base = plus(E, "ws", E->slot[id]);
    *stride = "WS_SIZE";
  }
}

/* Where the shared matrix ID is: in params, or the first example's ws. */
static const char *matrix_of(Emit *E, int id) {
  return node(E, id)->op == LEAF_PARAM ? plus(E, "params", leaf_offset(E, id)) : plus(E, "ws", E->slot[id]);
}

/* The product of gemm node M as the M x N x K of a gemm() call: C = A B
   with A's rows the examples' vectors, B the shared matrix. */
typedef struct {
  const char *m, *n, *k;         /* C is m x n, summing over k */
  const char *a, *rsa, *csa;      /* A(i, p) = a[i * rsa + p * csa] */
  const char *b, *rsb, *csb;      /* B(p, j) = b[p * rsb + j * csb] */
  const char *c, *ldc;
  bool add;
  const char *bias; /* the epilogue: a bias per column of C, or NULL */
  bool relu;
} GemmCall;

/* A param's gradient outer(g, x) over the batch: dW += G^T X, W's rows by
   the examples' g, its columns by their x. */
static GemmCall outer_call(Emit *E, int m) {
  const Node *n = node(E, m);
  GemmCall call = {.k = "(size_t)batch", .rsa = "1", .csb = "1", .add = true};
  call.m = arena_printf(E->a, "%d", n->shape.dim[0]);
  call.n = arena_printf(E->a, "%d", n->shape.dim[1]);
  rows_of(E, n->in[0], &call.a, &call.csa);
  rows_of(E, n->in[1], &call.b, &call.rsb);
  call.c = plus(E, "grads", leaf_offset(E, E->grad_of[m]));
  call.ldc = call.n;
  return call;
}

/* A shared matrix times each example's vector, W @ x or x @ W, into
   ROOT's place (M's own, or an input's gradient): C = X Mat'^T, the
   examples' vectors the rows of X. */
static GemmCall product_call(Emit *E, int m, int root) {
  const Node *n = node(E, m);
  GemmCall call = {.m = "(size_t)batch", .csa = "1"};
  int mi = shared_matrix(E, n->in[0]) && batch_rows(E, n->in[1]) ? 0 : 1;
  Shape s = node(E, n->in[mi])->shape;
  /* result[i] = sum_p Mat'(i, p) x[p] for W @ x, sum_p x[p] Mat'(p, i) for x @ W */
  bool trans = mi == 0 ? (n->trans & TRANS_A) != 0 : (n->trans & TRANS_B) == 0;
  long out = trans ? s.dim[1] : s.dim[0], inner = trans ? s.dim[0] : s.dim[1];
  call.n = arena_printf(E->a, "%ld", out);
  call.k = arena_printf(E->a, "%ld", inner);
  rows_of(E, n->in[1 - mi], &call.a, &call.rsa);
  call.b = matrix_of(E, n->in[mi]);
  call.rsb = trans ? call.n : "1";
  call.csb = trans ? "1" : call.k;
  if (root == m && E->grad_of[m] >= 0) {
    call.c = plus(E, "din", leaf_offset(E, E->grad_of[m]));
    call.ldc = arena_printf(E->a, "%s_INPUT_SIZE", E->o->prefix);
    call.add = true;
  } else {
    call.c = plus(E, "ws", E->slot[root]);
    call.ldc = "WS_SIZE";
  }
  return call;
}

static GemmCall gemm_call(Emit *E, int m, int root) {
  GemmCall call = node(E, m)->op == OP_OUTER ? outer_call(E, m) : product_call(E, m, root);
  call.bias = "NULL";
  if (E->finished[root]) {
    int b = E->bias_of[root];
    call.bias = b >= 0 ? plus(E, "params", leaf_offset(E, b)) : "NULL";
    call.relu = E->relu_of[root];
  }
  return call;
}

/* The call of gemm() for C, into DST (C's own place when NULL), scaled by SCALE. */
static void emit_gemm_call(Emit *E, GemmCall c, const char *dst, const char *scale) {
  emitf(E, "gemm(%s, %s, %s, %s, %s, %s,\n", c.m, c.n, c.k, c.a, c.rsa, c.csa);
  emitf(E, "     %s, %s, %s, %s, %s, %d, %s, %s, %d, pack);\n", c.b, c.rsb, c.csb, dst ? dst : c.c, c.ldc, c.add || dst,
        scale, c.bias, c.relu);
}

/* A param whose whole gradient is one outer product over the batch: an
   SGD step adds the product to the param itself. The node, or -1. */
static int fused_update(const Emit *E, int leaf) {
  int adj = E->bw->adjoint[leaf];
  return adj >= 0 && E->gemm[adj] && node(E, adj)->op == OP_OUTER && E->grad_of[adj] == leaf ? adj : -1;
}

static void write_gemm(Emit *E, int id) {
  int m = E->gemm[id] ? id : E->fused[id];
  comment_node(E, id);
  const char *what = graph_expr_string(E->g, m, 0);
  bool whole = E->grad_of[m] >= 0 && fused_update(E, E->grad_of[m]) == m;
  if (whole)
    comment_text(E, arena_printf(E->a, "%s of every example, their mean into %s", what, E->grad_name[E->grad_of[m]]));
  else if (E->grad_of[m] >= 0)
    comment_text(E, arena_printf(E->a, "%s of every example, summed into %s", what, E->grad_name[E->grad_of[m]]));
  else if (E->finished[id])
    comment_text(E, arena_printf(E->a, "%s for every example at once, into %s, then%s%s%s", what, E->cname[id],
                                 E->bias_of[id] >= 0 ? " + " : "",
                                 E->bias_of[id] >= 0 ? E->cname[E->bias_of[id]] : "",
                                 E->relu_of[id] ? (E->bias_of[id] >= 0 ? " and relu" : " relu") : ""));
  else
    comment_text(E, arena_printf(E->a, "%s for every example at once, into %s%s", what, E->cname[id],
                                 m != id ? "; the rest below" : ""));
  GemmCall call = gemm_call(E, m, id);
  if (whole) {
    /* P_grad's only product into these grads: written, not added to
       zeros, and divided by the batch in the product's scale, not in
       another pass over them. The scale goes into each term, which
       rounds otherwise than dividing the sum: the same bits where the
       batch is a power of two, as near the exact mean elsewhere */
    call.add = false;
    emit_gemm_call(E, call, NULL, "(real)1 / (real)batch");
    return;
  }
  emit_gemm_call(E, call, NULL, "1");
}

/* The call of segment K for example b, or for the group from b in lanes. */
static void segment_call(Emit *E, int k) {
  bool lanes = in_lanes(E), final = k == E->final_fwd;
  const char *args = lanes ? "params, lanes_in(ws, b), lanes_tg(ws, b), ws_of(ws, b)"
                           : "params, in_of(inputs, b), tg_of(targets, b), ws_of(ws, b)";
  const char *din = E->o->input_grads ? arena_printf(E->a, ", din + (size_t)b * %s_INPUT_SIZE", E->o->prefix) : "";
  if (E->seg_phase[k] == FWD && lanes)
    emitf(E, "%s(%s%s);\n", seg_name(E, k), args, final ? ", &total" : "");
  else if (E->seg_phase[k] == FWD)
    emitf(E, "%s%s(%s);\n", final ? "total += " : "", seg_name(E, k), args);
  else
    emitf(E, "%s(%s, grads%s);\n", seg_name(E, k), args, din);
}

/* for (int b = 0; b < batch; b++) forward_2(...): segment K for every
   example; with lanes, for each whole group, then for the examples left
   over one at a time, in the order of the examples still. */
static void call_segment(Emit *E, int k) {
  /* Examples are independent but for the sums they add to: the loss and
     the params' gradients, which they add one after another, in order. */
  if (threads(E) > 1 && k != E->final_fwd && !E->seg_adds_to_grads[k])
    fprintf(E->out, "#ifdef _OPENMP\n#pragma omp parallel for num_threads(%d) schedule(static)\n#endif\n", threads(E));
  emitf(E, in_lanes(E) ? "for (int b = 0; b < whole_groups(batch); b += NC_LANES)\n" : "for (int b = 0; b < batch; b++)\n");
  E->indent++;
  segment_call(E, k);
  E->indent--;
  if (!in_lanes(E))
    return;
  emitf(E, "for (int b = whole_groups(batch); b < batch; b++)\n");
  E->indent++;
  int lanes = set_mode(E, 1);
  segment_call(E, k);
  set_mode(E, lanes);
  E->indent--;
}

/* ---- steps of a driver: written one by one, then assembled ---- */

/* A driver's steps, each the text of a segment's loop or a product's
   call, and its group (emit_group, 3 for the SGD updates). */
typedef struct {
  char **text;
  int *group;
  int n, cap;
  char *buf; /* the step being written */
  size_t size;
} Steps;

static void step_begin(Emit *E, Steps *st) {
  E->out = open_memstream(&st->buf, &st->size);
  E->indent = 1;
  E->at_line_start = true;
}

static void step_end(Emit *E, Steps *st, int group) {
  fclose(E->out);
  if (st->n == st->cap) {
    st->cap = st->cap ? 2 * st->cap : 32;
    char **text = arena_array(E->a, char *, st->cap);
    int *groups = arena_array(E->a, int, st->cap);
    if (st->n) {
      memcpy(text, st->text, sizeof(char *) * (size_t)st->n);
      memcpy(groups, st->group, sizeof(int) * (size_t)st->n);
    }
    st->text = text, st->group = groups;
  }
  st->text[st->n] = arena_strdup(E->a, st->buf);
  st->group[st->n++] = group;
  free(st->buf);
}

/* The runs of params whose gradients go through grads, all but the
   fused updates' weights, as offsets [FROM[r], TO[r]); returns how many. */
static int grad_runs(Emit *E, long **from, long **to) {
  const Program *p = E->g->program;
  *from = arena_array(E->a, long, p->nsyms + 1);
  *to = arena_array(E->a, long, p->nsyms + 1);
  int runs = 0;
  bool open = false;
  long off = 0;
  for (int i = 0; i < p->nsyms; i++) {
    if (p->syms[i]->kind != SYM_PARAM)
      continue;
    bool through_grads = E->leaf_of[i] < 0 || fused_update(E, E->leaf_of[i]) < 0;
    if (through_grads && !open)
      (*from)[runs] = off, open = true;
    if (!through_grads && open)
      (*to)[runs++] = off, open = false;
    off += symbol_size(p->syms[i]);
  }
  if (open)
    (*to)[runs++] = off;
  return runs;
}

/* The steps at the end of backward() for an SGD step: the fused updates,
   W += -lr / batch * G^T X, then params -= lr * gradient for the others,
   runs of params at a time. UPDATE is the params, written. */
static void update_steps(Emit *E, Steps *st) {
  const Program *p = E->g->program;
  for (int i = 0; i < p->nsyms; i++) {
    int leaf = E->leaf_of[i];
    int m = leaf >= 0 && p->syms[i]->kind == SYM_PARAM ? fused_update(E, leaf) : -1;
    if (m < 0)
      continue;
    step_begin(E, st);
    comment_text(E, arena_printf(E->a, "%s -= lr / batch * (the sum of the examples' %s)", p->syms[i]->name,
                                 graph_expr_string(E->g, m, 0)));
    emit_gemm_call(E, gemm_call(E, m, m), plus(E, "update", leaf_offset(E, leaf)), "-lr / (real)batch");
    step_end(E, st, 3);
  }
  step_begin(E, st);
  comment_text(E, "the other params, from their gradients in grads");
  emitf(E, "sgd_update(update, grads, batch, lr);\n");
  step_end(E, st, 3);
}

/* A driver's steps: each segment and product in turn. For an SGD step
   (update not NULL), backward() leaves out the fused updates until the
   end, when nothing reads the params any more, and then applies them and
   the other params' gradients, from grads. */
static Steps driver_steps(Emit *E, Phase ph) {
  Steps st = {0};
  int last = -1;
  if (ph == FWD && in_lanes(E)) {
    step_begin(E, &st);
    emitf(E, "for (int b = 0; b < whole_groups(batch); b += NC_LANES)\n  load_lanes(inputs, targets, b, ws_of(ws, b));\n");
    step_end(E, &st, 0);
  }
  for (int group = ph == FWD ? 0 : 2; group <= (ph == FWD ? 1 : 2); group++) {
    for (int id = 0; id < E->g->n; id++) {
      if (!emitted_here(E, id) || emit_group(E, id) != group || E->early[id])
        continue;
      bool deferred = E->grad_of[id] >= 0 && fused_update(E, E->grad_of[id]) == id;
      if (by_gemm(E, id)) {
        step_begin(E, &st);
        if (deferred) {
          emitf(E, "if (!update) {\n");
          E->indent++;
        }
        write_gemm(E, id);
        if (deferred) {
          E->indent--;
          emitf(E, "}\n");
        }
        step_end(E, &st, group);
      }
      if (E->seg[id] >= 0 && E->seg[id] != last) {
        step_begin(E, &st);
        call_segment(E, last = E->seg[id]);
        step_end(E, &st, group);
      }
    }
  }
  int final = ph == FWD ? E->final_fwd : E->final_bwd;
  if (final != last) {
    step_begin(E, &st);
    call_segment(E, final);
    step_end(E, &st, ph == FWD ? 1 : 2);
  }
  if (ph == BWD)
    update_steps(E, &st);
  return st;
}

/* The steps [FROM, TO) of ST as a function of their own, into PARTS. */
static const char *write_part(Emit *E, Phase ph, Steps *st, int from, int to, FILE *parts, int number) {
  const char *name =
      arena_printf(E->a, "%s_steps_%d%s", ph == FWD ? "forward" : "backward", number, in_lanes(E) ? "_lanes" : "");
  char *body;
  size_t size;
  FILE *out = open_memstream(&body, &size);
  if (ph == FWD)
    fputs("  real total = 0;\n", out);
  for (int k = from; k < to; k++)
    fputs(st->text[k], out);
  if (ph == FWD)
    fputs("  return total;\n", out);
  fclose(out);
  const char *params = ph == FWD              ? "params batch inputs targets ws pack"
                       : E->o->input_grads    ? "params batch inputs targets ws grads din update lr pack"
                                              : "params batch inputs targets ws grads update lr pack";
  char *checked = void_unused(E, body, params);
  if (ph == FWD)
    fprintf(parts,
            "NC_NOINLINE static real %s(const real *params, int batch, const real *inputs, const real *targets,\n"
            "                          real *ws, real *pack) {\n%s}\n\n",
            name, checked);
  else
    fprintf(parts,
            "NC_NOINLINE static void %s(const real *params, int batch, const real *inputs, const real *targets,\n"
            "                           real *ws, real *grads%s, real *update, real lr, real *pack) {\n%s}\n\n",
            name, E->o->input_grads ? ", real *din" : "", checked);
  free(checked);
  return name;
}

/* The body of forward() (PH FWD) or backward(); the functions of its
   steps, if it has too many to run itself, go to PARTS. */
static char *driver_body(Emit *E, Phase ph, FILE *parts, int *nparts) {
  int number = 0;
  Steps st = driver_steps(E, ph);
  bool products = false;
  for (int id = 0; id < E->g->n; id++)
    products = products || (E->gemm[id] && phase(E, id) == ph);
  bool split = st.n > MAX_DRIVER_STEPS;
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  if (products)
    fputs("  real *pack = pack_of(ws, batch);\n", out);
  else if (split)
    fputs("  real *pack = NULL;\n", out);
  if (ph == FWD)
    fputs("  real total = 0;\n", out);
  bool check_targets = ph == FWD && E->target_dep[E->g->loss];
  bool updates_started = false;
  for (int k = 0; k < st.n;) {
    int group = st.group[k];
    if (group == 1 && check_targets) {
      fputs("  if (!targets)\n    return 0;\n", out);
      check_targets = false;
    }
    if (group == 3 && !updates_started) {
      fputs("  if (!update)\n    return;\n", out);
      updates_started = true;
    }
    int end = k + 1;
    while (end < st.n && st.group[end] == group)
      end++;
    if (!split) {
      for (; k < end; k++)
        fputs(st.text[k], out);
      continue;
    }
    for (int from = k; from < end; from += MAX_DRIVER_STEPS) {
      int to = from + MAX_DRIVER_STEPS < end ? from + MAX_DRIVER_STEPS : end;
      const char *name = write_part(E, ph, &st, from, to, parts, ++number);
      ++*nparts;
      if (ph == FWD)
        fprintf(out, "  total += %s(params, batch, inputs, targets, ws, pack);\n", name);
      else
        fprintf(out, "  %s(params, batch, inputs, targets, ws, grads%s, update, lr, pack);\n", name,
                E->o->input_grads ? ", din" : "");
    }
    k = end;
  }
  if (ph == FWD)
    fputs("  return total;\n", out);
  fclose(out);
  return text;
}

/* grad_runs, the table of the params whose gradients go through grads
   (the zeroing, the means and the SGD update of model.c loop over it).
   Never empty, as C has no empty arrays: a run from 0 to 0 where there
   are none. */
static char *grad_runs_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  long *from, *to;
  int runs = grad_runs(E, &from, &to);
  fputs("/* The params whose gradients go through grads, as offsets [from, to):\n"
        "   all but the weights whose whole gradient is one product over the\n"
        "   batch, which P_grad's product writes, already a mean, and\n"
        "   P_sgd_step's subtracts from the weight itself. */\n"
        "static const long grad_runs[][2] = {\n",
        out);
  for (int r = 0; r < runs; r++)
    fprintf(out, "  {%ld, %ld},\n", from[r], to[r]);
  fputs(runs ? "};\n" : "  {0, 0},\n};\n", out);
  fclose(out);
  return text;
}

/* Where P_grad puts the inputs' gradients, which it does not return. */
static char *input_grad_scratch_block(const Emit *E) {
  if (!E->o->input_grads)
    return strdup("");
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  fprintf(out,
          "\n/* %s_grad has nowhere to put the inputs' gradients: they go to scratch,\n"
          "   after the examples' workspaces. */\n"
          "static real *input_grad_scratch(real *ws, int batch) {\n"
          "  real *din = ws + examples_of(batch) * WS_SIZE;\n"
          "  memset(din, 0, sizeof(real) * (size_t)batch * DIN_SIZE);\n"
          "  return din;\n"
          "}\n",
          E->o->prefix);
  fclose(out);
  return text;
}

/* P_forward's outputs, example by example: from its lane, with lanes. */
static const char *write_outputs_loop(Emit *E) {
  const char *P = E->o->prefix;
  const char *each = arena_printf(E->a,
                                  "      write_outputs(params, in_of(inputs, b), ws_of(ws, b), outputs + (size_t)b * "
                                  "%s_OUTPUT_SIZE);\n",
                                  P);
  if (!in_lanes(E))
    return arena_printf(E->a, "  if (outputs)\n    for (int b = 0; b < batch; b++)\n%s", each);
  return arena_printf(E->a,
                      "  if (outputs)\n"
                      "    for (int b = 0; b < batch; b++) {\n"
                      "      if (b < whole_groups(batch))\n"
                      "        write_outputs_lanes(params, lane_in(ws, b), lane_ws(ws, b), outputs + (size_t)b * "
                      "%s_OUTPUT_SIZE);\n"
                      "      else\n  %s"
                      "    }\n",
                      P, each);
}

/* pack_of and pack_size: where the panels go, and how many reals they need. */
static char *pack_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  if (!E->any_gemm) {
    fclose(out);
    return text;
  }
  fputs("\n/* The panels gemm packs, after the examples' workspaces and input gradients. */\n"
        "static real *pack_of(real *ws, int batch) {\n"
        "  uintptr_t at = (uintptr_t)(ws + (size_t)batch * (WS_SIZE + DIN_SIZE));\n"
        "  return (real *)((at + 63) & ~(uintptr_t)63);\n"
        "}\n\n"
        "/* Reals of scratch for a batch of BATCH: what the largest product needs. */\n"
        "static size_t pack_size(size_t batch) {\n"
        "  size_t size = 0;\n",
        out);
  const char **seen = arena_array(E->a, const char *, E->g->n);
  int nseen = 0;
  for (int id = 0; id < E->g->n; id++) {
    if (!E->gemm[id])
      continue;
    GemmCall c = gemm_call(E, id, E->is_fused[id] ? fused_root(E, id) : id);
    const char *dims = arena_printf(E->a, "%s, %s, %s, %s, %s", c.m, c.n, c.k, c.rsa, c.csa);
    bool again = false;
    for (int k = 0; k < nseen && !again; k++)
      again = strcmp(seen[k], dims) == 0;
    if (again)
      continue;
    seen[nseen++] = dims;
    fprintf(out, "  if (gemm_scratch(%s) > size)\n    size = gemm_scratch(%s);\n", dims, dims);
  }
  fputs("  return size;\n}\n", out);
  fclose(out);
  return text;
}

/* ---- the fixed parts ---- */

/* The helper of OP, nc_<op> or in LANES nc_<op>_lanes. */
static void write_helper(Emit *E, int op, bool lanes, FILE *out) {
  const char *scalar = op_info[op].scalar;
  fprintf(out, "static inline real nc_%s%s(real a", helper_name(op), lanes ? "_lanes" : "");
  if (op_info[op].arity == 2)
    fputs(", real b", out);
  if (count_uses_in(scalar, 'i'))
    fputs(", long i", out);
  char *body = E->o->dbl ? strdup(scalar) : float_math(scalar, &E->uses_mathf, lanes);
  fprintf(out, ") { return %s; }\n", body);
  free(body);
}

static char *helpers_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  fputs("/* ---- elementwise operations that read an operand more than once ---- */\n", out);
  for (int op = 0; op < OP_COUNT; op++) {
    if (E->helper_used[op])
      write_helper(E, op, false, out);
    if (E->helper_used_lanes[op])
      write_helper(E, op, true, out);
  }
  fclose(out);
  return text;
}

static char *param_info_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  const Program *p = E->g->program;
  long off = 0;
  int count = 0;
  for (int i = 0; i < p->nsyms; i++) {
    const Symbol *s = p->syms[i];
    if (s->kind != SYM_PARAM)
      continue;
    fprintf(out, "  {\"%s\", %d, {%d, %d, %d, %d}, %ld, %ld},\n", s->name, s->shape.rank, s->shape.dim[0],
            s->shape.dim[1], s->shape.dim[2], s->shape.dim[3], off, shape_size(s->shape));
    off += shape_size(s->shape);
    count++;
  }
  if (count == 0)
    fputs("  {NULL, 0, {0, 0, 0, 0}, 0, 0}, /* no params: C has no empty arrays */\n", out);
  fclose(out);
  return text;
}

static void fans(Shape s, double *fan_in, double *fan_out) {
  double field = 1;
  for (int i = 2; i < s.rank; i++)
    field *= s.dim[i];
  *fan_in = s.dim[1] * field;
  *fan_out = s.dim[0] * field;
}

static char *init_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  const Program *p = E->g->program;
  long off = 0;
  for (int i = 0; i < p->nsyms; i++) {
    const Symbol *s = p->syms[i];
    if (s->kind != SYM_PARAM)
      continue;
    long n = shape_size(s->shape);
    double fan_in = 1, fan_out = 1;
    if (s->shape.rank >= 2)
      fans(s->shape, &fan_in, &fan_out);
    Init init = s->init;
    switch (init.kind) {
    case INIT_VALUE:
      fprintf(out, "  fill_value(params + %ld, %ld, %.17g); /* %s */\n", off, n, init.a, s->name);
      break;
    case INIT_UNIFORM:
      fprintf(out, "  fill_uniform(params + %ld, %ld, %.17g, %.17g, &state); /* %s */\n", off, n, init.a, init.b,
              s->name);
      break;
    case INIT_NORMAL:
      fprintf(out, "  fill_normal(params + %ld, %ld, %.17g, %.17g, &state); /* %s */\n", off, n, init.a, init.b,
              s->name);
      break;
    case INIT_XAVIER: {
      double limit = sqrt(6.0 / (fan_in + fan_out));
      fprintf(out, "  fill_uniform(params + %ld, %ld, %.17g, %.17g, &state); /* %s: xavier, sqrt(6 / (%g + %g)) */\n",
              off, n, -limit, limit, s->name, fan_in, fan_out);
      break;
    }
    case INIT_HE:
      fprintf(out, "  fill_normal(params + %ld, %ld, 0, %.17g, &state); /* %s: he, sqrt(2 / %g) */\n", off, n,
              sqrt(2.0 / fan_in), s->name, fan_in);
      break;
    }
    off += n;
  }
  fclose(out);
  return text;
}

/* Copies TEMPLATE to OUT, filling {{VALUE}} slots and block slots, a line
   of their own: slash-star-@@ NAME @@-star-slash. */
void emit_template(const char *name, const Slot *slots, int nslots, FILE *out) {
  const char *t = template_text(name);
  if (!t)
    fatal("missing template '%s'", name);
  while (*t) {
    const char *eol = strchr(t, '\n');
    size_t len = eol ? (size_t)(eol - t) + 1 : strlen(t);
    const char *block = strstr(t, "/*@@ ");
    if (block && block < t + len) {
      const char *end = strstr(block, " @@*/");
      int k;
      for (k = 0; k < nslots; k++)
        if (end && strlen(slots[k].name) == (size_t)(end - block - 5) &&
            strncmp(slots[k].name, block + 5, (size_t)(end - block - 5)) == 0)
          break;
      if (k == nslots)
        fatal("template '%s': unknown slot '%.*s'", name, (int)(len - 1), t);
      fputs(slots[k].text, out);
      t += len;
      continue;
    }
    for (const char *p = t; p < t + len; p++) {
      if (p[0] == '{' && p[1] == '{') {
        const char *end = strstr(p, "}}");
        int k;
        for (k = 0; k < nslots; k++)
          if (end && strlen(slots[k].name) == (size_t)(end - p - 2) &&
              strncmp(slots[k].name, p + 2, (size_t)(end - p - 2)) == 0)
            break;
        if (k == nslots)
          fatal("template '%s': unknown slot '%.20s'", name, p);
        fputs(slots[k].text, out);
        p = end + 1;
        continue;
      }
      fputc(*p, out);
    }
    t += len;
  }
}

uint64_t emit_hash(uint64_t h, const void *data, size_t len) {
  const unsigned char *s = data;
  for (size_t i = 0; i < len; i++)
    h = (h ^ s[i]) * 0x100000001b3u;
  return h;
}

void emit_target_classes(FILE *f, const Program *p) {
  for (int i = 0; i < p->nsyms; i++) {
    const Symbol *s = p->syms[i];
    for (long k = 0; s->kind == SYM_TARGET && k < symbol_size(s); k++)
      fprintf(f, "%d, ", s->nclass);
  }
  fputs("0", f);
}

/* The float exp and tanh of templates/mathf.c, where the code calls them. */
static const char *mathf_block(const Emit *E, Arena *a) {
  if (!E->uses_mathf)
    return "";
  return arena_printf(a, "%s%s%s%s%s", E->uses_mathf & MATHF_EXP ? "#define NC_USES_EXPF\n" : "",
                      E->uses_mathf & MATHF_EXP_LANES ? "#define NC_USES_EXPF_LANES\n" : "",
                      E->uses_mathf & MATHF_TANH ? "#define NC_USES_TANHF\n" : "",
                      E->uses_mathf & MATHF_TANH_LANES ? "#define NC_USES_TANHF_LANES\n" : "", template_text("mathf.c"));
}

/* The matrix product of templates/gemm.c, for the build's precision; nothing without products over the batch. */
static char *gemm_block(Emit *E) {
  char *text;
  size_t size;
  FILE *out = open_memstream(&text, &size);
  if (E->any_gemm) {
    fprintf(out, "#define NC_DOUBLE %d\n#define NC_THREADS %d\n#define NC_BLAS %d\n", E->o->dbl ? 1 : 0, threads(E),
            E->o->blas ? 1 : 0);
    emit_template("gemm.c", NULL, 0, out);
    fputs("\n", out);
  }
  fclose(out);
  return text;
}

/* ---- the model ---- */

static void analyse(Emit *E) {
  const Graph *g = E->g;
  const Backward *bw = E->bw;
  int nroots = 0;
  int *roots = arena_array(E->a, int, 1 + g->noutputs + bw->nwrt);
  roots[nroots++] = g->loss;
  for (int i = 0; i < g->noutputs; i++)
    roots[nroots++] = g->outputs[i];
  for (int i = 0; i < bw->nwrt; i++)
    roots[nroots++] = bw->adjoint[bw->wrt[i]];
  int n = g->n;
  E->live = graph_live(g, roots, nroots);
  E->uses = arena_array(E->a, int, n);
  E->is_root = arena_array(E->a, bool, n);
  E->leaf_of = arena_array(E->a, int, g->program->nsyms + 1);
  for (int i = 0; i < g->program->nsyms; i++)
    E->leaf_of[i] = -1;
  for (int id = 0; id < n; id++)
    if (g->nodes[id].op != LEAF_CONST && g->nodes[id].op >= OP_COUNT)
      E->leaf_of[g->nodes[id].sym->index] = id;
  E->user = arena_array(E->a, int, n);
  E->mat = arena_array(E->a, bool, n);
  E->fused = arena_array(E->a, int, n);
  E->is_fused = arena_array(E->a, bool, n);
  E->grad_of = arena_array(E->a, int, n);
  E->slot = arena_array(E->a, long, n);
  E->target_dep = arena_array(E->a, bool, n);
  E->read_later = arena_array(E->a, bool, n);
  E->cname = arena_array(E->a, const char *, n);
  E->grad_name = arena_array(E->a, const char *, n);
  E->referenced = arena_array(E->a, bool, n);
  E->grad_used = arena_array(E->a, bool, n);
  E->varying = arena_array(E->a, bool, n);
  E->gemm = arena_array(E->a, bool, n);
  E->bias_of = arena_array(E->a, int, n);
  E->relu_of = arena_array(E->a, bool, n);
  E->finished = arena_array(E->a, bool, n);
  E->seg = arena_array(E->a, int, n);
  for (int id = 0; id < n; id++)
    E->grad_of[id] = E->seg[id] = -1;
  E->acc_node = -1;
  E->acc_home = -1;
  count_uses(E, roots, nroots);
  decide_materialized(E);
  decide_fusion(E);
  decide_gradients(E);
  mark_varying(E);
  decide_gemms(E);
  decide_epilogues(E);
  decide_lanes(E);
  E->with_softmax = arena_array(E->a, int, n);
  E->early = arena_array(E->a, bool, n);
  decide_early_softmax(E);
  mark_target_dependence(E);
  mark_read_later(E);
  assign_segments(E);
  assign_places(E);
}

static long outputs_size(const Program *p) {
  long n = 0;
  for (int i = 0; i < p->noutputs; i++)
    n += shape_size(p->outputs[i]->shape);
  return n;
}

static char *input_grads_api(const Emit *E, bool impl) {
  const char *P = E->o->prefix;
  if (!E->o->input_grads)
    return arena_strdup(E->a, "");
  if (!impl)
    return arena_printf(E->a,
                        "\n/* As %s_grad, and also writes input_grads (batch x %s_INPUT_SIZE) with\n"
                        "   d(mean loss)/d(inputs). */\n"
                        "%s_real %s_grad_inputs(const %s_real *params, int batch, const %s_real *inputs,\n"
                        "                     const %s_real *targets, %s_real *grads, %s_real *input_grads,\n"
                        "                     void *workspace);\n",
                        P, P, P, P, P, P, P, P, P);
  return arena_printf(
      E->a,
      "\nreal %s_grad_inputs(const real *params, int batch, const real *inputs, const real *targets, real *grads,\n"
      "                   real *input_grads, void *workspace) {\n"
      "  real *ws = (real *)workspace;\n"
      "  if (batch <= 0) {\n"
      "    memset(grads, 0, sizeof(real) * %s_NUM_PARAMS);\n"
      "    return 0;\n"
      "  }\n"
      "  memset(input_grads, 0, sizeof(real) * (size_t)batch * %s_INPUT_SIZE);\n"
      "  real loss = grad_mean(params, batch, inputs, targets, grads, input_grads, ws);\n"
      "  if (batch > 1)\n"
      "    for (size_t i = 0; i < (size_t)batch * %s_INPUT_SIZE; i++)\n"
      "      input_grads[i] /= (real)batch;\n"
      "  return loss;\n"
      "}\n",
      P, P, P, P);
}

static int count_params(const Program *p) {
  int n = 0;
  for (int i = 0; i < p->nsyms; i++)
    n += p->syms[i]->kind == SYM_PARAM;
  return n;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Lanes by default: whether whole groups run in them depends on the compiler (decide_lanes). */
static const char lanes_by_compiler[] =
    "/* Whole groups run in lanes where gcc compiles this file; elsewhere\n"
    "   every example runs alone, which clang vectorizes better. Building\n"
    "   with -DNC_IN_LANES=1 or 0 decides for any compiler, as netc's\n"
    "   --lanes N and --lanes 1 do. */\n"
    "#ifndef NC_IN_LANES\n"
    "#if defined(__GNUC__) && !defined(__clang__)\n"
    "#define NC_IN_LANES 1\n"
    "#else\n"
    "#define NC_IN_LANES 0\n"
    "#endif\n"
    "#endif\n";

void emit_model(const Graph *g, const Backward *bw, const EmitOptions *o, FILE *h, FILE *c, EmitStats *stats) {
  Arena arena;
  arena_init(&arena);
  Emit E = {.g = g, .bw = bw, .o = o, .a = &arena};
  analyse(&E);
  /* Bodies first: they decide which helpers exist. */
  char *segments = segments_block(&E);
  char *parts;
  size_t parts_size;
  FILE *parts_out = open_memstream(&parts, &parts_size);
  fputs("/* The steps of large passes, a function each: no function grows with the model. */\n\n", parts_out);
  int nparts = 0;
  /* with lanes too: their drivers run the whole groups, then the examples left over */
  char *forward = driver_body(&E, FWD, parts_out, &nparts);
  char *backward = driver_body(&E, BWD, parts_out, &nparts);
  fclose(parts_out);
  if (nparts == 0)
    parts[0] = '\0'; /* no parts, no prelude */
  char *runs = grad_runs_block(&E);
  char *outputs_lanes_fn = outputs_lanes(&E);
  int lanes = set_mode(&E, 1);
  char *outputs = outputs_body(&E);
  set_mode(&E, lanes);
  char *pack = pack_block(&E);
  char *scratch = input_grad_scratch_block(&E);
  char *gemm = gemm_block(&E);
  char *helpers = helpers_block(&E);
  char *params = param_info_block(&E);
  char *init = init_block(&E);
  const Program *p = g->program;
  const char *P = o->prefix;
  int din = o->input_grads ? (int)program_size(p, SYM_INPUT) : 0;
  char hash[32], flags[128];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)emit_hash(EMIT_HASH_START, o->source_text, (size_t)o->source_len));
  char threads_flag[32] = "";
  if (threads(&E) > 1)
    snprintf(threads_flag, sizeof threads_flag, " --threads %d", threads(&E));
  snprintf(flags, sizeof flags, "--prefix %s%s%s%s%s", P, o->dbl ? " --double" : "", o->input_grads ? " --input-grads" : "",
           threads_flag, o->blas ? " --blas" : "");
  char *guard = arena_printf(&arena, "%s_H", P);
  for (char *q = guard; *q; q++)
    if (*q >= 'a' && *q <= 'z')
      *q = (char)(*q - 'a' + 'A');
  Slot slots[] = {
      {"VERSION", NETC_VERSION},
      {"SOURCE", o->source_name},
      {"HASH", hash},
      {"FLAGS", flags},
      {"GUARD", guard},
      {"P", P},
      {"REAL", real_name(&E)},
      {"NUM_PARAMS", arena_printf(&arena, "%ld", program_size(p, SYM_PARAM))},
      {"INPUT_SIZE", arena_printf(&arena, "%ld", program_size(p, SYM_INPUT))},
      {"TARGET_SIZE", arena_printf(&arena, "%ld", program_size(p, SYM_TARGET))},
      {"OUTPUT_SIZE", arena_printf(&arena, "%ld", outputs_size(p))},
      {"NUM_PARAM_TENSORS", arena_printf(&arena, "%d", count_params(p))},
      {"WS_SIZE", arena_printf(&arena, "%ld", E.ws_size)},
      {"DIN_SIZE", arena_printf(&arena, "%d", din)},
      {"DIN_PARAM", o->input_grads ? ", real *din" : ""},
      {"DIN_DOC", o->input_grads ? "\n   Each example's input gradient goes to its row of din." : ""},
      {"DIN_SCRATCH", o->input_grads ? ", input_grad_scratch(ws, batch)" : ""},
      {"DIN_ARG", o->input_grads ? ", din" : ""},
      {"PACK_SIZE", E.any_gemm ? " + pack_size(n) + 64 / sizeof(real)" : ""},
      {"PACK", pack},
      {"INPUT_GRAD_SCRATCH", scratch},
      {"LANE_HELPERS", in_lanes(&E) ? template_text("lanes.c") : ""},
      {"LANES", in_lanes(&E) ? arena_printf(&arena,
                                            "/* Examples per group in lanes; where a group's copies of its inputs\n"
                                            "   and targets are, and their sizes. */\n"
                                            "#define NC_LANES %d\n"
                                            "#define NC_IN_SLOT %ld\n#define NC_TG_SLOT %ld\n"
                                            "#define NC_IN_SIZE %ld\n#define NC_TG_SIZE %ld\n%s",
                                            E.lanes, E.in_slot, E.tg_slot,
                                            program_size(p, SYM_INPUT), program_size(p, SYM_TARGET),
                                            E.lanes_by_compiler ? lanes_by_compiler : "#define NC_IN_LANES 1\n")
                             : ""},
      {"WS_LANES", in_lanes(&E) ? "\n   A batch runs its whole groups of NC_LANES examples in lanes, one to\n"
                                  "   a lane, and the examples left over one at a time: the group from\n"
                                  "   example b starts at ws + b * WS_SIZE too, its element i of lane l\n"
                                  "   at [i * NC_LANES + l], so that a loop over the lanes reads\n"
                                  "   consecutive reals. Each lane's inputs and targets are copied in."
                                : ""},
      {"WRITE_OUTPUTS", write_outputs_loop(&E)},
      {"OUTPUTS_LANES", outputs_lanes_fn},
      {"GEMM", gemm},
      {"SEGMENTS", segments},
      {"PARTS", parts},
      {"GRAD_RUNS", runs},
      {"EXTRA_API", input_grads_api(&E, false)},
      {"EXTRA_IMPL", input_grads_api(&E, true)},
      {"HELPERS", helpers},
      {"MATHF", mathf_block(&E, &arena)},
      {"USES_PICK", E.uses_pick ? "#define NC_USES_PICK\n" : ""},
      {"BITS", o->dbl ? "uint64_t" : "uint32_t"},
      {"PARAM_INFO", params},
      {"INIT", init},
      {"FORWARD", forward},
      {"OUTPUTS", outputs},
      {"BACKWARD", backward},
  };
  int nslots = (int)(sizeof slots / sizeof slots[0]);
  emit_template("model.h", slots, nslots, h);
  char *text;
  size_t size;
  FILE *mem = open_memstream(&text, &size);
  emit_template("model.c", slots, nslots, mem);
  fclose(mem);
  fputs(text, c);
  if (stats) {
    stats->lines = count_lines(text);
    stats->temporaries = E.temporaries;
    stats->workspace_bytes = (size_t)(E.ws_size + din) * (o->dbl ? sizeof(double) : sizeof(float));
  }
  free(text);
  free(segments), free(forward), free(outputs), free(backward), free(helpers), free(params), free(init);
  free(pack), free(scratch), free(gemm), free(runs), free(parts), free(outputs_lanes_fn);
  arena_free(&arena);
}

const char *emit_source_name(Arena *a, const char *path) {
  const char *base = strrchr(path, '/');
  char *name = arena_strdup(a, base ? base + 1 : path);
  for (char *p = name; *p; p++)
    if (!ident_char(*p) && *p != '.' && *p != '-')
      *p = '_';
  return name;
}

static FILE *open_output(const char *dir, const char *name, const char *ext, FILE *err, char *path, size_t size) {
  snprintf(path, size, "%s/%s%s", dir, name, ext);
  FILE *f = fopen(path, "w");
  if (!f)
    fprintf(err, "netc: error: cannot write '%s': %s\n", path, strerror(errno));
  return f;
}

static bool close_output(FILE *f, const char *path, FILE *err) {
  if (fclose(f) == 0)
    return true;
  fprintf(err, "netc: error: cannot write '%s': %s\n", path, strerror(errno));
  return false;
}

bool emit_files(const Graph *g, const Backward *bw, const EmitOptions *o, const char *dir, EmitStats *stats,
                FILE *err) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(err, "netc: error: cannot create '%s': %s\n", dir, strerror(errno));
    return false;
  }
  char hpath[4096], cpath[4096];
  FILE *h = open_output(dir, o->prefix, ".h", err, hpath, sizeof hpath);
  if (!h)
    return false;
  FILE *c = open_output(dir, o->prefix, ".c", err, cpath, sizeof cpath);
  if (!c) {
    fclose(h);
    return false;
  }
  emit_model(g, bw, o, h, c, stats);
  bool ok = close_output(h, hpath, err);
  return close_output(c, cpath, err) && ok;
}
