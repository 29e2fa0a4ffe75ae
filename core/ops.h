/* Differentiable ops. Each returns a new step-scoped tensor (or a view, for reshape)
 * and, when an input requires grad, records its backward on the tape. An op whose
 * inputs do not fit (shapes, dtypes, axes) returns NULL and leaves "<op>: <what>
 * (shapes ...)" in zoo_last_error(); given a NULL input it returns NULL too, so a
 * chain of ops can be checked once at its end (or with zoo_failed()).
 * Axes count from 0; a negative axis counts from the end (-1 is the last). */
#ifndef ZOO_OPS_H
#define ZOO_OPS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* elementwise with numpy broadcasting: shapes are right-aligned and each dim pair
 * must be equal or contain a 1. [128, 10] + [10] -> [128, 10] */
ZOO_API zoo_tensor *zoo_add(zoo_tensor *a, zoo_tensor *b);
ZOO_API zoo_tensor *zoo_sub(zoo_tensor *a, zoo_tensor *b);
ZOO_API zoo_tensor *zoo_mul(zoo_tensor *a, zoo_tensor *b);
ZOO_API zoo_tensor *zoo_div(zoo_tensor *a, zoo_tensor *b);

/* scalar ops */
ZOO_API zoo_tensor *zoo_add_scalar(zoo_tensor *x, float s);
ZOO_API zoo_tensor *zoo_mul_scalar(zoo_tensor *x, float s);
ZOO_API zoo_tensor *zoo_affine(zoo_tensor *x, float scale, float shift); /* scale*x + shift */
ZOO_API zoo_tensor *zoo_pow_scalar(zoo_tensor *x, float p);
ZOO_API zoo_tensor *zoo_neg(zoo_tensor *x);

/* a: [..., m, k], b: [..., k, n] -> [..., m, n]: one product per entry of the leading
 * (batch) dims, which the two operands share; an operand that is 2-d, or whose leading
 * dims are all 1, is one matrix for every entry. With trans_a, a is [..., k, m]; with
 * trans_b, b is [..., n, k]. */
ZOO_API zoo_tensor *zoo_matmul(zoo_tensor *a, zoo_tensor *b);
ZOO_API zoo_tensor *zoo_matmul_ex(zoo_tensor *a, zoo_tensor *b, bool trans_a, bool trans_b);
/* x: [..., in], weight: [out, in] (PyTorch's layout), bias: [out] or NULL -> [..., out] */
ZOO_API zoo_tensor *zoo_linear(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias);

/* reductions along one axis; keepdim leaves a dim of 1 in its place */
ZOO_API zoo_tensor *zoo_sum(zoo_tensor *x, int axis, bool keepdim);
ZOO_API zoo_tensor *zoo_mean(zoo_tensor *x, int axis, bool keepdim);
/* gradient split evenly among tied maxima, as torch.amax */
ZOO_API zoo_tensor *zoo_max(zoo_tensor *x, int axis, bool keepdim);
/* over all elements -> shape [1] */
ZOO_API zoo_tensor *zoo_sum_all(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_mean_all(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_max_all(zoo_tensor *x);
/* int32 indices of the maxima along axis (first on ties); not differentiable */
ZOO_API zoo_tensor *zoo_argmax(zoo_tensor *x, int axis);
/* sum of x over the dims where shape has 1 (keeping them): the gradient of a broadcast */
ZOO_API zoo_tensor *zoo_sum_to(zoo_tensor *x, zoo_shape shape);

/* shape changes. reshape is a view (no copy); one dim may be -1 (inferred) */
ZOO_API zoo_tensor *zoo_reshape(zoo_tensor *x, zoo_shape shape);
ZOO_API zoo_tensor *zoo_flatten(zoo_tensor *x); /* [n, ...] -> [n, prod(...)] */
/* swaps two dims; copies */
ZOO_API zoo_tensor *zoo_transpose(zoo_tensor *x, int dim0, int dim1);
/* out.shape[i] = x.shape[perm[i]]; copies */
ZOO_API zoo_tensor *zoo_permute(zoo_tensor *x, const int *perm);

/* activations and elementwise math */
ZOO_API zoo_tensor *zoo_relu(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_leaky_relu(zoo_tensor *x, float negative_slope);
ZOO_API zoo_tensor *zoo_tanh(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_sigmoid(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_gelu(zoo_tensor *x); /* exact (erf) form */
ZOO_API zoo_tensor *zoo_silu(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_exp(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_log(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_sqrt(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_abs(zoo_tensor *x);

/* along the last axis */
ZOO_API zoo_tensor *zoo_softmax(zoo_tensor *x);
ZOO_API zoo_tensor *zoo_log_softmax(zoo_tensor *x);
/* self-attention of a fused projection's output (PyTorch's scaled_dot_product_attention,
 * is_causal as causal): qkv [B, T, 3C] holds each position's q, k and v of C = heads * D
 * values -> [B, T, C], each head's softmax(q k^T / sqrt(D) (+ mask)) v side by side;
 * causal: each position attends to itself and the positions before it. One fused
 * kernel, forward and backward, for heads of up to 128 values (wider ones run the ops
 * one by one); the numbers of the composed ops (split, permute, matmul, scale, mask,
 * softmax, matmul). At most 65536 positions. */
ZOO_API zoo_tensor *zoo_attention(zoo_tensor *qkv, int heads, bool causal);
/* layer norm over the last dim (torch's F.layer_norm(x, [d], weight, bias, eps)): x [..., d],
 * weight and bias [d] or NULL (1 and 0) -> x's shape, each row of d as (x - mean) /
 * sqrt(var + eps) * weight + bias with its mean and biased var. eps > 0 (PyTorch: 1e-5).
 * Gradients reach x, weight and bias. */
ZOO_API zoo_tensor *zoo_layer_norm(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, float eps);
/* group norm (torch's F.group_norm(x, groups, weight, bias, eps)): x [N, C, ...] with C a
 * multiple of groups, weight and bias [C] or NULL (1 and 0) -> x's shape; each sample's
 * groups of C/groups consecutive channels (with all their positions) are normalized
 * with their own mean and biased var, then each channel scaled and shifted. eps > 0
 * (PyTorch: 1e-5). Layer norm's kernel over rows of one (sample, group), then a
 * per-channel multiply and add; gradients reach x, weight and bias. */
ZOO_API zoo_tensor *zoo_group_norm(zoo_tensor *x, int groups, zoo_tensor *weight, zoo_tensor *bias, float eps);

/* the same values with no gradient path back to x (torch's x.detach()); a view */
ZOO_API zoo_tensor *zoo_detach(zoo_tensor *x);

/* slices and joins: copies (core/layout.c) */

/* elements start .. start+len-1 of x along axis; int32 tensors too (no gradient) */
ZOO_API zoo_tensor *zoo_slice(zoo_tensor *x, int axis, int64_t start, int64_t len);
/* n equal slices of x along axis into out[0..n-1] (q, k and v out of one projection):
 * 0, or -1 with zoo_last_error() when the axis does not divide by n */
ZOO_API int zoo_chunk(zoo_tensor *x, int n, int axis, zoo_tensor **out);
/* the n tensors joined along axis; every other dim and the dtype must agree */
ZOO_API zoo_tensor *zoo_concat(zoo_tensor *const *xs, int n, int axis);
/* x with `before` and `after` elements of value added at the ends of axis */
ZOO_API zoo_tensor *zoo_pad(zoo_tensor *x, int axis, int64_t before, int64_t after, float value);
/* nearest-neighbour upsampling, x: [n, c, h, w] -> [n, c, h*scale, w*scale] */
ZOO_API zoo_tensor *zoo_upsample2d(zoo_tensor *x, int scale);
/* weight: [vocab, dim], ids: int32 of up to 3 dims -> [..ids' dims, dim], row i the
 * weight row ids[i] names (nn.Embedding). Every id must be in [0, vocab). The weight's
 * gradient sums the rows of each id in a fixed order (the same bits on every backend). */
ZOO_API zoo_tensor *zoo_embedding(zoo_tensor *weight, zoo_tensor *ids);

#ifdef __cplusplus
}
#endif

#endif
