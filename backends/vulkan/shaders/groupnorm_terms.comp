#version 450
// Group norm's dgamma terms (backend.h's layernorm_backward): t = dy * xhat, xhat = (x -
// mean) * rstd with its row's statistics (formulas.h's), rows of d elements. The host
// then sums t and dy per channel over (sample, position) with reduce.comp, canon.h's
// order, as the CPU does.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint count, d; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) readonly buffer M { float mean[]; };
layout(binding = 3) readonly buffer R { float rstd[]; };
layout(binding = 4) buffer T { float t[]; };

void main() {
    uint i = vk_index();
    if (i >= p.count) return;
    uint r = i / p.d;
    precise float v = dy[i] * zoo_ln_xhat(x[i], mean[r], rstd[r]);
    t[i] = v;
}
