#version 450
// Self-attention's backward, part 1 (backend.h's attention_backward), one
// invocation per (sample, head, query i): c_i = the sum over j of dp_ij p_ij, kept in
// csum for part 2, and dq_i = the sum over j of ds_ij k_j, ds_ij = (p_ij (dp_ij -
// c_i)) scale; every sum in canon.h's order over all T keys, as the CPU's exact kernel.
// qkv: [B, T, 3C]; stats: [B, heads, T, 2]; dy: [B, T, C]; dqkv: [B, T, 3C] (its q
// part here); csum: [B, heads, T].
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "../../canon_math.h"

layout(binding = 0) readonly buffer QKV { float qkv[]; };
layout(binding = 1) readonly buffer STATS { float stats[]; };
layout(binding = 2) readonly buffer DY { float dy[]; };
layout(binding = 3) buffer DQKV { float dqkv[]; };
layout(binding = 4) buffer CSUM { float csum[]; };
#define ATT_BACKWARD
#include "attention.glsl"

void main() {
    uint r = vk_index();
    if (r >= p.rows) return;
    att_row a = att_row_of(r);
    precise float part = 0.0, done = 0.0;
    for (uint j = 0u; j < p.t; j++) {
        att_pair q = att_pair_of(a, r, j);
        part = part + q.dp * q.prob;
        if (j % 256u == 255u && p.t > 256u) {
            done = done + part;
            part = 0.0;
        }
    }
    precise float c = p.t > 256u ? done + part : part;
    float acc[ATT_MAX_D], acc_done[ATT_MAX_D];
    for (uint d = 0u; d < p.dh; d++) acc[d] = acc_done[d] = 0.0;
    uint ld = 3u * p.c;
    for (uint j = 0u; j < p.t; j++) {
        att_pair q = att_pair_of(a, r, j);
        precise float ds = q.prob * (q.dp - c) * p.scale;
        uint ko = a.head0 + j * ld + p.c;
        for (uint d = 0u; d < p.dh; d++) {
            precise float t = acc[d] + ds * qkv[ko + d];
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
        dqkv[a.q + d] = v;
    }
    csum[r] = c;
}
