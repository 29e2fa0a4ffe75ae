#version 450
// dx = dy * f'(x) elementwise, formulas.h's derivative; y = f(x) is bound too (some
// derivatives read it; the host binds x in its place when there is none).
// x, y, dy, dx: [n].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint n; int op; float a; float b; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer Y { float y[]; };
layout(binding = 2) readonly buffer DY { float dy[]; };
layout(binding = 3) buffer DX { float dx[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    dx[i] = zoo_unary_df(p.op, x[i], y[i], dy[i], p.a);
}
