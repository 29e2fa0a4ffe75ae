/* Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
 * the counter-based generator behind every random number in zoo. Element i of a fill
 * keyed by (seed, offset) uses counter offset + i, so any backend, any thread order and
 * any split of the work yields the same values. The GLSL twin must stay bit-identical. */
#ifndef ZOO_PHILOX_H
#define ZOO_PHILOX_H

#include <math.h>
#include <stdint.h>

#include "canon_math.h"

static inline void zoo_philox4x32(uint64_t key, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* 24 random bits -> [0, 1), exactly representable, the same in GLSL */
static inline float zoo_philox_unit(uint32_t bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }

/* element i of a fill: U[lo, hi) */
static inline float zoo_philox_uniform(uint64_t seed, uint64_t ctr, float lo, float hi) {
    uint32_t r[4];
    zoo_philox4x32(seed, ctr, r);
    return lo + (hi - lo) * zoo_philox_unit(r[0]);
}

/* element i of a fill: N(mean, std^2) by Box-Muller on the first two words */
static inline float zoo_philox_normal(uint64_t seed, uint64_t ctr, float mean, float std) {
    uint32_t r[4];
    zoo_philox4x32(seed, ctr, r);
    float u1 = ((float)(r[0] >> 8) + 1.0f) * (1.0f / 16777216.0f); /* (0, 1] */
    float u2 = zoo_philox_unit(r[1]);
    float radius = sqrtf(-2.0f * zoo_logf(u1));
    return mean + std * radius * zoo_cos2pif(u2);
}

#endif
