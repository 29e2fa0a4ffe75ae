#version 450
// torch.optim.Adam / AdamW (no amsgrad) on whole tensors, formulas.h's steps as on the
// CPU; the host computes the per-step scalars (kernels.h's zoo_adam_scalars).
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint n; float b1, b2, eps, wd, decay, step_size, inv_sqrt_bc2; } p;
layout(binding = 0) buffer W { float w[]; };
layout(binding = 1) readonly buffer G { float g[]; };
layout(binding = 2) buffer M { float m[]; };
layout(binding = 3) buffer V { float v[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    float w0 = w[i];
    float gi = zoo_adam_grad(g[i], w0, p.wd);
    float mi = zoo_adam_m(m[i], gi, p.b1);
    float vi = zoo_adam_v(v[i], gi, p.b2);
    m[i] = mi;
    v[i] = vi;
    w[i] = zoo_adam_weight(w0, mi, vi, p.decay, p.step_size, p.inv_sqrt_bc2, p.eps);
}
