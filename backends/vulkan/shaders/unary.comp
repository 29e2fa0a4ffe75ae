#version 450
// y = f(x) elementwise, f chosen by op (backend.h zoo_unary_op); x and y may be the
// same tensor. x, y: [n]. `precise` keeps a*x + b two roundings, as on the CPU.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(push_constant) uniform Push { uint n; uint op; float a; float b; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    float v = x[i];
    precise float r;
    switch (p.op) {
    case UNARY_AFFINE: r = p.a * v + p.b; break;
    case UNARY_POW: r = zoo_powf(v, p.a); break;
    case UNARY_RELU: r = v > 0.0 ? v : 0.0; break;
    case UNARY_LEAKY_RELU: r = v > 0.0 ? v : p.a * v; break;
    case UNARY_TANH: r = zoo_tanhf(v); break;
    case UNARY_SIGMOID: r = zoo_sigmoidf(v); break;
    case UNARY_GELU: r = 0.5 * v * (1.0 + zoo_erff(v * 0.70710678118654752)); break;
    case UNARY_SILU: r = v * zoo_sigmoidf(v); break;
    case UNARY_EXP: r = zoo_expf(v); break;
    case UNARY_LOG: r = zoo_logf(v); break;
    case UNARY_SQRT: r = sqrt(v); break;
    case UNARY_ABS: r = abs(v); break;
    default: r = v; break; // UNARY_COPY
    }
    y[i] = r;
}
