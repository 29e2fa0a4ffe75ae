#version 450
// Sum, mean or max like reduce.comp, but one workgroup per output element: for few
// outputs over many elements (a loss over a whole batch). Each invocation folds a
// strided share in order, then a fixed tree in shared memory combines them, so the
// result is the same on every run (not bit-equal to the CPU's sequential sum).
// The workgroup size must be a power of two.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push {
    uint d0, d1, d2, d3, od0, od1, od2, od3;
    uint n_out, op, last_only;
    float inv;
} p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { float o[]; };

shared float part[gl_WorkGroupSize.x];

void main() {
    uint i = vk_group_index();
    uint lid = gl_LocalInvocationID.x;
    if (i >= p.n_out) return; // the whole workgroup leaves together
    uint t = i;
    uint c3 = t % p.od3;
    t /= p.od3;
    uint c2 = t % p.od2;
    t /= p.od2;
    uint c1 = t % p.od1;
    uint c0 = t / p.od1;
    uint r0 = p.od0 == 1u ? p.d0 : 1u, r1 = p.od1 == 1u ? p.d1 : 1u;
    uint r2 = p.od2 == 1u ? p.d2 : 1u, r3 = p.od3 == 1u ? p.d3 : 1u;
    uint s2 = p.d3, s1 = p.d2 * s2, s0 = p.d1 * s1;
    uint base = c0 * s0 + c1 * s1 + c2 * s2 + c3;
    uint count = r0 * r1 * r2 * r3;
    bool is_max = p.op == REDUCE_MAX;

    float acc = is_max ? uintBitsToFloat(0xff800000u) : 0.0;
    for (uint k = lid; k < count; k += gl_WorkGroupSize.x) {
        uint q = k;
        uint i3 = q % r3;
        q /= r3;
        uint i2 = q % r2;
        q /= r2;
        uint i1 = q % r1;
        uint i0 = q / r1;
        float v = x[base + i0 * s0 + i1 * s1 + i2 * s2 + i3];
        acc = is_max ? (v > acc ? v : acc) : acc + v;
    }
    part[lid] = acc;
    barrier();
    for (uint half_ = gl_WorkGroupSize.x / 2u; half_ > 0u; half_ /= 2u) {
        if (lid < half_) {
            float u = part[lid + half_];
            part[lid] = is_max ? (u > part[lid] ? u : part[lid]) : part[lid] + u;
        }
        barrier();
    }
    if (lid == 0u) {
        float r = part[0];
        if (p.op == REDUCE_MEAN) r = p.last_only != 0u ? r / float(p.d3) : r * p.inv;
        o[i] = r;
    }
}
