#version 450
// dx from y = softmax(x) (or log_softmax) and dy, along the last axis, one
// invocation per row:  softmax: dx = y (dy - sum(dy y));  log: dx = dy - exp(y) sum(dy).
// y, dy, dx: [rows, cols].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint rows, cols, log_; } p;
layout(binding = 0) readonly buffer Y { float y[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) buffer DX { float dx[]; };

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    uint base = r * p.cols;
    precise float s = 0.0;
    if (p.log_ != 0u) {
        for (uint j = 0u; j < p.cols; j++) s += dy[base + j];
        for (uint j = 0u; j < p.cols; j++) {
            precise float d = dy[base + j] - exp(y[base + j]) * s;
            dx[base + j] = d;
        }
    } else {
        for (uint j = 0u; j < p.cols; j++) s += dy[base + j] * y[base + j];
        for (uint j = 0u; j < p.cols; j++) {
            precise float d = y[base + j] * (dy[base + j] - s);
            dx[base + j] = d;
        }
    }
}
