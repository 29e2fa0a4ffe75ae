/* Layer norm and group norm: zoo_layer_norm and zoo_group_norm against naive
 * double-precision references, backward against central finite differences, rows of one
 * value and rows far from zero, usage errors, and the LayerNorm and GroupNorm layers'
 * parameters. The op tests run on the CPU in both numeric modes. */
#include "op_check.h"

#include "core/autograd.h"
#include "core/nn.h"
#include "core/ops.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static uint64_t data_rng = 8675309;

static float uniform(float lo, float hi) { return (float)(lo + (hi - lo) * urand(&data_rng)); }

static void fill_rand(float *v, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) v[i] = uniform(lo, hi);
}

static zoo_tensor *param_rand(zoo_shape s, float lo, float hi) {
    int64_t n = zoo_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    fill_rand(v, n, lo, hi);
    zoo_tensor *t = param(s, v);
    free(v);
    return t;
}

static int64_t last_dim(zoo_shape s) { return s.d[s.ndim - 1]; }

/* y = (x - mean) / sqrt(var + eps) * w + b per row of d, mean and biased var in double */
static void ref_layer_norm(const float *x, const float *w, const float *b, int64_t rows, int64_t d, double eps,
                           double *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double m = 0, v = 0;
        for (int64_t j = 0; j < d; j++) m += xr[j];
        m /= (double)d;
        for (int64_t j = 0; j < d; j++) v += ((double)xr[j] - m) * ((double)xr[j] - m);
        v /= (double)d;
        for (int64_t j = 0; j < d; j++)
            y[r * d + j] = ((double)xr[j] - m) / sqrt(v + eps) * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
    }
}

/* which of weight and bias a case passes; the inputs are x, then those present */
typedef struct ln_case {
    bool weight, bias;
    float eps;
} ln_case;

static zoo_tensor *g_ln(zoo_tensor *const *x, const void *ctx) {
    const ln_case *c = ctx;
    zoo_tensor *w = c->weight ? x[1] : NULL, *b = c->bias ? x[c->weight ? 2 : 1] : NULL;
    return zoo_layer_norm(x[0], w, b, c->eps);
}

static const char *affine_name(const ln_case *c) {
    return c->weight ? (c->bias ? "weight and bias" : "weight only") : (c->bias ? "bias only" : "neither");
}

static const zoo_shape shapes[] = {
    {2, {4, 7, 1, 1}}, {3, {2, 3, 5, 1}}, {1, {9, 1, 1, 1}}, {2, {5, 1, 1, 1}}, {4, {2, 1, 3, 4}},
    {2, {3, 300, 1, 1}}, /* rows past one group of canon.h's 256 terms */
};

/* ---------------------------------------------------------------- forward and backward */

TEST(layer_norm_matches_a_double_reference_with_and_without_weight_and_bias) {
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int mode = 0; mode < 4; mode++) {
            zoo_shape s = shapes[si];
            int64_t d = last_dim(s), rows = zoo_shape_numel(s) / d;
            ln_case c = {.weight = mode & 1, .bias = mode & 2, .eps = 1e-5f};
            zoo_tensor *x = param_rand(s, -2, 3), *w = param_rand(zoo_shape1(d), 0.5f, 1.5f);
            zoo_tensor *b = param_rand(zoo_shape1(d), -1, 1);
            char sb[64], what[160];
            snprintf(what, sizeof what, "layer_norm %s, %s (%s)", zoo_shape_str(s, sb, sizeof sb), affine_name(&c),
                     zoo_numeric_mode());
            zoo_scope_begin();
            zoo_tensor *y = zoo_layer_norm(x, c.weight ? w : NULL, c.bias ? b : NULL, c.eps);
            if (expect(y != NULL, "%s: failed: %s", what, zoo_last_error())) {
                expect_shape(what, y, s);
                double *want = zoo_scope_alloc((size_t)y->numel * sizeof *want);
                ref_layer_norm(host(x), c.weight ? host(w) : NULL, c.bias ? host(b) : NULL, rows, d, 1e-5, want);
                expect_close(what, host(y), want, y->numel, 1e-5);
            }
            zoo_scope_end();
            zoo_tensor_free(x);
            zoo_tensor_free(w);
            zoo_tensor_free(b);
        }
}

TEST(layer_norm_gradients_match_finite_differences_for_x_weight_and_bias) {
    static const zoo_shape gshapes[] = {{2, {3, 5, 1, 1}}, {3, {2, 2, 4, 1}}, {2, {2, 300, 1, 1}}};
    for (size_t si = 0; si < sizeof gshapes / sizeof *gshapes; si++)
        for (int mode = 0; mode < 4; mode++) {
            zoo_shape s = gshapes[si];
            int64_t d = last_dim(s);
            if (d > 100 && mode != 3) continue; /* the long rows once, with both */
            ln_case c = {.weight = mode & 1, .bias = mode & 2, .eps = 1e-5f};
            zoo_tensor *x[3] = {param_rand(s, -2, 2), NULL, NULL};
            int n = 1;
            if (c.weight) x[n++] = param_rand(zoo_shape1(d), 0.5f, 1.5f);
            if (c.bias) x[n++] = param_rand(zoo_shape1(d), -1, 1);
            char sb[64], what[160];
            snprintf(what, sizeof what, "layer_norm gradient %s, %s (%s)", zoo_shape_str(s, sb, sizeof sb),
                     affine_name(&c), zoo_numeric_mode());
            gradcheck(what, g_ln, &c, x, n);
            free_all(x, n);
        }
}

/* NULL weight and bias are ones and zeros, to the bit, forward and backward */
TEST(absent_weight_and_bias_are_ones_and_zeros) {
    zoo_shape s = zoo_shape2(6, 33);
    float ones[33], zeros[33] = {0};
    for (int j = 0; j < 33; j++) ones[j] = 1.0f;
    zoo_tensor *x = param_rand(s, -3, 1), *w = param(zoo_shape1(33), ones), *b = param(zoo_shape1(33), zeros);
    zoo_scope_begin();
    zoo_tensor *y0 = zoo_layer_norm(x, NULL, NULL, 1e-5f);
    zoo_zero_grad(x);
    zoo_backward(zoo_sum_all(zoo_mul(y0, y0)));
    float *hy0 = host(y0), *g0 = host(x->grad);
    zoo_tensor *y1 = zoo_layer_norm(x, w, b, 1e-5f);
    zoo_zero_grad(x);
    zoo_backward(zoo_sum_all(zoo_mul(y1, y1)));
    float *hy1 = host(y1), *g1 = host(x->grad);
    expect(memcmp(hy0, hy1, sizeof(float) * 6 * 33) == 0,
           "y without weight and bias differs from y with ones and zeros");
    expect(memcmp(g0, g1, sizeof(float) * 6 * 33) == 0, "dx without weight differs from dx with a weight of ones");
    zoo_scope_end();
    zoo_tensor_free(x);
    zoo_tensor_free(w);
    zoo_tensor_free(b);
}

/* ---------------------------------------------------------------- numerics */

/* A row of one value has variance 0: eps keeps rstd finite at 1/sqrt(eps), y is beta
 * (exactly when the mean is exact) and dx = rstd * (g - mean(g)), g = dy * weight. */
TEST(a_row_of_one_value_gives_beta_and_a_finite_gradient) {
    enum { ROWS = 4, D = 8 };
    /* the mean of 8 of each is exact, but for 0.1's (whose sum rounds) */
    const float values[ROWS] = {3.0f, 0.1f, -7.25f, 1e4f};
    float xv[ROWS * D], dyv[ROWS * D];
    for (int i = 0; i < ROWS * D; i++) xv[i] = values[i / D];
    fill_rand(dyv, ROWS * D, -1, 1);
    zoo_tensor *x = param(zoo_shape2(ROWS, D), xv), *w = param_rand(zoo_shape1(D), 0.5f, 1.5f);
    zoo_tensor *b = param_rand(zoo_shape1(D), -1, 1);
    zoo_scope_begin();
    zoo_tensor *y = zoo_layer_norm(x, w, b, 1e-5f);
    zoo_zero_grad(x);
    zoo_backward(zoo_sum_all(zoo_mul(y, zoo_tensor_from_host(y->shape, dyv))));
    float *hy = host(y), *hb = host(b), *hw = host(w), *dx = host(x->grad);
    for (int r = 0; r < ROWS; r++) {
        double mg = 0;
        for (int j = 0; j < D; j++) mg += (double)dyv[r * D + j] * hw[j] / D;
        for (int j = 0; j < D; j++) {
            int i = r * D + j;
            if (r != 1) expect(hy[i] == hb[j], "row of %g: y[%d] = %.9g, want beta %.9g", values[r], j, hy[i], hb[j]);
            else expect(fabs(hy[i] - hb[j]) <= 1e-4, "row of 0.1: y[%d] = %.9g, want beta %.9g", j, hy[i], hb[j]);
            double want = ((double)dyv[i] * hw[j] - mg) / sqrt(1e-5);
            expect(fabs(dx[i] - want) <= 1e-4 * (1 + fabs(want)), "row of %g: dx[%d] = %.9g, want %.9g", values[r], j,
                   dx[i], want);
        }
    }
    zoo_scope_end();
    zoo_tensor_free(x);
    zoo_tensor_free(w);
    zoo_tensor_free(b);
}

/* Rows far from zero (1e4 + values of spread 1): the variance is summed about the mean
 * (two passes), not as E[x^2] - E[x]^2, whose float terms near 1e8 would lose it all
 * (errors of order 1, or NaN). What remains is the rounding of the float sum of x (terms
 * near 1e4, group sums near 2.6e6): the mean is off by up to about 1e-2 of a standard
 * deviation, and y with it (1.4e-2 at worst over 9000 random rows of 64 to 1024). */
TEST(a_large_offset_keeps_the_result_accurate) {
    static const zoo_shape oshapes[] = {{2, {4, 64, 1, 1}}, {2, {2, 300, 1, 1}}};
    for (size_t si = 0; si < sizeof oshapes / sizeof *oshapes; si++) {
        zoo_shape s = oshapes[si];
        int64_t d = last_dim(s), n = zoo_shape_numel(s);
        float *xv = malloc((size_t)n * sizeof *xv);
        for (int64_t i = 0; i < n; i++) xv[i] = 1e4f + uniform(-1, 1);
        zoo_tensor *x = param(s, xv), *w = param_rand(zoo_shape1(d), 0.5f, 1.5f);
        zoo_tensor *b = param_rand(zoo_shape1(d), -1, 1);
        zoo_scope_begin();
        zoo_tensor *y = zoo_layer_norm(x, w, b, 1e-5f);
        double *want = zoo_scope_alloc((size_t)n * sizeof *want);
        ref_layer_norm(xv, host(w), host(b), n / d, d, 1e-5, want);
        char sb[64], what[128];
        snprintf(what, sizeof what, "layer_norm of 1e4 + U(-1, 1) %s (%s)", zoo_shape_str(s, sb, sizeof sb),
                 zoo_numeric_mode());
        expect_close(what, host(y), want, n, 2e-2);
        zoo_scope_end();
        free(xv);
        zoo_tensor_free(x);
        zoo_tensor_free(w);
        zoo_tensor_free(b);
    }
}

/* ---------------------------------------------------------------- group norm */

/* y[n, c, p] = (x - mean) / sqrt(var + eps) * w[c] + b[c], mean and biased var over the
 * (n, group of c) block: channels [g C/G, (g + 1) C/G), every position p; in double */
static void ref_group_norm(const float *x, const float *w, const float *b, zoo_shape s, int groups, double eps,
                           double *y) {
    int64_t n = s.d[0], c = s.d[1], hw = zoo_shape_numel(s) / (n * c), cg = c / groups;
    for (int64_t i = 0; i < n; i++)
        for (int g = 0; g < groups; g++) {
            const float *xb = x + (i * c + g * cg) * hw;
            int64_t len = cg * hw;
            double m = 0, v = 0;
            for (int64_t j = 0; j < len; j++) m += xb[j];
            m /= (double)len;
            for (int64_t j = 0; j < len; j++) v += ((double)xb[j] - m) * ((double)xb[j] - m);
            v /= (double)len;
            for (int64_t j = 0; j < len; j++) {
                int64_t ch = g * cg + j / hw;
                y[(i * c + g * cg) * hw + j] = ((double)xb[j] - m) / sqrt(v + eps) * (w ? w[ch] : 1.0) + (b ? b[ch] : 0.0);
            }
        }
}

typedef struct gn_case {
    zoo_shape shape;
    int groups;
    bool affine;
} gn_case;

/* [N, C, H, W] as the diffusion U-Net has them (GroupNorm(8)), [N, C, L], [N, C], one
 * group (layer norm over a sample), one channel a group (instance norm); channels of 16
 * or more elements take the CPU's fast-mode backward, of fewer its general one. No
 * group has only two elements: their outputs are +-1 but where the two nearly meet, so
 * central differences across such a pair measure nothing. */
static const gn_case gn_cases[] = {
    {{4, {2, 16, 3, 3}}, 8, true}, {{4, {2, 6, 4, 5}}, 3, false}, {{3, {3, 4, 7, 1}}, 2, true},
    {{2, {5, 6, 1, 1}}, 2, true},  {{4, {2, 4, 3, 3}}, 1, true},  {{4, {2, 4, 3, 3}}, 4, true},
    {{4, {2, 8, 5, 5}}, 4, true},
};

static zoo_tensor *g_gn(zoo_tensor *const *x, const void *ctx) {
    const gn_case *c = ctx;
    return zoo_group_norm(x[0], c->groups, c->affine ? x[1] : NULL, c->affine ? x[2] : NULL, 1e-5f);
}

TEST(group_norm_matches_a_double_reference) {
    for (size_t i = 0; i < sizeof gn_cases / sizeof *gn_cases; i++) {
        const gn_case *c = &gn_cases[i];
        int64_t ch = c->shape.d[1];
        zoo_tensor *x = param_rand(c->shape, -2, 3), *w = param_rand(zoo_shape1(ch), 0.5f, 1.5f);
        zoo_tensor *b = param_rand(zoo_shape1(ch), -1, 1);
        char sb[64], what[160];
        snprintf(what, sizeof what, "group_norm %s, %d groups%s (%s)", zoo_shape_str(c->shape, sb, sizeof sb),
                 c->groups, c->affine ? ", weight and bias" : "", zoo_numeric_mode());
        zoo_scope_begin();
        zoo_tensor *y = zoo_group_norm(x, c->groups, c->affine ? w : NULL, c->affine ? b : NULL, 1e-5f);
        if (expect(y != NULL, "%s: failed: %s", what, zoo_last_error())) {
            expect_shape(what, y, c->shape);
            double *want = zoo_scope_alloc((size_t)y->numel * sizeof *want);
            ref_group_norm(host(x), c->affine ? host(w) : NULL, c->affine ? host(b) : NULL, c->shape, c->groups, 1e-5,
                           want);
            expect_close(what, host(y), want, y->numel, 1e-5);
        }
        zoo_scope_end();
        zoo_tensor_free(x);
        zoo_tensor_free(w);
        zoo_tensor_free(b);
    }
}

TEST(group_norm_gradients_match_finite_differences_for_x_weight_and_bias) {
    for (size_t i = 0; i < sizeof gn_cases / sizeof *gn_cases; i++) {
        const gn_case *c = &gn_cases[i];
        int64_t ch = c->shape.d[1];
        zoo_tensor *x[3] = {param_rand(c->shape, -2, 2), NULL, NULL};
        int n = 1;
        if (c->affine) {
            x[n++] = param_rand(zoo_shape1(ch), 0.5f, 1.5f);
            x[n++] = param_rand(zoo_shape1(ch), -1, 1);
        }
        char sb[64], what[160];
        snprintf(what, sizeof what, "group_norm gradient %s, %d groups (%s)", zoo_shape_str(c->shape, sb, sizeof sb),
                 c->groups, zoo_numeric_mode());
        gradcheck(what, g_gn, c, x, n);
        free_all(x, n);
    }
}

/* ---------------------------------------------------------------- usage errors */

static zoo_tensor *result;

static zoo_tensor *zeros(zoo_shape s) { return zoo_tensor_zeros(ZOO_F32, s); }
static zoo_tensor *x35(void) { return zeros(zoo_shape2(3, 5)); }
static void bad_weight_length(void) { result = zoo_layer_norm(x35(), zeros(zoo_shape1(6)), NULL, 1e-5f); }
static void bad_weight_ndim(void) { result = zoo_layer_norm(x35(), zeros(zoo_shape2(1, 5)), NULL, 1e-5f); }
static void bad_bias_length(void) { result = zoo_layer_norm(x35(), NULL, zeros(zoo_shape1(3)), 1e-5f); }
static void bad_eps_zero(void) { result = zoo_layer_norm(x35(), NULL, NULL, 0.0f); }
static void bad_eps_negative(void) { result = zoo_layer_norm(x35(), NULL, NULL, -1e-5f); }
static void bad_eps_nan(void) { result = zoo_layer_norm(x35(), NULL, NULL, NAN); }
static void bad_x_int(void) { result = zoo_layer_norm(zoo_tensor_zeros(ZOO_I32, zoo_shape2(3, 5)), NULL, NULL, 1e-5f); }
static void bad_weight_int(void) {
    result = zoo_layer_norm(x35(), zoo_tensor_zeros(ZOO_I32, zoo_shape1(5)), NULL, 1e-5f);
}
static void null_x(void) { result = zoo_layer_norm(NULL, NULL, NULL, 1e-5f); }
static zoo_tensor *x2633(void) { return zeros(zoo_shape4(2, 6, 3, 3)); }
static void gn_groups_not_dividing(void) { result = zoo_group_norm(x2633(), 4, NULL, NULL, 1e-5f); }
static void gn_groups_zero(void) { result = zoo_group_norm(x2633(), 0, NULL, NULL, 1e-5f); }
static void gn_weight_length(void) { result = zoo_group_norm(x2633(), 3, zeros(zoo_shape1(3)), NULL, 1e-5f); }
static void gn_bias_length(void) { result = zoo_group_norm(x2633(), 3, NULL, zeros(zoo_shape1(9)), 1e-5f); }
static void gn_one_dim(void) { result = zoo_group_norm(zeros(zoo_shape1(6)), 1, NULL, NULL, 1e-5f); }
static void gn_eps_zero(void) { result = zoo_group_norm(x2633(), 3, NULL, NULL, 0.0f); }

/* expect_usage_error, and the op returned NULL */
static void expect_null_with_error(const char *what, void (*body)(void), const char *needle) {
    result = (zoo_tensor *)&result; /* anything but NULL */
    expect_usage_error(what, body, needle);
    expect(result == NULL, "%s: the op returned a tensor", what);
}

TEST(usage_errors_return_null_and_say_what_is_wrong) {
    expect_null_with_error("weight [6] for rows of 5", bad_weight_length, "weight must be [d]");
    expect_null_with_error("weight [1, 5] for rows of 5", bad_weight_ndim, "weight must be [d]");
    expect_null_with_error("bias [3] for rows of 5", bad_bias_length, "bias must be [d]");
    expect_null_with_error("eps 0", bad_eps_zero, "eps must be positive");
    expect_null_with_error("eps -1e-5", bad_eps_negative, "eps must be positive");
    expect_null_with_error("eps NaN", bad_eps_nan, "eps must be positive");
    expect_null_with_error("int32 x", bad_x_int, "float32");
    expect_null_with_error("int32 weight", bad_weight_int, "float32");
    expect_null_with_error("NULL x", null_x, "layer_norm");
    expect_null_with_error("6 channels in 4 groups", gn_groups_not_dividing, "6 channels do not split into 4 groups");
    expect_null_with_error("0 groups", gn_groups_zero, "do not split into 0 groups");
    expect_null_with_error("group norm weight [3] for 6 channels", gn_weight_length, "weight must be [C]");
    expect_null_with_error("group norm bias [9] for 6 channels", gn_bias_length, "bias must be [C]");
    expect_null_with_error("group norm of a 1-d x", gn_one_dim, "expects x [N, C, ...]");
    expect_null_with_error("group norm eps 0", gn_eps_zero, "eps must be positive");
}

/* ---------------------------------------------------------------- the layer */

static zoo_param_kind kind_of(const zoo_module *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].kind;
    return ZOO_PARAM_KINDS;
}

TEST(layernorm_layer_is_named_and_initialized_like_pytorch) {
    zoo_module m;
    zoo_module_init(&m);
    zoo_layernorm_layer ln = zoo_layernorm_new(&m, "blocks.0.ln_1", 6, true);
    expect(m.n == 2 && ln.weight == zoo_module_find(&m, "blocks.0.ln_1.weight") &&
               ln.bias == zoo_module_find(&m, "blocks.0.ln_1.bias"),
           "LayerNorm with bias: want blocks.0.ln_1.weight and .bias, got %d parameters", m.n);
    expect(kind_of(&m, "blocks.0.ln_1.weight") == ZOO_PARAM_NORM && kind_of(&m, "blocks.0.ln_1.bias") == ZOO_PARAM_NORM,
           "LayerNorm parameters are not of kind NORM");
    expect(ln.eps == 1e-5f, "LayerNorm eps %g, want 1e-5", ln.eps);
    expect(ln.weight->requires_grad && ln.bias->requires_grad, "LayerNorm parameters do not require grad");
    expect_shape("LayerNorm weight", ln.weight, zoo_shape1(6));
    expect_shape("LayerNorm bias", ln.bias, zoo_shape1(6));
    zoo_scope_begin();
    float *w = host(ln.weight), *b = host(ln.bias);
    for (int j = 0; j < 6; j++)
        expect(w[j] == 1.0f && b[j] == 0.0f, "LayerNorm init [%d]: %g %g, want 1 0", j, w[j], b[j]);
    /* the forward is zoo_layer_norm with the layer's tensors, and trains them */
    zoo_tensor *x = zoo_tensor_from_host(zoo_shape2(2, 6), (const float[]){1, 2, 3, 4, 5, 6, -1, 0, 1, 0, -1, 9});
    zoo_tensor *y = zoo_layernorm_forward(&ln, x), *want = zoo_layer_norm(x, ln.weight, ln.bias, 1e-5f);
    expect(memcmp(host(y), host(want), 12 * sizeof(float)) == 0, "zoo_layernorm_forward differs from zoo_layer_norm");
    zoo_module_zero_grad(&m);
    zoo_backward(zoo_sum_all(zoo_mul(y, x)));
    expect(!ln.weight->grad_zero && !ln.bias->grad_zero, "the layer's parameters got no gradient");
    zoo_scope_end();
    zoo_module_free(&m);

    zoo_module_init(&m);
    zoo_layernorm_layer nb = zoo_layernorm_new(&m, "ln_f", 4, false);
    expect(m.n == 1 && nb.bias == NULL && nb.weight == zoo_module_find(&m, "ln_f.weight"),
           "LayerNorm without bias: want ln_f.weight alone, got %d parameters", m.n);
    zoo_module_free(&m);
}

TEST(groupnorm_layer_is_named_and_initialized_like_pytorch) {
    zoo_module m;
    zoo_module_init(&m);
    zoo_groupnorm_layer gn = zoo_groupnorm_new(&m, "down.0.norm1", 2, 6);
    expect(m.n == 2 && gn.weight == zoo_module_find(&m, "down.0.norm1.weight") &&
               gn.bias == zoo_module_find(&m, "down.0.norm1.bias") && gn.groups == 2 && gn.eps == 1e-5f,
           "GroupNorm: want down.0.norm1.weight and .bias, 2 groups, eps 1e-5; got %d parameters", m.n);
    expect(kind_of(&m, "down.0.norm1.weight") == ZOO_PARAM_NORM && kind_of(&m, "down.0.norm1.bias") == ZOO_PARAM_NORM,
           "GroupNorm parameters are not of kind NORM");
    zoo_scope_begin();
    float *w = host(gn.weight), *b = host(gn.bias);
    for (int j = 0; j < 6; j++)
        expect(w[j] == 1.0f && b[j] == 0.0f, "GroupNorm init [%d]: %g %g, want 1 0", j, w[j], b[j]);
    zoo_tensor *x = zoo_tensor_new(ZOO_F32, zoo_shape4(2, 6, 2, 2));
    zoo_tensor_fill(x, 0.0f);
    float *xv = zoo_scope_alloc(48 * sizeof *xv);
    fill_rand(xv, 48, -1, 1);
    zoo_tensor_upload(x, xv);
    zoo_tensor *y = zoo_groupnorm_forward(&gn, x), *want = zoo_group_norm(x, 2, gn.weight, gn.bias, 1e-5f);
    expect(memcmp(host(y), host(want), 48 * sizeof(float)) == 0, "zoo_groupnorm_forward differs from zoo_group_norm");
    zoo_module_zero_grad(&m);
    zoo_backward(zoo_sum_all(zoo_mul(y, x)));
    expect(!gn.weight->grad_zero && !gn.bias->grad_zero, "the layer's parameters got no gradient");
    zoo_scope_end();
    zoo_module_free(&m);
}

int main(void) {
    for (int exact = 0; exact < 2; exact++) {
        if (zoo_init_with(&(zoo_options){.backend = "cpu", .exact = exact})) return 1;
        printf("cpu, %s mode:\n", zoo_numeric_mode());
        RUN(layer_norm_matches_a_double_reference_with_and_without_weight_and_bias);
        RUN(layer_norm_gradients_match_finite_differences_for_x_weight_and_bias);
        RUN(absent_weight_and_bias_are_ones_and_zeros);
        RUN(a_row_of_one_value_gives_beta_and_a_finite_gradient);
        RUN(a_large_offset_keeps_the_result_accurate);
        RUN(group_norm_matches_a_double_reference);
        RUN(group_norm_gradients_match_finite_differences_for_x_weight_and_bias);
    }
    RUN(usage_errors_return_null_and_say_what_is_wrong);
    RUN(layernorm_layer_is_named_and_initialized_like_pytorch);
    RUN(groupnorm_layer_is_named_and_initialized_like_pytorch);
    zoo_shutdown();
    TEST_EXIT();
}
