#version 450
// torch.optim.SGD on whole tensors, cpu.c's arithmetic: g += wd*w; buf = momentum*buf
// + (1-dampening)*g (buf = g on the first step); g = nesterov ? g + momentum*buf : buf;
// w -= lr*g. Without momentum (has_buf 0) the third binding is unused.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n, has_buf, first, nesterov; float lr, momentum, dampening, wd; } p;
layout(binding = 0) buffer W { float w[]; };
layout(binding = 1) readonly buffer G { float g[]; };
layout(binding = 2) buffer M { float buf[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    precise float gi = g[i] + p.wd * w[i];
    if (p.has_buf != 0u) {
        precise float b = p.first != 0u ? gi : p.momentum * buf[i] + (1.0 - p.dampening) * gi;
        buf[i] = b;
        gi = p.nesterov != 0u ? gi + p.momentum * b : b;
    }
    precise float nw = w[i] - p.lr * gi;
    w[i] = nw;
}
