/* simplify.c: rewrites applied to every node as it is made. Operands are
   made before the nodes that use them, so each node meets operands that
   are already simplified, and one application reaches the fixed point.
   Nothing is rewritten that could change a result: a constant is folded
   only when the result is finite, and x + 0 is kept, since for x = -0.0
   it gives +0.0 (Lua's validop refuses the same). */
#include <math.h>

#include "graph.h"

static bool is_const(const Graph *g, int id) { return id >= 0 && g->nodes[id].op == LEAF_CONST; }

static bool has_shape(const Graph *g, int id, Shape s) { return shape_eq(g->nodes[id].shape, s); }

/* Elementwise ops broadcast scalars themselves: broadcast(s) as an
   operand beside a full-shaped one is just s. */
static int unbroadcast(const Graph *g, int id, int other, const Node *proto) {
  const Node *n = &g->nodes[id];
  if (n->op == OP_BROADCAST && other >= 0 && has_shape(g, other, proto->shape))
    return n->in[0];
  return id;
}

int simplify_node(Graph *g, const Node *proto) {
  int op = proto->op;
  if (!(op_info[op].flags & OPF_ELEMWISE))
    return -1;
  int a = proto->in[0], b = proto->in[1];
  if (op != OP_BROADCAST && op_info[op].arity == 2) {
    int a2 = unbroadcast(g, a, b, proto), b2 = unbroadcast(g, b, a2, proto);
    if (a2 != a || b2 != b)
      return graph_op(g, op, a2, b2);
  }
  if (is_const(g, a) && (b < 0 || is_const(g, b)) && proto->shape.rank == 0) {
    double v = op_fold((OpKind)op, g->nodes[a].value, b >= 0 ? g->nodes[b].value : 0);
    if (isfinite(v))
      return graph_const(g, v);
  }
  bool same_a = a >= 0 && has_shape(g, a, proto->shape);
  switch (op) {
  case OP_SUB: /* x - 0 = x, even for x = -0.0 */
    if (graph_is_const(g, b, 0) && !signbit(g->nodes[b].value) && same_a)
      return a;
    break;
  case OP_MUL: /* x * 1 = x;  1 * x = x;  x * -1 = -x */
    if (graph_is_const(g, b, 1) && same_a)
      return a;
    if (graph_is_const(g, a, 1) && has_shape(g, b, proto->shape))
      return b;
    if (graph_is_const(g, b, -1))
      return graph_op(g, OP_NEG, a, -1);
    if (graph_is_const(g, a, -1))
      return graph_op(g, OP_NEG, b, -1);
    break;
  case OP_DIV: /* x / 1 = x */
    if (graph_is_const(g, b, 1) && same_a)
      return a;
    break;
  case OP_POW: /* x ^ 1 = x */
    if (graph_is_const(g, b, 1))
      return a;
    break;
  case OP_NEG: /* --x = x */
    if (g->nodes[a].op == OP_NEG)
      return g->nodes[a].in[0];
    break;
  default:
    break;
  }
  return -1;
}
