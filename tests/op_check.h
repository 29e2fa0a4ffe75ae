/* Helpers shared by the op tests (test_ops.c, test_conv.c): deterministic host data,
 * readable failure messages, host copies of tensors, and the gradient check that
 * compares zoo_backward with central finite differences. */
#ifndef ZOO_OP_CHECK_H
#define ZOO_OP_CHECK_H

#include "test.h"

#include "core/internal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* splitmix64 -> [0, 1); the test's own generator, independent of zoo's */
static inline double urand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static inline bool expect(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool expect(bool ok, const char *fmt, ...) {
    test_checks++;
    if (ok) return true;
    test_failures++;
    va_list ap;
    va_start(ap, fmt);
    fputs("check failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return false;
}

/* got (float) against want (double): |got - want| <= tol * (1 + |want|) everywhere */
static inline void expect_close(const char *what, const float *got, const double *want, int64_t n, double tol) {
    int64_t first = -1, bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i])))) {
            if (first < 0) first = i;
            bad++;
        }
    expect(bad == 0, "%s: %lld of %lld elements differ, first [%lld]: got %.9g, want %.9g", what, (long long)bad,
           (long long)n, (long long)(first < 0 ? 0 : first), first < 0 ? 0.0 : (double)got[first],
           first < 0 ? 0.0 : want[first]);
}

static inline void expect_shape(const char *what, const zoo_tensor *t, zoo_shape s) {
    char a[96], b[96];
    expect(zoo_shape_eq(t->shape, s), "%s: shape %s, want %s", what, zoo_shape_str(t->shape, a, sizeof a),
           zoo_shape_str(s, b, sizeof b));
}

/* a tensor's elements as host floats, freed with the current scope */
static inline float *host(const zoo_tensor *t) {
    float *h = zoo_scope_alloc((size_t)t->numel * sizeof *h);
    zoo_tensor_download(t, h);
    return h;
}

static inline void free_all(zoo_tensor **t, int n) {
    for (int i = 0; i < n; i++) zoo_tensor_free(t[i]);
}

/* builds the op's output from the inputs x (persistent; the ones that require grad
 * are checked) and whatever constants ctx holds */
typedef zoo_tensor *(*graph_fn)(zoo_tensor *const *x, const void *ctx);

#define GC_EPS 1e-2
#define GC_RTOL 1e-2
#define GC_ATOL 1e-3

/* sum(f(x) * r) in double on the host, with grad mode off */
static inline double projected_loss(graph_fn f, const void *ctx, zoo_tensor *const *x, const float *r) {
    zoo_scope_begin();
    bool old = zoo_set_grad_enabled(false);
    zoo_tensor *y = f(x, ctx);
    float *h = host(y);
    double s = 0.0;
    for (int64_t i = 0; i < y->numel; i++) s += (double)h[i] * (double)r[i];
    zoo_set_grad_enabled(old);
    zoo_scope_end();
    return s;
}

/* d(sum(f(x) * r))/dx from zoo_backward against central differences, for every
 * element of every input that requires grad. r is a fixed random projection shaped
 * like the output, so every output element contributes. */
static inline void gradcheck(const char *what, graph_fn f, const void *ctx, zoo_tensor *const *x, int nx) {
    zoo_scope_begin();
    zoo_tensor *y0 = f(x, ctx);
    zoo_shape ys = y0->shape;
    int64_t ny = y0->numel;
    zoo_scope_end();

    float *r = malloc((size_t)ny * sizeof *r);
    uint64_t rs = 0x5EED0000u + (uint64_t)ny;
    for (int64_t i = 0; i < ny; i++) r[i] = (float)(2.0 * urand(&rs) - 1.0);

    float *analytic[16] = {0};
    if (!expect(nx <= 16, "%s: at most 16 inputs", what)) nx = 16;
    zoo_scope_begin();
    for (int i = 0; i < nx; i++)
        if (x[i]->requires_grad) zoo_zero_grad(x[i]);
    zoo_tensor *loss = zoo_sum_all(zoo_mul(f(x, ctx), zoo_tensor_from_host(ys, r)));
    bool ok = expect(loss->requires_grad && loss->node != NULL, "%s: the output does not require grad", what);
    if (ok) zoo_backward(loss);
    for (int i = 0; ok && i < nx; i++) {
        if (!x[i]->requires_grad) continue;
        analytic[i] = calloc((size_t)x[i]->numel, sizeof(float));
        if (!x[i]->grad_zero) zoo_tensor_download(x[i]->grad, analytic[i]); /* else: no gradient reached it */
    }
    zoo_scope_end();

    for (int i = 0; ok && i < nx; i++) {
        if (!x[i]->requires_grad) continue;
        int64_t n = x[i]->numel, bad = 0, first = -1;
        double first_a = 0, first_n = 0;
        float *h = malloc((size_t)n * sizeof *h);
        zoo_tensor_download(x[i], h);
        for (int64_t j = 0; j < n; j++) {
            float orig = h[j], hp = orig + (float)GC_EPS, hm = orig - (float)GC_EPS;
            h[j] = hp;
            zoo_tensor_upload(x[i], h);
            double lp = projected_loss(f, ctx, x, r);
            h[j] = hm;
            zoo_tensor_upload(x[i], h);
            double lm = projected_loss(f, ctx, x, r);
            h[j] = orig;
            double num = (lp - lm) / ((double)hp - (double)hm); /* the step floats actually took */
            double ana = analytic[i][j];
            if (!(fabs(ana - num) <= GC_ATOL + GC_RTOL * fmax(fabs(ana), fabs(num)))) {
                if (first < 0) {
                    first = j;
                    first_a = ana;
                    first_n = num;
                }
                bad++;
            }
        }
        zoo_tensor_upload(x[i], h);
        expect(bad == 0, "%s: d/dx%d: %lld of %lld elements differ, first [%lld]: backward %.7g, finite differences %.7g",
               what, i, (long long)bad, (long long)n, (long long)first, first_a, first_n);
        free(h);
    }
    for (int i = 0; i < nx; i++) free(analytic[i]);
    free(r);
}

/* a persistent tensor holding v, with a gradient; the caller frees it */
static inline zoo_tensor *param(zoo_shape s, const float *v) {
    zoo_tensor *t = zoo_tensor_new_persistent(ZOO_F32, s);
    zoo_tensor_upload(t, v);
    zoo_tensor_enable_grad(t);
    return t;
}

/* the tests' data generator; each test file gives it its own seed with a definition
 * `static uint64_t data_rng = N;` (this is a tentative definition) */
static uint64_t data_rng;

/* distinct values spaced by step, shuffled: every max is unique by a margin */
static inline void fill_distinct(float *v, int64_t n, float step) {
    for (int64_t i = 0; i < n; i++) v[i] = (float)(i - n / 2) * step + 0.013f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(urand(&data_rng) * (double)(i + 1));
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static inline zoo_tensor *param_distinct(zoo_shape s, float step) {
    int64_t n = zoo_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    fill_distinct(v, n, step);
    zoo_tensor *t = param(s, v);
    free(v);
    return t;
}

/* runs body in a scope: an op in it must fail, returning NULL without a crash, with a
 * message naming needle in zoo_last_error(); the error is cleared afterwards */
static inline void expect_usage_error(const char *what, void (*body)(void), const char *needle) {
    zoo_clear_error();
    zoo_scope_begin();
    body();
    zoo_scope_end();
    expect(zoo_failed() && strstr(zoo_last_error(), needle), "%s: want a failure naming '%s'; got %s: %s", what,
           needle, zoo_failed() ? "failed" : "no failure", zoo_last_error());
    zoo_clear_error();
}

#endif
