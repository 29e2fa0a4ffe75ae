#version 450
// y = x * scale + shift per channel, scale = invstd * gamma, shift = beta - mean * scale
// (gamma 1 and beta 0 when absent), formulas.h's as on the CPU. x, y: [n, c, inner];
// one invocation per element.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint count, c, inner, has_gamma, has_beta; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer G { float gamma[]; };
layout(binding = 2) readonly buffer B { float beta[]; };
layout(binding = 3) readonly buffer SM { float save_mean[]; };
layout(binding = 4) readonly buffer SI { float save_invstd[]; };
layout(binding = 5) buffer Y { float y[]; };

void main() {
    uint e = vk_index();
    if (e >= p.count) return;
    uint ch = (e / p.inner) % p.c;
    float scale = zoo_bn_scale(save_invstd[ch], p.has_gamma != 0u ? gamma[ch] : 1.0);
    float shift = zoo_bn_shift(p.has_beta != 0u ? beta[ch] : 0.0, save_mean[ch], scale);
    y[e] = zoo_bn_apply(x[e], scale, shift);
}
