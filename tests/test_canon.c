/* zoo's canonical arithmetic (backends/canon.h, canon_math.h) and the CPU's gemm,
 * which every backend must match bit for bit:
 * - zoo_canon_sum equals the order's definition, written here as a plain recursion, for
 *   lengths around each group boundary;
 * - gemm.c equals a naive product that sums each element by that definition, for
 *   every transpose, alpha/beta, depths past one and two group levels, one or two
 *   threads;
 * - the elementary functions stay within their stated error of double precision,
 *   and handle NaN, infinities, zeros and subnormals like libm;
 * - so do fast mode's vectorized ones (backends/cpu/vecmath.c), within 2 ulp. */
#include "test.h"

#include "backends/canon.h"
#include "backends/canon_math.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/vecmath.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t next_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* values of mixed signs and magnitudes, so that the order of a sum shows */
static float next_value(void) {
    float u = (float)(next_u32() >> 8) / 16777216.0f;
    float scale = (float)(1u << (next_u32() % 20)) / 1024.0f;
    return (u - 0.5f) * scale;
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* canon.h's order by its definition: groups of 256 from +0, left to right, until one
 * group is left */
static float tree_sum(const float *t, int64_t n) {
    if (n <= ZOO_SUM_GROUP) {
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++) s = s + t[i];
        return s;
    }
    int64_t groups = (n + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
    float *g = malloc((size_t)groups * sizeof *g);
    for (int64_t k = 0; k < groups; k++) {
        int64_t len = n - k * ZOO_SUM_GROUP < ZOO_SUM_GROUP ? n - k * ZOO_SUM_GROUP : ZOO_SUM_GROUP;
        g[k] = tree_sum(t + k * ZOO_SUM_GROUP, len);
    }
    float s = tree_sum(g, groups);
    free(g);
    return s;
}

TEST(sum_order) {
    const int64_t lengths[] = {0, 1, 2, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 65536 + 256, 200003};
    float *t = malloc(200003 * sizeof *t), *strided = malloc(3 * 200003 * sizeof *strided);
    for (int64_t i = 0; i < 200003; i++) t[i] = next_value();
    for (int64_t i = 0; i < 200003; i++) strided[3 * i] = t[i];
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        int64_t n = lengths[k];
        float want = tree_sum(t, n);
        zoo_canon_sum one = zoo_canon_sum_new(), runs = zoo_canon_sum_new();
        for (int64_t i = 0; i < n; i++) zoo_canon_sum_add(&one, t[i]);
        /* runs of awkward lengths, at a stride */
        for (int64_t i = 0; i < n;) {
            int64_t len = 1 + (int64_t)(next_u32() % 700);
            if (len > n - i) len = n - i;
            zoo_canon_sum_add_run(&runs, strided + 3 * i, len, 3);
            i += len;
        }
        bool ok = same_bits(zoo_canon_sum_result(&one), want) && same_bits(zoo_canon_sum_result(&runs), want);
        if (!ok) fprintf(stderr, "sum of %lld terms: %.9g %.9g, want %.9g\n", (long long)n, zoo_canon_sum_result(&one),
                         zoo_canon_sum_result(&runs), want);
        CHECK(ok);
    }
    /* a sum that is order-sensitive: the naive left-to-right sum differs */
    float naive = 0.0f;
    for (int64_t i = 0; i < 200003; i++) naive = naive + t[i];
    CHECK(!same_bits(naive, tree_sum(t, 200003)));
    free(t);
    free(strided);
}

/* C = alpha op(A) op(B) + beta C with each element summed by tree_sum */
static void naive_gemm(const zoo_gemm_args *g) {
    float *terms = malloc((size_t)(g->k > 0 ? g->k : 1) * sizeof *terms);
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++) {
            for (int64_t k = 0; k < g->k; k++) {
                float a = g->ta ? g->a[k * g->lda + i] : g->a[i * g->lda + k];
                float b = g->tb ? g->b[j * g->ldb + k] : g->b[k * g->ldb + j];
                terms[k] = a * b;
            }
            float *c = g->c + i * g->ldc + j;
            float s = g->alpha * tree_sum(terms, g->k);
            *c = g->beta == 0.0f ? s : s + g->beta * *c;
        }
    free(terms);
}

TEST(gemm_order) {
    const int64_t dims[][3] = {{1, 1, 1},  {7, 5, 3},    {6, 16, 256}, {13, 33, 257}, {20, 17, 600},
                               {2, 3, 65537}, {64, 48, 784}, {5, 70, 1}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int v = 0; v < 8; v++) {
            int64_t m = dims[d][0], n = dims[d][1], k = dims[d][2];
            bool ta = v & 1, tb = v & 2, with_beta = v & 4;
            size_t cbytes = (size_t)(m * n) * 4;
            float *a = malloc((size_t)(m * k) * 4), *b = malloc((size_t)(k * n) * 4);
            float *c0 = malloc(cbytes), *c1 = malloc(cbytes), *orig = malloc(cbytes);
            for (int64_t i = 0; i < m * k; i++) a[i] = next_value();
            for (int64_t i = 0; i < k * n; i++) b[i] = next_value();
            /* without beta, C holds NaN: the product must not read it */
            for (int64_t i = 0; i < m * n; i++) orig[i] = with_beta ? next_value() : NAN;
            memcpy(c0, orig, cbytes);
            zoo_gemm_args g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = with_beta ? 0.75f : 1.0f,
                               .beta = with_beta ? -1.5f : 0.0f, .a = a, .lda = ta ? m : k, .b = b,
                               .ldb = tb ? k : n, .c = c0, .ldc = n};
            naive_gemm(&g);
            float *scratch = malloc(zoo_gemm_scratch_floats(m, n, k) * 4);
            g.c = c1;
            for (int threads = 1; threads <= 2; threads++) {
                memcpy(c1, orig, cbytes);
                zoo_gemm(&g, scratch, threads);
                int64_t differ = 0;
                for (int64_t i = 0; i < m * n; i++) differ += !same_bits(c0[i], c1[i]);
                if (differ)
                    fprintf(stderr, "gemm m=%lld n=%lld k=%lld ta=%d tb=%d beta=%d threads=%d: %lld differ\n",
                            (long long)m, (long long)n, (long long)k, ta, tb, with_beta, threads, (long long)differ);
                CHECK(differ == 0);
            }
            free(a);
            free(b);
            free(c0);
            free(c1);
            free(orig);
            free(scratch);
        }
}

/* the same product on one and on two threads, and from a pre-packed A, bit for bit */
TEST(gemm_threads) {
    int64_t m = 97, n = 131, k = 300;
    float *a = malloc((size_t)(m * k) * 4), *b = malloc((size_t)(k * n) * 4);
    float *c1 = malloc((size_t)(m * n) * 4), *c2 = malloc((size_t)(m * n) * 4);
    for (int64_t i = 0; i < m * k; i++) a[i] = next_value();
    for (int64_t i = 0; i < k * n; i++) b[i] = next_value();
    float *scratch = malloc(zoo_gemm_scratch_floats(m, n, k) * 4);
    zoo_gemm_args g = {.m = m, .n = n, .k = k, .alpha = 1.0f, .a = a, .lda = k, .b = b, .ldb = n, .c = c1, .ldc = n};
    zoo_gemm(&g, scratch, 1);
    g.c = c2;
    zoo_gemm(&g, scratch, 2);
    CHECK(memcmp(c1, c2, (size_t)(m * n) * 4) == 0);
    float *packed = malloc(zoo_gemm_packed_a_floats(m, k) * 4);
    zoo_gemm_pack_a(&g, packed);
    g.packed_a = packed;
    g.a = NULL;
    memset(c2, 0, (size_t)(m * n) * 4);
    zoo_gemm(&g, scratch, 2);
    CHECK(memcmp(c1, c2, (size_t)(m * n) * 4) == 0);
    free(packed);
    free(a);
    free(b);
    free(c1);
    free(c2);
    free(scratch);
}

/* the distance in representable floats between got and the double want rounded */
static double ulps(float got, double want) {
    float w = (float)want;
    if (same_bits(got, w)) return 0;
    if (got != got || w != w || isinf(got) || isinf(w)) return INFINITY;
    int32_t a, b;
    memcpy(&a, &got, 4);
    memcpy(&b, &w, 4);
    if ((a < 0) != (b < 0)) return fabs((double)got - want) == 0 ? 0 : INFINITY;
    return fabs((double)a - (double)b);
}

typedef struct fn_case {
    const char *name;
    float (*f)(float);
    double (*ref)(double);
    float lo, hi;
    double max_ulps, abs_tol; /* an error within either passes */
} fn_case;

static float f_cos2pi(float u) { return zoo_cos2pif(u); }
static double r_cos2pi(double u) { return cos(6.283185307179586476925 * u); }
static double r_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

TEST(functions_accuracy) {
    const fn_case cases[] = {
        {"exp", zoo_expf, exp, -103.0f, 88.7f, 2, 0},
        {"exp near 0", zoo_expf, exp, -1.0f, 1.0f, 2, 0},
        {"log", zoo_logf, log, 1e-30f, 1e30f, 2, 0},
        {"log near 1", zoo_logf, log, 0.5f, 2.0f, 2, 1e-8},
        {"tanh", zoo_tanhf, tanh, -12.0f, 12.0f, 4, 1e-7},
        {"sigmoid", zoo_sigmoidf, r_sigmoid, -30.0f, 30.0f, 4, 1e-7},
        {"erf", zoo_erff, erf, -5.0f, 5.0f, 4, 1e-7},
        {"cos(2 pi u)", f_cos2pi, r_cos2pi, 0.0f, 0.99999994f, 4, 1e-7},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const fn_case *fc = &cases[c];
        double worst = 0;
        float worst_x = 0;
        bool log_scale = fc->lo > 0 && fc->hi / fc->lo > 1e6f;
        const int N = 400000;
        for (int i = 0; i <= N; i++) {
            double t = (double)i / N;
            float x = log_scale ? (float)(fc->lo * pow(fc->hi / fc->lo, t)) : (float)(fc->lo + (fc->hi - fc->lo) * t);
            float got = fc->f(x);
            double want = fc->ref(x);
            double e = ulps(got, want);
            if (e > fc->max_ulps && fabs((double)got - want) <= fc->abs_tol) e = 0;
            if (e > worst) {
                worst = e;
                worst_x = x;
            }
        }
        printf("  %-12s worst %.0f ulp (at %.9g), bound %.0f\n", fc->name, worst, worst_x, fc->max_ulps);
        CHECK(worst <= fc->max_ulps);
    }
    /* pow: integer powers by squaring are exact where the result is representable */
    CHECK(zoo_powf(3.0f, 2.0f) == 9.0f && zoo_powf(-2.0f, 3.0f) == -8.0f && zoo_powf(2.0f, -2.0f) == 0.25f);
    CHECK(zoo_powf(4.0f, 0.5f) == 2.0f && zoo_powf(7.0f, 0.0f) == 1.0f);
    CHECK(isnan(zoo_powf(-2.0f, 0.5f)));
    double worst = 0;
    for (int i = 1; i < 20000; i++) {
        float v = 0.01f * (float)i, a = -2.5f + 0.37f * (float)(i % 17);
        if (floorf(a) == a) continue;
        double e = ulps(zoo_powf(v, a), pow(v, a));
        if (e > worst && fabs(pow(v, a)) < 1e30) worst = e;
    }
    /* e^(a ln v) carries ln's rounding times a ln v: about |a ln v| ulp */
    printf("  %-12s worst %.0f ulp, bound 32\n", "pow", worst);
    CHECK(worst <= 32);
}

TEST(functions_special_values) {
    float inf = INFINITY, nan = NAN;
    CHECK(isnan(zoo_expf(nan)) && zoo_expf(inf) == inf && zoo_expf(-inf) == 0.0f && zoo_expf(0.0f) == 1.0f);
    CHECK(zoo_expf(89.0f) == inf && zoo_expf(-104.0f) == 0.0f);
    /* results in the subnormal range come out right, not flushed */
    float sub = zoo_expf(-100.0f);
    CHECK(sub > 0.0f && ulps(sub, exp(-100.0)) <= 2);
    CHECK(isnan(zoo_logf(nan)) && isnan(zoo_logf(-1.0f)) && zoo_logf(0.0f) == -inf && zoo_logf(inf) == inf);
    CHECK(zoo_logf(1.0f) == 0.0f);
    CHECK(ulps(zoo_logf(1e-40f), log(1e-40f)) <= 2); /* a subnormal argument */
    CHECK(zoo_tanhf(inf) == 1.0f && zoo_tanhf(-inf) == -1.0f && zoo_tanhf(0.0f) == 0.0f && isnan(zoo_tanhf(nan)));
    CHECK(zoo_sigmoidf(-inf) == 0.0f && zoo_sigmoidf(inf) == 1.0f);
    CHECK(zoo_erff(inf) == 1.0f && zoo_erff(-inf) == -1.0f && zoo_erff(0.0f) == 0.0f);
    CHECK(zoo_cos2pif(0.0f) == 1.0f && zoo_cos2pif(0.5f) == -1.0f && fabsf(zoo_cos2pif(0.25f)) < 1e-7f);
}

/* ---------------------------------------------------------------- fast mode's functions */

typedef struct vec_case {
    const char *name;
    void (*f)(const float *x, float *y, int64_t n);
    double (*ref)(double);
    float lo, hi;
} vec_case;

static void v_exp(const float *x, float *y, int64_t n) { cpu_vunary(ZOO_UNARY_EXP, x, y, n, 0); }
static void v_log(const float *x, float *y, int64_t n) { cpu_vunary(ZOO_UNARY_LOG, x, y, n, 0); }
static void v_tanh(const float *x, float *y, int64_t n) { cpu_vunary(ZOO_UNARY_TANH, x, y, n, 0); }
static void v_sigmoid(const float *x, float *y, int64_t n) { cpu_vunary(ZOO_UNARY_SIGMOID, x, y, n, 0); }

/* every function within 2 ulp over its range, on a fine grid (log-spaced where the
 * range spans decades) and on random bit patterns inside the range */
TEST(vectorized_functions_accuracy) {
    const vec_case cases[] = {
        {"exp", v_exp, exp, -103.9f, 88.7f},
        {"exp near 0", v_exp, exp, -0.5f, 0.5f},
        {"exp subnormal", v_exp, exp, -103.9f, -87.0f},
        {"log", v_log, log, 1e-44f, 3e38f},
        {"log near 1", v_log, log, 0.7f, 1.4f},
        {"tanh", v_tanh, tanh, -10.0f, 10.0f},
        {"tanh near 0", v_tanh, tanh, -1e-3f, 1e-3f},
        {"sigmoid", v_sigmoid, r_sigmoid, -80.0f, 80.0f},
        {"erf", cpu_verf, erf, -5.0f, 5.0f},
        {"erf near 0", cpu_verf, erf, -1e-3f, 1e-3f},
    };
    const int64_t N = 1 << 19;
    float *x = malloc((size_t)N * sizeof *x), *y = malloc((size_t)N * sizeof *y);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const vec_case *vc = &cases[c];
        bool log_scale = vc->lo > 0 && vc->hi / vc->lo > 1e6f;
        for (int64_t i = 0; i < N / 2; i++) {
            double t = (double)i / (double)(N / 2 - 1);
            x[i] = log_scale ? (float)(vc->lo * pow(vc->hi / vc->lo, t)) : (float)(vc->lo + (vc->hi - vc->lo) * t);
        }
        for (int64_t i = N / 2; i < N; i++) { /* random floats in [lo, hi] */
            float v;
            do {
                uint32_t b = next_u32() ^ (next_u32() << 16);
                memcpy(&v, &b, 4);
            } while (!(v >= vc->lo && v <= vc->hi));
            x[i] = v;
        }
        vc->f(x, y, N);
        double worst = 0;
        float worst_x = 0;
        for (int64_t i = 0; i < N; i++) {
            double e = ulps(y[i], vc->ref(x[i]));
            if (e > worst) worst = e, worst_x = x[i];
        }
        printf("  fast %-14s worst %.0f ulp (at %.9g), bound 2\n", vc->name, worst, worst_x);
        CHECK(worst <= 2);
    }
    free(x);
    free(y);
}

TEST(vectorized_functions_special_values) {
    float inf = INFINITY, nan = NAN;
    float xs[] = {nan, inf, -inf, 0.0f, -0.0f, 89.0f, -104.0f, 1e-40f, -1.0f, 1.0f};
    enum { N = sizeof xs / sizeof xs[0] };
    float e[N], l[N], t[N], s[N], f[N];
    v_exp(xs, e, N);
    v_log(xs, l, N);
    v_tanh(xs, t, N);
    v_sigmoid(xs, s, N);
    cpu_verf(xs, f, N);
    CHECK(isnan(e[0]) && e[1] == inf && e[2] == 0.0f && e[3] == 1.0f && e[5] == inf && e[6] == 0.0f);
    CHECK(isnan(l[0]) && l[1] == inf && isnan(l[2]) && l[3] == -inf && l[4] == -inf && isnan(l[8]) && l[9] == 0.0f);
    CHECK(ulps(l[7], log(1e-40)) <= 2); /* a subnormal argument */
    CHECK(isnan(t[0]) && t[1] == 1.0f && t[2] == -1.0f && t[3] == 0.0f);
    CHECK(s[1] == 1.0f && s[2] == 0.0f && s[3] == 0.5f);
    CHECK(isnan(f[0]) && f[1] == 1.0f && f[2] == -1.0f && f[3] == 0.0f);
    /* pow: integer powers are exact where the result is representable, as exact mode's */
    float b[] = {3.0f, -2.0f, 2.0f, 0.0f}, p2[4], p3[4], pm2[4];
    cpu_vunary(ZOO_UNARY_POW, b, p2, 4, 2.0f);
    cpu_vunary(ZOO_UNARY_POW, b, p3, 4, 3.0f);
    cpu_vunary(ZOO_UNARY_POW, b, pm2, 4, -2.0f);
    CHECK(p2[0] == 9.0f && p3[1] == -8.0f && pm2[2] == 0.25f && pm2[3] == inf);
    for (int i = 0; i < 4; i++) CHECK(p3[i] == zoo_powf(b[i], 3.0f) && pm2[i] == zoo_powf(b[i], -2.0f));
}

int main(void) {
    RUN(sum_order);
    RUN(gemm_order);
    RUN(gemm_threads);
    RUN(functions_accuracy);
    RUN(functions_special_values);
    RUN(vectorized_functions_accuracy);
    RUN(vectorized_functions_special_values);
    TEST_EXIT();
}
