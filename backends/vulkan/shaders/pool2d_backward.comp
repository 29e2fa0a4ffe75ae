#version 450
// Pooling's input gradient as a gather: dy [n, c, oh, ow] (and idx from pool2d for
// MAX) -> dx [n, c, h, w]. Each dx element sums, in increasing (oy, ox) order, the dy
// of the windows that read it (MAX: that chose it), AVG's each times 1/(kh*kw): the
// order of cpu.c's scatter, so the sums are the same. One invocation per dx element.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "conv.glsl"

layout(push_constant) uniform Push { CONV_GEOM uint count, is_max; } p;
layout(binding = 0) readonly buffer DY { float dy[]; };
layout(binding = 1) readonly buffer Idx { int idx[]; };
layout(binding = 2) buffer DX { float dx[]; };

// the first and last output row (or column) whose window covers input position i
ivec2 windows(int i, int pad, int k, int stride, int count) {
    int t = i + pad - k + 1; // windows start at o*stride - pad > i - k
    int lo = t <= 0 ? 0 : (t + stride - 1) / stride;
    int hi = min(count - 1, (i + pad) / stride);
    return ivec2(lo, hi);
}

void main() {
    uint e = vk_index();
    if (e >= p.count) return;
    uint HW = uint(p.h * p.w), plane = e / HW;
    int ix = int(e % HW) % p.w, iy = int(e % HW) / p.w, me = iy * p.w + ix;
    ivec2 ry = windows(iy, p.pad_h, p.kh, p.stride_h, p.oh), rx = windows(ix, p.pad_w, p.kw, p.stride_w, p.ow);
    uint base = plane * uint(p.oh * p.ow);
    float inv = zoo_div(1.0, float(p.kh * p.kw));
    precise float acc = 0.0;
    for (int oy = ry.x; oy <= ry.y; oy++)
        for (int ox = rx.x; ox <= rx.y; ox++) {
            uint j = base + uint(oy * p.ow + ox);
            if (p.is_max != 0u) {
                if (idx[j] == me) acc += dy[j];
            } else {
                precise float v = dy[j] * inv;
                acc += v;
            }
        }
    dx[e] = acc;
}
