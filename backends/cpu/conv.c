/* conv2d and its two gradients (backend.h). Both modes go through column matrices
 * (im2col, and col2im back), one image at a time:
 *   exact  gemm.c's product in canon.h's order; the weight gradient adds image after
 *          image inside one team, an image a term of canon.h's sum.
 *   fast   OpenBLAS's sgemm, Winograd (winograd.c) for 3x3 stride-1 layers, dot
 *          products for very shallow weight gradients; the weight gradient sums
 *          images in chunks fixed by the shapes (cpu_wgrad_chunks).
 * Images are handed out dynamically: on a shared machine one thread is often slowed,
 * and a static split would make the others wait for it. Each image is computed the
 * same way on whichever thread takes it, so results never depend on the thread
 * count. */
#include "cpu_internal.h"
#include "../canon.h"
#include "../kernels.h"
#include "gemm.h"
#include "vecmath.h"

#include <omp.h>
#include <string.h>

/* below this many multiply-adds a convolution runs on one thread */
#define CONV_PAR_MIN_MACS (1 << 18)

static int64_t conv_macs(const zoo_conv2d_geom *g) {
    return (int64_t)g->n * g->cout * g->oh * g->ow * g->cin * g->kh * g->kw;
}

static bool conv_par(const cpu_ctx *c, const zoo_conv2d_geom *g) {
    return c->threads > 1 && conv_macs(g) >= CONV_PAR_MIN_MACS && g->n > 1;
}

/* ---------------------------------------------------------------- column matrices */

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
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g);
    for (int64_t r = 0; r < K; r++) im2col_row(x, cols + r * P, g, r);
}

/* the same, its rows shared among the threads of the enclosing team */
static void im2col_shared(const float *x, float *cols, const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < K; r++) im2col_row(x, cols + r * P, g, r);
}

/* the adjoint of im2col: dx [cin, h, w] += every cols entry at the pixel it came from */
static void col2im(const float *cols, float *dx, const zoo_conv2d_geom *g) {
    int64_t P = zoo_conv_positions(g);
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

/* y [rows, len] += v[r] per row */
static void add_rows(float *y, const float *v, int64_t rows, int64_t len) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < len; j++) y[r * len + j] = y[r * len + j] + v[r];
}

/* ---------------------------------------------------------------- conv2d */

/* x [n, cin, h, w], w [cout, cin, kh, kw], bias [cout] or NULL -> y [n, cout, oh, ow]:
 * per image, im2col and the product w [cout, K] cols [K, P], then the bias. Images run
 * in parallel, each product on one thread (a product split over threads inside the
 * images' region would be a nested OpenMP team). */
void cpu_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
                const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g);
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P;
    bool pointwise = zoo_conv_is_pointwise(g), par = conv_par(c, g);
    const float *pbias = bias ? f32(bias) : NULL;
    if (!c->exact && cpu_conv_is_winograd(g)) {
        cpu_wino_conv2d(c, f32(x), f32(w), pbias, f32(y), g, par);
        return;
    }
    int64_t per = (pointwise ? 0 : K * P) + (c->exact ? (int64_t)zoo_gemm_scratch_floats(g->cout, P, K) : 0);
    size_t mark = cpu_mark(c);
    float *buf = per ? cpu_scratch(c, (size_t)(c->threads * per)) : NULL;
    /* exact: the weights are every image's A, packed once */
    zoo_gemm_args wa = {.m = g->cout, .k = K, .a = f32(w), .lda = K};
    float *packed = c->exact ? cpu_scratch(c, zoo_gemm_packed_a_floats(g->cout, K)) : NULL;
    if (packed) zoo_gemm_pack_a(&wa, packed);
#pragma omp parallel for if (par) schedule(dynamic)
    for (int64_t b = 0; b < g->n; b++) {
        const float *xb = f32(x) + b * xs;
        float *yb = f32(y) + b * ys, *cols = buf ? buf + omp_get_thread_num() * per : NULL;
        if (!pointwise) im2col(xb, cols, g);
        const float *B = pointwise ? xb : cols;
        if (!c->exact) { /* the bias first, added by the product (beta 1) */
            if (pbias) fill_rows(yb, pbias, g->cout, P);
            cpu_sgemm(false, false, g->cout, P, K, 1.0f, f32(w), K, B, P, pbias ? 1.0f : 0.0f, yb, P);
            continue;
        }
        zoo_gemm_args a = {.m = g->cout, .n = P, .k = K, .alpha = 1.0f, .packed_a = packed, .b = B, .ldb = P,
                           .c = yb, .ldc = P};
        zoo_gemm(&a, cols + (pointwise ? 0 : K * P), 1);
        if (pbias) add_rows(yb, pbias, g->cout, P);
    }
    cpu_release(c, mark);
}

/* ---------------------------------------------------------------- input gradient */

/* dy [n, cout, oh, ow], w, bias [cin] or NULL -> dx [n, cin, h, w]: per image the
 * product w^T dy into columns, then col2im onto the bias */
void cpu_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                               zoo_tensor *dx, const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g), HW = (int64_t)g->h * g->w;
    int64_t xs = (int64_t)g->cin * HW, ys = (int64_t)g->cout * P;
    bool pointwise = zoo_conv_is_pointwise(g), par = conv_par(c, g);
    const float *pbias = bias ? f32(bias) : NULL;
    if (!c->exact && cpu_conv_is_winograd(g)) {
        cpu_wino_conv2d_backward_input(c, f32(dy), f32(w), pbias, f32(dx), g, par);
        return;
    }
    int64_t per = (pointwise ? 0 : K * P) + (c->exact ? (int64_t)zoo_gemm_scratch_floats(K, P, g->cout) : 0);
    size_t mark = cpu_mark(c);
    float *buf = per ? cpu_scratch(c, (size_t)(c->threads * per)) : NULL;
    /* exact: w^T is every image's A, packed once */
    zoo_gemm_args wa = {.ta = true, .m = K, .k = g->cout, .a = f32(w), .lda = K};
    float *packed = c->exact ? cpu_scratch(c, zoo_gemm_packed_a_floats(K, g->cout)) : NULL;
    if (packed) zoo_gemm_pack_a(&wa, packed);
#pragma omp parallel for if (par) schedule(dynamic)
    for (int64_t b = 0; b < g->n; b++) {
        float *dxb = f32(dx) + b * xs, *cols = buf ? buf + omp_get_thread_num() * per : NULL;
        const float *dyb = f32(dy) + b * ys;
        /* pointwise: the columns are dx itself, and the bias comes after */
        float *C = pointwise ? dxb : cols;
        if (c->exact) {
            zoo_gemm_args a = {.ta = true, .m = K, .n = P, .k = g->cout, .alpha = 1.0f, .packed_a = packed,
                               .b = dyb, .ldb = P, .c = C, .ldc = P};
            zoo_gemm(&a, cols + (pointwise ? 0 : K * P), 1);
        } else {
            cpu_sgemm(true, false, K, P, g->cout, 1.0f, f32(w), K, dyb, P, 0.0f, C, P);
        }
        if (pointwise) {
            if (pbias) add_rows(dxb, pbias, g->cin, HW);
            continue;
        }
        fill_rows(dxb, pbias, g->cin, HW);
        col2im(cols, dxb, g);
    }
    cpu_release(c, mark);
}

/* ---------------------------------------------------------------- weight gradient */

#define WGRAD_MAX_CHUNKS 16
#define WGRAD_MAX_PARTIAL_FLOATS (1 << 23)

int cpu_wgrad_chunks(int64_t n, int64_t wsize) {
    int64_t k = n < WGRAD_MAX_CHUNKS ? n : WGRAD_MAX_CHUNKS;
    while (k > 1 && k * wsize > WGRAD_MAX_PARTIAL_FLOATS) k--;
    return (int)k;
}

/* dst[j] = the sum over k < nparts of parts[k * stride + j] (j < len), in order of k;
 * blocks of j in parallel, each streaming through the partials one after another */
void cpu_sum_partials(const float *parts, int nparts, int64_t stride, float *dst, int64_t len) {
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

/* At a depth K = cin*kh*kw this small (a first layer on 1-3 channels) the weight
 * gradient's sgemm [cout, P] x [P, K] spends its time packing; dot products do
 * better, and take the bias gradient from the same pass over dy. */
#define SMALL_K 16

static bool conv_is_small_k(const zoo_conv2d_geom *g) { return zoo_conv_depth(g) <= SMALL_K; }

/* dw [m, K] (+)= dy [m, P] cols [K, P]^T, and db [m] (+)= the row sums of dy (db NULL:
 * not wanted) */
static void small_k_wgrad(const float *dy, const float *cols, float *dw, float *db, int64_t m, int64_t K, int64_t P,
                          bool add) {
    for (int64_t o = 0; o < m; o++) {
        const float *a = dy + o * P;
        if (db) db[o] = (add ? db[o] : 0.0f) + cpu_vsum(a, P);
        for (int64_t k = 0; k < K; k++) {
            float *t = dw + o * K + k, s = cpu_vdot(a, cols + k * P, P);
            *t = add ? *t + s : s;
        }
    }
}

/* fast: per chunk of images, dw partial (+)= dy_b cols_b^T image after image (dot
 * products for a shallow K), db alongside when it is shallow too */
static void wgrad_fast(cpu_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw, zoo_tensor *db,
                       const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g);
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P, WS = g->cout * K;
    bool pointwise = zoo_conv_is_pointwise(g), par = conv_par(c, g), small = conv_is_small_k(g);
    bool wino = cpu_conv_is_winograd(g);
    bool fused_db = (small || wino) && db && dw; /* db from the same pass over dy */
    if (db && !fused_db) {
#pragma omp parallel for if (g->n * ys >= PAR_MIN) schedule(static)
        for (int64_t o = 0; o < g->cout; o++) {
            float s = 0.0f;
            for (int64_t b = 0; b < g->n; b++) s += cpu_vsum(f32(dy) + b * ys + o * P, P);
            f32(db)[o] = s;
        }
    }
    if (!dw) return;
    if (wino) {
        cpu_wino_conv2d_backward_weight(c, f32(x), f32(dy), f32(dw), fused_db ? f32(db) : NULL, g, par);
        return;
    }
    int64_t PS = WS + (fused_db ? g->cout : 0); /* a chunk's partial: dw, then db */
    int nch = cpu_wgrad_chunks(g->n, PS);
    size_t mark = cpu_mark(c);
    float *buf = pointwise ? NULL : cpu_scratch(c, (size_t)(c->threads * K * P));
    float *parts = cpu_scratch(c, (size_t)(nch * PS));
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
                cpu_sgemm(false, true, g->cout, K, P, 1.0f, dyb, P, pointwise ? xb : cols, P, b == b0 ? 0.0f : 1.0f,
                          part, K);
        }
    }
    cpu_sum_partials(parts, nch, PS, f32(dw), WS);
    if (fused_db) cpu_sum_partials(parts + WS, nch, PS, f32(db), g->cout);
    cpu_release(c, mark);
}

/* exact: the images' gradients added in canon.h's order, an image a term. So image
 * after image, the whole team works on one image: its columns, then the product
 * dy_b [cout, P] cols_b^T [P, K] added onto the sum so far (beta 1), and dy_b's row
 * sums likewise; every 256 images the open group's sum moves to the level above. */
static void wgrad_exact(cpu_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw, zoo_tensor *db,
                        const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g);
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P, WS = (int64_t)g->cout * K;
    bool pointwise = zoo_conv_is_pointwise(g), par = conv_macs(g) >= CONV_PAR_MIN_MACS;
    bool levels = g->n > ZOO_SUM_GROUP; /* more than one group of images */
    size_t mark = cpu_mark(c);
    float *cols = dw && !pointwise ? cpu_scratch(c, (size_t)(K * P)) : NULL;
    float *gs = dw ? cpu_scratch(c, zoo_gemm_scratch_floats(g->cout, K, P)) : NULL;
    float *done_w = levels && dw ? cpu_scratch(c, (size_t)WS) : NULL;
    float *done_b = levels && db ? cpu_scratch(c, (size_t)g->cout) : NULL;
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
                float s = cpu_sum(c, dyb + o * P, P, 1);
                pb[o] = opens ? s : pb[o] + s;
            }
        }
    }
    if (levels) { /* the last group is the last term */
        for (int64_t j = 0; dw && j < WS; j++) pw[j] = done_w[j] + pw[j];
        for (int64_t o = 0; db && o < g->cout; o++) pb[o] = done_b[o] + pb[o];
    }
    cpu_release(c, mark);
}

/* x, dy -> dw [cout, cin, kh, kw], db [cout] (backend.h) */
void cpu_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                zoo_tensor *db, const zoo_conv2d_geom *g) {
    cpu_ctx *c = ctx;
    if (c->exact) wgrad_exact(c, x, dy, dw, db, g);
    else wgrad_fast(c, x, dy, dw, db, g);
}
