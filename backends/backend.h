/* The backend vtable: every kernel zoo runs, as one struct of function pointers.
 * The core calls only these; it never asks which backend it is on. Kernels do no
 * autograd and no shape inference: the caller (core/ops.c) checks shapes and
 * allocates outputs, the kernel only computes.
 *
 * Each kernel's contract is written above its slot: shapes, then formulas. A backend
 * computes in one of two numeric modes, fixed when it is created:
 *   exact  the operations and order written here, bit for bit: every sum in canon.h's
 *          order (its terms are listed with the kernel, in order), products rounded
 *          before they are added (no FMA), exp, log, tanh, sigmoid, erf, pow and cos as
 *          canon_math.h computes them, + - * / and sqrt correctly rounded. Every
 *          backend then gives the CPU's bits on any device and thread count, with
 *          one exception a device declares (flushes_subnormals below): a GPU that
 *          flushes float results below 1.18e-38 to zero and cannot be told not to
 *          (NVIDIA's Vulkan driver) agrees except where values get that small.
 *   fast   the same formulas in any order and with any correct arithmetic (BLAS, FMA,
 *          Winograd, vectorized functions, subgroup sums): each output within NMSE
 *          1e-7 of exact mode (tests/test_consistency.c), unless the kernel states a
 *          looser bound; still the same result from run to run on one machine.
 * Integer outputs (argmax, pooling indices) are the same in both modes. */
#ifndef ZOO_BACKEND_H
#define ZOO_BACKEND_H

#include "base.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* the largest head an attention kernel takes (the Vulkan shaders' private arrays) */
#define ZOO_ATTENTION_MAX_HEAD 128

/* The kernel families' op numbers come from one list, backends/ops.def, which the
 * shaders read too. */
typedef enum zoo_unary_op {
#define ZOO_UNARY_OP(name, number) ZOO_UNARY_##name = number,
#include "ops.def"
    ZOO_UNARY_COUNT
} zoo_unary_op;

/* out = a OP b with numpy broadcasting over right-aligned dims. */
typedef enum zoo_binary_op {
#define ZOO_BINARY_OP(name, number) ZOO_BINARY_##name = number,
#include "ops.def"
    ZOO_BINARY_COUNT
} zoo_binary_op;

/* out has x's ndim; every dim of out is either x's or 1, and the dims that are 1
 * (where x's is not) are reduced. So one kernel does "sum over axis 1", "sum to a
 * broadcast shape" and "sum of everything". An output's terms are the elements of x
 * that reduce into it, in x's row-major order; MEAN is their sum / (float)count; MAX
 * starts from -inf and takes v when v > max. ARGMAX writes int32 indices and reduces
 * exactly one axis; ties pick the first index. */
typedef enum zoo_reduce_op {
#define ZOO_REDUCE_OP(name, number) ZOO_REDUCE_##name = number,
#include "ops.def"
    ZOO_REDUCE_COUNT
} zoo_reduce_op;

typedef enum zoo_rng_dist {
#define ZOO_RNG_DIST(name, number) ZOO_RNG_##name = number,
#include "ops.def"
    ZOO_RNG_COUNT
} zoo_rng_dist;

typedef struct zoo_adam_params {
    float lr, beta1, beta2, eps, weight_decay;
    bool decoupled; /* AdamW: decay applied to the weights, not added to the gradient */
    int64_t step;   /* 1-based, for bias correction */
} zoo_adam_params;

typedef struct zoo_sgd_params {
    float lr, momentum, dampening, weight_decay;
    bool nesterov;
    bool first; /* first step: the momentum buffer takes the gradient as it is */
} zoo_sgd_params;

/* The geometry of a 2-d sliding window, convolution or pooling, in the convolution's
 * direction: x [n, cin, h, w] -> y [n, cout, oh, ow] with weight [cout, cin, kh, kw].
 * Output (oy, ox) reads input rows oy*stride_h - pad_h + ky*dil_h (ky < kh) and columns
 * ox*stride_w - pad_w + kx*dil_w; rows and columns outside x are padding. The caller
 * fills every field, oh = (h + 2*pad_h - dil_h*(kh - 1) - 1) / stride_h + 1 (likewise
 * ow), all at least 1. Pooling has cin == cout == channels and dil 1. Plain int32 so
 * it maps onto a push-constant block. */
typedef struct zoo_conv2d_geom {
    int32_t n, cin, h, w;
    int32_t cout, oh, ow;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t dil_h, dil_w;
} zoo_conv2d_geom;

/* A box of up to 4 dims copied between two tensors' storage, 4-byte elements of either
 * dtype, bits unchanged: for every index j < size (row-major over the box),
 * dst[dst_offset + sum_i j[i]*dst_stride[i]] = src[src_offset + sum_i j[i]*src_stride[i]].
 * Offsets and strides count elements; a src stride of 0 repeats an element (nearest
 * upsampling). The caller keeps every index inside both tensors. Slices, concat, pad,
 * chunk and upsampling are this one kernel. Plain int32 so it maps onto push constants. */
typedef struct zoo_box {
    int32_t size[4];
    int32_t src_offset, src_stride[4];
    int32_t dst_offset, dst_stride[4];
} zoo_box;

typedef enum zoo_pool_op {
#define ZOO_POOL_OP(name, number) ZOO_POOL_##name = number,
#include "ops.def"
    ZOO_POOL_COUNT
} zoo_pool_op;

/* batch norm settings; the kernels read momentum and eps only in training */
typedef struct zoo_batchnorm_params {
    float momentum; /* running = (1 - momentum) * running + momentum * batch (PyTorch: 0.1) */
    float eps;      /* added to the variance (PyTorch: 1e-5) */
    int32_t training;
} zoo_batchnorm_params;

typedef struct zoo_backend_iface {
    /* lifecycle */
    const char *(*name)(void *ctx);
    void (*shutdown)(void *ctx);
    void (*set_threads)(void *ctx, int n);

    /* persistent memory: alloc returns NULL when out of memory */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *data);
    /* step-scoped memory: a bump arena; reset frees all allocations made after mark */
    void *(*arena_alloc)(void *ctx, size_t bytes);
    size_t (*arena_mark)(void *ctx);
    void (*arena_reset)(void *ctx, size_t mark);
    size_t (*peak_bytes)(void *ctx); /* high-water mark of persistent + arena bytes */

    /* transfers; download waits for queued work first */
    void (*upload)(void *ctx, zoo_tensor *dst, const void *src, size_t bytes, size_t offset);
    void (*download)(void *ctx, const zoo_tensor *src, void *dst, size_t bytes, size_t offset);
    void (*fill)(void *ctx, zoo_tensor *t, float value); /* int32 tensors get (int32_t)value */

    /* execution */
    void (*flush)(void *ctx); /* submit queued work */
    void (*sync)(void *ctx);  /* wait for submitted work */
    /* work counted since creation (all 0 on a backend that counts nothing) */
    void (*counters)(void *ctx, zoo_counters *out);

    /* kernels */
    /* a: [batch_a, m, k] (or [batch_a, k, m] with trans_a), b: [batch_b, k, n] (or [n, k]
     * with trans_b) -> c: [batch, m, n], batch_a and batch_b each 1 or batch.
     * c = alpha * op(a) op(b) + beta * c. Tensors of ndim < 3 have batch 1. Each c[i, j]
     * is alpha * S + beta * c[i, j] (beta 0: alpha * S, c not read), S the sum of the
     * rounded products op(a)[i, k] * op(b)[k, j] for k = 0, 1, ... */
    void (*gemm)(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *c,
                 bool trans_a, bool trans_b, float alpha, float beta);
    void (*unary)(void *ctx, zoo_unary_op op, const zoo_tensor *x, zoo_tensor *y, float a, float b);
    /* dx = dy * f'(x); y = f(x) is passed too, since some derivatives read it */
    void (*unary_backward)(void *ctx, zoo_unary_op op, const zoo_tensor *x, const zoo_tensor *y,
                           const zoo_tensor *dy, zoo_tensor *dx, float a, float b);
    /* out may alias a when a has out's shape */
    void (*binary)(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b,
                   zoo_tensor *out);
    void (*reduce)(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *out);
    /* along the last axis; log selects log-softmax. Per row: mx = the max, s = the sum of
     * exp(x - mx) over the row; y = exp(x - mx) / s, or x - (mx + log(s)) */
    void (*softmax)(void *ctx, const zoo_tensor *x, zoo_tensor *y, bool log);
    /* dx from y = softmax(x) (or log_softmax) and dy, per row: softmax: dx = y * (dy - s),
     * s the sum of dy * y; log: dx = dy - exp(y) * s, s the sum of dy */
    void (*softmax_backward)(void *ctx, const zoo_tensor *y, const zoo_tensor *dy, zoo_tensor *dx,
                             bool log);
    /* Self-attention over `heads` heads of D = C / heads values, causal or not. qkv:
     * [B, T, 3C], each position's q, k and v side by side (a fused projection's output;
     * head h's values at h D .. h D + D - 1 of each); y: [B, T, C], the heads side by
     * side; stats: [B, heads, T, 2], each query's softmax max and sum, for the backward.
     * Per sample and head, query i: s_j = S_j * scale, S_j the sum over d of q_d *
     * k_jd, for every key j, or when causal for the keys j <= i and s_j = -inf for the
     * rest; m = the max of the s_j; e_j = exp(s_j - m); sum = the sum of e_0 ..
     * e_{T-1}; p_j = e_j / sum; y_d = the sum of p_j * v_jd over j = 0 .. T-1. (The
     * numbers of the composed ops: a product, a scale, a mask added when causal,
     * softmax, a product.) D is at most ZOO_ATTENTION_MAX_HEAD and T at most 65536
     * (sums of two canon.h levels). */
    void (*attention)(void *ctx, const zoo_tensor *qkv, zoo_tensor *y, zoo_tensor *stats, int64_t heads,
                      float scale, bool causal);
    /* dqkv [B, T, 3C] from qkv, stats and dy [B, T, C], with p_ij recomputed as above
     * (m and sum from stats): dp_ij = the sum over d of dy_id * v_jd; c_i = the sum
     * over j of dp_ij * p_ij; ds_ij = (p_ij * (dp_ij - c_i)) * scale; then, i and j
     * over 0 .. T-1: dq_id = the sum over j of ds_ij * k_jd, dk_jd = the sum over i of
     * ds_ij * q_id, dv_jd = the sum over i of p_ij * dy_id. */
    void (*attention_backward)(void *ctx, const zoo_tensor *qkv, const zoo_tensor *stats, const zoo_tensor *dy,
                               zoo_tensor *dqkv, int64_t heads, float scale, bool causal);
    /* logp: [n, c], labels: int32 [n] -> losses: [n], losses[i] = -logp[i, labels[i]] */
    void (*nll)(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels, zoo_tensor *losses);
    /* dlogp[i, j] = -dlosses[i] where j == labels[i], else 0 */
    void (*nll_backward)(void *ctx, const zoo_tensor *labels, const zoo_tensor *dlosses,
                         zoo_tensor *dlogp);
    /* fused cross-entropy backward: dx[i, j] = (exp(logp[i, j]) - [j == labels[i]]) * dlosses[i] */
    void (*cross_entropy_backward)(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels,
                                   const zoo_tensor *dlosses, zoo_tensor *dx);
    /* out = x with dims permuted: out.shape[i] = x.shape[perm[i]] */
    void (*permute)(void *ctx, const zoo_tensor *x, zoo_tensor *out, const int *perm);
    /* copies the box b describes from src into dst (zoo_box); the rest of dst is untouched */
    void (*copy_box)(void *ctx, const zoo_tensor *src, zoo_tensor *dst, const zoo_box *b);
    /* weight: [v, d], ids: int32 [n], each in [0, v) -> out: [n, d], out[i, :] = weight[ids[i], :] */
    void (*embedding)(void *ctx, const zoo_tensor *weight, const zoo_tensor *ids, zoo_tensor *out);
    /* ids: int32 [n], dy: [n, d] -> dw: [v, d], overwritten: dw[r, :] = the sum, in increasing
     * i from 0, of dy[i, :] over the i with ids[i] == r (0 where there is none). Written as
     * a gather per dw row it needs no atomics, so it is the same in both modes. */
    void (*embedding_backward)(void *ctx, const zoo_tensor *ids, const zoo_tensor *dy, zoo_tensor *dw);
    /* Philox 4x32-10 keyed by seed; element i draws from counter offset + i (core/rng.h) */
    void (*rng_fill)(void *ctx, zoo_tensor *out, zoo_rng_dist dist, uint64_t seed, uint64_t offset,
                     float a, float b);
    /* 2-d convolution family (PyTorch's conv2d, groups 1; g describes every tensor).
     * x: [n, cin, h, w], w: [cout, cin, kh, kw], bias: [cout] or NULL -> y: [n, cout, oh, ow]:
     * y[b, o, oy, ox] = (the sum over (i, ky, kx), in that order, of w[o, i, ky, kx] * x[b, i,
     * iy, ix]) + bias[o], at iy = oy*stride_h - pad_h + ky*dil_h, ix likewise; padding reads
     * 0 and its products are terms too. */
    void (*conv2d)(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
                   const zoo_conv2d_geom *g);
    /* The transpose of conv2d: dy: [n, cout, oh, ow], w: [cout, cin, kh, kw], bias: [cin] or
     * NULL -> dx: [n, cin, h, w], overwritten: for each tap (ky, kx) that reads (iy, ix) from
     * some output (oy, ox) in conv2d, t = the sum over o of w[o, i, ky, kx] * dy[b, o, oy, ox];
     * dx[b, i, iy, ix] = bias[i] (0 without) + the t's in (ky, kx) order, added one by one
     * (for 1x1 stride-1 unpadded kernels, t + bias). It is conv2d's input gradient (bias
     * NULL) and conv_transpose2d's forward, whose PyTorch weight [in, out, kh, kw] is this
     * w (its in = cout here). */
    void (*conv2d_backward_input)(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                                  zoo_tensor *dx, const zoo_conv2d_geom *g);
    /* x: [n, cin, h, w], dy: [n, cout, oh, ow] -> dw: [cout, cin, kh, kw] = the sum over
     * images b of (the sum over (oy, ox) of dy[b, o, oy, ox] * x[b, i, iy, ix]) (iy, ix as
     * in conv2d), and db: [cout] = the sum over b of (the sum of dy[b, o] over (oy, ox)):
     * each image's sum is one term of the sum over images. Either output may be NULL
     * (not wanted); both are overwritten. */
    void (*conv2d_backward_weight)(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                   zoo_tensor *db, const zoo_conv2d_geom *g);
    /* x: [n, c, h, w] -> y: [n, c, oh, ow] (g->cin == g->cout == c). MAX also writes
     * idx: int32 [n, c, oh, ow], the winner's index iy*w + ix in its [h, w] plane; the
     * first maximum in row-major window order wins, a NaN wins over numbers (PyTorch's
     * rule). AVG takes idx NULL. */
    void (*pool2d)(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
                   const zoo_conv2d_geom *g);
    /* dy: [n, c, oh, ow] (and idx from pool2d for MAX, NULL for AVG) -> dx: [n, c, h, w],
     * overwritten. Each dx element is the sum, in increasing (oy, ox) order, of the dy of
     * the windows that read it (MAX: that chose it), AVG's each divided by kh*kw. Written
     * as a gather per dx element it needs no atomics. */
    void (*pool2d_backward)(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx,
                            zoo_tensor *dx, const zoo_conv2d_geom *g);
    /* Batch norm over axis 1: x: [n, c, ...] (inner = the product of the dims after c)
     * -> y: x's shape; gamma, beta: [c] or NULL (1 and 0); save_mean, save_invstd: [c].
     * Training: per-channel mean and biased variance over (n, inner) normalize x and go to
     * save_mean and save_invstd = 1/sqrt(var + eps); running_mean and running_var (both
     * or neither NULL) are updated in place with momentum, the variance unbiased (times
     * m/(m-1), m = n*inner > 1), as PyTorch. Eval: running_mean and 1/sqrt(running_var +
     * eps) normalize and are written to save_mean and save_invstd.
     * y = (x - mean) * invstd * gamma + beta. In float, with the channel's sums over its
     * (b, inner) elements in order: mean = sum(x) / m, q = sum((x - mean) * (x - mean)),
     * invstd = 1 / sqrt(q / m + eps), the unbiased variance q / (m - 1), running = (1 -
     * momentum) * running + momentum * batch; y = x * scale + shift with scale = invstd *
     * gamma, shift = beta - mean * scale. */
    void (*batchnorm)(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                      zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                      zoo_tensor *save_invstd, const zoo_batchnorm_params *p);
    /* From x, dy (x's shape) and batchnorm's save_mean, save_invstd, with xhat = (x - mean)
     * * invstd and sums over (n, inner): dgamma = sum(dy * xhat), dbeta = sum(dy); training:
     * dx = gamma * invstd * (dy - sum(dy)/m - xhat * sum(dy * xhat)/m); eval: dx = gamma *
     * invstd * dy. gamma NULL reads 1; each of dx, dgamma, dbeta may be NULL (not wanted);
     * all are overwritten. In float: sd = sum(dy), dot = sum(dy * (x - mean)) over the
     * channel's elements in order; dgamma = dot * invstd, dbeta = sd; dx = (dy - sd / m -
     * (x - mean) * k) * (invstd * gamma), k = dot * invstd * invstd / m (eval: sd, k = 0). */
    void (*batchnorm_backward)(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                               const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                               zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p);
    /* Layer norm and group norm, one kernel. groups 0: layer norm over the last dim
     * (PyTorch's F.layer_norm): x: [rows, d] (d the last dim, rows the product of the
     * others), gamma, beta: [d] or NULL (1 and 0). groups > 0: group norm (F.group_norm):
     * x: [n, c, inner...] with c a multiple of groups, each sample's channels cut into
     * groups of cpg = c / groups consecutive channels; row r = (sample, group) holds d =
     * cpg * inner consecutive elements; gamma, beta: [c] or NULL. Either way -> y: x's
     * shape; mean, rstd: [rows], kept for the backward; the parameter of element k of
     * row r is that of column k (layer norm) or of channel (r % groups) * cpg + k / inner
     * (group norm; zoo_norm_dims). In float, per row, each sum over the row's d elements
     * in order: mean = sum(x) / d, q = sum((x - mean) * (x - mean)), rstd = 1 / sqrt(q / d
     * + eps) (the biased variance); xhat = (x - mean) * rstd, y = xhat * gamma + beta
     * (formulas.h's zoo_ln_*). */
    void (*layernorm)(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *gamma,
                      const zoo_tensor *beta, zoo_tensor *y, zoo_tensor *mean, zoo_tensor *rstd, float eps);
    /* From x, dy (x's shape), gamma (or NULL: 1) and layernorm's mean, rstd, the rows and
     * parameters as layernorm's with the same groups: dx = rstd * (g - mean_row(g) - xhat
     * * mean_row(g * xhat)) with g = dy * gamma; dgamma = sum of dy * xhat, dbeta = sum of
     * dy, per parameter over the elements it scales. Each of dx, dgamma, dbeta may be NULL
     * (not wanted); all are overwritten. In float, xhat = (x - mean) * rstd as layernorm
     * rounds it and g = dy * gamma: per row, sums over its d elements in order, sg =
     * sum(g), sgx = sum(g * xhat); dx = ((g - sg / d) - xhat * (sgx / d)) * rstd. Per
     * parameter, sums in order over (sample, position) (layer norm: over the rows; group
     * norm: over the channel's elements of sample 0, then sample 1, ...): dgamma = sum(dy
     * * xhat), dbeta = sum(dy). */
    void (*layernorm_backward)(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *dy,
                               const zoo_tensor *gamma, const zoo_tensor *mean, const zoo_tensor *rstd, zoo_tensor *dx,
                               zoo_tensor *dgamma, zoo_tensor *dbeta);
    /* y = a*x + b*y in place, both [n] (formulas.h's zoo_axpby): an EMA of weights */
    void (*axpby)(void *ctx, const zoo_tensor *x, zoo_tensor *y, float a, float b);
    /* fused optimizer updates over whole tensors; state tensors are updated in place */
    void (*sgd_update)(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *momentum_buf,
                       const zoo_sgd_params *p);
    void (*adam_update)(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *m,
                        zoo_tensor *v, const zoo_adam_params *p);
} zoo_backend_iface;

typedef struct zoo_backend {
    zoo_backend_iface iface;
    void *ctx;
    bool exact; /* the numeric mode it computes in */
    /* subnormal floats (below 1.18e-38) may become zero on this device: its shaders
       cannot ask to keep them (Vulkan's shaderDenormPreserveFloat32) */
    bool flushes_subnormals;
} zoo_backend;

/* What a backend is created with. */
typedef struct zoo_backend_config {
    int threads; /* CPU threads; <= 0: one per core */
    bool exact;  /* exact numeric mode (see the top of this file); false: fast */
    /* the process's rank among those of one data-parallel job on its machine (0 alone):
       a GPU backend spreads such processes over the machine's devices */
    int local_rank;
} zoo_backend_config;

/* The backends of this build by name ("cpu", and "vulkan" when built with it): a new
 * backend, or NULL with a message in zoo_last_error() (unknown name, no device). The
 * caller frees it with zoo_backend_free. */
zoo_backend *zoo_backend_new(const char *name, const zoo_backend_config *cfg);
void zoo_backend_free(zoo_backend *be);
/* "cpu, vulkan": the names zoo_backend_new knows in this build */
const char *zoo_backend_names(void);
/* Prints the devices backend `name` could run on, one a line with the one it picks
 * marked; the number of devices, or -1 with zoo_last_error() (no such backend, no
 * driver). A backend on the host alone prints "0: the host's CPU". */
int zoo_backend_list_devices(const char *name, FILE *out);

/* the constructors behind the names */
zoo_backend *zoo_backend_cpu_new(const zoo_backend_config *cfg);

/* A backend that forwards every call to `inner` (which it then owns) and adds up the
 * time of each kernel, waiting for it to finish (so it serializes an asynchronous
 * device). zoo_backend_profile_print lists the kernels by time, per step when steps is
 * positive; it returns -1 when be is not a profiling backend. */
zoo_backend *zoo_backend_profile_new(zoo_backend *inner);
int zoo_backend_profile_print(const zoo_backend *be, FILE *out, int64_t steps);
int zoo_backend_profile_reset(zoo_backend *be); /* forgets the times so far */

#endif
