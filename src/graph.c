/* graph.c: building the graph. From a checked Program, one node per
   operation, each found again when asked for twice. */
#include "graph.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- shapes of nodes: the checker has checked them, so only computed ---- */

static Shape scalar(void) { return (Shape){0, {0}}; }

static Shape matmul_shape(Shape a, Shape b, int trans) {
  Shape r = scalar();
  if (trans & TRANS_A)
    a = (Shape){2, {a.dim[1], a.dim[0]}};
  if (trans & TRANS_B)
    b = (Shape){2, {b.dim[1], b.dim[0]}};
  if (a.rank == 2)
    r.dim[r.rank++] = a.dim[0];
  if (b.rank == 2)
    r.dim[r.rank++] = b.dim[1];
  return r;
}

static Shape infer_shape(const Graph *g, const Node *n) {
  Shape a = n->in[0] >= 0 ? g->nodes[n->in[0]].shape : scalar();
  Shape b = n->in[1] >= 0 ? g->nodes[n->in[1]].shape : scalar();
  int flags = op_info[n->op].flags;
  switch (n->op) {
  case OP_MATMUL:
    return matmul_shape(a, b, n->trans);
  case OP_TRANSPOSE:
    return (Shape){2, {a.dim[1], a.dim[0]}};
  case OP_OUTER:
    return (Shape){2, {a.dim[0], b.dim[0]}};
  case OP_ONEHOT:
    return (Shape){1, {g->nodes[n->in[0]].sym->nclass}};
  case OP_BROADCAST:
    return n->shape; /* given by its maker */
  case OP_SOFTMAX:
  case OP_LOG_SOFTMAX:
    return a;
  default:
    if (flags & OPF_ELEMWISE)
      return a.rank ? a : b;
    return scalar(); /* reductions and losses */
  }
}

/* ---- hash-consing ---- */

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
  return h;
}

/* The fields that make a node what it is; name, loc and adjoint_of do not. */
static uint64_t node_hash(const Node *n) {
  uint64_t bits;
  memcpy(&bits, &n->value, sizeof bits);
  uint64_t h = mix((uint64_t)n->op, (uint64_t)(n->in[0] + 1));
  h = mix(h, (uint64_t)(n->in[1] + 1));
  h = mix(h, (uint64_t)n->trans);
  h = mix(h, bits);
  h = mix(h, (uint64_t)(uintptr_t)n->sym);
  for (int i = 0; i < n->shape.rank; i++)
    h = mix(h, (uint64_t)n->shape.dim[i]);
  return h;
}

static bool same_node(const Node *x, const Node *y) {
  /* Constants compare by bits, so 0.0 and -0.0 stay apart. */
  return x->op == y->op && x->in[0] == y->in[0] && x->in[1] == y->in[1] && x->trans == y->trans &&
         memcmp(&x->value, &y->value, sizeof x->value) == 0 && x->sym == y->sym && shape_eq(x->shape, y->shape);
}

static void rehash(Graph *g) {
  g->table_cap = g->table_cap ? 2 * g->table_cap : 256;
  g->table = arena_array(g->arena, int, g->table_cap);
  for (int id = 0; id < g->n; id++) {
    size_t slot = node_hash(&g->nodes[id]) & (size_t)(g->table_cap - 1);
    while (g->table[slot])
      slot = (slot + 1) & (size_t)(g->table_cap - 1);
    g->table[slot] = id + 1;
  }
}

/* The node equal to PROTO, added if new. */
static int intern(Graph *g, Node proto) {
  proto.shape = proto.op < OP_COUNT ? infer_shape(g, &proto) : proto.shape;
  if (proto.op < OP_COUNT) {
    int same = simplify_node(g, &proto);
    if (same >= 0)
      return same;
  }
  if (2 * (g->n + 1) > g->table_cap)
    rehash(g);
  size_t slot = node_hash(&proto) & (size_t)(g->table_cap - 1);
  for (; g->table[slot]; slot = (slot + 1) & (size_t)(g->table_cap - 1))
    if (same_node(&g->nodes[g->table[slot] - 1], &proto))
      return g->table[slot] - 1;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 64;
    Node *grown = arena_array(g->arena, Node, g->cap);
    if (g->n)
      memcpy(grown, g->nodes, sizeof(Node) * (size_t)g->n);
    g->nodes = grown;
  }
  proto.adjoint_of = -1;
  g->nodes[g->n] = proto;
  g->table[slot] = g->n + 1;
  return g->n++;
}

static Node blank(int op) { return (Node){.op = op, .in = {-1, -1}, .adjoint_of = -1}; }

int graph_op(Graph *g, int op, int a, int b) {
  Node n = blank(op);
  n.in[0] = a;
  n.in[1] = b;
  return intern(g, n);
}

int graph_matmul(Graph *g, int a, int b, int trans) {
  Node n = blank(OP_MATMUL);
  n.in[0] = a;
  n.in[1] = b;
  n.trans = trans;
  return intern(g, n);
}

int graph_broadcast(Graph *g, int a, Shape shape) {
  if (shape_eq(g->nodes[a].shape, shape))
    return a;
  Node n = blank(OP_BROADCAST);
  n.in[0] = a;
  n.shape = shape;
  return intern(g, n);
}

int graph_const(Graph *g, double value) {
  Node n = blank(LEAF_CONST);
  n.value = value;
  return intern(g, n);
}

int graph_leaf(Graph *g, int kind, Symbol *sym) {
  Node n = blank(kind);
  n.sym = sym;
  n.shape = sym->nclass ? scalar() : sym->shape;
  n.name = sym->name;
  return intern(g, n);
}

/* ---- lowering the program ---- */

typedef struct {
  Graph *g;
  Diag *d;
  int *sym_node; /* per symbol: its node, or -1 */
} Lower;

static int lower_expr(Lower *L, const Ast *e);

static int symbol_node(Lower *L, Symbol *sym) {
  static const int leaf[] = {[SYM_INPUT] = LEAF_INPUT, [SYM_TARGET] = LEAF_TARGET, [SYM_PARAM] = LEAF_PARAM};
  switch (sym->kind) {
  case SYM_CONST:
    return graph_const(L->g, sym->value);
  case SYM_VALUE:
    return L->sym_node[sym->index];
  default:
    return graph_leaf(L->g, leaf[sym->kind], sym);
  }
}

/* Numerically unstable forms a user may write, and their stable twins:
   log(softmax(x)) = log_softmax(x), log(sigmoid(z)) = -softplus(-z),
   bce(sigmoid(z), t) = bce_logits(z, t). */
static int stabilize(Lower *L, const Ast *e, int op, int a, int b) {
  Graph *g = L->g;
  const Node *x = &g->nodes[a];
  const char *src = L->d->text + e->loc.begin;
  int len = e->loc.end - e->loc.begin;
  if (op == OP_LOG && x->op == OP_SOFTMAX) {
    warning_at(L->d, e->loc, "'%.*s' is computed as 'log_softmax(%s)', which cannot overflow", len, src,
               graph_expr_string(g, x->in[0], 0));
    return graph_op(g, OP_LOG_SOFTMAX, x->in[0], -1);
  }
  if (op == OP_LOG && x->op == OP_SIGMOID) {
    warning_at(L->d, e->loc, "'%.*s' is computed as '-softplus(-%s)', which cannot overflow", len, src,
               graph_expr_string(g, x->in[0], 4));
    int neg_z = graph_op(g, OP_NEG, x->in[0], -1);
    return graph_op(g, OP_NEG, graph_op(g, OP_SOFTPLUS, neg_z, -1), -1);
  }
  if (op == OP_BCE && x->op == OP_SIGMOID) {
    warning_at(L->d, e->loc, "'%.*s' is computed as 'bce_logits(%s, %s)', which cannot overflow", len, src,
               graph_expr_string(g, x->in[0], 0), graph_expr_string(g, b, 0));
    return graph_op(g, OP_BCE_LOGITS, x->in[0], b);
  }
  return graph_op(g, op, a, b);
}

static int lower_expr(Lower *L, const Ast *e) {
  if (e->is_const)
    return graph_const(L->g, e->value);
  switch (e->kind) {
  case AST_NAME:
    return symbol_node(L, e->ref.sym);
  case AST_UNARY:
    return graph_op(L->g, e->op.op, lower_expr(L, e->op.a), -1);
  case AST_BINARY:
    return graph_op(L->g, e->op.op, lower_expr(L, e->op.a), lower_expr(L, e->op.b));
  case AST_CALL: {
    int a = lower_expr(L, e->call.args);
    int b = e->call.nargs > 1 ? lower_expr(L, e->call.args->next) : -1;
    return stabilize(L, e, e->call.op, a, b);
  }
  default:
    unreachable();
  }
}

Graph *graph_build(const Program *p, Diag *d, Arena *a) {
  Graph *g = arena_new(a, Graph);
  g->arena = a;
  g->program = p;
  Lower L = {g, d, arena_array(a, int, p->nsyms + 1)};
  for (int i = 0; i < p->nsyms; i++) {
    Symbol *sym = p->syms[i];
    L.sym_node[i] = -1;
    if (sym->kind != SYM_VALUE)
      continue;
    int id = lower_expr(&L, sym->expr);
    L.sym_node[i] = id;
    Node *n = &g->nodes[id];
    if (!n->name && n->op < OP_COUNT) {
      n->name = sym->name;
      n->loc = sym->stmt->loc;
    }
  }
  g->loss = lower_expr(&L, p->loss);
  g->outputs = arena_array(a, int, p->noutputs + 1);
  g->noutputs = p->noutputs;
  for (int i = 0; i < p->noutputs; i++)
    g->outputs[i] = symbol_node(&L, p->outputs[i]);
  g->sym_node = L.sym_node;
  g->nforward = g->n;
  return g;
}

/* ---- liveness: what the roots need; the rest is dead code ---- */

bool *graph_live(const Graph *g, const int *roots, int nroots) {
  bool *live = arena_array(g->arena, bool, g->n + 1);
  for (int i = 0; i < nroots; i++)
    if (roots[i] >= 0)
      live[roots[i]] = true;
  for (int id = g->n - 1; id >= 0; id--)
    if (live[id])
      for (int k = 0; k < 2; k++)
        if (g->nodes[id].in[k] >= 0)
          live[g->nodes[id].in[k]] = true;
  return live;
}

/* ---- printing, for 'netc grad' and comments in generated code ---- */

/* How tightly a node binds when printed: higher binds tighter. */
static int print_prec(const Node *n) {
  switch (n->op) {
  case OP_ADD:
  case OP_SUB:
    return 1;
  case OP_MUL:
  case OP_DIV:
  case OP_MATMUL:
    return 2;
  case OP_NEG:
    return 3;
  case OP_POW:
    return 4;
  case OP_BROADCAST:
    return -1; /* printed as its operand */
  default:
    return 5;
  }
}

static void print_node(FILE *out, const Graph *g, int id, int root, bool stop, int min_prec);

static void print_call(FILE *out, const Graph *g, const char *name, const Node *n, int root, bool stop) {
  fprintf(out, "%s(", name);
  print_node(out, g, n->in[0], root, stop, 0);
  if (n->in[1] >= 0) {
    fputs(", ", out);
    print_node(out, g, n->in[1], root, stop, 0);
  }
  fputc(')', out);
}

static void print_node(FILE *out, const Graph *g, int id, int root, bool stop, int min_prec) {
  const Node *n = &g->nodes[id];
  char buf[NUM_STR_MAX];
  if (n->op == LEAF_CONST) {
    bool negative = n->value < 0 || (n->value == 0 && signbit(n->value));
    fprintf(out, negative && min_prec > 1 ? "(%s)" : "%s", num_str(n->value, buf));
    return;
  }
  bool forward = g->nforward == 0 || id < g->nforward; /* 0: still lowering */
  if (n->op >= OP_COUNT || (stop && id != root && forward && n->name)) {
    fputs(n->name, out);
    return;
  }
  if (stop && id != root && n->adjoint_of >= 0) {
    fprintf(out, "dL/d%s", g->nodes[n->adjoint_of].name);
    return;
  }
  if (n->op == OP_BROADCAST) {
    print_node(out, g, n->in[0], root, stop, min_prec);
    return;
  }
  int prec = print_prec(n);
  bool paren = prec < min_prec;
  if (paren)
    fputc('(', out);
  switch (n->op) {
  case OP_NEG:
    fputc('-', out);
    print_node(out, g, n->in[0], root, stop, 4);
    break;
  case OP_POW:
    print_node(out, g, n->in[0], root, stop, 5);
    fputc('^', out);
    print_node(out, g, n->in[1], root, stop, 4);
    break;
  case OP_STEP:
    fputc('(', out);
    print_node(out, g, n->in[0], root, stop, 0);
    fputs(" > 0)", out);
    break;
  case OP_LEAKY_STEP:
    fputc('(', out);
    print_node(out, g, n->in[0], root, stop, 0);
    fputs(" > 0 ? 1 : ", out);
    print_node(out, g, n->in[1], root, stop, 0);
    fputc(')', out);
    break;
  case OP_MATMUL:
    if (n->trans & TRANS_A)
      print_call(out, g, "transpose", &(Node){.in = {n->in[0], -1}}, root, stop);
    else
      print_node(out, g, n->in[0], root, stop, prec);
    fputs(" @ ", out);
    if (n->trans & TRANS_B)
      print_call(out, g, "transpose", &(Node){.in = {n->in[1], -1}}, root, stop);
    else
      print_node(out, g, n->in[1], root, stop, prec + 1);
    break;
  default:
    if (op_info[n->op].flags & OPF_INFIX) {
      print_node(out, g, n->in[0], root, stop, prec);
      fprintf(out, " %s ", op_info[n->op].name);
      print_node(out, g, n->in[1], root, stop, prec + 1);
    } else {
      print_call(out, g, op_info[n->op].name, n, root, stop);
    }
  }
  if (paren)
    fputc(')', out);
}

void graph_print_expr(FILE *out, const Graph *g, int id, bool stop_at_names) {
  print_node(out, g, id, id, stop_at_names, 0);
}

char *graph_expr_string(const Graph *g, int id, int min_prec) {
  char *text;
  size_t size;
  FILE *f = open_memstream(&text, &size);
  print_node(f, g, id, -1, true, min_prec);
  fclose(f);
  char *copy = arena_strdup(g->arena, text);
  free(text);
  return copy;
}
