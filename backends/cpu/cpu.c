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

/* ---------------------------------------------------------------- convolution */

/* Scratch for one kernel call comes from the arena and goes back before the call
 * returns, so the blocks are reused from step to step (no page faults). */
static float *scratch_alloc(cpu_ctx *c, size_t floats) {
    float *p = cpu_arena_alloc(c, floats * sizeof(float));
    if (!p) {
        fprintf(stderr, "zoo: error: out of memory for %zu MiB of convolution scratch\n", (floats * 4) >> 20);
        exit(1);
    }
    return p;
}

/* Work in these kernels is split into pieces fixed by the shapes alone (images,
 * chunks, groups), each computed the same way on whichever thread takes it, so the
 * results never depend on the thread count. The pieces are handed out dynamically:
 * on a shared machine one thread is often slowed, and a static split would make the
 * other wait for it. */

/* below this many multiply-adds a convolution runs on one thread */
#define CONV_PAR_MIN_MACS (1 << 18)

static int64_t conv_macs(const zoo_conv2d_geom *g) {
    return (int64_t)g->n * g->cout * g->oh * g->ow * g->cin * g->kh * g->kw;
}

/* 1x1, stride 1, no padding: an image is already its own column matrix */
static bool conv_is_pointwise(const zoo_conv2d_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0;
}

/* the range [*lo, *hi) of outputs o with 0 <= o*stride + off < size */
static void valid_range(int32_t out, int32_t stride, int32_t off, int32_t size, int32_t *lo, int32_t *hi) {
    int32_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int32_t h = size - off <= 0 ? 0 : (size - off - 1) / stride + 1;
    *lo = l < out ? l : out;
    *hi = h < out ? h : out;
    if (*hi < *lo) *hi = *lo;
}

/* one image: x [cin, h, w] -> cols [cin*kh*kw, oh*ow], row (i*kh + ky)*kw + kx */
static void im2col(const float *x, float *cols, const zoo_conv2d_geom *g) {
    int64_t P = (int64_t)g->oh * g->ow;
    for (int32_t i = 0; i < g->cin; i++)
        for (int32_t ky = 0; ky < g->kh; ky++)
            for (int32_t kx = 0; kx < g->kw; kx++) {
                float *row = cols + ((int64_t)(i * g->kh + ky) * g->kw + kx) * P;
                int32_t offx = kx * g->dil_w - g->pad_w, lo, hi;
                valid_range(g->ow, g->stride_w, offx, g->w, &lo, &hi);
                for (int32_t oy = 0; oy < g->oh; oy++) {
                    float *dst = row + (int64_t)oy * g->ow;
                    int32_t iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                    if (iy < 0 || iy >= g->h) {
                        memset(dst, 0, (size_t)g->ow * 4);
                        continue;
                    }
                    const float *src = x + ((int64_t)i * g->h + iy) * g->w + offx;
                    for (int32_t ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (g->stride_w == 1) memcpy(dst + lo, src + lo, (size_t)(hi - lo) * 4);
                    else if (g->stride_w == 2) /* a constant stride the compiler vectorizes */
                        for (int32_t ox = lo; ox < hi; ox++) dst[ox] = src[2 * (int64_t)ox];
                    else
                        for (int32_t ox = lo; ox < hi; ox++) dst[ox] = src[(int64_t)ox * g->stride_w];
                    for (int32_t ox = hi; ox < g->ow; ox++) dst[ox] = 0.0f;
                }
            }
}

/* the adjoint of im2col: dx [cin, h, w] += every cols entry at the pixel it came from */
static void col2im(const float *cols, float *dx, const zoo_conv2d_geom *g) {
    int64_t P = (int64_t)g->oh * g->ow;
    for (int32_t i = 0; i < g->cin; i++)
        for (int32_t ky = 0; ky < g->kh; ky++)
            for (int32_t kx = 0; kx < g->kw; kx++) {
                const float *row = cols + ((int64_t)(i * g->kh + ky) * g->kw + kx) * P;
                int32_t offx = kx * g->dil_w - g->pad_w, lo, hi;
                valid_range(g->ow, g->stride_w, offx, g->w, &lo, &hi);
                for (int32_t oy = 0; oy < g->oh; oy++) {
                    int32_t iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                    if (iy < 0 || iy >= g->h) continue;
                    const float *src = row + (int64_t)oy * g->ow;
                    float *dst = dx + ((int64_t)i * g->h + iy) * g->w + offx;
                    if (g->stride_w == 1)
                        for (int32_t ox = lo; ox < hi; ox++) dst[ox] += src[ox];
                    else
                        for (int32_t ox = lo; ox < hi; ox++) dst[(int64_t)ox * g->stride_w] += src[ox];
                }
            }
}

/* rows of `len` floats, row r set to v[r] (v NULL: zeros) */
static void fill_rows(float *dst, const float *v, int64_t rows, int64_t len) {
    for (int64_t r = 0; r < rows; r++) {
        float b = v ? v[r] : 0.0f;
        for (int64_t j = 0; j < len; j++) dst[r * len + j] = b;
    }
}

/* sum of n floats in 8 interleaved lanes (vectorizable, and fixed-order) */
static float sum8(const float *p, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += p[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += p[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* db[o] = the sum of dy[b, o, :] over b (rows of P) */
static void channel_sums(const float *dy, float *db, int64_t n, int64_t ch, int64_t P) {
#pragma omp parallel for if (n * ch * P >= PAR_MIN) schedule(static)
    for (int64_t o = 0; o < ch; o++) {
        double acc = 0.0;
        for (int64_t b = 0; b < n; b++) acc += sum8(dy + (b * ch + o) * P, P);
        db[o] = (float)acc;
    }
}

/* The weight gradient sums over images. For results that do not depend on the
 * thread count, images are split into a fixed number of chunks (a function of the
 * shapes alone); each chunk sums its images in order into its own partial, and the
 * partials are added in chunk order. */
#define WGRAD_MAX_CHUNKS 16
#define WGRAD_MAX_PARTIAL_FLOATS (1 << 23)

static int wgrad_chunks(int64_t n, int64_t wsize) {
    int64_t k = n < WGRAD_MAX_CHUNKS ? n : WGRAD_MAX_CHUNKS;
    while (k > 1 && k * wsize > WGRAD_MAX_PARTIAL_FLOATS) k--;
    return (int)k;
}

/* dst[j] = the sum over k < nparts of parts[k * stride + j] (j < len), in order of k;
 * blocks of j in parallel, each streaming through the partials one after another */
static void sum_partials(const float *parts, int nparts, int64_t stride, float *dst, int64_t len) {
    const int64_t blk = 4096;
#pragma omp parallel for if (len * nparts >= PAR_MIN) schedule(static)
    for (int64_t j0 = 0; j0 < len; j0 += blk) {
        int64_t n = len - j0 < blk ? len - j0 : blk;
        float *restrict o = dst + j0;
        memcpy(o, parts + j0, (size_t)n * 4);
        for (int k = 1; k < nparts; k++) {
            const float *restrict p = parts + k * stride + j0;
            for (int64_t j = 0; j < n; j++) o[j] += p[j];
        }
    }
}

/* ---------------------------------------------------------------- Winograd F(2x2, 3x3) */

/* 3x3 stride-1 convolutions as Winograd's minimal filtering F(2x2, 3x3) (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 2x2 output
 * tile is A^T [(G g G^T) . (B^T d B)] A for its 4x4 input tile d, 16 multiplies per
 * tile and channel pair instead of 36. A chunk of images at a time becomes 16 sgemms
 * [cout, cin] x [cin, tiles] between an input and an output transform. The input
 * gradient is the same convolution with the kernels flipped and transposed; the
 * weight gradient is the adjoint, G^T [sum over tiles of (A dy A^T) . V] G. The
 * transforms' coefficients are 0, +-1 and +-1/2, so rounding stays at im2col's level.
 *
 * The transforms work on four neighbouring tiles of a tile row at once, in 4-float
 * vectors (GCC/Clang vector extensions; SSE on any x86-64, NEON on ARM): planes are
 * small (14x14 in the CNN), so loops over single tiles or rows would spend their
 * time starting and stopping. A block may run past the end of a tile row; what it
 * writes there lands on the next row's first tiles, which are written after it, or
 * on the padding at the end of each [tiles] row of V and M (ld > T). */

typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v4_store(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* columns at .. at + 7 of a row of n floats into two vectors, 0 past the end */
static inline void row8_load(const float *row, int32_t n, int32_t at, v4f *lo, v4f *hi) {
    v4f z = {0, 0, 0, 0};
    if (at + 8 <= n) {
        *lo = v4_load(row + at);
        *hi = v4_load(row + at + 4);
        return;
    }
    *lo = *hi = z;
    v4f *part = lo;
    if (at + 4 <= n) {
        *lo = v4_load(row + at);
        part = hi;
        at += 4;
    }
    for (int32_t j = 0; at + j < n; j++) (*part)[j] = row[at + j];
}

/* the same, stored: columns past n are left alone */
static inline void row8_store(float *row, int32_t n, int32_t at, v4f lo, v4f hi) {
    if (at + 8 <= n) {
        v4_store(row + at, lo);
        v4_store(row + at + 4, hi);
        return;
    }
    v4f part = lo;
    if (at + 4 <= n) {
        v4_store(row + at, lo);
        part = hi;
        at += 4;
    }
    for (int32_t j = 0; at + j < n; j++) row[at + j] = part[j];
}

/* worth it when the channel products outweigh the transforms */
static bool conv_is_winograd(const zoo_conv2d_geom *g) {
    return g->kh == 3 && g->kw == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 && g->dil_w == 1 &&
           g->pad_h <= 2 && g->pad_w <= 2 && g->cin >= 8 && g->cout >= 8;
}

/* one pass: input [n, ci, ih, iw] -> output [n, co, oh, ow], tiles of 2x2 outputs */
typedef struct wino_dims {
    int32_t n, ci, ih, iw, co, oh, ow, pad_h, pad_w;
    int32_t th, tw;    /* tiles down and across; tile t of an image is ty*tw + tx */
    int32_t blocks;    /* 4-tile blocks per tile row */
    int32_t rows, pr;  /* padded input plane: 2*th + 2 rows of pr floats */
    int64_t tiles;     /* per image */
    int32_t per_chunk; /* images per chunk: a function of the shapes only */
    int32_t chunks;
    int64_t ld;        /* row stride of V and M: per_chunk*tiles, rounded up, plus a block */
} wino_dims;

/* about this many tiles per chunk: sgemms wide enough to run near peak */
#define WINO_CHUNK_TILES 128

static wino_dims wino_make(int32_t n, int32_t ci, int32_t ih, int32_t iw, int32_t co, int32_t oh, int32_t ow,
                           int32_t pad_h, int32_t pad_w) {
    wino_dims d = {n, ci, ih, iw, co, oh, ow, pad_h, pad_w, (oh + 1) / 2, (ow + 1) / 2, 0, 0, 0, 0, 0, 0, 0};
    d.blocks = (d.tw + 3) / 4;
    d.rows = 2 * d.th + 2;
    d.pr = 8 * d.blocks + 4; /* a block reads columns 8b .. 8b + 9 */
    d.tiles = (int64_t)d.th * d.tw;
    d.per_chunk = d.tiles >= WINO_CHUNK_TILES ? 1 : (int32_t)(WINO_CHUNK_TILES / d.tiles);
    if (d.per_chunk > n) d.per_chunk = n;
    d.chunks = (n + d.per_chunk - 1) / d.per_chunk;
    d.ld = ((int64_t)d.per_chunk * d.tiles + 3) / 4 * 4 + 4;
    return d;
}

/* per-thread scratch, in floats: V [16, ci, ld], M [16, co, ld], the padded plane and
 * the four rows of its horizontal transform */
static int64_t wino_scratch(const wino_dims *d) {
    return 16 * d->ld * (d->ci + d->co) + (int64_t)d->rows * d->pr + 4 * (int64_t)d->rows * 4 * d->blocks;
}

/* u[k * us] (k < 16) = (G g G^T)[k / 4][k % 4] for one row-major 3x3 kernel g */
static void wino_kernel(const float g[9], float *u, int64_t us) {
    float t[4][3];
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        u[(4 * i + 0) * us] = t[i][0];
        u[(4 * i + 1) * us] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[(4 * i + 2) * us] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[(4 * i + 3) * us] = t[i][2];
    }
}

/* U [16, a, b] from w [cout, cin, 3, 3]: a = out, b = in; or, flipped for the input
 * gradient, a = in, b = out and each kernel rotated by 180 degrees */
static void wino_weights(const float *w, int32_t cout, int32_t cin, bool flip, float *u) {
    int64_t plane = (int64_t)cout * cin;
    for (int32_t o = 0; o < cout; o++)
        for (int32_t i = 0; i < cin; i++) {
            const float *k = w + ((int64_t)o * cin + i) * 9;
            float g[9];
            for (int j = 0; j < 9; j++) g[j] = flip ? k[8 - j] : k[j];
            wino_kernel(g, u + (flip ? (int64_t)i * cout + o : (int64_t)o * cin + i), plane);
        }
}

/* V [16, ci, ld] = B^T d B for every channel and tile of nimg images of x. B^T's rows
 * are d0 - d2, d1 + d2, d2 - d1, d1 - d3; applied across each padded row first (h),
 * then down the columns. */
static void wino_input(const float *x, const wino_dims *d, int32_t nimg, float *v, float *p) {
    int64_t plane = (int64_t)d->ci * d->ld, hr = 4 * (int64_t)d->blocks, hs = d->rows * hr;
    float *h = p + (int64_t)d->rows * d->pr;
    for (int32_t b = 0; b < nimg; b++)
        for (int32_t c = 0; c < d->ci; c++) {
            /* the plane, zero-padded: input (iy, ix) at row iy + pad_h, column ix + pad_w */
            const float *xc = x + ((int64_t)b * d->ci + c) * d->ih * d->iw;
            int32_t n = d->iw < d->pr - d->pad_w ? d->iw : d->pr - d->pad_w;
            for (int32_t r = 0; r < d->rows; r++) {
                float *row = p + (int64_t)r * d->pr;
                int32_t iy = r - d->pad_h;
                if (iy < 0 || iy >= d->ih) {
                    memset(row, 0, (size_t)d->pr * 4);
                    continue;
                }
                for (int32_t j = 0; j < d->pad_w; j++) row[j] = 0.0f;
                memcpy(row + d->pad_w, xc + (int64_t)iy * d->iw, (size_t)n * 4);
                for (int32_t j = d->pad_w + n; j < d->pr; j++) row[j] = 0.0f;
            }
            /* h[j][r][tx] = (row r of tile column tx) B, column j */
            for (int32_t r = 0; r < d->rows; r++)
                for (int32_t bl = 0; bl < d->blocks; bl++) {
                    /* columns 8bl + 2tx + i of the four tiles as c_i: even and odd lanes of two
                     * overlapping pairs of loads (one SSE shufps each) */
                    const float *s = p + (int64_t)r * d->pr + 8 * bl;
                    v4f a = v4_load(s), e = v4_load(s + 4), f = v4_load(s + 2), k = v4_load(s + 6);
                    v4f c0 = __builtin_shufflevector(a, e, 0, 2, 4, 6), c1 = __builtin_shufflevector(a, e, 1, 3, 5, 7);
                    v4f c2 = __builtin_shufflevector(f, k, 0, 2, 4, 6), c3 = __builtin_shufflevector(f, k, 1, 3, 5, 7);
                    float *o = h + r * hr + 4 * bl;
                    v4_store(o, c0 - c2);
                    v4_store(o + hs, c1 + c2);
                    v4_store(o + 2 * hs, c2 - c1);
                    v4_store(o + 3 * hs, c1 - c3);
                }
            /* V[4k + j] = B^T (h[j] rows 2ty .. 2ty + 3), row k */
            for (int32_t ty = 0; ty < d->th; ty++)
                for (int32_t bl = 0; bl < d->blocks; bl++) {
                    float *o = v + (int64_t)c * d->ld + (int64_t)b * d->tiles + (int64_t)ty * d->tw + 4 * bl;
                    for (int j = 0; j < 4; j++) {
                        const float *s = h + j * hs + 2 * ty * hr + 4 * bl;
                        v4f d0 = v4_load(s), d1 = v4_load(s + hr), d2 = v4_load(s + 2 * hr), d3 = v4_load(s + 3 * hr);
                        v4_store(o + j * plane, d0 - d2);
                        v4_store(o + (4 + j) * plane, d1 + d2);
                        v4_store(o + (8 + j) * plane, d2 - d1);
                        v4_store(o + (12 + j) * plane, d1 - d3);
                    }
                }
        }
}

/* y [nimg, co, oh, ow] = A^T M A (+ bias) from M [16, co, ld], which is left zeroed
 * (so the next chunk's sgemms add to zeros without a clearing pass of their own).
 * A^T's rows are m0 + m1 + m2 and m1 - m2 - m3. */
static void wino_output(float *m, const float *bias, const wino_dims *d, int32_t nimg, float *y) {
    int64_t plane = (int64_t)d->co * d->ld;
    for (int32_t b = 0; b < nimg; b++)
        for (int32_t o = 0; o < d->co; o++) {
            v4f bv = {0, 0, 0, 0};
            bv += bias ? bias[o] : 0.0f;
            float *yo = y + ((int64_t)b * d->co + o) * d->oh * d->ow;
            for (int32_t ty = 0; ty < d->th; ty++)
                for (int32_t bl = 0; bl < d->blocks; bl++) {
                    const float *s = m + (int64_t)o * d->ld + (int64_t)b * d->tiles + (int64_t)ty * d->tw + 4 * bl;
                    v4f s0[4], s1[4];
                    for (int j = 0; j < 4; j++) {
                        v4f m0 = v4_load(s + j * plane), m1 = v4_load(s + (4 + j) * plane);
                        v4f m2 = v4_load(s + (8 + j) * plane), m3 = v4_load(s + (12 + j) * plane);
                        s0[j] = m0 + m1 + m2;
                        s1[j] = m1 - m2 - m3;
                    }
                    v4f y00 = s0[0] + s0[1] + s0[2] + bv, y01 = s0[1] - s0[2] - s0[3] + bv;
                    v4f y10 = s1[0] + s1[1] + s1[2] + bv, y11 = s1[1] - s1[2] - s1[3] + bv;
                    /* outputs (2ty + a, 8bl + 2tx + c) of the four tiles, interleaved along the rows */
                    float *r0 = yo + (int64_t)2 * ty * d->ow;
                    row8_store(r0, d->ow, 8 * bl, __builtin_shufflevector(y00, y01, 0, 4, 1, 5),
                               __builtin_shufflevector(y00, y01, 2, 6, 3, 7));
                    if (2 * ty + 1 < d->oh)
                        row8_store(r0 + d->ow, d->ow, 8 * bl, __builtin_shufflevector(y10, y11, 0, 4, 1, 5),
                                   __builtin_shufflevector(y10, y11, 2, 6, 3, 7));
                }
        }
    memset(m, 0, (size_t)(16 * plane) * 4);
}

/* dM [16, co, ld] = A dy A^T for every output channel and tile of dy [nimg, co, oh, ow]
 * (outputs past the edge read 0): with a and b the tile's two output rows, the rows
 * of A dy are a, a + b, a - b, -b, and each row (u, w) becomes (u, u + w, u - w, -w). */
static void wino_output_adjoint(const float *dy, const wino_dims *d, int32_t nimg, float *dm) {
    int64_t plane = (int64_t)d->co * d->ld;
    v4f zero = {0, 0, 0, 0};
    for (int32_t b = 0; b < nimg; b++)
        for (int32_t o = 0; o < d->co; o++) {
            const float *g = dy + ((int64_t)b * d->co + o) * d->oh * d->ow;
            for (int32_t ty = 0; ty < d->th; ty++)
                for (int32_t bl = 0; bl < d->blocks; bl++) {
                    v4f p0, p1, q0 = zero, q1 = zero;
                    const float *r0 = g + (int64_t)2 * ty * d->ow;
                    row8_load(r0, d->ow, 8 * bl, &p0, &p1);
                    if (2 * ty + 1 < d->oh) row8_load(r0 + d->ow, d->ow, 8 * bl, &q0, &q1);
                    v4f a0 = __builtin_shufflevector(p0, p1, 0, 2, 4, 6), a1 = __builtin_shufflevector(p0, p1, 1, 3, 5, 7);
                    v4f b0 = __builtin_shufflevector(q0, q1, 0, 2, 4, 6), b1 = __builtin_shufflevector(q0, q1, 1, 3, 5, 7);
                    v4f u[4] = {a0, a0 + b0, a0 - b0, -b0}, w[4] = {a1, a1 + b1, a1 - b1, -b1};
                    float *t = dm + (int64_t)o * d->ld + (int64_t)b * d->tiles + (int64_t)ty * d->tw + 4 * bl;
                    for (int r = 0; r < 4; r++) {
                        v4_store(t + 4 * r * plane, u[r]);
                        v4_store(t + (4 * r + 1) * plane, u[r] + w[r]);
                        v4_store(t + (4 * r + 2) * plane, u[r] - w[r]);
                        v4_store(t + (4 * r + 3) * plane, -w[r]);
                    }
                }
        }
}

/* output [n, co, oh, ow] = the Winograd convolution of input [n, ci, ih, iw] with U
 * [16, co, ci] (+ bias [co]); images in chunks, chunks in parallel */
static void wino_conv(cpu_ctx *c, const float *x, const float *u, const float *bias, float *y, const wino_dims *d,
                      bool par) {
    size_t mark = cpu_arena_mark(c);
    int64_t per = wino_scratch(d), mv = 16 * d->ld * d->ci, mm = 16 * d->ld * d->co;
    int nt = par ? c->threads : 1;
    float *buf = scratch_alloc(c, (size_t)(nt * per));
    for (int t = 0; t < nt; t++) memset(buf + t * per + mv, 0, (size_t)mm * 4);
#pragma omp parallel for if (par) schedule(dynamic)
    for (int32_t ch = 0; ch < d->chunks; ch++) {
        float *v = buf + omp_get_thread_num() * per, *m = v + mv, *p = m + mm;
        int32_t b0 = ch * d->per_chunk, nimg = d->n - b0 < d->per_chunk ? d->n - b0 : d->per_chunk;
        int64_t t = (int64_t)nimg * d->tiles;
        wino_input(x + (int64_t)b0 * d->ci * d->ih * d->iw, d, nimg, v, p);
        for (int k = 0; k < 16; k++) /* beta 1: M is zero, and OpenBLAS skips its clearing pass */
            sgemm_block(false, false, d->co, t, d->ci, 1.0f, u + (int64_t)k * d->co * d->ci, d->ci,
                        v + k * d->ld * d->ci, d->ld, 1.0f, m + k * d->ld * d->co, d->ld);
        wino_output(m, bias, d, nimg, y + (int64_t)b0 * d->co * d->oh * d->ow);
    }
    cpu_arena_reset(c, mark);
}

/* y = conv2d(x, w) + bias via U = G w G^T */
static void wino_conv2d(cpu_ctx *c, const float *x, const float *w, const float *bias, float *y,
                        const zoo_conv2d_geom *g, bool par) {
    size_t mark = cpu_arena_mark(c);
    float *u = scratch_alloc(c, (size_t)16 * g->cout * g->cin);
    wino_weights(w, g->cout, g->cin, false, u);
    wino_dims d = wino_make(g->n, g->cin, g->h, g->w, g->cout, g->oh, g->ow, g->pad_h, g->pad_w);
    wino_conv(c, x, u, bias, y, &d, par);
    cpu_arena_reset(c, mark);
}

/* dx = the conv of dy with the flipped, transposed kernels and padding 2 - pad */
static void wino_conv2d_backward_input(cpu_ctx *c, const float *dy, const float *w, const float *bias, float *dx,
                                       const zoo_conv2d_geom *g, bool par) {
    size_t mark = cpu_arena_mark(c);
    float *u = scratch_alloc(c, (size_t)16 * g->cout * g->cin);
    wino_weights(w, g->cout, g->cin, true, u);
    wino_dims d = wino_make(g->n, g->cout, g->oh, g->ow, g->cin, g->h, g->w, 2 - g->pad_h, 2 - g->pad_w);
    wino_conv(c, dy, u, bias, dx, &d, par);
    cpu_arena_reset(c, mark);
}

/* dw [cout, cin, 3, 3] = G^T dU G with dU [16, cout, cin] = the sum over tiles of
 * (A dy A^T) V^T. Images go in groups of whole chunks (wgrad_chunks groups, as the
 * im2col path), each summed in order into its own partial; partials add in order.
 * db (NULL: not wanted) comes along: dM's element (1, 1) is the sum of a tile's four
 * outputs. */
static void wino_conv2d_backward_weight(cpu_ctx *c, const float *x, const float *dy, float *dw, float *db,
                                        const zoo_conv2d_geom *g, bool par) {
    wino_dims d = wino_make(g->n, g->cin, g->h, g->w, g->cout, g->oh, g->ow, g->pad_h, g->pad_w);
    int64_t per = wino_scratch(&d), mv = 16 * d.ld * d.ci, mm = 16 * d.ld * d.co, US = 16 * (int64_t)g->cout * g->cin;
    int64_t PS = US + (db ? g->cout : 0); /* a group's partial: dU, then db */
    int groups = wgrad_chunks(d.chunks, PS);
    size_t mark = cpu_arena_mark(c);
    float *buf = scratch_alloc(c, (size_t)((par ? c->threads : 1) * per));
    float *parts = scratch_alloc(c, (size_t)(groups * PS)), *du = scratch_alloc(c, (size_t)US);
#pragma omp parallel for if (par) schedule(dynamic)
    for (int gi = 0; gi < groups; gi++) {
        float *v = buf + omp_get_thread_num() * per, *m = v + mv, *p = m + mm;
        float *part = parts + gi * PS;
        int32_t c0 = (int32_t)((int64_t)d.chunks * gi / groups), c1 = (int32_t)((int64_t)d.chunks * (gi + 1) / groups);
        for (int32_t ch = c0; ch < c1; ch++) {
            int32_t b0 = ch * d.per_chunk, nimg = d.n - b0 < d.per_chunk ? d.n - b0 : d.per_chunk;
            int64_t t = (int64_t)nimg * d.tiles;
            wino_input(x + (int64_t)b0 * d.ci * d.ih * d.iw, &d, nimg, v, p);
            wino_output_adjoint(dy + (int64_t)b0 * d.co * d.oh * d.ow, &d, nimg, m);
            for (int k = 0; k < 16; k++)
                sgemm_block(false, true, d.co, d.ci, t, 1.0f, m + k * d.ld * d.co, d.ld, v + k * d.ld * d.ci, d.ld,
                            ch == c0 ? 0.0f : 1.0f, part + (int64_t)k * d.co * d.ci, d.ci);
            for (int32_t o = 0; db && o < d.co; o++) {
                float s = sum8(m + 5 * d.ld * d.co + (int64_t)o * d.ld, t);
                part[US + o] = ch == c0 ? s : part[US + o] + s;
            }
        }
    }
    sum_partials(parts, groups, PS, du, US);
    if (db) sum_partials(parts + US, groups, PS, db, g->cout);
    /* dw = G^T dU G per kernel; G^T rows: (1, 1/2, 1/2, 0), (0, 1/2, -1/2, 0), (0, 1/2, 1/2, 1) */
    int64_t plane = (int64_t)g->cout * g->cin;
    for (int64_t k = 0; k < plane; k++) {
        float e[4][4], r[3][4];
        for (int i = 0; i < 16; i++) e[i / 4][i % 4] = du[i * plane + k];
        for (int j = 0; j < 4; j++) {
            r[0][j] = e[0][j] + 0.5f * (e[1][j] + e[2][j]);
            r[1][j] = 0.5f * (e[1][j] - e[2][j]);
            r[2][j] = 0.5f * (e[1][j] + e[2][j]) + e[3][j];
        }
        float *o = dw + k * 9;
        for (int i = 0; i < 3; i++) {
            o[3 * i + 0] = r[i][0] + 0.5f * (r[i][1] + r[i][2]);
            o[3 * i + 1] = 0.5f * (r[i][1] - r[i][2]);
            o[3 * i + 2] = 0.5f * (r[i][1] + r[i][2]) + r[i][3];
        }
    }
    cpu_arena_reset(c, mark);
}

/* ---------------------------------------------------------------- small-depth products */

/* At a depth K = cin*kh*kw this small (a first layer on 1-3 channels) the weight
 * gradient's sgemm [cout, P] x [P, K] spends its time packing; plain dot products
 * do better, and take the bias gradient from the same pass over dy. */
#define SMALL_K 16

static bool conv_is_small_k(const zoo_conv2d_geom *g) { return (int64_t)g->cin * g->kh * g->kw <= SMALL_K; }

/* the four lanes of v added in a fixed order */
static float v4_sum(v4f v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* out[i][j] = the dot product of rows a[i] and b[j] over P (i < 2, j < 4), in four
 * lanes and a fixed order; eight accumulators share each load */
static void dots2x4(const float *const a[2], const float *const b[4], int64_t P, float out[2][4]) {
    v4f acc[2][4] = {{{0}}};
    int64_t p4 = P / 4 * 4;
    for (int64_t p = 0; p < p4; p += 4) {
        v4f x0 = v4_load(a[0] + p), x1 = v4_load(a[1] + p);
        for (int j = 0; j < 4; j++) {
            v4f y = v4_load(b[j] + p);
            acc[0][j] += x0 * y;
            acc[1][j] += x1 * y;
        }
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            float s = v4_sum(acc[i][j]);
            for (int64_t p = p4; p < P; p++) s += a[i][p] * b[j][p];
            out[i][j] = s;
        }
}

/* dw [m, K] (+)= dy [m, P] cols [K, P]^T, and db [m] (+)= the row sums of dy (db NULL:
 * not wanted): two rows of dy against four of cols at a time */
static void small_k_wgrad(const float *dy, const float *cols, float *dw, float *db, int64_t m, int64_t K, int64_t P,
                          bool add) {
    for (int64_t o = 0; o < m; o += 2) {
        int na = m - o < 2 ? 1 : 2;
        const float *a[2] = {dy + o * P, dy + (o + na - 1) * P}; /* a lone last row is done twice */
        for (int i = 0; db && i < na; i++) db[o + i] = (add ? db[o + i] : 0.0f) + sum8(a[i], P);
        for (int64_t k = 0; k < K; k += 4) {
            int nb = K - k < 4 ? (int)(K - k) : 4;
            const float *b[4];
            for (int j = 0; j < 4; j++) b[j] = cols + (k + (j < nb ? j : 0)) * P;
            float out[2][4];
            dots2x4(a, b, P, out);
            for (int i = 0; i < na; i++)
                for (int j = 0; j < nb; j++) {
                    float *t = dw + (o + i) * K + k + j;
                    *t = add ? *t + out[i][j] : out[i][j];
                }
        }
    }
}

/* x [n, cin, h, w], w [cout, cin, kh, kw], bias [cout] or NULL -> y [n, cout, oh, ow]
 * (backend.h). 3x3 stride 1 with 8+ channels each way: Winograd. Otherwise images run
 * in parallel, each as im2col + one sgemm into its own output. */
static void cpu_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
                       const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P;
    bool pointwise = conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS && g->n > 1;
    const float *pw = f32(w), *pb = bias ? f32(bias) : NULL;
    if (conv_is_winograd(g)) {
        wino_conv2d(c, f32(x), pw, pb, f32(y), g, par);
        return;
    }
    size_t mark = cpu_arena_mark(c);
    float *buf = pointwise ? NULL : scratch_alloc(c, (size_t)(c->threads * K * P));
#pragma omp parallel for if (par) schedule(dynamic)
    for (int64_t b = 0; b < g->n; b++) {
        const float *xb = f32(x) + b * xs;
        float *yb = f32(y) + b * ys, *cols = pointwise ? NULL : buf + omp_get_thread_num() * K * P;
        if (!pointwise) im2col(xb, cols, g);
        if (pb) fill_rows(yb, pb, g->cout, P);
        sgemm_block(false, false, g->cout, P, K, 1.0f, pw, K, pointwise ? xb : cols, P, pb ? 1.0f : 0.0f, yb, P);
    }
    cpu_arena_reset(c, mark);
}

/* dy [n, cout, oh, ow], w, bias [cin] or NULL -> dx [n, cin, h, w]: per image the
 * sgemm w^T dy into columns, then col2im (or Winograd, as cpu_conv2d) */
static void cpu_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                                      zoo_tensor *dx, const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow, HW = (int64_t)g->h * g->w;
    int64_t xs = (int64_t)g->cin * HW, ys = (int64_t)g->cout * P;
    bool pointwise = conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS && g->n > 1;
    const float *pw = f32(w), *pb = bias ? f32(bias) : NULL;
    if (conv_is_winograd(g)) {
        wino_conv2d_backward_input(c, f32(dy), pw, pb, f32(dx), g, par);
        return;
    }
    size_t mark = cpu_arena_mark(c);
    float *buf = pointwise ? NULL : scratch_alloc(c, (size_t)(c->threads * K * P));
#pragma omp parallel for if (par) schedule(dynamic)
    for (int64_t b = 0; b < g->n; b++) {
        const float *dyb = f32(dy) + b * ys;
        float *dxb = f32(dx) + b * xs;
        if (pointwise) {
            if (pb) fill_rows(dxb, pb, g->cin, HW);
            sgemm_block(true, false, K, P, g->cout, 1.0f, pw, K, dyb, P, pb ? 1.0f : 0.0f, dxb, P);
            continue;
        }
        float *cols = buf + omp_get_thread_num() * K * P;
        sgemm_block(true, false, K, P, g->cout, 1.0f, pw, K, dyb, P, 0.0f, cols, P);
        fill_rows(dxb, pb, g->cin, HW);
        col2im(cols, dxb, g);
    }
    cpu_arena_reset(c, mark);
}

/* x, dy -> dw [cout, cin, kh, kw], db [cout]: per image the sgemm dy cols^T (small
 * depth: dot products; 3x3 stride 1: Winograd), summed in fixed chunks of images */
static void cpu_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                       zoo_tensor *db, const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P, WS = g->cout * K;
    bool pointwise = conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS && g->n > 1;
    bool small = conv_is_small_k(g), wino = conv_is_winograd(g);
    bool fused_db = (small || wino) && db && dw; /* db from the same pass over dy */
    if (db && !fused_db) channel_sums(f32(dy), f32(db), g->n, g->cout, P);
    if (!dw) return;
    if (wino) {
        wino_conv2d_backward_weight(c, f32(x), f32(dy), f32(dw), fused_db ? f32(db) : NULL, g, par);
        return;
    }
    /* each chunk's partial: dw [cout, K], then db [cout] when fused */
    int64_t PS = WS + (fused_db ? g->cout : 0);
    int nch = wgrad_chunks(g->n, PS);
    size_t mark = cpu_arena_mark(c);
    float *buf = pointwise ? NULL : scratch_alloc(c, (size_t)(c->threads * K * P));
    float *parts = scratch_alloc(c, (size_t)(nch * PS));
#pragma omp parallel for if (par) schedule(dynamic)
    for (int ch = 0; ch < nch; ch++) {
        float *cols = pointwise ? NULL : buf + omp_get_thread_num() * K * P, *part = parts + ch * PS;
        int64_t b0 = g->n * ch / nch, b1 = g->n * (ch + 1) / nch;
        for (int64_t b = b0; b < b1; b++) {
            const float *xb = f32(x) + b * xs, *dyb = f32(dy) + b * ys;
            if (!pointwise) im2col(xb, cols, g);
            if (small)
                small_k_wgrad(dyb, pointwise ? xb : cols, part, fused_db ? part + WS : NULL, g->cout, K, P, b > b0);
            else
                sgemm_block(false, true, g->cout, K, P, 1.0f, dyb, P, pointwise ? xb : cols, P, b == b0 ? 0.0f : 1.0f,
                            part, K);
        }
    }
    sum_partials(parts, nch, PS, f32(dw), WS);
    if (fused_db) sum_partials(parts + WS, nch, PS, f32(db), g->cout);
    cpu_arena_reset(c, mark);
}

/* ---------------------------------------------------------------- pooling */

/* PyTorch's rule for the running maximum: a larger value or a NaN takes over
 * (bitwise or: no branch, so loops of it vectorize) */
static inline bool takes_max(float v, float best) { return (v > best) | (v != v); }

/* 2x2 windows, stride 2, no padding: branch-free selects the compiler vectorizes */
static void max_pool_plane_2x2(const float *restrict x, float *restrict y, int32_t *restrict idx, int32_t w,
                               int32_t oh, int32_t ow) {
    for (int32_t oy = 0; oy < oh; oy++) {
        const float *r0 = x + (int64_t)2 * oy * w, *r1 = r0 + w;
        float *yr = y + (int64_t)oy * ow;
        int32_t *ir = idx + (int64_t)oy * ow, base = 2 * oy * w;
        for (int32_t ox = 0; ox < ow; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            float best = a;
            int32_t bi = 0;
            bool t = takes_max(b, best);
            best = t ? b : best;
            bi = t ? 1 : bi;
            t = takes_max(c, best);
            best = t ? c : best;
            bi = t ? w : bi;
            t = takes_max(d, best);
            best = t ? d : best;
            bi = t ? w + 1 : bi;
            yr[ox] = best;
            ir[ox] = base + 2 * ox + bi;
        }
    }
}

/* one [h, w] plane -> one [oh, ow] plane */
static void max_pool_plane(const float *x, float *y, int32_t *idx, const zoo_conv2d_geom *g) {
    if (g->kh == 2 && g->kw == 2 && g->stride_h == 2 && g->stride_w == 2 && g->pad_h == 0 && g->pad_w == 0) {
        max_pool_plane_2x2(x, y, idx, g->w, g->oh, g->ow);
        return;
    }
    for (int32_t oy = 0; oy < g->oh; oy++) {
        int32_t y0 = oy * g->stride_h - g->pad_h, y1 = y0 + g->kh;
        y0 = y0 > 0 ? y0 : 0;
        y1 = y1 < g->h ? y1 : g->h;
        for (int32_t ox = 0; ox < g->ow; ox++) {
            int32_t x0 = ox * g->stride_w - g->pad_w, x1 = x0 + g->kw;
            x0 = x0 > 0 ? x0 : 0;
            x1 = x1 < g->w ? x1 : g->w;
            int32_t bi = y0 * g->w + x0;
            float best = -INFINITY;
            for (int32_t iy = y0; iy < y1; iy++)
                for (int32_t ix = x0; ix < x1; ix++) {
                    float v = x[iy * g->w + ix];
                    bool t = takes_max(v, best);
                    best = t ? v : best;
                    bi = t ? iy * g->w + ix : bi;
                }
            y[oy * g->ow + ox] = best;
            idx[oy * g->ow + ox] = bi;
        }
    }
}

static void avg_pool_plane(const float *x, float *y, const zoo_conv2d_geom *g) {
    float inv = 1.0f / (float)(g->kh * g->kw);
    for (int32_t oy = 0; oy < g->oh; oy++) {
        int32_t y0 = oy * g->stride_h - g->pad_h, y1 = y0 + g->kh;
        y0 = y0 > 0 ? y0 : 0;
        y1 = y1 < g->h ? y1 : g->h;
        for (int32_t ox = 0; ox < g->ow; ox++) {
            int32_t x0 = ox * g->stride_w - g->pad_w, x1 = x0 + g->kw;
            x0 = x0 > 0 ? x0 : 0;
            x1 = x1 < g->w ? x1 : g->w;
            float s = 0.0f;
            for (int32_t iy = y0; iy < y1; iy++)
                for (int32_t ix = x0; ix < x1; ix++) s += x[iy * g->w + ix];
            y[oy * g->ow + ox] = s * inv;
        }
    }
}

/* x [n, c, h, w] -> y, idx [n, c, oh, ow]: planes in parallel */
static void cpu_pool2d(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
                       const zoo_conv2d_geom *g) {
    (void)ctx;
    int64_t planes = (int64_t)g->n * g->cin, HW = (int64_t)g->h * g->w, P = (int64_t)g->oh * g->ow;
#pragma omp parallel for if (planes * HW >= PAR_MIN) schedule(dynamic, 64)
    for (int64_t p = 0; p < planes; p++) {
        if (op == ZOO_POOL_MAX) max_pool_plane(f32(x) + p * HW, f32(y) + p * P, i32(idx) + p * P, g);
        else avg_pool_plane(f32(x) + p * HW, f32(y) + p * P, g);
    }
}

/* dy (+ idx) -> dx [n, c, h, w]: per plane, clear, then add each dy where it came
 * from in increasing output order (the gather order of backend.h) */
static void cpu_pool2d_backward(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx,
                                zoo_tensor *dx, const zoo_conv2d_geom *g) {
    (void)ctx;
    int64_t planes = (int64_t)g->n * g->cin, HW = (int64_t)g->h * g->w, P = (int64_t)g->oh * g->ow;
    float inv = 1.0f / (float)(g->kh * g->kw);
#pragma omp parallel for if (planes * HW >= PAR_MIN) schedule(dynamic, 64)
    for (int64_t p = 0; p < planes; p++) {
        const float *d = f32(dy) + p * P;
        float *o = f32(dx) + p * HW;
        memset(o, 0, (size_t)HW * 4);
        if (op == ZOO_POOL_MAX) {
            const int32_t *ix = i32(idx) + p * P;
            for (int64_t j = 0; j < P; j++) o[ix[j]] += d[j];
            continue;
        }
        for (int32_t oy = 0; oy < g->oh; oy++) {
            int32_t y0 = oy * g->stride_h - g->pad_h, y1 = y0 + g->kh;
            y0 = y0 > 0 ? y0 : 0;
            y1 = y1 < g->h ? y1 : g->h;
            for (int32_t ox = 0; ox < g->ow; ox++) {
                int32_t x0 = ox * g->stride_w - g->pad_w, x1 = x0 + g->kw;
                x0 = x0 > 0 ? x0 : 0;
                x1 = x1 < g->w ? x1 : g->w;
                float v = d[oy * g->ow + ox] * inv;
                for (int32_t iy = y0; iy < y1; iy++)
                    for (int32_t ix = x0; ix < x1; ix++) o[iy * g->w + ix] += v;
            }
        }
    }
}

/* ---------------------------------------------------------------- batch norm */

/* sums over the (n, inner) elements of channel ch in x [n, c, inner], rows of inner
 * floats in 8 lanes and rows added in double, so long reductions keep their digits */
static double channel_sum(const float *x, int64_t n, int64_t c, int64_t inner, int64_t ch) {
    double acc = 0.0;
    for (int64_t b = 0; b < n; b++) acc += sum8(x + (b * c + ch) * inner, inner);
    return acc;
}

static double channel_sq_dev(const float *x, int64_t n, int64_t c, int64_t inner, int64_t ch, float mean) {
    double acc = 0.0;
    for (int64_t b = 0; b < n; b++) {
        const float *r = x + (b * c + ch) * inner;
        float a[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= inner; i += 8)
            for (int j = 0; j < 8; j++) a[j] += (r[i + j] - mean) * (r[i + j] - mean);
        for (int j = 0; i < inner; i++, j++) a[j] += (r[i] - mean) * (r[i] - mean);
        acc += ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    }
    return acc;
}

/* sum of dy * (x - mean) over channel ch */
static double channel_dot_dev(const float *x, const float *dy, int64_t n, int64_t c, int64_t inner, int64_t ch,
                              float mean) {
    double acc = 0.0;
    for (int64_t b = 0; b < n; b++) {
        const float *r = x + (b * c + ch) * inner, *d = dy + (b * c + ch) * inner;
        float a[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= inner; i += 8)
            for (int j = 0; j < 8; j++) a[j] += d[i + j] * (r[i + j] - mean);
        for (int j = 0; i < inner; i++, j++) a[j] += d[i] * (r[i] - mean);
        acc += ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    }
    return acc;
}

static void bn_dims(const zoo_tensor *x, int64_t *n, int64_t *c, int64_t *inner) {
    *n = x->shape.d[0];
    *c = x->shape.d[1];
    *inner = x->numel / (*n * *c);
}

/* x [n, c, inner] -> y; per channel in parallel: mean, then the variance about it
 * (two passes: no cancellation), accumulated per row in float, across rows in double */
static void cpu_batchnorm(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                          zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                          zoo_tensor *save_invstd, const zoo_batchnorm_params *p) {
    (void)ctx;
    int64_t n, c, inner;
    bn_dims(x, &n, &c, &inner);
    int64_t m = n * inner;
    const float *px = f32(x);
    float *py = f32(y);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        float mean, invstd;
        if (p->training) {
            mean = (float)(channel_sum(px, n, c, inner, ch) / (double)m);
            double var = channel_sq_dev(px, n, c, inner, ch, mean) / (double)m;
            invstd = (float)(1.0 / sqrt(var + (double)p->eps));
            if (running_mean) {
                float *rm = f32(running_mean) + ch, *rv = f32(running_var) + ch;
                float unbiased = (float)(var * (double)m / (double)(m - 1));
                *rm = (1.0f - p->momentum) * *rm + p->momentum * mean;
                *rv = (1.0f - p->momentum) * *rv + p->momentum * unbiased;
            }
        } else {
            mean = f32(running_mean)[ch];
            invstd = 1.0f / sqrtf(f32(running_var)[ch] + p->eps);
        }
        f32(save_mean)[ch] = mean;
        f32(save_invstd)[ch] = invstd;
        float scale = invstd * (gamma ? f32(gamma)[ch] : 1.0f);
        float shift = (beta ? f32(beta)[ch] : 0.0f) - mean * scale;
        for (int64_t b = 0; b < n; b++) {
            const float *r = px + (b * c + ch) * inner;
            float *o = py + (b * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++) o[i] = r[i] * scale + shift;
        }
    }
}

/* x, dy, saved mean and invstd -> dx, dgamma, dbeta; per channel in parallel: the two
 * sums, then dx in one more pass */
static void cpu_batchnorm_backward(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                                   const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                                   zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p) {
    (void)ctx;
    int64_t n, c, inner;
    bn_dims(x, &n, &c, &inner);
    int64_t m = n * inner;
    const float *px = f32(x), *pd = f32(dy);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t ch = 0; ch < c; ch++) {
        float mean = f32(save_mean)[ch], invstd = f32(save_invstd)[ch];
        float g = gamma ? f32(gamma)[ch] : 1.0f;
        bool need_sums = dgamma || dbeta || (dx && p->training);
        float sum_dy = 0.0f, dot = 0.0f;
        if (need_sums) {
            sum_dy = (float)channel_sum(pd, n, c, inner, ch);
            dot = (float)channel_dot_dev(px, pd, n, c, inner, ch, mean);
        }
        if (dgamma) f32(dgamma)[ch] = dot * invstd;
        if (dbeta) f32(dbeta)[ch] = sum_dy;
        if (!dx) continue;
        /* training: dx = (dy - mean(dy) - (x - mean) * k) * invstd * gamma, k = dot * invstd^2 / m */
        float k = p->training ? dot * invstd * invstd / (float)m : 0.0f;
        float mdy = p->training ? sum_dy / (float)m : 0.0f, s = invstd * g;
        for (int64_t b = 0; b < n; b++) {
            const float *r = px + (b * c + ch) * inner, *d = pd + (b * c + ch) * inner;
            float *o = f32(dx) + (b * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++) o[i] = (d[i] - mdy - (r[i] - mean) * k) * s;
        }
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
        .conv2d = cpu_conv2d,
        .conv2d_backward_input = cpu_conv2d_backward_input,
        .conv2d_backward_weight = cpu_conv2d_backward_weight,
        .pool2d = cpu_pool2d,
        .pool2d_backward = cpu_pool2d_backward,
        .batchnorm = cpu_batchnorm,
        .batchnorm_backward = cpu_batchnorm_backward,
        .sgd_update = cpu_sgd_update,
        .adam_update = cpu_adam_update,
    };
    cpu_set_threads(c, threads);
    return be;
}
