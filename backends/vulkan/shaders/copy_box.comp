#version 450
// Copies a box of up to 4 dims between two tensors' storage (backend.h's zoo_box), as
// bits: the buffers are read as uint so int32 and float data pass unchanged. One
// invocation per box element, in row-major order over the box.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push {
    int n0, n1, n2, n3;
    int src_offset, s0, s1, s2, s3;
    int dst_offset, t0, t1, t2, t3;
} p;
layout(binding = 0) readonly buffer S { uint s[]; };
layout(binding = 1) buffer D { uint d[]; };

void main() {
    uint i = vk_index();
    if (i >= uint(p.n0 * p.n1 * p.n2 * p.n3)) return;
    int t = int(i);
    int j3 = t % p.n3;
    t /= p.n3;
    int j2 = t % p.n2;
    t /= p.n2;
    int j1 = t % p.n1;
    int j0 = t / p.n1;
    d[p.dst_offset + j0 * p.t0 + j1 * p.t1 + j2 * p.t2 + j3 * p.t3] =
        s[p.src_offset + j0 * p.s0 + j1 * p.s1 + j2 * p.s2 + j3 * p.s3];
}
