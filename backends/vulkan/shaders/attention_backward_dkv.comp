#version 450
// Self-attention's backward, part 2 (backend.h's attention_backward), one
// invocation per (sample, head, key j): dk_j = the sum over queries i of ds_ij q_i and
// dv_j = the sum over i of p_ij dy_i, in canon.h's order over all T queries, with c_i
// from part 1 (attention_backward_dq.comp). Buffers as there; dqkv's k and v parts.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(binding = 0) readonly buffer QKV { float qkv[]; };
layout(binding = 1) readonly buffer STATS { float stats[]; };
layout(binding = 2) readonly buffer DY { float dy[]; };
layout(binding = 3) buffer DQKV { float dqkv[]; };
layout(binding = 4) readonly buffer CSUM { float csum[]; };
#define ATT_BACKWARD
#include "attention.glsl"

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    att_row key = att_row_of(r);
    uint j = key.pos, first = key.bh * p.t;
    float dk[ATT_MAX_D], dk_done[ATT_MAX_D], dv[ATT_MAX_D], dv_done[ATT_MAX_D];
    for (uint d = 0u; d < p.dh; d++) dk[d] = dk_done[d] = dv[d] = dv_done[d] = 0.0;
    for (uint i = 0u; i < p.t; i++) {
        att_row a = att_row_of(first + i);
        att_pair q = att_pair_of(a, first + i, j);
        precise float ds = q.prob * (q.dp - csum[first + i]) * p.scale;
        for (uint d = 0u; d < p.dh; d++) {
            precise float tk = dk[d] + ds * qkv[a.q + d];
            precise float tv = dv[d] + q.prob * dy[a.y + d];
            dk[d] = tk;
            dv[d] = tv;
        }
        if (i % 256u == 255u && p.t > 256u) {
            for (uint d = 0u; d < p.dh; d++) {
                precise float tk = dk_done[d] + dk[d], tv = dv_done[d] + dv[d];
                dk_done[d] = tk;
                dv_done[d] = tv;
                dk[d] = dv[d] = 0.0;
            }
        }
    }
    for (uint d = 0u; d < p.dh; d++) {
        precise float vk = p.t > 256u ? dk_done[d] + dk[d] : dk[d];
        precise float vv = p.t > 256u ? dv_done[d] + dv[d] : dv[d];
        dqkv[key.q + p.c + d] = vk;
        dqkv[key.q + 2u * p.c + d] = vv;
    }
}
