/* The CPU backend: memory, threads and the vtable; the kernels live in one file per
 * op family (cpu_internal.h lists them). Everything runs synchronously, so flush and
 * sync have nothing to do.
 *
 * Threads: one OpenMP pool (libgomp) does all the parallel work, OpenBLAS's included,
 * since Debian's OpenMP build of OpenBLAS runs its threads on that same pool. Never
 * start an OpenMP region inside another, even an inactive one: GOMP starts fresh
 * threads for every nested team, and their idle threads spin. OpenBLAS called inside
 * a parallel region runs on the calling thread alone, which is what the batched
 * products want. */
#include "cpu_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cpu_name(void *ctx) {
    (void)ctx;
    return "cpu";
}

static void cpu_shutdown(void *ctx) {
    cpu_ctx *c = ctx;
    zoo_arena_destroy(&c->arena);
    free(c);
}

static void cpu_set_threads(void *ctx, int n) {
    cpu_ctx *c = ctx;
    if (n <= 0) n = omp_get_num_procs();
    c->threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* ---------------------------------------------------------------- memory */

/* persistent allocations carry their size in a 64-byte prefix for accounting */
static void *cpu_alloc(void *ctx, size_t bytes) {
    cpu_ctx *c = ctx;
    size_t total = ((bytes + 63) & ~(size_t)63) + 64;
    char *p = aligned_alloc(64, total);
    if (!p) return NULL;
    memcpy(p, &bytes, sizeof bytes);
    c->persistent_bytes += bytes;
    size_t now = c->persistent_bytes + c->arena.used;
    if (now > c->peak) c->peak = now;
    return p + 64;
}

static void cpu_free(void *ctx, void *data) {
    cpu_ctx *c = ctx;
    if (!data) return;
    char *p = (char *)data - 64;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    c->persistent_bytes -= bytes;
    free(p);
}

static void *cpu_arena_alloc(void *ctx, size_t bytes) {
    cpu_ctx *c = ctx;
    void *p = zoo_arena_alloc(&c->arena, bytes);
    size_t now = c->persistent_bytes + c->arena.used;
    if (now > c->peak) c->peak = now;
    return p;
}

static size_t cpu_arena_mark(void *ctx) { return zoo_arena_mark(&((cpu_ctx *)ctx)->arena); }
static void cpu_arena_reset(void *ctx, size_t mark) { zoo_arena_reset(&((cpu_ctx *)ctx)->arena, mark); }
static size_t cpu_peak_bytes(void *ctx) { return ((cpu_ctx *)ctx)->peak; }

float *cpu_scratch(cpu_ctx *c, size_t floats) {
    float *p = cpu_arena_alloc(c, floats * sizeof(float));
    if (!p) {
        fprintf(stderr, "zoo: error: out of memory for %zu MiB of scratch\n", (floats * 4) >> 20);
        exit(1);
    }
    return p;
}

size_t cpu_mark(cpu_ctx *c) { return cpu_arena_mark(c); }
void cpu_release(cpu_ctx *c, size_t mark) { cpu_arena_reset(c, mark); }

static void cpu_upload(void *ctx, zoo_tensor *dst, const void *src, size_t bytes, size_t offset) {
    (void)ctx;
    memcpy((char *)dst->data + offset, src, bytes);
}

static void cpu_download(void *ctx, const zoo_tensor *src, void *dst, size_t bytes, size_t offset) {
    (void)ctx;
    memcpy(dst, (const char *)src->data + offset, bytes);
}

static void cpu_nop(void *ctx) { (void)ctx; }

static void cpu_counters(void *ctx, zoo_counters *out) {
    (void)ctx;
    *out = (zoo_counters){0};
}

/* ---------------------------------------------------------------- the vtable */

zoo_backend *zoo_backend_cpu_new(const zoo_backend_config *cfg) {
    zoo_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        zoo_set_error("out of memory creating the CPU backend");
        return NULL;
    }
#ifndef NDEBUG
    c->arena.poison = 0xff; /* released activations read as NaN */
#endif
    c->exact = cfg->exact;
    be->ctx = c;
    be->exact = cfg->exact;
    be->iface = (zoo_backend_iface){
        .name = cpu_name,
        .shutdown = cpu_shutdown,
        .set_threads = cpu_set_threads,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .arena_alloc = cpu_arena_alloc,
        .arena_mark = cpu_arena_mark,
        .arena_reset = cpu_arena_reset,
        .peak_bytes = cpu_peak_bytes,
        .upload = cpu_upload,
        .download = cpu_download,
        .fill = cpu_fill,
        .flush = cpu_nop,
        .sync = cpu_nop,
        .counters = cpu_counters,
        .gemm = cpu_gemm,
        .unary = cpu_unary,
        .unary_backward = cpu_unary_backward,
        .binary = cpu_binary,
        .reduce = cpu_reduce,
        .softmax = cpu_softmax,
        .softmax_backward = cpu_softmax_backward,
        .attention = cpu_attention,
        .attention_backward = cpu_attention_backward,
        .nll = cpu_nll,
        .nll_backward = cpu_nll_backward,
        .cross_entropy_backward = cpu_cross_entropy_backward,
        .permute = cpu_permute,
        .copy_box = cpu_copy_box,
        .embedding = cpu_embedding,
        .embedding_backward = cpu_embedding_backward,
        .rng_fill = cpu_rng_fill,
        .conv2d = cpu_conv2d,
        .conv2d_backward_input = cpu_conv2d_backward_input,
        .conv2d_backward_weight = cpu_conv2d_backward_weight,
        .pool2d = cpu_pool2d,
        .pool2d_backward = cpu_pool2d_backward,
        .batchnorm = cpu_batchnorm,
        .batchnorm_backward = cpu_batchnorm_backward,
        .layernorm = cpu_layernorm,
        .layernorm_backward = cpu_layernorm_backward,
        .axpby = cpu_axpby,
        .sgd_update = cpu_sgd_update,
        .adam_update = cpu_adam_update,
    };
    cpu_set_threads(c, cfg->threads);
    return be;
}
