#version 450
// 2-d max or average pooling: x [n, c, h, w] -> y [n, c, oh, ow] (cin == cout == c),
// one invocation per output. MAX also writes idx (int32, the winner's iy*w + ix):
// the first maximum in row-major window order wins and a NaN wins over numbers
// (PyTorch's rule). AVG divides the window's in-image sum by kh*kw (padding counts).
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "conv.glsl"

layout(push_constant) uniform Push { CONV_GEOM uint count, is_max; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };
layout(binding = 2) buffer Idx { int idx[]; };

void main() {
    uint e = vk_index();
    if (e >= p.count) return;
    uint P = uint(p.oh * p.ow), plane = e / P;
    int ox = int(e % P) % p.ow, oy = int(e % P) / p.ow;
    int y0 = oy * p.stride_h - p.pad_h, x0 = ox * p.stride_w - p.pad_w;
    int y1 = min(y0 + p.kh, p.h), x1 = min(x0 + p.kw, p.w);
    y0 = max(y0, 0);
    x0 = max(x0, 0);
    uint base = plane * uint(p.h * p.w);
    if (p.is_max != 0u) {
        float best = uintBitsToFloat(0xff800000u); // -inf
        int bi = y0 * p.w + x0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                float v = x[base + uint(iy * p.w + ix)];
                if (v > best || isnan(v)) {
                    best = v;
                    bi = iy * p.w + ix;
                }
            }
        y[e] = best;
        idx[e] = bi;
        return;
    }
    precise float s = 0.0;
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) s += x[base + uint(iy * p.w + ix)];
    precise float r = s * zoo_div(1.0, float(p.kh * p.kw));
    y[e] = r;
}
