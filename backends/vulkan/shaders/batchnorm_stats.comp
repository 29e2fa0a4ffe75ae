#version 450
// Batch norm statistics, one workgroup per channel: x [n, c, inner] -> save_mean,
// save_invstd [c]. Training: the mean, then the biased variance from a second pass
// over x - mean (as cpu.c), invstd = 1/sqrt(var + eps), and the running statistics
// (has_running) move by momentum, the variance unbiased by m/(m-1), m = n*inner.
// Eval: running_mean and 1/sqrt(running_var + eps). The workgroup size must be a
// power of two.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n, c, inner, training, has_running; float momentum, eps; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer RM { float running_mean[]; };
layout(binding = 2) buffer RV { float running_var[]; };
layout(binding = 3) buffer SM { float save_mean[]; };
layout(binding = 4) buffer SI { float save_invstd[]; };

shared float part[gl_WorkGroupSize.x];

// the sum over the workgroup of each invocation's v, in a fixed tree
float workgroup_sum(float v) {
    uint lid = gl_LocalInvocationID.x;
    part[lid] = v;
    barrier();
    for (uint half_ = gl_WorkGroupSize.x / 2u; half_ > 0u; half_ /= 2u) {
        if (lid < half_) part[lid] += part[lid + half_];
        barrier();
    }
    float s = part[0];
    barrier(); // part is reused by the next call
    return s;
}

void main() {
    uint ch = vk_group_index(), lid = gl_LocalInvocationID.x;
    if (ch >= p.c) return; // the whole workgroup leaves together
    if (p.training == 0u) {
        if (lid == 0u) {
            save_mean[ch] = running_mean[ch];
            save_invstd[ch] = 1.0 / sqrt(running_var[ch] + p.eps);
        }
        return;
    }
    uint m = p.n * p.inner;
    float s = 0.0;
    for (uint e = lid; e < m; e += gl_WorkGroupSize.x) s += x[((e / p.inner) * p.c + ch) * p.inner + e % p.inner];
    float mean = workgroup_sum(s) / float(m);
    float q = 0.0;
    for (uint e = lid; e < m; e += gl_WorkGroupSize.x) {
        float d = x[((e / p.inner) * p.c + ch) * p.inner + e % p.inner] - mean;
        q += d * d;
    }
    float var = workgroup_sum(q) / float(m);
    if (lid != 0u) return;
    save_mean[ch] = mean;
    save_invstd[ch] = 1.0 / sqrt(var + p.eps);
    if (p.has_running != 0u) {
        float unbiased = var * float(m) / float(m - 1u);
        running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * mean;
        running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * unbiased;
    }
}
