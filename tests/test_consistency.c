/* The cross-backend consistency suite: every kernel of the backend vtable, called
 * directly through each backend's iface on tensors built here, against the CPU
 * backend in exact mode (backend.h's contract), on every backend in both modes:
 *   exact  bit for bit (NaNs compare equal whatever their payload, which differs by ISA)
 *   fast   NMSE <= 1e-7 per kernel and shape (ggml's test-backend-ops threshold), or the
 *          looser bound a row states with its reason; integer outputs equal
 * and every backend must repeat its own result bit for bit. It tests kernels, not ops:
 * no runtime, no scopes, no autograd. A vtable field with no row in the table fails the
 * suite. ZOO_TEST_LARGE=1 adds the large shapes (suite 'gpu'); ZOO_TEST_KERNELS=gemm,reduce
 * runs only those rows (the coverage checks still run). */
#include "test.h"

#include "backends/backend.h"
#ifdef ZOO_HAVE_VULKAN
#include "backends/vulkan/vulkan.h"
#endif

#include <float.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- shapes */

#define S1(a) {1, {a, 1, 1, 1}}
#define S2(a, b) {2, {a, b, 1, 1}}
#define S3(a, b, c) {3, {a, b, c, 1}}
#define S4(a, b, c, d) {4, {a, b, c, d}}

static zoo_shape shape2(int64_t a, int64_t b) { return (zoo_shape){2, {a, b, 1, 1}}; }
static zoo_shape shape3(int64_t a, int64_t b, int64_t c) { return (zoo_shape){3, {a, b, c, 1}}; }

static int64_t numel(zoo_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.d[i];
    return n;
}

/* "[3,67,129]"; a few rotating buffers so one printf can show several shapes */
static const char *fmt_shape(zoo_shape s) {
    static char bufs[8][64];
    static int next;
    char *b = bufs[next++ % 8];
    int k = snprintf(b, 64, "[");
    for (int i = 0; i < s.ndim; i++) k += snprintf(b + k, (size_t)(64 - k), i ? ",%lld" : "%lld", (long long)s.d[i]);
    snprintf(b + k, (size_t)(64 - k), "]");
    return b;
}

/* numpy broadcasting of right-aligned dims */
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

/* One shape to try for a kernel. What the fields mean is the kernel's own (see the
 * macros next to each case); unused ones stay 0. */
typedef struct shape_case {
    zoo_shape s[2];
    int64_t n[5];
    float p[2];
    zoo_conv2d_geom g; /* convolution and pooling; oh and ow are derived */
    bool large;        /* only with ZOO_TEST_LARGE=1 */
} shape_case;

/* ---------------------------------------------------------------- one run of a case */

#define MAX_TENSORS 12
#define MAX_OUTPUTS 6

typedef struct output {
    const char *what;
    zoo_dtype dtype;
    int64_t n;
    void *host;
} out_buf;

typedef struct result {
    char desc[160];
    bool skip; /* the shape does not apply to this variant (argmax over two axes) */
    out_buf out[MAX_OUTPUTS];
    int n_out;
} result;

/* A case builds its tensors on R->be, runs one kernel and names its outputs; the
 * driver downloads them. Inputs are persistent (iface.alloc), outputs come from the
 * arena (iface.arena_alloc) as activations do. */
typedef struct run {
    zoo_backend *be;
    uint64_t rng; /* host data; the same seed on every backend gives the same inputs */
    zoo_tensor *tensors[MAX_TENSORS];
    int n_tensors;
    zoo_tensor *kept[MAX_OUTPUTS];
    result *r;
} run;

/* splitmix64 -> [0, 1) */
static double urand(run *R) {
    uint64_t z = (R->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static float uni(run *R, float lo, float hi) { return (float)(lo + (hi - lo) * urand(R)); }

static void describe(run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void describe(run *R, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R->r->desc, sizeof R->r->desc, fmt, ap);
    va_end(ap);
}

static zoo_tensor *tensor(run *R, zoo_dtype dtype, zoo_shape s, bool scoped) {
    ZOO_ASSERT(R->n_tensors < MAX_TENSORS);
    zoo_tensor *t = calloc(1, sizeof *t);
    ZOO_ASSERT(t);
    t->shape = s;
    for (int i = s.ndim; i < ZOO_MAX_DIMS; i++) t->shape.d[i] = 1;
    t->numel = numel(s);
    t->dtype = dtype;
    t->persistent = !scoped;
    size_t bytes = (size_t)t->numel * 4;
    t->data = scoped ? R->be->iface.arena_alloc(R->be->ctx, bytes) : R->be->iface.alloc(R->be->ctx, bytes);
    ZOO_ASSERT(t->data);
    R->tensors[R->n_tensors++] = t;
    return t;
}

static void upload(run *R, zoo_tensor *t, const void *host) {
    R->be->iface.upload(R->be->ctx, t, host, (size_t)t->numel * 4, 0);
}

/* an input holding the given host values */
static zoo_tensor *input_values(run *R, zoo_shape s, const float *v) {
    zoo_tensor *t = tensor(R, ZOO_F32, s, false);
    upload(R, t, v);
    return t;
}

/* an input of uniform values in [lo, hi) */
static zoo_tensor *input(run *R, zoo_shape s, float lo, float hi) {
    int64_t n = numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = uni(R, lo, hi);
    zoo_tensor *t = input_values(R, s, v);
    free(v);
    return t;
}

/* int32 values in [lo, hi) */
static zoo_tensor *input_i32(run *R, zoo_shape s, int32_t lo, int32_t hi) {
    int64_t n = numel(s);
    int32_t *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (int32_t)(lo + (int64_t)(urand(R) * ((double)hi - (double)lo)));
    zoo_tensor *t = tensor(R, ZOO_I32, s, false);
    upload(R, t, v);
    free(v);
    return t;
}

/* An output: arena memory poisoned with all-ones bytes (NaN as float, -1 as int32),
 * so an element the kernel skips, or an output it reads before writing, shows up. */
static zoo_tensor *output_t(run *R, zoo_dtype dtype, zoo_shape s) {
    zoo_tensor *t = tensor(R, dtype, s, true);
    void *v = malloc((size_t)t->numel * 4);
    memset(v, 0xff, (size_t)t->numel * 4);
    upload(R, t, v);
    free(v);
    return t;
}

static zoo_tensor *output(run *R, zoo_shape s) { return output_t(R, ZOO_F32, s); }

/* names t as a result to compare */
static void keep(run *R, const char *what, zoo_tensor *t) {
    result *r = R->r;
    ZOO_ASSERT(r->n_out < MAX_OUTPUTS);
    R->kept[r->n_out] = t;
    r->out[r->n_out++] = (out_buf){.what = what, .dtype = t->dtype, .n = t->numel};
}

typedef void (*case_fn)(run *R, const shape_case *sc, int variant);

static void run_case(zoo_backend *be, case_fn fn, const shape_case *sc, int variant, uint64_t seed, result *r) {
    memset(r, 0, sizeof *r);
    run R = {.be = be, .rng = seed, .r = r};
    size_t mark = be->iface.arena_mark(be->ctx);
    fn(&R, sc, variant);
    be->iface.flush(be->ctx);
    be->iface.sync(be->ctx);
    for (int i = 0; i < r->n_out; i++) {
        r->out[i].host = malloc((size_t)r->out[i].n * 4);
        ZOO_ASSERT(r->out[i].host);
        be->iface.download(be->ctx, R.kept[i], r->out[i].host, (size_t)r->out[i].n * 4, 0);
    }
    for (int i = 0; i < R.n_tensors; i++) {
        if (R.tensors[i]->persistent) be->iface.free(be->ctx, R.tensors[i]->data);
        free(R.tensors[i]);
    }
    be->iface.arena_reset(be->ctx, mark);
}

static void result_free(result *r) {
    for (int i = 0; i < r->n_out; i++) free(r->out[i].host);
}

/* ---------------------------------------------------------------- host references */

/* y = f(x) in double, for the y that unary_backward reads */
static double unary_ref(zoo_unary_op op, double x, double a, double b) {
    switch (op) {
    case ZOO_UNARY_COPY: return x;
    case ZOO_UNARY_AFFINE: return a * x + b;
    case ZOO_UNARY_POW: return pow(x, a);
    case ZOO_UNARY_RELU: return x > 0 ? x : 0;
    case ZOO_UNARY_LEAKY_RELU: return x > 0 ? x : a * x;
    case ZOO_UNARY_TANH: return tanh(x);
    case ZOO_UNARY_SIGMOID: return 1 / (1 + exp(-x));
    case ZOO_UNARY_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ZOO_UNARY_SILU: return x / (1 + exp(-x));
    case ZOO_UNARY_EXP: return exp(x);
    case ZOO_UNARY_LOG: return log(x);
    case ZOO_UNARY_SQRT: return sqrt(x);
    case ZOO_UNARY_ABS: return fabs(x);
    default: ZOO_ASSERT(!"unary op without a reference in the test"); return 0;
    }
}

/* row-wise softmax or log-softmax of rows x cols values, in double */
static void softmax_ref(const float *x, float *y, int64_t rows, int64_t cols, bool log_) {
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + r * cols;
        double mx = p[0], s = 0;
        for (int64_t j = 1; j < cols; j++) mx = p[j] > mx ? p[j] : mx;
        for (int64_t j = 0; j < cols; j++) s += exp(p[j] - mx);
        for (int64_t j = 0; j < cols; j++)
            y[r * cols + j] = (float)(log_ ? p[j] - mx - log(s) : exp(p[j] - mx) / s);
    }
}

/* valid log-probabilities [rows, cols]: log-softmax of logits in [-4, 4) */
static zoo_tensor *input_logp(run *R, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) x[i] = uni(R, -4, 4);
    softmax_ref(x, y, rows, cols, true);
    zoo_tensor *t = input_values(R, shape2(rows, cols), y);
    free(x);
    free(y);
    return t;
}

/* ---------------------------------------------------------------- case: fill */

/* FILL(shape): variants f32 0, f32 -1.5, int32 7 */
#define FILL(a) {.s = {a}}
#define FILL_LARGE(a) {.s = {a}, .large = true}

static void case_fill(run *R, const shape_case *sc, int v) {
    static const float values[] = {0.0f, -1.5f, 7.0f};
    zoo_dtype dt = v == 2 ? ZOO_I32 : ZOO_F32;
    zoo_tensor *t = output_t(R, dt, sc->s[0]);
    describe(R, "%s %s value=%g", dt == ZOO_I32 ? "i32" : "f32", fmt_shape(sc->s[0]), values[v]);
    R->be->iface.fill(R->be->ctx, t, values[v]);
    keep(R, "t", t);
}

/* ---------------------------------------------------------------- case: gemm */

/* GEMM(batch_a, batch_b, m, k, n, alpha, beta): c [batch, m, n] = alpha op(a) op(b) + beta c.
 * Variants: (trans_a, trans_b) = 00, 01, 10, 11. With beta = 0, c starts as NaN: the
 * kernel must not read it (the core passes fresh arena memory, as BLAS allows). */
#define GEMM(ba, bb, m_, k_, n_, al, be) {.n = {ba, bb, m_, k_, n_}, .p = {al, be}}
#define GEMM_LARGE(ba, bb, m_, k_, n_, al, be) {.n = {ba, bb, m_, k_, n_}, .p = {al, be}, .large = true}

static zoo_shape mat(int64_t batch, int64_t rows, int64_t cols) {
    return batch == 1 ? shape2(rows, cols) : shape3(batch, rows, cols);
}

static void case_gemm(run *R, const shape_case *sc, int v) {
    bool ta = v >> 1, tb = v & 1;
    int64_t ba = sc->n[0], bb = sc->n[1], m = sc->n[2], k = sc->n[3], n = sc->n[4];
    int64_t batch = ba > bb ? ba : bb;
    float alpha = sc->p[0], beta = sc->p[1];
    zoo_shape as = mat(ba, ta ? k : m, ta ? m : k), bs = mat(bb, tb ? n : k, tb ? k : n), cs = mat(batch, m, n);
    zoo_tensor *a = input(R, as, -1, 1), *b = input(R, bs, -1, 1);
    zoo_tensor *c = beta != 0.0f ? tensor(R, ZOO_F32, cs, true) : output(R, cs);
    if (beta != 0.0f) {
        float *cv = malloc((size_t)numel(cs) * sizeof *cv);
        for (int64_t i = 0; i < numel(cs); i++) cv[i] = uni(R, -1, 1);
        upload(R, c, cv);
        free(cv);
    }
    char ab[40] = "";
    if (alpha != 1.0f || beta != 0.0f) snprintf(ab, sizeof ab, " alpha=%g beta=%g", alpha, beta);
    describe(R, "%sx%s ta=%d tb=%d%s", fmt_shape(as), fmt_shape(bs), ta, tb, ab);
    R->be->iface.gemm(R->be->ctx, a, b, c, ta, tb, alpha, beta);
    keep(R, "c", c);
}

/* ---------------------------------------------------------------- case: unary, unary_backward */

/* Every unary op with its parameters and an input range inside its domain; the
 * variants of the unary rows are the entries of this list. */
typedef struct unary_variant {
    zoo_unary_op op;
    const char *name;
    float a, b, lo, hi;
} unary_variant;

static const unary_variant unary_variants[] = {
    {ZOO_UNARY_COPY, "copy", 0, 0, -2, 2},
    {ZOO_UNARY_AFFINE, "affine", 1.5f, -0.25f, -2, 2},
    {ZOO_UNARY_POW, "pow", 2, 0, -2, 2},       /* the x*x path losses use */
    {ZOO_UNARY_POW, "pow", 3, 0, -2, 2},       /* odd power of negatives: (-2)^3 = -8, as torch.pow */
    {ZOO_UNARY_POW, "pow", 0.5f, 0, 0.1f, 4},
    {ZOO_UNARY_POW, "pow", -1.5f, 0, 0.25f, 4},
    {ZOO_UNARY_RELU, "relu", 0, 0, -2, 2},
    {ZOO_UNARY_LEAKY_RELU, "leaky_relu", 0.2f, 0, -2, 2},
    {ZOO_UNARY_TANH, "tanh", 0, 0, -6, 6},
    {ZOO_UNARY_SIGMOID, "sigmoid", 0, 0, -12, 12},
    {ZOO_UNARY_GELU, "gelu", 0, 0, -6, 6},
    {ZOO_UNARY_SILU, "silu", 0, 0, -12, 12},
    {ZOO_UNARY_EXP, "exp", 0, 0, -6, 6},
    {ZOO_UNARY_LOG, "log", 0, 0, 0.01f, 10},
    {ZOO_UNARY_SQRT, "sqrt", 0, 0, 0.01f, 10},
    {ZOO_UNARY_ABS, "abs", 0, 0, -2, 2},
};
#define N_UNARY_VARIANTS ((int)(sizeof unary_variants / sizeof unary_variants[0]))

/* UNARY(shape, in_place): in place means y is x, as the optimizer's gradient scaling does */
#define UNARY(a, inplace) {.s = {a}, .n = {inplace}}
#define UNARY_LARGE(a) {.s = {a}, .large = true}

static void unary_desc(run *R, const unary_variant *u, zoo_shape s, bool inplace) {
    char params[40] = "";
    if (u->op == ZOO_UNARY_AFFINE) snprintf(params, sizeof params, " a=%g b=%g", u->a, u->b);
    else if (u->op == ZOO_UNARY_POW || u->op == ZOO_UNARY_LEAKY_RELU) snprintf(params, sizeof params, " a=%g", u->a);
    describe(R, "%s%s %s%s", u->name, params, fmt_shape(s), inplace ? " in-place" : "");
}

static void case_unary(run *R, const shape_case *sc, int v) {
    const unary_variant *u = &unary_variants[v];
    bool inplace = sc->n[0];
    zoo_tensor *x = input(R, sc->s[0], u->lo, u->hi);
    zoo_tensor *y = inplace ? x : output(R, sc->s[0]);
    unary_desc(R, u, sc->s[0], inplace);
    R->be->iface.unary(R->be->ctx, u->op, x, y, u->a, u->b);
    keep(R, "y", y);
}

static void case_unary_backward(run *R, const shape_case *sc, int v) {
    const unary_variant *u = &unary_variants[v];
    int64_t n = numel(sc->s[0]);
    float *xv = malloc((size_t)n * sizeof *xv), *yv = malloc((size_t)n * sizeof *yv);
    for (int64_t i = 0; i < n; i++) {
        xv[i] = uni(R, u->lo, u->hi);
        yv[i] = (float)unary_ref(u->op, xv[i], u->a, u->b);
    }
    zoo_tensor *x = input_values(R, sc->s[0], xv), *y = input_values(R, sc->s[0], yv);
    zoo_tensor *dy = input(R, sc->s[0], -1, 1), *dx = output(R, sc->s[0]);
    free(xv);
    free(yv);
    unary_desc(R, u, sc->s[0], false);
    R->be->iface.unary_backward(R->be->ctx, u->op, x, y, dy, dx, u->a, u->b);
    keep(R, "dx", dx);
}

/* ---------------------------------------------------------------- case: binary */

static const char *const binary_names[] = {"add", "sub", "mul", "div", "eq"};

/* BINARY(a, b, in_place): out = broadcast(a, b); in place means out is a (a bias add) */
#define BINARY(a, b, inplace) {.s = {a, b}, .n = {inplace}}
#define BINARY_LARGE(a, b) {.s = {a, b}, .large = true}

/* eq needs equal pairs: a few values only; div needs divisors away from 0 */
static zoo_tensor *binary_operand(run *R, zoo_binary_op op, zoo_shape s, bool divisor) {
    if (op != ZOO_BINARY_EQ && !divisor) return input(R, s, -2, 2);
    int64_t n = numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        if (op == ZOO_BINARY_EQ) v[i] = (float)(int)(urand(R) * 5) * 0.5f - 1.0f;
        else v[i] = uni(R, 0.5f, 2) * (urand(R) < 0.5 ? -1.0f : 1.0f);
    }
    zoo_tensor *t = input_values(R, s, v);
    free(v);
    return t;
}

static void case_binary(run *R, const shape_case *sc, int v) {
    zoo_binary_op op = (zoo_binary_op)v;
    bool inplace = sc->n[0];
    zoo_shape os = broadcast(sc->s[0], sc->s[1]);
    ZOO_ASSERT(!inplace || numel(os) == numel(sc->s[0]));
    zoo_tensor *a = binary_operand(R, op, sc->s[0], false);
    zoo_tensor *b = binary_operand(R, op, sc->s[1], op == ZOO_BINARY_DIV);
    zoo_tensor *out = inplace ? a : output(R, os);
    describe(R, "%s %s %s -> %s%s", binary_names[v], fmt_shape(sc->s[0]), fmt_shape(sc->s[1]), fmt_shape(os),
             inplace ? " in-place" : "");
    R->be->iface.binary(R->be->ctx, op, a, b, out);
    keep(R, "out", out);
}

/* ---------------------------------------------------------------- case: correctly rounded / and sqrt */

/* Exact mode promises IEEE division and square root on every device (a GPU's own are
 * only within 2.5 and 3 ulp; shaders/exact.glsl rounds them from integers). These
 * rows feed binary div and unary sqrt every float32 class: zeros, infinities, NaN,
 * subnormals, the normal extremes, random bit patterns over every exponent (results
 * that overflow or fall to subnormals among them), and operands whose true result
 * lies within 1/1000 ulp of halfway between two floats. */
static const uint32_t special_bits[] = {
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x00000001, 0x80000001, 0x007fffff,
    0x00400000, 0x00000003, 0x00800000, 0x80800000, 0x00800001, 0x7f7fffff, 0xff7fffff, 0x7f000000,
    0x3f800000, 0xbf800000, 0x3f800001, 0x3f7fffff, 0x40400000, 0x40490fdb, 0x33800000, 0x4b800000,
};
#define N_SPECIAL ((int)(sizeof special_bits / sizeof special_bits[0]))

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t rand_bits(run *R) { return (uint32_t)(urand(R) * 4294967296.0); }

/* a float with a random 24-bit significand and exponent in [lo, hi] (unbiased) */
static float rand_normal(run *R, int lo, int hi) {
    int e = lo + (int)(urand(R) * (hi - lo + 1));
    uint32_t m = rand_bits(R) & 0x7fffff;
    return from_bits((uint32_t)(e + 127) << 23 | m) * (urand(R) < 0.5 ? -1.0f : 1.0f);
}

/* the distance of x from the nearest midpoint between floats near it, in ulps of float */
static double tie_distance(double x) {
    float f = (float)x;
    double ulp = (double)nextafterf(fabsf(f), INFINITY) - fabs((double)f);
    double frac = fabs(x - (double)f) / ulp; /* 0 .. 0.5 */
    return fabs(0.5 - frac);
}

/* SPECIALS(n): n operand pairs (n values for sqrt) */
#define SPECIALS(n_) {.n = {n_}}

static void case_div_specials(run *R, const shape_case *sc, int v) {
    (void)v;
    int64_t n = sc->n[0], i = 0;
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    for (int p = 0; p < N_SPECIAL && i < n; p++)
        for (int q = 0; q < N_SPECIAL && i < n; q++, i++) {
            a[i] = from_bits(special_bits[p]);
            b[i] = from_bits(special_bits[q]);
        }
    int64_t ties = 0;
    for (int tries = 0; tries < 400000 && i < n && ties < n / 4; tries++) { /* near-ties */
        float x = rand_normal(R, -20, 20), y = rand_normal(R, -20, 20);
        if (tie_distance((double)x / (double)y) < 1e-3) a[i] = x, b[i++] = y, ties++;
    }
    for (; i < n; i++) { /* any bits; every fourth a tiny over a huge, for subnormal quotients */
        a[i] = i % 4 ? from_bits(rand_bits(R)) : rand_normal(R, -126, -100);
        b[i] = i % 4 ? from_bits(rand_bits(R)) : rand_normal(R, 10, 40);
    }
    zoo_tensor *ta = input_values(R, (zoo_shape)S1(n), a), *tb = input_values(R, (zoo_shape)S1(n), b), *out = output(R, (zoo_shape)S1(n));
    describe(R, "div of special values [%lld] (%lld near-ties)", (long long)n, (long long)ties);
    R->be->iface.binary(R->be->ctx, ZOO_BINARY_DIV, ta, tb, out);
    keep(R, "out", out);
    free(a);
    free(b);
}

static void case_sqrt_specials(run *R, const shape_case *sc, int v) {
    (void)v;
    int64_t n = sc->n[0], i = 0;
    float *x = malloc((size_t)n * sizeof *x);
    for (; i < N_SPECIAL && i < n; i++) x[i] = from_bits(special_bits[i]);
    int64_t ties = 0;
    for (int tries = 0; tries < 400000 && i < n && ties < n / 4; tries++) {
        float t = fabsf(rand_normal(R, -126, 127));
        if (tie_distance(sqrt((double)t)) < 1e-3) x[i++] = t, ties++;
    }
    for (; i < n; i++) x[i] = i % 3 ? from_bits(rand_bits(R)) : from_bits(rand_bits(R) & 0x007fffff); /* + subnormals */
    zoo_tensor *tx = input_values(R, (zoo_shape)S1(n), x), *y = output(R, (zoo_shape)S1(n));
    describe(R, "sqrt of special values [%lld] (%lld near-ties)", (long long)n, (long long)ties);
    R->be->iface.unary(R->be->ctx, ZOO_UNARY_SQRT, tx, y, 0.0f, 0.0f);
    keep(R, "y", y);
    free(x);
}

/* ---------------------------------------------------------------- case: reduce */

static const char *const reduce_names[] = {"sum", "mean", "max", "argmax"};

/* REDUCE(x, out, ties): out's dims are x's or 1. Max and argmax get distinct values
 * (argmax is then unambiguous) unless ties is set: then values from {0, 1, 2}, and
 * argmax must pick the first index of the maximum. */
#define REDUCE(x, out, ties) {.s = {x, out}, .n = {ties}}
#define REDUCE_LARGE(x, out) {.s = {x, out}, .large = true}

static void case_reduce(run *R, const shape_case *sc, int v) {
    zoo_reduce_op op = (zoo_reduce_op)v;
    zoo_shape xs = sc->s[0], os = sc->s[1];
    int reduced = 0;
    for (int i = 0; i < xs.ndim; i++) reduced += os.d[i] != xs.d[i];
    describe(R, "%s %s -> %s%s", reduce_names[v], fmt_shape(xs), fmt_shape(os), sc->n[0] ? " ties" : "");
    if (op == ZOO_REDUCE_ARGMAX && reduced > 1) { /* argmax reduces one axis */
        R->r->skip = true;
        return;
    }
    int64_t n = numel(xs);
    float *xv = malloc((size_t)n * sizeof *xv);
    if (sc->n[0]) {
        for (int64_t i = 0; i < n; i++) xv[i] = (float)(int)(urand(R) * 3);
    } else if (op == ZOO_REDUCE_MAX || op == ZOO_REDUCE_ARGMAX) {
        for (int64_t i = 0; i < n; i++) xv[i] = (float)(i - n / 2) * 0.01f + 0.003f;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(urand(R) * (double)(i + 1));
            float t = xv[i];
            xv[i] = xv[j];
            xv[j] = t;
        }
    } else {
        /* a positive mean keeps sums away from 0, where any rounding is a large relative error */
        for (int64_t i = 0; i < n; i++) xv[i] = uni(R, -1, 2);
    }
    zoo_tensor *x = input_values(R, xs, xv);
    free(xv);
    zoo_tensor *out = output_t(R, op == ZOO_REDUCE_ARGMAX ? ZOO_I32 : ZOO_F32, os);
    R->be->iface.reduce(R->be->ctx, op, x, out);
    keep(R, "out", out);
}

/* ---------------------------------------------------------------- case: softmax, softmax_backward */

/* SOFTMAX(x, scale): logits uniform in [-scale, scale); variants: softmax, log_softmax */
#define SOFTMAX(a, scale) {.s = {a}, .p = {scale}}
#define SOFTMAX_LARGE(a, scale) {.s = {a}, .p = {scale}, .large = true}

static void case_softmax(run *R, const shape_case *sc, int v) {
    zoo_tensor *x = input(R, sc->s[0], -sc->p[0], sc->p[0]), *y = output(R, sc->s[0]);
    describe(R, "%s %s scale=%g", v ? "log" : "softmax", fmt_shape(sc->s[0]), sc->p[0]);
    R->be->iface.softmax(R->be->ctx, x, y, v == 1);
    keep(R, "y", y);
}

static void case_softmax_backward(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0];
    int64_t n = numel(s), cols = s.d[s.ndim - 1];
    float *xv = malloc((size_t)n * sizeof *xv), *yv = malloc((size_t)n * sizeof *yv);
    for (int64_t i = 0; i < n; i++) xv[i] = uni(R, -sc->p[0], sc->p[0]);
    softmax_ref(xv, yv, n / cols, cols, v == 1);
    zoo_tensor *y = input_values(R, s, yv), *dy = input(R, s, -1, 1), *dx = output(R, s);
    free(xv);
    free(yv);
    describe(R, "%s %s scale=%g", v ? "log" : "softmax", fmt_shape(s), sc->p[0]);
    R->be->iface.softmax_backward(R->be->ctx, y, dy, dx, v == 1);
    keep(R, "dx", dx);
}

/* ---------------------------------------------------------------- case: attention, attention_backward */

/* ATTENTION(b, t, heads, d): causal attention of qkv [b, t, 3 heads d] uniform in
 * [-2, 2); ATTENTION_FULL: every position attends to every position */
#define ATTENTION(b, t, h, d) {.n = {b, t, h, d}}
#define ATTENTION_FULL(b, t, h, d) {.n = {b, t, h, d, 1}}
#define ATTENTION_LARGE(b, t, h, d) {.n = {b, t, h, d}, .large = true}

static bool attention_causal(const shape_case *sc) { return sc->n[4] == 0; }

static zoo_tensor *attention_qkv(run *R, const shape_case *sc, float **host_qkv) {
    int64_t b = sc->n[0], t = sc->n[1], c = sc->n[2] * sc->n[3];
    zoo_shape s = shape3(b, t, 3 * c);
    float *v = malloc((size_t)numel(s) * sizeof *v);
    for (int64_t i = 0; i < numel(s); i++) v[i] = uni(R, -2, 2);
    zoo_tensor *qkv = input_values(R, s, v);
    if (host_qkv) *host_qkv = v;
    else free(v);
    return qkv;
}

static float attention_scale(const shape_case *sc) { return 1.0f / sqrtf((float)sc->n[3]); }

static void case_attention(run *R, const shape_case *sc, int v) {
    (void)v;
    int64_t b = sc->n[0], t = sc->n[1], h = sc->n[2], c = h * sc->n[3];
    zoo_tensor *qkv = attention_qkv(R, sc, NULL);
    zoo_tensor *y = output(R, shape3(b, t, c)), *stats = output(R, (zoo_shape)S4(b, h, t, 2));
    describe(R, "qkv %s heads=%lld%s", fmt_shape(qkv->shape), (long long)h, attention_causal(sc) ? " causal" : "");
    R->be->iface.attention(R->be->ctx, qkv, y, stats, h, attention_scale(sc), attention_causal(sc));
    keep(R, "y", y);
    keep(R, "stats", stats);
}

/* the backward's stats are the forward's: each query's max and sum, in double */
static void case_attention_backward(run *R, const shape_case *sc, int v) {
    (void)v;
    int64_t b = sc->n[0], t = sc->n[1], h = sc->n[2], d = sc->n[3], c = h * d;
    float *x, scale = attention_scale(sc);
    zoo_tensor *qkv = attention_qkv(R, sc, &x);
    float *st = malloc((size_t)(b * h * t * 2) * sizeof *st);
    double *s = malloc((size_t)t * sizeof *s);
    for (int64_t bh = 0; bh < b * h; bh++)
        for (int64_t i = 0; i < t; i++) {
            const float *q = x + ((bh / h) * t + i) * 3 * c + (bh % h) * d;
            double mx = -INFINITY, sum = 0;
            int64_t last = attention_causal(sc) ? i : t - 1;
            for (int64_t j = 0; j <= last; j++) {
                const float *k = x + ((bh / h) * t + j) * 3 * c + c + (bh % h) * d;
                s[j] = 0;
                for (int64_t e = 0; e < d; e++) s[j] += (double)q[e] * k[e];
                s[j] *= scale;
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j <= last; j++) sum += exp(s[j] - mx);
            st[(bh * t + i) * 2] = (float)mx, st[(bh * t + i) * 2 + 1] = (float)sum;
        }
    zoo_tensor *stats = input_values(R, (zoo_shape)S4(b, h, t, 2), st);
    free(x);
    free(st);
    free(s);
    zoo_tensor *dy = input(R, shape3(b, t, c), -1, 1), *dqkv = output(R, qkv->shape);
    describe(R, "qkv %s heads=%lld%s", fmt_shape(qkv->shape), (long long)h, attention_causal(sc) ? " causal" : "");
    R->be->iface.attention_backward(R->be->ctx, qkv, stats, dy, dqkv, h, scale, attention_causal(sc));
    keep(R, "dqkv", dqkv);
}

/* ---------------------------------------------------------------- case: nll, nll_backward, cross_entropy_backward */

/* CLASSES(n, c): n examples of c classes */
#define CLASSES(n_, c_) {.n = {n_, c_}}
#define CLASSES_LARGE(n_, c_) {.n = {n_, c_}, .large = true}

static void case_nll(run *R, const shape_case *sc, int v) {
    int64_t n = sc->n[0], c = sc->n[1];
    zoo_tensor *logp = input_logp(R, n, c), *labels = input_i32(R, (zoo_shape)S1(n), 0, (int32_t)c);
    zoo_tensor *losses = output(R, (zoo_shape)S1(n));
    describe(R, "logp %s labels [%lld]", fmt_shape(logp->shape), (long long)n);
    R->be->iface.nll(R->be->ctx, logp, labels, losses);
    keep(R, "losses", losses);
}

static void case_nll_backward(run *R, const shape_case *sc, int v) {
    int64_t n = sc->n[0], c = sc->n[1];
    zoo_tensor *labels = input_i32(R, (zoo_shape)S1(n), 0, (int32_t)c), *dl = input(R, (zoo_shape)S1(n), -1, 1);
    zoo_tensor *dlogp = output(R, shape2(n, c));
    describe(R, "dlogp %s labels [%lld]", fmt_shape(dlogp->shape), (long long)n);
    R->be->iface.nll_backward(R->be->ctx, labels, dl, dlogp);
    keep(R, "dlogp", dlogp);
}

static void case_cross_entropy_backward(run *R, const shape_case *sc, int v) {
    int64_t n = sc->n[0], c = sc->n[1];
    zoo_tensor *logp = input_logp(R, n, c), *labels = input_i32(R, (zoo_shape)S1(n), 0, (int32_t)c);
    zoo_tensor *dl = input(R, (zoo_shape)S1(n), -1, 1), *dx = output(R, shape2(n, c));
    describe(R, "logp %s labels [%lld]", fmt_shape(logp->shape), (long long)n);
    R->be->iface.cross_entropy_backward(R->be->ctx, logp, labels, dl, dx);
    keep(R, "dx", dx);
}

/* ---------------------------------------------------------------- case: permute */

/* PERMUTE(x, p0, p1, p2, p3): out.shape[i] = x.shape[perm[i]]; the first ndim entries count */
#define PERMUTE(x, p0, p1, p2, p3) {.s = {x}, .n = {p0, p1, p2, p3}}
#define PERMUTE_LARGE(x, p0, p1, p2, p3) {.s = {x}, .n = {p0, p1, p2, p3}, .large = true}

static void case_permute(run *R, const shape_case *sc, int v) {
    zoo_shape xs = sc->s[0], os = xs;
    int perm[ZOO_MAX_DIMS];
    char ps[32];
    int k = snprintf(ps, sizeof ps, "(");
    for (int i = 0; i < xs.ndim; i++) {
        perm[i] = (int)sc->n[i];
        os.d[i] = xs.d[perm[i]];
        k += snprintf(ps + k, sizeof ps - (size_t)k, i ? ",%d" : "%d", perm[i]);
    }
    snprintf(ps + k, sizeof ps - (size_t)k, ")");
    zoo_tensor *x = input(R, xs, -2, 2), *out = output(R, os);
    describe(R, "%s perm=%s -> %s", fmt_shape(xs), ps, fmt_shape(os));
    R->be->iface.permute(R->be->ctx, x, out, perm);
    keep(R, "out", out);
}

/* ---------------------------------------------------------------- case: rng_fill */

static const char *const rng_names[] = {"uniform", "normal", "bernoulli"};

/* RNG(shape, seed, offset): variants uniform(-2, 3), normal(0.5, 2), bernoulli(0.3, 1/0.7) */
#define RNG(a, seed, offset) {.s = {a}, .n = {(int64_t)(seed), offset}}
#define RNG_LARGE(a, seed, offset) {.s = {a}, .n = {(int64_t)(seed), offset}, .large = true}

static void case_rng_fill(run *R, const shape_case *sc, int v) {
    static const float params[3][2] = {{-2.0f, 3.0f}, {0.5f, 2.0f}, {0.3f, 1.0f / 0.7f}};
    uint64_t seed = (uint64_t)sc->n[0], offset = (uint64_t)sc->n[1];
    zoo_tensor *out = output(R, sc->s[0]);
    describe(R, "%s %s seed=%#llx offset=%#llx", rng_names[v], fmt_shape(sc->s[0]), (unsigned long long)seed,
             (unsigned long long)offset);
    R->be->iface.rng_fill(R->be->ctx, out, (zoo_rng_dist)v, seed, offset, params[v][0], params[v][1]);
    keep(R, "out", out);
}

/* ---------------------------------------------------------------- case: conv2d family */

/* CONV(n, cin, h, w, cout, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w) */
#define CONV(n_, ci, h_, w_, co, kh_, kw_, sh, sw, ph, pw, dh, dw)                                                  \
    {.g = {.n = n_, .cin = ci, .h = h_, .w = w_, .cout = co, .kh = kh_, .kw = kw_, .stride_h = sh, .stride_w = sw, \
           .pad_h = ph, .pad_w = pw, .dil_h = dh, .dil_w = dw}}
#define CONV_LARGE(n_, ci, h_, w_, co, kh_, kw_, sh, sw, ph, pw, dh, dw)                                            \
    {.g = {.n = n_, .cin = ci, .h = h_, .w = w_, .cout = co, .kh = kh_, .kw = kw_, .stride_h = sh, .stride_w = sw, \
           .pad_h = ph, .pad_w = pw, .dil_h = dh, .dil_w = dw},                                                   \
     .large = true}

/* the geometry with oh and ow filled in as the header's formula says */
static zoo_conv2d_geom geom(const shape_case *sc) {
    zoo_conv2d_geom g = sc->g;
    g.oh = (g.h + 2 * g.pad_h - g.dil_h * (g.kh - 1) - 1) / g.stride_h + 1;
    g.ow = (g.w + 2 * g.pad_w - g.dil_w * (g.kw - 1) - 1) / g.stride_w + 1;
    ZOO_ASSERT(g.oh >= 1 && g.ow >= 1);
    return g;
}

static zoo_shape shape4(int64_t a, int64_t b, int64_t c, int64_t d) { return (zoo_shape){4, {a, b, c, d}}; }
static zoo_shape conv_x(const zoo_conv2d_geom *g) { return shape4(g->n, g->cin, g->h, g->w); }
static zoo_shape conv_y(const zoo_conv2d_geom *g) { return shape4(g->n, g->cout, g->oh, g->ow); }
static zoo_shape conv_w(const zoo_conv2d_geom *g) { return shape4(g->cout, g->cin, g->kh, g->kw); }

/* the geometry in conv2d's direction whatever the kernel: x, w, stride, pad, dilation, y */
static void conv_desc(run *R, const zoo_conv2d_geom *g, const char *extra) {
    describe(R, "x%s w%s s=%d,%d p=%d,%d d=%d,%d y%s%s", fmt_shape(conv_x(g)), fmt_shape(conv_w(g)), g->stride_h,
             g->stride_w, g->pad_h, g->pad_w, g->dil_h, g->dil_w, fmt_shape(conv_y(g)), extra);
}

/* variants: without, with bias */
static void case_conv2d(run *R, const shape_case *sc, int v) {
    zoo_conv2d_geom g = geom(sc);
    zoo_tensor *x = input(R, conv_x(&g), -1, 1), *w = input(R, conv_w(&g), -1, 1);
    zoo_tensor *bias = v ? input(R, (zoo_shape)S1(g.cout), -1, 1) : NULL, *y = output(R, conv_y(&g));
    conv_desc(R, &g, v ? " bias" : "");
    R->be->iface.conv2d(R->be->ctx, x, w, bias, y, &g);
    keep(R, "y", y);
}

/* variants: without, with bias [cin] (conv_transpose2d's) */
static void case_conv2d_backward_input(run *R, const shape_case *sc, int v) {
    zoo_conv2d_geom g = geom(sc);
    zoo_tensor *dy = input(R, conv_y(&g), -1, 1), *w = input(R, conv_w(&g), -1, 1);
    zoo_tensor *bias = v ? input(R, (zoo_shape)S1(g.cin), -1, 1) : NULL, *dx = output(R, conv_x(&g));
    conv_desc(R, &g, v ? " bias" : "");
    R->be->iface.conv2d_backward_input(R->be->ctx, dy, w, bias, dx, &g);
    keep(R, "dx", dx);
}

/* variants: dw and db, dw only, db only */
static void case_conv2d_backward_weight(run *R, const shape_case *sc, int v) {
    static const char *const names[] = {" dw db", " dw", " db"};
    zoo_conv2d_geom g = geom(sc);
    zoo_tensor *x = input(R, conv_x(&g), -1, 1), *dy = input(R, conv_y(&g), -1, 1);
    zoo_tensor *dw = v != 2 ? output(R, conv_w(&g)) : NULL, *db = v != 1 ? output(R, (zoo_shape)S1(g.cout)) : NULL;
    conv_desc(R, &g, names[v]);
    R->be->iface.conv2d_backward_weight(R->be->ctx, x, dy, dw, db, &g);
    if (dw) keep(R, "dw", dw);
    if (db) keep(R, "db", db);
}

static const char *const pool_names[] = {"max", "avg"};

/* POOL(n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ties): ties draws max-pool
 * inputs from {0, 1, 2}, so the first maximum in window order must win */
#define POOL(n_, c_, h_, w_, kh_, kw_, sh, sw, ph, pw, ties)                                                        \
    {.g = {.n = n_, .cin = c_, .h = h_, .w = w_, .cout = c_, .kh = kh_, .kw = kw_, .stride_h = sh, .stride_w = sw, \
           .pad_h = ph, .pad_w = pw, .dil_h = 1, .dil_w = 1},                                                     \
     .n = {ties}}
#define POOL_LARGE(n_, c_, h_, w_, kh_, kw_, sh, sw, ph, pw)                                                        \
    {.g = {.n = n_, .cin = c_, .h = h_, .w = w_, .cout = c_, .kh = kh_, .kw = kw_, .stride_h = sh, .stride_w = sw, \
           .pad_h = ph, .pad_w = pw, .dil_h = 1, .dil_w = 1},                                                     \
     .large = true}

static void pool_desc(run *R, zoo_pool_op op, const zoo_conv2d_geom *g, bool ties) {
    describe(R, "%s %s k=%d,%d s=%d,%d p=%d,%d -> %s%s", pool_names[op], fmt_shape(conv_x(g)), g->kh, g->kw,
             g->stride_h, g->stride_w, g->pad_h, g->pad_w, fmt_shape(conv_y(g)), ties ? " ties" : "");
}

/* n distinct values spaced by step, shuffled (unique maxima), or values from {0, 1, 2} */
static float *distinct_values(run *R, int64_t n, bool ties) {
    float *v = malloc((size_t)n * sizeof *v);
    if (ties) {
        for (int64_t i = 0; i < n; i++) v[i] = (float)(int)(urand(R) * 3);
        return v;
    }
    for (int64_t i = 0; i < n; i++) v[i] = (float)(i - n / 2) * 0.01f + 0.003f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(urand(R) * (double)(i + 1));
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    return v;
}

/* variants: max, avg */
static void case_pool2d(run *R, const shape_case *sc, int v) {
    zoo_pool_op op = (zoo_pool_op)v;
    zoo_conv2d_geom g = geom(sc);
    float *xv = distinct_values(R, numel(conv_x(&g)), sc->n[0]);
    zoo_tensor *x = input_values(R, conv_x(&g), xv), *y = output(R, conv_y(&g));
    free(xv);
    zoo_tensor *idx = op == ZOO_POOL_MAX ? output_t(R, ZOO_I32, conv_y(&g)) : NULL;
    pool_desc(R, op, &g, sc->n[0]);
    R->be->iface.pool2d(R->be->ctx, op, x, y, idx, &g);
    keep(R, "y", y);
    if (idx) keep(R, "idx", idx);
}

/* max: idx holds, per output, a random position inside its window and inside x, as
 * pool2d could have chosen */
static zoo_tensor *random_pool_idx(run *R, const zoo_conv2d_geom *g) {
    int64_t n = numel(conv_y(g));
    int32_t *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        int64_t ox = i % g->ow, oy = i / g->ow % g->oh;
        int32_t iy, ix;
        do {
            iy = (int32_t)(oy * g->stride_h - g->pad_h) + (int32_t)(urand(R) * g->kh);
            ix = (int32_t)(ox * g->stride_w - g->pad_w) + (int32_t)(urand(R) * g->kw);
        } while (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w);
        v[i] = iy * g->w + ix;
    }
    zoo_tensor *t = tensor(R, ZOO_I32, conv_y(g), false);
    upload(R, t, v);
    free(v);
    return t;
}

static void case_pool2d_backward(run *R, const shape_case *sc, int v) {
    zoo_pool_op op = (zoo_pool_op)v;
    zoo_conv2d_geom g = geom(sc);
    zoo_tensor *dy = input(R, conv_y(&g), -1, 1), *idx = op == ZOO_POOL_MAX ? random_pool_idx(R, &g) : NULL;
    zoo_tensor *dx = output(R, conv_x(&g));
    pool_desc(R, op, &g, false);
    R->be->iface.pool2d_backward(R->be->ctx, op, dy, idx, dx, &g);
    keep(R, "dx", dx);
}

/* ---------------------------------------------------------------- case: batchnorm, batchnorm_backward */

/* BATCHNORM(x): x [n, c, ...], normalized per channel over everything else */
#define BATCHNORM(x) {.s = {x}}
#define BATCHNORM_LARGE(x) {.s = {x}, .large = true}

static const struct {
    const char *name;
    bool training, affine, running;
} batchnorm_variants[] = {
    {"train affine running", true, true, true},
    {"train plain", true, false, false},
    {"eval affine", false, true, true},
    {"eval plain", false, false, true},
};

/* x with a different mean and spread per channel, as activations have */
static float *channel_values(run *R, zoo_shape s) {
    int64_t n = numel(s), c = s.d[1], inner = n / (s.d[0] * c);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = i / inner % c;
        v[i] = (float)ch * 0.3f - 0.5f + uni(R, -1, 1) * (1.0f + 0.1f * (float)ch);
    }
    return v;
}

static zoo_shape channels(zoo_shape x) { return (zoo_shape)S1(x.d[1]); }

static void case_batchnorm(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0], cs = channels(s);
    bool training = batchnorm_variants[v].training, affine = batchnorm_variants[v].affine;
    float *xv = channel_values(R, s);
    zoo_tensor *x = input_values(R, s, xv);
    free(xv);
    zoo_tensor *gamma = affine ? input(R, cs, 0.5f, 1.5f) : NULL, *beta = affine ? input(R, cs, -1, 1) : NULL;
    zoo_tensor *rm = NULL, *rv = NULL;
    if (batchnorm_variants[v].running) {
        rm = input(R, cs, -0.5f, 0.5f);
        rv = input(R, cs, 0.5f, 2);
    }
    zoo_tensor *y = output(R, s), *sm = output(R, cs), *si = output(R, cs);
    zoo_batchnorm_params p = {.momentum = 0.1f, .eps = 1e-5f, .training = training};
    describe(R, "%s %s", batchnorm_variants[v].name, fmt_shape(s));
    R->be->iface.batchnorm(R->be->ctx, x, gamma, beta, rm, rv, y, sm, si, &p);
    keep(R, "y", y);
    keep(R, "save_mean", sm);
    keep(R, "save_invstd", si);
    if (rm && training) {
        keep(R, "running_mean", rm);
        keep(R, "running_var", rv);
    }
}

static const struct {
    const char *name;
    bool training, gamma, dx, dparams;
} batchnorm_backward_variants[] = {
    {"train affine", true, true, true, true},
    {"train plain", true, false, true, true},
    {"train dx only", true, true, true, false},
    {"train dgamma dbeta only", true, true, false, true},
    {"eval affine", false, true, true, true},
};

static void case_batchnorm_backward(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0], cs = channels(s);
    int64_t c = s.d[1], n = numel(s), inner = n / (s.d[0] * c);
    bool training = batchnorm_backward_variants[v].training;
    float *xv = channel_values(R, s), *mean = malloc((size_t)c * sizeof *mean);
    float *invstd = malloc((size_t)c * sizeof *invstd);
    double *s1 = calloc((size_t)c, sizeof *s1), *s2 = calloc((size_t)c, sizeof *s2), m = (double)(n / c);
    for (int64_t i = 0; i < n; i++) s1[i / inner % c] += xv[i];
    for (int64_t i = 0; i < n; i++) {
        double d = xv[i] - s1[i / inner % c] / m;
        s2[i / inner % c] += d * d;
    }
    /* what batchnorm saved: the batch's statistics in training, running ones in eval */
    for (int64_t ch = 0; ch < c; ch++) {
        mean[ch] = training ? (float)(s1[ch] / m) : uni(R, -0.5f, 0.5f);
        invstd[ch] = (float)(1.0 / sqrt((training ? s2[ch] / m : uni(R, 0.5f, 2)) + 1e-5));
    }
    free(s1);
    free(s2);
    zoo_tensor *x = input_values(R, s, xv), *dy = input(R, s, -1, 1);
    zoo_tensor *sm = input_values(R, cs, mean), *si = input_values(R, cs, invstd);
    free(xv);
    free(mean);
    free(invstd);
    zoo_tensor *gamma = batchnorm_backward_variants[v].gamma ? input(R, cs, 0.5f, 1.5f) : NULL;
    zoo_tensor *dx = batchnorm_backward_variants[v].dx ? output(R, s) : NULL;
    bool dp = batchnorm_backward_variants[v].dparams;
    zoo_tensor *dgamma = dp ? output(R, cs) : NULL, *dbeta = dp ? output(R, cs) : NULL;
    zoo_batchnorm_params p = {.momentum = 0.1f, .eps = 1e-5f, .training = training};
    describe(R, "%s %s", batchnorm_backward_variants[v].name, fmt_shape(s));
    R->be->iface.batchnorm_backward(R->be->ctx, x, dy, gamma, sm, si, dx, dgamma, dbeta, &p);
    if (dx) keep(R, "dx", dx);
    if (dgamma) keep(R, "dgamma", dgamma);
    if (dbeta) keep(R, "dbeta", dbeta);
}

/* ---------------------------------------------------------------- case: layernorm, layernorm_backward */

/* LAYERNORM(x): x [..., d], normalized over the last dim; GROUPNORM(x, groups): x [n, c,
 * ...] normalized over each sample's groups of channels (n[0] = groups) */
#define LAYERNORM(x) {.s = {x}}
#define LAYERNORM_LARGE(x) {.s = {x}, .large = true}
#define GROUPNORM(x, groups) {.s = {x}, .n = {groups}}
#define GROUPNORM_LARGE(x, groups) {.s = {x}, .n = {groups}, .large = true}

static const struct {
    const char *name;
    bool gamma, beta;
} layernorm_variants[] = {
    {"affine", true, true},
    {"weight only", true, false},
    {"bias only", false, true},
    {"plain", false, false},
};

/* x with a different mean and spread per row, as activations have */
static float *row_values(run *R, zoo_shape s, int64_t d) {
    int64_t n = numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i / d;
        v[i] = (float)(r % 5) * 0.7f - 1.0f + uni(R, -1, 1) * (1.0f + 0.3f * (float)(r % 3));
    }
    return v;
}

/* layer norm's d and [d], or group norm's d and [c], and the rows */
static void norm_shapes(const shape_case *sc, int64_t *d, zoo_shape *params, zoo_shape *rows) {
    zoo_shape s = sc->s[0];
    int64_t groups = sc->n[0];
    *d = groups ? numel(s) / (s.d[0] * groups) : s.d[s.ndim - 1];
    *params = (zoo_shape)S1(groups ? s.d[1] : s.d[s.ndim - 1]);
    *rows = (zoo_shape)S1(numel(s) / *d);
}

/* "" for layer norm, " groups=G" for group norm */
static const char *norm_groups(const shape_case *sc) {
    static char buf[32];
    if (!sc->n[0]) return "";
    snprintf(buf, sizeof buf, " groups=%lld", (long long)sc->n[0]);
    return buf;
}

static void case_layernorm(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0], ds, rs;
    int64_t d;
    norm_shapes(sc, &d, &ds, &rs);
    float *xv = row_values(R, s, d);
    zoo_tensor *x = input_values(R, s, xv);
    free(xv);
    zoo_tensor *gamma = layernorm_variants[v].gamma ? input(R, ds, 0.5f, 1.5f) : NULL;
    zoo_tensor *beta = layernorm_variants[v].beta ? input(R, ds, -1, 1) : NULL;
    zoo_tensor *y = output(R, s), *mean = output(R, rs), *rstd = output(R, rs);
    describe(R, "%s %s%s", layernorm_variants[v].name, fmt_shape(s), norm_groups(sc));
    R->be->iface.layernorm(R->be->ctx, x, sc->n[0], gamma, beta, y, mean, rstd, 1e-5f);
    keep(R, "y", y);
    keep(R, "mean", mean);
    keep(R, "rstd", rstd);
}

static const struct {
    const char *name;
    bool gamma, dx, dgamma, dbeta;
} layernorm_backward_variants[] = {
    {"affine", true, true, true, true},
    {"plain", false, true, true, true},
    {"dx only", true, true, false, false},
    {"dgamma only", true, false, true, false},
    {"dbeta only", false, false, false, true},
};

static void case_layernorm_backward(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0], ds, rs;
    int64_t d;
    norm_shapes(sc, &d, &ds, &rs);
    int64_t rows = rs.d[0];
    float *xv = row_values(R, s, d), *mean = malloc((size_t)rows * sizeof *mean);
    float *rstd = malloc((size_t)rows * sizeof *rstd);
    /* what layernorm saved, from double sums */
    for (int64_t r = 0; r < rows; r++) {
        double m = 0, q = 0;
        for (int64_t j = 0; j < d; j++) m += xv[r * d + j];
        m /= (double)d;
        for (int64_t j = 0; j < d; j++) q += (xv[r * d + j] - m) * (xv[r * d + j] - m);
        mean[r] = (float)m;
        rstd[r] = (float)(1.0 / sqrt(q / (double)d + 1e-5));
    }
    zoo_tensor *x = input_values(R, s, xv), *dy = input(R, s, -1, 1);
    zoo_tensor *m = input_values(R, rs, mean), *rsd = input_values(R, rs, rstd);
    free(xv);
    free(mean);
    free(rstd);
    zoo_tensor *gamma = layernorm_backward_variants[v].gamma ? input(R, ds, 0.5f, 1.5f) : NULL;
    zoo_tensor *dx = layernorm_backward_variants[v].dx ? output(R, s) : NULL;
    zoo_tensor *dgamma = layernorm_backward_variants[v].dgamma ? output(R, ds) : NULL;
    zoo_tensor *dbeta = layernorm_backward_variants[v].dbeta ? output(R, ds) : NULL;
    describe(R, "%s %s%s", layernorm_backward_variants[v].name, fmt_shape(s), norm_groups(sc));
    R->be->iface.layernorm_backward(R->be->ctx, x, sc->n[0], dy, gamma, m, rsd, dx, dgamma, dbeta);
    if (dx) keep(R, "dx", dx);
    if (dgamma) keep(R, "dgamma", dgamma);
    if (dbeta) keep(R, "dbeta", dbeta);
}

/* ---------------------------------------------------------------- case: sgd_update, adam_update */

/* OPTIM(shape): the variants are the optimizer settings below */
#define OPTIM(a) {.s = {a}}
#define OPTIM_LARGE(a) {.s = {a}, .large = true}

static const struct {
    const char *name;
    zoo_sgd_params p;
    bool buffer;
} sgd_variants[] = {
    {"plain", {.lr = 0.1f}, false},
    {"momentum first", {.lr = 0.1f, .momentum = 0.9f, .first = true}, true},
    {"momentum dampening wd", {.lr = 0.1f, .momentum = 0.9f, .dampening = 0.1f, .weight_decay = 1e-2f}, true},
    {"nesterov wd", {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 1e-2f, .nesterov = true}, true},
};

static void case_sgd_update(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0];
    zoo_tensor *w = input(R, s, -1, 1), *g = input(R, s, -1, 1);
    zoo_tensor *buf = sgd_variants[v].buffer ? input(R, s, -0.5f, 0.5f) : NULL;
    describe(R, "%s %s", sgd_variants[v].name, fmt_shape(s));
    R->be->iface.sgd_update(R->be->ctx, w, g, buf, &sgd_variants[v].p);
    keep(R, "param", w);
    if (buf) keep(R, "momentum", buf);
}

static const struct {
    const char *name;
    zoo_adam_params p;
} adam_variants[] = {
    {"adam step 1", {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .step = 1}},
    {"adam wd step 10", {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f, .step = 10}},
    {"adamw step 10",
     {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f, .decoupled = true, .step = 10}},
};

static void case_adam_update(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0];
    zoo_tensor *w = input(R, s, -1, 1), *g = input(R, s, -1, 1);
    zoo_tensor *m = input(R, s, -0.1f, 0.1f), *vv = input(R, s, 0, 0.01f);
    describe(R, "%s %s", adam_variants[v].name, fmt_shape(s));
    R->be->iface.adam_update(R->be->ctx, w, g, m, vv, &adam_variants[v].p);
    keep(R, "param", w);
    keep(R, "exp_avg", m);
    keep(R, "exp_avg_sq", vv);
}

/* ---------------------------------------------------------------- case: axpby */

static const float axpby_variants[][2] = {{0.001f, 0.999f}, {-1.5f, 2.0f}}; /* an EMA step; any a, b */

static void case_axpby(run *R, const shape_case *sc, int v) {
    zoo_shape s = sc->s[0];
    zoo_tensor *x = input(R, s, -1, 1), *y = input(R, s, -1, 1);
    describe(R, "a=%g b=%g %s", axpby_variants[v][0], axpby_variants[v][1], fmt_shape(s));
    R->be->iface.axpby(R->be->ctx, x, y, axpby_variants[v][0], axpby_variants[v][1]);
    keep(R, "y", y);
}

/* ---------------------------------------------------------------- case: copy_box */

/* BOX(src, dst, i): copy boxes[i] from a src-shaped tensor into a dst-shaped one whose
 * other elements must keep their values; variants float and int32 (every bit pattern) */
#define BOX(src, dst, i) {.s = {src, dst}, .n = {i}}
#define BOX_LARGE(src, dst, i) {.s = {src, dst}, .n = {i}, .large = true}

static const zoo_box boxes[] = {
    /* 0: slice of axis 1, [3, 67, 5] elements 10..29 -> [3, 20, 5] */
    {{1, 3, 20, 5}, 50, {0, 335, 5, 1}, 0, {0, 100, 5, 1}},
    /* 1: concat's second piece, [2, 7, 9] into [2, 10, 9] at 3 */
    {{1, 2, 7, 9}, 0, {0, 63, 9, 1}, 27, {0, 90, 9, 1}},
    /* 2: nearest upsampling by 2, 30 rows of 7 -> [30, 2, 7, 2] (src strides 0 repeat) */
    {{30, 2, 7, 2}, 0, {7, 0, 1, 0}, 0, {28, 14, 2, 1}},
    /* 3: a transpose, [5, 9] -> [9, 5] */
    {{1, 1, 9, 5}, 0, {0, 0, 1, 9}, 0, {0, 0, 5, 1}},
    /* 4: a pad's interior, [4, 6, 6] into [4, 8, 8] at (1, 1) */
    {{1, 4, 6, 6}, 0, {0, 36, 6, 1}, 9, {0, 64, 8, 1}},
    /* 5: channels 100..227 of [16, 257, 33] (above the parallel threshold) */
    {{1, 16, 128, 33}, 3300, {0, 8481, 33, 1}, 0, {0, 4224, 33, 1}},
    /* 6: the large case: half the channels of [64, 128, 1024] */
    {{1, 64, 64, 1024}, 65536, {0, 131072, 1024, 1}, 0, {0, 65536, 1024, 1}},
};

static void case_copy_box(run *R, const shape_case *sc, int v) {
    const zoo_box *b = &boxes[sc->n[0]];
    zoo_tensor *src = v ? input_i32(R, sc->s[0], INT32_MIN, INT32_MAX) : input(R, sc->s[0], -2, 2);
    /* a destination of values, not poison: what the box leaves out must stay as it was */
    zoo_tensor *dst = v ? input_i32(R, sc->s[1], INT32_MIN, INT32_MAX) : input(R, sc->s[1], -2, 2);
    describe(R, "%s box %lld %s -> %s", v ? "int32" : "float", (long long)sc->n[0], fmt_shape(sc->s[0]),
             fmt_shape(sc->s[1]));
    R->be->iface.copy_box(R->be->ctx, src, dst, b);
    keep(R, "dst", dst);
}

/* ---------------------------------------------------------------- case: embedding, embedding_backward */

/* EMBED(v, d, n): a [v, d] table, n ids drawn from [0, v) (repeats and unused rows both) */
#define EMBED(v_, d_, n_) {.n = {v_, d_, n_}}
#define EMBED_LARGE(v_, d_, n_) {.n = {v_, d_, n_}, .large = true}

static void case_embedding(run *R, const shape_case *sc, int v) {
    int64_t nv = sc->n[0], d = sc->n[1], n = sc->n[2];
    zoo_tensor *w = input(R, shape2(nv, d), -1, 1), *ids = input_i32(R, (zoo_shape)S1(n), 0, (int32_t)nv);
    zoo_tensor *out = output(R, shape2(n, d));
    describe(R, "weight %s ids [%lld]", fmt_shape(w->shape), (long long)n);
    R->be->iface.embedding(R->be->ctx, w, ids, out);
    keep(R, "out", out);
}

static void case_embedding_backward(run *R, const shape_case *sc, int v) {
    int64_t nv = sc->n[0], d = sc->n[1], n = sc->n[2];
    zoo_tensor *ids = input_i32(R, (zoo_shape)S1(n), 0, (int32_t)nv), *dy = input(R, shape2(n, d), -1, 1);
    zoo_tensor *dw = output(R, shape2(nv, d));
    describe(R, "dw %s ids [%lld]", fmt_shape(dw->shape), (long long)n);
    R->be->iface.embedding_backward(R->be->ctx, ids, dy, dw);
    keep(R, "dw", dw);
}

/* ---------------------------------------------------------------- the table */

/* Sizes around 64 (a common workgroup size) and primes, dims of 1, every broadcasting
 * pattern the CPU backend has a separate path for, and one case above the CPU's
 * parallel threshold (32768 elements) per kernel. */

static const shape_case fill_shapes[] = {
    FILL(S1(1)), FILL(S1(67)), FILL(S2(3, 67)), FILL(S4(2, 3, 5, 7)), FILL(S2(300, 257)), FILL_LARGE(S1(4000037)),
};

static const shape_case gemm_shapes[] = {
    GEMM(1, 1, 1, 1, 1, 1, 0),        GEMM(1, 1, 67, 129, 33, 1, 0),   GEMM(3, 3, 67, 129, 33, 1, 0),
    GEMM(3, 1, 67, 129, 33, 1, 0),    GEMM(1, 3, 67, 129, 33, 1, 0),   GEMM(1, 1, 1, 129, 33, 1, 0),
    GEMM(1, 1, 67, 129, 1, 1, 0),     GEMM(1, 1, 67, 1, 33, 1, 0),     GEMM(1, 1, 64, 64, 64, 1, 0),
    GEMM(1, 1, 65, 63, 17, 1, 0),     GEMM(2, 2, 31, 17, 65, 0.5f, 1), GEMM(1, 1, 32, 784, 64, 1, 0),
    GEMM(2, 1, 257, 300, 129, 1, 0),  GEMM_LARGE(1, 1, 1000, 784, 256, 1, 0),
    GEMM_LARGE(4, 4, 511, 513, 257, 1, 1),
};

static const shape_case unary_shapes[] = {
    UNARY(S1(1), 0),      UNARY(S1(7), 0),  UNARY(S1(64), 0),          UNARY(S1(65), 0),
    UNARY(S2(3, 67), 0),  UNARY(S2(3, 67), 1), UNARY(S4(2, 3, 5, 7), 0), UNARY(S2(300, 257), 0),
    UNARY_LARGE(S1(1000003)),
};

static const shape_case specials_shapes[] = {SPECIALS(4096)};

static const shape_case binary_shapes[] = {
    BINARY(S2(3, 67), S2(3, 67), 0),          /* same shape */
    BINARY(S2(5, 67), S1(67), 0),             /* a bias row */
    BINARY(S2(5, 67), S1(1), 0),              /* a scalar */
    BINARY(S1(1), S1(1), 0),                  /* one element */
    BINARY(S2(5, 67), S2(5, 1), 0),           /* a column */
    BINARY(S2(1, 67), S2(5, 67), 0),          /* a broadcasts, b does not */
    BINARY(S3(3, 1, 7), S3(1, 5, 1), 0),      /* both broadcast */
    BINARY(S4(2, 3, 5, 7), S3(3, 1, 7), 0),   /* fewer dims, a middle dim of 1 */
    BINARY(S4(2, 1, 5, 1), S4(1, 3, 1, 7), 0), /* 4-d, alternating */
    BINARY(S2(3, 67), S2(3, 67), 1),          /* in place (gradient accumulation) */
    BINARY(S2(5, 67), S1(67), 1),             /* in place bias add, as linear does */
    BINARY(S2(300, 257), S1(257), 0),
    BINARY(S2(300, 257), S2(300, 257), 0),
    BINARY_LARGE(S2(1000, 1003), S2(1000, 1)),
    BINARY_LARGE(S1(1000003), S1(1000003)),
};

static const shape_case reduce_shapes[] = {
    REDUCE(S1(7), S1(1), 0),
    REDUCE(S2(3, 67), S2(3, 1), 0),        /* the last axis */
    REDUCE(S2(3, 67), S2(1, 67), 0),       /* the first axis */
    REDUCE(S2(3, 67), S2(1, 1), 0),        /* everything */
    REDUCE(S4(2, 3, 5, 7), S4(2, 1, 5, 7), 0), /* a middle axis */
    REDUCE(S4(2, 3, 5, 7), S4(1, 3, 1, 1), 0), /* to a broadcast shape */
    REDUCE(S2(5, 1), S2(5, 1), 0),         /* over an axis of size 1 */
    REDUCE(S2(1, 5), S2(1, 1), 0),
    REDUCE(S2(6, 65), S2(6, 1), 1),        /* ties: argmax takes the first */
    REDUCE(S2(6, 65), S2(1, 65), 1),
    REDUCE(S2(300, 257), S2(300, 1), 0),
    REDUCE(S2(300, 257), S2(1, 257), 0),
    REDUCE(S1(100003), S1(1), 0),
    REDUCE_LARGE(S2(1000, 1003), S2(1000, 1)),
    REDUCE_LARGE(S2(1000, 1003), S2(1, 1003)),
    REDUCE_LARGE(S1(4000037), S1(1)),
};

static const shape_case softmax_shapes[] = {
    SOFTMAX(S2(1, 1), 5),    SOFTMAX(S2(1, 10), 5),    SOFTMAX(S2(32, 10), 5),   SOFTMAX(S2(3, 67), 5),
    SOFTMAX(S3(2, 3, 129), 5), SOFTMAX(S2(4, 1025), 5), SOFTMAX(S2(5, 67), 60), /* needs the max subtracted */
    SOFTMAX(S2(300, 257), 5), SOFTMAX_LARGE(S2(1000, 1003), 5), SOFTMAX_LARGE(S2(100000, 10), 5),
};

static const shape_case attention_shapes[] = {
    ATTENTION(1, 1, 1, 1),
    ATTENTION(2, 5, 2, 4),
    ATTENTION(2, 17, 3, 16),   /* a block of 16 keys and one more */
    ATTENTION(1, 37, 2, 20),   /* head values past a multiple of 16 */
    ATTENTION(2, 64, 4, 32),   /* the transformer's */
    ATTENTION(1, 300, 1, 8),   /* sums past a group of 256 */
    ATTENTION_FULL(2, 5, 2, 4),
    ATTENTION_FULL(2, 17, 3, 16),
    ATTENTION_FULL(1, 37, 2, 20),
    ATTENTION_FULL(1, 300, 1, 8),
    ATTENTION_FULL(2, 196, 1, 64), /* the U-Net's at 14x14 (--attn 14) */
    ATTENTION_LARGE(4, 256, 8, 32),  /* within lavapipe's loop budget, as the next */
    ATTENTION_LARGE(2, 1024, 2, 8),
};

static const shape_case classes_shapes[] = {
    CLASSES(1, 1), CLASSES(1, 10), CLASSES(32, 10), CLASSES(5, 67), CLASSES(3000, 13), CLASSES_LARGE(100000, 10),
};

static const shape_case permute_shapes[] = {
    PERMUTE(S2(3, 67), 1, 0, 0, 0),          PERMUTE(S2(1, 67), 1, 0, 0, 0),
    PERMUTE(S3(2, 3, 5), 0, 2, 1, 0),        PERMUTE(S3(2, 3, 5), 2, 0, 1, 0),
    PERMUTE(S3(2, 3, 5), 1, 2, 0, 0),        PERMUTE(S4(2, 3, 5, 7), 0, 2, 1, 3),
    PERMUTE(S4(2, 3, 5, 7), 3, 2, 1, 0),     PERMUTE(S4(2, 3, 5, 7), 1, 0, 3, 2),
    PERMUTE(S4(2, 3, 5, 7), 0, 1, 3, 2),     PERMUTE(S4(2, 3, 5, 7), 0, 1, 2, 3),
    PERMUTE(S4(2, 1, 5, 1), 3, 2, 1, 0),     PERMUTE(S2(300, 257), 1, 0, 0, 0),
    PERMUTE(S4(8, 32, 16, 17), 0, 2, 1, 3),  PERMUTE_LARGE(S4(16, 64, 64, 33), 0, 3, 1, 2),
};

static const shape_case rng_shapes[] = {
    RNG(S1(1), 0, 0),
    RNG(S1(7), 42, 0),
    RNG(S2(65, 3), 42, 1000),
    RNG(S1(7), 0xDEADBEEF12345678ull, 0xFFFFFFFDll), /* the counter crosses 2^32 */
    RNG(S2(300, 257), 7, 123456789),
    RNG_LARGE(S1(4000037), 3, 0),
};

static const shape_case conv_shapes[] = {
    CONV(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1),     /* one element */
    CONV(2, 3, 5, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1),     /* 1x1 */
    CONV(2, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1),     /* 3x3 "same" */
    CONV(2, 4, 9, 9, 6, 4, 4, 2, 2, 1, 1, 1, 1),     /* DCGAN's 4x4 stride 2 */
    CONV(1, 2, 11, 7, 3, 3, 2, 2, 1, 0, 1, 2, 1),    /* every parameter differs between h and w */
    CONV(3, 2, 4, 4, 7, 4, 4, 1, 1, 0, 0, 1, 1),     /* the kernel covers the input: 1x1 output */
    CONV(1, 3, 5, 5, 2, 3, 3, 1, 1, 2, 2, 1, 1),     /* padding wider than half the kernel */
    CONV(2, 5, 13, 13, 3, 3, 3, 3, 3, 1, 1, 1, 1),   /* stride 3: some inputs read by no window */
    CONV(8, 16, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1), /* the larger case */
    CONV(2, 32, 28, 28, 1, 3, 3, 1, 1, 1, 1, 1, 1),  /* the U-Net's last layer: 32 channels to 1 */
    CONV(600, 2, 3, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1),   /* over 512 images: the gradients' sums over
                                                         images take two levels of canon.h's groups */
    CONV_LARGE(32, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1),
    CONV_LARGE(16, 128, 16, 16, 64, 4, 4, 2, 2, 1, 1, 1, 1),
};

static const shape_case pool_shapes[] = {
    POOL(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
    POOL(2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0),      /* the usual 2x2 */
    POOL(2, 3, 7, 9, 3, 3, 2, 2, 1, 1, 0),      /* padded, odd sizes */
    POOL(2, 3, 6, 6, 3, 3, 1, 1, 1, 1, 0),      /* overlapping windows */
    POOL(2, 2, 7, 6, 2, 3, 2, 1, 1, 0, 0),      /* h and w differ */
    POOL(2, 4, 5, 5, 5, 5, 1, 1, 0, 0, 0),      /* global: 1x1 output */
    POOL(2, 3, 6, 6, 3, 3, 1, 1, 1, 1, 1),      /* ties */
    POOL(8, 16, 28, 28, 2, 2, 2, 2, 0, 0, 0),   /* the larger case */
    POOL_LARGE(32, 64, 64, 64, 3, 3, 2, 2, 1, 1),
};

static const shape_case batchnorm_shapes[] = {
    BATCHNORM(S2(4, 3)),          /* [n, c]: BatchNorm1d */
    BATCHNORM(S4(2, 3, 5, 7)),
    BATCHNORM(S4(1, 5, 3, 3)),    /* batch of one */
    BATCHNORM(S4(7, 2, 1, 1)),    /* 1x1 planes */
    BATCHNORM(S3(3, 67, 5)),
    BATCHNORM(S4(8, 16, 28, 28)), /* the larger case */
    BATCHNORM_LARGE(S4(32, 64, 32, 32)),
};

static const shape_case layernorm_shapes[] = {
    LAYERNORM(S2(1, 1)),
    LAYERNORM(S2(4, 7)),
    LAYERNORM(S2(3, 67)),
    LAYERNORM(S3(2, 5, 64)),
    LAYERNORM(S2(33, 128)),   /* a transformer's */
    LAYERNORM(S2(300, 257)),  /* rows and columns past a group of 256 */
    LAYERNORM(S2(64, 512)),
    LAYERNORM(S2(2, 70000)),  /* rows past 256 groups: canon.h's second level */
    LAYERNORM_LARGE(S2(4096, 1024)),
    LAYERNORM_LARGE(S2(70000, 3)), /* the same over rows (dgamma, dbeta) */
    GROUPNORM(S2(6, 4), 2),             /* one element per channel */
    GROUPNORM(S4(2, 6, 3, 5), 3),
    GROUPNORM(S4(3, 16, 7, 7), 8),
    GROUPNORM(S3(2, 64, 300), 1),       /* one group; channel runs past a group of 256 */
    GROUPNORM(S4(300, 4, 2, 2), 2),     /* samples past a group of 256 (dgamma, dbeta) */
    GROUPNORM(S4(4, 32, 28, 28), 8),    /* the diffusion U-Net's */
    GROUPNORM_LARGE(S4(64, 64, 14, 14), 8),
};

static const shape_case copy_box_shapes[] = {
    BOX(S3(3, 67, 5), S3(3, 20, 5), 0),   BOX(S3(2, 7, 9), S3(2, 10, 9), 1),
    BOX(S2(30, 7), S4(30, 2, 7, 2), 2),   BOX(S2(5, 9), S2(9, 5), 3),
    BOX(S3(4, 6, 6), S3(4, 8, 8), 4),     BOX(S3(16, 257, 33), S3(16, 128, 33), 5),
    BOX_LARGE(S3(64, 128, 1024), S3(64, 64, 1024), 6),
};

static const shape_case embed_shapes[] = {
    EMBED(1, 1, 1), EMBED(10, 67, 33), EMBED(65, 64, 512), EMBED(300, 33, 700), EMBED(7, 5, 3),
    EMBED_LARGE(5000, 512, 8192),
};

static const shape_case optim_shapes[] = {
    OPTIM(S1(1)), OPTIM(S1(67)), OPTIM(S2(3, 67)), OPTIM(S2(300, 257)), OPTIM_LARGE(S1(4000037)),
};

/* One row per kernel: the vtable field it tests, the case, how many variants (ops,
 * transposes, settings) each shape runs with, the shapes, and the largest normalized
 * mean squared error against the CPU that passes. Integer outputs must match exactly. */
typedef struct kernel_row {
    const char *field;
    size_t offset; /* offsetof(zoo_backend_iface, field) */
    case_fn run;
    int n_variants;
    const shape_case *shapes;
    int n_shapes;
    bool specials; /* inputs are special values: the reference may hold NaN and inf */
} kernel_row;

/* In exact mode every kernel must give the CPU's result bit for bit: every backend
 * sums in backends/canon.h's order and takes its elementary functions from
 * canon_math.h. The NMSE printed beside a failure tells a rounding difference (tiny)
 * from a bug. */
#define COUNT(a) ((int)(sizeof a / sizeof a[0]))
#define ROW(f, variants, shapes) {#f, offsetof(zoo_backend_iface, f), case_##f, variants, shapes, COUNT(shapes), false}
#define ROW_SPECIALS(f, fn, variants, shapes) {#f, offsetof(zoo_backend_iface, f), fn, variants, shapes, COUNT(shapes), true}

static const kernel_row table[] = {
    ROW(fill, 3, fill_shapes),
    ROW(gemm, 4, gemm_shapes),
    ROW(unary, N_UNARY_VARIANTS, unary_shapes),
    ROW(unary_backward, N_UNARY_VARIANTS, unary_shapes),
    ROW(binary, ZOO_BINARY_COUNT, binary_shapes),
    ROW_SPECIALS(binary, case_div_specials, 1, specials_shapes),
    ROW_SPECIALS(unary, case_sqrt_specials, 1, specials_shapes),
    ROW(reduce, ZOO_REDUCE_COUNT, reduce_shapes),
    ROW(softmax, 2, softmax_shapes),
    ROW(softmax_backward, 2, softmax_shapes),
    ROW(attention, 1, attention_shapes),
    ROW(attention_backward, 1, attention_shapes),
    ROW(nll, 1, classes_shapes),
    ROW(nll_backward, 1, classes_shapes),
    ROW(cross_entropy_backward, 1, classes_shapes),
    ROW(permute, 1, permute_shapes),
    ROW(copy_box, 2, copy_box_shapes),
    ROW(embedding, 1, embed_shapes),
    ROW(embedding_backward, 1, embed_shapes),
    ROW(rng_fill, 3, rng_shapes),
    ROW(conv2d, 2, conv_shapes),
    ROW(conv2d_backward_input, 2, conv_shapes),
    ROW(conv2d_backward_weight, 3, conv_shapes),
    ROW(pool2d, ZOO_POOL_COUNT, pool_shapes),
    ROW(pool2d_backward, ZOO_POOL_COUNT, pool_shapes),
    ROW(batchnorm, COUNT(batchnorm_variants), batchnorm_shapes),
    ROW(batchnorm_backward, COUNT(batchnorm_backward_variants), batchnorm_shapes),
    ROW(layernorm, COUNT(layernorm_variants), layernorm_shapes),
    ROW(layernorm_backward, COUNT(layernorm_backward_variants), layernorm_shapes),
    ROW(sgd_update, COUNT(sgd_variants), optim_shapes),
    ROW(adam_update, COUNT(adam_variants), optim_shapes),
    ROW(axpby, COUNT(axpby_variants), optim_shapes),
};
#define N_ROWS ((int)(sizeof table / sizeof table[0]))

/* The vtable fields that are not kernels: lifecycle, memory, transfers, execution.
 * Every other field must have a row above. */
#define FIELD(f) {#f, offsetof(zoo_backend_iface, f)}
static const struct field {
    const char *name;
    size_t offset;
} lifecycle_fields[] = {
    FIELD(name),        FIELD(shutdown),   FIELD(set_threads), FIELD(alloc),  FIELD(free),
    FIELD(arena_alloc), FIELD(arena_mark), FIELD(arena_reset), FIELD(peak_bytes), FIELD(upload),
    FIELD(download),    FIELD(flush),      FIELD(sync),        FIELD(counters),
};
#define N_LIFECYCLE ((int)(sizeof lifecycle_fields / sizeof lifecycle_fields[0]))

typedef void (*any_fn)(void);
#define N_SLOTS ((int)(sizeof(zoo_backend_iface) / sizeof(any_fn)))
_Static_assert(sizeof(zoo_backend_iface) % sizeof(any_fn) == 0, "the vtable holds only function pointers");

/* the name of the listed field at offset, or NULL */
static const char *field_at(size_t offset) {
    for (int i = 0; i < N_LIFECYCLE; i++)
        if (lifecycle_fields[i].offset == offset) return lifecycle_fields[i].name;
    for (int i = 0; i < N_ROWS; i++)
        if (table[i].offset == offset) return table[i].field;
    return NULL;
}

/* Every vtable slot is a lifecycle field or has a kernel row; a slot that is neither
 * is a kernel someone added without a test. Named by its neighbour, since the test
 * cannot know a field it was not written for. */
static void check_every_kernel_has_a_row(void) {
    int listed = N_LIFECYCLE;
    for (int i = 0; i < N_ROWS; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++) dup |= table[j].offset == table[i].offset;
        listed += !dup;
    }
    CHECK(listed == N_SLOTS);
    if (listed != N_SLOTS)
        fprintf(stderr, "the vtable has %d fields; the test lists %d lifecycle fields and %d kernels\n", N_SLOTS,
                N_LIFECYCLE, listed - N_LIFECYCLE);
    const char *prev = "(start)";
    for (int s = 0; s < N_SLOTS; s++) {
        const char *name = field_at((size_t)s * sizeof(any_fn));
        test_checks++;
        if (!name) {
            test_failures++;
            fprintf(stderr, "FAIL: vtable field %d (the one after '%s') has no row in the kernel table of %s: add "
                            "a case with shapes and a tolerance\n", s, prev, __FILE__);
        }
        prev = name ? name : "?";
    }
}

/* families: every op of the enum is among the variants */
static void check_every_op_has_a_variant(void) {
    for (int op = 0; op < ZOO_UNARY_COUNT; op++) {
        bool found = false;
        for (int i = 0; i < N_UNARY_VARIANTS; i++) found |= (int)unary_variants[i].op == op;
        test_checks++;
        if (!found) {
            test_failures++;
            fprintf(stderr, "FAIL: unary op %d has no entry in unary_variants\n", op);
        }
    }
    CHECK(sizeof binary_names / sizeof binary_names[0] == ZOO_BINARY_COUNT);
    CHECK(sizeof reduce_names / sizeof reduce_names[0] == ZOO_REDUCE_COUNT);
    CHECK(sizeof pool_names / sizeof pool_names[0] == ZOO_POOL_COUNT);
}

/* a backend fills every field */
static void check_backend_fills_the_vtable(zoo_backend *be, const char *name) {
    for (int s = 0; s < N_SLOTS; s++) {
        any_fn f;
        memcpy(&f, (const char *)&be->iface + (size_t)s * sizeof(any_fn), sizeof f);
        test_checks++;
        if (!f) {
            test_failures++;
            const char *field = field_at((size_t)s * sizeof(any_fn));
            fprintf(stderr, "FAIL: the %s backend leaves .%s NULL\n", name, field ? field : "?");
        }
    }
}

/* ---------------------------------------------------------------- transfers */

/* upload and download at byte offsets (the training loop and item() use both) */
static bool transfers_ok(zoo_backend *be) {
    enum { N = 1000 };
    float a[N], b[100], got[N];
    for (int i = 0; i < N; i++) a[i] = (float)i * 0.5f;
    for (int i = 0; i < 100; i++) b[i] = -(float)i;
    zoo_tensor t = {.shape = S1(N), .numel = N, .dtype = ZOO_F32, .persistent = true};
    t.data = be->iface.alloc(be->ctx, N * 4);
    ZOO_ASSERT(t.data);
    be->iface.upload(be->ctx, &t, a, N * 4, 0);
    be->iface.upload(be->ctx, &t, b, 100 * 4, 400);
    be->iface.flush(be->ctx);
    be->iface.sync(be->ctx);
    float part[50];
    be->iface.download(be->ctx, &t, part, 50 * 4, 380);
    be->iface.download(be->ctx, &t, got, N * 4, 0);
    be->iface.free(be->ctx, t.data);
    bool ok = true;
    for (int i = 0; i < N; i++) ok &= got[i] == (i >= 100 && i < 200 ? b[i - 100] : a[i]);
    for (int i = 0; i < 50; i++) ok &= part[i] == got[95 + i];
    return ok;
}

/* ---------------------------------------------------------------- comparison */

/* sum((a - b)^2) / sum(a^2), a the reference; NaN anywhere gives NaN */
static double nmse(const float *ref, const float *got, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (den == 0) return num == 0 ? 0 : num;
    return num / den;
}

/* A device that flushes subnormal floats (backend.h) differs in exact mode where values
   fall below 1.18e-38 and in what such values feed: results that stay below 2^-116
   (1.2e-35, 1024 x the smallest normal float) are counted as that, not as errors. */
#define FLUSH_TINY 0x1p-116f

typedef struct verdict {
    double nmse;        /* worst over the float outputs */
    int64_t differ;     /* float outputs whose bits differ from the reference's */
    int64_t differ_big; /* of those, where either value is FLUSH_TINY or more in magnitude */
    float differ_max;   /* the largest magnitude among differing values */
    int64_t mismatches; /* over the int outputs */
    const char *worst;  /* the output with the worst error */
    bool has_float, has_int;
} verdict;

/* the same float bits, or both NaN */
static bool same_float(uint32_t x, uint32_t y) {
    bool nx = (x & 0x7fffffffu) > 0x7f800000u, ny = (y & 0x7fffffffu) > 0x7f800000u;
    return x == y || (nx && ny);
}

static verdict compare(const result *ref, const result *got) {
    verdict v = {.worst = ""};
    ZOO_ASSERT(ref->n_out == got->n_out);
    for (int i = 0; i < ref->n_out; i++) {
        const out_buf *a = &ref->out[i], *b = &got->out[i];
        ZOO_ASSERT(a->n == b->n && a->dtype == b->dtype);
        if (a->dtype == ZOO_I32) {
            v.has_int = true;
            const int32_t *x = a->host, *y = b->host;
            for (int64_t k = 0; k < a->n; k++) v.mismatches += x[k] != y[k];
            if (v.mismatches) v.worst = a->what;
            continue;
        }
        v.has_float = true;
        const uint32_t *x = a->host, *y = b->host;
        int64_t differ = 0;
        const float *fx = a->host, *fy = b->host;
        for (int64_t k = 0; k < a->n; k++) {
            bool d = !same_float(x[k], y[k]);
            differ += d;
            float big = fmaxf(fabsf(fx[k]), fabsf(fy[k]));
            v.differ_big += d && !(big < FLUSH_TINY);
            if (d && big > v.differ_max) v.differ_max = big;
        }
        v.differ += differ;
        double e = nmse(a->host, b->host, a->n);
        if (differ && !*v.worst) v.worst = a->what;
        if (!(e <= v.nmse)) { /* NaN sticks */
            v.nmse = e;
            v.worst = a->what;
        }
    }
    return v;
}

static bool bit_identical(const result *a, const result *b) {
    for (int i = 0; i < a->n_out; i++)
        for (int64_t k = 0; k < a->out[i].n; k++)
            if (!same_float(((const uint32_t *)a->out[i].host)[k], ((const uint32_t *)b->out[i].host)[k])) return false;
    return true;
}

/* the reference itself must be finite: a NaN there is a broken case, not a pass */
static bool finite_result(const result *r) {
    for (int i = 0; i < r->n_out; i++) {
        if (r->out[i].dtype != ZOO_F32) continue;
        const float *p = r->out[i].host;
        for (int64_t k = 0; k < r->out[i].n; k++)
            if (!isfinite(p[k])) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- the driver */

#define MAX_BACKENDS 4
#define FAST_NMSE 1e-7 /* fast mode's bound (ggml's test-backend-ops threshold) */

/* slot 0 is the reference: the CPU in exact mode */
typedef struct backend_slot {
    zoo_backend *be;
    const char *name; /* "cpu exact", "vulkan fast", ... */
} backend_slot;

static backend_slot backends[MAX_BACKENDS];
static int n_backends;
static int n_cases;

#define MAX_FAILED 256
static char failed[MAX_FAILED][512];
static int n_failed;

static void report(const char *field, const char *desc, const char *backend, const char *measure, bool ok) {
    char line[512];
    snprintf(line, sizeof line, "%-22s %-58s %-12s %s  %s", field, desc, backend, measure, ok ? "ok" : "FAIL");
    puts(line);
    test_checks++;
    if (ok) return;
    test_failures++;
    if (n_failed < MAX_FAILED) snprintf(failed[n_failed++], sizeof failed[0], "%s", line);
}

static uint64_t case_seed(int row, int shape, int variant) {
    return 0x5EED000000000000ull ^ ((uint64_t)row << 32) ^ ((uint64_t)shape << 16) ^ (uint64_t)variant;
}

/* a backend that leaves the kernel NULL has failed already; its row cannot run */
static bool every_backend_has(size_t offset) {
    for (int b = 0; b < n_backends; b++) {
        any_fn f;
        memcpy(&f, (const char *)&backends[b].be->iface + offset, sizeof f);
        if (!f) return false;
    }
    return true;
}

/* the largest NMSE against exact mode seen per row in fast mode, for the summary */
static double worst_fast[64];

/* one backend's run of a case against the reference */
static void check_against(const kernel_row *k, int ri, const result *ref, const backend_slot *slot,
                          const shape_case *sc, int v, uint64_t seed) {
    result got, got2;
    run_case(slot->be, k->run, sc, v, seed, &got);
    run_case(slot->be, k->run, sc, v, seed, &got2);
    verdict vd = compare(ref, &got);
    bool det = bit_identical(&got, &got2), exact = slot->be->exact;
    /* a device that flushes subnormals (backend.h) may differ where both values are tiny */
    int64_t exact_differ = slot->be->flushes_subnormals ? vd.differ_big : vd.differ;
    bool ok = det && vd.mismatches == 0 && (exact ? exact_differ == 0 : vd.nmse <= FAST_NMSE);
    if (!exact && vd.nmse > worst_fast[ri]) worst_fast[ri] = vd.nmse;
    char m[128];
    int len = 0;
    if (vd.has_float) {
        if (!vd.differ) len += snprintf(m + len, sizeof m - (size_t)len, "bit-identical");
        else if (exact && !exact_differ)
            len += snprintf(m + len, sizeof m - (size_t)len, "%lld differ, all below %.1e (flushed subnormals)",
                            (long long)vd.differ, (double)vd.differ_max);
        else if (exact) len += snprintf(m + len, sizeof m - (size_t)len, "%lld differ, nmse=%.1e", (long long)vd.differ, vd.nmse);
        else len += snprintf(m + len, sizeof m - (size_t)len, "nmse=%.1e", vd.nmse);
    }
    if (vd.has_int)
        len += snprintf(m + len, sizeof m - (size_t)len, "%smismatches=%lld", len ? " " : "", (long long)vd.mismatches);
    if (!ok && *vd.worst) len += snprintf(m + len, sizeof m - (size_t)len, " (worst: %s)", vd.worst);
    if (!det) snprintf(m + len, sizeof m - (size_t)len, " repeat differs");
    report(k->field, ref->desc, slot->name, m, ok);
    result_free(&got);
    result_free(&got2);
}

static void run_row(int ri, bool large) {
    const kernel_row *k = &table[ri];
    if (!every_backend_has(k->offset)) {
        printf("%-22s not run: a backend does not implement it\n", k->field);
        return;
    }
    for (int si = 0; si < k->n_shapes; si++) {
        const shape_case *sc = &k->shapes[si];
        if (sc->large && !large) continue;
        for (int v = 0; v < k->n_variants; v++) {
            uint64_t seed = case_seed(ri, si, v);
            result ref, again;
            run_case(backends[0].be, k->run, sc, v, seed, &ref);
            if (ref.skip) {
                result_free(&ref);
                continue;
            }
            n_cases++;
            run_case(backends[0].be, k->run, sc, v, seed, &again);
            bool cpu_det = bit_identical(&ref, &again);
            result_free(&again);
            if (!k->specials && !finite_result(&ref))
                report(k->field, ref.desc, backends[0].name, "reference has NaN/inf (broken case)", false);
            if (!cpu_det) report(k->field, ref.desc, backends[0].name, "repeat differs", false);
            for (int b = 1; b < n_backends; b++) {
                /* special values test exact mode's correctly rounded / and sqrt; fast
                   mode promises no more than its device's own */
                if (k->specials && !backends[b].be->exact) continue;
                check_against(k, ri, &ref, &backends[b], sc, v, seed);
            }
            result_free(&ref);
        }
    }
}

/* both modes of one backend, by name */
static void add_backend(const char *name) {
    for (int exact = 1; exact >= 0; exact--) {
        zoo_backend *be = zoo_backend_new(name, &(zoo_backend_config){.exact = exact});
        if (!be) {
            printf("note: this build has the %s backend but it did not start: %s\n", name, zoo_last_error());
            return;
        }
        static char names[MAX_BACKENDS][32];
        snprintf(names[n_backends], sizeof names[0], "%s %s", name, exact ? "exact" : "fast");
        backends[n_backends] = (backend_slot){be, names[n_backends]};
        n_backends++;
    }
}

/* ZOO_TEST_KERNELS, a comma-separated list of fields, selects rows; unset selects all */
static bool selected(const char *field) {
    const char *list = getenv("ZOO_TEST_KERNELS");
    if (!list || !*list) return true;
    size_t n = strlen(field);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, field, n) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* a hang shows which case it is in */
    bool large = getenv("ZOO_TEST_LARGE") && strcmp(getenv("ZOO_TEST_LARGE"), "1") == 0;
    check_every_kernel_has_a_row();
    check_every_op_has_a_variant();

    add_backend("cpu");
    ZOO_ASSERT(n_backends == 2);
#ifdef ZOO_HAVE_VULKAN
    add_backend("vulkan");
#endif
    for (int b = 0; b < n_backends; b++) {
        check_backend_fills_the_vtable(backends[b].be, backends[b].name);
        report("upload/download", "whole tensor and at byte offsets", backends[b].name, "exact",
               transfers_ok(backends[b].be));
    }
    if (n_backends == 2) printf("note: no Vulkan backend in this build (or no device): the CPU's two modes only\n");
    if (getenv("ZOO_TEST_REQUIRE_VULKAN") && n_backends == 2) {
        fprintf(stderr, "FAIL: ZOO_TEST_REQUIRE_VULKAN is set but no Vulkan backend is available\n");
        test_failures++;
    }

    for (int i = 0; i < N_ROWS; i++)
        if (selected(table[i].field)) run_row(i, large);

    printf("\n%d kernel rows, %d cases on", N_ROWS, n_cases);
    for (int b = 0; b < n_backends; b++) printf("%s %s", b ? "," : "", backends[b].name);
    printf("%s\n", large ? " (with the large shapes)" : "");
    printf("fast mode, the largest NMSE against exact mode per kernel (bound %.0e):\n", FAST_NMSE);
    for (int i = 0; i < N_ROWS; i++)
        if (selected(table[i].field) && !table[i].specials) printf("  %-24s %.1e\n", table[i].field, worst_fast[i]);
    if (n_failed) {
        printf("failed:\n");
        for (int i = 0; i < n_failed; i++) printf("  %s\n", failed[i]);
    }
#ifdef ZOO_HAVE_VULKAN
    /* without ZOO_VULKAN_VALIDATE=1 the layer's messages are only counted: any is a failure */
    for (int b = 2; b < n_backends; b++) {
        zoo_counters st;
        backends[b].be->iface.counters(backends[b].be->ctx, &st);
        {
            printf("%s: %llu dispatches, %llu submits, %llu validation messages\n", backends[b].name,
                   (unsigned long long)st.dispatches, (unsigned long long)st.submits,
                   (unsigned long long)st.validation_messages);
            CHECK(st.validation_messages == 0);
        }
    }
#endif
    for (int b = n_backends - 1; b >= 0; b--) {
        zoo_backend_free(backends[b].be);
    }
    TEST_EXIT();
}
