/* The CPU backend: its own matrix product (gemm.c), plain C loops for the rest,
 * OpenMP across rows where the work is large enough to pay for waking threads.
 * Every sum is taken in canon.h's order and every elementary function is
 * canon_math.h's, so results equal the Vulkan backend's bit for bit.
 * Everything runs synchronously, so flush and sync have nothing to do. */
#include "../arena.h"
#include "../backend.h"
#include "../philox.h"
#include "../canon.h"
#include "../canon_math.h"
#include "gemm.h"

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

/* Scratch for one kernel call comes from the arena and goes back before the call
 * returns, so the blocks are reused from step to step (no page faults). */
static float *scratch_alloc(cpu_ctx *c, size_t floats) {
    float *p = cpu_arena_alloc(c, floats * sizeof(float));
    if (!p) {
        fprintf(stderr, "zoo: error: out of memory for %zu MiB of scratch\n", (floats * 4) >> 20);
        exit(1);
    }
    return p;
}

/* below this many multiply-adds a product runs on one thread */
#define GEMM_PAR_MIN_FLOPS (1 << 20)

/* g's product with these operands */
static void gemm_item(const zoo_gemm_args *g, const float *a, const float *b, float *c, float *scratch, int threads) {
    zoo_gemm_args gi = *g;
    gi.a = a, gi.b = b, gi.c = c;
    zoo_gemm(&gi, scratch, threads);
}

/* A product large enough runs on the team; smaller ones in a batch run side by side,
 * one per thread. Never an OpenMP region inside another, even an inactive one: GOMP
 * starts fresh threads for every nested team, and their pool's idle threads spin. */
static void cpu_gemm(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *c, bool ta, bool tb,
                     float alpha, float beta) {
    cpu_ctx *cx = ctx;
    int64_t ba, ar, ac, bb, br, bc, nbatch, cr, cc;
    mat_dims(a, &ba, &ar, &ac);
    mat_dims(b, &bb, &br, &bc);
    mat_dims(c, &nbatch, &cr, &cc);
    int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
    double flops = (double)m * (double)n * (double)k;
    bool par_inside = flops >= GEMM_PAR_MIN_FLOPS, par_batch = !par_inside && nbatch > 1 && flops * nbatch >= GEMM_PAR_MIN_FLOPS;
    int team = par_batch ? cx->threads : 1;
    size_t per = zoo_gemm_scratch_floats(m, n, k), mark = cpu_arena_mark(cx);
    float *scratch = scratch_alloc(cx, per * (size_t)team);
    zoo_gemm_args g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
                       .lda = ac, .ldb = bc, .ldc = cc};
    const float *pa = f32(a), *pb = f32(b);
    float *pc = f32(c);
    int64_t sa = ba == 1 ? 0 : ar * ac, sb = bb == 1 ? 0 : br * bc, sc = cr * cc; /* batch strides */
    if (par_batch) {
#pragma omp parallel for num_threads(team) schedule(static)
        for (int64_t i = 0; i < nbatch; i++)
            gemm_item(&g, pa + i * sa, pb + i * sb, pc + i * sc, scratch + (size_t)omp_get_thread_num() * per, 1);
    } else {
        for (int64_t i = 0; i < nbatch; i++)
            gemm_item(&g, pa + i * sa, pb + i * sb, pc + i * sc, scratch, par_inside ? cx->threads : 1);
    }
    cpu_arena_reset(cx, mark);
}

/* ---------------------------------------------------------------- unary */

/* the elementary functions are canon_math.h's, shared with the shaders */
static float gelu(float x) { return 0.5f * x * (1.0f + zoo_erff(x * 0.70710678118654752f)); }

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
    case ZOO_UNARY_POW: LOOP(zoo_powf(v, a))
    case ZOO_UNARY_RELU: LOOP(v > 0.0f ? v : 0.0f)
    case ZOO_UNARY_LEAKY_RELU: LOOP(v > 0.0f ? v : a * v)
    case ZOO_UNARY_TANH: LOOP(zoo_tanhf(v))
    case ZOO_UNARY_SIGMOID: LOOP(zoo_sigmoidf(v))
    case ZOO_UNARY_GELU: LOOP(gelu(v))
    case ZOO_UNARY_SILU: LOOP(v * zoo_sigmoidf(v))
    case ZOO_UNARY_EXP: LOOP(zoo_expf(v))
    case ZOO_UNARY_LOG: LOOP(zoo_logf(v))
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
    case ZOO_UNARY_POW: LOOP(a * zoo_powf(v, a - 1.0f) * g)
    case ZOO_UNARY_RELU: LOOP(v > 0.0f ? g : 0.0f)
    case ZOO_UNARY_LEAKY_RELU: LOOP(v > 0.0f ? g : a * g)
    case ZOO_UNARY_TANH: LOOP(g * (1.0f - o * o))
    case ZOO_UNARY_SIGMOID: LOOP(g * o * (1.0f - o))
    case ZOO_UNARY_GELU:
        LOOP(g * (0.5f * (1.0f + zoo_erff(v * 0.70710678118654752f)) +
                  v * 0.39894228040143268f * zoo_expf(-0.5f * v * v)))
    case ZOO_UNARY_SILU: LOOP(g * (zoo_sigmoidf(v) * (1.0f + v * (1.0f - zoo_sigmoidf(v)))))
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
    int64_t on = out->numel, count = x->numel / on;
    if (op == ZOO_REDUCE_MAX) {
        int64_t os[4], st = 1;
        for (int i = 3; i >= 0; i--) {
            os[i] = od[i] == 1 ? 0 : st;
            st *= od[i];
        }
        for (int64_t k = 0; k < on; k++) po[k] = -INFINITY;
        int64_t i = 0;
        for (int64_t i0 = 0; i0 < d[0]; i0++)
            for (int64_t i1 = 0; i1 < d[1]; i1++)
                for (int64_t i2 = 0; i2 < d[2]; i2++, i += d[3]) {
                    float *ro = po + i0 * os[0] + i1 * os[1] + i2 * os[2];
                    for (int64_t i3 = 0; i3 < d[3]; i3++) {
                        float *q = ro + i3 * os[3];
                        *q = px[i + i3] > *q ? px[i + i3] : *q;
                    }
                }
        return;
    }
    /* Sums in canon.h's order: output k adds the elements that reduce into it in
     * x's row-major order. Split x into [outer, r, inner] where possible (one run of
     * reduced dims): output (o, j) sums x[o, 0..r-1, j], r terms at stride inner. */
    int first = -1, last = -1;
    for (int i = 0; i < 4; i++)
        if (od[i] != d[i]) {
            if (first < 0) first = i;
            last = i;
        }
    bool run = first >= 0; /* nothing reduced: the general path adds each lone term to 0 */
    for (int i = first; run && i <= last; i++) run = od[i] == 1;
    if (first >= 0 && run) {
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < first; i++) outer *= d[i];
        for (int i = last + 1; i < 4; i++) inner *= d[i];
#pragma omp parallel for collapse(2) if (x->numel >= PAR_MIN) schedule(static)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++) {
                zoo_sum acc = zoo_sum_new();
                zoo_sum_add_run(&acc, px + o * count * inner + j, count, inner);
                float r = zoo_sum_result(&acc);
                po[o * inner + j] = op == ZOO_REDUCE_MEAN ? r / (float)count : r;
            }
        return;
    }
    /* reduced dims with kept ones between them: one running sum per output */
    zoo_sum *acc = malloc((size_t)on * sizeof *acc);
    ZOO_ASSERT(acc != NULL);
    for (int64_t k = 0; k < on; k++) acc[k] = zoo_sum_new();
    int64_t os[4], st = 1;
    for (int i = 3; i >= 0; i--) {
        os[i] = od[i] == 1 ? 0 : st;
        st *= od[i];
    }
    int64_t i = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++)
                for (int64_t i3 = 0; i3 < d[3]; i3++, i++)
                    zoo_sum_add(&acc[i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3]], px[i]);
    for (int64_t k = 0; k < on; k++) {
        float r = zoo_sum_result(&acc[k]);
        po[k] = op == ZOO_REDUCE_MEAN ? r / (float)count : r;
    }
    free(acc);
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
        zoo_sum acc = zoo_sum_new();
        if (log) {
            for (int64_t j = 0; j < cols; j++) zoo_sum_add(&acc, zoo_expf(p[j] - mx));
            float lse = mx + zoo_logf(zoo_sum_result(&acc));
            for (int64_t j = 0; j < cols; j++) q[j] = p[j] - lse;
        } else { /* q holds the exponentials until their sum is known */
            for (int64_t j = 0; j < cols; j++) q[j] = zoo_expf(p[j] - mx);
            zoo_sum_add_run(&acc, q, cols, 1);
            float sum = zoo_sum_result(&acc);
            for (int64_t j = 0; j < cols; j++) q[j] = q[j] / sum;
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
        zoo_sum acc = zoo_sum_new();
        if (log) {
            zoo_sum_add_run(&acc, gr, cols, 1);
            float s = zoo_sum_result(&acc);
            for (int64_t j = 0; j < cols; j++) dr[j] = gr[j] - zoo_expf(yr[j]) * s;
        } else {
            for (int64_t j = 0; j < cols; j++) zoo_sum_add(&acc, gr[j] * yr[j]);
            float s = zoo_sum_result(&acc);
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
        for (int64_t j = 0; j < cols; j++) d[j] = (zoo_expf(p[j]) - (j == y ? 1.0f : 0.0f)) * g;
    }
}

/* ---------------------------------------------------------------- permute */

static void cpu_permute(void *ctx, const zoo_tensor *x, zoo_tensor *out, const int *perm) {
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


/* Work in these kernels is split into images, each computed the same way on
 * whichever thread takes it, so results never depend on the thread count. The
 * images are handed out dynamically: on a shared machine one thread is often
 * slowed, and a static split would make the others wait for it. */

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

/* row r = (i*kh + ky)*kw + kx of one image's column matrix: x [cin, h, w] ->
 * row [oh*ow], the input pixel each output position's tap (ky, kx) reads, 0 in the
 * padding */
static void im2col_row(const float *x, float *row, const zoo_conv2d_geom *g, int64_t r) {
    int32_t kx = (int32_t)(r % g->kw), ky = (int32_t)(r / g->kw % g->kh), i = (int32_t)(r / (g->kw * g->kh));
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

/* one image: x [cin, h, w] -> cols [cin*kh*kw, oh*ow], on this thread */
static void im2col(const float *x, float *cols, const zoo_conv2d_geom *g) {
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
    for (int64_t r = 0; r < K; r++) im2col_row(x, cols + r * P, g, r);
}

/* the same, its rows shared among the threads of the enclosing team */
static void im2col_shared(const float *x, float *cols, const zoo_conv2d_geom *g) {
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < K; r++) im2col_row(x, cols + r * P, g, r);
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

/* x [n, cin, h, w], w [cout, cin, kh, kw], bias [cout] or NULL -> y [n, cout, oh, ow]
 * (backend.h): per image, im2col and the product w [cout, K] cols [K, P], then the
 * bias. Images run in parallel, each product on one thread (a product split over
 * threads inside the images' region would be a nested OpenMP team: see cpu_gemm). */
static void cpu_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
                       const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P;
    bool pointwise = conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS && g->n > 1;
    int64_t per = (pointwise ? 0 : K * P) + (int64_t)zoo_gemm_scratch_floats(g->cout, P, K);
    size_t mark = cpu_arena_mark(c);
    float *buf = scratch_alloc(c, (size_t)(c->threads * per));
    /* the weights are every image's A: packed once */
    zoo_gemm_args wa = {.m = g->cout, .k = K, .a = f32(w), .lda = K};
    float *packed = scratch_alloc(c, zoo_gemm_packed_a_floats(g->cout, K));
    zoo_gemm_pack_a(&wa, packed);
#pragma omp parallel for if (par) schedule(dynamic)
    for (int64_t b = 0; b < g->n; b++) {
        const float *xb = f32(x) + b * xs;
        float *yb = f32(y) + b * ys, *cols = buf + omp_get_thread_num() * per;
        if (!pointwise) im2col(xb, cols, g);
        zoo_gemm_args a = {.m = g->cout, .n = P, .k = K, .alpha = 1.0f, .packed_a = packed,
                           .b = pointwise ? xb : cols, .ldb = P, .c = yb, .ldc = P};
        zoo_gemm(&a, cols + (pointwise ? 0 : K * P), 1);
        for (int64_t o = 0; bias && o < g->cout; o++)
            for (int64_t j = 0; j < P; j++) yb[o * P + j] = yb[o * P + j] + f32(bias)[o];
    }
    cpu_arena_reset(c, mark);
}

/* dy [n, cout, oh, ow], w, bias [cin] or NULL -> dx [n, cin, h, w]: per image the
 * product w^T dy into columns, then col2im onto the bias */
static void cpu_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                                      zoo_tensor *dx, const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow, HW = (int64_t)g->h * g->w;
    int64_t xs = (int64_t)g->cin * HW, ys = (int64_t)g->cout * P;
    bool pointwise = conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS && g->n > 1;
    int64_t per = (pointwise ? 0 : K * P) + (int64_t)zoo_gemm_scratch_floats(K, P, g->cout);
    size_t mark = cpu_arena_mark(c);
    float *buf = scratch_alloc(c, (size_t)(c->threads * per));
    /* w^T is every image's A: packed once */
    zoo_gemm_args wa = {.ta = true, .m = K, .k = g->cout, .a = f32(w), .lda = K};
    float *packed = scratch_alloc(c, zoo_gemm_packed_a_floats(K, g->cout));
    zoo_gemm_pack_a(&wa, packed);
#pragma omp parallel for if (par) schedule(dynamic)
    for (int64_t b = 0; b < g->n; b++) {
        float *dxb = f32(dx) + b * xs, *cols = buf + omp_get_thread_num() * per;
        /* pointwise: the columns are dx itself, and the bias comes after */
        zoo_gemm_args a = {.ta = true, .m = K, .n = P, .k = g->cout, .alpha = 1.0f, .packed_a = packed,
                           .b = f32(dy) + b * ys, .ldb = P, .c = pointwise ? dxb : cols, .ldc = P};
        zoo_gemm(&a, cols + (pointwise ? 0 : K * P), 1);
        if (pointwise) {
            for (int64_t i = 0; bias && i < g->cin; i++)
                for (int64_t j = 0; j < HW; j++) dxb[i * HW + j] = dxb[i * HW + j] + f32(bias)[i];
            continue;
        }
        fill_rows(dxb, bias ? f32(bias) : NULL, g->cin, HW);
        col2im(cols, dxb, g);
    }
    cpu_arena_reset(c, mark);
}

/* x, dy -> dw [cout, cin, kh, kw], db [cout] (backend.h): the images' gradients
 * added in canon.h's order, an image a term. So image after image, the whole team
 * works on one image: its columns, then the product dy_b [cout, P] cols_b^T [P, K]
 * added onto the sum so far (beta 1), and dy_b's row sums likewise; every 256
 * images the open group's sum moves to the level above. */
static void cpu_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                       zoo_tensor *db, const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P, WS = (int64_t)g->cout * K;
    bool pointwise = conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS;
    bool levels = g->n > ZOO_SUM_GROUP; /* more than one group of images */
    size_t mark = cpu_arena_mark(c);
    float *cols = dw && !pointwise ? scratch_alloc(c, (size_t)(K * P)) : NULL;
    float *gs = dw ? scratch_alloc(c, zoo_gemm_scratch_floats(g->cout, K, P)) : NULL;
    float *done_w = levels && dw ? scratch_alloc(c, (size_t)WS) : NULL;
    float *done_b = levels && db ? scratch_alloc(c, (size_t)g->cout) : NULL;
    float *pw = dw ? f32(dw) : NULL, *pb = db ? f32(db) : NULL;
#pragma omp parallel if (par) num_threads(c->threads)
    for (int64_t b = 0; b < g->n; b++) {
        bool opens = b % ZOO_SUM_GROUP == 0;
        if (opens && b > 0) { /* the group just closed is a term of the level above */
            bool first = b == ZOO_SUM_GROUP;
#pragma omp for schedule(static)
            for (int64_t j = 0; j < WS + g->cout; j++) {
                if (j < WS && dw) done_w[j] = (first ? 0.0f : done_w[j]) + pw[j];
                if (j >= WS && db) done_b[j - WS] = (first ? 0.0f : done_b[j - WS]) + pb[j - WS];
            }
        }
        const float *xb = f32(x) + b * xs, *dyb = f32(dy) + b * ys;
        if (dw) {
            if (!pointwise) im2col_shared(xb, cols, g);
            zoo_gemm_args a = {.tb = true, .m = g->cout, .n = K, .k = P, .alpha = 1.0f, .beta = opens ? 0.0f : 1.0f,
                               .a = dyb, .lda = P, .b = pointwise ? xb : cols, .ldb = P, .c = pw, .ldc = K};
            zoo_gemm_shared(&a, gs);
        }
        if (db) {
#pragma omp for schedule(static)
            for (int64_t o = 0; o < g->cout; o++) {
                zoo_sum acc = zoo_sum_new();
                zoo_sum_add_run(&acc, dyb + o * P, P, 1);
                float s = zoo_sum_result(&acc);
                pb[o] = opens ? s : pb[o] + s;
            }
        }
    }
    if (levels) { /* the last group is the last term */
        for (int64_t j = 0; dw && j < WS; j++) pw[j] = done_w[j] + pw[j];
        for (int64_t o = 0; db && o < g->cout; o++) pb[o] = done_b[o] + pb[o];
    }
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

/* the input span [*lo, *hi) that output o's window covers along one axis, clipped to
 * the input (the padding holds nothing to read) */
static inline void pool_span(int32_t o, int32_t stride, int32_t pad, int32_t k, int32_t size, int32_t *lo,
                             int32_t *hi) {
    int32_t a = o * stride - pad, b = a + k;
    *lo = a > 0 ? a : 0;
    *hi = b < size ? b : size;
}

/* one [h, w] plane -> one [oh, ow] plane */
static void max_pool_plane(const float *x, float *y, int32_t *idx, const zoo_conv2d_geom *g) {
    if (g->kh == 2 && g->kw == 2 && g->stride_h == 2 && g->stride_w == 2 && g->pad_h == 0 && g->pad_w == 0) {
        max_pool_plane_2x2(x, y, idx, g->w, g->oh, g->ow);
        return;
    }
    for (int32_t oy = 0; oy < g->oh; oy++) {
        int32_t y0, y1;
        pool_span(oy, g->stride_h, g->pad_h, g->kh, g->h, &y0, &y1);
        for (int32_t ox = 0; ox < g->ow; ox++) {
            int32_t x0, x1;
            pool_span(ox, g->stride_w, g->pad_w, g->kw, g->w, &x0, &x1);
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
        int32_t y0, y1;
        pool_span(oy, g->stride_h, g->pad_h, g->kh, g->h, &y0, &y1);
        for (int32_t ox = 0; ox < g->ow; ox++) {
            int32_t x0, x1;
            pool_span(ox, g->stride_w, g->pad_w, g->kw, g->w, &x0, &x1);
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
            int32_t y0, y1;
            pool_span(oy, g->stride_h, g->pad_h, g->kh, g->h, &y0, &y1);
            for (int32_t ox = 0; ox < g->ow; ox++) {
                int32_t x0, x1;
                pool_span(ox, g->stride_w, g->pad_w, g->kw, g->w, &x0, &x1);
                float v = d[oy * g->ow + ox] * inv;
                for (int32_t iy = y0; iy < y1; iy++)
                    for (int32_t ix = x0; ix < x1; ix++) o[iy * g->w + ix] += v;
            }
        }
    }
}

/* ---------------------------------------------------------------- batch norm */

/* The per-channel sums batch norm takes (backend.h): over channel ch's elements of
 * x [n, c, inner] in order (image by image), in canon.h's order, of one of these
 * terms; blocks of terms are made, then added. */
typedef enum bn_term { BN_X, BN_SQ_DEV, BN_DY, BN_DY_DEV } bn_term;

static float channel_sum(bn_term t, const float *x, const float *dy, int64_t n, int64_t c, int64_t inner, int64_t ch,
                         float mean) {
    zoo_sum acc = zoo_sum_new();
    float buf[ZOO_SUM_GROUP];
    for (int64_t b = 0; b < n; b++) {
        const float *r = x + (b * c + ch) * inner, *d = dy ? dy + (b * c + ch) * inner : NULL;
        for (int64_t i0 = 0; i0 < inner; i0 += ZOO_SUM_GROUP) {
            int64_t len = inner - i0 < ZOO_SUM_GROUP ? inner - i0 : ZOO_SUM_GROUP;
            for (int64_t i = 0; i < len; i++) {
                float v = r[i0 + i];
                switch (t) {
                case BN_X: buf[i] = v; break;
                case BN_SQ_DEV: buf[i] = (v - mean) * (v - mean); break;
                case BN_DY: buf[i] = d[i0 + i]; break;
                case BN_DY_DEV: buf[i] = d[i0 + i] * (v - mean); break;
                }
            }
            zoo_sum_add_run(&acc, buf, len, 1);
        }
    }
    return zoo_sum_result(&acc);
}

static void bn_dims(const zoo_tensor *x, int64_t *n, int64_t *c, int64_t *inner) {
    *n = x->shape.d[0];
    *c = x->shape.d[1];
    *inner = x->numel / (*n * *c);
}

/* x [n, c, inner] -> y; per channel in parallel: mean, then the variance about it
 * (two passes: no cancellation) */
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
            mean = channel_sum(BN_X, px, NULL, n, c, inner, ch, 0.0f) / (float)m;
            float sq = channel_sum(BN_SQ_DEV, px, NULL, n, c, inner, ch, mean);
            invstd = 1.0f / sqrtf(sq / (float)m + p->eps);
            if (running_mean) {
                float *rm = f32(running_mean) + ch, *rv = f32(running_var) + ch;
                float unbiased = sq / (float)(m - 1);
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
            sum_dy = channel_sum(BN_DY, px, pd, n, c, inner, ch, mean);
            dot = channel_sum(BN_DY_DEV, px, pd, n, c, inner, ch, mean);
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
