/* Fast mode's elementary functions, over whole arrays so that the compiler vectorizes
 * them (AVX2 and AVX-512 clones picked at load time, FMA allowed). Each is within
 * 2 ulp of the true value (tests/test_canon.c measures them); exact mode uses
 * canon_math.h instead. x and y may be the same array. */
#ifndef ZOO_CPU_VECMATH_H
#define ZOO_CPU_VECMATH_H

#include "../backend.h"

#include <stdint.h>

/* y = f(x) for the unary ops with an elementary function in them: POW, TANH, SIGMOID,
 * GELU, SILU, EXP, LOG (the formulas of formulas.h) */
void cpu_vunary(zoo_unary_op op, const float *x, float *y, int64_t n, float a);
/* dx = dy * f'(x) for POW, GELU and SILU (the others need no elementary function);
 * y = f(x), which GELU's reads */
void cpu_vunary_backward(zoo_unary_op op, const float *x, const float *y, const float *dy, float *dx, int64_t n,
                         float a);
/* y = exp(x - shift), returning the sum of the y (in any order) */
float cpu_vexp_sum(const float *x, float *y, int64_t n, float shift);
/* y = erf(x) (GELU's; exposed for the accuracy test) */
void cpu_verf(const float *x, float *y, int64_t n);
/* the sum of p[0..n) in any order */
float cpu_vsum(const float *p, int64_t n);
/* the sum of a[i] * b[i] in any order */
float cpu_vdot(const float *a, const float *b, int64_t n);

/* Winograd F(2x2, 3x3)'s kernel transform (winograd.c): u[k * us + q] (k < 16) =
 * (G g G^T)[k / 4][k % 4] for the n row-major 3x3 kernels g = w + 9q */
void cpu_vwino_kernels(const float *w, int64_t n, float *u, int64_t us);

/* A product with a shallow depth k, where a BLAS call spends its time packing (a
 * convolution over one or a few input channels): y [m, n] = a [m, k] b [k, n], plus
 * bias[i] on row i when bias is not NULL. */
void cpu_vgemm_shallow(const float *a, const float *b, const float *bias, float *y, int64_t m, int64_t k, int64_t n);
/* the same for columns j0 .. j1 - 1 of y alone */
void cpu_vgemm_shallow_cols(const float *a, const float *b, const float *bias, float *y, int64_t m, int64_t k,
                            int64_t n, int64_t j0, int64_t j1);

/* One head of fast mode's attention (attention.c; backend.h's formulas, scale folded
 * into q): q, k and v [t, dh] with rows ld floats apart, y and dy rows ldy apart, dq,
 * dk and dv rows ld apart; stats [t, 2]. Only the unmasked part of each [t, t] block
 * is computed (causal: half of it), 16 keys at a time. work: cpu_vattention_work
 * floats. */
size_t cpu_vattention_work(int64_t t, int64_t dh);
void cpu_vattention_head(const float *q, const float *k, const float *v, int64_t ld, float *y, int64_t ldy,
                         float *stats, int64_t t, int64_t dh, float scale, bool causal, float *work);
void cpu_vattention_head_backward(const float *q, const float *k, const float *v, int64_t ld, const float *dy,
                                  int64_t ldy, const float *stats, float *dq, float *dk, float *dv, int64_t t,
                                  int64_t dh, float scale, bool causal, float *work);

#endif
