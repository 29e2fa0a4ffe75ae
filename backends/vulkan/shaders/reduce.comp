#version 450
// One pass of a sum, mean or max over the dims where out is 1 and x is not, in zoo's
// order (backends/canon.h). x: [d0, d1, d2, d3]; output o has the x elements that
// reduce into it, in x's row-major order, as its `len` terms. One invocation per
// (output, group of 256 terms) adds its group from zero, left to right, and writes
// the group sum to dst[o * groups + g]. With more than one group the host runs the
// next pass over those group sums (as x = [1, 1, n_out, groups] reducing its last
// dim), until a pass has one group per output: that one writes the result.
//   cont:  the result continues a sum already in dst (one group only): the group
//          starts from dst[o] instead of 0, as if its earlier terms came first
//   count: the mean's divisor on the last pass, 0 for none
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Push {
    uint d0, d1, d2, d3, od0, od1, od2, od3;
    uint n_out; int op; uint len, groups, cont;
    float count;
} p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { float dst[]; };

const uint GROUP = 256u; // canon.h's ZOO_SUM_GROUP

void main() {
    uint i = vk_index();
    if (i >= p.n_out * p.groups) return;
    uint o = i / p.groups, g = i % p.groups;
    // this output's coordinates, and the extent of each reduced dim (1 where kept)
    uint t = o;
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
    bool is_max = p.op == ZOO_REDUCE_MAX;

    uint first = g * GROUP, end = min(p.len, first + GROUP);
    precise float acc = is_max ? uintBitsToFloat(0xff800000u) : (p.cont != 0u ? dst[o] : 0.0);
    for (uint k = first; k < end; k++) {
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
    if (p.groups == 1u && p.count != 0.0) acc = zoo_div(acc, p.count);
    dst[o * p.groups + g] = acc;
}
