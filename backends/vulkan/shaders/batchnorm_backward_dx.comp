#version 450
// Batch norm input gradient, formulas.h's zoo_bn_dx as on the CPU: in training mdy =
// sum dy / m and k = sum dy (x - mean) * invstd^2 / m (the sums from reduce.comp), in
// eval both 0. One invocation per element of x, dy, dx [n, c, inner].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint count, c, inner, m, training, has_gamma; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) readonly buffer G { float gamma[]; };
layout(binding = 3) readonly buffer SM { float save_mean[]; };
layout(binding = 4) readonly buffer SI { float save_invstd[]; };
layout(binding = 5) readonly buffer SD { float sum_dy[]; };
layout(binding = 6) readonly buffer SX { float sum_dot[]; };
layout(binding = 7) buffer DX { float dx[]; };

void main() {
    uint e = vk_index();
    if (e >= p.count) return;
    uint ch = (e / p.inner) % p.c;
    float invstd = save_invstd[ch];
    float g = p.has_gamma != 0u ? gamma[ch] : 1.0;
    bool training = p.training != 0u;
    float k = training ? zoo_bn_k(sum_dot[ch], invstd, float(p.m)) : 0.0;
    float mdy = training ? zoo_div(sum_dy[ch], float(p.m)) : 0.0;
    float s = zoo_bn_scale(invstd, g);
    dx[e] = zoo_bn_dx(dy[e], x[e], save_mean[ch], mdy, k, s);
}
