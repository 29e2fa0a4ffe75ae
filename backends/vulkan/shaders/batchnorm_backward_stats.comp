#version 450
// Batch norm backward, the per-channel sums, one workgroup per channel: from x, dy
// [n, c, inner] and save_mean, save_invstd [c] -> sums [2, c] = (sum dy, sum dy (x -
// mean)), and dbeta = sum dy, dgamma = sum dy (x - mean) * invstd where wanted.
// The workgroup size must be a power of two.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n, c, inner, has_dgamma, has_dbeta; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) readonly buffer SM { float save_mean[]; };
layout(binding = 3) readonly buffer SI { float save_invstd[]; };
layout(binding = 4) buffer S { float sums[]; };
layout(binding = 5) buffer DG { float dgamma[]; };
layout(binding = 6) buffer DB { float dbeta[]; };

shared float part_dy[gl_WorkGroupSize.x];
shared float part_dot[gl_WorkGroupSize.x];

void main() {
    uint ch = vk_group_index(), lid = gl_LocalInvocationID.x;
    if (ch >= p.c) return; // the whole workgroup leaves together
    float mean = save_mean[ch];
    uint m = p.n * p.inner;
    float s = 0.0, d = 0.0;
    for (uint e = lid; e < m; e += gl_WorkGroupSize.x) {
        uint i = ((e / p.inner) * p.c + ch) * p.inner + e % p.inner;
        s += dy[i];
        d += dy[i] * (x[i] - mean);
    }
    part_dy[lid] = s;
    part_dot[lid] = d;
    barrier();
    for (uint half_ = gl_WorkGroupSize.x / 2u; half_ > 0u; half_ /= 2u) {
        if (lid < half_) {
            part_dy[lid] += part_dy[lid + half_];
            part_dot[lid] += part_dot[lid + half_];
        }
        barrier();
    }
    if (lid != 0u) return;
    sums[ch] = part_dy[0];
    sums[p.c + ch] = part_dot[0];
    if (p.has_dgamma != 0u) dgamma[ch] = part_dot[0] * save_invstd[ch];
    if (p.has_dbeta != 0u) dbeta[ch] = part_dy[0];
}
