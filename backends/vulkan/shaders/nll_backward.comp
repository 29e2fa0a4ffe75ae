#version 450
// dlogp[i, j] = -dlosses[i] where j == labels[i], else 0.
// labels: int32 [rows], dlosses: [rows] -> dlogp: [rows, cols]; one invocation per element.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint rows, cols; } p;
layout(binding = 0) readonly buffer Y { int labels[]; };
layout(binding = 1) readonly buffer G { float dlosses[]; };
layout(binding = 2) buffer D { float dlogp[]; };

void main() {
    uint i = vk_index();
    if (i >= p.rows * p.cols) return;
    uint r = i / p.cols, j = i % p.cols;
    dlogp[i] = labels[r] == int(j) ? -dlosses[r] : 0.0;
}
