// The body of reduce_wg.comp and reduce_wg_subgroup.comp: fast mode's sum, mean or
// max over long runs (reduce.glsl has the shapes). One workgroup per output, its
// invocations taking the terms in turn, then a tree across the workgroup: subgroup
// operations where the device has them (ZOO_SUBGROUPS), shared memory otherwise.
#ifdef ZOO_SUBGROUPS
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "reduce.glsl"

shared float part[gl_WorkGroupSize.x];

float combine(bool is_max, float a, float b) { return is_max ? (b > a ? b : a) : a + b; }

void main() {
    uint o = vk_group_index(), lid = gl_LocalInvocationID.x;
    if (o >= p.n_out) return; // the whole workgroup leaves together
    reduce_plan q = reduce_plan_of(o);
    bool is_max = p.op == ZOO_REDUCE_MAX;
    float acc = is_max ? uintBitsToFloat(0xff800000u) : 0.0;
    for (uint k = lid; k < p.len; k += gl_WorkGroupSize.x) acc = combine(is_max, acc, reduce_term(q, k));
#ifdef ZOO_SUBGROUPS
    acc = is_max ? subgroupMax(acc) : subgroupAdd(acc);
    if (subgroupElect()) part[gl_SubgroupID] = acc;
    barrier();
    if (lid != 0u) return;
    for (uint s = 1u; s < gl_NumSubgroups; s++) acc = combine(is_max, acc, part[s]);
#else
    part[lid] = acc;
    barrier();
    for (uint half_ = gl_WorkGroupSize.x / 2u; half_ > 0u; half_ /= 2u) {
        if (lid < half_) part[lid] = combine(is_max, part[lid], part[lid + half_]);
        barrier();
    }
    if (lid != 0u) return;
    acc = part[0];
#endif
    if (p.cont != 0u) acc = dst[o] + acc;
    if (p.count != 0.0) acc = zoo_div(acc, p.count);
    dst[o] = acc;
}
