#version 450
// out = a OP b with numpy broadcasting; out may be a. out: [n] viewed as 4-d
// [d0, d1, d2, d3]. Each operand is read one of three ways (mode_a, mode_b):
//   0: same shape as out (index i)
//   1: a trailing block that repeats (index i % len, e.g. a bias row or a scalar)
//   2: any broadcast (strides s0..s3 over out's coordinates, 0 on broadcast dims)
// so the common cases skip the divisions that the general one needs.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"

layout(push_constant) uniform Push {
    uint n; int op; uint mode_a, mode_b, len_a, len_b;
    uint d1, d2, d3;
    uint sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3;
} p;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer O { float o[]; };

uint operand_index(uint i, uint mode, uint len, uvec4 c, uvec4 s) {
    if (mode == 0u) return i;
    if (mode == 1u) return i % len;
    return c.x * s.x + c.y * s.y + c.z * s.z + c.w * s.w;
}

void main() {
    uint i = vk_index();
    if (i >= p.n) return;
    uvec4 c = uvec4(0u);
    if (p.mode_a == 2u || p.mode_b == 2u) {
        uint t = i;
        c.w = t % p.d3;
        t /= p.d3;
        c.z = t % p.d2;
        t /= p.d2;
        c.y = t % p.d1;
        c.x = t / p.d1;
    }
    float x = a[operand_index(i, p.mode_a, p.len_a, c, uvec4(p.sa0, p.sa1, p.sa2, p.sa3))];
    float y = b[operand_index(i, p.mode_b, p.len_b, c, uvec4(p.sb0, p.sb1, p.sb2, p.sb3))];
    precise float r;
    switch (p.op) {
    case ZOO_BINARY_ADD: r = x + y; break;
    case ZOO_BINARY_SUB: r = x - y; break;
    case ZOO_BINARY_MUL: r = x * y; break;
    case ZOO_BINARY_DIV: r = zoo_div(x, y); break;
    default: r = x == y ? 1.0 : 0.0; break; // ZOO_BINARY_EQ
    }
    o[i] = r;
}
