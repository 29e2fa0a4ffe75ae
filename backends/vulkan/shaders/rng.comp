#version 450
// Random fill: element i takes Philox counter offset + i under key seed, exactly as
// cpu.c does (backends/philox.h), with canon_math.h's log and cos, so every fill
// equals the CPU's bit for bit.
//   uniform: U[a, b)   normal: N(a, b^2) by Box-Muller   bernoulli: b with probability a, else 0
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "philox.glsl"
#include "../../canon_math.h"

layout(push_constant) uniform Push { uint n; int dist; uint seed_lo, seed_hi, offset_lo, offset_hi; float a, b; } p;
layout(binding = 0) buffer O { float o[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    uvec4 r = philox4x32(uvec2(p.seed_lo, p.seed_hi), philox_counter(uvec2(p.offset_lo, p.offset_hi), i));
    precise float v;
    if (p.dist == ZOO_RNG_NORMAL) {
        float u1 = (float(r.x >> 8) + 1.0) * (1.0 / 16777216.0); // (0, 1]
        float u2 = philox_unit(r.y);
        precise float radius = zoo_sqrt(-2.0 * zoo_logf(u1));
        v = p.a + p.b * radius * zoo_cos2pif(u2);
    } else if (p.dist == ZOO_RNG_BERNOULLI) {
        v = philox_unit(r.x) < p.a ? p.b : 0.0;
    } else {
        v = p.a + (p.b - p.a) * philox_unit(r.x);
    }
    o[i] = v;
}
