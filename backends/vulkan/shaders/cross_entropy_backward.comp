#version 450
// Fused cross-entropy backward: dx[i, j] = (exp(logp[i, j]) - [j == labels[i]]) * dlosses[i].
// logp: [rows, cols], labels: int32 [rows], dlosses: [rows] -> dx: [rows, cols].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(push_constant) uniform Push { uint rows, cols; } p;
layout(binding = 0) readonly buffer L { float logp[]; };
layout(binding = 1) readonly buffer Y { int labels[]; };
layout(binding = 2) readonly buffer G { float dlosses[]; };
layout(binding = 3) buffer D { float dx[]; };

void main() {
    uint i = vk_index();
    if (i >= p.rows * p.cols) return;
    uint r = i / p.cols, j = i % p.cols;
    precise float d = (zoo_expf(logp[i]) - (labels[r] == int(j) ? 1.0 : 0.0)) * dlosses[r];
    dx[i] = d;
}
