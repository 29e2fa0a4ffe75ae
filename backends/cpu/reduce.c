/* Reductions and the row-wise kernels built on sums: reduce (sum, mean, max, argmax),
 * softmax and log-softmax with their backward, the negative log-likelihood and the
 * fused cross-entropy backward. Exact mode adds every sum in canon.h's order with
 * canon_math.h's exp and log; fast mode lets the compiler vectorize the sums and takes
 * vecmath.c's exp. */
#include "cpu_internal.h"
#include "../canon.h"
#include "../canon_math.h"
#include "../kernels.h"
#include "vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float cpu_sum(const cpu_ctx *c, const float *p, int64_t n, int64_t stride) {
    if (!c->exact && stride == 1) return cpu_vsum(p, n);
    if (!c->exact) {
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++) s += p[i * stride];
        return s;
    }
    zoo_canon_sum acc = zoo_canon_sum_new();
    zoo_canon_sum_add_run(&acc, p, n, stride);
    return zoo_canon_sum_result(&acc);
}

/* ---------------------------------------------------------------- reduce */

static void argmax(const float *px, int32_t *po, const int64_t d[4], const int64_t od[4]) {
    int axis = -1;
    for (int i = 0; i < 4; i++)
        if (od[i] != d[i]) axis = i;
    int64_t inner = 1, outer = 1, n_out = 1;
    for (int i = 0; i < 4; i++) n_out *= od[i];
    if (axis < 0) { /* the reduced axis has size 1: every index is 0 */
        memset(po, 0, (size_t)n_out * 4);
        return;
    }
    for (int i = axis + 1; i < 4; i++) inner *= d[i];
    for (int i = 0; i < axis; i++) outer *= d[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const float *p = px + o * d[axis] * inner + j;
            int32_t best = 0;
            for (int64_t k = 1; k < d[axis]; k++)
                if (p[k * inner] > p[best * inner]) best = (int32_t)k;
            po[o * inner + j] = best;
        }
}

/* out's element strides over x's coordinates (0 on reduced dims) */
static void out_strides(const int64_t od[4], int64_t os[4]) {
    int64_t st = 1;
    for (int i = 3; i >= 0; i--) {
        os[i] = od[i] == 1 ? 0 : st;
        st *= od[i];
    }
}

static void max_reduce(const float *px, float *po, const int64_t d[4], const int64_t od[4], int64_t on) {
    int64_t os[4];
    out_strides(od, os);
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
}

/* Fast sums over x viewed as [outer, count, inner], reducing the middle: rows of
 * inner are added one after another (vectorized across the row), or for inner 1 each
 * output's run is summed in vector lanes. */
static void fast_run_sums(const cpu_ctx *c, const float *px, float *po, int64_t outer, int64_t count,
                          int64_t inner, float scale) {
    if (inner == 1) {
#pragma omp parallel for if (outer * count >= PAR_MIN) schedule(static)
        for (int64_t o = 0; o < outer; o++) po[o] = cpu_sum(c, px + o * count, count, 1) * scale;
        return;
    }
#pragma omp parallel for if (outer * count * inner >= PAR_MIN) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
        float *r = po + o * inner;
        const float *x = px + o * count * inner;
        memcpy(r, x, (size_t)inner * 4);
        for (int64_t k = 1; k < count; k++)
#pragma omp simd
            for (int64_t j = 0; j < inner; j++) r[j] += x[k * inner + j];
        if (scale != 1.0f)
            for (int64_t j = 0; j < inner; j++) r[j] *= scale;
    }
}

/* Fast sums where kept dims lie between reduced ones (a bias gradient over images and
 * positions): x's innermost rows in order, each added to its outputs, vectorized along
 * the row (summed when the last dim is reduced, added element by element when kept). */
static void fast_scattered_sums(const cpu_ctx *c, const float *px, float *po, const int64_t d[4], const int64_t od[4],
                                int64_t on, float scale) {
    int64_t os[4];
    out_strides(od, os);
    memset(po, 0, (size_t)on * 4);
    bool last_reduced = od[3] == 1 && d[3] != 1;
    /* threads split a kept dim, dim 0 or else dim 1, so that no two write one output;
       each output still adds its terms in x's order */
    int split = os[0] ? 0 : 1;
    int64_t outer = split ? d[1] : d[0], n = d[0] * d[1] * d[2] * d[3];
#pragma omp parallel for if (n >= PAR_MIN && (os[0] || os[1])) schedule(static)
    for (int64_t k = 0; k < outer; k++)
        for (int64_t i0 = split ? 0 : k; i0 < (split ? d[0] : k + 1); i0++)
            for (int64_t i1 = split ? k : 0; i1 < (split ? k + 1 : d[1]); i1++)
                for (int64_t i2 = 0; i2 < d[2]; i2++) {
                    const float *row = px + ((i0 * d[1] + i1) * d[2] + i2) * d[3];
                    float *o = po + i0 * os[0] + i1 * os[1] + i2 * os[2];
                    if (last_reduced && d[3] < 16) { /* short rows (upsampling's 2): no call */
                        float r = *o;
                        for (int64_t j = 0; j < d[3]; j++) r += row[j];
                        *o = r;
                    } else if (last_reduced) {
                        *o += cpu_sum(c, row, d[3], 1);
                    } else {
#pragma omp simd
                        for (int64_t j = 0; j < d[3]; j++) o[j] += row[j];
                    }
                }
    if (scale != 1.0f)
        for (int64_t k = 0; k < on; k++) po[k] *= scale;
}

void cpu_reduce(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *out) {
    cpu_ctx *c = ctx;
    int64_t d[4], od[4];
    zoo_dims4(x, d);
    zoo_dims4(out, od);
    const float *px = f32(x);
    if (op == ZOO_REDUCE_ARGMAX) {
        argmax(px, i32(out), d, od);
        return;
    }
    float *po = f32(out);
    int64_t on = out->numel, count = x->numel / on;
    if (op == ZOO_REDUCE_MAX) {
        max_reduce(px, po, d, od, on);
        return;
    }
    /* Output k adds the elements that reduce into it in x's row-major order. Split x
     * into [outer, count, inner] where possible (one run of reduced dims): output (o, j)
     * sums x[o, 0..count-1, j], count terms at stride inner. */
    int first = -1, last = -1;
    for (int i = 0; i < 4; i++)
        if (od[i] != d[i]) {
            if (first < 0) first = i;
            last = i;
        }
    bool run = first >= 0; /* nothing reduced: the general path adds each lone term to 0 */
    for (int i = first; run && i <= last; i++) run = od[i] == 1;
    if (run) {
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < first; i++) outer *= d[i];
        for (int i = last + 1; i < 4; i++) inner *= d[i];
        if (!c->exact) {
            fast_run_sums(c, px, po, outer, count, inner, op == ZOO_REDUCE_MEAN ? 1.0f / (float)count : 1.0f);
            return;
        }
#pragma omp parallel for collapse(2) if (x->numel >= PAR_MIN) schedule(static)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++) {
                float r = cpu_sum(c, px + o * count * inner + j, count, inner);
                po[o * inner + j] = op == ZOO_REDUCE_MEAN ? r / (float)count : r;
            }
        return;
    }
    /* reduced dims with kept ones between them */
    if (!c->exact) {
        fast_scattered_sums(c, px, po, d, od, on, op == ZOO_REDUCE_MEAN ? 1.0f / (float)count : 1.0f);
        return;
    }
    /* exact: one running sum per output */
    zoo_canon_sum *acc = malloc((size_t)on * sizeof *acc);
    ZOO_ASSERT(acc != NULL);
    for (int64_t k = 0; k < on; k++) acc[k] = zoo_canon_sum_new();
    int64_t os[4];
    out_strides(od, os);
    int64_t i = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++)
                for (int64_t i3 = 0; i3 < d[3]; i3++, i++)
                    zoo_canon_sum_add(&acc[i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3]], px[i]);
    for (int64_t k = 0; k < on; k++) {
        float r = zoo_canon_sum_result(&acc[k]);
        po[k] = op == ZOO_REDUCE_MEAN ? r / (float)count : r;
    }
    free(acc);
}

/* ---------------------------------------------------------------- softmax */

static float row_max(const float *p, int64_t n) {
    float mx = p[0];
    for (int64_t j = 1; j < n; j++) mx = p[j] > mx ? p[j] : mx;
    return mx;
}

/* one row, exact: canon.h's sum of canon_math.h's exponentials */
static void softmax_row_exact(const float *p, float *q, int64_t cols, bool log) {
    float mx = row_max(p, cols);
    zoo_canon_sum acc = zoo_canon_sum_new();
    if (log) {
        for (int64_t j = 0; j < cols; j++) zoo_canon_sum_add(&acc, zoo_expf(p[j] - mx));
        float lse = mx + zoo_logf(zoo_canon_sum_result(&acc));
        for (int64_t j = 0; j < cols; j++) q[j] = p[j] - lse;
        return;
    }
    for (int64_t j = 0; j < cols; j++) q[j] = zoo_expf(p[j] - mx); /* q holds them until the sum is known */
    zoo_canon_sum_add_run(&acc, q, cols, 1);
    float sum = zoo_canon_sum_result(&acc);
    for (int64_t j = 0; j < cols; j++) q[j] = q[j] / sum;
}

/* one row, fast: vecmath's exponentials (into q, also for log-softmax) */
static void softmax_row_fast(const float *p, float *q, int64_t cols, bool log) {
    float mx = row_max(p, cols);
    float sum = cpu_vexp_sum(p, q, cols, mx);
    if (log) {
        float lse = mx + logf(sum);
        for (int64_t j = 0; j < cols; j++) q[j] = p[j] - lse;
        return;
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < cols; j++) q[j] *= inv;
}

void cpu_softmax(void *ctx, const zoo_tensor *x, zoo_tensor *y, bool log) {
    cpu_ctx *c = ctx;
    int64_t cols = x->shape.d[x->shape.ndim - 1], rows = x->numel / cols;
    const float *px = f32(x);
    float *py = f32(y);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        if (c->exact) softmax_row_exact(px + r * cols, py + r * cols, cols, log);
        else softmax_row_fast(px + r * cols, py + r * cols, cols, log);
    }
}

void cpu_softmax_backward(void *ctx, const zoo_tensor *y, const zoo_tensor *dy, zoo_tensor *dx, bool log) {
    cpu_ctx *c = ctx;
    int64_t cols = y->shape.d[y->shape.ndim - 1], rows = y->numel / cols;
    const float *py = f32(y), *pg = f32(dy);
    float *pd = f32(dx);
#pragma omp parallel for if (y->numel >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = py + r * cols, *gr = pg + r * cols;
        float *dr = pd + r * cols;
        if (log) {
            float s = cpu_sum(c, gr, cols, 1);
            if (c->exact) {
                for (int64_t j = 0; j < cols; j++) dr[j] = gr[j] - zoo_expf(yr[j]) * s;
                continue;
            }
            cpu_vexp_sum(yr, dr, cols, 0.0f);
            for (int64_t j = 0; j < cols; j++) dr[j] = gr[j] - dr[j] * s;
            continue;
        }
        float s;
        if (c->exact) {
            zoo_canon_sum acc = zoo_canon_sum_new();
            for (int64_t j = 0; j < cols; j++) zoo_canon_sum_add(&acc, gr[j] * yr[j]);
            s = zoo_canon_sum_result(&acc);
        } else {
            s = cpu_vdot(gr, yr, cols);
        }
        for (int64_t j = 0; j < cols; j++) dr[j] = yr[j] * (gr[j] - s);
    }
}

/* ---------------------------------------------------------------- losses */

void cpu_nll(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels, zoo_tensor *losses) {
    (void)ctx;
    int64_t cols = logp->shape.d[1], rows = logp->shape.d[0];
    for (int64_t r = 0; r < rows; r++) f32(losses)[r] = -f32(logp)[r * cols + i32(labels)[r]];
}

void cpu_nll_backward(void *ctx, const zoo_tensor *labels, const zoo_tensor *dlosses, zoo_tensor *dlogp) {
    (void)ctx;
    int64_t cols = dlogp->shape.d[1], rows = dlogp->shape.d[0];
    memset(dlogp->data, 0, (size_t)dlogp->numel * 4);
    for (int64_t r = 0; r < rows; r++) f32(dlogp)[r * cols + i32(labels)[r]] = -f32(dlosses)[r];
}

void cpu_cross_entropy_backward(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels,
                                const zoo_tensor *dlosses, zoo_tensor *dx) {
    cpu_ctx *c = ctx;
    int64_t cols = logp->shape.d[1], rows = logp->shape.d[0];
    for (int64_t r = 0; r < rows; r++) {
        const float *p = f32(logp) + r * cols;
        float *d = f32(dx) + r * cols, g = f32(dlosses)[r];
        int32_t y = i32(labels)[r];
        if (c->exact) {
            for (int64_t j = 0; j < cols; j++) d[j] = (zoo_expf(p[j]) - (j == y ? 1.0f : 0.0f)) * g;
            continue;
        }
        cpu_vexp_sum(p, d, cols, 0.0f);
        for (int64_t j = 0; j < cols; j++) d[j] = (d[j] - (j == y ? 1.0f : 0.0f)) * g;
    }
}
