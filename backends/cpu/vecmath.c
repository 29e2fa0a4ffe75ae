/* Fast mode's elementary functions (vecmath.h), written branch-free so that loops over
 * them vectorize; built with contraction on (a*b + c becomes an FMA where the CPU has
 * one), unlike the rest of the backend. Polynomials: Taylor for exp, the atanh series
 * for log, and least-squares fits for tanh and erf (tools/fit_fast_math.py). */
#include "vecmath.h"

#include <string.h>

/* One build runs at its best on any x86-64: each function is compiled for AVX-512, AVX2
 * and the baseline, picked at load time. Not with clang before 15, which names the
 * picker of an external function NAME.ifunc, so other files' calls fail to link. */
#if defined(__x86_64__) && defined(__GNUC__) && (!defined(__clang__) || __clang_major__ >= 15)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif

static inline float bits_float(int32_t i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}

static inline int32_t float_bits(float f) {
    int32_t i;
    memcpy(&i, &f, 4);
    return i;
}

#define INF bits_float(0x7f800000)

/* e^x: x = n ln2 + r, |r| <= ln2/2 (ln2 in two parts, the high one exact times n),
 * e^r by Taylor to r^7 (truncation under 0.05 ulp), times 2^n in two steps so that
 * subnormal results come out */
static inline float vexp(float x) {
    float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
    xc = x != x ? 0.0f : xc; /* NaN: any number here, the NaN is returned below */
    float fn = (xc * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 * 2^23 */
    float r = xc - fn * 0.693145752f;
    r = r - fn * 1.42860677e-06f;
    float p = 1.98412698e-04f;
    p = p * r + 1.38888889e-03f;
    p = p * r + 8.33333333e-03f;
    p = p * r + 4.16666667e-02f;
    p = p * r + 1.66666667e-01f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t n = (int32_t)fn, n1 = n >> 1, n2 = n - n1;
    float y = p * bits_float((int32_t)((uint32_t)(n1 + 127) << 23)) * bits_float((int32_t)((uint32_t)(n2 + 127) << 23));
    y = x > 89.0f ? INF : y;
    y = x < -104.0f ? 0.0f : y;
    return x != x ? x : y;
}

/* ln x: x = m 2^e with sqrt(1/2) <= m < sqrt(2), f = m - 1, s = f / (2 + f); ln m =
 * f - (f^2/2 - s (f^2/2 + R)), R = 2 atanh(s)/s - 2 by its series in s^2 */
static inline float vlog(float x) {
    bool sub = x < 1.17549435e-38f;
    int32_t bits = float_bits(sub ? x * 8388608.0f : x); /* subnormals: times 2^23 */
    int32_t e = ((bits >> 23) & 255) - 127 - (sub ? 23 : 0);
    float m = bits_float((bits & 0x007fffff) | 0x3f800000);
    bool big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1 : e;
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = 0.181818182f;
    R = R * z + 0.222222222f;
    R = R * z + 0.285714286f;
    R = R * z + 0.4f;
    R = R * z + 0.666666667f;
    R = R * z;
    float hfsq = 0.5f * f * f;
    float lm = f - (hfsq - s * (hfsq + R));
    float fe = (float)e;
    float y = fe * 0.693145752f + (fe * 1.42860677e-06f + lm);
    y = x == INF ? INF : y;
    y = x == 0.0f ? -INF : y;
    y = x < 0.0f ? bits_float(0x7fc00000) : y;
    return x != x ? x : y;
}

/* tanh x: below 1, x + x z P(z) (z = x^2, fitted); above, 1 - 2 / (e^(2|x|) + 1) */
static inline float vtanh(float x) {
    float ax = x < 0.0f ? -x : x;
    float z = x * x;
    float p = -3.600732307e-04f;
    p = p * z + 2.307430841e-03f;
    p = p * z - 7.955106907e-03f;
    p = p * z + 2.149335109e-02f;
    p = p * z - 5.388238654e-02f;
    p = p * z + 1.333239228e-01f;
    p = p * z - 3.333329856e-01f;
    float small = x + x * (z * p);
    float e = vexp(2.0f * (ax < 9.1f ? ax : 9.1f));
    float large = 1.0f - 2.0f / (e + 1.0f);
    large = x < 0.0f ? -large : large;
    return ax < 1.0f || x != x ? small : large; /* NaN: small is NaN */
}

static inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

/* erf x: below 1.2, x + x Q(z) (z = x^2, fitted); up to 3.93, 1 - e^(R(|x|)) with R
 * fitted to ln erfc; beyond, 1 (erfc(3.93) is under half an ulp of 1). From 1.2 on,
 * erfc is under 0.09, so R's float rounding costs erf little: measured over every float,
 * 1.4 ulp at worst with fused multiply-adds, 1.9 without. */
static inline float verf(float x) {
    float ax = x < 0.0f ? -x : x;
    float z = x * x;
    float q = -7.902210200e-06f;
    q = q * z + 1.055328030e-04f;
    q = q * z - 8.369578281e-04f;
    q = q * z + 5.211775657e-03f;
    q = q * z - 2.686151862e-02f;
    q = q * z + 1.128370166e-01f;
    q = q * z - 3.761263192e-01f;
    q = q * z + 1.283791661e-01f;
    float small = x + x * q;
    float t = (ax < 3.93f ? ax : 3.93f) - 2.5f;
    float r = -1.536631999e-06f;
    r = r * t - 6.053056950e-06f;
    r = r * t - 3.573713002e-06f;
    r = r * t - 5.173342743e-06f;
    r = r * t + 9.349005995e-05f;
    r = r * t - 4.149963497e-04f;
    r = r * t + 2.158868359e-03f;
    r = r * t - 1.086370740e-02f;
    r = r * t - 9.438943267e-01f;
    r = r * t - 5.352680206e+00f;
    r = r * t - 7.806815147e+00f;
    float large = ax < 3.93f ? 1.0f - vexp(r) : 1.0f;
    large = x < 0.0f ? -large : large;
    return ax < 1.2f || x != x ? small : large; /* NaN: small is NaN */
}

#define RSQRT2 0.70710678118654752f
#define RSQRT2PI 0.39894228040143268f

static inline float vgelu(float v) { return 0.5f * v * (1.0f + verf(v * RSQRT2)); }

/* GELU's derivative Phi(v) + v phi(v) (Phi the normal distribution, phi its density)
 * with Phi(v) = y / v read off the forward's y = v Phi(v): one exponential instead of
 * erf's and another. Near 0, where y / v would lose digits, Phi's series 1/2 + v phi(0)
 * (its next term, v^3 phi(0) / 6, is under 1e-10 there). */
static inline float vgelu_grad(float v, float y) {
    float ax = v < 0.0f ? -v : v;
    float cdf = ax > 1e-3f ? y / v : 0.5f + v * RSQRT2PI;
    return cdf + v * RSQRT2PI * vexp(-0.5f * v * v);
}

/* ---------------------------------------------------------------- pow */

/* v^a for one a across the array: small integer powers by repeated squaring (the
 * multiplications of canon_math.h's zoo_powf), others as e^(a ln|v|) with libm's
 * sign and zero rules */
VEC_CLONES static void vpow(const float *x, float *y, int64_t n, float a) {
    float fa = a < 0.0f ? -a : a;
    if (a == (float)(int32_t)a && fa <= 16.0f) {
        int32_t k = (int32_t)fa;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float r = 1.0f, b = x[i];
            for (int32_t e = k; e != 0; e >>= 1) {
                if (e & 1) r = r * b;
                b = b * b;
            }
            y[i] = a < 0.0f ? 1.0f / r : r;
        }
        return;
    }
    bool odd = a == (float)(int64_t)a && ((int64_t)a & 1) != 0, integer = a == (float)(int64_t)a;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], av = v < 0.0f ? -v : v;
        float r = vexp(a * vlog(av));
        r = v < 0.0f && odd ? -r : r;
        r = v < 0.0f && !integer ? bits_float(0x7fc00000) : r;
        r = v == 0.0f ? (a > 0.0f ? 0.0f : INF) : r;
        y[i] = r;
    }
}

/* ---------------------------------------------------------------- the array functions */

#define MAP(expr)                                                                                  \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                          \
        float v = x[i];                                                                            \
        y[i] = (expr);                                                                             \
    }                                                                                              \
    return;

VEC_CLONES void cpu_vunary(zoo_unary_op op, const float *x, float *y, int64_t n, float a) {
    switch (op) {
    case ZOO_UNARY_POW: vpow(x, y, n, a); return;
    case ZOO_UNARY_TANH: MAP(vtanh(v))
    case ZOO_UNARY_SIGMOID: MAP(vsigmoid(v))
    case ZOO_UNARY_GELU: MAP(vgelu(v))
    case ZOO_UNARY_SILU: MAP(v * vsigmoid(v))
    case ZOO_UNARY_EXP: MAP(vexp(v))
    case ZOO_UNARY_LOG: MAP(vlog(v))
    default: ZOO_ASSERT(!"cpu_vunary: not an op with an elementary function");
    }
}

#define MAP_GRAD(expr)                                                                             \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                          \
        float v = x[i], fv = y[i], g = dy[i];                                                      \
        dx[i] = (expr);                                                                            \
    }                                                                                              \
    return;

VEC_CLONES void cpu_vunary_backward(zoo_unary_op op, const float *x, const float *y, const float *dy, float *dx,
                                    int64_t n, float a) {
    switch (op) {
    case ZOO_UNARY_POW:
        vpow(x, dx, n, a - 1.0f);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) dx[i] = a * dx[i] * dy[i];
        return;
    case ZOO_UNARY_GELU: MAP_GRAD(g * vgelu_grad(v, fv))
    case ZOO_UNARY_SILU: {
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {
            float v = x[i], s = vsigmoid(v);
            dx[i] = dy[i] * (s * (1.0f + v * (1.0f - s)));
        }
        return;
    }
    default: ZOO_ASSERT(!"cpu_vunary_backward: not an op with an elementary function");
    }
}

VEC_CLONES void cpu_verf(const float *x, float *y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = verf(x[i]);
}

VEC_CLONES float cpu_vexp_sum(const float *x, float *y, int64_t n, float shift) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) {
        float e = vexp(x[i] - shift);
        y[i] = e;
        s += e;
    }
    return s;
}

VEC_CLONES float cpu_vsum(const float *p, int64_t n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += p[i];
    return s;
}

VEC_CLONES float cpu_vdot(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---------------------------------------------------------------- Winograd kernels */

typedef float v8f __attribute__((vector_size(32)));

/* eight kernels at a time, one in each lane; a last partial group through a copy */
VEC_CLONES void cpu_vwino_kernels(const float *w, int64_t n, float *u, int64_t us) {
    for (int64_t q = 0; q < n; q += 8) {
        int64_t lanes = n - q < 8 ? n - q : 8;
        v8f g[9] = {0};
        for (int j = 0; j < 9; j++)
            for (int64_t l = 0; l < lanes; l++) g[j][l] = w[(q + l) * 9 + j];
        v8f t[4][3], r[16];
        for (int j = 0; j < 3; j++) { /* G g: G's rows (1, 0, 0), (1, 1, 1)/2, (1, -1, 1)/2, (0, 0, 1) */
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T */
            r[4 * i + 0] = t[i][0];
            r[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            r[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            r[4 * i + 3] = t[i][2];
        }
        for (int k = 0; k < 16; k++) {
            if (lanes == 8) {
                memcpy(u + k * us + q, &r[k], sizeof r[k]);
            } else {
                for (int64_t l = 0; l < lanes; l++) u[k * us + q + l] = r[k][l];
            }
        }
    }
}

/* ---------------------------------------------------------------- shallow products */

/* 64 columns of y at a time, their k products summed in four 16-float registers (or
 * what the target splits them into) */
typedef float v16f __attribute__((vector_size(64)));

#define LOAD16(v, p) memcpy(&(v), (p), 64)

VEC_CLONES void cpu_vgemm_shallow_cols(const float *a, const float *b, const float *bias, float *y, int64_t m,
                                       int64_t k, int64_t n, int64_t j0, int64_t j1) {
    int64_t n64 = j0 + (j1 - j0) / 64 * 64;
    for (int64_t i = 0; i < m; i++) {
        const float *ai = a + i * k;
        float b0 = bias ? bias[i] : 0.0f;
        float *yi = y + i * n;
        for (int64_t j = j0; j < n64; j += 64) {
            v16f r0 = {0}, r1, r2, r3;
            r0 += b0;
            r1 = r0, r2 = r0, r3 = r0;
            for (int64_t kk = 0; kk < k; kk++) {
                const float *bk = b + kk * n + j;
                float w = ai[kk];
                v16f x0, x1, x2, x3;
                LOAD16(x0, bk);
                LOAD16(x1, bk + 16);
                LOAD16(x2, bk + 32);
                LOAD16(x3, bk + 48);
                r0 += w * x0;
                r1 += w * x1;
                r2 += w * x2;
                r3 += w * x3;
            }
            memcpy(yi + j, &r0, 64);
            memcpy(yi + j + 16, &r1, 64);
            memcpy(yi + j + 32, &r2, 64);
            memcpy(yi + j + 48, &r3, 64);
        }
        for (int64_t j = n64; j < j1; j++) {
            float acc = b0;
            for (int64_t kk = 0; kk < k; kk++) acc += ai[kk] * b[kk * n + j];
            yi[j] = acc;
        }
    }
}

void cpu_vgemm_shallow(const float *a, const float *b, const float *bias, float *y, int64_t m, int64_t k, int64_t n) {
    cpu_vgemm_shallow_cols(a, b, bias, y, m, k, n, 0, n);
}

/* ---------------------------------------------------------------- attention's heads */

/* R rows of a product, W 16-column strips (W = 1 or 2): out[r ldo + 0..16 W) = alpha *
 * the sum over k < kk of a[r ars + k aks] * b[k ldb + 0..16 W), for r < R (1 to 4). Each
 * of b's vectors is loaded once for all R rows and each of a's values once for all W
 * strips; the R W sums stay in registers, independent of each other. */
static inline __attribute__((always_inline)) void strip(float *out, int64_t ldo, const float *a, int64_t ars,
                                                        int64_t aks, const float *b, int64_t ldb, int64_t kk,
                                                        int R, int W, float alpha) {
    v16f acc[2][4] = {{{0}, {0}, {0}, {0}}, {{0}, {0}, {0}, {0}}};
    for (int64_t k = 0; k < kk; k++) {
        v16f x[2];
        for (int w = 0; w < W; w++) LOAD16(x[w], b + k * ldb + 16 * w);
        for (int r = 0; r < R; r++) {
            float ar = a[r * ars + k * aks];
            for (int w = 0; w < W; w++) acc[w][r] += ar * x[w];
        }
    }
    for (int w = 0; w < W; w++)
        for (int r = 0; r < R; r++) {
            v16f v = acc[w][r] * alpha;
            memcpy(out + r * ldo + 16 * w, &v, 64);
        }
}

/* the same product over n columns: 32 columns at a time, then 16, then the columns past
 * the last strip one by one */
static inline __attribute__((always_inline)) void rows_product(float *out, int64_t ldo, const float *a, int64_t ars,
                                                               int64_t aks, const float *b, int64_t ldb, int64_t kk,
                                                               int64_t n, int R, float alpha) {
    int64_t n16 = n / 16 * 16, s = 0;
    for (; s + 32 <= n16; s += 32) strip(out + s, ldo, a, ars, aks, b + s, ldb, kk, R, 2, alpha);
    if (s < n16) strip(out + s, ldo, a, ars, aks, b + s, ldb, kk, R, 1, alpha);
    for (int r = 0; r < R; r++)
        for (int64_t c = n16; c < n; c++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < kk; k++) acc += a[r * ars + k * aks] * b[k * ldb + c];
            out[r * ldo + c] = alpha * acc;
        }
}

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

size_t cpu_vattention_work(int64_t t, int64_t dh) {
    int64_t tp = round16(t);
    return (size_t)(2 * dh * tp + 2 * tp * tp);
}

/* The scaled scores of query rows i0 .. i0 + R - 1 (R = 1 or 4; rows tp apart, each
 * computed up to n16, the multiple of 16 past the block's last key) -> their
 * probabilities (0 past the last key each row sees, up to tp); the maxima and sums go
 * to st ([R, 2]), or come from there (have). Each row sees `all` keys, or, with all 0
 * (causal), the keys up to its own. The R rows go through each loop together, so that
 * their reductions overlap, and the loops run to n16, masking, so that no scalar
 * remainder is left. */
static inline __attribute__((always_inline)) void prob_rows(float *restrict s, int64_t tp, int64_t i0, int R,
                                                            int64_t all, float *st, bool have) {
    int64_t n16 = round16(all ? all : i0 + R), n0 = all ? all : i0 + 1, n1 = all ? all : i0 + 2;
    int64_t n2 = all ? all : i0 + 3, n3 = all ? all : i0 + 4;
    float *s0 = s, *s1 = s + (R > 1 ? tp : 0), *s2 = s + (R > 1 ? 2 * tp : 0), *s3 = s + (R > 1 ? 3 * tp : 0);
    float m0 = s0[0], m1 = s1[0], m2 = s2[0], m3 = s3[0];
    if (have) {
        m0 = st[0];
        if (R > 1) m1 = st[2], m2 = st[4], m3 = st[6];
    } else {
#pragma omp simd reduction(max : m0, m1, m2, m3)
        for (int64_t j = 0; j < n16; j++) {
            m0 = j < n0 && s0[j] > m0 ? s0[j] : m0;
            if (R > 1) {
                m1 = j < n1 && s1[j] > m1 ? s1[j] : m1;
                m2 = j < n2 && s2[j] > m2 ? s2[j] : m2;
                m3 = j < n3 && s3[j] > m3 ? s3[j] : m3;
            }
        }
    }
    float u0 = 0.0f, u1 = 0.0f, u2 = 0.0f, u3 = 0.0f;
#pragma omp simd reduction(+ : u0, u1, u2, u3)
    for (int64_t j = 0; j < n16; j++) {
        float e0 = j < n0 ? vexp(s0[j] - m0) : 0.0f;
        s0[j] = e0, u0 += e0;
        if (R > 1) {
            float e1 = j < n1 ? vexp(s1[j] - m1) : 0.0f, e2 = j < n2 ? vexp(s2[j] - m2) : 0.0f,
                  e3 = j < n3 ? vexp(s3[j] - m3) : 0.0f;
            s1[j] = e1, s2[j] = e2, s3[j] = e3;
            u1 += e1, u2 += e2, u3 += e3;
        }
    }
    if (have) {
        u0 = st[1];
        if (R > 1) u1 = st[3], u2 = st[5], u3 = st[7];
    }
    float v0 = 1.0f / u0, v1 = 1.0f / u1, v2 = 1.0f / u2, v3 = 1.0f / u3;
#pragma omp simd
    for (int64_t j = 0; j < n16; j++) {
        s0[j] *= v0;
        if (R > 1) s1[j] *= v1, s2[j] *= v2, s3[j] *= v3;
    }
    for (int r = 0; r < R; r++)
        for (int64_t j = n16; j < tp; j++) s[r * tp + j] = 0.0f;
    st[0] = m0, st[1] = u0;
    if (R > 1) st[2] = m1, st[3] = u1, st[4] = m2, st[5] = u2, st[6] = m3, st[7] = u3;
}

typedef float v4f __attribute__((vector_size(16)));

/* one head's k (or v) [t, dh], rows ld apart, as [dh, tp] with zero columns past t:
 * 4x4 tiles through registers (a row-by-row copy would store one float per cache line
 * touched), then the edges one by one */
static void transposed(float *restrict kt, int64_t tp, const float *restrict k, int64_t ld, int64_t t, int64_t dh) {
    int64_t t4 = t / 4 * 4, d4 = dh / 4 * 4;
    for (int64_t j = 0; j < t4; j += 4)
        for (int64_t d = 0; d < d4; d += 4) {
            v4f r0, r1, r2, r3;
            memcpy(&r0, k + j * ld + d, 16);
            memcpy(&r1, k + (j + 1) * ld + d, 16);
            memcpy(&r2, k + (j + 2) * ld + d, 16);
            memcpy(&r3, k + (j + 3) * ld + d, 16);
            v4f t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5), t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
            v4f t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5), t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
            v4f o0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), o1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
            v4f o2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5), o3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
            memcpy(kt + d * tp + j, &o0, 16);
            memcpy(kt + (d + 1) * tp + j, &o1, 16);
            memcpy(kt + (d + 2) * tp + j, &o2, 16);
            memcpy(kt + (d + 3) * tp + j, &o3, 16);
        }
    for (int64_t d = 0; d < dh; d++) {
        for (int64_t j = d < d4 ? t4 : 0; j < t; j++) kt[d * tp + j] = k[j * ld + d];
        for (int64_t j = t; j < tp; j++) kt[d * tp + j] = 0.0f;
    }
}

/* one head's operands and work space */
typedef struct att_head {
    const float *q, *k, *v, *dy;
    int64_t ld, ldy, t, tp, dh;
    float scale;
    bool causal;
    float *kt, *vt, *p, *ds; /* k and v transposed; [t, tp] probabilities and ds */
} att_head;

/* the keys query rows i0 .. i0 + R - 1 see between them */
static inline int64_t keys_of(const att_head *h, int64_t i0, int R) { return h->causal ? i0 + R : h->t; }

/* forward, query rows i0 .. i0 + R - 1: their scores against the keys they see, the
 * probabilities (4 rows of p at a time), y */
static inline __attribute__((always_inline)) void forward_rows(const att_head *h, float *y, float *stats, int64_t i0,
                                                               int R) {
    int64_t keys = keys_of(h, i0, R);
    rows_product(h->p, h->tp, h->q + i0 * h->ld, h->ld, 1, h->kt, h->tp, h->dh, round16(keys), R, h->scale);
    prob_rows(h->p, h->tp, i0, R, h->causal ? 0 : h->t, stats + 2 * i0, false);
    rows_product(y + i0 * h->ldy, h->ldy, h->p, h->tp, 1, h->v, h->ld, keys, h->dh, R, 1.0f);
}

/* backward, query rows i0 ..: p and ds = p (dp - c) scale, then dq = ds k */
static inline __attribute__((always_inline)) void query_rows(const att_head *h, const float *stats, float *dq,
                                                             int64_t i0, int R) {
    int64_t keys = keys_of(h, i0, R), n16 = round16(keys), tp = h->tp;
    float *pb = h->p + i0 * tp, *sb = h->ds + i0 * tp;
    rows_product(pb, tp, h->q + i0 * h->ld, h->ld, 1, h->kt, tp, h->dh, n16, R, h->scale);
    rows_product(sb, tp, h->dy + i0 * h->ldy, h->ldy, 1, h->vt, tp, h->dh, n16, R, 1.0f); /* dp */
    float st[8];
    for (int r = 0; r < 2 * R; r++) st[r] = stats[2 * i0 + r];
    prob_rows(pb, tp, i0, R, h->causal ? 0 : h->t, st, true);
    for (int r = 0; r < R; r++) { /* p is 0 past each row's key: so is ds */
        float *pi = pb + r * tp, *si = sb + r * tp, c = 0.0f;
#pragma omp simd reduction(+ : c)
        for (int64_t j = 0; j < n16; j++) c += si[j] * pi[j];
#pragma omp simd
        for (int64_t j = 0; j < n16; j++) si[j] = pi[j] * (si[j] - c) * h->scale;
        for (int64_t j = n16; j < tp; j++) si[j] = 0.0f;
    }
    rows_product(dq + i0 * h->ld, h->ld, sb, tp, 1, h->k, h->ld, keys, h->dh, R, 1.0f);
}

/* backward, key rows j0 ..: dk = ds^T q and dv = p^T dy over the queries that see them
 * (causal: i >= j0; ds and p hold 0 where i < j) */
static inline __attribute__((always_inline)) void key_rows(const att_head *h, float *dk, float *dv, int64_t j0,
                                                           int R) {
    int64_t i0 = h->causal ? j0 : 0, queries = h->t - i0, tp = h->tp;
    rows_product(dk + j0 * h->ld, h->ld, h->ds + i0 * tp + j0, 1, tp, h->q + i0 * h->ld, h->ld, queries, h->dh, R,
                 1.0f);
    rows_product(dv + j0 * h->ld, h->ld, h->p + i0 * tp + j0, 1, tp, h->dy + i0 * h->ldy, h->ldy, queries, h->dh, R,
                 1.0f);
}

/* rows four at a time while four are left (R a constant in each call, so each is
 * specialized), then one at a time */
#define FOR_ROW_BLOCKS(t, i0, call4, call1)                                                        \
    for (int64_t i0 = 0; i0 < (t);) {                                                              \
        if ((t) - i0 >= 4) {                                                                       \
            call4;                                                                                 \
            i0 += 4;                                                                               \
        } else {                                                                                   \
            call1;                                                                                 \
            i0 += 1;                                                                               \
        }                                                                                          \
    }

VEC_CLONES void cpu_vattention_head(const float *q, const float *k, const float *v, int64_t ld, float *y, int64_t ldy,
                                    float *stats, int64_t t, int64_t dh, float scale, bool causal, float *work) {
    int64_t tp = round16(t);
    att_head h = {.q = q, .k = k, .v = v, .ld = ld, .ldy = ldy, .t = t, .tp = tp, .dh = dh, .scale = scale,
                  .causal = causal, .kt = work, .p = work + dh * tp};
    transposed(h.kt, tp, k, ld, t, dh);
    FOR_ROW_BLOCKS(t, i0, forward_rows(&h, y, stats, i0, 4), forward_rows(&h, y, stats, i0, 1))
}

VEC_CLONES void cpu_vattention_head_backward(const float *q, const float *k, const float *v, int64_t ld,
                                             const float *dy, int64_t ldy, const float *stats, float *dq, float *dk,
                                             float *dv, int64_t t, int64_t dh, float scale, bool causal,
                                             float *work) {
    int64_t tp = round16(t);
    att_head h = {.q = q, .k = k, .v = v, .dy = dy, .ld = ld, .ldy = ldy, .t = t, .tp = tp, .dh = dh,
                  .scale = scale, .causal = causal, .kt = work, .vt = work + dh * tp, .p = work + 2 * dh * tp,
                  .ds = work + 2 * dh * tp + tp * tp};
    transposed(h.kt, tp, k, ld, t, dh);
    transposed(h.vt, tp, v, ld, t, dh);
    FOR_ROW_BLOCKS(t, i0, query_rows(&h, stats, dq, i0, 4), query_rows(&h, stats, dq, i0, 1))
    FOR_ROW_BLOCKS(t, j0, key_rows(&h, dk, dv, j0, 4), key_rows(&h, dk, dv, j0, 1))
}
