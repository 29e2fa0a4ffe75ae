/* Fast mode's 3x3 stride-1 convolutions as Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each
 * 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A for its 4x4 input tile d, 16
 * multiplies per tile and channel pair instead of 36. A chunk of images at a time
 * becomes 16 sgemms [cout, cin] x [cin, tiles] between an input and an output
 * transform. The input gradient is the same convolution with the kernels flipped and
 * transposed; the weight gradient is the adjoint, G^T [sum over tiles of (A dy A^T) .
 * V] G. The transforms' coefficients are 0, +-1 and +-1/2, so rounding stays at
 * im2col's level (the consistency suite measures it against exact mode).
 *
 * The transforms work on four neighbouring tiles of a tile row at once, in 4-float
 * vectors (GCC/Clang vector extensions; SSE on any x86-64, NEON on ARM): planes are
 * small (14x14 in the CNN), so loops over single tiles or rows would spend their
 * time starting and stopping. A block may run past the end of a tile row; what it
 * writes there lands on the next row's first tiles, which are written after it, or
 * on the padding at the end of each [tiles] row of V and M (ld > T). */
#include "cpu_internal.h"
#include "vecmath.h"

/* rows here are a few floats long: copying them through a libc call (what GCC turns a
 * copy loop into) costs more than the copy */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#include <omp.h>
#include <string.h>

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

/* worth it when the channel products outweigh the transforms: from 8 input channels
 * (with fewer output channels it still beats im2col, which copies each input 9 times) */
bool cpu_conv_is_winograd(const zoo_conv2d_geom *g) {
    return g->kh == 3 && g->kw == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 && g->dil_w == 1 &&
           g->pad_h <= 2 && g->pad_w <= 2 && g->cin >= 8;
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

/* U [16, a, b] from w [cout, cin, 3, 3]: a = out, b = in; or, flipped for the input
 * gradient, a = in, b = out and each kernel rotated by 180 degrees (rearranged into
 * tmp, cout * cin * 9 floats, first) */
static void wino_weights(const float *w, int32_t cout, int32_t cin, bool flip, float *u, float *tmp, bool par) {
    int64_t plane = (int64_t)cout * cin;
    if (flip) {
#pragma omp parallel for if (par) schedule(static)
        for (int32_t i = 0; i < cin; i++)
            for (int32_t o = 0; o < cout; o++)
                for (int j = 0; j < 9; j++) tmp[((int64_t)i * cout + o) * 9 + j] = w[((int64_t)o * cin + i) * 9 + 8 - j];
        w = tmp;
    }
    /* the kernels in one range per thread */
#pragma omp parallel if (par)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t q0 = plane * id / nt / 8 * 8, q1 = id == nt - 1 ? plane : plane * (id + 1) / nt / 8 * 8;
        cpu_vwino_kernels(w + q0 * 9, q1 - q0, u + q0, plane);
    }
}

/* V [16, ci, ld] = B^T d B for every channel and tile of nimg images of x. B^T's rows
 * are d0 - d2, d1 + d2, d2 - d1, d1 - d3; applied across each padded row first (h),
 * then down the columns. */
static void wino_input(const float *x, const wino_dims *dims, int32_t nimg, float *v, float *p) {
    /* a copy the stores below cannot alias: its fields stay in registers */
    const wino_dims local = *dims, *d = &local;
    int64_t plane = (int64_t)d->ci * d->ld, hr = 4 * (int64_t)d->blocks, hs = d->rows * hr;
    float *h = p + (int64_t)d->rows * d->pr;
    for (int32_t b = 0; b < nimg; b++)
        for (int32_t c = 0; c < d->ci; c++) {
            /* the plane, zero-padded: input (iy, ix) at row iy + pad_h, column ix + pad_w */
            const float *xc = x + ((int64_t)b * d->ci + c) * d->ih * d->iw;
            int32_t n = d->iw < d->pr - d->pad_w ? d->iw : d->pr - d->pad_w;
            /* the next plane on its way into cache while this one is transformed */
            if (b + 1 < nimg || c + 1 < d->ci)
                for (int64_t i = 0; i < (int64_t)d->ih * d->iw; i += 16) __builtin_prefetch(xc + (int64_t)d->ih * d->iw + i);
            for (int32_t r = 0; r < d->rows; r++) {
                float *row = p + (int64_t)r * d->pr;
                int32_t iy = r - d->pad_h;
                if (iy < 0 || iy >= d->ih) {
                    memset(row, 0, (size_t)d->pr * 4);
                    continue;
                }
                /* three branch-free runs: left padding, the input row, the rest */
                const float *src = xc + (int64_t)iy * d->iw;
                for (int32_t j = 0; j < d->pad_w; j++) row[j] = 0.0f;
                for (int32_t j = 0; j < n; j++) row[d->pad_w + j] = src[j];
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

/* y [nimg, co, oh, ow] = A^T M A (+ bias) from M [16, co, ld]. A^T's rows are
 * m0 + m1 + m2 and m1 - m2 - m3. */
static void wino_output(float *m, const float *bias, const wino_dims *dims, int32_t nimg, float *y) {
    /* a copy the stores below cannot alias: its fields stay in registers */
    const wino_dims local = *dims, *d = &local;
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
}

/* dM [16, co, ld] = A dy A^T for every output channel and tile of dy [nimg, co, oh, ow]
 * (outputs past the edge read 0): with a and b the tile's two output rows, the rows
 * of A dy are a, a + b, a - b, -b, and each row (u, w) becomes (u, u + w, u - w, -w). */
static void wino_output_adjoint(const float *dy, const wino_dims *dims, int32_t nimg, float *dm) {
    /* a copy the stores below cannot alias: its fields stay in registers */
    const wino_dims local = *dims, *d = &local;
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
    size_t mark = cpu_mark(c);
    int64_t per = wino_scratch(d), mv = 16 * d->ld * d->ci, mm = 16 * d->ld * d->co;
    int nt = par ? c->threads : 1;
    float *buf = cpu_scratch(c, (size_t)(nt * per));
#pragma omp parallel for if (par) schedule(dynamic)
    for (int32_t ch = 0; ch < d->chunks; ch++) {
        float *v = buf + omp_get_thread_num() * per, *m = v + mv, *p = m + mm;
        int32_t b0 = ch * d->per_chunk, nimg = d->n - b0 < d->per_chunk ? d->n - b0 : d->per_chunk;
        int64_t t = (int64_t)nimg * d->tiles;
        wino_input(x + (int64_t)b0 * d->ci * d->ih * d->iw, d, nimg, v, p);
        for (int k = 0; k < 16; k++)
            cpu_sgemm(false, false, d->co, t, d->ci, 1.0f, u + (int64_t)k * d->co * d->ci, d->ci,
                        v + k * d->ld * d->ci, d->ld, 0.0f, m + k * d->ld * d->co, d->ld);
        wino_output(m, bias, d, nimg, y + (int64_t)b0 * d->co * d->oh * d->ow);
    }
    cpu_release(c, mark);
}

/* y = conv2d(x, w) + bias via U = G w G^T */
void cpu_wino_conv2d(cpu_ctx *c, const float *x, const float *w, const float *bias, float *y,
                        const zoo_conv2d_geom *g, bool par) {
    size_t mark = cpu_mark(c);
    float *u = cpu_scratch(c, (size_t)16 * g->cout * g->cin);
    wino_weights(w, g->cout, g->cin, false, u, NULL, par);
    wino_dims d = wino_make(g->n, g->cin, g->h, g->w, g->cout, g->oh, g->ow, g->pad_h, g->pad_w);
    wino_conv(c, x, u, bias, y, &d, par);
    cpu_release(c, mark);
}

/* dx = the conv of dy with the flipped, transposed kernels and padding 2 - pad */
void cpu_wino_conv2d_backward_input(cpu_ctx *c, const float *dy, const float *w, const float *bias, float *dx,
                                       const zoo_conv2d_geom *g, bool par) {
    size_t mark = cpu_mark(c);
    float *u = cpu_scratch(c, (size_t)16 * g->cout * g->cin), *tmp = cpu_scratch(c, (size_t)9 * g->cout * g->cin);
    wino_weights(w, g->cout, g->cin, true, u, tmp, par);
    wino_dims d = wino_make(g->n, g->cout, g->oh, g->ow, g->cin, g->h, g->w, 2 - g->pad_h, 2 - g->pad_w);
    wino_conv(c, dy, u, bias, dx, &d, par);
    cpu_release(c, mark);
}

/* dw [cout, cin, 3, 3] = G^T dU G with dU [16, cout, cin] = the sum over tiles of
 * (A dy A^T) V^T. Images go in groups of whole chunks (wgrad_chunks groups, as the
 * im2col path), each summed in order into its own partial; partials add in order.
 * db (NULL: not wanted) comes along: dM's element (1, 1) is the sum of a tile's four
 * outputs. */
void cpu_wino_conv2d_backward_weight(cpu_ctx *c, const float *x, const float *dy, float *dw, float *db,
                                        const zoo_conv2d_geom *g, bool par) {
    wino_dims d = wino_make(g->n, g->cin, g->h, g->w, g->cout, g->oh, g->ow, g->pad_h, g->pad_w);
    int64_t per = wino_scratch(&d), mv = 16 * d.ld * d.ci, mm = 16 * d.ld * d.co, US = 16 * (int64_t)g->cout * g->cin;
    int64_t PS = US + (db ? g->cout : 0); /* a group's partial: dU, then db */
    int groups = cpu_wgrad_chunks(d.chunks, PS);
    size_t mark = cpu_mark(c);
    float *buf = cpu_scratch(c, (size_t)((par ? c->threads : 1) * per));
    float *parts = cpu_scratch(c, (size_t)(groups * PS)), *du = cpu_scratch(c, (size_t)US);
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
                cpu_sgemm(false, true, d.co, d.ci, t, 1.0f, m + k * d.ld * d.co, d.ld, v + k * d.ld * d.ci, d.ld,
                            ch == c0 ? 0.0f : 1.0f, part + (int64_t)k * d.co * d.ci, d.ci);
            for (int32_t o = 0; db && o < d.co; o++) {
                float s = cpu_vsum(m + 5 * d.ld * d.co + (int64_t)o * d.ld, t);
                part[US + o] = ch == c0 ? s : part[US + o] + s;
            }
        }
    }
    cpu_sum_partials(parts, groups, PS, du, US);
    if (db) cpu_sum_partials(parts + US, groups, PS, db, g->cout);
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
    cpu_release(c, mark);
}
