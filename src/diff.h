/* diff.h: the chain rule, symbolically. Reverse mode: each node's adjoint
   dL/dnode is built once, from the adjoints of the nodes after it. */
#ifndef NETC_DIFF_H
#define NETC_DIFF_H

#include "graph.h"

typedef struct {
  int *adjoint;  /* per forward node: the node computing dL/d(it), or -1 */
  int *wrt;      /* the leaves differentiated: params, then inputs if asked */
  int nwrt;
} Backward;

/* Adds the backward pass to G: the adjoints of every parameter, and of
   every input when INPUT_GRADS. */
Backward *diff_backward(Graph *g, bool input_grads);

/* 'netc grad': one line per adjoint, in the order they are computed. */
void diff_print(FILE *out, const Graph *g, const Backward *bw);

#endif
