/* conv2d and its two gradients (backend.h), through column matrices (im2col, and
 * col2im back):
 *   exact  one image at a time, gemm.c's product in canon.h's order; the weight
 *          gradient adds image after image inside one team, an image a term of
 *          canon.h's sum. Images are handed out dynamically (on a shared machine one
 *          thread is often slowed), each computed the same way on whichever thread
 *          takes it.
 *   fast   Winograd (winograd.c) for 3x3 stride-1 layers. Otherwise OpenBLAS: an image
 *          with many output positions (WIDE_P) is a wide enough product on its own,
 *          and images run in parallel as in exact mode (the weight gradient summing
 *          them in chunks fixed by the shapes, cpu_wgrad_chunks); with few, a chunk of
 *          images is one product over all their positions, columns [K, images * P],
 *          which runs near the kernel's peak where per-image products would not. */
#include "cpu_internal.h"
#include "../canon.h"
#include "../kernels.h"
#include "gemm.h"
#include "vecmath.h"

#include <omp.h>
#include <stdint.h>
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

/* the adjoint of im2col: dx [cin, h, w] += every cols entry at the pixel it came from;
 * row r of cols starts at cols + r * ld */
static void col2im(const float *cols, int64_t ld, float *dx, const zoo_conv2d_geom *g) {
    for (int32_t i = 0; i < g->cin; i++)
        for (int32_t ky = 0; ky < g->kh; ky++)
            for (int32_t kx = 0; kx < g->kw; kx++) {
                const float *row = cols + ((int64_t)(i * g->kh + ky) * g->kw + kx) * ld;
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

/* ---------------------------------------------------------------- fast mode's chunks */

/* images per chunk: the chunk's columns [K, images * P] stay under this many floats */
#define CHUNK_FLOATS ((int64_t)1 << 22)

/* an image with this many output positions is a wide enough product by itself */
#define WIDE_P 256

/* at most this deep (cin*kh*kw: a first layer on one or a few channels) a BLAS product
 * spends its time packing; the forward takes vecmath.c's shallow product instead */
#define SHALLOW_K 32

static int64_t chunk_images(const zoo_conv2d_geom *g) {
    int64_t per = zoo_conv_depth(g) * zoo_conv_positions(g), nb = CHUNK_FLOATS / (per > 0 ? per : 1);
    if (nb < 1) nb = 1;
    return nb < g->n ? nb : g->n;
}

/* Where each output position's tap reads its input plane: tab[(ky*kw + kx)*P + p] is
 * iy*w + ix, or -1 in the padding. Built once per call, it turns im2col into a plain
 * gather the compiler vectorizes, instead of short loops over output rows. */
static int32_t *tap_table(cpu_ctx *c, const zoo_conv2d_geom *g) {
    int64_t P = zoo_conv_positions(g), taps = (int64_t)g->kh * g->kw;
    int32_t *tab = (int32_t *)cpu_scratch(c, (size_t)(taps * P));
    for (int32_t ky = 0; ky < g->kh; ky++)
        for (int32_t kx = 0; kx < g->kw; kx++)
            for (int32_t oy = 0; oy < g->oh; oy++)
                for (int32_t ox = 0; ox < g->ow; ox++) {
                    int32_t iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                    int32_t ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                    bool in = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                    tab[((int64_t)ky * g->kw + kx) * P + (int64_t)oy * g->ow + ox] = in ? iy * g->w + ix : -1;
                }
    return tab;
}

/* cols [K, nb * P]: image b's column matrix in columns b*P .. b*P + P - 1, the rows
 * shared among the threads */
static void im2col_chunk(cpu_ctx *c, const float *x, float *cols, int64_t nb, const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g), taps = (int64_t)g->kh * g->kw;
    int64_t HW = (int64_t)g->h * g->w;
    size_t mark = cpu_mark(c);
    const int32_t *tab = tap_table(c, g);
#pragma omp parallel for collapse(2) if (c->threads > 1 && K * nb * P >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < K; r++)
        for (int64_t b = 0; b < nb; b++) {
            const float *src = x + (b * g->cin + r / taps) * HW;
            const int32_t *t = tab + (r % taps) * P;
            float *dst = cols + r * nb * P + b * P;
#pragma omp simd
            for (int64_t j = 0; j < P; j++) {
                float v = src[t[j] < 0 ? 0 : t[j]];
                dst[j] = t[j] < 0 ? 0.0f : v;
            }
        }
    cpu_release(c, mark);
}

/* [nb, ch, P] <-> [ch, nb * P]: a chunk's images side by side in each channel's row */
static void to_channel_rows(const cpu_ctx *c, const float *src, float *dst, int64_t nb, int64_t ch, int64_t P) {
#pragma omp parallel for collapse(2) if (c->threads > 1 && nb * ch * P >= PAR_MIN) schedule(static)
    for (int64_t o = 0; o < ch; o++)
        for (int64_t b = 0; b < nb; b++) memcpy(dst + (o * nb + b) * P, src + (b * ch + o) * P, (size_t)P * 4);
}

/* dst [nb, ch, P] = src [ch, nb * P] rearranged, plus bias[o] on channel o (bias may be NULL) */
static void from_channel_rows(const cpu_ctx *c, const float *src, float *dst, const float *bias, int64_t nb,
                              int64_t ch, int64_t P) {
#pragma omp parallel for collapse(2) if (c->threads > 1 && nb * ch * P >= PAR_MIN) schedule(static)
    for (int64_t b = 0; b < nb; b++)
        for (int64_t o = 0; o < ch; o++) {
            const float *r = src + (o * nb + b) * P;
            float *d = dst + (b * ch + o) * P, v = bias ? bias[o] : 0.0f;
            for (int64_t j = 0; j < P; j++) d[j] = r[j] + v;
        }
}

/* y [m, n] = a [m, k] b [k, n] for a shallow k, the columns split among the threads */
static void shallow_product(const cpu_ctx *c, const float *a, const float *b, float *y, int64_t m, int64_t k,
                            int64_t n) {
    int parts = c->threads > 1 && m * n * k >= CONV_PAR_MIN_MACS ? c->threads : 1;
    int64_t step = (n / parts + 63) / 64 * 64;
#pragma omp parallel for if (parts > 1) num_threads(parts) schedule(static)
    for (int t = 0; t < parts; t++) {
        int64_t j0 = t * step, j1 = j0 + step < n ? j0 + step : n;
        if (j0 < j1) cpu_vgemm_shallow_cols(a, b, NULL, y, m, k, n, j0, j1);
    }
}

static void conv2d_fast(cpu_ctx *c, const float *x, const float *w, const float *bias, float *y,
                        const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g), per = chunk_images(g);
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P;
    size_t mark = cpu_mark(c);
    float *cols = cpu_scratch(c, (size_t)(K * per * P)), *out = cpu_scratch(c, (size_t)(g->cout * per * P));
    for (int64_t b0 = 0; b0 < g->n; b0 += per) {
        int64_t nb = g->n - b0 < per ? g->n - b0 : per;
        im2col_chunk(c, x + b0 * xs, cols, nb, g);
        if (K <= SHALLOW_K) shallow_product(c, w, cols, out, g->cout, K, nb * P);
        else cpu_sgemm(false, false, g->cout, nb * P, K, 1.0f, w, K, cols, nb * P, 0.0f, out, nb * P);
        from_channel_rows(c, out, y + b0 * ys, bias, nb, g->cout, P);
    }
    cpu_release(c, mark);
}

/* ---------------------------------------------------------------- conv2d */

/* x [n, cin, h, w], w [cout, cin, kh, kw], bias [cout] or NULL -> y [n, cout, oh, ow]:
 * per image, im2col and the product w [cout, K] cols [K, P], then the bias (fast mode:
 * a chunk of images at a time). Exact mode runs images in parallel, each product on
 * one thread (a product split over threads inside the images' region would be a
 * nested OpenMP team). */
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
    if (!c->exact && P < WIDE_P) {
        conv2d_fast(c, f32(x), f32(w), pbias, f32(y), g);
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
        if (!c->exact && K <= SHALLOW_K) {
            cpu_vgemm_shallow(f32(w), B, pbias, yb, g->cout, K, P);
            continue;
        }
        if (!c->exact) { /* the bias first, added to by the product (beta 1) */
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

/* The adjoint of tap_table: for each input pixel, the entries of a chunk's columns
 * whose taps read it (at most `slots`, the most any pixel has), as offsets kk*ld + p
 * from the first row of the pixel's channel, in (ky, kx) order, -1 past the last.
 * col2im then gathers each pixel's sum instead of scattering, which vectorizes. */
static int32_t *gather_table(cpu_ctx *c, const zoo_conv2d_geom *g, int64_t ld, int *slots) {
    int64_t HW = (int64_t)g->h * g->w, P = zoo_conv_positions(g), taps = (int64_t)g->kh * g->kw;
    ZOO_ASSERT(ld * taps < INT32_MAX);
    const int32_t *tap = tap_table(c, g);
    int32_t *fill = (int32_t *)cpu_scratch(c, (size_t)HW);
    memset(fill, 0, (size_t)HW * 4);
    int most = 0;
    for (int64_t e = 0; e < taps * P; e++)
        if (tap[e] >= 0 && ++fill[tap[e]] > most) most = fill[tap[e]];
    *slots = most;
    int32_t *tab = (int32_t *)cpu_scratch(c, (size_t)(HW * (most ? most : 1)));
    for (int64_t i = 0; i < HW * most; i++) tab[i] = -1;
    memset(fill, 0, (size_t)HW * 4);
    for (int64_t kk = 0; kk < taps; kk++)
        for (int64_t p = 0; p < P; p++) {
            int32_t pix = tap[kk * P + p];
            if (pix >= 0) tab[(int64_t)pix * most + fill[pix]++] = (int32_t)(kk * ld + p);
        }
    return tab;
}

/* dx [nb, cin, h, w] = bias + the column entries that read each pixel (fast mode's
 * col2im over a chunk's columns, row stride ld) */
static void col2im_chunk(cpu_ctx *c, const float *cols, int64_t ld, float *dx, const float *bias, int64_t nb,
                         const zoo_conv2d_geom *g) {
    int64_t HW = (int64_t)g->h * g->w, P = zoo_conv_positions(g), taps = (int64_t)g->kh * g->kw;
    size_t mark = cpu_mark(c);
    int slots;
    const int32_t *tab = gather_table(c, g, ld, &slots);
#pragma omp parallel for collapse(2) if (c->threads > 1 && nb * g->cin * HW >= PAR_MIN) schedule(static)
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < g->cin; i++) {
            const float *base = cols + i * taps * ld + b * P;
            float *dst = dx + (b * g->cin + i) * HW, b0 = bias ? bias[i] : 0.0f;
#pragma omp simd
            for (int64_t j = 0; j < HW; j++) {
                float acc = b0;
                for (int q = 0; q < slots; q++) {
                    int32_t o = tab[j * slots + q];
                    float v = base[o < 0 ? 0 : o];
                    acc += o < 0 ? 0.0f : v;
                }
                dst[j] = acc;
            }
        }
    cpu_release(c, mark);
}

/* fast: per chunk, dy's rows side by side, cols [K, nb*P] = w^T dy in one product, then
 * col2im image by image onto the bias */
static void conv2d_backward_input_fast(cpu_ctx *c, const float *dy, const float *w, const float *bias, float *dx,
                                       const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g), per = chunk_images(g), HW = (int64_t)g->h * g->w;
    int64_t xs = (int64_t)g->cin * HW, ys = (int64_t)g->cout * P;
    size_t mark = cpu_mark(c);
    float *cols = cpu_scratch(c, (size_t)(K * per * P)), *rows = cpu_scratch(c, (size_t)(g->cout * per * P));
    for (int64_t b0 = 0; b0 < g->n; b0 += per) {
        int64_t nb = g->n - b0 < per ? g->n - b0 : per;
        to_channel_rows(c, dy + b0 * ys, rows, nb, g->cout, P);
        cpu_sgemm(true, false, K, nb * P, g->cout, 1.0f, w, K, rows, nb * P, 0.0f, cols, nb * P);
        col2im_chunk(c, cols, nb * P, dx + b0 * xs, bias, nb, g);
    }
    cpu_release(c, mark);
}

/* dy [n, cout, oh, ow], w, bias [cin] or NULL -> dx [n, cin, h, w]: per image the
 * product w^T dy into columns, then col2im onto the bias (fast mode: a chunk of images
 * at a time) */
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
    if (!c->exact && P < WIDE_P) {
        conv2d_backward_input_fast(c, f32(dy), f32(w), pbias, f32(dx), g);
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
        col2im(cols, P, dxb, g);
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

/* fast: per chunk, dw (+)= dy [cout, nb*P] cols [K, nb*P]^T in one product whose depth
 * is every position of the chunk, and db (+)= dy's row sums */
/* fast, wide images: per chunk of images (cpu_wgrad_chunks), a partial (+)= dy_b cols_b^T
 * image after image, then db's, then the partials added in order */
static void wgrad_fast_per_image(cpu_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                 zoo_tensor *db, const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g);
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P, WS = g->cout * K;
    bool pointwise = zoo_conv_is_pointwise(g);
    int64_t PS = WS + (db ? g->cout : 0); /* a chunk's partial: dw, then db */
    int nch = cpu_wgrad_chunks(g->n, PS);
    size_t mark = cpu_mark(c);
    float *buf = pointwise ? NULL : cpu_scratch(c, (size_t)(c->threads * K * P));
    float *parts = cpu_scratch(c, (size_t)(nch * PS));
#pragma omp parallel for if (conv_par(c, g)) schedule(dynamic)
    for (int ch = 0; ch < nch; ch++) {
        float *cols = pointwise ? NULL : buf + omp_get_thread_num() * K * P, *part = parts + ch * PS;
        int64_t b0 = g->n * ch / nch, b1 = g->n * (ch + 1) / nch;
        for (int64_t b = b0; b < b1; b++) {
            const float *xb = f32(x) + b * xs, *dyb = f32(dy) + b * ys;
            if (!pointwise) im2col(xb, cols, g);
            cpu_sgemm(false, true, g->cout, K, P, 1.0f, dyb, P, pointwise ? xb : cols, P, b == b0 ? 0.0f : 1.0f,
                      part, K);
            for (int64_t o = 0; db && o < g->cout; o++) {
                float sum = cpu_vsum(dyb + o * P, P);
                part[WS + o] = b == b0 ? sum : part[WS + o] + sum;
            }
        }
    }
    cpu_sum_partials(parts, nch, PS, f32(dw), WS);
    if (db) cpu_sum_partials(parts + WS, nch, PS, f32(db), g->cout);
    cpu_release(c, mark);
}

static void wgrad_fast(cpu_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw, zoo_tensor *db,
                       const zoo_conv2d_geom *g) {
    int64_t K = zoo_conv_depth(g), P = zoo_conv_positions(g), per = chunk_images(g);
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * P;
    if (cpu_conv_is_winograd(g) && dw) {
        cpu_wino_conv2d_backward_weight(c, f32(x), f32(dy), f32(dw), db ? f32(db) : NULL, g, conv_par(c, g));
        return;
    }
    if (P >= WIDE_P && dw) {
        wgrad_fast_per_image(c, x, dy, dw, db, g);
        return;
    }
    size_t mark = cpu_mark(c);
    float *cols = dw ? cpu_scratch(c, (size_t)(K * per * P)) : NULL;
    float *rows = cpu_scratch(c, (size_t)(g->cout * per * P));
    for (int64_t b0 = 0; b0 < g->n; b0 += per) {
        int64_t nb = g->n - b0 < per ? g->n - b0 : per;
        bool first = b0 == 0;
        to_channel_rows(c, f32(dy) + b0 * ys, rows, nb, g->cout, P);
        if (dw) {
            im2col_chunk(c, f32(x) + b0 * xs, cols, nb, g);
            cpu_sgemm(false, true, g->cout, K, nb * P, 1.0f, rows, nb * P, cols, nb * P, first ? 0.0f : 1.0f, f32(dw),
                      K);
        }
        if (!db) continue;
#pragma omp parallel for if (c->threads > 1 && g->cout * nb * P >= PAR_MIN) schedule(static)
        for (int64_t o = 0; o < g->cout; o++) {
            float sum = cpu_vsum(rows + o * nb * P, nb * P);
            f32(db)[o] = first ? sum : f32(db)[o] + sum;
        }
    }
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
