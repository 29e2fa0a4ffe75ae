/* Reverse-mode autodiff on a tape. Each differentiable op that sees an input
 * requiring grad appends a node; creation order is a topological order, so
 * zoo_backward walks the tape from the end. Nodes live in the current scope. */
#ifndef ZOO_AUTOGRAD_H
#define ZOO_AUTOGRAD_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Computes d(loss)/d(t) for every tensor on the tape that requires grad and
 * accumulates it into the persistent .grad of parameters. loss must hold one
 * element. May run more than once per scope: intermediate grads start afresh.
 * 0, or -1 with zoo_last_error() (a loss that is NULL, not a scalar, or not computed
 * from anything that requires grad). */
ZOO_API int zoo_backward(zoo_tensor *loss);

/* Clears the gradient: the next backward overwrites instead of adding. */
ZOO_API void zoo_zero_grad(zoo_tensor *param);

#ifdef __cplusplus
}
#endif

#endif
