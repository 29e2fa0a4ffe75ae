#version 450
// torch.optim.Adam / AdamW (no amsgrad) on whole tensors with cpu.c's arithmetic; the
// host computes the per-step scalars (step_size = lr / (1 - beta1^t), inv_sqrt_bc2 =
// 1 / sqrt(1 - beta2^t), wd for Adam's L2 term, decay = 1 - lr*wd for AdamW).
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push { uint n; float b1, b2, eps, wd, decay, step_size, inv_sqrt_bc2; } p;
layout(binding = 0) buffer W { float w[]; };
layout(binding = 1) readonly buffer G { float g[]; };
layout(binding = 2) buffer M { float m[]; };
layout(binding = 3) buffer V { float v[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    float w0 = w[i];
    precise float wi = w0 * p.decay;
    precise float gi = g[i] + p.wd * w0;
    precise float mi = p.b1 * m[i] + (1.0 - p.b1) * gi;
    precise float vi = p.b2 * v[i] + (1.0 - p.b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    precise float nw = wi - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
    w[i] = nw;
}
