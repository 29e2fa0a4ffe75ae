#version 450
// Layer norm or group norm (backend.h's layernorm), one workgroup per row, with the CPU's steps:
// mean = sum x / d, q = sum (x - mean)^2 (layernorm.glsl's sums), rstd = 1 / sqrt(q / d +
// eps), y = xhat * gamma + beta (formulas.h's, gamma 1 and beta 0 when absent).
// x, y: [rows, d]; mean, rstd: [rows]; gamma, beta: by ln_param (groups = inner = 1:
// layer norm's [d]).
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 128) in;
#include "common.glsl"
#include "../../formulas.h"
#include "layernorm.glsl"

layout(push_constant) uniform Push { uint rows, d, has_gamma, has_beta; float eps; uint groups, inner; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer G { float gamma[]; };
layout(binding = 2) readonly buffer B { float beta[]; };
layout(binding = 3) buffer Y { float y[]; };
layout(binding = 4) buffer M { float mean[]; };
layout(binding = 5) buffer R { float rstd[]; };

uint row_base;     // the row's first element
bool deviations;   // which sum ln_terms gives: x, or (x - row_mean)^2
float row_mean;

vec2 ln_terms(uint k) {
    precise float v = x[row_base + k];
    if (!deviations) return vec2(v, 0.0);
    precise float dev = v - row_mean;
    precise float sq = dev * dev;
    return vec2(sq, 0.0);
}


void main() {
    uint r = vk_group_index(), lid = gl_LocalInvocationID.x;
    if (r >= p.rows) return; // the whole workgroup leaves together
    row_base = r * p.d;
    deviations = false;
    float m = zoo_ln_mean(ln_row_sums(p.d).x, float(p.d));
    row_mean = m;
    deviations = true;
    float rs = zoo_ln_rstd(ln_row_sums(p.d).x, float(p.d), p.eps);
    if (lid == 0u) {
        mean[r] = m;
        rstd[r] = rs;
    }
    for (uint k = lid; k < p.d; k += gl_WorkGroupSize.x) {
        uint j = ln_param(r, k, p.groups, p.d, p.inner);
        float g = p.has_gamma != 0u ? gamma[j] : 1.0, b = p.has_beta != 0u ? beta[j] : 0.0;
        y[row_base + k] = zoo_ln_apply(zoo_ln_xhat(x[row_base + k], m, rs), g, b);
    }
}
