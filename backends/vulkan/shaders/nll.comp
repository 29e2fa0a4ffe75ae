#version 450
// losses[i] = -logp[i, labels[i]]; a label outside [0, cols) gives NaN rather than a
// read out of bounds. logp: [rows, cols], labels: int32 [rows] -> losses: [rows].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint rows, cols; } p;
layout(binding = 0) readonly buffer L { float logp[]; };
layout(binding = 1) readonly buffer Y { int labels[]; };
layout(binding = 2) buffer O { float losses[]; };

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    int y = labels[r];
    bool ok = y >= 0 && uint(y) < p.cols;
    losses[r] = ok ? -logp[r * p.cols + uint(y)] : uintBitsToFloat(0x7fc00000u);
}
