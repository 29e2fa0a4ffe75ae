#version 450
// Self-attention, causal or not (backend.h's attention), one invocation per (sample,
// head, query): its scores against all T keys three times over (their max, the sum of their
// exponentials, then the output), every sum in canon.h's order (up to 65536 terms) as
// the CPU's exact kernel takes it. Heads of up to 128 values.
// qkv: [B, T, 3C]; y: [B, T, C]; stats: [B, heads, T, 2], the max and the sum.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(binding = 0) readonly buffer QKV { float qkv[]; };
layout(binding = 1) buffer Y { float y[]; };
layout(binding = 2) buffer STATS { float stats[]; };
#include "attention.glsl"

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    att_row a = att_row_of(r);
    uint ld = 3u * p.c;
    float mx = att_score(a.q, a.head0 + p.c, false);
    for (uint j = 1u; j < p.t; j++) {
        float s = att_score(a.q, a.head0 + j * ld + p.c, att_masked(a.pos, j));
        mx = s > mx ? s : mx;
    }
    precise float part = 0.0, done = 0.0;
    for (uint j = 0u; j < p.t; j++) {
        part = part + zoo_expf(att_score(a.q, a.head0 + j * ld + p.c, att_masked(a.pos, j)) - mx);
        if (j % 256u == 255u && p.t > 256u) {
            done = done + part;
            part = 0.0;
        }
    }
    precise float sum = p.t > 256u ? done + part : part;
    float acc[ATT_MAX_D], acc_done[ATT_MAX_D]; // each output's open group and finished groups
    for (uint d = 0u; d < p.dh; d++) acc[d] = acc_done[d] = 0.0;
    for (uint j = 0u; j < p.t; j++) {
        precise float pj = zoo_div(zoo_expf(att_score(a.q, a.head0 + j * ld + p.c, att_masked(a.pos, j)) - mx), sum);
        uint vo = a.head0 + j * ld + 2u * p.c;
        for (uint d = 0u; d < p.dh; d++) {
            precise float t = acc[d] + pj * qkv[vo + d];
            acc[d] = t;
        }
        if (j % 256u == 255u && p.t > 256u) {
            for (uint d = 0u; d < p.dh; d++) {
                precise float t = acc_done[d] + acc[d];
                acc_done[d] = t;
                acc[d] = 0.0;
            }
        }
    }
    for (uint d = 0u; d < p.dh; d++) {
        precise float v = p.t > 256u ? acc_done[d] + acc[d] : acc[d];
        y[a.y + d] = v;
    }
    stats[2u * r] = mx;
    stats[2u * r + 1u] = sum;
}
