#version 450
// y = a*x + b*y in place (formulas.h's zoo_axpby, as on the CPU). x, y: [n].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint n; float a, b; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    y[i] = zoo_axpby(x[i], y[i], p.a, p.b);
}
