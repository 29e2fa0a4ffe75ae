/* Max and average pooling and their gradients (backend.h). No sums of more than a
 * window, so both numeric modes compute the same bits here. */
#include "cpu_internal.h"

#include <math.h>
#include <string.h>

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
void cpu_pool2d(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
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
void cpu_pool2d_backward(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx,
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

