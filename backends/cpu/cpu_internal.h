/* Inside the CPU backend: the context every file shares, its scratch memory, and the
 * kernels each file defines for the vtable that cpu.c assembles. One file per op
 * family, as in backends/vulkan/; nothing outside backends/cpu/ includes this.
 *
 * Each kernel serves both numeric modes (backend.h): exact mode sums in canon.h's
 * order with canon_math.h's functions; fast mode uses OpenBLAS, Winograd, sums the
 * compiler vectorizes and vecmath.c's functions. Neither depends on the thread count
 * in a way that changes results from run to run. */
#ifndef ZOO_CPU_INTERNAL_H
#define ZOO_CPU_INTERNAL_H

#include "../arena.h"
#include "../backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* below this many elements a loop runs on one thread: waking the team costs more */
#define PAR_MIN 32768

typedef struct cpu_ctx {
    zoo_arena arena;
    int threads;
    bool exact;
    size_t persistent_bytes;
    size_t peak;
} cpu_ctx;

static inline float *f32(const zoo_tensor *t) { return (float *)t->data; }
static inline int32_t *i32(const zoo_tensor *t) { return (int32_t *)t->data; }

/* Scratch for one kernel call comes from the arena and goes back (cpu_release) before
 * the call returns, so the blocks are reused from step to step (no page faults).
 * Running out of memory ends the process with a message. */
float *cpu_scratch(cpu_ctx *c, size_t floats);
size_t cpu_mark(cpu_ctx *c);
void cpu_release(cpu_ctx *c, size_t mark);

/* ---------------------------------------------------------------- the kernels */

/* matmul.c */
void cpu_gemm(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *c, bool ta, bool tb, float alpha,
              float beta);
/* One product C = alpha op(A) op(B) + beta C (row-major, leading dims lda..ldc) on
 * OpenBLAS with the backend's threads, or on this thread when called inside a parallel
 * region (fast mode's products) */
void cpu_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* elementwise.c */
void cpu_fill(void *ctx, zoo_tensor *t, float value);
void cpu_unary(void *ctx, zoo_unary_op op, const zoo_tensor *x, zoo_tensor *y, float a, float b);
void cpu_unary_backward(void *ctx, zoo_unary_op op, const zoo_tensor *x, const zoo_tensor *y, const zoo_tensor *dy,
                        zoo_tensor *dx, float a, float b);
void cpu_binary(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *out);
void cpu_permute(void *ctx, const zoo_tensor *x, zoo_tensor *out, const int *perm);
void cpu_copy_box(void *ctx, const zoo_tensor *src, zoo_tensor *dst, const zoo_box *b);
void cpu_embedding(void *ctx, const zoo_tensor *weight, const zoo_tensor *ids, zoo_tensor *out);
void cpu_embedding_backward(void *ctx, const zoo_tensor *ids, const zoo_tensor *dy, zoo_tensor *dw);
void cpu_axpby(void *ctx, const zoo_tensor *x, zoo_tensor *y, float a, float b);
void cpu_rng_fill(void *ctx, zoo_tensor *out, zoo_rng_dist dist, uint64_t seed, uint64_t offset, float a, float b);

/* reduce.c */
void cpu_reduce(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *out);
void cpu_softmax(void *ctx, const zoo_tensor *x, zoo_tensor *y, bool log);
void cpu_softmax_backward(void *ctx, const zoo_tensor *y, const zoo_tensor *dy, zoo_tensor *dx, bool log);
void cpu_nll(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels, zoo_tensor *losses);
void cpu_nll_backward(void *ctx, const zoo_tensor *labels, const zoo_tensor *dlosses, zoo_tensor *dlogp);
void cpu_cross_entropy_backward(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels,
                                const zoo_tensor *dlosses, zoo_tensor *dx);
/* the sum of p[0], p[stride], ... (n terms) in the context's mode: canon.h's order, or
 * any (fast) */
float cpu_sum(const cpu_ctx *c, const float *p, int64_t n, int64_t stride);

/* attention.c */
void cpu_attention(void *ctx, const zoo_tensor *qkv, zoo_tensor *y, zoo_tensor *stats, int64_t heads, float scale,
                   bool causal);
void cpu_attention_backward(void *ctx, const zoo_tensor *qkv, const zoo_tensor *stats, const zoo_tensor *dy,
                            zoo_tensor *dqkv, int64_t heads, float scale, bool causal);

/* conv.c */
void cpu_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
                const zoo_conv2d_geom *g);
void cpu_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                               zoo_tensor *dx, const zoo_conv2d_geom *g);
void cpu_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                zoo_tensor *db, const zoo_conv2d_geom *g);

/* the weight gradient's sum over images in fast mode: the images split into a number
 * of chunks fixed by the shapes alone, each summed into its own partial, the partials
 * then added in chunk order (so the result does not depend on the thread count) */
int cpu_wgrad_chunks(int64_t n, int64_t wsize);
void cpu_sum_partials(const float *parts, int nparts, int64_t stride, float *dst, int64_t len);

/* winograd.c: fast mode's 3x3 stride-1 convolutions of 8 or more input channels */
bool cpu_conv_is_winograd(const zoo_conv2d_geom *g);
void cpu_wino_conv2d(cpu_ctx *c, const float *x, const float *w, const float *bias, float *y,
                     const zoo_conv2d_geom *g, bool par);
void cpu_wino_conv2d_backward_input(cpu_ctx *c, const float *dy, const float *w, const float *bias, float *dx,
                                    const zoo_conv2d_geom *g, bool par);
void cpu_wino_conv2d_backward_weight(cpu_ctx *c, const float *x, const float *dy, float *dw, float *db,
                                     const zoo_conv2d_geom *g, bool par);

/* pool.c */
void cpu_pool2d(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
                const zoo_conv2d_geom *g);
void cpu_pool2d_backward(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx, zoo_tensor *dx,
                         const zoo_conv2d_geom *g);

/* norm.c */
void cpu_batchnorm(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                   zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                   zoo_tensor *save_invstd, const zoo_batchnorm_params *p);
void cpu_batchnorm_backward(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                            const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                            zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p);
void cpu_layernorm(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *gamma, const zoo_tensor *beta,
                   zoo_tensor *y, zoo_tensor *mean, zoo_tensor *rstd, float eps);
void cpu_layernorm_backward(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *dy,
                            const zoo_tensor *gamma, const zoo_tensor *mean, const zoo_tensor *rstd, zoo_tensor *dx,
                            zoo_tensor *dgamma, zoo_tensor *dbeta);

/* optim.c */
void cpu_sgd_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *momentum_buf,
                    const zoo_sgd_params *p);
void cpu_adam_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *m, zoo_tensor *v,
                     const zoo_adam_params *p);

#endif
