/* Differentiable ops. Each returns a new step-scoped tensor (or a view, for reshape)
 * and, when an input requires grad, records its backward on the tape. Shape errors
 * are the caller's bug: they print the op and the shapes and exit(1).
 * Axes count from 0; a negative axis counts from the end (-1 is the last). */
#ifndef ZOO_OPS_H
#define ZOO_OPS_H

#include "tensor.h"

/* elementwise with numpy broadcasting: shapes are right-aligned and each dim pair
 * must be equal or contain a 1. [128, 10] + [10] -> [128, 10] */
zoo_tensor *zoo_add(zoo_tensor *a, zoo_tensor *b);
zoo_tensor *zoo_sub(zoo_tensor *a, zoo_tensor *b);
zoo_tensor *zoo_mul(zoo_tensor *a, zoo_tensor *b);
zoo_tensor *zoo_div(zoo_tensor *a, zoo_tensor *b);

/* scalar ops */
zoo_tensor *zoo_add_scalar(zoo_tensor *x, float s);
zoo_tensor *zoo_mul_scalar(zoo_tensor *x, float s);
zoo_tensor *zoo_affine(zoo_tensor *x, float scale, float shift); /* scale*x + shift */
zoo_tensor *zoo_pow_scalar(zoo_tensor *x, float p);
zoo_tensor *zoo_neg(zoo_tensor *x);

/* a: [..., m, k], b: [..., k, n] -> [..., m, n]. Up to one leading batch dim; a
 * 2-d operand is shared by every batch entry. With trans_a, a is [..., k, m];
 * with trans_b, b is [..., n, k]. */
zoo_tensor *zoo_matmul(zoo_tensor *a, zoo_tensor *b);
zoo_tensor *zoo_matmul_ex(zoo_tensor *a, zoo_tensor *b, bool trans_a, bool trans_b);
/* x: [n, in], weight: [out, in] (PyTorch's layout), bias: [out] or NULL -> [n, out] */
zoo_tensor *zoo_linear(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias);

/* reductions along one axis; keepdim leaves a dim of 1 in its place */
zoo_tensor *zoo_sum(zoo_tensor *x, int axis, bool keepdim);
zoo_tensor *zoo_mean(zoo_tensor *x, int axis, bool keepdim);
/* gradient split evenly among tied maxima, as torch.amax */
zoo_tensor *zoo_max(zoo_tensor *x, int axis, bool keepdim);
/* over all elements -> shape [1] */
zoo_tensor *zoo_sum_all(zoo_tensor *x);
zoo_tensor *zoo_mean_all(zoo_tensor *x);
zoo_tensor *zoo_max_all(zoo_tensor *x);
/* int32 indices of the maxima along axis (first on ties); not differentiable */
zoo_tensor *zoo_argmax(zoo_tensor *x, int axis);
/* sum of x over the dims where shape has 1 (keeping them): the gradient of a broadcast */
zoo_tensor *zoo_sum_to(zoo_tensor *x, zoo_shape shape);

/* shape changes. reshape is a view (no copy); one dim may be -1 (inferred) */
zoo_tensor *zoo_reshape(zoo_tensor *x, zoo_shape shape);
zoo_tensor *zoo_flatten(zoo_tensor *x); /* [n, ...] -> [n, prod(...)] */
/* swaps two dims; copies */
zoo_tensor *zoo_transpose(zoo_tensor *x, int dim0, int dim1);
/* out.shape[i] = x.shape[perm[i]]; copies */
zoo_tensor *zoo_permute(zoo_tensor *x, const int *perm);

/* activations and elementwise math */
zoo_tensor *zoo_relu(zoo_tensor *x);
zoo_tensor *zoo_leaky_relu(zoo_tensor *x, float negative_slope);
zoo_tensor *zoo_tanh(zoo_tensor *x);
zoo_tensor *zoo_sigmoid(zoo_tensor *x);
zoo_tensor *zoo_gelu(zoo_tensor *x); /* exact (erf) form */
zoo_tensor *zoo_silu(zoo_tensor *x);
zoo_tensor *zoo_exp(zoo_tensor *x);
zoo_tensor *zoo_log(zoo_tensor *x);
zoo_tensor *zoo_sqrt(zoo_tensor *x);
zoo_tensor *zoo_abs(zoo_tensor *x);

/* along the last axis */
zoo_tensor *zoo_softmax(zoo_tensor *x);
zoo_tensor *zoo_log_softmax(zoo_tensor *x);

/* the same values with no gradient path back to x (torch's x.detach()); a view */
zoo_tensor *zoo_detach(zoo_tensor *x);

/* ---- for ops defined in other files (loss.c, nn.c) ---- */
zoo_tensor *zoo__unary(const char *name, zoo_unary_op op, zoo_tensor *x, float a, float b);
/* exits with "<op>: <what>" plus the shapes of a and b */
void zoo__shape_error(const char *op, const char *what, const zoo_tensor *a, const zoo_tensor *b)
    __attribute__((noreturn));

#endif
