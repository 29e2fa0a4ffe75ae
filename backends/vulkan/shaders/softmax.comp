#version 450
// Softmax or log-softmax along the last axis, one invocation per row, with cpu.c's
// steps: max, sum of exp(x - max), then exp(x - max) / sum or x - (max + log sum).
// x, y: [rows, cols].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint rows, cols, log_; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    uint base = r * p.cols;
    float mx = x[base];
    for (uint j = 1u; j < p.cols; j++) mx = x[base + j] > mx ? x[base + j] : mx;
    precise float sum = 0.0;
    for (uint j = 0u; j < p.cols; j++) sum += exp(x[base + j] - mx);
    if (p.log_ != 0u) {
        precise float lse = mx + log(sum);
        for (uint j = 0u; j < p.cols; j++) y[base + j] = x[base + j] - lse;
    } else {
        precise float inv = 1.0 / sum;
        for (uint j = 0u; j < p.cols; j++) y[base + j] = exp(x[base + j] - mx) * inv;
    }
}
