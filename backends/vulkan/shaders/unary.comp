#version 450
// y = f(x) elementwise, f chosen by op (ops.def), the formula formulas.h's, as on the
// CPU; x and y may be the same tensor. x, y: [n].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint n; int op; float a; float b; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    y[i] = zoo_unary_f(p.op, x[i], p.a, p.b);
}
