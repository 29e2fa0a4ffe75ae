/* The CPU's matrix product in zoo's summation order (canon.h), so that it matches
 * the Vulkan gemm shader bit for bit.
 *
 * The layout is the classic one of BLIS and OpenBLAS: A is packed into panels of
 * MR rows and B into panels of NR columns, each stored k-major so that the inner
 * loop streams through both; a micro-kernel then computes one MR x NR tile of C in
 * registers. What differs is the order inside: each tile element adds its products
 * one k at a time, with a separate multiply and add (no FMA), and restarts from
 * zero every ZOO_SUM_GROUP values of k, the group sums going into a level above.
 * That is exactly canon.h's tree, and vectorizing across the tile's columns does
 * not change any element's order. On x86 the kernel is built for AVX too and the
 * best version is picked at load time (GCC's target_clones); on CPUs that run an
 * AVX multiply and an AVX add in parallel (AMD Zen, Intel since Haswell) the pair
 * costs no more throughput than one FMA. */
#include "gemm.h"

#include "../backend.h"
#include "../canon.h"

#include <string.h>

enum { MR = 6, NR = 16 };

typedef float v8 __attribute__((vector_size(32)));

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

size_t zoo_gemm_scratch_floats(int64_t m, int64_t n, int64_t k) {
    return (size_t)((round_up(m, MR) + round_up(n, NR)) * k);
}

/* dst[kk * MR + r] = op(A)[i0 + r, kk]; rows past m are zero */
static void pack_a(const zoo_gemm_args *g, int64_t i0, float *restrict dst) {
    int64_t rows = g->m - i0 < MR ? g->m - i0 : MR, k = g->k;
    if (g->ta) {
        for (int64_t kk = 0; kk < k; kk++) {
            const float *src = g->a + kk * g->lda + i0;
            for (int64_t r = 0; r < rows; r++) dst[kk * MR + r] = src[r];
            for (int64_t r = rows; r < MR; r++) dst[kk * MR + r] = 0.0f;
        }
        return;
    }
    for (int64_t r = 0; r < MR; r++) {
        const float *src = g->a + (i0 + r) * g->lda;
        if (r < rows)
            for (int64_t kk = 0; kk < k; kk++) dst[kk * MR + r] = src[kk];
        else
            for (int64_t kk = 0; kk < k; kk++) dst[kk * MR + r] = 0.0f;
    }
}

size_t zoo_gemm_packed_a_floats(int64_t m, int64_t k) { return (size_t)(round_up(m, MR) * k); }

void zoo_gemm_pack_a(const zoo_gemm_args *g, float *dst) {
    for (int64_t i = 0; i < g->m; i += MR) pack_a(g, i, dst + i * g->k);
}

/* dst[kk * NR + s] = op(B)[kk, j0 + s]; columns past n are zero */
static void pack_b(const zoo_gemm_args *g, int64_t j0, float *restrict dst) {
    int64_t cols = g->n - j0 < NR ? g->n - j0 : NR, k = g->k;
    if (!g->tb) {
        for (int64_t kk = 0; kk < k; kk++) {
            const float *src = g->b + kk * g->ldb + j0;
            if (cols == NR) { /* a fixed size: an inline copy, not a call */
                memcpy(dst + kk * NR, src, NR * 4);
                continue;
            }
            for (int64_t s = 0; s < cols; s++) dst[kk * NR + s] = src[s];
            for (int64_t s = cols; s < NR; s++) dst[kk * NR + s] = 0.0f;
        }
        return;
    }
    for (int64_t s = 0; s < NR; s++) {
        const float *src = g->b + (j0 + s) * g->ldb;
        if (s < cols)
            for (int64_t kk = 0; kk < k; kk++) dst[kk * NR + s] = src[kk];
        else
            for (int64_t kk = 0; kk < k; kk++) dst[kk * NR + s] = 0.0f;
    }
}

/* out[r][s] = the sum over kk < k of ap[kk*MR + r] * bp[kk*NR + s], in canon.h's
 * order: `p` holds the open group of 256 products, t1 the sums of finished groups
 * (the level above), t2 the level above that (k > 65536). */
static inline __attribute__((always_inline)) void tile_sums(int64_t k, const float *restrict ap,
                                                            const float *restrict bp, v8 out[MR][2]) {
    const v8 zero = {0};
    v8 t1[MR][2], t2[MR][2];
    for (int r = 0; r < MR; r++) t1[r][0] = t1[r][1] = t2[r][0] = t2[r][1] = zero;
    int64_t groups = 0;
    for (int64_t k0 = 0; k0 < k; k0 += ZOO_SUM_GROUP) {
        int64_t k1 = k0 + ZOO_SUM_GROUP < k ? k0 + ZOO_SUM_GROUP : k;
        v8 p[MR][2];
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) p[r][0] = p[r][1] = zero;
        for (int64_t kk = k0; kk < k1; kk++) {
            v8 b0, b1;
            memcpy(&b0, bp + kk * NR, sizeof b0);
            memcpy(&b1, bp + kk * NR + 8, sizeof b1);
            const float *a = ap + kk * MR;
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++) {
                p[r][0] = p[r][0] + a[r] * b0;
                p[r][1] = p[r][1] + a[r] * b1;
            }
        }
        if (k <= ZOO_SUM_GROUP) { /* one group: its sum is the result */
            memcpy(out, p, sizeof p);
            return;
        }
        for (int r = 0; r < MR; r++)
            for (int h = 0; h < 2; h++) t1[r][h] = t1[r][h] + p[r][h];
        if (++groups % ZOO_SUM_GROUP == 0 && k1 < k) { /* a full group of groups: a term one level up */
            for (int r = 0; r < MR; r++)
                for (int h = 0; h < 2; h++) {
                    t2[r][h] = t2[r][h] + t1[r][h];
                    t1[r][h] = zero;
                }
        }
    }
    bool three_levels = k > (int64_t)ZOO_SUM_GROUP * ZOO_SUM_GROUP;
    for (int r = 0; r < MR; r++)
        for (int h = 0; h < 2; h++) out[r][h] = three_levels ? t2[r][h] + t1[r][h] : t1[r][h];
}

/* tiles [t0, t1) of C (row panel t / npanels_n, column panel t % npanels_n) from the
 * packed panels */
__attribute__((target_clones("avx", "default"))) static void
compute_tiles(const zoo_gemm_args *g, const float *pa, const float *pb, int64_t t0, int64_t t1) {
    int64_t npn = (g->n + NR - 1) / NR;
    for (int64_t t = t0; t < t1; t++) {
        int64_t pi = t / npn, pj = t % npn, i0 = pi * MR, j0 = pj * NR;
        v8 sums[MR][2];
        tile_sums(g->k, pa + pi * MR * g->k, pb + pj * NR * g->k, sums);
        float s[MR][NR];
        memcpy(s, sums, sizeof s);
        int64_t rows = g->m - i0 < MR ? g->m - i0 : MR, cols = g->n - j0 < NR ? g->n - j0 : NR;
        for (int64_t r = 0; r < rows; r++) {
            float *c = g->c + (i0 + r) * g->ldc + j0;
            if (g->beta == 0.0f)
                for (int64_t j = 0; j < cols; j++) c[j] = g->alpha * s[r][j];
            else
                for (int64_t j = 0; j < cols; j++) c[j] = g->alpha * s[r][j] + g->beta * c[j];
        }
    }
}

/* the product, by this thread alone or (shared) by the enclosing team's threads */
static void gemm_run(const zoo_gemm_args *g, float *scratch, bool shared) {
    if (g->m <= 0 || g->n <= 0) return;
    ZOO_ASSERT(g->k < (int64_t)1 << 24); /* three levels of canon.h's tree */
    if (g->k == 0) { /* empty sums: C = beta C */
        if (shared) {
#pragma omp single
            gemm_run(g, scratch, false); /* by one thread; the others wait at the end */
            return;
        }
        for (int64_t i = 0; i < g->m; i++)
            for (int64_t j = 0; j < g->n; j++) {
                float *c = g->c + i * g->ldc + j;
                *c = g->beta == 0.0f ? 0.0f : g->beta * *c;
            }
        return;
    }
    int64_t npm = (g->m + MR - 1) / MR, npn = (g->n + NR - 1) / NR, tiles = npm * npn;
    float *pa = g->packed_a ? (float *)g->packed_a : scratch, *pb = scratch + npm * MR * g->k;
    int64_t pack_rows = g->packed_a ? 0 : npm; /* pa is only read when packed_a is given */
    if (!shared) {
        for (int64_t i = 0; i < pack_rows; i++) pack_a(g, i * MR, pa + i * MR * g->k);
        for (int64_t j = 0; j < npn; j++) pack_b(g, j * NR, pb + j * NR * g->k);
        compute_tiles(g, pa, pb, 0, tiles);
        return;
    }
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < pack_rows; i++) pack_a(g, i * MR, pa + i * MR * g->k);
#pragma omp for schedule(static)
    for (int64_t j = 0; j < npn; j++) pack_b(g, j * NR, pb + j * NR * g->k);
    /* blocks of tiles, handed out as threads come free */
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < tiles; t += 4) compute_tiles(g, pa, pb, t, t + 4 < tiles ? t + 4 : tiles);
}

void zoo_gemm_shared(const zoo_gemm_args *g, float *scratch) { gemm_run(g, scratch, true); }

void zoo_gemm(const zoo_gemm_args *g, float *scratch, int threads) {
    int64_t tiles = ((g->m + MR - 1) / MR) * ((g->n + NR - 1) / NR);
    if (threads > tiles) threads = (int)tiles;
    if (threads <= 1) {
        gemm_run(g, scratch, false);
        return;
    }
#pragma omp parallel num_threads(threads)
    gemm_run(g, scratch, true);
}
