#version 450
// The adjoint of im2col, as a gather (no atomics): dx [n, cin, h, w] for images
// b0 .. from cols [images, K, P]. Each dx element starts from bias[i] (0 without
// bias) and adds the cols entries that im2col copied from it in (ky, kx) order, as
// cpu.c's col2im does. One invocation per dx element of the chunk.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "conv.glsl"

layout(push_constant) uniform Push { CONV_GEOM uint b0, count, has_bias; } p;
layout(binding = 0) readonly buffer Cols { float cols[]; };
layout(binding = 1) readonly buffer Bias { float bias[]; };
layout(binding = 2) buffer DX { float dx[]; };

void main() {
    uint e = vk_index();
    if (e >= p.count) return;
    uint HW = uint(p.h * p.w), P = uint(p.oh * p.ow), K = uint(p.cin * p.kh * p.kw);
    int ix = int(e % HW) % p.w, iy = int(e % HW) / p.w;
    uint t = e / HW, i = t % uint(p.cin), b = t / uint(p.cin);
    precise float acc = p.has_bias != 0u ? bias[i] : 0.0;
    for (int ky = 0; ky < p.kh; ky++) {
        int oy = conv_source(iy, p.pad_h, ky, p.dil_h, p.stride_h, p.oh);
        if (oy < 0) continue;
        for (int kx = 0; kx < p.kw; kx++) {
            int ox = conv_source(ix, p.pad_w, kx, p.dil_w, p.stride_w, p.ow);
            if (ox < 0) continue;
            uint r = (i * uint(p.kh) + uint(ky)) * uint(p.kw) + uint(kx);
            acc += cols[(b * K + r) * P + uint(oy * p.ow + ox)];
        }
    }
    dx[(p.b0 + b) * uint(p.cin) * HW + i * HW + uint(iy * p.w + ix)] = acc;
}
