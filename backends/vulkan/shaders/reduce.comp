#version 450
// One pass of exact mode's sum, mean or max (reduce.glsl has the shapes), in zoo's
// order (backends/canon.h). One invocation per (output, group of 256 terms) adds its
// group from zero, left to right, and writes the group sum to dst[o * groups + g].
// With more than one group the host runs the next pass over those group sums (as x =
// [1, 1, n_out, groups] reducing its last dim), until a pass has one group per output:
// that one writes the result.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "reduce.glsl"

const uint GROUP = 256u; // canon.h's ZOO_SUM_GROUP

void main() {
    uint i = vk_index();
    if (i >= p.n_out * p.groups) return;
    uint o = i / p.groups, g = i % p.groups;
    reduce_plan q = reduce_plan_of(o);
    bool is_max = p.op == ZOO_REDUCE_MAX;
    uint first = g * GROUP, end = min(p.len, first + GROUP);
    precise float acc = is_max ? uintBitsToFloat(0xff800000u) : (p.cont != 0u ? dst[o] : 0.0);
    for (uint k = first; k < end; k++) {
        float v = reduce_term(q, k);
        acc = is_max ? (v > acc ? v : acc) : acc + v;
    }
    if (p.groups == 1u && p.count != 0.0) acc = zoo_div(acc, p.count);
    dst[o * p.groups + g] = acc;
}
