#version 450
// Batched matrix product C = alpha op(A) op(B) + beta C, tiled in shared memory.
// A: [M, K] (or [K, M] with ta), B: [K, N] (or [N, K] with tb), C: [M, N], all
// row-major; batch z of A starts at element off_a + z * stride_a (stride 0: A is
// shared by the batch), likewise B and C. beta == 0 never reads C (it may hold NaN).
//
// Each workgroup computes a BM x BN tile of C; each invocation a TM x TN grid of it,
// rows ty + i*WG_Y and columns tx + j*WG_X, so neighbouring invocations read
// neighbouring shared-memory words. K advances in steps of BK through the tiles.
//
// Exact mode: every C element sums its K products in zoo's order (backends/canon.h),
// as the CPU does: products rounded, then added one k at a time from zero in groups of
// 256 k (16 steps of BK), the group sums added in the level above (and groups of those
// in a third level past 65536). `precise` keeps each multiply and add its own rounding.
// Fast mode: one fused multiply-add a product, no groups.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

layout(constant_id = 2) const uint TM = 4u; // rows of C per invocation
layout(constant_id = 3) const uint TN = 4u; // columns of C per invocation
const uint BK = 16u;
const uint WG_X = gl_WorkGroupSize.x, WG_Y = gl_WorkGroupSize.y;
const uint BM = WG_Y * TM, BN = WG_X * TN;

layout(push_constant) uniform Push {
    uint M, N, K, ta, tb, stride_a, stride_b, stride_c, off_a, off_b, off_c;
    float alpha, beta;
} p;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer C { float c[]; };

shared float As[BK * BM]; // As[k * BM + m]
shared float Bs[BK * BN]; // Bs[k * BN + n]

const uint GROUP = 256u; // canon.h's ZOO_SUM_GROUP, a multiple of BK

void main() {
    uint z = gl_WorkGroupID.z;
    uint a0 = p.off_a + z * p.stride_a, b0 = p.off_b + z * p.stride_b, c0 = p.off_c + z * p.stride_c;
    uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * WG_X + tx, threads = WG_X * WG_Y;

    // the open group of products, the level above, and the one above that
    precise float acc[TM][TN], t1[TM][TN], t2[TM][TN];
    for (uint i = 0u; i < TM; i++)
        for (uint j = 0u; j < TN; j++) {
            acc[i][j] = 0.0;
            t1[i][j] = 0.0;
            t2[i][j] = 0.0;
        }

    uint groups = 0u;
    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        // consecutive invocations load consecutive addresses of the layout in memory
        for (uint e = tid; e < BM * BK; e += threads) {
            uint m = p.ta == 0u ? e / BK : e % BM;
            uint k = p.ta == 0u ? e % BK : e / BM;
            uint gm = row0 + m, gk = k0 + k;
            float v = 0.0;
            if (gm < p.M && gk < p.K) v = a[a0 + (p.ta == 0u ? gm * p.K + gk : gk * p.M + gm)];
            As[k * BM + m] = v;
        }
        for (uint e = tid; e < BN * BK; e += threads) {
            uint n = p.tb == 0u ? e % BN : e / BK;
            uint k = p.tb == 0u ? e / BN : e % BK;
            uint gn = col0 + n, gk = k0 + k;
            float v = 0.0;
            if (gn < p.N && gk < p.K) v = b[b0 + (p.tb == 0u ? gk * p.N + gn : gn * p.K + gk)];
            Bs[k * BN + n] = v;
        }
        barrier();
        // past K the tiles hold zeros: adding 0 * 0 leaves a sum unchanged
        for (uint k = 0u; k < BK; k++) {
            float av[TM], bv[TN];
            for (uint i = 0u; i < TM; i++) av[i] = As[k * BM + ty + i * WG_Y];
            for (uint j = 0u; j < TN; j++) bv[j] = Bs[k * BN + tx + j * WG_X];
            for (uint i = 0u; i < TM; i++)
                for (uint j = 0u; j < TN; j++) {
                    if (ZOO_EXACT) {
                        precise float prod = av[i] * bv[j];
                        acc[i][j] = acc[i][j] + prod;
                    } else {
                        acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                    }
                }
        }
        barrier();
        uint k1 = k0 + BK;
        if (ZOO_EXACT && p.K > GROUP && (k1 % GROUP == 0u || k1 >= p.K)) { // a group is complete
            groups++;
            bool lift = groups % GROUP == 0u && k1 < p.K; // and a group of groups
            for (uint i = 0u; i < TM; i++)
                for (uint j = 0u; j < TN; j++) {
                    t1[i][j] = t1[i][j] + acc[i][j];
                    acc[i][j] = 0.0;
                    if (lift) {
                        t2[i][j] = t2[i][j] + t1[i][j];
                        t1[i][j] = 0.0;
                    }
                }
        }
    }

    for (uint i = 0u; i < TM; i++) {
        uint gm = row0 + ty + i * WG_Y;
        if (gm >= p.M) continue;
        for (uint j = 0u; j < TN; j++) {
            uint gn = col0 + tx + j * WG_X;
            if (gn >= p.N) continue;
            uint idx = c0 + gm * p.N + gn;
            precise float sum = !ZOO_EXACT || p.K <= GROUP ? acc[i][j] : (p.K > GROUP * GROUP ? t2[i][j] + t1[i][j] : t1[i][j]);
            precise float r = p.alpha * sum;
            if (p.beta != 0.0) r = r + p.beta * c[idx];
            c[idx] = r;
        }
    }
}
