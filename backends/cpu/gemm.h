/* The CPU backend's matrix product, in zoo's summation order (backends/canon.h). */
#ifndef ZOO_CPU_GEMM_H
#define ZOO_CPU_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One product C = alpha op(A) op(B) + beta C over row-major matrices with leading
 * dimensions lda, ldb, ldc: op(A) is [m, k] (A is [k, m] when ta), op(B) is [k, n]
 * (B is [n, k] when tb). Each C[i, j] is alpha * S + beta * C[i, j], S the sum over
 * k of the rounded products op(A)[i, k] * op(B)[k, j] in zoo's order; beta == 0
 * never reads C. */
typedef struct zoo_gemm_args {
    bool ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc;
    const float *packed_a; /* A as zoo_gemm_pack_a left it (a is then unused), or NULL */
} zoo_gemm_args;

/* floats of scratch that zoo_gemm needs for its packed copies of A and B */
size_t zoo_gemm_scratch_floats(int64_t m, int64_t n, int64_t k);

/* op(A) packed into dst (zoo_gemm_packed_a_floats(m, k) floats), for products that
 * share an A: a convolution's weights against each image */
size_t zoo_gemm_packed_a_floats(int64_t m, int64_t k);
void zoo_gemm_pack_a(const zoo_gemm_args *g, float *dst);

/* The product on the calling thread (even inside a parallel region), or on `threads`
 * OpenMP threads of a team of its own (the result is the same either way). */
void zoo_gemm(const zoo_gemm_args *g, float *scratch, int threads);

/* The product's work shared among the threads of the enclosing OpenMP team: every
 * thread of it calls this with the same arguments, and all return when C is done. */
void zoo_gemm_shared(const zoo_gemm_args *g, float *scratch);

#endif
