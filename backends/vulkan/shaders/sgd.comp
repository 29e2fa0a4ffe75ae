#version 450
// torch.optim.SGD on whole tensors, formulas.h's steps as on the CPU. Without momentum
// (has_buf 0) the third binding is unused.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint n, has_buf, first, nesterov; float lr, momentum, dampening, wd; } p;
layout(binding = 0) buffer W { float w[]; };
layout(binding = 1) readonly buffer G { float g[]; };
layout(binding = 2) buffer M { float buf[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    float wi = w[i];
    float gi = zoo_sgd_grad(g[i], wi, p.wd);
    if (p.has_buf != 0u) {
        float b = zoo_sgd_buf(buf[i], gi, p.momentum, p.dampening, p.first != 0u);
        buf[i] = b;
        gi = zoo_sgd_direction(gi, b, p.momentum, p.nesterov != 0u);
    }
    w[i] = zoo_sgd_weight(wi, gi, p.lr);
}
