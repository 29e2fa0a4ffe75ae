// Correctly rounded float division and square root built from integer operations
// alone, for exact mode: Vulkan promises only 2.5 ulp for division and 3 ulp for
// square root, so a GPU's own `/` and sqrt() may differ from the CPU's IEEE results by
// an ulp. These give round-to-nearest-even on every device, subnormals included, and
// NaNs as x86 makes them (an operand NaN made quiet, else the default NaN 0xffc00000).
// zoo_div and zoo_sqrt choose by mode: these in exact mode, the device's own in fast.
// Loops are unrolled, so lavapipe's loop budget never sees them.
#extension GL_EXT_control_flow_attributes : require

// u's magnitude as m * 2^(e - 23), m's leading 1 at bit 23 (subnormals normalized);
// u is finite and not zero
void zoo_unpack_f32(uint u, out uint m, out int e) {
    uint ex = (u >> 23) & 0xffu;
    m = u & 0x7fffffu;
    if (ex == 0u) {
        int s = 23 - findMSB(m);
        m <<= uint(s);
        e = -126 - s;
    } else {
        m |= 0x800000u;
        e = int(ex) - 127;
    }
}

// The float nearest q * 2^(e - 25) (ties to even), q with its top bit at 25 and
// `sticky` set when nonzero bits were cut off below q: 24 bits are kept (fewer for a
// subnormal result), the 2 below and the sticky bit decide the rounding.
uint zoo_round_f32(uint sign, uint q, bool sticky, int e) {
    int be = e + 127; // the biased exponent, if the result is normal
    if (be >= 255) return sign | 0x7f800000u;
    int shift = be > 0 ? 2 : 3 - be;
    if (shift > 26) return sign; // under half the smallest subnormal
    uint kept = q >> uint(shift);
    uint rest = q & ((1u << uint(shift)) - 1u), half_ = 1u << uint(shift - 1);
    if (rest > half_ || (rest == half_ && (sticky || (kept & 1u) != 0u))) kept += 1u;
    // a normal kept holds its leading 1 at bit 23, which adds one to the exponent
    // field; a carry out of the mantissa moves on into the exponent the same way
    return sign | (be > 0 ? (uint(be - 1) << 23) + kept : kept);
}

float zoo_div_rn(float a, float b) {
    uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
    uint sign = (ua ^ ub) & 0x80000000u, aa = ua & 0x7fffffffu, ab = ub & 0x7fffffffu;
    if (aa > 0x7f800000u) return uintBitsToFloat(ua | 0x400000u);
    if (ab > 0x7f800000u) return uintBitsToFloat(ub | 0x400000u);
    bool a_inf = aa == 0x7f800000u, b_inf = ab == 0x7f800000u;
    if ((a_inf && b_inf) || (aa == 0u && ab == 0u)) return uintBitsToFloat(0xffc00000u);
    if (a_inf || ab == 0u) return uintBitsToFloat(sign | 0x7f800000u);
    if (b_inf || aa == 0u) return uintBitsToFloat(sign);
    uint ma, mb;
    int ea, eb;
    zoo_unpack_f32(aa, ma, ea);
    zoo_unpack_f32(ab, mb, eb);
    int e = ea - eb;
    if (ma < mb) { // so that ma / mb is in [1, 2)
        ma <<= 1;
        e -= 1;
    }
    // long division: 26 bits of ma / mb, the remainder for the sticky bit
    uint q = 0u, r = ma;
    [[unroll]] for (int i = 0; i < 26; i++) {
        q <<= 1;
        if (r >= mb) {
            r -= mb;
            q |= 1u;
        }
        r <<= 1;
    }
    return uintBitsToFloat(zoo_round_f32(sign, q, r != 0u, e));
}

float zoo_sqrt_rn(float x) {
    uint u = floatBitsToUint(x), ax = u & 0x7fffffffu;
    if (ax == 0u) return x; // +-0
    if (ax > 0x7f800000u) return uintBitsToFloat(u | 0x400000u);
    if ((u & 0x80000000u) != 0u) return uintBitsToFloat(0xffc00000u);
    if (ax == 0x7f800000u) return x;
    uint m;
    int e;
    zoo_unpack_f32(u, m, e);
    // x = m * 2^E with E even and m in [2^24, 2^26); then sqrt(x) = sqrt(m * 2^26) *
    // 2^((E - 26) / 2), where sqrt(m * 2^26) is in [2^25, 2^26)
    int E = e - 23;
    if ((E & 1) != 0) {
        m <<= 1;
        E -= 1;
    } else {
        m <<= 2;
        E -= 2;
    }
    // digit by digit: the root q of m * 2^26, two radicand bits a step (the bits of m,
    // then zeros), remainder r
    uint q = 0u, r = 0u;
    [[unroll]] for (int i = 0; i < 26; i++) {
        int s = 24 - 2 * i;
        r = (r << 2) | (s >= 0 ? (m >> uint(s)) & 3u : 0u);
        uint t = (q << 2) | 1u;
        q <<= 1;
        if (r >= t) {
            r -= t;
            q |= 1u;
        }
    }
    return uintBitsToFloat(zoo_round_f32(0u, q, r != 0u, 25 + (E - 26) / 2));
}

float zoo_div(float a, float b) { return ZOO_EXACT ? zoo_div_rn(a, b) : a / b; }
float zoo_sqrt(float x) { return ZOO_EXACT ? zoo_sqrt_rn(x) : sqrt(x); }
