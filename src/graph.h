/* graph.h: the expression graph of one example, forward and backward.
   An append-only array of nodes whose operands come before them (KANN),
   so array order is topological and the backward pass is a reverse loop.
   Nodes are hash-consed: asking for a node that exists returns it, which
   is common-subexpression elimination; simplify.c folds and rewrites
   each node as it is made. */
#ifndef NETC_GRAPH_H
#define NETC_GRAPH_H

#include "check.h"

/* Leaves are not ops: their kinds follow the ops', from OP_COUNT on. */
typedef enum {
  LEAF_INPUT = OP_COUNT, /* a slice of the example's inputs */
  LEAF_TARGET,           /* a slice of the example's targets */
  LEAF_PARAM,            /* a slice of the parameters */
  LEAF_CONST,            /* a scalar number */
  NODE_KIND_COUNT
} LeafKind;

enum { TRANS_A = 1, TRANS_B = 2 }; /* matmul of a transposed operand */

typedef struct {
  int op;      /* an OpKind, or a LeafKind */
  int in[2];   /* operands, -1 when absent */
  int trans;   /* TRANS_* for OP_MATMUL */
  double value; /* LEAF_CONST */
  Symbol *sym;  /* leaves: the declaration */
  Shape shape;
  /* Not part of the node's identity: */
  const char *name; /* the source value it computes, for readers */
  Loc loc;          /* where the source wrote it */
  int adjoint_of;   /* >= 0: this node is dL/d(that node), a sum of its contributions */
} Node;

typedef struct {
  Arena *arena;
  Node *nodes;
  int n, cap;
  int *table; /* hash of node identity -> index + 1; 0 is empty */
  int table_cap;
  int nforward; /* nodes [0, nforward) are the forward pass */
  int loss;     /* the loss node */
  int *outputs; /* one per program output */
  int noutputs;
  int *sym_node; /* per symbol of the program: its node, or -1 */
  const Program *program;
} Graph;

/* The forward graph of P. Rewrites of numerically unstable forms are
   reported as warnings to D. */
Graph *graph_build(const Program *p, Diag *d, Arena *a);

/* Adds (or finds) the node OP(a, b); B is -1 for unary ops. */
int graph_op(Graph *g, int op, int a, int b);
/* Adds (or finds) a matmul with transposed operands as TRANS says. */
int graph_matmul(Graph *g, int a, int b, int trans);
int graph_broadcast(Graph *g, int a, Shape shape);
int graph_const(Graph *g, double value);
int graph_leaf(Graph *g, int kind, Symbol *sym);

static inline Node *graph_node(const Graph *g, int id) { return &g->nodes[id]; }
static inline bool graph_is_const(const Graph *g, int id, double v) {
  return id >= 0 && g->nodes[id].op == LEAF_CONST && g->nodes[id].value == v;
}

/* simplify.c: an equivalent node already in G for the node PROTO would
   be, or -1 if there is none. Folds constants and applies identities. */
int simplify_node(Graph *g, const Node *proto);

/* The nodes that ROOTS depend on, as a flag per node (arena-allocated). */
bool *graph_live(const Graph *g, const int *roots, int nroots);

/* How a node is spelled in 'netc grad' and in comments. */
void graph_print_expr(FILE *out, const Graph *g, int id, bool stop_at_names);
/* The same, as a string in G's arena, in parentheses if it binds less
   tightly than MIN_PREC (4: the operand of a negation). */
char *graph_expr_string(const Graph *g, int id, int min_prec);

#endif
