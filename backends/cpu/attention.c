/* Self-attention, fused (backend.h's attention and attention_backward). Each
 * (sample, head) runs on one thread with its own [T, T] blocks, never the whole
 * batch's. q, k and v are read in place from the fused projection's [B, T, 3C] output
 * (rows 3C apart), and y and the gradients are written in place the same way, so the
 * model needs no permutes. Exact mode runs the composed ops' own steps (gemm.c's
 * products, the scale as a separate multiply, softmax's exact row) and so gives their
 * bits; fast mode (vecmath.c's heads) computes only the unmasked part of each block
 * (half of it when causal), with the scale folded into q. */
#include "cpu_internal.h"
#include "../canon.h"
#include "../canon_math.h"
#include "gemm.h"
#include "vecmath.h"

#include <math.h>
#include <omp.h>

/* exact mode's product C = alpha op(A) op(B) (beta 0) on this thread, as cpu_gemm */
static void product(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float *out, int64_t ldc, float *scratch) {
    zoo_gemm_args g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = 0.0f,
                       .a = a, .b = b, .c = out, .lda = lda, .ldb = ldb, .ldc = ldc};
    zoo_gemm(&g, scratch, 1);
}

/* one (sample, head): where its q, k, v and stats start, and its first value in y (or
 * dy), whose rows are C apart */
typedef struct head {
    const float *q, *k, *v;
    int64_t ld; /* 3C: from one position's q to the next's */
    float *stats;
    int64_t y;
} head;

static head head_of(const zoo_tensor *qkv, const zoo_tensor *stats, int64_t bh, int64_t heads, int64_t t,
                    int64_t dh) {
    int64_t b = bh / heads, h = bh % heads, c = heads * dh;
    const float *base = f32(qkv) + b * t * 3 * c + h * dh;
    return (head){base, base + c, base + 2 * c, 3 * c, f32(stats) + bh * t * 2, b * t * c + h * dh};
}

/* Exact mode's scores s [T, T] (no scale yet) -> probabilities: each row softmax's
 * exact row over all T columns, -inf where masked (causal: past the row's own key).
 * With have_stats, each row's max and sum come from stats (the backward's
 * recomputation: the same numbers). */
static void probabilities(float *s, int64_t t, float scale, bool causal, float *stats, bool have_stats) {
    for (int64_t i = 0; i < t; i++) {
        float *r = s + i * t;
        for (int64_t j = 0; j < t; j++) r[j] = !causal || j <= i ? r[j] * scale : -INFINITY;
        float mx, sum;
        if (have_stats) {
            mx = stats[2 * i], sum = stats[2 * i + 1];
            for (int64_t j = 0; j < t; j++) r[j] = zoo_expf(r[j] - mx);
        } else {
            mx = r[0];
            for (int64_t j = 1; j < t; j++) mx = r[j] > mx ? r[j] : mx;
            for (int64_t j = 0; j < t; j++) r[j] = zoo_expf(r[j] - mx);
            zoo_canon_sum acc = zoo_canon_sum_new();
            zoo_canon_sum_add_run(&acc, r, t, 1);
            sum = zoo_canon_sum_result(&acc);
            stats[2 * i] = mx, stats[2 * i + 1] = sum;
        }
        for (int64_t j = 0; j < t; j++) r[j] = r[j] / sum;
    }
}

/* per thread: fast mode's work space, or exact mode's [T, T] blocks and gemm.c's
 * packing space */
typedef struct work {
    float *base;
    size_t per;
} work;

static work work_new(cpu_ctx *c, int64_t t, int64_t dh, int blocks) {
    size_t a = zoo_gemm_scratch_floats(t, t, dh), b = zoo_gemm_scratch_floats(t, dh, t);
    size_t per = c->exact ? (size_t)blocks * (size_t)(t * t) + (a > b ? a : b) : cpu_vattention_work(t, dh);
    return (work){cpu_scratch(c, per * (size_t)c->threads), per};
}

/* the calling thread's part of w */
static float *work_of(const work *w) { return w->base + (size_t)omp_get_thread_num() * w->per; }

void cpu_attention(void *ctx, const zoo_tensor *qkv, zoo_tensor *y, zoo_tensor *stats, int64_t heads, float scale,
                   bool causal) {
    cpu_ctx *c = ctx;
    int64_t nb = qkv->shape.d[0], t = qkv->shape.d[1], ch = y->shape.d[2], dh = ch / heads;
    size_t mark = cpu_mark(c);
    work w = work_new(c, t, dh, 1);
#pragma omp parallel for num_threads(c->threads) schedule(static) if (nb * heads > 1)
    for (int64_t bh = 0; bh < nb * heads; bh++) {
        float *s = work_of(&w), *pack = s + t * t;
        head hd = head_of(qkv, stats, bh, heads, t, dh);
        float *out = f32(y) + hd.y;
        if (!c->exact) {
            cpu_vattention_head(hd.q, hd.k, hd.v, hd.ld, out, ch, hd.stats, t, dh, scale, causal, s);
            continue;
        }
        product(false, true, t, t, dh, 1.0f, hd.q, hd.ld, hd.k, hd.ld, s, t, pack);
        probabilities(s, t, scale, causal, hd.stats, false);
        product(false, false, t, dh, t, 1.0f, s, t, hd.v, hd.ld, out, ch, pack);
    }
    cpu_release(c, mark);
}

void cpu_attention_backward(void *ctx, const zoo_tensor *qkv, const zoo_tensor *stats, const zoo_tensor *dy,
                            zoo_tensor *dqkv, int64_t heads, float scale, bool causal) {
    cpu_ctx *c = ctx;
    int64_t nb = qkv->shape.d[0], t = qkv->shape.d[1], ch = dy->shape.d[2], dh = ch / heads;
    size_t mark = cpu_mark(c);
    work w = work_new(c, t, dh, 2);
#pragma omp parallel for num_threads(c->threads) schedule(static) if (nb * heads > 1)
    for (int64_t bh = 0; bh < nb * heads; bh++) {
        float *p = work_of(&w), *ds = p + t * t, *pack = ds + t * t;
        head hd = head_of(qkv, stats, bh, heads, t, dh);
        const float *g = f32(dy) + hd.y;
        float *dq = f32(dqkv) + (hd.q - f32(qkv)), *dk = dq + ch, *dv = dq + 2 * ch;
        if (!c->exact) {
            cpu_vattention_head_backward(hd.q, hd.k, hd.v, hd.ld, g, ch, hd.stats, dq, dk, dv, t, dh, scale, causal,
                                         p);
            continue;
        }
        product(false, true, t, t, dh, 1.0f, hd.q, hd.ld, hd.k, hd.ld, p, t, pack);
        probabilities(p, t, scale, causal, hd.stats, true);
        product(false, true, t, t, dh, 1.0f, g, ch, hd.v, hd.ld, ds, t, pack); /* dp */
        for (int64_t i = 0; i < t; i++) {
            const float *pr = p + i * t;
            float *r = ds + i * t;
            zoo_canon_sum acc = zoo_canon_sum_new();
            for (int64_t j = 0; j < t; j++) zoo_canon_sum_add(&acc, r[j] * pr[j]);
            float sum = zoo_canon_sum_result(&acc);
            for (int64_t j = 0; j < t; j++) r[j] = pr[j] * (r[j] - sum) * scale;
        }
        product(false, false, t, dh, t, 1.0f, ds, t, hd.k, hd.ld, dq, hd.ld, pack);
        product(true, false, t, dh, t, 1.0f, ds, t, hd.q, hd.ld, dk, hd.ld, pack);
        product(true, false, t, dh, t, 1.0f, p, t, g, ch, dv, hd.ld, pack);
    }
    cpu_release(c, mark);
}
