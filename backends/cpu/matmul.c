/* The vtable's batched matrix product. Exact mode: gemm.c, canon.h's order. Fast
 * mode: OpenBLAS's sgemm. Either way a batch whose products are small runs its
 * products side by side, one per thread; a large product runs on the whole team. */
#include "cpu_internal.h"
#include "../kernels.h"
#include "gemm.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>

/* below this many multiply-adds a product runs on one thread */
#define GEMM_PAR_MIN_FLOPS (1 << 20)

static int blas_int(int64_t v) {
    ZOO_ASSERT(v >= 0 && v <= INT_MAX);
    return (int)v;
}

void cpu_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blas_int(m),
                blas_int(n), blas_int(k), alpha, a, blas_int(lda > 0 ? lda : 1), b, blas_int(ldb > 0 ? ldb : 1), beta,
                c, blas_int(ldc > 0 ? ldc : 1));
}

/* Fast mode's product on a team: each thread takes one block of C's rows (of its
 * columns when C is wider than tall) and runs OpenBLAS on that block alone. With the
 * operands out of cache, as they are between a model's layers, this beat OpenBLAS's
 * own threading by about 1.4x on the transformer's products (2 threads). */
static void split_product(const zoo_gemm_args *g, int threads) {
    bool by_rows = g->m >= g->n;
    int64_t len = by_rows ? g->m : g->n;
#pragma omp parallel num_threads(threads)
    {
        int64_t per = (len + omp_get_num_threads() - 1) / omp_get_num_threads();
        per = (per + 15) / 16 * 16;
        int64_t lo = omp_get_thread_num() * per, hi = lo + per < len ? lo + per : len;
        if (lo < hi && by_rows)
            cpu_sgemm(g->ta, g->tb, hi - lo, g->n, g->k, g->alpha, g->ta ? g->a + lo : g->a + lo * g->lda, g->lda,
                      g->b, g->ldb, g->beta, g->c + lo * g->ldc, g->ldc);
        else if (lo < hi)
            cpu_sgemm(g->ta, g->tb, g->m, hi - lo, g->k, g->alpha, g->a, g->lda,
                      g->tb ? g->b + lo * g->ldb : g->b + lo, g->ldb, g->beta, g->c + lo, g->ldc);
    }
}

/* one product of the batch, exact or fast, on this thread or (threads > 1) a team */
static void product(const cpu_ctx *cx, const zoo_gemm_args *g, float *scratch, int threads) {
    if (cx->exact) {
        zoo_gemm(g, scratch, threads);
        return;
    }
    if (threads > 1) {
        split_product(g, threads);
        return;
    }
    cpu_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->a, g->lda, g->b, g->ldb, g->beta, g->c, g->ldc);
}

void cpu_gemm(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *c, bool ta, bool tb, float alpha,
              float beta) {
    cpu_ctx *cx = ctx;
    zoo_gemm_dims d = zoo_gemm_dims_of(a, b, c, ta, tb);
    /* A batch against one shared B with A's rows stored one after another is one
     * product of batch*m rows (each element's sum is the same) */
    if (d.batch > 1 && d.stride_b == 0 && !ta && d.stride_a == d.m * d.k) {
        d.m *= d.batch;
        d.batch = 1;
    }
    double flops = (double)d.m * (double)d.n * (double)d.k;
    bool par_inside = flops >= GEMM_PAR_MIN_FLOPS;
    bool par_batch = !par_inside && d.batch > 1 && flops * (double)d.batch >= GEMM_PAR_MIN_FLOPS;
    int team = par_batch ? cx->threads : 1;
    size_t per = cx->exact ? zoo_gemm_scratch_floats(d.m, d.n, d.k) : 0, mark = cpu_mark(cx);
    float *scratch = per ? cpu_scratch(cx, per * (size_t)team) : NULL;
    zoo_gemm_args g = {.ta = ta, .tb = tb, .m = d.m, .n = d.n, .k = d.k, .alpha = alpha, .beta = beta,
                       .lda = d.lda, .ldb = d.ldb, .ldc = d.ldc};
    const float *pa = f32(a), *pb = f32(b);
    float *pc = f32(c);
    if (par_batch) {
#pragma omp parallel for num_threads(team) schedule(static)
        for (int64_t i = 0; i < d.batch; i++) {
            zoo_gemm_args gi = g;
            gi.a = pa + i * d.stride_a, gi.b = pb + i * d.stride_b, gi.c = pc + i * d.stride_c;
            product(cx, &gi, scratch ? scratch + (size_t)omp_get_thread_num() * per : NULL, 1);
        }
    } else {
        for (int64_t i = 0; i < d.batch; i++) {
            zoo_gemm_args gi = g;
            gi.a = pa + i * d.stride_a, gi.b = pb + i * d.stride_b, gi.c = pc + i * d.stride_c;
            product(cx, &gi, scratch, par_inside ? cx->threads : 1);
        }
    }
    cpu_release(cx, mark);
}
