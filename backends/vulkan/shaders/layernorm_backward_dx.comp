#version 450
// Layer norm's or group norm's input gradient (backend.h), one workgroup per row, with the CPU's steps:
// with g = dy * gamma and xhat = (x - mean) * rstd, the row sums sg = sum g and sgx =
// sum g * xhat (layernorm.glsl's), then dx = ((g - sg / d) - xhat * (sgx / d)) * rstd
// (formulas.h's). x, dy, dx: [rows, d]; gamma: by ln_param (1 when absent); mean, rstd: [rows].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 128) in;
#include "common.glsl"
#include "../../formulas.h"
#include "layernorm.glsl"

layout(push_constant) uniform Push { uint rows, d, has_gamma, groups, inner; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) readonly buffer G { float gamma[]; };
layout(binding = 3) readonly buffer M { float mean[]; };
layout(binding = 4) readonly buffer R { float rstd[]; };
layout(binding = 5) buffer DX { float dx[]; };

uint row, row_base; // the row and its first element
float row_mean, row_rstd;

float g_of(uint k) {
    precise float g = dy[row_base + k] * (p.has_gamma != 0u ? gamma[ln_param(row, k, p.groups, p.d, p.inner)] : 1.0);
    return g;
}

vec2 ln_terms(uint k) {
    precise float g = g_of(k);
    precise float gx = g * zoo_ln_xhat(x[row_base + k], row_mean, row_rstd);
    return vec2(g, gx);
}


void main() {
    uint r = vk_group_index();
    if (r >= p.rows) return; // the whole workgroup leaves together
    row = r;
    row_base = r * p.d;
    row_mean = mean[r];
    row_rstd = rstd[r];
    vec2 s = ln_row_sums(p.d);
    float mg = zoo_ln_mean(s.x, float(p.d)), mgx = zoo_ln_mean(s.y, float(p.d));
    for (uint k = gl_LocalInvocationID.x; k < p.d; k += gl_WorkGroupSize.x) {
        float xh = zoo_ln_xhat(x[row_base + k], row_mean, row_rstd);
        dx[row_base + k] = zoo_ln_dx(g_of(k), xh, mg, mgx, row_rstd);
    }
}
