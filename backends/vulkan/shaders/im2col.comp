#version 450
// One image chunk's column matrix: x [n, cin, h, w], images b0 .. b0 + count/(K P) - 1
// -> cols [images, K, P] with K = cin*kh*kw (row (i*kh + ky)*kw + kx) and P = oh*ow,
// padding read as 0. One invocation per cols element.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "conv.glsl"

layout(push_constant) uniform Push { CONV_GEOM uint b0, count; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Cols { float cols[]; };

void main() {
    uint e = vk_index();
    if (e >= p.count) return;
    uint P = uint(p.oh * p.ow), K = uint(p.cin * p.kh * p.kw);
    uint pix = e % P, t = e / P;
    uint r = t % K, b = t / K;
    int ox = int(pix) % p.ow, oy = int(pix) / p.ow;
    int kx = int(r) % p.kw, ky = (int(r) / p.kw) % p.kh, i = int(r) / (p.kw * p.kh);
    int iy = oy * p.stride_h - p.pad_h + ky * p.dil_h, ix = ox * p.stride_w - p.pad_w + kx * p.dil_w;
    float v = 0.0;
    if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
        v = x[((p.b0 + b) * uint(p.cin) + uint(i)) * uint(p.h * p.w) + uint(iy * p.w + ix)];
    cols[e] = v;
}
