#version 450
// dw[r, :] = the sum, in increasing i, of dy[i, :] over the i with ids[i] == r
// (backend.h's embedding_backward). ids: int32 [n], dy: [n, d], dw: [v, d]. One
// invocation per dw element walks every id in order: a gather, so no atomics and the
// same bits as the CPU's in-order accumulation. The workgroup stages the ids in shared
// memory a tile at a time.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n, d, v; } p;
layout(binding = 0) readonly buffer I { int ids[]; };
layout(binding = 1) readonly buffer G { float dy[]; };
layout(binding = 2) buffer W { float dw[]; };

shared int tile[gl_WorkGroupSize.x];

void main() {
    uint e = vk_index();
    bool live = e < p.v * p.d;
    uint r = live ? e / p.d : 0u, col = live ? e - r * p.d : 0u;
    float acc = 0.0;
    for (uint base = 0; base < p.n; base += gl_WorkGroupSize.x) {
        uint k = base + gl_LocalInvocationID.x;
        tile[gl_LocalInvocationID.x] = k < p.n ? ids[k] : -1;
        barrier();
        uint m = min(gl_WorkGroupSize.x, p.n - base);
        for (uint j = 0; j < m; j++)
            if (tile[j] == int(r)) acc += dy[(base + j) * p.d + col];
        barrier();
    }
    if (live) dw[e] = acc;
}
