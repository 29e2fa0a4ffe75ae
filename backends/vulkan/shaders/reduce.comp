#version 450
// Sum, mean or max over the dims where out is 1 and x is not, one invocation per
// output element. x: [d0, d1, d2, d3] -> out: [od0, od1, od2, od3] (each od = d or 1).
// The order of additions is cpu.c's (rows of the last dim summed from 0, then added
// in turn), so the results are the CPU's bit for bit.
//   last_only: only the last dim is reduced (cpu.c's fast path: mean divides by d3,
//              max starts from the first element)
//   inv:       the general path's mean factor, numel(out) / numel(x)
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Push {
    uint d0, d1, d2, d3, od0, od1, od2, od3;
    uint n_out, op, last_only;
    float inv;
} p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { float o[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n_out) return;
    // this output's coordinates, and the extent of each reduced dim (1 where kept)
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

    precise float acc;
    if (p.op == REDUCE_MAX) {
        bool first = p.last_only != 0u;
        acc = first ? x[base] : uintBitsToFloat(0xff800000u); // -inf
        for (uint i0 = 0u; i0 < r0; i0++)
            for (uint i1 = 0u; i1 < r1; i1++)
                for (uint i2 = 0u; i2 < r2; i2++) {
                    uint row = base + i0 * s0 + i1 * s1 + i2 * s2;
                    for (uint i3 = first ? 1u : 0u; i3 < r3; i3++) {
                        float v = x[row + i3];
                        acc = v > acc ? v : acc;
                    }
                }
        o[i] = acc;
        return;
    }
    acc = 0.0;
    for (uint i0 = 0u; i0 < r0; i0++)
        for (uint i1 = 0u; i1 < r1; i1++)
            for (uint i2 = 0u; i2 < r2; i2++) {
                uint row = base + i0 * s0 + i1 * s1 + i2 * s2;
                precise float part = 0.0;
                for (uint i3 = 0u; i3 < r3; i3++) part += x[row + i3];
                acc += part;
            }
    if (p.op == REDUCE_MEAN) acc = p.last_only != 0u ? acc / float(p.d3) : acc * p.inv;
    o[i] = acc;
}
