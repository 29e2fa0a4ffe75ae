/* The CPU backend: OpenBLAS sgemm for matrix products, plain C loops for the rest,
 * OpenMP across rows where the work is large enough to pay for waking threads.
 * Everything runs synchronously, so flush and sync have nothing to do. */
#include "../arena.h"
#include "../backend.h"
#include "../philox.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>




/* below this many elements a loop runs on one thread: waking the team costs more */
#define PAR_MIN 32768

typedef struct cpu_ctx {
    zoo_arena arena;
    int threads;
    size_t persistent_bytes;
    size_t peak;
} cpu_ctx;

static float *f32(const zoo_tensor *t) { return (float *)t->data; }
static int32_t *i32(const zoo_tensor *t) { return (int32_t *)t->data; }

/* ---------------------------------------------------------------- lifecycle */

static const char *cpu_name(void *ctx) {
    (void)ctx;
    return "cpu";
}

static void cpu_shutdown(void *ctx) {
    cpu_ctx *c = ctx;
    zoo_arena_destroy(&c->arena);
    free(c);
}

static void cpu_set_threads(void *ctx, int n) {
    cpu_ctx *c = ctx;
    if (n <= 0) n = omp_get_num_procs();
    c->threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

/* persistent allocations carry their size in a 64-byte prefix for accounting */
static void *cpu_alloc(void *ctx, size_t bytes) {
    cpu_ctx *c = ctx;
    size_t total = ((bytes + 63) & ~(size_t)63) + 64;
    char *p = aligned_alloc(64, total);
    if (!p) return NULL;
    memcpy(p, &bytes, sizeof bytes);
    c->persistent_bytes += bytes;
    size_t now = c->persistent_bytes + c->arena.used;
    if (now > c->peak) c->peak = now;
    return p + 64;
}

static void cpu_free(void *ctx, void *data) {
    cpu_ctx *c = ctx;
    if (!data) return;
    char *p = (char *)data - 64;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    c->persistent_bytes -= bytes;
    free(p);
}

static void *cpu_arena_alloc(void *ctx, size_t bytes) {
    cpu_ctx *c = ctx;
    void *p = zoo_arena_alloc(&c->arena, bytes);
    size_t now = c->persistent_bytes + c->arena.used;
    if (now > c->peak) c->peak = now;
    return p;
}

static size_t cpu_arena_mark(void *ctx) { return zoo_arena_mark(&((cpu_ctx *)ctx)->arena); }
static void cpu_arena_reset(void *ctx, size_t mark) { zoo_arena_reset(&((cpu_ctx *)ctx)->arena, mark); }
static size_t cpu_peak_bytes(void *ctx) { return ((cpu_ctx *)ctx)->peak; }

static void cpu_upload(void *ctx, zoo_tensor *dst, const void *src, size_t bytes, size_t offset) {
    (void)ctx;
    memcpy((char *)dst->data + offset, src, bytes);
}

static void cpu_download(void *ctx, const zoo_tensor *src, void *dst, size_t bytes, size_t offset) {
    (void)ctx;
    memcpy(dst, (const char *)src->data + offset, bytes);
}

static void cpu_fill(void *ctx, zoo_tensor *t, float value) {
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

static void cpu_nop(void *ctx) { (void)ctx; }

/* ---------------------------------------------------------------- gemm */

/* rows and cols of the last two dims; leading dims fold into the batch */
static void mat_dims(const zoo_tensor *t, int64_t *batch, int64_t *rows, int64_t *cols) {
    int nd = t->shape.ndim;
    *cols = nd >= 1 ? t->shape.d[nd - 1] : 1;
    *rows = nd >= 2 ? t->shape.d[nd - 2] : 1;
    *batch = t->numel / (*rows * *cols);
}

/* OpenBLAS runs single-threaded: its own thread pool and OpenMP's would fight over
 * the cores. Large products are split here instead, into one block of C's rows (or
 * columns) per OpenMP thread, so one pool does all the parallel work. */
#define GEMM_PAR_MIN_FLOPS (1 << 20)

static void sgemm_block(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

static void cpu_gemm(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *c, bool ta, bool tb,
                     float alpha, float beta) {
    cpu_ctx *cx = ctx;
    int64_t ba, ar, ac, bb, br, bc, nbatch, cr, cc;
    mat_dims(a, &ba, &ar, &ac);
    mat_dims(b, &bb, &br, &bc);
    mat_dims(c, &nbatch, &cr, &cc);
    int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
    int parts = cx->threads;
    if ((double)m * (double)n * (double)k * (double)nbatch < GEMM_PAR_MIN_FLOPS) parts = 1;
    bool split_rows = m >= n;
    int64_t len = split_rows ? m : n;
    if (parts > len) parts = (int)len;
#pragma omp parallel for collapse(2) if (parts > 1) num_threads(parts) schedule(static)
    for (int64_t i = 0; i < nbatch; i++)
        for (int part = 0; part < parts; part++) {
            const float *pa = f32(a) + (ba == 1 ? 0 : i * ar * ac);
            const float *pb = f32(b) + (bb == 1 ? 0 : i * br * bc);
            float *pc = f32(c) + i * cr * cc;
            /* blocks of 16 rows/columns keep the kernels on full tiles */
            int64_t step = (len / parts + 15) / 16 * 16, lo = part * step, hi = lo + step < len ? lo + step : len;
            if (part == parts - 1) hi = len;
            if (lo >= hi) continue;
            if (split_rows)
                sgemm_block(ta, tb, hi - lo, n, k, alpha, pa + (ta ? lo : lo * ac), ac, pb, bc, beta, pc + lo * cc, cc);
            else
                sgemm_block(ta, tb, m, hi - lo, k, alpha, pa, ac, pb + (tb ? lo * bc : lo), bc, beta, pc + lo, cc);
        }
}

/* ---------------------------------------------------------------- unary */

static float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static void cpu_unary(void *ctx, zoo_unary_op op, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    (void)ctx;
    int64_t n = x->numel;
    if (op == ZOO_UNARY_COPY) {
        if (x->data != y->data) memcpy(y->data, x->data, (size_t)n * 4);
        return;
    }
    const float *px = f32(x);
    float *py = f32(y);
#define LOOP(expr)                                                                                 \
    _Pragma("omp parallel for simd if (n >= PAR_MIN) schedule(static)") for (int64_t i = 0; i < n; \
                                                                                 i++) {            \
        float v = px[i];                                                                           \
        py[i] = (expr);                                                                            \
    }                                                                                              \
    break;
    switch (op) {
    case ZOO_UNARY_AFFINE: LOOP(a * v + b)
    case ZOO_UNARY_POW: LOOP(a == 2.0f ? v * v : powf(v, a))
    case ZOO_UNARY_RELU: LOOP(v > 0.0f ? v : 0.0f)
    case ZOO_UNARY_LEAKY_RELU: LOOP(v > 0.0f ? v : a * v)
    case ZOO_UNARY_TANH: LOOP(tanhf(v))
    case ZOO_UNARY_SIGMOID: LOOP(sigmoid(v))
    case ZOO_UNARY_GELU: LOOP(gelu(v))
    case ZOO_UNARY_SILU: LOOP(v * sigmoid(v))
    case ZOO_UNARY_EXP: LOOP(expf(v))
    case ZOO_UNARY_LOG: LOOP(logf(v))
    case ZOO_UNARY_SQRT: LOOP(sqrtf(v))
    case ZOO_UNARY_ABS: LOOP(fabsf(v))
    default: ZOO_ASSERT(!"unknown unary op");
    }
#undef LOOP
    (void)b;
}

static void cpu_unary_backward(void *ctx, zoo_unary_op op, const zoo_tensor *x, const zoo_tensor *y,
                               const zoo_tensor *dy, zoo_tensor *dx, float a, float b) {
    (void)ctx;
    (void)b;
    int64_t n = x->numel;
    const float *px = f32(x), *py = y ? f32(y) : NULL, *pg = f32(dy);
    float *pd = f32(dx);
#define LOOP(expr)                                                                                 \
    _Pragma("omp parallel for if (n >= PAR_MIN) schedule(static)") for (int64_t i = 0; i < n; i++) { \
        float v = px[i], g = pg[i];                                                                \
        float o = py ? py[i] : 0.0f;                                                               \
        (void)v;                                                                                   \
        (void)o;                                                                                   \
        pd[i] = (expr);                                                                            \
    }                                                                                              \
    break;
    switch (op) {
    case ZOO_UNARY_COPY: LOOP(g)
    case ZOO_UNARY_AFFINE: LOOP(a * g)
    case ZOO_UNARY_POW: LOOP(a == 2.0f ? 2.0f * v * g : a * powf(v, a - 1.0f) * g)
    case ZOO_UNARY_RELU: LOOP(v > 0.0f ? g : 0.0f)
    case ZOO_UNARY_LEAKY_RELU: LOOP(v > 0.0f ? g : a * g)
    case ZOO_UNARY_TANH: LOOP(g * (1.0f - o * o))
    case ZOO_UNARY_SIGMOID: LOOP(g * o * (1.0f - o))
    case ZOO_UNARY_GELU:
        LOOP(g * (0.5f * (1.0f + erff(v * 0.70710678118654752f)) +
                  v * 0.39894228040143268f * expf(-0.5f * v * v)))
    case ZOO_UNARY_SILU: LOOP(g * (sigmoid(v) * (1.0f + v * (1.0f - sigmoid(v)))))
    case ZOO_UNARY_EXP: LOOP(g * o)
    case ZOO_UNARY_LOG: LOOP(g / v)
    case ZOO_UNARY_SQRT: LOOP(g * 0.5f / o)
    case ZOO_UNARY_ABS: LOOP(v > 0.0f ? g : (v < 0.0f ? -g : 0.0f))
    default: ZOO_ASSERT(!"unknown unary op");
    }
#undef LOOP
}

/* ---------------------------------------------------------------- binary */

/* right-aligned 4-d view: dims and element strides, stride 0 on broadcast dims */
static void bcast4(const zoo_tensor *t, const zoo_tensor *out, int64_t dim[4], int64_t stride[4]) {
    int64_t d[4] = {1, 1, 1, 1};
    int off = 4 - t->shape.ndim;
    for (int i = 0; i < t->shape.ndim; i++) d[off + i] = t->shape.d[i];
    int64_t s = 1;
    int ooff = 4 - out->shape.ndim;
    for (int i = 3; i >= 0; i--) {
        int64_t od = i >= ooff ? out->shape.d[i - ooff] : 1;
        stride[i] = (d[i] == 1 && od != 1) ? 0 : s;
        dim[i] = od;
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

#define BIN_CASES(EXPR_LOOP)                                                                       \
    switch (op) {                                                                                  \
    case ZOO_BINARY_ADD: EXPR_LOOP(x + y) break;                                                   \
    case ZOO_BINARY_SUB: EXPR_LOOP(x - y) break;                                                   \
    case ZOO_BINARY_MUL: EXPR_LOOP(x * y) break;                                                   \
    case ZOO_BINARY_DIV: EXPR_LOOP(x / y) break;                                                   \
    case ZOO_BINARY_EQ: EXPR_LOOP(x == y ? 1.0f : 0.0f) break;                                     \
    default: ZOO_ASSERT(!"unknown binary op");                                                     \
    }

static void cpu_binary(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *out) {
    (void)ctx;
    const float *pa = f32(a), *pb = f32(b);
    float *po = f32(out);
    int64_t n = out->numel;
    if (a->numel == n && b->numel == n) { /* same shape */
#define SAME(expr)                                                                                 \
    _Pragma("omp parallel for simd if (n >= PAR_MIN) schedule(static)") for (int64_t i = 0; i < n; \
                                                                                 i++) {            \
        float x = pa[i], y = pb[i];                                                                \
        po[i] = (expr);                                                                            \
    }
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
#define ROWS(expr)                                                                                 \
    _Pragma("omp parallel for if (n >= PAR_MIN) schedule(static)") for (int64_t r = 0; r < outer;   \
                                                                        r++) {                     \
        const float *ra = pa + r * inner;                                                          \
        float *ro = po + r * inner;                                                                \
        for (int64_t j = 0; j < inner; j++) {                                                      \
            float x = ra[j], y = pb[j];                                                            \
            ro[j] = (expr);                                                                        \
        }                                                                                          \
    }
            BIN_CASES(ROWS)
#undef ROWS
            return;
        }
    }
    int64_t d[4], sa[4], sb[4];
    bcast4(a, out, d, sa);
    bcast4(b, out, d, sb);
    int64_t o = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++) {
                const float *ra = pa + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                const float *rb = pb + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int64_t i3 = 0; i3 < d[3]; i3++) po[o++] = bin(op, ra[i3 * sa[3]], rb[i3 * sb[3]]);
            }
}

/* ---------------------------------------------------------------- reduce */

static void cpu_reduce(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *out) {
    (void)ctx;
    int64_t d[4] = {1, 1, 1, 1}, od[4] = {1, 1, 1, 1};
    int off = 4 - x->shape.ndim;
    for (int i = 0; i < x->shape.ndim; i++) {
        d[off + i] = x->shape.d[i];
        od[off + i] = out->shape.d[i];
    }
    const float *px = f32(x);
    if (op == ZOO_REDUCE_ARGMAX) {
        int axis = -1;
        for (int i = 0; i < 4; i++)
            if (od[i] != d[i]) axis = i;
        if (axis < 0) { /* the reduced axis has size 1: every index is 0 */
            memset(out->data, 0, (size_t)out->numel * 4);
            return;
        }
        int64_t inner = 1, outer = 1;
        for (int i = axis + 1; i < 4; i++) inner *= d[i];
        for (int i = 0; i < axis; i++) outer *= d[i];
        int32_t *po = i32(out);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++) {
                const float *p = px + o * d[axis] * inner + j;
                int32_t best = 0;
                for (int64_t k = 1; k < d[axis]; k++)
                    if (p[k * inner] > p[best * inner]) best = (int32_t)k;
                po[o * inner + j] = best;
            }
        return;
    }
    float *po = f32(out);
    int64_t os[4], s = 1;
    for (int i = 3; i >= 0; i--) {
        os[i] = od[i] == 1 ? 0 : s;
        s *= od[i];
    }
    /* last axis reduced: one dot-like pass per row */
    if (od[3] == 1 && d[3] > 1 && od[0] == d[0] && od[1] == d[1] && od[2] == d[2]) {
        int64_t rows = d[0] * d[1] * d[2], cols = d[3];
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *p = px + r * cols;
            float acc = op == ZOO_REDUCE_MAX ? p[0] : 0.0f;
            if (op == ZOO_REDUCE_MAX)
                for (int64_t j = 1; j < cols; j++) acc = p[j] > acc ? p[j] : acc;
            else
                for (int64_t j = 0; j < cols; j++) acc += p[j];
            po[r] = op == ZOO_REDUCE_MEAN ? acc / (float)cols : acc;
        }
        return;
    }
    int64_t on = out->numel;
    for (int64_t i = 0; i < on; i++) po[i] = op == ZOO_REDUCE_MAX ? -INFINITY : 0.0f;
    int64_t i = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++) {
                float *ro = po + i0 * os[0] + i1 * os[1] + i2 * os[2];
                const float *rx = px + i;
                i += d[3];
                if (op == ZOO_REDUCE_MAX) {
                    for (int64_t i3 = 0; i3 < d[3]; i3++) {
                        float *q = ro + i3 * os[3];
                        *q = rx[i3] > *q ? rx[i3] : *q;
                    }
                } else if (os[3]) {
                    for (int64_t i3 = 0; i3 < d[3]; i3++) ro[i3] += rx[i3];
                } else {
                    float acc = 0.0f;
                    for (int64_t i3 = 0; i3 < d[3]; i3++) acc += rx[i3];
                    *ro += acc;
                }
            }
    if (op == ZOO_REDUCE_MEAN) {
        float inv = (float)on / (float)x->numel;
        for (int64_t k = 0; k < on; k++) po[k] *= inv;
    }
}

/* ---------------------------------------------------------------- softmax, nll */

static void cpu_softmax(void *ctx, const zoo_tensor *x, zoo_tensor *y, bool log) {
    (void)ctx;
    int64_t cols = x->shape.d[x->shape.ndim - 1], rows = x->numel / cols;
    const float *px = f32(x);
    float *py = f32(y);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *p = px + r * cols;
        float *q = py + r * cols;
        float mx = p[0];
        for (int64_t j = 1; j < cols; j++) mx = p[j] > mx ? p[j] : mx;
        float sum = 0.0f;
        for (int64_t j = 0; j < cols; j++) sum += expf(p[j] - mx);
        if (log) {
            float lse = mx + logf(sum);
            for (int64_t j = 0; j < cols; j++) q[j] = p[j] - lse;
        } else {
            float inv = 1.0f / sum;
            for (int64_t j = 0; j < cols; j++) q[j] = expf(p[j] - mx) * inv;
        }
    }
}

static void cpu_softmax_backward(void *ctx, const zoo_tensor *y, const zoo_tensor *dy, zoo_tensor *dx, bool log) {
    (void)ctx;
    int64_t cols = y->shape.d[y->shape.ndim - 1], rows = y->numel / cols;
    const float *py = f32(y), *pg = f32(dy);
    float *pd = f32(dx);
#pragma omp parallel for if (y->numel >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = py + r * cols, *gr = pg + r * cols;
        float *dr = pd + r * cols;
        float s = 0.0f;
        if (log) {
            for (int64_t j = 0; j < cols; j++) s += gr[j];
            for (int64_t j = 0; j < cols; j++) dr[j] = gr[j] - expf(yr[j]) * s;
        } else {
            for (int64_t j = 0; j < cols; j++) s += gr[j] * yr[j];
            for (int64_t j = 0; j < cols; j++) dr[j] = yr[j] * (gr[j] - s);
        }
    }
}

static void cpu_nll(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels, zoo_tensor *losses) {
    (void)ctx;
    int64_t cols = logp->shape.d[1], rows = logp->shape.d[0];
    for (int64_t r = 0; r < rows; r++) f32(losses)[r] = -f32(logp)[r * cols + i32(labels)[r]];
}

static void cpu_nll_backward(void *ctx, const zoo_tensor *labels, const zoo_tensor *dlosses, zoo_tensor *dlogp) {
    (void)ctx;
    int64_t cols = dlogp->shape.d[1], rows = dlogp->shape.d[0];
    memset(dlogp->data, 0, (size_t)dlogp->numel * 4);
    for (int64_t r = 0; r < rows; r++) f32(dlogp)[r * cols + i32(labels)[r]] = -f32(dlosses)[r];
}

static void cpu_cross_entropy_backward(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels,
                                       const zoo_tensor *dlosses, zoo_tensor *dx) {
    (void)ctx;
    int64_t cols = logp->shape.d[1], rows = logp->shape.d[0];
    for (int64_t r = 0; r < rows; r++) {
        const float *p = f32(logp) + r * cols;
        float *d = f32(dx) + r * cols, g = f32(dlosses)[r];
        int32_t y = i32(labels)[r];
        for (int64_t j = 0; j < cols; j++) d[j] = (expf(p[j]) - (j == y ? 1.0f : 0.0f)) * g;
    }
}

/* ---------------------------------------------------------------- permute */

static void cpu_permute(void *ctx, const zoo_tensor *x, zoo_tensor *out, const int *perm) {
    (void)ctx;
    int nd = x->shape.ndim;
    int64_t xs[4], s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        xs[i] = s;
        s *= x->shape.d[i];
    }
    int64_t d[4] = {1, 1, 1, 1}, st[4] = {0, 0, 0, 0};
    for (int i = 0; i < nd; i++) {
        d[4 - nd + i] = out->shape.d[i];
        st[4 - nd + i] = xs[perm[i]];
    }
    const float *px = f32(x);
    float *po = f32(out);
    int64_t o = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++)
                for (int64_t i3 = 0; i3 < d[3]; i3++)
                    po[o++] = px[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]];
}

/* ---------------------------------------------------------------- random */

static void cpu_rng_fill(void *ctx, zoo_tensor *out, zoo_rng_dist dist, uint64_t seed, uint64_t offset, float a,
                         float b) {
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
        }
    }
}

/* ---------------------------------------------------------------- optimizers */

/* torch.optim.SGD: g += wd*w; buf = momentum*buf + (1-dampening)*g (buf = g on the
 * first step); g = nesterov ? g + momentum*buf : buf; w -= lr*g */
static void cpu_sgd_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *mbuf,
                           const zoo_sgd_params *p) {
    (void)ctx;
    int64_t n = param->numel;
    float *restrict w = f32(param), *restrict buf = mbuf ? f32(mbuf) : NULL;
    const float *restrict g = f32(grad);
    const float lr = p->lr, momentum = p->momentum, dampening = p->dampening, wd = p->weight_decay;
    const bool first = p->first, nesterov = p->nesterov;
#pragma omp parallel for simd if (n >= PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        if (buf) {
            float b = first ? gi : momentum * buf[i] + (1.0f - dampening) * gi;
            buf[i] = b;
            gi = nesterov ? gi + momentum * b : b;
        }
        w[i] -= lr * gi;
    }
}

/* torch.optim.Adam / AdamW (non-amsgrad) */
static void cpu_adam_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *mt, zoo_tensor *vt,
                            const zoo_adam_params *p) {
    (void)ctx;
    int64_t n = param->numel;
    float *restrict w = f32(param), *restrict m = f32(mt), *restrict v = f32(vt);
    const float *restrict g = f32(grad);
    float bc1 = 1.0f - powf(p->beta1, (float)p->step);
    float bc2 = 1.0f - powf(p->beta2, (float)p->step);
    float step_size = p->lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    float b1 = p->beta1, b2 = p->beta2, eps = p->eps;
    float wd = p->decoupled ? 0.0f : p->weight_decay;
    float decay = p->decoupled ? 1.0f - p->lr * p->weight_decay : 1.0f;
#pragma omp parallel for simd if (n >= PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float wi = w[i] * decay;
        float gi = g[i] + wd * w[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

/* ---------------------------------------------------------------- the vtable */

zoo_backend *zoo_backend_cpu_new(int threads) {
    zoo_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        zoo_set_error("out of memory creating the CPU backend");
        return NULL;
    }
#ifndef NDEBUG
    c->arena.poison = 0xff; /* released activations read as NaN */
#endif
    be->ctx = c;
    be->iface = (zoo_backend_iface){
        .name = cpu_name,
        .shutdown = cpu_shutdown,
        .set_threads = cpu_set_threads,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .arena_alloc = cpu_arena_alloc,
        .arena_mark = cpu_arena_mark,
        .arena_reset = cpu_arena_reset,
        .peak_bytes = cpu_peak_bytes,
        .upload = cpu_upload,
        .download = cpu_download,
        .fill = cpu_fill,
        .flush = cpu_nop,
        .sync = cpu_nop,
        .gemm = cpu_gemm,
        .unary = cpu_unary,
        .unary_backward = cpu_unary_backward,
        .binary = cpu_binary,
        .reduce = cpu_reduce,
        .softmax = cpu_softmax,
        .softmax_backward = cpu_softmax_backward,
        .nll = cpu_nll,
        .nll_backward = cpu_nll_backward,
        .cross_entropy_backward = cpu_cross_entropy_backward,
        .permute = cpu_permute,
        .rng_fill = cpu_rng_fill,
        .sgd_update = cpu_sgd_update,
        .adam_update = cpu_adam_update,
    };
    cpu_set_threads(c, threads);
    return be;
}
