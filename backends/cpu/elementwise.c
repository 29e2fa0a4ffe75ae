/* Elementwise kernels: fill, unary ops and their derivatives, broadcasting binary ops,
 * permute, random fills. Per-element formulas are formulas.h's (shared with the
 * shaders); in fast mode the ops with an elementary function in them go through
 * vecmath.c instead of canon_math.h. */
#include "cpu_internal.h"
#include "../formulas.h"
#include "../kernels.h"
#include "../philox.h"
#include "vecmath.h"

#include <string.h>

void cpu_fill(void *ctx, zoo_tensor *t, float value) {
    (void)ctx;
    int64_t n = t->numel;
    if (t->dtype == ZOO_I32) {
        int32_t *p = i32(t), v = (int32_t)value;
        for (int64_t i = 0; i < n; i++) p[i] = v;
        return;
    }
    float *p = f32(t);
    if (value == 0.0f) {
        memset(p, 0, (size_t)n * 4);
        return;
    }
    for (int64_t i = 0; i < n; i++) p[i] = value;
}

/* ---------------------------------------------------------------- unary */

/* does fast mode compute op with vecmath.c? */
static bool has_elementary_function(zoo_unary_op op) {
    return op == ZOO_UNARY_POW || op == ZOO_UNARY_TANH || op == ZOO_UNARY_SIGMOID || op == ZOO_UNARY_GELU ||
           op == ZOO_UNARY_SILU || op == ZOO_UNARY_EXP || op == ZOO_UNARY_LOG;
}

/* vecmath over blocks of the array, the blocks shared among the threads */
#define VEC_BLOCK 4096

/* Each case runs formulas.h's function with a constant op, so the compiler folds the
 * switch away and vectorizes the loop. */
#define UNARY_LOOP(OP)                                                                             \
    case OP:                                                                                       \
        _Pragma("omp parallel for simd if (n >= PAR_MIN) schedule(static)") for (int64_t i = 0;   \
                                                                                 i < n; i++)       \
            py[i] = zoo_unary_f(OP, px[i], a, b);                                                  \
        return;

void cpu_unary(void *ctx, zoo_unary_op op, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    cpu_ctx *c = ctx;
    int64_t n = x->numel;
    if (op == ZOO_UNARY_COPY) {
        if (x->data != y->data) memcpy(y->data, x->data, (size_t)n * 4);
        return;
    }
    const float *px = f32(x);
    float *py = f32(y);
    if (!c->exact && has_elementary_function(op)) {
#pragma omp parallel for if (n >= PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i += VEC_BLOCK)
            cpu_vunary(op, px + i, py + i, n - i < VEC_BLOCK ? n - i : VEC_BLOCK, a);
        return;
    }
    switch (op) {
        UNARY_LOOP(ZOO_UNARY_AFFINE)
        UNARY_LOOP(ZOO_UNARY_POW)
        UNARY_LOOP(ZOO_UNARY_RELU)
        UNARY_LOOP(ZOO_UNARY_LEAKY_RELU)
        UNARY_LOOP(ZOO_UNARY_TANH)
        UNARY_LOOP(ZOO_UNARY_SIGMOID)
        UNARY_LOOP(ZOO_UNARY_GELU)
        UNARY_LOOP(ZOO_UNARY_SILU)
        UNARY_LOOP(ZOO_UNARY_EXP)
        UNARY_LOOP(ZOO_UNARY_LOG)
        UNARY_LOOP(ZOO_UNARY_SQRT)
        UNARY_LOOP(ZOO_UNARY_ABS)
    default: ZOO_ASSERT(!"unknown unary op");
    }
}

#define UNARY_BACKWARD_LOOP(OP)                                                                    \
    case OP:                                                                                       \
        _Pragma("omp parallel for simd if (n >= PAR_MIN) schedule(static)") for (int64_t i = 0;   \
                                                                                 i < n; i++)       \
            pd[i] = zoo_unary_df(OP, px[i], py[i], pg[i], a);                                      \
        return;

void cpu_unary_backward(void *ctx, zoo_unary_op op, const zoo_tensor *x, const zoo_tensor *y, const zoo_tensor *dy,
                        zoo_tensor *dx, float a, float b) {
    cpu_ctx *c = ctx;
    (void)b;
    int64_t n = x->numel;
    /* the ops that read y = f(x) always get it; the others read x in its place, unused */
    const float *px = f32(x), *py = y ? f32(y) : px, *pg = f32(dy);
    float *pd = f32(dx);
    if (!c->exact && (op == ZOO_UNARY_POW || op == ZOO_UNARY_GELU || op == ZOO_UNARY_SILU)) {
#pragma omp parallel for if (n >= PAR_MIN) schedule(static)
        for (int64_t i = 0; i < n; i += VEC_BLOCK)
            cpu_vunary_backward(op, px + i, py + i, pg + i, pd + i, n - i < VEC_BLOCK ? n - i : VEC_BLOCK, a);
        return;
    }
    switch (op) {
        UNARY_BACKWARD_LOOP(ZOO_UNARY_COPY)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_AFFINE)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_POW)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_RELU)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_LEAKY_RELU)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_TANH)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_SIGMOID)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_GELU)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_SILU)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_EXP)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_LOG)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_SQRT)
        UNARY_BACKWARD_LOOP(ZOO_UNARY_ABS)
    default: ZOO_ASSERT(!"unknown unary op");
    }
}

/* ---------------------------------------------------------------- binary */

/* right-aligned 4-d view: dims and element strides, stride 0 on broadcast dims */
static void bcast4(const zoo_tensor *t, const zoo_tensor *out, int64_t dim[4], int64_t stride[4]) {
    int64_t d[4], od[4];
    zoo_dims4(t, d);
    zoo_dims4(out, od);
    int64_t s = 1;
    for (int i = 3; i >= 0; i--) {
        stride[i] = (d[i] == 1 && od[i] != 1) ? 0 : s;
        dim[i] = od[i];
        s *= d[i];
    }
}

static inline float bin(zoo_binary_op op, float x, float y) {
    switch (op) {
    case ZOO_BINARY_ADD: return x + y;
    case ZOO_BINARY_SUB: return x - y;
    case ZOO_BINARY_MUL: return x * y;
    case ZOO_BINARY_DIV: return x / y;
    case ZOO_BINARY_EQ: return x == y ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

/* one loop per op with the op constant, so each vectorizes */
#define BIN_CASES(LOOP)                                                                            \
    switch (op) {                                                                                  \
    case ZOO_BINARY_ADD: LOOP(ZOO_BINARY_ADD) break;                                               \
    case ZOO_BINARY_SUB: LOOP(ZOO_BINARY_SUB) break;                                               \
    case ZOO_BINARY_MUL: LOOP(ZOO_BINARY_MUL) break;                                               \
    case ZOO_BINARY_DIV: LOOP(ZOO_BINARY_DIV) break;                                               \
    case ZOO_BINARY_EQ: LOOP(ZOO_BINARY_EQ) break;                                                 \
    default: ZOO_ASSERT(!"unknown binary op");                                                     \
    }

void cpu_binary(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *out) {
    (void)ctx;
    const float *pa = f32(a), *pb = f32(b);
    float *po = f32(out);
    int64_t n = out->numel;
    if (a->numel == n && b->numel == n) { /* same shape */
#define SAME(OP)                                                                                   \
    _Pragma("omp parallel for simd if (n >= PAR_MIN) schedule(static)") for (int64_t i = 0; i < n; \
                                                                                 i++) po[i] =      \
        bin(OP, pa[i], pb[i]);
        BIN_CASES(SAME)
#undef SAME
        return;
    }
    if (a->numel == n && n % b->numel == 0) {
        /* b repeats along leading dims (a bias row, or a scalar) */
        int64_t inner = b->numel, outer = n / inner;
        int64_t da[4], sa[4], db[4], sb[4];
        bcast4(a, out, da, sa);
        bcast4(b, out, db, sb);
        bool trailing = true; /* b's dims must be out's trailing dims, leading ones broadcast */
        int64_t prod = 1;
        for (int i = 3; i >= 0 && prod < inner; i--) {
            if (sb[i] == 0) trailing = false;
            prod *= db[i];
        }
        if (trailing && prod == inner) {
#define ROWS(OP)                                                                                   \
    _Pragma("omp parallel for if (n >= PAR_MIN) schedule(static)") for (int64_t r = 0; r < outer;   \
                                                                        r++) {                     \
        const float *ra = pa + r * inner;                                                          \
        float *ro = po + r * inner;                                                                \
        for (int64_t j = 0; j < inner; j++) ro[j] = bin(OP, ra[j], pb[j]);                         \
    }
            BIN_CASES(ROWS)
#undef ROWS
            return;
        }
    }
    int64_t d[4], sa[4], sb[4];
    bcast4(a, out, d, sa);
    bcast4(b, out, d, sb);
    /* merge a dim into the next where both operands step through them as one (a channel
       scale over [N, C, H, W] becomes [N, C, H*W] rows, each against one number) */
    for (int i = 2; i >= 0; i--)
        if (sa[i] == sa[i + 1] * d[i + 1] && sb[i] == sb[i + 1] * d[i + 1]) {
            d[i + 1] *= d[i];
            for (int k = i; k > 0; k--) d[k] = d[k - 1], sa[k] = sa[k - 1], sb[k] = sb[k - 1];
            d[0] = 1, sa[0] = sb[0] = 0;
        }
    int64_t rows = d[0] * d[1] * d[2], cols = d[3];
    /* rows of cols outputs, each one of four stride patterns, the op a constant */
#define GENERAL(OP)                                                                                \
    _Pragma("omp parallel for if (n >= PAR_MIN) schedule(static)") for (int64_t r = 0; r < rows; \
                                                                        r++) {                     \
        int64_t i2 = r % d[2], i1 = r / d[2] % d[1], i0 = r / (d[2] * d[1]);                       \
        const float *ra = pa + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];                               \
        const float *rb = pb + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];                               \
        float *ro = po + r * cols;                                                                 \
        if (sa[3] == 1 && sb[3] == 1)                                                              \
            for (int64_t j = 0; j < cols; j++) ro[j] = bin(OP, ra[j], rb[j]);                      \
        else if (sa[3] == 1 && sb[3] == 0)                                                         \
            for (int64_t j = 0; j < cols; j++) ro[j] = bin(OP, ra[j], rb[0]);                      \
        else if (sa[3] == 0 && sb[3] == 1)                                                         \
            for (int64_t j = 0; j < cols; j++) ro[j] = bin(OP, ra[0], rb[j]);                      \
        else                                                                                       \
            for (int64_t j = 0; j < cols; j++) ro[j] = bin(OP, ra[j * sa[3]], rb[j * sb[3]]);      \
    }
    BIN_CASES(GENERAL)
#undef GENERAL
}

/* ---------------------------------------------------------------- axpby */

void cpu_axpby(void *ctx, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    (void)ctx;
    int64_t n = y->numel;
    const float *px = f32(x);
    float *py = f32(y);
#pragma omp parallel for simd if (n >= PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) py[i] = zoo_axpby(px[i], py[i], a, b);
}

/* ---------------------------------------------------------------- permute */

void cpu_permute(void *ctx, const zoo_tensor *x, zoo_tensor *out, const int *perm) {
    (void)ctx;
    int64_t d[4], st[4];
    zoo_permute_plan(x, out, perm, d, st);
    const float *px = f32(x);
    float *po = f32(out);
    int64_t o = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++)
                for (int64_t i3 = 0; i3 < d[3]; i3++)
                    po[o++] = px[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]];
}

/* ---------------------------------------------------------------- copy_box, embedding */

void cpu_copy_box(void *ctx, const zoo_tensor *src, zoo_tensor *dst, const zoo_box *b) {
    (void)ctx;
    const uint32_t *ps = src->data;
    uint32_t *pd = dst->data;
    const int32_t *n = b->size, *ss = b->src_stride, *ds = b->dst_stride;
    int64_t planes = (int64_t)n[0] * n[1], total = planes * n[2] * n[3];
    /* nearest upsampling by 2 (each source element twice along a row) as whole rows, a
     * loop the compiler vectorizes */
    bool pairs = ss[3] == 0 && n[3] == 2 && ds[3] == 1 && ss[2] == 1 && ds[2] == 2;
    /* each part of the box writes its own elements (the box never overlaps itself in dst) */
#pragma omp parallel for if (total >= PAR_MIN) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        int64_t i0 = p / n[1], i1 = p % n[1];
        const uint32_t *s0 = ps + b->src_offset + i0 * ss[0] + i1 * ss[1];
        uint32_t *d0 = pd + b->dst_offset + i0 * ds[0] + i1 * ds[1];
        if (pairs) {
            for (int64_t j = 0; j < n[2]; j++) d0[2 * j] = d0[2 * j + 1] = s0[j];
            continue;
        }
        for (int64_t i2 = 0; i2 < n[2]; i2++) {
            const uint32_t *s = s0 + i2 * ss[2];
            uint32_t *d = d0 + i2 * ds[2];
            if (ss[3] == 1 && ds[3] == 1) memcpy(d, s, (size_t)n[3] * 4);
            else if (ss[3] == 0)
                for (int64_t i3 = 0; i3 < n[3]; i3++) d[i3 * ds[3]] = s[0];
            else
                for (int64_t i3 = 0; i3 < n[3]; i3++) d[i3 * ds[3]] = s[i3 * ss[3]];
        }
    }
}

void cpu_embedding(void *ctx, const zoo_tensor *weight, const zoo_tensor *ids, zoo_tensor *out) {
    (void)ctx;
    int64_t n = ids->numel, d = weight->shape.d[1];
    const int32_t *pi = ids->data;
    for (int64_t i = 0; i < n; i++) memcpy(f32(out) + i * d, f32(weight) + pi[i] * d, (size_t)d * 4);
}

/* rows in increasing i, each added to its id's row: every dw element sums its terms in
 * the order the contract gives, as the Vulkan gather does */
void cpu_embedding_backward(void *ctx, const zoo_tensor *ids, const zoo_tensor *dy, zoo_tensor *dw) {
    (void)ctx;
    int64_t n = ids->numel, d = dw->shape.d[1];
    const int32_t *pi = ids->data;
    const float *g = f32(dy);
    float *w = f32(dw);
    memset(w, 0, (size_t)dw->numel * 4);
    for (int64_t i = 0; i < n; i++) {
        float *row = w + pi[i] * d;
        for (int64_t j = 0; j < d; j++) row[j] += g[i * d + j];
    }
}

/* ---------------------------------------------------------------- random */

/* the same in both modes: a fill is part of what a seed means */
void cpu_rng_fill(void *ctx, zoo_tensor *out, zoo_rng_dist dist, uint64_t seed, uint64_t offset, float a, float b) {
    (void)ctx;
    int64_t n = out->numel;
    float *p = f32(out);
#pragma omp parallel for if (n >= PAR_MIN / 8) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint64_t ctr = offset + (uint64_t)i;
        switch (dist) {
        case ZOO_RNG_UNIFORM: p[i] = zoo_philox_uniform(seed, ctr, a, b); break;
        case ZOO_RNG_NORMAL: p[i] = zoo_philox_normal(seed, ctr, a, b); break;
        case ZOO_RNG_BERNOULLI: p[i] = zoo_philox_uniform(seed, ctr, 0.0f, 1.0f) < a ? b : 0.0f; break;
        default: ZOO_ASSERT(!"unknown distribution");
        }
    }
}
