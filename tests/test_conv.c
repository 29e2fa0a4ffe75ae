/* The convolution family: conv2d, conv_transpose2d, max/avg pooling and batch norm,
 * forward against naive double-precision references written here, backward against
 * central finite differences, the layers' names and initialization, and results that
 * do not depend on the thread count. Uses only the public headers. */
#include "op_check.h"

#include "core/autograd.h"
#include "core/conv.h"
#include "core/nn.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- host helpers (as test_ops.c) */


static uint64_t data_rng = 54321;

static float uniform(float lo, float hi) { return (float)(lo + (hi - lo) * urand(&data_rng)); }

static void fill_rand(float *v, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) v[i] = uniform(lo, hi);
}






static double *host_doubles(int64_t n) {
    double *d = zoo_scope_alloc((size_t)n * sizeof(double));
    memset(d, 0, (size_t)n * sizeof(double));
    return d;
}


static zoo_tensor *param_rand(zoo_shape s, float lo, float hi) {
    int64_t n = zoo_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    fill_rand(v, n, lo, hi);
    zoo_tensor *t = param(s, v);
    free(v);
    return t;
}



/* ---------------------------------------------------------------- gradcheck (as test_ops.c) */




/* ---------------------------------------------------------------- conv2d */

typedef struct conv_case {
    int n, cin, h, w, cout, kh, kw;
    zoo_conv2d_args a; /* all fields given (no zero defaults) */
    bool bias;
} conv_case;

static int conv_out(int size, int k, int stride, int pad, int dil) { return (size + 2 * pad - dil * (k - 1) - 1) / stride + 1; }

/* y[b, o, oy, ox] = bias[o] + sum of w[o, i, ky, kx] * x[b, i, oy*s - p + ky*d, ox*s - p + kx*d] */
static void ref_conv2d(const conv_case *c, const float *x, const float *w, const float *bias, double *y) {
    const zoo_conv2d_args *a = &c->a;
    int oh = conv_out(c->h, c->kh, a->stride[0], a->padding[0], a->dilation[0]);
    int ow = conv_out(c->w, c->kw, a->stride[1], a->padding[1], a->dilation[1]);
    for (int b = 0; b < c->n; b++)
        for (int o = 0; o < c->cout; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int i = 0; i < c->cin; i++)
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++) {
                                int iy = oy * a->stride[0] - a->padding[0] + ky * a->dilation[0];
                                int ix = ox * a->stride[1] - a->padding[1] + kx * a->dilation[1];
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                s += (double)w[((o * c->cin + i) * c->kh + ky) * c->kw + kx] *
                                     x[((b * c->cin + i) * c->h + iy) * c->w + ix];
                            }
                    y[((b * c->cout + o) * oh + oy) * ow + ox] = s;
                }
}

static zoo_tensor *g_conv2d(zoo_tensor *const *x, const void *ctx) {
    const conv_case *c = ctx;
    return zoo_conv2d_ex(x[0], x[1], c->bias ? x[2] : NULL, &c->a);
}

static const char *conv_name(char *buf, size_t n, const char *op, const conv_case *c) {
    snprintf(buf, n, "%s x [%d,%d,%d,%d] w %dx%d -> %d, stride %d,%d pad %d,%d dil %d,%d outpad %d,%d%s", op, c->n,
             c->cin, c->h, c->w, c->kh, c->kw, c->cout, c->a.stride[0], c->a.stride[1], c->a.padding[0],
             c->a.padding[1], c->a.dilation[0], c->a.dilation[1], c->a.output_padding[0], c->a.output_padding[1],
             c->bias ? " + bias" : "");
    return buf;
}

#define ARGS(s0, s1, p0, p1, d0, d1) {{s0, s1}, {p0, p1}, {d0, d1}, {0, 0}}

static const conv_case conv_cases[] = {
    /* n cin h w cout kh kw  stride pad dil  bias */
    {2, 3, 5, 7, 4, 3, 3, ARGS(1, 1, 1, 1, 1, 1), true},   /* 3x3 "same", odd sizes */
    {2, 3, 5, 7, 4, 3, 3, ARGS(1, 1, 0, 0, 1, 1), false},  /* no padding */
    {2, 3, 6, 7, 2, 3, 3, ARGS(1, 1, 2, 2, 1, 1), false},  /* padding 2 */
    {2, 3, 7, 6, 2, 3, 3, ARGS(2, 2, 1, 1, 1, 1), true},   /* stride 2 */
    {1, 2, 6, 5, 3, 1, 1, ARGS(1, 1, 0, 0, 1, 1), true},   /* 1x1 */
    {2, 2, 5, 5, 3, 1, 1, ARGS(2, 2, 0, 0, 1, 1), false},  /* 1x1 stride 2 */
    {2, 2, 5, 5, 3, 1, 1, ARGS(1, 1, 1, 1, 1, 1), true},   /* 1x1 with padding */
    {2, 2, 9, 8, 3, 4, 4, ARGS(2, 2, 1, 1, 1, 1), true},   /* 4x4 stride 2 (DCGAN) */
    {2, 3, 7, 11, 2, 3, 5, ARGS(1, 2, 1, 3, 1, 1), true},  /* stride 2 across only, wide padding */
    {1, 2, 6, 10, 2, 2, 2, ARGS(3, 2, 0, 0, 2, 1), false}, /* stride 2 across, dilation 2 down */
    {1, 2, 7, 6, 2, 4, 4, ARGS(1, 1, 2, 2, 1, 1), false},  /* 4x4 stride 1 padding 2 */
    {1, 2, 8, 9, 2, 3, 3, ARGS(1, 1, 2, 2, 2, 2), true},   /* dilation 2 */
    {2, 2, 9, 9, 2, 3, 3, ARGS(2, 2, 1, 1, 2, 2), false},  /* dilation 2, stride 2 */
    {1, 2, 7, 9, 3, 2, 3, ARGS(2, 1, 0, 1, 1, 2), true},   /* every pair rectangular */
    {3, 1, 6, 6, 4, 3, 3, ARGS(1, 1, 1, 1, 1, 1), true},   /* one input channel (the CNN's conv1) */
    {2, 4, 4, 4, 3, 4, 4, ARGS(1, 1, 0, 0, 1, 1), true},   /* kernel covers the input: 1x1 output */
    {1, 3, 1, 1, 2, 1, 1, ARGS(1, 1, 0, 0, 1, 1), true},   /* 1x1 image */
    /* 3x3 stride 1 with 8+ channels each way: the CPU backend's Winograd path */
    {2, 8, 5, 7, 9, 3, 3, ARGS(1, 1, 1, 1, 1, 1), true},   /* odd sizes: partial tiles */
    {1, 9, 6, 6, 8, 3, 3, ARGS(1, 1, 0, 0, 1, 1), false},  /* no padding */
    {2, 8, 7, 4, 8, 3, 3, ARGS(1, 1, 2, 2, 1, 1), true},   /* padding 2 */
    {1, 8, 6, 5, 8, 3, 3, ARGS(1, 1, 0, 2, 1, 1), false},  /* padding 0 and 2 */
    {3, 8, 1, 1, 8, 3, 3, ARGS(1, 1, 1, 1, 1, 1), true},   /* 1x1 image */
    {1, 8, 29, 18, 8, 3, 3, ARGS(1, 1, 1, 1, 1, 1), true}, /* 135 tiles per image */
    {2, 8, 6, 7, 1, 3, 3, ARGS(1, 1, 1, 1, 1, 1), true},   /* one output channel */
    {1, 10, 5, 5, 3, 3, 3, ARGS(1, 1, 2, 2, 1, 1), false}, /* three output channels */
    {2, 8, 4, 4, 8, 3, 3, ARGS(1, 1, 1, 1, 2, 2), false},  /* dilation 2 falls back */
};

TEST(conv2d_matches_direct_convolution_and_finite_differences) {
    for (size_t ci = 0; ci < sizeof conv_cases / sizeof *conv_cases; ci++) {
        const conv_case *c = &conv_cases[ci];
        char what[256];
        conv_name(what, sizeof what, "conv2d", c);
        zoo_tensor *x[3] = {param_rand(zoo_shape4(c->n, c->cin, c->h, c->w), -1, 1),
                            param_rand(zoo_shape4(c->cout, c->cin, c->kh, c->kw), -1, 1),
                            param_rand(zoo_shape1(c->cout), -1, 1)};
        int oh = conv_out(c->h, c->kh, c->a.stride[0], c->a.padding[0], c->a.dilation[0]);
        int ow = conv_out(c->w, c->kw, c->a.stride[1], c->a.padding[1], c->a.dilation[1]);
        zoo_scope_begin();
        zoo_tensor *y = g_conv2d(x, c);
        expect_shape(what, y, zoo_shape4(c->n, c->cout, oh, ow));
        double *want = host_doubles(y->numel);
        ref_conv2d(c, host(x[0]), host(x[1]), c->bias ? host(x[2]) : NULL, want);
        expect_close(what, host(y), want, y->numel, 1e-5);
        zoo_scope_end();
        gradcheck(what, g_conv2d, c, x, c->bias ? 3 : 2);
        free_all(x, 3);
    }
}

TEST(conv2d_square_form_is_the_ex_form_with_equal_pairs) {
    zoo_tensor *x = param_rand(zoo_shape4(2, 3, 9, 8), -1, 1), *w = param_rand(zoo_shape4(4, 3, 3, 3), -1, 1);
    zoo_scope_begin();
    zoo_conv2d_args a = {.stride = {2, 2}, .padding = {2, 2}, .dilation = {2, 2}};
    zoo_tensor *y1 = zoo_conv2d(x, w, NULL, 2, 2, 2), *y2 = zoo_conv2d_ex(x, w, NULL, &a);
    zoo_tensor *y3 = zoo_conv2d_ex(x, w, NULL, NULL), *y4 = zoo_conv2d(x, w, NULL, 1, 0, 1);
    expect_shape("conv2d(stride 2, pad 2, dil 2)", y1, zoo_shape4(2, 4, 5, 4));
    expect(memcmp(host(y1), host(y2), (size_t)y1->numel * 4) == 0, "conv2d and conv2d_ex differ");
    expect(memcmp(host(y3), host(y4), (size_t)y3->numel * 4) == 0, "conv2d_ex with NULL args is not stride 1, pad 0");
    zoo_scope_end();
    zoo_tensor_free(x);
    zoo_tensor_free(w);
}

/* ---------------------------------------------------------------- conv_transpose2d */

static int convt_out(int size, int k, int stride, int pad, int dil, int out_pad) {
    return (size - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1;
}

/* every x[b, i, iy, ix] * w[i, o, ky, kx] lands on y[b, o, iy*s - p + ky*d, ix*s - p + kx*d] */
static void ref_conv_transpose2d(const conv_case *c, const float *x, const float *w, const float *bias, double *y) {
    const zoo_conv2d_args *a = &c->a;
    int oh = convt_out(c->h, c->kh, a->stride[0], a->padding[0], a->dilation[0], a->output_padding[0]);
    int ow = convt_out(c->w, c->kw, a->stride[1], a->padding[1], a->dilation[1], a->output_padding[1]);
    for (int b = 0; b < c->n; b++)
        for (int o = 0; o < c->cout; o++)
            for (int p = 0; p < oh * ow; p++) y[(b * c->cout + o) * oh * ow + p] = bias ? bias[o] : 0.0;
    for (int b = 0; b < c->n; b++)
        for (int i = 0; i < c->cin; i++)
            for (int iy = 0; iy < c->h; iy++)
                for (int ix = 0; ix < c->w; ix++)
                    for (int o = 0; o < c->cout; o++)
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++) {
                                int oy = iy * a->stride[0] - a->padding[0] + ky * a->dilation[0];
                                int ox = ix * a->stride[1] - a->padding[1] + kx * a->dilation[1];
                                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                                y[((b * c->cout + o) * oh + oy) * ow + ox] +=
                                    (double)x[((b * c->cin + i) * c->h + iy) * c->w + ix] *
                                    w[((i * c->cout + o) * c->kh + ky) * c->kw + kx];
                            }
}

static zoo_tensor *g_conv_transpose2d(zoo_tensor *const *x, const void *ctx) {
    const conv_case *c = ctx;
    return zoo_conv_transpose2d_ex(x[0], x[1], c->bias ? x[2] : NULL, &c->a);
}

#define TARGS(s, p, op, d) {{s, s}, {p, p}, {d, d}, {op, op}}

static const conv_case convt_cases[] = {
    /* n cin h w cout kh kw  stride pad outpad dil  bias */
    {2, 3, 4, 5, 2, 4, 4, TARGS(2, 1, 0, 1), true},   /* DCGAN upsampling: doubles the size */
    {2, 2, 3, 3, 3, 3, 3, TARGS(2, 1, 1, 1), false},  /* output_padding 1 */
    {1, 3, 5, 4, 2, 3, 3, TARGS(1, 1, 0, 1), true},   /* stride 1 */
    {2, 2, 3, 4, 2, 1, 1, TARGS(1, 0, 0, 1), true},   /* 1x1 */
    {1, 2, 3, 3, 2, 3, 3, TARGS(2, 0, 0, 2), true},   /* dilation 2 */
    {1, 2, 4, 3, 2, 3, 3, TARGS(3, 2, 2, 1), false},  /* stride 3, padding 2, output_padding 2 */
    {2, 4, 1, 1, 3, 4, 4, TARGS(1, 0, 0, 1), false},  /* 1x1 -> 4x4 (a generator's first layer) */
    {1, 2, 3, 4, 2, 2, 3, {{2, 1}, {0, 1}, {1, 1}, {1, 0}}, true}, /* rectangular */
    {2, 8, 5, 3, 9, 3, 3, TARGS(1, 1, 0, 1), true},   /* 3x3 stride 1, 8+ channels (Winograd) */
    {1, 9, 4, 4, 8, 3, 3, TARGS(1, 0, 0, 1), false},  /* ... growing the image by 2 */
    {1, 8, 6, 7, 8, 3, 3, TARGS(1, 2, 0, 1), true},   /* ... shrinking it by 2 */
};

TEST(conv_transpose2d_matches_direct_scatter_and_finite_differences) {
    for (size_t ci = 0; ci < sizeof convt_cases / sizeof *convt_cases; ci++) {
        const conv_case *c = &convt_cases[ci];
        char what[256];
        conv_name(what, sizeof what, "conv_transpose2d", c);
        zoo_tensor *x[3] = {param_rand(zoo_shape4(c->n, c->cin, c->h, c->w), -1, 1),
                            param_rand(zoo_shape4(c->cin, c->cout, c->kh, c->kw), -1, 1),
                            param_rand(zoo_shape1(c->cout), -1, 1)};
        const zoo_conv2d_args *a = &c->a;
        int oh = convt_out(c->h, c->kh, a->stride[0], a->padding[0], a->dilation[0], a->output_padding[0]);
        int ow = convt_out(c->w, c->kw, a->stride[1], a->padding[1], a->dilation[1], a->output_padding[1]);
        zoo_scope_begin();
        zoo_tensor *y = g_conv_transpose2d(x, c);
        expect_shape(what, y, zoo_shape4(c->n, c->cout, oh, ow));
        double *want = host_doubles(y->numel);
        ref_conv_transpose2d(c, host(x[0]), host(x[1]), c->bias ? host(x[2]) : NULL, want);
        expect_close(what, host(y), want, y->numel, 1e-5);
        zoo_scope_end();
        gradcheck(what, g_conv_transpose2d, c, x, c->bias ? 3 : 2);
        free_all(x, 3);
    }
}

TEST(conv_transpose2d_is_the_input_gradient_of_conv2d) {
    /* <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for every x, y */
    zoo_tensor *x = param_rand(zoo_shape4(2, 3, 9, 8), -1, 1), *w = param_rand(zoo_shape4(4, 3, 3, 3), -1, 1);
    zoo_tensor *y = param_rand(zoo_shape4(2, 4, 5, 4), -1, 1);
    zoo_scope_begin();
    bool old = zoo_set_grad_enabled(false);
    float *cx = host(zoo_conv2d(x, w, NULL, 2, 1, 1)), *hy = host(y);
    /* 9 -> 5 and 8 -> 4 under conv2d; back up needs output_padding 0 and 1 */
    zoo_conv2d_args back = {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {0, 1}};
    zoo_tensor *t = zoo_conv_transpose2d_ex(y, w, NULL, &back);
    expect_shape("conv_transpose2d back to x's size", t, x->shape);
    float *ty = host(t), *hx = host(x);
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < y->numel; i++) lhs += (double)cx[i] * hy[i];
    for (int64_t i = 0; i < x->numel; i++) rhs += (double)ty[i] * hx[i];
    CHECK_NEAR(lhs, rhs, 1e-4 * (1 + fabs(lhs)));
    zoo_set_grad_enabled(old);
    zoo_scope_end();
    zoo_tensor_free(x);
    zoo_tensor_free(w);
    zoo_tensor_free(y);
}

/* ---------------------------------------------------------------- pooling */

typedef struct pool_case {
    int n, c, h, w, k, s, p;
    bool max;
} pool_case;

static void ref_pool(const pool_case *c, const float *x, double *y) {
    int oh = (c->h + 2 * c->p - c->k) / c->s + 1, ow = (c->w + 2 * c->p - c->k) / c->s + 1;
    for (int pl = 0; pl < c->n * c->c; pl++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double acc = c->max ? -INFINITY : 0.0;
                for (int ky = 0; ky < c->k; ky++)
                    for (int kx = 0; kx < c->k; kx++) {
                        int iy = oy * c->s - c->p + ky, ix = ox * c->s - c->p + kx;
                        if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue; /* -inf or 0 */
                        double v = x[(pl * c->h + iy) * c->w + ix];
                        acc = c->max ? fmax(acc, v) : acc + v;
                    }
                y[(pl * oh + oy) * ow + ox] = c->max ? acc : acc / (c->k * c->k);
            }
}

static zoo_tensor *g_pool(zoo_tensor *const *x, const void *ctx) {
    const pool_case *c = ctx;
    return c->max ? zoo_max_pool2d(x[0], c->k, c->s, c->p) : zoo_avg_pool2d(x[0], c->k, c->s, c->p);
}

static const pool_case pool_shapes[] = {
    /* n c h w  kernel stride padding */
    {2, 3, 6, 8, 2, 2, 0, false},  /* 2x2 stride 2: the CNN's pool */
    {1, 2, 7, 5, 2, 2, 0, false},  /* odd sizes drop the last row and column */
    {2, 2, 7, 7, 3, 2, 1, false},  /* 3x3 stride 2 padding 1 (ResNet's stem) */
    {1, 2, 5, 6, 3, 1, 1, false},  /* overlapping windows */
    {1, 2, 6, 6, 2, 1, 0, false},  /* overlapping 2x2 */
    {1, 1, 5, 5, 4, 4, 2, false},  /* padding kernel/2 */
    {2, 2, 4, 4, 4, 4, 0, false},  /* global pooling */
    {1, 2, 8, 7, 3, 3, 0, false},  /* stride = kernel 3 */
};

TEST(max_and_avg_pool_match_reference_and_finite_differences) {
    for (int max = 0; max <= 1; max++)
        for (size_t si = 0; si < sizeof pool_shapes / sizeof *pool_shapes; si++) {
            pool_case c = pool_shapes[si];
            c.max = max;
            char what[160];
            snprintf(what, sizeof what, "%s_pool2d x [%d,%d,%d,%d] kernel %d stride %d padding %d", max ? "max" : "avg",
                     c.n, c.c, c.h, c.w, c.k, c.s, c.p);
            zoo_shape xs = zoo_shape4(c.n, c.c, c.h, c.w);
            /* max: distinct values 0.05 apart, so no finite-difference step changes a winner */
            zoo_tensor *x = max ? param_distinct(xs, 0.05f) : param_rand(xs, -1, 1);
            int oh = (c.h + 2 * c.p - c.k) / c.s + 1, ow = (c.w + 2 * c.p - c.k) / c.s + 1;
            zoo_scope_begin();
            zoo_tensor *y = g_pool(&x, &c);
            expect_shape(what, y, zoo_shape4(c.n, c.c, oh, ow));
            double *want = host_doubles(y->numel);
            ref_pool(&c, host(x), want);
            expect_close(what, host(y), want, y->numel, 1e-6);
            zoo_scope_end();
            gradcheck(what, g_pool, &c, &x, 1);
            zoo_tensor_free(x);
        }
}

TEST(max_pool_stride_defaults_to_the_kernel_size) {
    zoo_tensor *x = param_rand(zoo_shape4(1, 2, 6, 9), -1, 1);
    zoo_scope_begin();
    zoo_tensor *a = zoo_max_pool2d(x, 3, 0, 0), *b = zoo_max_pool2d(x, 3, 3, 0);
    expect_shape("max_pool2d(kernel 3, stride 0)", a, zoo_shape4(1, 2, 2, 3));
    expect(memcmp(host(a), host(b), (size_t)a->numel * 4) == 0, "stride 0 is not stride = kernel");
    zoo_scope_end();
    zoo_tensor_free(x);
}

TEST(max_pool_gradient_goes_to_the_first_maximum_and_nan_wins) {
    /* one 2x2 window of equal values, then one whose maximum comes last, then a NaN */
    float v[12] = {1, 1, 0, 2, 0, 3, 1, 1, 1, 4, NAN, 9};
    zoo_tensor *x = param(zoo_shape4(1, 1, 2, 6), v);
    zoo_scope_begin();
    zoo_tensor *y = zoo_max_pool2d(x, 2, 2, 0);
    float *hy = host(y);
    expect(hy[0] == 1.0f && hy[1] == 4.0f && isnan(hy[2]), "max_pool2d values: got %g %g %g, want 1 4 nan", hy[0],
           hy[1], hy[2]);
    zoo_zero_grad(x);
    float ones[3] = {1, 1, 1};
    zoo_backward(zoo_sum_all(zoo_mul(y, zoo_tensor_from_host(y->shape, ones))));
    float *g = host(x->grad);
    float want[12] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
    expect(memcmp(g, want, sizeof want) == 0, "max_pool2d gradient: got %g %g %g %g / %g %g %g %g %g %g %g %g", g[0],
           g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]);
    zoo_scope_end();
    zoo_tensor_free(x);
}

TEST(avg_pool_counts_padding_in_the_divisor) {
    /* 2x2 ones, kernel 2 stride 2 padding 1: each window holds one real 1 and three zeros */
    float v[4] = {1, 1, 1, 1};
    zoo_tensor *x = param(zoo_shape4(1, 1, 2, 2), v);
    zoo_scope_begin();
    float *y = host(zoo_avg_pool2d(x, 2, 2, 1));
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], 0.25, 1e-7);
    zoo_scope_end();
    zoo_tensor_free(x);
}

/* ---------------------------------------------------------------- batch norm */

typedef struct bn_case {
    zoo_shape s;
    bool training, affine;
    zoo_tensor *rm, *rv; /* running statistics (eval mode); NULL in training */
} bn_case;

static zoo_tensor *g_bn(zoo_tensor *const *x, const void *ctx) {
    const bn_case *c = ctx;
    return zoo_batch_norm2d(x[0], c->affine ? x[1] : NULL, c->affine ? x[2] : NULL, c->rm, c->rv, c->training, 0.1f,
                            1e-5f);
}

/* y = (x - mean) / sqrt(var + eps) * gamma + beta, statistics over all but axis 1 */
static void ref_bn(zoo_shape s, const float *x, const float *gamma, const float *beta, const double *mean,
                   const double *var, double *y) {
    int64_t n = s.d[0], c = s.d[1], inner = zoo_shape_numel(s) / (n * c);
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t k = (b * c + ch) * inner + i;
                y[k] = (x[k] - mean[ch]) / sqrt(var[ch] + 1e-5) * (gamma ? gamma[ch] : 1.0) + (beta ? beta[ch] : 0.0);
            }
}

/* per-channel mean and biased variance */
static void ref_stats(zoo_shape s, const float *x, double *mean, double *var) {
    int64_t n = s.d[0], c = s.d[1], inner = zoo_shape_numel(s) / (n * c);
    for (int64_t ch = 0; ch < c; ch++) {
        double m = 0, v = 0;
        for (int64_t b = 0; b < n; b++)
            for (int64_t i = 0; i < inner; i++) m += x[(b * c + ch) * inner + i];
        m /= (double)(n * inner);
        for (int64_t b = 0; b < n; b++)
            for (int64_t i = 0; i < inner; i++) v += pow(x[(b * c + ch) * inner + i] - m, 2);
        mean[ch] = m;
        var[ch] = v / (double)(n * inner);
    }
}

TEST(batch_norm_matches_reference_and_finite_differences_in_train_and_eval_mode) {
    static const zoo_shape shapes[] = {{4, {3, 2, 2, 3}}, {4, {2, 3, 4, 1}}, {2, {5, 3}}, {3, {2, 2, 3}}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int mode = 0; mode < 4; mode++) {
            bn_case c = {.s = shapes[si], .training = mode < 2, .affine = mode % 2 == 0};
            int64_t ch = c.s.d[1];
            char sb[64], what[160];
            snprintf(what, sizeof what, "batch_norm2d %s %s%s", zoo_shape_str(c.s, sb, sizeof sb),
                     c.training ? "train" : "eval", c.affine ? "" : " without weight and bias");
            zoo_tensor *x[3] = {param_rand(c.s, -2, 2), param_rand(zoo_shape1(ch), 0.5f, 1.5f),
                                param_rand(zoo_shape1(ch), -1, 1)};
            float rmv[8], rvv[8];
            fill_rand(rmv, ch, -0.5f, 0.5f);
            fill_rand(rvv, ch, 0.5f, 2.0f);
            if (!c.training) {
                c.rm = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(ch));
                c.rv = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(ch));
                zoo_tensor_upload(c.rm, rmv);
                zoo_tensor_upload(c.rv, rvv);
            }
            zoo_scope_begin();
            zoo_tensor *y = g_bn(x, &c);
            expect_shape(what, y, c.s);
            float *hx = host(x[0]);
            double mean[8], var[8];
            if (c.training) ref_stats(c.s, hx, mean, var);
            else
                for (int64_t k = 0; k < ch; k++) mean[k] = rmv[k], var[k] = rvv[k];
            double *want = host_doubles(y->numel);
            ref_bn(c.s, hx, c.affine ? host(x[1]) : NULL, c.affine ? host(x[2]) : NULL, mean, var, want);
            expect_close(what, host(y), want, y->numel, 1e-5);
            zoo_scope_end();
            gradcheck(what, g_bn, &c, x, c.affine ? 3 : 1);
            free_all(x, 3);
            zoo_tensor_free(c.rm);
            zoo_tensor_free(c.rv);
        }
}

TEST(batch_norm_training_updates_running_statistics_like_pytorch) {
    /* channel 0 holds 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased 5/3;
     * channel 1 holds -1, 0, 0, 5: mean 1, biased var 5.5, unbiased 22/3 */
    float v[8] = {1, 2, -1, 0, 3, 4, 0, 5}; /* [2, 2, 1, 2] */
    zoo_module m;
    zoo_module_init(&m);
    zoo_batchnorm2d_layer bn = zoo_batchnorm2d_new(&m, "bn", 2);
    zoo_tensor *x = param(zoo_shape4(2, 2, 1, 2), v);
    zoo_scope_begin();
    float *y = host(zoo_batchnorm2d_forward(&bn, x, true));
    zoo_scope_end();
    float rm[2], rv[2];
    zoo_tensor_download(bn.running_mean, rm);
    zoo_tensor_download(bn.running_var, rv);
    /* running = 0.9 * running + 0.1 * batch, from mean 0 and var 1 */
    CHECK_NEAR(rm[0], 0.25, 1e-7);
    CHECK_NEAR(rm[1], 0.1, 1e-7);
    CHECK_NEAR(rv[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
    CHECK_NEAR(rv[1], 0.9 + 0.1 * 22.0 / 3.0, 1e-6);
    (void)y;
    /* a second step moves them again from there */
    zoo_scope_begin();
    zoo_batchnorm2d_forward(&bn, x, true);
    zoo_scope_end();
    zoo_tensor_download(bn.running_mean, rm);
    zoo_tensor_download(bn.running_var, rv);
    CHECK_NEAR(rm[0], 0.9 * 0.25 + 0.25, 1e-6);
    CHECK_NEAR(rv[1], 0.9 * (0.9 + 0.1 * 22.0 / 3.0) + 0.1 * 22.0 / 3.0, 1e-5);
    /* eval normalizes with them, and leaves them alone */
    zoo_scope_begin();
    float *ye = host(zoo_batchnorm2d_forward(&bn, x, false));
    CHECK_NEAR(ye[0], (1.0 - rm[0]) / sqrt(rv[0] + 1e-5), 1e-6);
    CHECK_NEAR(ye[7], (5.0 - rm[1]) / sqrt(rv[1] + 1e-5), 1e-6);
    zoo_scope_end();
    float rm2[2];
    zoo_tensor_download(bn.running_mean, rm2);
    expect(rm2[0] == rm[0] && rm2[1] == rm[1], "eval mode changed the running mean");
    /* training still normalizes with the batch's biased variance */
    zoo_scope_begin();
    float *yt = host(zoo_batchnorm2d_forward(&bn, x, true));
    CHECK_NEAR(yt[0], (1.0 - 2.5) / sqrt(1.25 + 1e-5), 1e-6);
    CHECK_NEAR(yt[3], (0.0 - 1.0) / sqrt(5.5 + 1e-5), 1e-6);
    zoo_scope_end();
    zoo_tensor_free(x);
    zoo_module_free(&m);
}

TEST(batch_norm_updates_running_statistics_in_no_grad_mode_too) {
    zoo_module m;
    zoo_module_init(&m);
    zoo_batchnorm2d_layer bn = zoo_batchnorm2d_new(&m, "bn", 1);
    float v[4] = {2, 4, 6, 8};
    zoo_scope_begin();
    bool old = zoo_set_grad_enabled(false);
    zoo_batchnorm2d_forward(&bn, zoo_tensor_from_host(zoo_shape4(4, 1, 1, 1), v), true);
    zoo_set_grad_enabled(old);
    zoo_scope_end();
    CHECK_NEAR(zoo_tensor_item(bn.running_mean), 0.5, 1e-7);
    zoo_module_free(&m);
}

/* ---------------------------------------------------------------- layers */

static bool all_within(const zoo_tensor *t, float bound, float *max_seen) {
    float *h = malloc((size_t)t->numel * sizeof *h);
    zoo_tensor_download(t, h);
    bool ok = true;
    *max_seen = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        ok = ok && fabsf(h[i]) <= bound;
        if (fabsf(h[i]) > *max_seen) *max_seen = fabsf(h[i]);
    }
    free(h);
    return ok;
}

TEST(layers_are_named_shaped_and_initialized_like_pytorch) {
    zoo_module m;
    zoo_module_init(&m);
    zoo_rng init = zoo_rng_new(7);
    zoo_conv2d_layer c1 = zoo_conv2d_new(&m, "conv1", 8, 16, 3, 1, 1, true, &init);
    zoo_conv2d_layer c2 = zoo_conv2d_new(&m, "conv2", 16, 4, 1, 1, 0, false, &init);
    zoo_conv_transpose2d_layer t1 = zoo_conv_transpose2d_new(&m, "up", 16, 8, 4, 2, 1, 0, true, &init);
    zoo_batchnorm2d_layer bn = zoo_batchnorm2d_new(&m, "bn1", 8);
    expect(zoo_module_find(&m, "conv1.weight") == c1.weight && zoo_module_find(&m, "conv1.bias") == c1.bias,
           "conv1 parameters are not named conv1.weight, conv1.bias");
    expect(c2.bias == NULL && zoo_module_find(&m, "conv2.bias") == NULL, "conv2 without bias has one");
    expect(zoo_module_find(&m, "up.weight") == t1.weight && zoo_module_find(&m, "up.bias") == t1.bias,
           "up parameters misnamed");
    expect(zoo_module_find(&m, "bn1.weight") == bn.weight && zoo_module_find(&m, "bn1.bias") == bn.bias &&
               zoo_module_find(&m, "bn1.running_mean") == bn.running_mean &&
               zoo_module_find(&m, "bn1.running_var") == bn.running_var,
           "batch norm tensors misnamed");
    expect_shape("conv1.weight", c1.weight, zoo_shape4(16, 8, 3, 3));
    expect_shape("conv1.bias", c1.bias, zoo_shape1(16));
    expect_shape("up.weight [in, out, k, k]", t1.weight, zoo_shape4(16, 8, 4, 4));
    expect_shape("up.bias", t1.bias, zoo_shape1(8));
    expect(bn.weight->requires_grad && bn.bias->requires_grad && !bn.running_mean->requires_grad &&
               !bn.running_var->requires_grad,
           "batch norm: weight and bias are parameters, running statistics buffers");
    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the largest of many draws comes near the bound */
    struct {
        const char *name;
        zoo_tensor *t;
        float fan_in;
    } inits[] = {{"conv1.weight", c1.weight, 8 * 9}, {"conv1.bias", c1.bias, 8 * 9},
                 {"conv2.weight", c2.weight, 16},    {"up.weight", t1.weight, 8 * 16},
                 {"up.bias", t1.bias, 8 * 16}};
    for (size_t i = 0; i < sizeof inits / sizeof *inits; i++) {
        float bound = 1.0f / sqrtf(inits[i].fan_in), seen;
        bool within = all_within(inits[i].t, bound, &seen);
        expect(within && seen > (inits[i].t->numel >= 64 ? 0.9f : 0.5f) * bound,
               "%s: max |value| %g, want just below 1/sqrt(%g) = %g", inits[i].name, seen, inits[i].fan_in, bound);
    }
    float w[8], b[8], rm[8], rv[8];
    zoo_tensor_download(bn.weight, w);
    zoo_tensor_download(bn.bias, b);
    zoo_tensor_download(bn.running_mean, rm);
    zoo_tensor_download(bn.running_var, rv);
    bool ok = true;
    for (int i = 0; i < 8; i++) ok = ok && w[i] == 1 && b[i] == 0 && rm[i] == 0 && rv[i] == 1;
    expect(ok, "batch norm starts at weight 1, bias 0, running mean 0, running var 1");
    CHECK(bn.momentum == 0.1f && bn.eps == 1e-5f);
    /* the layers run: a DCGAN-ish block doubles the size */
    zoo_scope_begin();
    zoo_tensor *x = zoo_tensor_full(zoo_shape4(2, 16, 5, 5), 0.5f);
    zoo_tensor *y = zoo_batchnorm2d_forward(&bn, zoo_conv_transpose2d_forward(&t1, x), true);
    expect_shape("up(x [2,16,5,5])", y, zoo_shape4(2, 8, 10, 10));
    expect_shape("conv2(conv1(x))", zoo_conv2d_forward(&c2, zoo_conv2d_forward(&c1, zoo_tensor_full(zoo_shape4(1, 8, 7, 7), 1.0f))),
                 zoo_shape4(1, 4, 7, 7));
    zoo_scope_end();
    zoo_module_free(&m);
}

/* ---------------------------------------------------------------- determinism */

/* Every op forward and backward at sizes where the kernels split work across threads
 * (the CNN's layers at a small batch, a 3x3 stride-2 conv, a transposed conv, pools,
 * batch norm): all outputs and gradients, concatenated. */
static float *run_all_ops(int threads, int64_t *len) {
    if (zoo_init("cpu", threads)) return NULL;
    uint64_t saved_rng = data_rng;
    data_rng = 99;
    zoo_tensor *p[9] = {
        param_rand(zoo_shape4(6, 1, 28, 28), -1, 1),  param_rand(zoo_shape4(32, 1, 3, 3), -1, 1),
        param_rand(zoo_shape1(32), -1, 1),            param_rand(zoo_shape4(64, 32, 3, 3), -0.2f, 0.2f),
        param_rand(zoo_shape1(64), -1, 1),            param_rand(zoo_shape4(16, 64, 3, 3), -0.2f, 0.2f),
        param_rand(zoo_shape4(16, 8, 4, 4), -0.2f, 0.2f), param_rand(zoo_shape1(8), 0.5f, 1.5f),
        param_rand(zoo_shape1(8), -1, 1),
    };
    data_rng = saved_rng;
    zoo_tensor *rm = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(8));
    zoo_tensor *rv = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(8));
    zoo_scope_begin();
    zoo_tensor *outs[8];
    zoo_tensor *h1 = zoo_relu(zoo_conv2d(p[0], p[1], p[2], 1, 1, 1));           /* [6,32,28,28] */
    zoo_tensor *h2 = zoo_max_pool2d(h1, 2, 2, 0);                               /* [6,32,14,14] */
    zoo_tensor *h3 = zoo_conv2d(h2, p[3], p[4], 1, 1, 1);                       /* [6,64,14,14] */
    zoo_tensor *h4 = zoo_avg_pool2d(h3, 3, 2, 1);                               /* [6,64,7,7] */
    zoo_tensor *h5 = zoo_conv2d(h4, p[5], NULL, 2, 1, 1);                       /* [6,16,4,4] */
    zoo_tensor *h6 = zoo_conv_transpose2d(h5, p[6], NULL, 2, 1, 0);             /* [6,8,8,8] */
    zoo_tensor *h7 = zoo_batch_norm2d(h6, p[7], p[8], rm, rv, true, 0.1f, 1e-5f);
    zoo_tensor *h8 = zoo_max_pool2d(h7, 3, 1, 1);
    outs[0] = h1, outs[1] = h2, outs[2] = h3, outs[3] = h4, outs[4] = h5, outs[5] = h6, outs[6] = h7, outs[7] = h8;
    zoo_backward(zoo_sum_all(zoo_mul(h8, h8)));
    int64_t total = 0;
    for (int i = 0; i < 8; i++) total += outs[i]->numel;
    for (int i = 0; i < 9; i++) total += p[i]->numel + p[i]->grad->numel;
    total += 16;
    float *all = malloc((size_t)total * sizeof *all), *at = all;
    for (int i = 0; i < 8; i++) {
        zoo_tensor_download(outs[i], at);
        at += outs[i]->numel;
    }
    for (int i = 0; i < 9; i++) {
        zoo_tensor_download(p[i], at);
        at += p[i]->numel;
        zoo_tensor_download(p[i]->grad, at);
        at += p[i]->numel;
    }
    zoo_tensor_download(rm, at);
    zoo_tensor_download(rv, at + 8);
    zoo_scope_end();
    free_all(p, 9);
    zoo_tensor_free(rm);
    zoo_tensor_free(rv);
    *len = total;
    return all;
}

TEST(results_do_not_depend_on_the_thread_count) {
    int64_t n1 = 0, n2 = 0, n3 = 0;
    float *a = run_all_ops(1, &n1), *b = run_all_ops(2, &n2), *c = run_all_ops(3, &n3);
    zoo_init("cpu", 0);
    if (!expect(a && b && c && n1 == n2 && n1 == n3, "the three runs did not complete")) return;
    int64_t diff2 = 0, diff3 = 0, first = -1;
    for (int64_t i = 0; i < n1; i++) {
        bool d2 = memcmp(&a[i], &b[i], 4) != 0, d3 = memcmp(&a[i], &c[i], 4) != 0;
        diff2 += d2;
        diff3 += d3;
        if ((d2 || d3) && first < 0) first = i;
    }
    expect(diff2 == 0 && diff3 == 0,
           "1 thread vs 2: %lld of %lld values differ, vs 3: %lld; first at %lld: %.9g %.9g %.9g", (long long)diff2,
           (long long)n1, (long long)diff3, (long long)first, first < 0 ? 0.0 : a[first], first < 0 ? 0.0 : b[first],
           first < 0 ? 0.0 : c[first]);
    free(a);
    free(b);
    free(c);
}

/* ---------------------------------------------------------------- usage errors */

static zoo_tensor *zeros4(int64_t a, int64_t b, int64_t c, int64_t d) { return zoo_tensor_zeros(ZOO_F32, zoo_shape4(a, b, c, d)); }
static void bad_conv_channels(void) { zoo_conv2d(zeros4(1, 3, 5, 5), zeros4(4, 2, 3, 3), NULL, 1, 0, 1); }
static void bad_conv_bias(void) {
    zoo_conv2d(zeros4(1, 3, 5, 5), zeros4(4, 3, 3, 3), zoo_tensor_zeros(ZOO_F32, zoo_shape1(3)), 1, 0, 1);
}
static void bad_conv_kernel(void) { zoo_conv2d(zeros4(1, 3, 2, 2), zeros4(4, 3, 3, 3), NULL, 1, 0, 1); }
static void bad_conv_ndim(void) { zoo_conv2d(zoo_tensor_zeros(ZOO_F32, zoo_shape3(3, 5, 5)), zeros4(4, 3, 3, 3), NULL, 1, 0, 1); }
static void bad_conv_stride(void) { zoo_conv2d(zeros4(1, 3, 5, 5), zeros4(4, 3, 3, 3), NULL, -1, 0, 1); }
static void bad_convt_channels(void) { zoo_conv_transpose2d(zeros4(1, 3, 5, 5), zeros4(4, 3, 3, 3), NULL, 1, 0, 0); }
static void bad_convt_outpad(void) { zoo_conv_transpose2d(zeros4(1, 3, 5, 5), zeros4(3, 2, 3, 3), NULL, 2, 0, 2); }
static void bad_pool_padding(void) { zoo_max_pool2d(zeros4(1, 1, 6, 6), 2, 2, 2); }
static void bad_pool_size(void) { zoo_avg_pool2d(zeros4(1, 1, 3, 3), 4, 1, 0); }
static void bad_bn_eval(void) { zoo_batch_norm2d(zeros4(2, 3, 2, 2), NULL, NULL, NULL, NULL, false, 0.1f, 1e-5f); }
static void bad_bn_one_value(void) { zoo_batch_norm2d(zeros4(1, 3, 1, 1), NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f); }
static void bad_bn_weight(void) {
    zoo_batch_norm2d(zeros4(2, 3, 2, 2), zoo_tensor_zeros(ZOO_F32, zoo_shape1(4)), NULL, NULL, NULL, true, 0.1f, 1e-5f);
}

TEST(shape_errors_return_null_and_say_what_is_wrong) {
    expect_usage_error("conv2d with 3 input channels and a 2-channel weight", bad_conv_channels, "conv2d");
    expect_usage_error("conv2d bias [3] for 4 outputs", bad_conv_bias, "bias");
    expect_usage_error("conv2d 3x3 kernel on a 2x2 image", bad_conv_kernel, "larger than the padded input");
    expect_usage_error("conv2d on a 3-d x", bad_conv_ndim, "conv2d");
    expect_usage_error("conv2d stride -1", bad_conv_stride, "stride");
    expect_usage_error("conv_transpose2d weight [4, 3, ...] for 3 channels", bad_convt_channels, "conv_transpose2d");
    expect_usage_error("conv_transpose2d output_padding 2 with stride 2", bad_convt_outpad, "output_padding");
    expect_usage_error("max_pool2d padding 2 with kernel 2", bad_pool_padding, "padding");
    expect_usage_error("avg_pool2d kernel 4 on a 3x3 image", bad_pool_size, "avg_pool2d");
    expect_usage_error("batch_norm2d eval without running statistics", bad_bn_eval, "running");
    expect_usage_error("batch_norm2d training on one value per channel", bad_bn_one_value, "more than one value");
    expect_usage_error("batch_norm2d weight [4] for 3 channels", bad_bn_weight, "weight");
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(conv2d_matches_direct_convolution_and_finite_differences);
    RUN(conv2d_square_form_is_the_ex_form_with_equal_pairs);
    RUN(conv_transpose2d_matches_direct_scatter_and_finite_differences);
    RUN(conv_transpose2d_is_the_input_gradient_of_conv2d);
    RUN(max_and_avg_pool_match_reference_and_finite_differences);
    RUN(max_pool_stride_defaults_to_the_kernel_size);
    RUN(max_pool_gradient_goes_to_the_first_maximum_and_nan_wins);
    RUN(avg_pool_counts_padding_in_the_divisor);
    RUN(batch_norm_matches_reference_and_finite_differences_in_train_and_eval_mode);
    RUN(batch_norm_training_updates_running_statistics_like_pytorch);
    RUN(batch_norm_updates_running_statistics_in_no_grad_mode_too);
    RUN(layers_are_named_shaped_and_initialized_like_pytorch);
    RUN(shape_errors_return_null_and_say_what_is_wrong);
    RUN(results_do_not_depend_on_the_thread_count);
    zoo_shutdown();
    TEST_EXIT();
}
