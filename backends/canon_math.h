/* zoo's elementary functions: exp, log, tanh, sigmoid, erf, pow and cos(2 pi u),
 * written once for every backend. This file is both C and GLSL: the CPU backend
 * includes it as a header, the Vulkan shaders #include it, and the few lines below
 * map the spelling differences. Each function uses only +, -, *, / and sqrt, which
 * are correctly rounded on both (C with contraction off; GLSL with `precise`, which
 * forbids fusing a multiply into an add, and division and square root through
 * shaders/exact.glsl, since Vulkan only promises 2.5 and 3 ulp for those), plus exact
 * bit and integer operations. So
 * a value computed here is the same bit pattern on the CPU and on a GPU, where
 * libm's expf and GLSL's built-in exp would each round their own way.
 *
 * Accuracy (measured by tests/test_canon.c against double precision over the
 * ranges that matter): exp, log within 2 ulp; tanh, sigmoid, erf, cos within
 * 4 ulp or 1e-7 absolute near their zeros; pow with a fractional exponent within
 * about |a ln v| ulp (32 in the test), integer powers by repeated squaring. */
#ifndef ZOO_CANON_MATH_H
#define ZOO_CANON_MATH_H

#ifdef GL_core_profile /* ------------------------------------------- GLSL */
#define ZOO_FN
#define ZOO_PRECISE precise
#define ZOO_FLOAT(x) float(x)
#define ZOO_INT(x) int(x)
#define zoo_bits_to_float(i) intBitsToFloat(i)
#define zoo_float_to_bits(f) floatBitsToInt(f)
#define zoo_floorf(x) floor(x)
#define zoo_fabsf(x) abs(x)
#define zoo_sqrtf(x) zoo_sqrt(x) /* shaders/exact.glsl: correctly rounded in exact mode */
#define ZOO_DIV(a, b) zoo_div(a, b)
#else /* ------------------------------------------------------------- C */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#define ZOO_FN static inline
#define ZOO_PRECISE
#define ZOO_FLOAT(x) ((float)(x))
#define ZOO_INT(x) ((int)(x))
static inline float zoo_bits_to_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
static inline int zoo_float_to_bits(float f) {
    int i;
    memcpy(&i, &f, sizeof i);
    return i;
}
static inline float zoo_floorf(float x) { return __builtin_floorf(x); }
static inline float zoo_fabsf(float x) { return __builtin_fabsf(x); }
static inline float zoo_sqrtf(float x) { return __builtin_sqrtf(x); }
#define ZOO_DIV(a, b) ((a) / (b))
#endif

#define ZOO_INF zoo_bits_to_float(0x7f800000)
#define ZOO_NAN zoo_bits_to_float(0x7fc00000)

/* 2^n for -126 <= n <= 127, exactly */
ZOO_FN float zoo_exp2i(int n) { return zoo_bits_to_float((n + 127) << 23); }

/* e^x. x = n ln2 + r with |r| <= ln2/2 (Cody and Waite's two-part ln2, whose high
 * part has 12 trailing zero bits so n * high is exact), e^r by its Taylor series to
 * r^8, then the result scaled by 2^n in two exact steps (so results that are
 * subnormal come out right). */
ZOO_FN float zoo_expf(float x) {
    if (x != x) return x;
    if (x > 88.72284f) return ZOO_INF;
    if (x < -103.97208f) return 0.0f;
    ZOO_PRECISE float t = x * 1.44269504f;
    ZOO_PRECISE float fn = zoo_floorf(t + 0.5f);
    ZOO_PRECISE float r = x - fn * 0.693145752f; /* ln2 high: 0x3f317200 */
    r = r - fn * 1.42860677e-06f;                 /* ln2 low */
    ZOO_PRECISE float p = 2.48015873e-05f;        /* 1/8! */
    p = p * r + 1.98412698e-04f;                  /* 1/7! */
    p = p * r + 1.38888889e-03f;
    p = p * r + 8.33333333e-03f;
    p = p * r + 4.16666667e-02f;
    p = p * r + 1.66666667e-01f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int n = ZOO_INT(fn);
    int n1 = n / 2;
    ZOO_PRECISE float y = p * zoo_exp2i(n1);
    y = y * zoo_exp2i(n - n1);
    return y;
}

/* ln x. x = m 2^e with sqrt(1/2) <= m < sqrt(2); ln m = 2 atanh(s), s = (m-1)/(m+1),
 * |s| < 0.172, by its odd series to s^15; ln x = e ln2 + ln m with ln2 in two parts. */
ZOO_FN float zoo_logf(float x) {
    if (x != x) return x;
    if (x < 0.0f) return ZOO_NAN;
    if (x == 0.0f) return -ZOO_INF;
    if (x == ZOO_INF) return x;
    int e = 0;
    ZOO_PRECISE float v = x;
    if (v < 1.17549435e-38f) { /* subnormal: scale into the normal range */
        v = v * 16777216.0f;  /* 2^24 */
        e = -24;
    }
    int bits = zoo_float_to_bits(v);
    e = e + ((bits >> 23) & 255) - 127;
    ZOO_PRECISE float m = zoo_bits_to_float((bits & 0x007fffff) | 0x3f800000); /* [1, 2) */
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e = e + 1;
    }
    ZOO_PRECISE float f = m - 1.0f;
    ZOO_PRECISE float s = ZOO_DIV(f, m + 1.0f);
    ZOO_PRECISE float z = s * s;
    ZOO_PRECISE float q = 1.0f / 15.0f;
    q = q * z + 1.0f / 13.0f;
    q = q * z + 1.0f / 11.0f;
    q = q * z + 1.0f / 9.0f;
    q = q * z + 1.0f / 7.0f;
    q = q * z + 1.0f / 5.0f;
    q = q * z + 1.0f / 3.0f;
    /* ln m = 2s + 2s z q, arranged so the large part 2s is added last */
    ZOO_PRECISE float lnm = 2.0f * s * z * q;
    ZOO_PRECISE float fe = ZOO_FLOAT(e);
    ZOO_PRECISE float r = fe * 1.42860677e-06f + lnm;
    r = r + 2.0f * s;
    r = r + fe * 0.693145752f;
    return r;
}

/* tanh x = sign(x) (1 - e) / (1 + e) with e = e^(-2|x|), which cannot overflow;
 * below 0.3, where that cancels, the series x - x^3/3 + 2x^5/15 - ... to x^13 */
ZOO_FN float zoo_tanhf(float x) {
    ZOO_PRECISE float ax = zoo_fabsf(x);
    if (x != x) return x;
    if (ax < 0.3f) {
        ZOO_PRECISE float z = x * x;
        ZOO_PRECISE float s = 21844.0f / 6081075.0f;
        s = s * z - 1382.0f / 155925.0f;
        s = s * z + 62.0f / 2835.0f;
        s = s * z - 17.0f / 315.0f;
        s = s * z + 2.0f / 15.0f;
        s = s * z - 1.0f / 3.0f;
        ZOO_PRECISE float r = x + x * z * s;
        return r;
    }
    ZOO_PRECISE float e = zoo_expf(-2.0f * ax);
    ZOO_PRECISE float r = ZOO_DIV(1.0f - e, 1.0f + e);
    return x < 0.0f ? -r : r;
}

ZOO_FN float zoo_sigmoidf(float x) {
    ZOO_PRECISE float r = ZOO_DIV(1.0f, 1.0f + zoo_expf(-x));
    return r;
}

/* erf x, relative error about 1e-7. Below 0.5 the Maclaurin series (terms to
 * x^15 leave < 1e-9); above, erf = 1 - erfc with the Chebyshev-fitted erfc of
 * Numerical Recipes (2nd ed., section 6.2: fractional error < 1.2e-7). */
ZOO_FN float zoo_erff(float x) {
    ZOO_PRECISE float ax = zoo_fabsf(x);
    if (x != x) return x;
    if (ax < 0.5f) {
        ZOO_PRECISE float z = x * x;
        ZOO_PRECISE float s = -1.0f / 75600.0f;
        s = s * z + 1.0f / 9360.0f;
        s = s * z - 1.0f / 1320.0f;
        s = s * z + 1.0f / 216.0f;
        s = s * z - 1.0f / 42.0f;
        s = s * z + 1.0f / 10.0f;
        s = s * z - 1.0f / 3.0f;
        s = s * z + 1.0f;
        ZOO_PRECISE float r = 1.12837917f * x * s; /* 2 / sqrt(pi) */
        return r;
    }
    if (ax > 10.0f) return x < 0.0f ? -1.0f : 1.0f;
    ZOO_PRECISE float t = ZOO_DIV(1.0f, 1.0f + 0.5f * ax);
    ZOO_PRECISE float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    ZOO_PRECISE float erfc = t * zoo_expf(p - ax * ax);
    ZOO_PRECISE float r = 1.0f - erfc;
    return x < 0.0f ? -r : r;
}

/* v^a as libm's powf defines it for the cases zoo uses: small integer powers by
 * squaring (exact where the result is), else e^(a ln|v|) with the sign of odd
 * integer powers of negative bases; a negative base with a fractional power is NaN */
ZOO_FN float zoo_powf(float v, float a) {
    if (a == 0.0f) return 1.0f;
    bool integer = zoo_floorf(a) == a;
    if (integer && zoo_fabsf(a) <= 16.0f) {
        int e = ZOO_INT(zoo_fabsf(a));
        ZOO_PRECISE float r = 1.0f;
        ZOO_PRECISE float b = v;
        while (e != 0) {
            if ((e & 1) != 0) r = r * b;
            b = b * b;
            e = e >> 1;
        }
        if (a < 0.0f) r = ZOO_DIV(1.0f, r);
        return r;
    }
    if (a == 0.5f) return zoo_sqrtf(v);
    if (v < 0.0f && !integer) return ZOO_NAN;
    if (v == 0.0f) return a > 0.0f ? 0.0f : ZOO_INF;
    ZOO_PRECISE float r = zoo_expf(a * zoo_logf(zoo_fabsf(v)));
    /* an odd integer power of a negative base is negative */
    if (v < 0.0f && zoo_floorf(a * 0.5f) != a * 0.5f) r = -r;
    return r;
}

/* sin and cos of (pi/2) g for 0 <= g <= 1/2, by their Taylor series */
ZOO_FN float zoo_sin_quarterf(float g) {
    ZOO_PRECISE float y = g * 1.57079633f;
    ZOO_PRECISE float z = y * y;
    ZOO_PRECISE float s = -1.0f / 39916800.0f;
    s = s * z + 1.0f / 362880.0f;
    s = s * z - 1.0f / 5040.0f;
    s = s * z + 1.0f / 120.0f;
    s = s * z - 1.0f / 6.0f;
    ZOO_PRECISE float r = y + y * z * s;
    return r;
}

ZOO_FN float zoo_cos_quarterf(float g) {
    ZOO_PRECISE float y = g * 1.57079633f;
    ZOO_PRECISE float z = y * y;
    ZOO_PRECISE float c = 1.0f / 479001600.0f;
    c = c * z - 1.0f / 3628800.0f;
    c = c * z + 1.0f / 40320.0f;
    c = c * z - 1.0f / 720.0f;
    c = c * z + 1.0f / 24.0f;
    c = c * z - 0.5f;
    ZOO_PRECISE float r = 1.0f + z * c;
    return r;
}

/* cos(2 pi u) for 0 <= u < 1 (Box-Muller's angle): u * 4 splits exactly into a
 * quadrant q and a fraction f, and each quadrant is a sine or cosine of (pi/2) g
 * with g = f or 1 - f, whichever is at most 1/2 */
ZOO_FN float zoo_cos2pif(float u) {
    ZOO_PRECISE float t = u * 4.0f;
    ZOO_PRECISE float fq = zoo_floorf(t);
    ZOO_PRECISE float f = t - fq;
    int q = ZOO_INT(fq);
    bool low = f <= 0.5f;
    ZOO_PRECISE float g = low ? f : 1.0f - f;
    /* cos((pi/2)(q + f)): q = 0: cos f', 1: -sin f', 2: -cos f', 3: sin f' (f' = (pi/2) f) */
    bool use_cos = (q == 0 || q == 2) == low;
    ZOO_PRECISE float r = use_cos ? zoo_cos_quarterf(g) : zoo_sin_quarterf(g);
    return (q == 1 || q == 2) ? -r : r;
}

#endif
