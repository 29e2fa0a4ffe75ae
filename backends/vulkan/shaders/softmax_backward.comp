#version 450
// dx from y = softmax(x) (or log_softmax) and dy, along the last axis, one
// invocation per row:  softmax: dx = y (dy - sum(dy y));  log: dx = dy - exp(y) sum(dy),
// the sums in canon.h's order (up to 65536 columns), as cpu.c.
// y, dy, dx: [rows, cols].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(push_constant) uniform Push { uint rows, cols, log_; } p;
layout(binding = 0) readonly buffer Y { float y[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) buffer DX { float dx[]; };

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    uint base = r * p.cols;
    bool lg = p.log_ != 0u;
    precise float part = 0.0, done = 0.0;
    for (uint j = 0u; j < p.cols; j++) {
        precise float t = lg ? dy[base + j] : dy[base + j] * y[base + j];
        part = part + t;
        if (j % 256u == 255u && p.cols > 256u) {
            done = done + part;
            part = 0.0;
        }
    }
    precise float s = p.cols > 256u ? done + part : part;
    for (uint j = 0u; j < p.cols; j++) {
        precise float d = lg ? dy[base + j] - zoo_expf(y[base + j]) * s : y[base + j] * (dy[base + j] - s);
        dx[base + j] = d;
    }
}
