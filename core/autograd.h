/* Reverse-mode autodiff on a tape. Each differentiable op that sees an input
 * requiring grad appends a node; creation order is a topological order, so
 * zoo_backward walks the tape from the end. Nodes live in the current scope. */
#ifndef ZOO_AUTOGRAD_H
#define ZOO_AUTOGRAD_H

#include "tensor.h"

#define ZOO_NODE_MAX_IN 3

typedef struct zoo_node zoo_node;
/* reads n->out->grad and accumulates into the inputs' grads (zoo__grad_*) */
typedef void (*zoo_backward_fn)(zoo_node *n);

struct zoo_node {
    const char *op;
    zoo_backward_fn backward;
    zoo_tensor *out;
    zoo_tensor *in[ZOO_NODE_MAX_IN];
    int nin;
    zoo_tensor *saved[2]; /* extra tensors the backward needs (masks, statistics) */
    float f[4];           /* saved scalars */
    int i[4];             /* saved integers (axes, flags) */
    zoo_node *prev;
};

/* Computes d(loss)/d(t) for every tensor on the tape that requires grad and
 * accumulates it into the persistent .grad of parameters. loss must hold one
 * element. May run more than once per scope: intermediate grads start afresh. */
void zoo_backward(zoo_tensor *loss);

/* Clears the gradient: the next backward overwrites instead of adding. */
void zoo_zero_grad(zoo_tensor *param);

/* ---- for op implementations (core/ops.c and friends) ---- */

/* true when grad mode is on and any of the inputs requires grad */
bool zoo__needs_grad(int nin, zoo_tensor *const *in);
/* appends a node producing out (and marks out as requiring grad); NULL when no
 * input requires grad or grad mode is off */
zoo_node *zoo__record(const char *op, zoo_tensor *out, zoo_backward_fn fn, int nin, zoo_tensor *const *in);
/* the tensor to write t's gradient into; *beta is 0 when it must be overwritten,
 * 1 when the new gradient must be added to what it holds */
zoo_tensor *zoo__grad_slot(zoo_tensor *t, float *beta);
/* For backward kernels that overwrite their output: grad_begin gives a tensor to
 * write t's new gradient into (t's own grad when it holds nothing yet), grad_end
 * adds it to t's grad unless it already is that grad. */
zoo_tensor *zoo__grad_begin(zoo_tensor *t);
void zoo__grad_end(zoo_tensor *t, zoo_tensor *g);
/* t.grad += g (g is not modified, and may be taken over as t.grad) */
void zoo__grad_accumulate(zoo_tensor *t, zoo_tensor *g);
bool zoo__wants_grad(const zoo_tensor *t);

zoo_node *zoo__tape_tail(void);
void zoo__tape_truncate(zoo_node *mark);

#endif
