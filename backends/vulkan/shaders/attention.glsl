// What the attention shaders share: the push constants, the layout of q, k and v in
// the fused projection's output, and one score. qkv: [B, T, 3C], each position's q, k
// and v side by side, head h's values at h D .. h D + D - 1 of each (C = heads D).
// Include after common.glsl, canon_math.h and the shader's buffers (qkv; the
// backward's stats and dy, with ATT_BACKWARD defined).

#define ATT_MAX_D 128 // backend.h's ZOO_ATTENTION_MAX_HEAD

layout(push_constant) uniform Push {
    uint rows, t, c, heads, dh; // rows = B heads T: one invocation per (sample, head, position)
    float scale;
    uint causal; // 1: each position attends to itself and the positions before it
} p;

// whether query position i's score against key position j is masked
bool att_masked(uint i, uint j) { return p.causal != 0u && j > i; }

// one (sample, head, position) row r: where its q starts in qkv (k and v follow at
// + C and + 2C), where its head's position 0 starts, and its offset in y and dy
struct att_row {
    uint q, head0, y, pos, bh;
};

att_row att_row_of(uint r) {
    att_row a;
    a.pos = r % p.t;
    a.bh = r / p.t;
    uint h = a.bh % p.heads, b = a.bh / p.heads;
    a.head0 = b * p.t * 3u * p.c + h * p.dh;
    a.q = a.head0 + a.pos * 3u * p.c;
    a.y = (b * p.t + a.pos) * p.c + h * p.dh;
    return a;
}

// the scaled score of the query at qo against the key at ko (offsets into qkv); -inf
// when masked. D <= 128 terms: canon.h's order is left to right.
float att_score(uint qo, uint ko, bool masked) {
    if (masked) return uintBitsToFloat(0xff800000u);
    precise float acc = 0.0;
    for (uint d = 0u; d < p.dh; d++) acc = acc + qkv[qo + d] * qkv[ko + d];
    precise float s = acc * p.scale;
    return s;
}

#ifdef ATT_BACKWARD
// The backward's per-pair numbers for query row qr (in stats' order) against key
// position j: p_ij recomputed from the forward's max and sum, dp_ij = dy_i . v_j
// (with qkv and dy declared before the include)
struct att_pair {
    float prob, dp;
};

att_pair att_pair_of(att_row q, uint qr, uint j) {
    uint ld = 3u * p.c;
    att_pair r;
    float s = att_score(q.q, q.head0 + j * ld + p.c, att_masked(q.pos, j));
    r.prob = zoo_div(zoo_expf(s - stats[2u * qr]), stats[2u * qr + 1u]);
    precise float acc = 0.0;
    uint vo = q.head0 + j * ld + 2u * p.c;
    for (uint d = 0u; d < p.dh; d++) acc = acc + dy[q.y + d] * qkv[vo + d];
    r.dp = acc;
    return r;
}
#endif
