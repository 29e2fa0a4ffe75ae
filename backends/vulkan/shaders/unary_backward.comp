#version 450
// dx = dy * f'(x) elementwise; y = f(x) is bound too (some derivatives read it).
// x, y, dy, dx: [n]. The formulas are cpu.c's, term for term.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(push_constant) uniform Push { uint n; uint op; float a; float b; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer Y { float y[]; };
layout(binding = 2) readonly buffer DY { float dy[]; };
layout(binding = 3) buffer DX { float dx[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    float v = x[i], g = dy[i];
    precise float r;
    switch (p.op) {
    case UNARY_AFFINE: r = p.a * g; break;
    case UNARY_POW: r = p.a * zoo_powf(v, p.a - 1.0) * g; break;
    case UNARY_RELU: r = v > 0.0 ? g : 0.0; break;
    case UNARY_LEAKY_RELU: r = v > 0.0 ? g : p.a * g; break;
    case UNARY_TANH: { float o = y[i]; r = g * (1.0 - o * o); break; }
    case UNARY_SIGMOID: { float o = y[i]; r = g * o * (1.0 - o); break; }
    case UNARY_GELU:
        r = g * (0.5 * (1.0 + zoo_erff(v * 0.70710678118654752)) + v * 0.39894228040143268 * zoo_expf(-0.5 * v * v));
        break;
    case UNARY_SILU: { float s = zoo_sigmoidf(v); r = g * (s * (1.0 + v * (1.0 - s))); break; }
    case UNARY_EXP: r = g * y[i]; break;
    case UNARY_LOG: r = g / v; break;
    case UNARY_SQRT: r = g * 0.5 / y[i]; break;
    case UNARY_ABS: r = v > 0.0 ? g : (v < 0.0 ? -g : 0.0); break;
    default: r = g; break; // UNARY_COPY
    }
    dx[i] = r;
}
