/* The op suite: every op's forward against a naive double-precision reference written
 * here, and its backward against central finite differences. Uses only the public
 * headers; no backend internals. */
#include "op_check.h"

#include "core/autograd.h"
#include "core/loss.h"
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

/* ---------------------------------------------------------------- host helpers */


static uint64_t data_rng = 12345;

static float uniform(float lo, float hi) { return (float)(lo + (hi - lo) * urand(&data_rng)); }

/* values in [lo, hi), each at least gap away from 0: finite differences of step
 * GC_EPS then never straddle a kink at 0 (relu, abs, leaky_relu, |pred - target|) */
static void fill_rand(float *v, int64_t n, float lo, float hi, float gap) {
    for (int64_t i = 0; i < n; i++) {
        do v[i] = uniform(lo, hi);
        while (fabsf(v[i]) < gap);
    }
}






static double *host_doubles(int64_t n) { return zoo_scope_alloc((size_t)n * sizeof(double)); }


static zoo_tensor *param_rand(zoo_shape s, float lo, float hi, float gap) {
    int64_t n = zoo_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    fill_rand(v, n, lo, hi, gap);
    zoo_tensor *t = param(s, v);
    free(v);
    return t;
}



/* row-major multi-index of flat in shape s */
static void unravel(int64_t flat, zoo_shape s, int64_t idx[ZOO_MAX_DIMS]) {
    for (int i = s.ndim - 1; i >= 0; i--) {
        idx[i] = flat % s.d[i];
        flat /= s.d[i];
    }
}

/* the element of an operand shaped s that numpy broadcasting pairs with out index idx
 * (out shaped o, shapes right-aligned, dims of 1 repeat) */
static int64_t bcast_at(const int64_t *idx, zoo_shape o, zoo_shape s) {
    int64_t f = 0;
    for (int i = 0; i < s.ndim; i++) f = f * s.d[i] + (s.d[i] == 1 ? 0 : idx[o.ndim - s.ndim + i]);
    return f;
}

static zoo_shape broadcast(zoo_shape a, zoo_shape b) {
    int nd = a.ndim > b.ndim ? a.ndim : b.ndim;
    zoo_shape r = {nd, {1, 1, 1, 1}};
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a.ndim), ib = i - (nd - b.ndim);
        int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        r.d[i] = da > db ? da : db;
    }
    return r;
}

/* ---------------------------------------------------------------- gradcheck */




/* ---------------------------------------------------------------- broadcasting binary */

typedef zoo_tensor *(*binary_fn)(zoo_tensor *, zoo_tensor *);

typedef struct binary_case {
    const char *name;
    binary_fn fn;
    char sym;
} binary_case;

static const binary_case binary_ops[] = {
    {"add", zoo_add, '+'},
    {"sub", zoo_sub, '-'},
    {"mul", zoo_mul, '*'},
    {"div", zoo_div, '/'},
};

static double ref_binary(char sym, double a, double b) {
    switch (sym) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    default: return a / b;
    }
}

static zoo_tensor *g_binary(zoo_tensor *const *x, const void *ctx) { return ((const binary_case *)ctx)->fn(x[0], x[1]); }

TEST(binary_ops_broadcast_like_numpy_and_match_finite_differences) {
    static const struct {
        zoo_shape a, b;
    } shapes[] = {
        {{2, {3, 4}}, {2, {3, 4}}},       {{2, {3, 4}}, {1, {4}}},          {{1, {4}}, {2, {3, 4}}},
        {{3, {2, 3, 4}}, {2, {3, 1}}},    {{2, {5, 1}}, {2, {1, 6}}},       {{2, {3, 4}}, {1, {1}}},
        {{1, {1}}, {2, {3, 4}}},          {{3, {2, 1, 4}}, {2, {3, 1}}},    {{3, {1, 3, 4}}, {3, {2, 3, 4}}},
        {{4, {2, 1, 3, 1}}, {3, {4, 1, 5}}},
    };
    for (size_t oi = 0; oi < sizeof binary_ops / sizeof *binary_ops; oi++) {
        const binary_case *op = &binary_ops[oi];
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            zoo_shape as = shapes[si].a, bs = shapes[si].b, os = broadcast(as, bs);
            char sa[64], sb[64], what[192];
            snprintf(what, sizeof what, "%s %s %c %s", op->name, zoo_shape_str(as, sa, sizeof sa), op->sym,
                     zoo_shape_str(bs, sb, sizeof sb));
            /* divisors stay in +-[0.5, 2] */
            zoo_tensor *x[2] = {param_rand(as, -2, 2, 0), op->sym == '/' ? param_rand(bs, -2, 2, 0.5f)
                                                                          : param_rand(bs, -2, 2, 0)};
            zoo_scope_begin();
            zoo_tensor *y = op->fn(x[0], x[1]);
            expect_shape(what, y, os);
            float *ha = host(x[0]), *hb = host(x[1]), *hy = host(y);
            double *want = host_doubles(y->numel);
            for (int64_t i = 0; i < y->numel; i++) {
                int64_t idx[ZOO_MAX_DIMS];
                unravel(i, os, idx);
                want[i] = ref_binary(op->sym, ha[bcast_at(idx, os, as)], hb[bcast_at(idx, os, bs)]);
            }
            expect_close(what, hy, want, y->numel, 1e-6);
            zoo_scope_end();
            gradcheck(what, g_binary, op, x, 2);
            free_all(x, 2);
        }
    }
}

TEST(sum_to_reduces_broadcast_dims_and_is_differentiable) {
    zoo_tensor *x = param_rand(zoo_shape3(2, 3, 4), -2, 2, 0);
    zoo_scope_begin();
    zoo_tensor *y = zoo_sum_to(x, zoo_shape2(3, 1));
    expect_shape("sum_to", y, zoo_shape2(3, 1));
    float *hx = host(x), *hy = host(y);
    double want[3] = {0};
    for (int64_t i = 0; i < 24; i++) want[(i / 4) % 3] += hx[i];
    expect_close("sum_to [2,3,4] -> [3,1]", hy, want, 3, 1e-6);
    /* the header promises every op records its backward when an input requires grad */
    expect(y->requires_grad && y->node != NULL, "sum_to: output of a tensor requiring grad records no backward");
    zoo_scope_end();
    zoo_tensor_free(x);
}

/* ---------------------------------------------------------------- elementwise math */

typedef struct unary_case {
    const char *name;
    zoo_tensor *(*op)(zoo_tensor *x);
    double (*ref)(double x);
    float lo, hi, gap; /* inputs in [lo, hi), at least gap away from 0 */
} unary_case;

static zoo_tensor *add_scalar_075(zoo_tensor *x) { return zoo_add_scalar(x, 0.75f); }
static double r_add_scalar_075(double x) { return x + 0.75; }
static zoo_tensor *mul_scalar_m15(zoo_tensor *x) { return zoo_mul_scalar(x, -1.5f); }
static double r_mul_scalar_m15(double x) { return -1.5 * x; }
static zoo_tensor *affine_25_m05(zoo_tensor *x) { return zoo_affine(x, 2.5f, -0.5f); }
static double r_affine_25_m05(double x) { return 2.5 * x - 0.5; }
static zoo_tensor *pow_2(zoo_tensor *x) { return zoo_pow_scalar(x, 2.0f); }
static double r_pow_2(double x) { return x * x; }
static zoo_tensor *pow_3(zoo_tensor *x) { return zoo_pow_scalar(x, 3.0f); }
static double r_pow_3(double x) { return x * x * x; }
static zoo_tensor *pow_half(zoo_tensor *x) { return zoo_pow_scalar(x, 0.5f); }
static double r_pow_half(double x) { return sqrt(x); }
static zoo_tensor *pow_m1(zoo_tensor *x) { return zoo_pow_scalar(x, -1.0f); }
static double r_pow_m1(double x) { return 1.0 / x; }
static double r_neg(double x) { return -x; }
static double r_relu(double x) { return x > 0 ? x : 0; }
static zoo_tensor *leaky_relu_01(zoo_tensor *x) { return zoo_leaky_relu(x, 0.1f); }
static double r_leaky_relu_01(double x) { return x > 0 ? x : 0.1 * x; }
static double r_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double r_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double r_silu(double x) { return x / (1.0 + exp(-x)); }

static const unary_case unary_ops[] = {
    {"add_scalar(0.75)", add_scalar_075, r_add_scalar_075, -3, 3, 0},
    {"mul_scalar(-1.5)", mul_scalar_m15, r_mul_scalar_m15, -3, 3, 0},
    {"affine(2.5, -0.5)", affine_25_m05, r_affine_25_m05, -3, 3, 0},
    {"pow_scalar(2)", pow_2, r_pow_2, -2, 2, 0},
    {"pow_scalar(3)", pow_3, r_pow_3, -2, 2, 0},
    {"pow_scalar(0.5)", pow_half, r_pow_half, 0.5f, 3, 0},
    {"pow_scalar(-1)", pow_m1, r_pow_m1, 0.5f, 3, 0},
    {"neg", zoo_neg, r_neg, -3, 3, 0},
    {"relu", zoo_relu, r_relu, -3, 3, 0.1f},
    {"leaky_relu(0.1)", leaky_relu_01, r_leaky_relu_01, -3, 3, 0.1f},
    {"tanh", zoo_tanh, tanh, -3, 3, 0},
    {"sigmoid", zoo_sigmoid, r_sigmoid, -4, 4, 0},
    {"gelu", zoo_gelu, r_gelu, -4, 4, 0},
    {"silu", zoo_silu, r_silu, -4, 4, 0},
    {"exp", zoo_exp, exp, -2, 2, 0},
    {"log", zoo_log, log, 0.5f, 4, 0},
    {"sqrt", zoo_sqrt, sqrt, 0.5f, 4, 0},
    {"abs", zoo_abs, fabs, -3, 3, 0.1f},
};

static zoo_tensor *g_unary(zoo_tensor *const *x, const void *ctx) { return ((const unary_case *)ctx)->op(x[0]); }

TEST(elementwise_ops_match_reference_and_finite_differences) {
    for (size_t k = 0; k < sizeof unary_ops / sizeof *unary_ops; k++) {
        const unary_case *c = &unary_ops[k];
        zoo_shape s = zoo_shape3(2, 3, 4);
        zoo_tensor *x = param_rand(s, c->lo, c->hi, c->gap);
        zoo_scope_begin();
        zoo_tensor *y = c->op(x);
        expect_shape(c->name, y, s);
        float *hx = host(x), *hy = host(y);
        double *want = host_doubles(y->numel);
        for (int64_t i = 0; i < y->numel; i++) want[i] = c->ref(hx[i]);
        expect_close(c->name, hy, want, y->numel, 2e-6);
        zoo_scope_end();
        gradcheck(c->name, g_unary, c, &x, 1);
        zoo_tensor_free(x);
    }
}

TEST(gelu_is_the_exact_erf_form_not_the_tanh_approximation) {
    /* at x = 1 the two forms differ by 1.6e-4 */
    float v = 1.0f;
    zoo_scope_begin();
    zoo_tensor *y = zoo_gelu(zoo_tensor_from_host(zoo_shape1(1), &v));
    CHECK_NEAR(zoo_tensor_item(y), 0.8413447460685429, 1e-6);
    zoo_scope_end();
}

/* ---------------------------------------------------------------- matmul, linear */

typedef struct matmul_case {
    zoo_shape a, b;
    bool ta, tb;
} matmul_case;

/* op(a) op(b) per batch entry, a 2-d operand shared by every entry */
static void ref_matmul(const matmul_case *c, const float *a, const float *b, double *out, zoo_shape *os) {
    int na = c->a.ndim, nb = c->b.ndim;
    int64_t ar = c->a.d[na - 2], ac = c->a.d[na - 1], br = c->b.d[nb - 2], bc = c->b.d[nb - 1];
    int64_t ba = na == 3 ? c->a.d[0] : 1, bb = nb == 3 ? c->b.d[0] : 1, batch = ba > bb ? ba : bb;
    int64_t m = c->ta ? ac : ar, k = c->ta ? ar : ac, n = c->tb ? br : bc;
    *os = (na == 3 || nb == 3) ? zoo_shape3(batch, m, n) : zoo_shape2(m, n);
    for (int64_t e = 0; e < batch; e++) {
        const float *pa = a + (ba == 1 ? 0 : e * ar * ac), *pb = b + (bb == 1 ? 0 : e * br * bc);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) {
                    double av = c->ta ? pa[p * ac + i] : pa[i * ac + p];
                    double bv = c->tb ? pb[j * bc + p] : pb[p * bc + j];
                    s += av * bv;
                }
                out[(e * m + i) * n + j] = s;
            }
    }
}

static zoo_tensor *g_matmul(zoo_tensor *const *x, const void *ctx) {
    const matmul_case *c = ctx;
    if (!c->ta && !c->tb) return zoo_matmul(x[0], x[1]);
    return zoo_matmul_ex(x[0], x[1], c->ta, c->tb);
}

TEST(matmul_matches_reference_for_2d_batched_broadcast_and_transposed) {
    static const matmul_case cases[] = {
        {{2, {3, 4}}, {2, {4, 5}}, false, false},    /* 2-d */
        {{3, {2, 3, 4}}, {3, {2, 4, 5}}, false, false}, /* batched */
        {{2, {3, 4}}, {3, {2, 4, 5}}, false, false},  /* 2-d a shared by the batch */
        {{3, {2, 3, 4}}, {2, {4, 5}}, false, false},  /* 2-d b shared by the batch */
        {{3, {1, 3, 4}}, {3, {2, 4, 5}}, false, false}, /* batch 1 against batch 2 */
        {{2, {4, 3}}, {2, {4, 5}}, true, false},     /* trans_a */
        {{2, {3, 4}}, {2, {5, 4}}, false, true},     /* trans_b */
        {{2, {4, 3}}, {2, {5, 4}}, true, true},      /* both */
        {{3, {2, 4, 3}}, {3, {2, 5, 4}}, true, true}, /* batched, both */
        {{2, {4, 3}}, {3, {2, 4, 5}}, true, false},  /* trans_a, shared a */
        {{3, {2, 3, 4}}, {2, {5, 4}}, false, true},  /* trans_b, shared b */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const matmul_case *c = &cases[k];
        char sa[64], sb[64], what[192];
        snprintf(what, sizeof what, "matmul %s%s @ %s%s", zoo_shape_str(c->a, sa, sizeof sa), c->ta ? "^T" : "",
                 zoo_shape_str(c->b, sb, sizeof sb), c->tb ? "^T" : "");
        zoo_tensor *x[2] = {param_rand(c->a, -1, 1, 0), param_rand(c->b, -1, 1, 0)};
        zoo_scope_begin();
        zoo_tensor *y = g_matmul(x, c);
        zoo_shape os;
        double *want = host_doubles(2 * 3 * 5);
        ref_matmul(c, host(x[0]), host(x[1]), want, &os);
        expect_shape(what, y, os);
        if (y->numel == zoo_shape_numel(os)) expect_close(what, host(y), want, y->numel, 1e-5);
        zoo_scope_end();
        gradcheck(what, g_matmul, c, x, 2);
        free_all(x, 2);
    }
}

static zoo_tensor *g_linear(zoo_tensor *const *x, const void *ctx) {
    return zoo_linear(x[0], x[1], *(const bool *)ctx ? x[2] : NULL);
}

TEST(linear_is_x_times_weight_transposed_plus_bias) {
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        bool has = with_bias;
        const char *what = has ? "linear with bias" : "linear without bias";
        zoo_tensor *x[3] = {param_rand(zoo_shape2(3, 4), -1, 1, 0), param_rand(zoo_shape2(5, 4), -1, 1, 0),
                            param_rand(zoo_shape1(5), -1, 1, 0)};
        zoo_scope_begin();
        zoo_tensor *y = g_linear(x, &has);
        expect_shape(what, y, zoo_shape2(3, 5));
        float *hx = host(x[0]), *hw = host(x[1]), *hb = host(x[2]);
        double want[15];
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < 5; o++) {
                double s = has ? hb[o] : 0.0;
                for (int k = 0; k < 4; k++) s += (double)hx[i * 4 + k] * hw[o * 4 + k];
                want[i * 5 + o] = s;
            }
        expect_close(what, host(y), want, 15, 1e-5);
        zoo_scope_end();
        gradcheck(what, g_linear, &has, x, has ? 3 : 2);
        free_all(x, 3);
    }
}

/* ---------------------------------------------------------------- reductions */

typedef zoo_tensor *(*reduce_fn)(zoo_tensor *, int, bool);

typedef struct reduce_case {
    const char *name;
    reduce_fn fn;
    int kind; /* 0 sum, 1 mean, 2 max */
    int axis;
    bool keepdim;
} reduce_case;

/* reduces axis of x (shape s) into out, laid out as s with that dim removed */
static void ref_reduce(int kind, const float *x, zoo_shape s, int axis, double *out) {
    zoo_shape keep = s;
    keep.d[axis] = 1;
    int64_t on = zoo_shape_numel(keep), n = zoo_shape_numel(s);
    for (int64_t i = 0; i < on; i++) out[i] = kind == 2 ? -INFINITY : 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t idx[ZOO_MAX_DIMS];
        unravel(i, s, idx);
        idx[axis] = 0;
        int64_t o = 0;
        for (int d = 0; d < s.ndim; d++) o = o * keep.d[d] + idx[d];
        out[o] = kind == 2 ? fmax(out[o], x[i]) : out[o] + x[i];
    }
    if (kind == 1)
        for (int64_t i = 0; i < on; i++) out[i] /= (double)s.d[axis];
}

static zoo_tensor *g_reduce(zoo_tensor *const *x, const void *ctx) {
    const reduce_case *c = ctx;
    return c->fn(x[0], c->axis, c->keepdim);
}

TEST(sum_mean_max_reduce_each_axis_with_and_without_keepdim) {
    static const struct {
        const char *name;
        reduce_fn fn;
    } ops[] = {{"sum", zoo_sum}, {"mean", zoo_mean}, {"max", zoo_max}};
    static const zoo_shape shapes[] = {{3, {2, 3, 4}}, {2, {5, 3}}, {1, {6}}, {4, {2, 3, 2, 2}}};
    for (int kind = 0; kind < 3; kind++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            zoo_shape s = shapes[si];
            for (int axis = -1; axis < s.ndim; axis++)
                for (int keep = 0; keep < 2; keep++) {
                    reduce_case c = {ops[kind].name, ops[kind].fn, kind, axis, keep};
                    int a = axis < 0 ? axis + s.ndim : axis;
                    char ss[64], what[160];
                    snprintf(what, sizeof what, "%s of %s along axis %d%s", c.name, zoo_shape_str(s, ss, sizeof ss),
                             axis, keep ? " (keepdim)" : "");
                    /* max needs a unique maximum with a margin over the difference step */
                    zoo_tensor *x = kind == 2 ? param_distinct(s, 0.1f) : param_rand(s, -2, 2, 0);
                    zoo_shape want_shape = s;
                    if (keep) want_shape.d[a] = 1;
                    else {
                        want_shape.ndim = 0;
                        for (int d = 0; d < s.ndim; d++)
                            if (d != a) want_shape.d[want_shape.ndim++] = s.d[d];
                        if (want_shape.ndim == 0) want_shape = zoo_shape1(1);
                        for (int d = want_shape.ndim; d < ZOO_MAX_DIMS; d++) want_shape.d[d] = 1;
                    }
                    zoo_scope_begin();
                    zoo_tensor *y = g_reduce(&x, &c);
                    expect_shape(what, y, want_shape);
                    double *want = host_doubles(x->numel);
                    ref_reduce(kind, host(x), s, a, want);
                    expect_close(what, host(y), want, y->numel, 1e-6);
                    zoo_scope_end();
                    gradcheck(what, g_reduce, &c, &x, 1);
                    zoo_tensor_free(x);
                }
        }
}

static zoo_tensor *g_sum_all(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_sum_all(x[0]); }
static zoo_tensor *g_mean_all(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_mean_all(x[0]); }
static zoo_tensor *g_max_all(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_max_all(x[0]); }

TEST(sum_all_mean_all_max_all_give_one_element) {
    zoo_shape s = zoo_shape3(2, 3, 4);
    zoo_tensor *x = param_rand(s, -2, 2, 0), *xd = param_distinct(s, 0.1f);
    zoo_scope_begin();
    float *h = host(x), *hd = host(xd);
    double sum = 0, mx = -INFINITY;
    for (int i = 0; i < 24; i++) sum += h[i];
    for (int i = 0; i < 24; i++) mx = fmax(mx, hd[i]);
    zoo_tensor *ys = zoo_sum_all(x), *ym = zoo_mean_all(x), *yx = zoo_max_all(xd);
    expect_shape("sum_all", ys, zoo_shape1(1));
    expect_shape("mean_all", ym, zoo_shape1(1));
    expect_shape("max_all", yx, zoo_shape1(1));
    CHECK_NEAR(zoo_tensor_item(ys), sum, 1e-5);
    CHECK_NEAR(zoo_tensor_item(ym), sum / 24, 1e-6);
    CHECK_NEAR(zoo_tensor_item(yx), mx, 0);
    zoo_scope_end();
    gradcheck("sum_all", g_sum_all, NULL, &x, 1);
    gradcheck("mean_all", g_mean_all, NULL, &x, 1);
    gradcheck("max_all", g_max_all, NULL, &xd, 1);
    zoo_tensor_free(x);
    zoo_tensor_free(xd);
}

/* backward of sum_all(f(x)) into a host array */
static void grad_of_sum(zoo_tensor *x, zoo_tensor *(*f)(zoo_tensor *), float *out) {
    zoo_scope_begin();
    zoo_zero_grad(x);
    zoo_backward(zoo_sum_all(f(x)));
    zoo_tensor_download(x->grad, out);
    zoo_scope_end();
}

static zoo_tensor *max_axis1(zoo_tensor *x) { return zoo_max(x, 1, false); }
static zoo_tensor *max_axis0_keep(zoo_tensor *x) { return zoo_max(x, 0, true); }

TEST(max_splits_the_gradient_evenly_among_ties_like_torch_amax) {
    float v1[6] = {1, 3, 3, 2, 2, 2}, g[6];
    zoo_tensor *x = param(zoo_shape2(2, 3), v1);
    grad_of_sum(x, max_axis1, g);
    double want1[6] = {0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3};
    expect_close("max along axis 1 with ties", g, want1, 6, 1e-6);

    float v2[6] = {1, 3, 3, 1, 3, 0};
    zoo_tensor_upload(x, v2);
    grad_of_sum(x, max_axis0_keep, g);
    double want2[6] = {0.5, 0.5, 1, 0.5, 0.5, 0};
    expect_close("max along axis 0 with ties", g, want2, 6, 1e-6);

    float v3[6] = {5, 1, 5, 5, -2, 0};
    zoo_tensor_upload(x, v3);
    grad_of_sum(x, zoo_max_all, g);
    double want3[6] = {1.0 / 3, 0, 1.0 / 3, 1.0 / 3, 0, 0};
    expect_close("max_all with ties", g, want3, 6, 1e-6);
    zoo_tensor_free(x);
}

static void expect_argmax(const char *what, zoo_tensor *x, int axis, zoo_shape s, const float *v) {
    int a = axis < 0 ? axis + s.ndim : axis;
    zoo_tensor *y = zoo_argmax(x, axis);
    zoo_shape keep = s, want_shape = {0, {1, 1, 1, 1}};
    keep.d[a] = 1;
    for (int d = 0; d < s.ndim; d++)
        if (d != a) want_shape.d[want_shape.ndim++] = s.d[d];
    if (want_shape.ndim == 0) want_shape = zoo_shape1(1);
    expect_shape(what, y, want_shape);
    expect(y->dtype == ZOO_I32, "%s: argmax gives int32", what);
    expect(!y->requires_grad && y->node == NULL, "%s: argmax records nothing", what);
    int32_t *got = zoo_scope_alloc((size_t)y->numel * sizeof *got);
    zoo_tensor_download(y, got);
    int64_t on = zoo_shape_numel(keep), bad = 0;
    for (int64_t o = 0; o < on; o++) {
        int64_t idx[ZOO_MAX_DIMS];
        unravel(o, keep, idx);
        int32_t best = 0;
        float best_v = -INFINITY;
        for (int64_t k = 0; k < s.d[a]; k++) {
            idx[a] = k;
            int64_t f = 0;
            for (int d = 0; d < s.ndim; d++) f = f * s.d[d] + idx[d];
            if (v[f] > best_v) { /* strictly greater: the first index wins ties */
                best_v = v[f];
                best = (int32_t)k;
            }
        }
        if (got[o] != best) bad++;
    }
    expect(bad == 0, "%s: %lld of %lld indices wrong", what, (long long)bad, (long long)on);
}

TEST(argmax_gives_the_first_index_of_the_maximum_along_an_axis) {
    float v[12] = {1, 7, 7, 0, /**/ 7, 2, 7, 0, /**/ 3, 3, 3, 3};
    zoo_shape s = zoo_shape2(3, 4);
    zoo_tensor *x = param(s, v);
    zoo_scope_begin();
    expect_argmax("argmax [3,4] axis 0 (ties)", x, 0, s, v);
    expect_argmax("argmax [3,4] axis 1 (ties)", x, 1, s, v);
    expect_argmax("argmax [3,4] axis -1 (ties)", x, -1, s, v);
    zoo_tensor *rows = zoo_argmax(x, 1);
    int32_t r[3];
    zoo_tensor_download(rows, r);
    CHECK(r[0] == 1 && r[1] == 0 && r[2] == 0);
    zoo_scope_end();
    zoo_tensor_free(x);

    zoo_shape s3 = zoo_shape3(2, 3, 4);
    float v3[24];
    for (int i = 0; i < 24; i++) v3[i] = (float)((i * 7) % 5); /* many ties */
    zoo_tensor *x3 = param(s3, v3);
    zoo_scope_begin();
    for (int axis = 0; axis < 3; axis++) {
        char what[64];
        snprintf(what, sizeof what, "argmax [2,3,4] axis %d", axis);
        expect_argmax(what, x3, axis, s3, v3);
    }
    zoo_scope_end();
    zoo_tensor_free(x3);
}

TEST(argmax_along_a_dim_of_size_one_is_zero_everywhere) {
    float v[4] = {0.5f, 2, -1, 3};
    zoo_shape s = zoo_shape2(1, 4);
    zoo_tensor *x = param(s, v);
    zoo_scope_begin();
    expect_argmax("argmax [1,4] axis 0", x, 0, s, v);
    zoo_scope_end();
    zoo_tensor_free(x);
}

/* ---------------------------------------------------------------- shapes */

typedef struct shape_case {
    zoo_shape to;
    int perm[ZOO_MAX_DIMS];
    int d0, d1;
} shape_case;

static zoo_tensor *g_reshape(zoo_tensor *const *x, const void *ctx) {
    return zoo_reshape(x[0], ((const shape_case *)ctx)->to);
}
/* through an intermediate, so the view's gradient has to flow on to exp */
static zoo_tensor *g_reshape_exp(zoo_tensor *const *x, const void *ctx) {
    return zoo_tanh(zoo_reshape(zoo_exp(x[0]), ((const shape_case *)ctx)->to));
}

TEST(reshape_is_a_view_that_passes_the_gradient_through) {
    zoo_tensor *x = param_rand(zoo_shape3(2, 3, 4), -1, 1, 0);
    shape_case c = {.to = {2, {4, -1}}};
    zoo_scope_begin();
    zoo_tensor *y = zoo_reshape(x, c.to);
    expect_shape("reshape [2,3,4] -> [4,-1]", y, zoo_shape2(4, 6));
    CHECK(y->data == x->data);
    float *hx = host(x), *hy = host(y);
    CHECK(memcmp(hx, hy, 24 * sizeof(float)) == 0);
    zoo_tensor *f = zoo_flatten(x);
    expect_shape("flatten [2,3,4]", f, zoo_shape2(2, 12));
    CHECK(f->data == x->data);
    zoo_scope_end();
    gradcheck("reshape [2,3,4] -> [4,6]", g_reshape, &c, &x, 1);
    shape_case c2 = {.to = {4, {3, 2, 2, 2}}};
    gradcheck("tanh(reshape(exp(x), [3,2,2,2]))", g_reshape_exp, &c2, &x, 1);
    zoo_tensor_free(x);
}

static void ref_permute(const float *x, zoo_shape s, const int *perm, double *out, zoo_shape *os) {
    os->ndim = s.ndim;
    for (int i = 0; i < ZOO_MAX_DIMS; i++) os->d[i] = i < s.ndim ? s.d[perm[i]] : 1;
    int64_t n = zoo_shape_numel(s);
    for (int64_t o = 0; o < n; o++) {
        int64_t oi[ZOO_MAX_DIMS], xi[ZOO_MAX_DIMS];
        unravel(o, *os, oi);
        for (int i = 0; i < s.ndim; i++) xi[perm[i]] = oi[i];
        int64_t f = 0;
        for (int i = 0; i < s.ndim; i++) f = f * s.d[i] + xi[i];
        out[o] = x[f];
    }
}

static zoo_tensor *g_permute(zoo_tensor *const *x, const void *ctx) { return zoo_permute(x[0], ((const shape_case *)ctx)->perm); }
static zoo_tensor *g_transpose(zoo_tensor *const *x, const void *ctx) {
    const shape_case *c = ctx;
    return zoo_transpose(x[0], c->d0, c->d1);
}

TEST(transpose_and_permute_move_elements_and_gradients) {
    static const struct {
        zoo_shape s;
        int perm[ZOO_MAX_DIMS];
    } perms[] = {
        {{2, {3, 5}}, {1, 0}},
        {{3, {2, 3, 4}}, {2, 0, 1}},
        {{3, {2, 3, 4}}, {1, 2, 0}},
        {{4, {2, 3, 4, 5}}, {3, 1, 0, 2}},
    };
    for (size_t k = 0; k < sizeof perms / sizeof *perms; k++) {
        shape_case c = {.perm = {perms[k].perm[0], perms[k].perm[1], perms[k].perm[2], perms[k].perm[3]}};
        zoo_shape s = perms[k].s, os;
        char ss[64], what[128];
        snprintf(what, sizeof what, "permute %s by {%d,%d,%d,%d}", zoo_shape_str(s, ss, sizeof ss), c.perm[0],
                 c.perm[1], c.perm[2], c.perm[3]);
        zoo_tensor *x = param_rand(s, -1, 1, 0);
        zoo_scope_begin();
        zoo_tensor *y = zoo_permute(x, c.perm);
        double *want = host_doubles(x->numel);
        ref_permute(host(x), s, c.perm, want, &os);
        expect_shape(what, y, os);
        expect_close(what, host(y), want, x->numel, 0);
        zoo_scope_end();
        gradcheck(what, g_permute, &c, &x, 1);
        zoo_tensor_free(x);
    }
    static const struct {
        zoo_shape s;
        int d0, d1;
    } tr[] = {{{2, {3, 5}}, 0, 1}, {{3, {2, 3, 4}}, 0, 2}, {{3, {2, 3, 4}}, -1, -2}, {{4, {2, 3, 4, 5}}, 1, 3}};
    for (size_t k = 0; k < sizeof tr / sizeof *tr; k++) {
        shape_case c = {.d0 = tr[k].d0, .d1 = tr[k].d1};
        zoo_shape s = tr[k].s, os;
        int a = c.d0 < 0 ? c.d0 + s.ndim : c.d0, b = c.d1 < 0 ? c.d1 + s.ndim : c.d1;
        int perm[ZOO_MAX_DIMS] = {0, 1, 2, 3};
        perm[a] = b;
        perm[b] = a;
        char ss[64], what[128];
        snprintf(what, sizeof what, "transpose %s dims %d, %d", zoo_shape_str(s, ss, sizeof ss), c.d0, c.d1);
        zoo_tensor *x = param_rand(s, -1, 1, 0);
        zoo_scope_begin();
        zoo_tensor *y = zoo_transpose(x, c.d0, c.d1);
        double *want = host_doubles(x->numel);
        ref_permute(host(x), s, perm, want, &os);
        expect_shape(what, y, os);
        expect_close(what, host(y), want, x->numel, 0);
        zoo_scope_end();
        gradcheck(what, g_transpose, &c, &x, 1);
        zoo_tensor_free(x);
    }
}

/* ---------------------------------------------------------------- softmax */

static void ref_softmax(const float *x, int64_t rows, int64_t cols, bool log_form, double *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + r * cols;
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < cols; j++) mx = fmax(mx, p[j]);
        for (int64_t j = 0; j < cols; j++) s += exp(p[j] - mx);
        for (int64_t j = 0; j < cols; j++)
            out[r * cols + j] = log_form ? p[j] - mx - log(s) : exp(p[j] - mx) / s;
    }
}

static zoo_tensor *g_softmax(zoo_tensor *const *x, const void *ctx) {
    return *(const bool *)ctx ? zoo_log_softmax(x[0]) : zoo_softmax(x[0]);
}

TEST(softmax_and_log_softmax_normalize_rows_stably) {
    static const zoo_shape shapes[] = {{2, {4, 6}}, {3, {2, 3, 5}}, {1, {7}}};
    for (int lf = 0; lf < 2; lf++)
        for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
            bool log_form = lf;
            zoo_shape s = shapes[k];
            int64_t cols = s.d[s.ndim - 1], rows = zoo_shape_numel(s) / cols;
            char ss[64], what[96];
            snprintf(what, sizeof what, "%s of %s", log_form ? "log_softmax" : "softmax", zoo_shape_str(s, ss, sizeof ss));
            zoo_tensor *x = param_rand(s, -3, 3, 0);
            zoo_scope_begin();
            zoo_tensor *y = g_softmax(&x, &log_form);
            expect_shape(what, y, s);
            double *want = host_doubles(x->numel);
            ref_softmax(host(x), rows, cols, log_form, want);
            expect_close(what, host(y), want, x->numel, 2e-6);
            zoo_scope_end();
            gradcheck(what, g_softmax, &log_form, &x, 1);
            zoo_tensor_free(x);
        }
    /* logits far from 0 must not overflow exp */
    float big[6] = {100, 101, 99, -100, -101, -99};
    double want[6];
    zoo_scope_begin();
    zoo_tensor *x = zoo_tensor_from_host(zoo_shape2(2, 3), big);
    ref_softmax(big, 2, 3, false, want);
    expect_close("softmax of logits near +-100", host(zoo_softmax(x)), want, 6, 1e-6);
    ref_softmax(big, 2, 3, true, want);
    /* x - logsumexp(x) cancels at |x| = 100, where a float's spacing is 7.6e-6 */
    expect_close("log_softmax of logits near +-100", host(zoo_log_softmax(x)), want, 6, 1e-5);
    zoo_scope_end();
}

/* ---------------------------------------------------------------- attention */

typedef struct attention_case {
    int b, t, heads, d;
    bool causal;
} attention_case;

static zoo_tensor *g_attention(zoo_tensor *const *x, const void *ctx) {
    const attention_case *a = ctx;
    return zoo_attention(x[0], a->heads, a->causal);
}

/* softmax(q k^T / sqrt(D) (+ the causal mask)) v per sample and head, in double, on
 * the host */
static void ref_attention(const float *qkv, const attention_case *a, double *y) {
    int c = a->heads * a->d;
    double *s = malloc((size_t)a->t * sizeof *s);
    for (int b = 0; b < a->b; b++)
        for (int h = 0; h < a->heads; h++)
            for (int i = 0; i < a->t; i++) {
                const float *q = qkv + ((size_t)(b * a->t + i) * 3 * c) + h * a->d;
                double mx = -INFINITY, sum = 0;
                int last = a->causal ? i : a->t - 1; /* the last key position i sees */
                for (int j = 0; j <= last; j++) {
                    const float *k = qkv + ((size_t)(b * a->t + j) * 3 * c) + c + h * a->d;
                    s[j] = 0;
                    for (int e = 0; e < a->d; e++) s[j] += (double)q[e] * k[e];
                    s[j] /= sqrt((double)a->d);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= last; j++) sum += exp(s[j] - mx);
                for (int e = 0; e < a->d; e++) {
                    double acc = 0;
                    for (int j = 0; j <= last; j++)
                        acc += exp(s[j] - mx) / sum * qkv[((size_t)(b * a->t + j) * 3 * c) + 2 * c + h * a->d + e];
                    y[((size_t)(b * a->t + i) * c) + h * a->d + e] = acc;
                }
            }
    free(s);
}

/* One head of 5 values over 7 positions, heads of 16 over 19 positions (past a block of
 * 16 keys: fast mode's register tiles and their edges), a head of 20 (16 and 4 more);
 * causal and not, and 35 positions (two strips of 16 keys and 3 more) without the mask;
 * heads wider than the kernels take (the composed ops). */
TEST(attention_matches_a_reference_and_finite_differences) {
    static const attention_case cases[] = {{2, 7, 1, 5, true},   {1, 19, 2, 16, true}, {2, 6, 3, 20, true},
                                           {2, 7, 1, 5, false},  {1, 19, 2, 16, false}, {2, 6, 3, 20, false},
                                           {1, 35, 1, 8, false}, {1, 5, 2, 130, true}, {2, 4, 1, 129, false}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const attention_case *a = &cases[k];
        char what[80];
        snprintf(what, sizeof what, "attention b=%d t=%d heads=%d d=%d%s", a->b, a->t, a->heads, a->d,
                 a->causal ? " causal" : "");
        zoo_tensor *qkv = param_rand(zoo_shape3(a->b, a->t, 3 * a->heads * a->d), -1.5f, 1.5f, 0);
        zoo_scope_begin();
        zoo_tensor *y = g_attention(&qkv, a);
        expect_shape(what, y, zoo_shape3(a->b, a->t, a->heads * a->d));
        double *want = host_doubles(y->numel);
        ref_attention(host(qkv), a, want);
        expect_close(what, host(y), want, y->numel, 2e-6);
        zoo_scope_end();
        if (a->t * a->heads * a->d <= 200) gradcheck(what, g_attention, a, &qkv, 1);
        zoo_tensor_free(qkv);
    }
}

/* ---------------------------------------------------------------- losses */

typedef struct loss_case {
    int32_t labels[8];
    int n;
} loss_case;

static zoo_tensor *g_mse(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_mse_loss(x[0], x[1]); }
static zoo_tensor *g_l1(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_l1_loss(x[0], x[1]); }
static zoo_tensor *g_linf(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_linf_loss(x[0], x[1]); }
static zoo_tensor *g_bce(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_bce_with_logits(x[0], x[1]); }
static zoo_tensor *g_ce(zoo_tensor *const *x, const void *ctx) {
    const loss_case *c = ctx;
    return zoo_cross_entropy(x[0], zoo_tensor_from_host_i32(zoo_shape1(c->n), c->labels));
}
static zoo_tensor *g_nll(zoo_tensor *const *x, const void *ctx) {
    const loss_case *c = ctx;
    return zoo_nll_loss(x[0], zoo_tensor_from_host_i32(zoo_shape1(c->n), c->labels));
}
static zoo_tensor *g_l2_penalty(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_l2_penalty(x, 2); }
static zoo_tensor *g_l1_penalty(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_l1_penalty(x, 2); }

/* pred and target with |pred - target| >= 0.1 everywhere and (for linf) one
 * largest difference by a margin */
static void loss_inputs(zoo_tensor *x[2], zoo_shape s, bool distinct_diffs) {
    int64_t n = zoo_shape_numel(s);
    float *p = malloc((size_t)n * sizeof *p), *t = malloc((size_t)n * sizeof *t), *d = malloc((size_t)n * sizeof *d);
    fill_rand(t, n, -1, 1, 0);
    if (distinct_diffs) fill_distinct(d, n, 0.1f);
    else fill_rand(d, n, -1.5f, 1.5f, 0.1f);
    for (int64_t i = 0; i < n; i++) {
        if (distinct_diffs && fabsf(d[i]) < 0.05f) d[i] += 0.2f * (float)n; /* off the kink, beyond the others */
        p[i] = t[i] + d[i];
    }
    x[0] = param(s, p);
    x[1] = param(s, t);
    free(p);
    free(t);
    free(d);
}

TEST(regression_losses_match_reference_and_finite_differences) {
    zoo_shape s = zoo_shape2(3, 4);
    zoo_tensor *x[2];
    for (int kind = 0; kind < 3; kind++) {
        const char *name = kind == 0 ? "mse_loss" : kind == 1 ? "l1_loss" : "linf_loss";
        graph_fn g = kind == 0 ? g_mse : kind == 1 ? g_l1 : g_linf;
        loss_inputs(x, s, kind == 2);
        zoo_scope_begin();
        float *p = host(x[0]), *t = host(x[1]);
        double want = 0.0;
        for (int i = 0; i < 12; i++) {
            double d = (double)p[i] - t[i];
            if (kind == 0) want += d * d / 12;
            if (kind == 1) want += fabs(d) / 12;
            if (kind == 2) want = fmax(want, fabs(d));
        }
        zoo_tensor *y = g(x, NULL);
        expect_shape(name, y, zoo_shape1(1));
        float got = zoo_tensor_item(y);
        expect_close(name, &got, &want, 1, 1e-6);
        zoo_scope_end();
        gradcheck(name, g, NULL, x, 2);
        free_all(x, 2);
    }
}

TEST(cross_entropy_is_log_softmax_then_nll_averaged_over_the_batch) {
    loss_case c = {{2, 0, 4, 4, 1}, 5};
    zoo_tensor *x = param_rand(zoo_shape2(5, 5), -3, 3, 0);
    zoo_scope_begin();
    float *h = host(x);
    double logp[25], want = 0;
    ref_softmax(h, 5, 5, true, logp);
    for (int i = 0; i < 5; i++) want -= logp[i * 5 + c.labels[i]] / 5;
    zoo_tensor *y = g_ce(&x, &c);
    expect_shape("cross_entropy", y, zoo_shape1(1));
    float got = zoo_tensor_item(y);
    expect_close("cross_entropy", &got, &want, 1, 1e-6);
    zoo_scope_end();
    gradcheck("cross_entropy", g_ce, &c, &x, 1);
    zoo_tensor_free(x);
}

TEST(nll_loss_averages_minus_the_labelled_log_probability) {
    loss_case c = {{1, 3, 0, 3}, 4};
    zoo_tensor *x = param_rand(zoo_shape2(4, 4), -3, 0, 0);
    zoo_scope_begin();
    float *h = host(x);
    double want = 0;
    for (int i = 0; i < 4; i++) want -= (double)h[i * 4 + c.labels[i]] / 4;
    zoo_tensor *y = g_nll(&x, &c);
    expect_shape("nll_loss", y, zoo_shape1(1));
    float got = zoo_tensor_item(y);
    expect_close("nll_loss", &got, &want, 1, 1e-6);
    zoo_scope_end();
    gradcheck("nll_loss", g_nll, &c, &x, 1);
    zoo_tensor_free(x);
}

static double ref_bce(double x, double t) { return fmax(x, 0) - x * t + log1p(exp(-fabs(x))); }

TEST(bce_with_logits_matches_reference_and_stays_finite_for_large_logits) {
    zoo_shape s = zoo_shape2(3, 4);
    zoo_tensor *x[2] = {param_rand(s, -4, 4, 0.1f), param_rand(s, 0, 1, 0)};
    zoo_scope_begin();
    float *hx = host(x[0]), *ht = host(x[1]);
    double want = 0;
    for (int i = 0; i < 12; i++) want += ref_bce(hx[i], ht[i]) / 12;
    zoo_tensor *y = zoo_bce_with_logits(x[0], x[1]);
    expect_shape("bce_with_logits", y, zoo_shape1(1));
    float got = zoo_tensor_item(y);
    expect_close("bce_with_logits", &got, &want, 1, 1e-6);
    zoo_scope_end();
    gradcheck("bce_with_logits", g_bce, NULL, x, 2);
    free_all(x, 2);

    float logits[4] = {100, -100, 100, -100}, targets[4] = {1, 0, 0, 1}, g[4];
    zoo_tensor *l = param(zoo_shape1(4), logits);
    zoo_scope_begin();
    zoo_zero_grad(l);
    zoo_tensor *loss = zoo_bce_with_logits(l, zoo_tensor_from_host(zoo_shape1(4), targets));
    float v = zoo_tensor_item(loss);
    CHECK(isfinite(v));
    CHECK_NEAR(v, 50.0, 1e-4); /* (0 + 0 + 100 + 100) / 4 */
    zoo_backward(loss);
    zoo_tensor_download(l->grad, g);
    double want_g[4] = {0, 0, 0.25, -0.25}; /* (sigmoid(x) - t) / n */
    CHECK(isfinite(g[0]) && isfinite(g[1]) && isfinite(g[2]) && isfinite(g[3]));
    expect_close("bce_with_logits gradient at +-100", g, want_g, 4, 1e-6);
    zoo_scope_end();
    zoo_tensor_free(l);
}

TEST(weight_penalties_sum_squares_or_absolute_values_over_all_tensors) {
    zoo_tensor *x[2] = {param_rand(zoo_shape2(3, 4), -2, 2, 0.1f), param_rand(zoo_shape1(5), -2, 2, 0.1f)};
    zoo_scope_begin();
    double l2 = 0, l1 = 0;
    for (int k = 0; k < 2; k++) {
        float *h = host(x[k]);
        for (int64_t i = 0; i < x[k]->numel; i++) {
            l2 += (double)h[i] * h[i];
            l1 += fabs(h[i]);
        }
    }
    zoo_tensor *y2 = zoo_l2_penalty(x, 2), *y1 = zoo_l1_penalty(x, 2);
    expect_shape("l2_penalty", y2, zoo_shape1(1));
    CHECK_NEAR(zoo_tensor_item(y2), l2, 1e-5 * (1 + l2));
    CHECK_NEAR(zoo_tensor_item(y1), l1, 1e-5 * (1 + l1));
    zoo_scope_end();
    gradcheck("l2_penalty", g_l2_penalty, NULL, x, 2);
    gradcheck("l1_penalty", g_l1_penalty, NULL, x, 2);
    free_all(x, 2);
}

/* ---------------------------------------------------------------- dropout */

typedef struct dropout_case {
    uint64_t seed;
    float p;
} dropout_case;

static zoo_tensor *g_dropout(zoo_tensor *const *x, const void *ctx) {
    const dropout_case *c = ctx;
    zoo_rng rng = zoo_rng_new(c->seed); /* the same mask on every evaluation */
    return zoo_dropout(x[0], c->p, true, &rng);
}

TEST(dropout_zeroes_a_fraction_p_and_scales_survivors) {
    const int n = 20000;
    const float p = 0.3f;
    zoo_scope_begin();
    zoo_tensor *ones = zoo_tensor_full(zoo_shape1(n), 1.0f);
    zoo_rng a = zoo_rng_new(7), b = zoo_rng_new(7), c = zoo_rng_new(8);
    float *ya = host(zoo_dropout(ones, p, true, &a)), *yb = host(zoo_dropout(ones, p, true, &b));
    float *yc = host(zoo_dropout(ones, p, true, &c)), *ya2 = host(zoo_dropout(ones, p, true, &a));
    int zeros = 0, odd = 0;
    float scale = 1.0f / (1.0f - p);
    for (int i = 0; i < n; i++) {
        if (ya[i] == 0.0f) zeros++;
        else if (fabsf(ya[i] - scale) > 1e-6f) odd++;
    }
    CHECK_NEAR((double)zeros / n, p, 0.02);
    CHECK(odd == 0);
    CHECK(memcmp(ya, yb, (size_t)n * sizeof *ya) == 0);  /* same seed, same mask */
    CHECK(memcmp(ya, yc, (size_t)n * sizeof *ya) != 0);  /* another seed, another mask */
    CHECK(memcmp(ya, ya2, (size_t)n * sizeof *ya) != 0); /* the stream moves on */
    zoo_scope_end();
}

TEST(dropout_in_eval_mode_is_the_identity) {
    zoo_tensor *x = param_rand(zoo_shape2(4, 5), -1, 1, 0);
    zoo_scope_begin();
    zoo_rng rng = zoo_rng_new(1);
    zoo_tensor *y = zoo_dropout(x, 0.5f, false, &rng), *y0 = zoo_dropout(x, 0.0f, true, &rng);
    float *hx = host(x);
    CHECK(memcmp(hx, host(y), 20 * sizeof(float)) == 0);
    CHECK(memcmp(hx, host(y0), 20 * sizeof(float)) == 0);
    CHECK(rng.offset == 0); /* no random numbers drawn */
    zoo_scope_end();
    zoo_tensor_free(x);
}

TEST(dropout_gradient_is_the_mask) {
    dropout_case c = {11, 0.4f};
    zoo_tensor *x = param_rand(zoo_shape2(4, 6), -1, 1, 0);
    gradcheck("dropout(p=0.4)", g_dropout, &c, &x, 1);
    zoo_tensor_free(x);
}

/* ---------------------------------------------------------------- autograd semantics */

static float grad_of_exp_w_times_c(zoo_tensor *w, const float *c, int backwards, bool zero_first, int i) {
    float g[3];
    zoo_scope_begin();
    if (zero_first) zoo_zero_grad(w);
    zoo_tensor *loss = zoo_sum_all(zoo_mul(zoo_exp(w), zoo_tensor_from_host(zoo_shape1(3), c)));
    for (int k = 0; k < backwards; k++) zoo_backward(loss);
    zoo_tensor_download(w->grad, g);
    zoo_scope_end();
    return g[i];
}

TEST(gradients_accumulate_across_backward_calls_until_zero_grad) {
    float wv[3] = {0.5f, -1, 2}, c[3] = {1, -2, 0.5f};
    zoo_tensor *w = param(zoo_shape1(3), wv);
    for (int i = 0; i < 3; i++) {
        double once = exp((double)wv[i]) * c[i];
        CHECK_NEAR(grad_of_exp_w_times_c(w, c, 1, true, i), once, 1e-5 * (1 + fabs(once)));
        /* a second step without zero_grad adds to it */
        CHECK_NEAR(grad_of_exp_w_times_c(w, c, 1, false, i), 2 * once, 1e-5 * (1 + fabs(once)));
        /* two backward calls in one scope: intermediate grads start afresh, the param's add */
        CHECK_NEAR(grad_of_exp_w_times_c(w, c, 2, true, i), 2 * once, 1e-5 * (1 + fabs(once)));
        /* zero_grad: the next backward overwrites */
        CHECK_NEAR(grad_of_exp_w_times_c(w, c, 1, true, i), once, 1e-5 * (1 + fabs(once)));
    }
    zoo_tensor_free(w);
}

static zoo_tensor *g_square_by_mul(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_mul(x[0], x[0]); }
static zoo_tensor *g_double_by_add(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_add(x[0], x[0]); }
static zoo_tensor *g_inner_twice(zoo_tensor *const *x, const void *ctx) {
    zoo_tensor *y = zoo_tanh(x[0]);
    return (void)ctx, zoo_add(zoo_mul(y, y), zoo_sigmoid(y));
}
static zoo_tensor *g_self_matmul(zoo_tensor *const *x, const void *ctx) { return (void)ctx, zoo_matmul(x[0], x[0]); }

TEST(a_tensor_used_twice_gets_the_sum_of_both_gradients) {
    float wv[4] = {0.5f, -1, 2, -0.25f}, g[4];
    zoo_tensor *w = param(zoo_shape1(4), wv);
    zoo_scope_begin();
    zoo_zero_grad(w);
    zoo_backward(zoo_sum_all(zoo_mul(w, w)));
    zoo_tensor_download(w->grad, g);
    double want[4];
    for (int i = 0; i < 4; i++) want[i] = 2.0 * wv[i];
    expect_close("d/dw sum(w*w) = 2w", g, want, 4, 1e-6);
    zoo_scope_end();
    gradcheck("w * w", g_square_by_mul, NULL, &w, 1);
    gradcheck("w + w", g_double_by_add, NULL, &w, 1);
    gradcheck("tanh(w)^2 + sigmoid(tanh(w))", g_inner_twice, NULL, &w, 1);
    zoo_tensor_free(w);
    zoo_tensor *m = param_rand(zoo_shape2(3, 3), -1, 1, 0);
    gradcheck("W @ W", g_self_matmul, NULL, &m, 1);
    zoo_tensor_free(m);
}

/* one parameter reached through every kind of gradient write: gemm into the grad
 * slot, unary backward into grad_begin, broadcast sums, reductions */
static zoo_tensor *g_many_paths(zoo_tensor *const *x, const void *ctx) {
    zoo_tensor *w = x[0];
    zoo_tensor *a = zoo_add(zoo_matmul(w, w), zoo_mul(w, zoo_tanh(w)));
    zoo_tensor *b = zoo_add(a, zoo_sum(w, 0, true));
    return (void)ctx, zoo_sub(zoo_matmul_ex(b, w, true, false), zoo_max(w, 1, true));
}

/* a two-layer perceptron with cross entropy: every input of every layer is checked */
static zoo_tensor *g_mlp(zoo_tensor *const *x, const void *ctx) {
    (void)ctx;
    int32_t labels[4] = {0, 2, 1, 2};
    zoo_tensor *h = zoo_gelu(zoo_linear(x[0], x[1], x[2]));
    zoo_tensor *logits = zoo_linear(h, x[3], NULL);
    return zoo_cross_entropy(logits, zoo_tensor_from_host_i32(zoo_shape1(4), labels));
}

/* an intermediate read by a matmul and an add: its gradient is first shared, then summed */
static zoo_tensor *g_shared_intermediate(zoo_tensor *const *x, const void *ctx) {
    zoo_tensor *h = zoo_exp(x[0]);
    zoo_tensor *v = zoo_reshape(h, zoo_shape2(4, 3));
    return (void)ctx, zoo_add(zoo_matmul(h, x[1]), zoo_mean(zoo_transpose(v, 0, 1), 1, false));
}

/* a batch-1 intermediate [1,3,4] against a batch of 2: its gradient is summed over
 * the batch. (Made by tanh, not by a broadcasting add: with the grad-shape bug that
 * intermediate_gradients_have_the_shape_of_their_tensor shows, add's backward would
 * call sum_to from [3,4] to [1,3,4], which indexes out of bounds.) */
static zoo_tensor *g_batch1_intermediate(zoo_tensor *const *x, const void *ctx) {
    return (void)ctx, zoo_matmul(zoo_tanh(zoo_add(x[0], x[1])), x[2]);
}

TEST(composite_graphs_match_finite_differences) {
    zoo_tensor *w = param_distinct(zoo_shape2(3, 3), 0.1f);
    gradcheck("matmul, mul, tanh, sum, max on one parameter", g_many_paths, NULL, &w, 1);
    zoo_tensor_free(w);
    zoo_tensor *mlp[4] = {param_rand(zoo_shape2(4, 5), -1, 1, 0), param_rand(zoo_shape2(6, 5), -1, 1, 0),
                          param_rand(zoo_shape1(6), -1, 1, 0), param_rand(zoo_shape2(3, 6), -1, 1, 0)};
    gradcheck("mlp: cross_entropy(linear(gelu(linear(x))))", g_mlp, NULL, mlp, 4);
    free_all(mlp, 4);
    zoo_tensor *sh[2] = {param_rand(zoo_shape2(3, 4), -1, 1, 0), param_rand(zoo_shape2(4, 3), -1, 1, 0)};
    gradcheck("exp(x) read by matmul and by reshape/transpose/mean", g_shared_intermediate, NULL, sh, 2);
    free_all(sh, 2);
    zoo_tensor *b1[3] = {param_rand(zoo_shape3(1, 3, 4), -1, 1, 0), param_rand(zoo_shape1(4), -1, 1, 0),
                         param_rand(zoo_shape3(2, 4, 5), -1, 1, 0)};
    gradcheck("matmul(tanh(add([1,3,4], [4])), [2,4,5])", g_batch1_intermediate, NULL, b1, 3);
    free_all(b1, 3);
}

/* backend.h: a tensor's grad has the tensor's shape; backward functions rely on it
 * (sum_to pads the grad's shape against the input's) */
TEST(intermediate_gradients_have_the_shape_of_their_tensor) {
    zoo_tensor *x = param_rand(zoo_shape3(1, 3, 4), -1, 1, 0), *y = param_rand(zoo_shape1(4), -1, 1, 0);
    zoo_tensor *b = param_rand(zoo_shape3(2, 4, 5), -1, 1, 0), *w = param_rand(zoo_shape2(4, 5), -1, 1, 0);
    zoo_scope_begin();
    zoo_tensor *a = zoo_tanh(x);              /* [1,3,4], read by a batch of 2 */
    zoo_tensor *c = zoo_matmul(a, b);         /* [2,3,5] */
    zoo_tensor *a2 = zoo_tanh(zoo_add(x, y)); /* [1,3,4], against a shared 2-d operand */
    zoo_tensor *c2 = zoo_matmul(a2, w);       /* [1,3,5] */
    zoo_tensor *r = zoo_reshape(zoo_exp(w), zoo_shape3(2, 2, 5));
    zoo_tensor *m = zoo_max(r, 1, false);     /* [2,5] */
    zoo_tensor *total = zoo_add(zoo_add(zoo_sum_all(c), zoo_sum_all(c2)), zoo_sum_all(m));
    zoo_backward(total);
    zoo_tensor *inter[] = {a, c, a2, c2, r, m};
    for (size_t i = 0; i < sizeof inter / sizeof *inter; i++) {
        char what[64];
        snprintf(what, sizeof what, "grad of intermediate %zu", i);
        if (expect(inter[i]->grad != NULL, "%s: no gradient", what)) expect_shape(what, inter[i]->grad, inter[i]->shape);
    }
    zoo_scope_end();
    zoo_tensor *all[4] = {x, y, b, w};
    free_all(all, 4);
}

TEST(no_grad_mode_records_nothing) {
    zoo_tensor *w = param_rand(zoo_shape2(3, 4), -1, 1, 0.1f);
    int32_t labels[3] = {0, 1, 2};
    zoo_scope_begin();
    zoo_node *tape = zoo__tape_tail();
    bool old = zoo_set_grad_enabled(false);
    CHECK(old == true);
    CHECK(!zoo_grad_enabled());
    zoo_tensor *outs[] = {
        zoo_add(w, w),
        zoo_relu(w),
        zoo_matmul_ex(w, w, false, true),
        zoo_linear(w, w, NULL),
        zoo_sum(w, 0, false),
        zoo_max_all(w),
        zoo_reshape(w, zoo_shape1(12)),
        zoo_transpose(w, 0, 1),
        zoo_softmax(w),
        zoo_cross_entropy(w, zoo_tensor_from_host_i32(zoo_shape1(3), labels)),
        zoo_mse_loss(w, w),
    };
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++)
        expect(!outs[i]->requires_grad && outs[i]->node == NULL, "no-grad output %zu records a node", i);
    CHECK(zoo__tape_tail() == tape);
    CHECK(zoo_set_grad_enabled(old) == false);
    CHECK(zoo_grad_enabled());
    zoo_tensor *y = zoo_relu(w);
    CHECK(y->requires_grad && y->node != NULL);
    zoo_scope_end();
    zoo_tensor_free(w);
}

TEST(a_frozen_parameter_gets_no_gradient) {
    zoo_module m;
    zoo_module_init(&m);
    zoo_tensor *w = zoo_module_param(&m, "fc.weight", zoo_shape2(2, 3));
    zoo_tensor *b = zoo_module_param(&m, "fc.bias", zoo_shape1(2));
    zoo_tensor *head = zoo_module_param(&m, "head.weight", zoo_shape2(1, 2));
    float wv[6] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f}, bv[2] = {0.1f, -0.1f}, hv[2] = {1.5f, -2};
    zoo_tensor_upload(w, wv);
    zoo_tensor_upload(b, bv);
    zoo_tensor_upload(head, hv);
    CHECK(zoo_module_freeze(&m, "fc") == 2);
    CHECK(!w->requires_grad && !b->requires_grad && head->requires_grad);
    float xv[3] = {1, 2, 3}, gw[6], gb[2], gh[2];
    zoo_scope_begin();
    zoo_module_zero_grad(&m);
    zoo_tensor *hidden = zoo_linear(zoo_tensor_from_host(zoo_shape2(1, 3), xv), w, b);
    CHECK(!hidden->requires_grad && hidden->node == NULL);
    zoo_backward(zoo_sum_all(zoo_linear(hidden, head, NULL)));
    zoo_tensor_download(w->grad, gw);
    zoo_tensor_download(b->grad, gb);
    zoo_tensor_download(head->grad, gh);
    zoo_scope_end();
    for (int i = 0; i < 6; i++) CHECK(gw[i] == 0.0f);
    CHECK(gb[0] == 0.0f && gb[1] == 0.0f);
    CHECK(w->grad_zero && b->grad_zero); /* untouched: still "no gradient yet" */
    double h0 = 0.1 * 1 - 0.2 * 2 + 0.3 * 3 + 0.1, h1 = 0.4 * 1 + 0.5 * 2 - 0.6 * 3 - 0.1;
    double want_h[2] = {h0, h1};
    expect_close("unfrozen head gradient", gh, want_h, 2, 1e-6);
    zoo_module_free(&m);
}

/* ---------------------------------------------------------------- usage errors */

static void bad_add(void) { zoo_add(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape1(5))); }
static void bad_mul(void) { zoo_mul(zoo_tensor_zeros(ZOO_F32, zoo_shape2(2, 3)), zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 2))); }
static void bad_matmul_inner(void) {
    zoo_matmul(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape2(5, 6)));
}
static void bad_matmul_batch(void) {
    zoo_matmul(zoo_tensor_zeros(ZOO_F32, zoo_shape3(2, 3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape3(3, 4, 5)));
}
static void bad_matmul_trans(void) {
    zoo_matmul_ex(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape2(4, 5)), false, true);
}
static void bad_linear(void) { zoo_linear(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape2(5, 3)), NULL); }
static void bad_linear_bias(void) {
    zoo_linear(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape2(5, 4)),
               zoo_tensor_zeros(ZOO_F32, zoo_shape1(4)));
}
static void bad_reshape(void) { zoo_reshape(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_shape2(5, -1)); }
static void bad_sum_axis(void) { zoo_sum(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), 2, false); }
static void bad_argmax_axis(void) { zoo_argmax(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), -3); }
static void bad_transpose(void) { zoo_transpose(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), 0, 3); }
static void bad_permute(void) {
    int perm[2] = {0, 0};
    zoo_permute(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), perm);
}
static void bad_mse(void) { zoo_mse_loss(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_tensor_zeros(ZOO_F32, zoo_shape2(4, 3))); }
static void bad_cross_entropy(void) {
    zoo_cross_entropy(zoo_tensor_zeros(ZOO_F32, zoo_shape2(4, 5)), zoo_tensor_zeros(ZOO_I32, zoo_shape1(3)));
}
static void bad_backward_shape(void) {
    zoo_tensor *w = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(3));
    zoo_tensor_enable_grad(w);
    zoo_backward(zoo_relu(w));
    zoo_tensor_free(w);
}
static void bad_sum_to(void) { zoo_sum_to(zoo_tensor_zeros(ZOO_F32, zoo_shape2(3, 4)), zoo_shape1(5)); }
static void bad_sum_to_more_dims(void) { zoo_sum_to(zoo_tensor_zeros(ZOO_F32, zoo_shape1(4)), zoo_shape2(3, 4)); }
static void bad_attention_heads(void) { zoo_attention(zoo_tensor_zeros(ZOO_F32, zoo_shape3(2, 4, 30)), 4, true); }
static void bad_attention_length(void) { zoo_attention(zoo_tensor_zeros(ZOO_F32, zoo_shape3(1, 65537, 3)), 1, false); }
static void bad_dropout_p(void) {
    zoo_rng rng = zoo_rng_new(1);
    zoo_dropout(zoo_tensor_zeros(ZOO_F32, zoo_shape1(3)), 1.0f, true, &rng);
}

TEST(shape_errors_return_null_and_say_what_is_wrong) {
    expect_usage_error("add [3,4] + [5]", bad_add, "add");
    expect_usage_error("mul [2,3] * [3,2]", bad_mul, "mul");
    expect_usage_error("matmul [3,4] @ [5,6]", bad_matmul_inner, "matmul");
    expect_usage_error("matmul batch 2 @ batch 3", bad_matmul_batch, "matmul");
    expect_usage_error("matmul [3,4] @ [4,5]^T", bad_matmul_trans, "matmul");
    expect_usage_error("linear x [3,4], weight [5,3]", bad_linear, "linear");
    expect_usage_error("linear bias [4] for 5 outputs", bad_linear_bias, "linear");
    expect_usage_error("reshape 12 elements as [5,-1]", bad_reshape, "reshape");
    expect_usage_error("sum along axis 2 of a 2-d tensor", bad_sum_axis, "sum");
    expect_usage_error("argmax along axis -3 of a 2-d tensor", bad_argmax_axis, "argmax");
    expect_usage_error("transpose dim 3 of a 2-d tensor", bad_transpose, "transpose");
    expect_usage_error("permute by {0,0}", bad_permute, "permute");
    expect_usage_error("mse_loss [3,4] vs [4,3]", bad_mse, "mse_loss");
    expect_usage_error("cross_entropy with 3 labels for 4 rows", bad_cross_entropy, "cross_entropy");
    expect_usage_error("backward of a 3-element loss", bad_backward_shape, "zoo_backward");
    expect_usage_error("dropout with p = 1", bad_dropout_p, "dropout");
    expect_usage_error("sum_to [3,4] -> [5]", bad_sum_to, "sum_to");
    expect_usage_error("sum_to [4] -> [3,4]", bad_sum_to_more_dims, "sum_to");
    expect_usage_error("attention of qkv [2,4,30] with 4 heads", bad_attention_heads, "attention");
    expect_usage_error("attention over 65537 positions", bad_attention_length, "65536");
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(binary_ops_broadcast_like_numpy_and_match_finite_differences);
    RUN(sum_to_reduces_broadcast_dims_and_is_differentiable);
    RUN(elementwise_ops_match_reference_and_finite_differences);
    RUN(gelu_is_the_exact_erf_form_not_the_tanh_approximation);
    RUN(matmul_matches_reference_for_2d_batched_broadcast_and_transposed);
    RUN(linear_is_x_times_weight_transposed_plus_bias);
    RUN(sum_mean_max_reduce_each_axis_with_and_without_keepdim);
    RUN(sum_all_mean_all_max_all_give_one_element);
    RUN(max_splits_the_gradient_evenly_among_ties_like_torch_amax);
    RUN(argmax_gives_the_first_index_of_the_maximum_along_an_axis);
    RUN(argmax_along_a_dim_of_size_one_is_zero_everywhere);
    RUN(reshape_is_a_view_that_passes_the_gradient_through);
    RUN(transpose_and_permute_move_elements_and_gradients);
    RUN(softmax_and_log_softmax_normalize_rows_stably);
    RUN(attention_matches_a_reference_and_finite_differences);
    RUN(regression_losses_match_reference_and_finite_differences);
    RUN(cross_entropy_is_log_softmax_then_nll_averaged_over_the_batch);
    RUN(nll_loss_averages_minus_the_labelled_log_probability);
    RUN(bce_with_logits_matches_reference_and_stays_finite_for_large_logits);
    RUN(weight_penalties_sum_squares_or_absolute_values_over_all_tensors);
    RUN(dropout_zeroes_a_fraction_p_and_scales_survivors);
    RUN(dropout_in_eval_mode_is_the_identity);
    RUN(dropout_gradient_is_the_mask);
    RUN(gradients_accumulate_across_backward_calls_until_zero_grad);
    RUN(a_tensor_used_twice_gets_the_sum_of_both_gradients);
    RUN(composite_graphs_match_finite_differences);
    RUN(intermediate_gradients_have_the_shape_of_their_tensor);
    RUN(no_grad_mode_records_nothing);
    RUN(a_frozen_parameter_gets_no_gradient);
    RUN(shape_errors_return_null_and_say_what_is_wrong);
    zoo_shutdown();
    TEST_EXIT();
}
