// Philox 4x32-10, bit for bit the C version in backends/philox.h (see there for the
// reference). 64-bit seed and counter travel as uvec2 (low word first).

uvec4 philox4x32(uvec2 key, uvec2 counter) {
    uint c0 = counter.x, c1 = counter.y, c2 = 0u, c3 = 0u;
    uint k0 = key.x, k1 = key.y;
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c0, hi0, lo0);
        umulExtended(0xCD9E8D57u, c2, hi1, lo1);
        uint n0 = hi1 ^ c1 ^ k0;
        uint n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return uvec4(c0, c1, c2, c3);
}

// 24 random bits -> [0, 1), exactly representable
float philox_unit(uint bits) { return float(bits >> 8) * (1.0 / 16777216.0); }

// offset + i as a 64-bit counter
uvec2 philox_counter(uvec2 offset, uint i) {
    uint carry;
    uint lo = uaddCarry(offset.x, i, carry);
    return uvec2(lo, offset.y + carry);
}
