// Functions GLSL lacks or leaves undefined where the CPU backend's libm is defined:
// erf (for exact GELU), pow of a negative base, tanh without overflow.

// erf(x), relative error about 1e-7. Below 0.5 the Maclaurin series (terms x^(2n+1),
// n <= 7, leave < 1e-9); above, erf = 1 - erfc with the Chebyshev-fitted erfc of
// Numerical Recipes (2nd ed., section 6.2: fractional error < 1.2e-7).
float zoo_erf(float x) {
    float ax = abs(x);
    if (ax < 0.5) {
        float z = x * x;
        float s = -1.0 / 75600.0;
        s = s * z + 1.0 / 9360.0;
        s = s * z - 1.0 / 1320.0;
        s = s * z + 1.0 / 216.0;
        s = s * z - 1.0 / 42.0;
        s = s * z + 1.0 / 10.0;
        s = s * z - 1.0 / 3.0;
        s = s * z + 1.0;
        return 1.1283791670955126 * x * s; // 2 / sqrt(pi)
    }
    float t = 1.0 / (1.0 + 0.5 * ax);
    float p = 0.17087277;
    p = p * t - 0.82215223;
    p = p * t + 1.48851587;
    p = p * t - 1.13520398;
    p = p * t + 0.27886807;
    p = p * t - 0.18628806;
    p = p * t + 0.09678418;
    p = p * t + 0.37409196;
    p = p * t + 1.00002368;
    p = p * t - 1.26551223;
    float erfc = t * exp(-ax * ax + p);
    return x < 0.0 ? erfc - 1.0 : 1.0 - erfc;
}

// powf(v, a): GLSL's pow is undefined for v < 0 and inexact for small integer powers.
float zoo_pow(float v, float a) {
    if (a == 0.0) return 1.0;
    bool integer = floor(a) == a;
    if (integer && abs(a) <= 16.0) {
        // by squaring: within an ulp or two, like libm
        uint e = uint(abs(a));
        float r = 1.0, b = v;
        while (e != 0u) {
            if ((e & 1u) != 0u) r *= b;
            b *= b;
            e >>= 1;
        }
        return a < 0.0 ? 1.0 / r : r;
    }
    if (v >= 0.0) return pow(v, a);
    if (!integer) return uintBitsToFloat(0x7fc00000u); // NaN, as libm
    float r = pow(-v, a);
    return mod(a, 2.0) == 1.0 ? -r : r;
}

float zoo_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

// tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|), which cannot overflow;
// below 0.3, where that cancels, the series x - x^3/3 + 2x^5/15 - ... to x^13.
float zoo_tanh(float x) {
    float ax = abs(x);
    if (ax < 0.3) {
        float z = x * x;
        float s = 21844.0 / 6081075.0;
        s = s * z - 1382.0 / 155925.0;
        s = s * z + 62.0 / 2835.0;
        s = s * z - 17.0 / 315.0;
        s = s * z + 2.0 / 15.0;
        s = s * z - 1.0 / 3.0;
        return x + x * z * s;
    }
    float e = exp(-2.0 * ax);
    float r = (1.0 - e) / (1.0 + e);
    return x < 0.0 ? -r : r;
}
