#version 450
// out = x with dims permuted, as a strided gather: out is [d0, d1, d2, d3] and its
// element (c0, c1, c2, c3) is x[c0 s0 + c1 s1 + c2 s2 + c3 s3]. One invocation per element.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n, d1, d2, d3, s0, s1, s2, s3; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { float o[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    uint t = i;
    uint c3 = t % p.d3;
    t /= p.d3;
    uint c2 = t % p.d2;
    t /= p.d2;
    uint c1 = t % p.d1;
    uint c0 = t / p.d1;
    o[i] = x[c0 * p.s0 + c1 * p.s1 + c2 * p.s2 + c3 * p.s3];
}
