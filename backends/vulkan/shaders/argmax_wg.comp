#version 450
// argmax.comp for long axes: one workgroup per output. Each invocation keeps the
// first largest of its strided share, a fixed tree keeps the larger value (the lower
// index on ties), so the result is argmax.comp's: the first maximum, NaNs never
// winning unless the first element is one (then 0, as cpu.c's `>` scan gives).
// x: [outer, len, inner] -> out: int32 [outer, inner]. The workgroup size must be a
// power of two.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n_out, len, inner; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { int o[]; };

const uint NONE = 0xffffffffu;
shared float best_v[gl_WorkGroupSize.x];
shared uint best_i[gl_WorkGroupSize.x];

// does candidate (v, i) beat (bv, bi)?
bool beats(float v, uint i, float bv, uint bi) {
    if (i == NONE) return false;
    if (bi == NONE) return true;
    return v > bv || (v == bv && i < bi);
}

void main() {
    uint g = vk_group_index(), lid = gl_LocalInvocationID.x;
    if (g >= p.n_out) return; // the whole workgroup leaves together
    uint base = (g / p.inner) * p.len * p.inner + g % p.inner;
    float bv = 0.0;
    uint bi = NONE;
    for (uint k = lid; k < p.len; k += gl_WorkGroupSize.x) {
        float v = x[base + k * p.inner];
        if (!isnan(v) && (bi == NONE || v > bv)) {
            bv = v;
            bi = k;
        }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    barrier();
    for (uint half_ = gl_WorkGroupSize.x / 2u; half_ > 0u; half_ /= 2u) {
        if (lid < half_ && beats(best_v[lid + half_], best_i[lid + half_], best_v[lid], best_i[lid])) {
            best_v[lid] = best_v[lid + half_];
            best_i[lid] = best_i[lid + half_];
        }
        barrier();
    }
    if (lid == 0u) o[g] = isnan(x[base]) || best_i[0] == NONE ? 0 : int(best_i[0]);
}
