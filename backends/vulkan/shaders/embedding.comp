#version 450
// out[i, :] = weight[ids[i], :] (backend.h's embedding). weight: [v, d], ids: int32 [n],
// out: [n, d]. One invocation per output element.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n, d; } p;
layout(binding = 0) readonly buffer W { uint w[]; };
layout(binding = 1) readonly buffer I { int ids[]; };
layout(binding = 2) buffer O { uint o[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n * p.d) return;
    uint row = i / p.d, col = i - row * p.d;
    o[i] = w[uint(ids[row]) * p.d + col];
}
