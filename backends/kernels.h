/* Host-side facts about kernel arguments that every backend derives the same way:
 * matrix dims, the permute plan, which convolutions are pointwise, Adam's per-step
 * scalars. One copy here, so the backends cannot drift apart (per-element formulas
 * live in formulas.h, sums in canon.h). */
#ifndef ZOO_KERNELS_H
#define ZOO_KERNELS_H

#include "backend.h"

#include <math.h>

/* t's dims right-aligned into 4, leading 1s */
static inline void zoo_dims4(const zoo_tensor *t, int64_t d[4]) {
    int off = 4 - t->shape.ndim;
    for (int i = 0; i < 4; i++) d[i] = i < off ? 1 : t->shape.d[i - off];
}

/* rows and cols of the last two dims; leading dims fold into the batch */
static inline void zoo_mat_dims(const zoo_tensor *t, int64_t *batch, int64_t *rows, int64_t *cols) {
    int nd = t->shape.ndim;
    *cols = nd >= 1 ? t->shape.d[nd - 1] : 1;
    *rows = nd >= 2 ? t->shape.d[nd - 2] : 1;
    *batch = t->numel / (*rows * *cols);
}

/* gemm's operands (backend.h): op(a) [m, k] times op(b) [k, n] into c [batch, m, n];
 * a and b are shared by the batch when their own batch is 1 (stride 0) */
typedef struct zoo_gemm_dims {
    int64_t batch, m, n, k;
    int64_t lda, ldb, ldc;                /* row strides of a, b, c as stored */
    int64_t stride_a, stride_b, stride_c; /* elements between batch entries */
} zoo_gemm_dims;

static inline zoo_gemm_dims zoo_gemm_dims_of(const zoo_tensor *a, const zoo_tensor *b, const zoo_tensor *c, bool ta,
                                             bool tb) {
    int64_t ba, ar, ac, bb, br, bc, nc, cr, cc;
    zoo_mat_dims(a, &ba, &ar, &ac);
    zoo_mat_dims(b, &bb, &br, &bc);
    zoo_mat_dims(c, &nc, &cr, &cc);
    zoo_gemm_dims d = {.batch = nc, .m = ta ? ac : ar, .k = ta ? ar : ac, .n = tb ? br : bc,
                       .lda = ac, .ldb = bc, .ldc = cc};
    d.stride_a = ba == 1 ? 0 : ar * ac;
    d.stride_b = bb == 1 ? 0 : br * bc;
    d.stride_c = cr * cc;
    return d;
}

/* How a permute kernel reads x: out, padded to 4 dims on the left, is d[0..3], and out's
 * element (i0, i1, i2, i3) is x's element at i0*st[0] + i1*st[1] + i2*st[2] + i3*st[3]. */
static inline void zoo_permute_plan(const zoo_tensor *x, const zoo_tensor *out, const int *perm, int64_t d[4],
                                    int64_t st[4]) {
    int nd = x->shape.ndim;
    int64_t xs[ZOO_MAX_DIMS], s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        xs[i] = s;
        s *= x->shape.d[i];
    }
    for (int i = 0; i < 4; i++) d[i] = 1, st[i] = 0;
    for (int i = 0; i < nd; i++) {
        d[4 - nd + i] = out->shape.d[i];
        st[4 - nd + i] = xs[perm[i]];
    }
}

/* 1x1, stride 1, no padding: an image is already its own column matrix */
static inline bool zoo_conv_is_pointwise(const zoo_conv2d_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0;
}

/* rows of the column matrix (cin*kh*kw) and output positions per image (oh*ow) */
static inline int64_t zoo_conv_depth(const zoo_conv2d_geom *g) { return (int64_t)g->cin * g->kh * g->kw; }
static inline int64_t zoo_conv_positions(const zoo_conv2d_geom *g) { return (int64_t)g->oh * g->ow; }

/* batch norm's x [n, c, inner...] as three numbers */
static inline void zoo_bn_dims(const zoo_tensor *x, int64_t *n, int64_t *c, int64_t *inner) {
    *n = x->shape.d[0];
    *c = x->shape.d[1];
    *inner = x->numel / (*n * *c);
}

/* backend.h's layernorm as numbers: x is rows x d elements, row r normalized; element
 * k of row r takes parameter (r % groups) * cpg + k / inner of the `params` (gamma and
 * beta's length); each parameter's gradient sums over `samples` runs of inner
 * elements. Layer norm (groups 0): one group, params = cpg = d, inner 1, a sample per
 * row. Group norm over x [n, c, inner...]: rows = n * groups, params = c. */
typedef struct zoo_norm_dims {
    int64_t rows, d, groups, cpg, inner, params, samples;
} zoo_norm_dims;

static inline zoo_norm_dims zoo_norm_dims_of(const zoo_tensor *x, int64_t groups) {
    zoo_norm_dims n;
    if (groups == 0) { /* layer norm: one group of d channels, each a single element */
        n.d = x->shape.d[x->shape.ndim - 1];
        n.rows = x->numel / n.d;
        n.groups = 1;
        n.cpg = n.params = n.d;
        n.inner = 1;
        n.samples = n.rows;
        return n;
    }
    n.samples = x->shape.d[0];
    n.params = x->shape.d[1];
    n.groups = groups;
    n.rows = n.samples * groups;
    n.d = x->numel / n.rows;
    n.cpg = n.params / groups;
    n.inner = n.d / n.cpg;
    return n;
}

/* Adam's per-step scalars, computed on the host once per update (formulas.h applies
 * them per element): step_size = lr / (1 - beta1^t), inv_sqrt_bc2 = 1 / sqrt(1 -
 * beta2^t); Adam's L2 term wd, AdamW's decoupled decay factor 1 - lr*wd. */
typedef struct zoo_adam_scalars {
    float b1, b2, eps, wd, decay, step_size, inv_sqrt_bc2;
} zoo_adam_scalars;

static inline zoo_adam_scalars zoo_adam_scalars_of(const zoo_adam_params *p) {
    float bc1 = 1.0f - powf(p->beta1, (float)p->step);
    float bc2 = 1.0f - powf(p->beta2, (float)p->step);
    return (zoo_adam_scalars){
        .b1 = p->beta1,
        .b2 = p->beta2,
        .eps = p->eps,
        .wd = p->decoupled ? 0.0f : p->weight_decay,
        .decay = p->decoupled ? 1.0f - p->lr * p->weight_decay : 1.0f,
        .step_size = p->lr / bc1,
        .inv_sqrt_bc2 = 1.0f / sqrtf(bc2),
    };
}

#endif
