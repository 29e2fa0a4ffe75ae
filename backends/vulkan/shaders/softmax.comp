#version 450
// Softmax or log-softmax along the last axis, one invocation per row, with cpu.c's
// steps: max, the sum of exp(x - max) in canon.h's order (up to 65536 columns), then
// exp(x - max) / sum or x - (max + log sum), exp and log from canon_math.h.
// x, y: [rows, cols].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(push_constant) uniform Push { uint rows, cols, log_; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    uint base = r * p.cols;
    float mx = x[base];
    for (uint j = 1u; j < p.cols; j++) mx = x[base + j] > mx ? x[base + j] : mx;
    // the open group of 256 terms, and the sums of the finished groups
    precise float part = 0.0, done = 0.0;
    for (uint j = 0u; j < p.cols; j++) {
        part = part + zoo_expf(x[base + j] - mx);
        if (j % 256u == 255u && p.cols > 256u) {
            done = done + part;
            part = 0.0;
        }
    }
    precise float sum = p.cols > 256u ? done + part : part;
    if (p.log_ != 0u) {
        precise float lse = mx + zoo_logf(sum);
        for (uint j = 0u; j < p.cols; j++) {
            precise float v = x[base + j] - lse;
            y[base + j] = v;
        }
    } else {
        for (uint j = 0u; j < p.cols; j++) {
            precise float v = zoo_div(zoo_expf(x[base + j] - mx), sum);
            y[base + j] = v;
        }
    }
}
