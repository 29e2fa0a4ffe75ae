/* Half-precision storage formats, converted one element at a time with integer
 * arithmetic only, so the result never depends on the compiler, the FPU's rounding mode
 * or flush-to-zero:
 *   F16  (IEEE 754 binary16): 1 sign, 5 exponent (bias 15), 10 fraction bits; largest
 *        finite 65504, smallest normal 2^-14, subnormals down to 2^-24.
 *   BF16 (bfloat16): float32's upper 16 bits: float32's range, 8 significant bits.
 * To float32 both are exact. From float32 both round to nearest, ties to even; F16
 * overflows to infinity from 65520 up; a NaN stays a NaN (quiet, sign kept). */
#include "internal.h"

#include <string.h>

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float zoo__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
    if (exp == 0x1f) /* infinity; a NaN keeps its payload and is made quiet, as F16C does */
        return float_of(sign | 0x7f800000u | (frac << 13) | (frac ? 0x400000u : 0));
    if (exp != 0) return float_of(sign | ((exp + 112) << 23) | (frac << 13)); /* rebias 15 -> 127 */
    if (frac == 0) return float_of(sign);
    /* subnormal, frac * 2^-24: shift the fraction up to a leading 1 (bit 10) */
    uint32_t e = 113; /* the exponent of 2^-14, float-biased, before the shifts */
    while (!(frac & 0x400u)) {
        frac <<= 1;
        e--;
    }
    return float_of(sign | (e << 23) | ((frac & 0x3ffu) << 13));
}

/* m >> shift, rounded to nearest, ties to even (1 <= shift <= 31) */
static uint32_t shift_round(uint32_t m, unsigned shift) {
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    return q + (rem > half || (rem == half && (q & 1)));
}

uint16_t zoo__f32_to_f16(float f) {
    uint32_t u = bits_of(f), ax = u & 0x7fffffffu;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (ax > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x1ffu); /* NaN: quiet */
    if (ax >= 0x477ff000u) return sign | 0x7c00u; /* 65520 and up (infinity too) */
    if (ax >= 0x38800000u) /* 2^-14 and up: a normal half; a carry may round up the exponent */
        return sign | (uint16_t)shift_round(ax - 0x38000000u, 13);
    unsigned e = ax >> 23; /* a subnormal half or zero: the value in units of 2^-24 */
    if (e < 102) return sign; /* under 2^-25: rounds to 0 (2^-25 itself ties to even 0) */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u; /* value = m 2^(e - 150) */
    return sign | (uint16_t)shift_round(m, 126 - e);
}

float zoo__bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t zoo__f32_to_bf16(float f) {
    uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN: quiet */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
