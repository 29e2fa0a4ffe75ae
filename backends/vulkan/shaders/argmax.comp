#version 450
// Index of the largest element along one axis, first index on ties (int32 out).
// x: [outer, len, inner] -> out: [outer, inner]; one invocation per output.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n_out, len, inner; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { int o[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n_out) return;
    uint outer = i / p.inner, j = i % p.inner;
    uint base = outer * p.len * p.inner + j;
    uint best = 0u;
    float best_v = x[base];
    for (uint k = 1u; k < p.len; k++) {
        float v = x[base + k * p.inner];
        if (v > best_v) {
            best = k;
            best_v = v;
        }
    }
    o[i] = int(best);
}
