#version 450
// Batched matrix product C = alpha op(A) op(B) + beta C, tiled in shared memory.
// A: [M, K] (or [K, M] with ta), B: [K, N] (or [N, K] with tb), C: [M, N], all
// row-major; batch z of A starts at element off_a + z * stride_a (stride 0: A is
// shared by the batch), likewise B. beta == 0 never reads C (it may hold NaN).
// Output g (the grid's z) sums the products of batches g*sum_batches .. (below
// sum_end), as if K ran on through them, into C at off_c + g * stride_c: one batch
// each for a batched product, many for a convolution's weight gradient.
//
// Each workgroup computes a BM x BN tile of C; each invocation a TM x TN grid of it,
// rows ty + i*WG_Y and columns tx + j*WG_X, so neighbouring invocations read
// neighbouring shared-memory words. K advances in steps of BK through the tiles.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

layout(constant_id = 2) const uint TM = 4u; // rows of C per invocation
layout(constant_id = 3) const uint TN = 4u; // columns of C per invocation
const uint BK = 16u;
const uint WG_X = gl_WorkGroupSize.x, WG_Y = gl_WorkGroupSize.y;
const uint BM = WG_Y * TM, BN = WG_X * TN;

layout(push_constant) uniform Push {
    uint M, N, K, ta, tb, stride_a, stride_b, stride_c, off_a, off_b, off_c, sum_batches, sum_end;
    float alpha, beta;
} p;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer C { float c[]; };

shared float As[BK * BM]; // As[k * BM + m]
shared float Bs[BK * BN]; // Bs[k * BN + n]

void main() {
    uint g = gl_WorkGroupID.z;
    uint c0 = p.off_c + g * p.stride_c;
    uint first = g * p.sum_batches, last = min(first + p.sum_batches, p.sum_end);
    uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * WG_X + tx, threads = WG_X * WG_Y;

    float acc[TM][TN];
    for (uint i = 0u; i < TM; i++)
        for (uint j = 0u; j < TN; j++) acc[i][j] = 0.0;

    for (uint z = first; z < last; z++) {
        uint a0 = p.off_a + z * p.stride_a, b0 = p.off_b + z * p.stride_b;
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
            for (uint k = 0u; k < BK; k++) {
                float av[TM], bv[TN];
                for (uint i = 0u; i < TM; i++) av[i] = As[k * BM + ty + i * WG_Y];
                for (uint j = 0u; j < TN; j++) bv[j] = Bs[k * BN + tx + j * WG_X];
                for (uint i = 0u; i < TM; i++)
                    for (uint j = 0u; j < TN; j++) acc[i][j] += av[i] * bv[j];
            }
            barrier();
        }
    }

    for (uint i = 0u; i < TM; i++) {
        uint gm = row0 + ty + i * WG_Y;
        if (gm >= p.M) continue;
        for (uint j = 0u; j < TN; j++) {
            uint gn = col0 + tx + j * WG_X;
            if (gn >= p.N) continue;
            uint idx = c0 + gm * p.N + gn;
            float r = p.alpha * acc[i][j];
            if (p.beta != 0.0) r += p.beta * c[idx];
            c[idx] = r;
        }
    }
}
