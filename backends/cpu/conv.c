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
#include <stdlib.h>
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

/* ---------------------------------------------------------------- fast mode's chunks */

/* an image with this many output positions is a wide enough product by itself */
#define WIDE_P 256

/* at most this deep (cin*kh*kw: a first layer on one or a few channels) a BLAS product
 * spends its time packing; vecmath.c's shallow product runs instead */
#define SHALLOW_K 32

/* A chunk's columns [K, nb * P] stay about this size, so that a thread's product and the
 * im2col or col2im around it work in its share of L2; chunks go to the threads whole,
 * each product on its own thread. */
#define CHUNK_FLOATS ((int64_t)1 << 18)
#define MIN_CHUNKS 8

/* Fast mode's chunks of images: nb images a chunk (the last may have fewer), each chunk's
 * columns with row stride ld = nb * P. A function of the shapes alone, so the weight
 * gradient's sum over chunks is the same at any thread count. */
typedef struct chunks {
    int64_t K, P, nb, count, ld;
    const int32_t *tap; /* tap_table */
} chunks;

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

static chunks chunks_of(cpu_ctx *c, const zoo_conv2d_geom *g) {
    chunks ch = {.K = zoo_conv_depth(g), .P = zoo_conv_positions(g)};
    ch.nb = CHUNK_FLOATS / (ch.K * ch.P);
    int64_t most = (g->n + MIN_CHUNKS - 1) / MIN_CHUNKS;
    if (ch.nb > most) ch.nb = most;
    if (ch.nb < 1) ch.nb = 1;
    ch.count = (g->n + ch.nb - 1) / ch.nb;
    /* a count that two or four threads share evenly (13 chunks of 5 images would keep
     * one of two threads busy for a 14th while the other waits) */
    int64_t even = (ch.count + 3) / 4 * 4;
    if (even <= g->n) {
        ch.nb = (g->n + even - 1) / even;
        ch.count = (g->n + ch.nb - 1) / ch.nb;
    }
    ch.ld = ch.nb * ch.P;
    ch.tap = tap_table(c, g);
    return ch;
}

/* the images in chunk i, and the first */
static int64_t chunk_size(const chunks *ch, const zoo_conv2d_geom *g, int64_t i) {
    int64_t left = g->n - i * ch->nb;
    return left < ch->nb ? left : ch->nb;
}

/* columns of n images of x [n, cin, h, w] into cols [K, ld] (image b at column b*P) */
static void chunk_im2col(const chunks *ch, const float *x, float *cols, int64_t n, const zoo_conv2d_geom *g) {
    int64_t taps = (int64_t)g->kh * g->kw, HW = (int64_t)g->h * g->w;
    for (int64_t b = 0; b < n; b++)
        for (int64_t r = 0; r < ch->K; r++) {
            const float *src = x + (b * g->cin + r / taps) * HW;
            const int32_t *t = ch->tap + (r % taps) * ch->P;
            float *dst = cols + r * ch->ld + b * ch->P;
#pragma omp simd
            for (int64_t j = 0; j < ch->P; j++) {
                float v = src[t[j] < 0 ? 0 : t[j]];
                dst[j] = t[j] < 0 ? 0.0f : v;
            }
        }
}

/* [n, rows, P] <-> [rows, ld]: a chunk's images side by side in each channel's row */
static void chunk_rows(const chunks *ch, const float *src, float *dst, int64_t n, int64_t rows) {
    for (int64_t o = 0; o < rows; o++)
        for (int64_t b = 0; b < n; b++) memcpy(dst + o * ch->ld + b * ch->P, src + (b * rows + o) * ch->P, (size_t)ch->P * 4);
}

/* The adjoint of tap_table: for each input pixel, the entries of a chunk's columns
 * whose taps read it (at most `slots`, the most any pixel has), as offsets kk*ld + p
 * from the first row of the pixel's channel, in (ky, kx) order, -1 past the last.
 * col2im then gathers each pixel's sum instead of scattering, which vectorizes. */
static int32_t *gather_table(cpu_ctx *c, const chunks *ch, const zoo_conv2d_geom *g, int *slots) {
    int64_t HW = (int64_t)g->h * g->w, taps = (int64_t)g->kh * g->kw;
    ZOO_ASSERT(ch->ld * taps < INT32_MAX);
    int32_t *fill = (int32_t *)cpu_scratch(c, (size_t)HW);
    memset(fill, 0, (size_t)HW * 4);
    int most = 0;
    for (int64_t e = 0; e < taps * ch->P; e++)
        if (ch->tap[e] >= 0 && ++fill[ch->tap[e]] > most) most = fill[ch->tap[e]];
    *slots = most;
    int32_t *tab = (int32_t *)cpu_scratch(c, (size_t)(HW * (most ? most : 1)));
    for (int64_t i = 0; i < HW * most; i++) tab[i] = -1;
    memset(fill, 0, (size_t)HW * 4);
    for (int64_t kk = 0; kk < taps; kk++)
        for (int64_t p = 0; p < ch->P; p++) {
            int32_t pix = ch->tap[kk * ch->P + p];
            if (pix >= 0) tab[(int64_t)pix * most + fill[pix]++] = (int32_t)(kk * ch->ld + p);
        }
    return tab;
}

/* dx [n, cin, h, w] = bias + the column entries that read each pixel (col2im of n images
 * of a chunk's columns) */
static void chunk_col2im(const chunks *ch, const int32_t *gather, int slots, const float *cols, float *dx,
                         const float *bias, int64_t n, const zoo_conv2d_geom *g) {
    int64_t HW = (int64_t)g->h * g->w, taps = (int64_t)g->kh * g->kw;
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < g->cin; i++) {
            const float *base = cols + i * taps * ch->ld + b * ch->P;
            float *dst = dx + (b * g->cin + i) * HW, b0 = bias ? bias[i] : 0.0f;
#pragma omp simd
            for (int64_t j = 0; j < HW; j++) {
                float acc = b0;
                for (int q = 0; q < slots; q++) {
                    int32_t o = gather[j * slots + q];
                    float v = base[o < 0 ? 0 : o];
                    acc += o < 0 ? 0.0f : v;
                }
                dst[j] = acc;
            }
        }
}

/* per chunk: columns, the product w [cout, K] cols [K, n*P], then each image's rows with
 * the bias into y */
static void conv2d_fast(cpu_ctx *c, const float *x, const float *w, const float *bias, float *y,
                        const zoo_conv2d_geom *g) {
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * zoo_conv_positions(g);
    size_t mark = cpu_mark(c);
    chunks ch = chunks_of(c, g);
    int64_t per = (ch.K + g->cout) * ch.ld;
    float *buf = cpu_scratch(c, (size_t)(per * c->threads));
#pragma omp parallel for if (c->threads > 1 && ch.count > 1) schedule(dynamic)
    for (int64_t i = 0; i < ch.count; i++) {
        int64_t n = chunk_size(&ch, g, i), b0 = i * ch.nb;
        float *cols = buf + omp_get_thread_num() * per, *out = cols + ch.K * ch.ld;
        chunk_im2col(&ch, x + b0 * xs, cols, n, g);
        if (ch.K <= SHALLOW_K) cpu_vgemm_shallow(w, cols, NULL, out, g->cout, ch.K, ch.ld);
        else cpu_sgemm(false, false, g->cout, ch.ld, ch.K, 1.0f, w, ch.K, cols, ch.ld, 0.0f, out, ch.ld);
        for (int64_t b = 0; b < n; b++)
            for (int64_t o = 0; o < g->cout; o++) {
                const float *r = out + o * ch.ld + b * ch.P;
                float *d = y + (b0 + b) * ys + o * ch.P, v = bias ? bias[o] : 0.0f;
                for (int64_t j = 0; j < ch.P; j++) d[j] = r[j] + v;
            }
    }
    cpu_release(c, mark);
}

/* per chunk: dy's rows side by side, cols [K, n*P] = w^T dy, then col2im onto the bias */
static void conv2d_backward_input_fast(cpu_ctx *c, const float *dy, const float *w, const float *bias, float *dx,
                                       const zoo_conv2d_geom *g) {
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * zoo_conv_positions(g);
    size_t mark = cpu_mark(c);
    chunks ch = chunks_of(c, g);
    int slots;
    const int32_t *gather = gather_table(c, &ch, g, &slots);
    int64_t per = (ch.K + g->cout) * ch.ld;
    float *buf = cpu_scratch(c, (size_t)(per * c->threads));
#pragma omp parallel for if (c->threads > 1 && ch.count > 1) schedule(dynamic)
    for (int64_t i = 0; i < ch.count; i++) {
        int64_t n = chunk_size(&ch, g, i), b0 = i * ch.nb;
        float *cols = buf + omp_get_thread_num() * per, *rows = cols + ch.K * ch.ld;
        chunk_rows(&ch, dy + b0 * ys, rows, n, g->cout);
        cpu_sgemm(true, false, ch.K, ch.ld, g->cout, 1.0f, w, ch.K, rows, ch.ld, 0.0f, cols, ch.ld);
        chunk_col2im(&ch, gather, slots, cols, dx + b0 * xs, bias, n, g);
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

/* fast, few positions: chunks in groups fixed by the shapes (cpu_wgrad_chunks); each
 * group's partial (+)= dy [cout, n*P] cols [K, n*P]^T and dy's row sums, chunk after
 * chunk, a product as deep as the chunk's positions; then the partials in order */
static void wgrad_fast_chunks(cpu_ctx *c, const float *x, const float *dy, float *dw, float *db,
                              const zoo_conv2d_geom *g) {
    int64_t xs = (int64_t)g->cin * g->h * g->w, ys = (int64_t)g->cout * zoo_conv_positions(g);
    size_t mark = cpu_mark(c);
    chunks ch = chunks_of(c, g);
    int64_t WS = g->cout * ch.K, PS = WS + (db ? g->cout : 0); /* a group's partial: dw, then db */
    int groups = cpu_wgrad_chunks(ch.count, PS);
    int64_t per = (dw ? ch.K * ch.ld : 0) + g->cout * ch.ld;
    float *buf = cpu_scratch(c, (size_t)(per * c->threads)), *parts = cpu_scratch(c, (size_t)(groups * PS));
#pragma omp parallel for if (c->threads > 1 && groups > 1) schedule(dynamic)
    for (int gi = 0; gi < groups; gi++) {
        float *rows = buf + omp_get_thread_num() * per, *cols = rows + g->cout * ch.ld, *part = parts + gi * PS;
        int64_t c0 = ch.count * gi / groups, c1 = ch.count * (gi + 1) / groups;
        for (int64_t i = c0; i < c1; i++) {
            int64_t n = chunk_size(&ch, g, i), b0 = i * ch.nb;
            bool first = i == c0;
            chunk_rows(&ch, dy + b0 * ys, rows, n, g->cout);
            if (n < ch.nb) /* a short last chunk: its unused columns must add nothing */
                for (int64_t o = 0; o < g->cout; o++) memset(rows + o * ch.ld + n * ch.P, 0, (size_t)((ch.nb - n) * ch.P) * 4);
            if (dw) {
                chunk_im2col(&ch, x + b0 * xs, cols, n, g);
                cpu_sgemm(false, true, g->cout, ch.K, ch.ld, 1.0f, rows, ch.ld, cols, ch.ld, first ? 0.0f : 1.0f, part,
                          ch.K);
            }
            for (int64_t o = 0; db && o < g->cout; o++) {
                float sum = cpu_vsum(rows + o * ch.ld, ch.ld);
                part[WS + o] = first ? sum : part[WS + o] + sum;
            }
        }
    }
    if (dw) cpu_sum_partials(parts, groups, PS, dw, WS);
    if (db) cpu_sum_partials(parts + WS, groups, PS, db, g->cout);
    cpu_release(c, mark);
}

static void wgrad_fast(cpu_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw, zoo_tensor *db,
                       const zoo_conv2d_geom *g) {
    if (cpu_conv_is_winograd(g) && dw) {
        cpu_wino_conv2d_backward_weight(c, f32(x), f32(dy), f32(dw), db ? f32(db) : NULL, g, conv_par(c, g));
        return;
    }
    if (zoo_conv_positions(g) >= WIDE_P && dw) {
        wgrad_fast_per_image(c, x, dy, dw, db, g);
        return;
    }
    wgrad_fast_chunks(c, f32(x), f32(dy), dw ? f32(dw) : NULL, db ? f32(db) : NULL, g);
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
