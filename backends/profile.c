/* A profiling backend: it forwards every call to the backend it wraps and adds up, per
 * kernel (and op, and convolution shape), the wall time from the call until the work
 * has finished. Waiting after each kernel serializes an asynchronous device, so on
 * Vulkan the total is more than an unprofiled run takes; on the CPU it is the same. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ENTRIES 256

typedef struct prof_entry {
    char key[240];
    double seconds;
    int64_t calls;
} prof_entry;

typedef struct prof_ctx {
    zoo_backend *inner;
    prof_entry e[MAX_ENTRIES];
    int n;
} prof_ctx;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void account(prof_ctx *p, const char *key, double t0) {
    zoo_backend *in = p->inner;
    in->iface.flush(in->ctx);
    in->iface.sync(in->ctx);
    double dt = now_s() - t0;
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->e[i].key, key) == 0) {
            p->e[i].seconds += dt;
            p->e[i].calls++;
            return;
        }
    if (p->n == MAX_ENTRIES) { /* the last entry collects the rest */
        p->e[MAX_ENTRIES - 1].seconds += dt;
        p->e[MAX_ENTRIES - 1].calls++;
        snprintf(p->e[MAX_ENTRIES - 1].key, sizeof p->e[0].key, "(other kernels)");
        return;
    }
    prof_entry *e = &p->e[p->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->seconds = dt;
    e->calls = 1;
}

#define IN(ctx) (((prof_ctx *)(ctx))->inner)
/* runs the inner backend's kernel and books its time under key */
#define TIMED(ctx, key, field, ...)                                                                \
    do {                                                                                           \
        double t0_ = now_s();                                                                      \
        IN(ctx)->iface.field(IN(ctx)->ctx, __VA_ARGS__);                                           \
        account(ctx, key, t0_);                                                                    \
    } while (0)

static const char *const unary_names[] = {
#define ZOO_UNARY_OP(name, number) #name,
#include "ops.def"
};
static const char *const binary_names[] = {
#define ZOO_BINARY_OP(name, number) #name,
#include "ops.def"
};
static const char *const reduce_names[] = {
#define ZOO_REDUCE_OP(name, number) #name,
#include "ops.def"
};

/* "conv2d 64->128 4x4/2 14x14" */
static const char *conv_key(char *buf, size_t n, const char *kernel, const zoo_conv2d_geom *g) {
    snprintf(buf, n, "%s %d->%d %dx%d/%d %dx%d", kernel, g->cin, g->cout, g->kh, g->kw, g->stride_h, g->h, g->w);
    return buf;
}

/* ---------------------------------------------------------------- forwarded as they are */

static const char *p_name(void *ctx) { return IN(ctx)->iface.name(IN(ctx)->ctx); }
static void p_shutdown(void *ctx) {
    zoo_backend_free(IN(ctx));
    free(ctx);
}
static void p_set_threads(void *ctx, int n) { IN(ctx)->iface.set_threads(IN(ctx)->ctx, n); }
static void *p_alloc(void *ctx, size_t bytes) { return IN(ctx)->iface.alloc(IN(ctx)->ctx, bytes); }
static void p_free(void *ctx, void *data) { IN(ctx)->iface.free(IN(ctx)->ctx, data); }
static void *p_arena_alloc(void *ctx, size_t bytes) { return IN(ctx)->iface.arena_alloc(IN(ctx)->ctx, bytes); }
static size_t p_arena_mark(void *ctx) { return IN(ctx)->iface.arena_mark(IN(ctx)->ctx); }
static void p_arena_reset(void *ctx, size_t mark) { IN(ctx)->iface.arena_reset(IN(ctx)->ctx, mark); }
static size_t p_peak_bytes(void *ctx) { return IN(ctx)->iface.peak_bytes(IN(ctx)->ctx); }
static void p_flush(void *ctx) { IN(ctx)->iface.flush(IN(ctx)->ctx); }
static void p_sync(void *ctx) { IN(ctx)->iface.sync(IN(ctx)->ctx); }
static void p_counters(void *ctx, zoo_counters *out) { IN(ctx)->iface.counters(IN(ctx)->ctx, out); }

/* ---------------------------------------------------------------- timed */

static void p_upload(void *ctx, zoo_tensor *dst, const void *src, size_t bytes, size_t offset) {
    TIMED(ctx, "upload", upload, dst, src, bytes, offset);
}
static void p_download(void *ctx, const zoo_tensor *src, void *dst, size_t bytes, size_t offset) {
    TIMED(ctx, "download", download, src, dst, bytes, offset);
}
static void p_fill(void *ctx, zoo_tensor *t, float value) { TIMED(ctx, "fill", fill, t, value); }
static void p_gemm(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *c, bool ta, bool tb, float alpha,
                   float beta) {
    /* by shape: batch x m x n x k, as the product sees it */
    char key[72];
    int nc = c->shape.ndim;
    long long batch = nc == 3 ? (long long)c->shape.d[0] : 1, m = c->shape.d[nc - 2], n = c->shape.d[nc - 1];
    long long k = ta ? a->shape.d[a->shape.ndim - 2] : a->shape.d[a->shape.ndim - 1];
    snprintf(key, sizeof key, "gemm %s%s %lldx[%lld,%lld]x%lld", ta ? "T" : "N", tb ? "T" : "N", batch, m, n, k);
    TIMED(ctx, key, gemm, a, b, c, ta, tb, alpha, beta);
}
static void p_unary(void *ctx, zoo_unary_op op, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    char key[72];
    snprintf(key, sizeof key, "unary %s", unary_names[op]);
    TIMED(ctx, key, unary, op, x, y, a, b);
}
static void p_unary_backward(void *ctx, zoo_unary_op op, const zoo_tensor *x, const zoo_tensor *y,
                             const zoo_tensor *dy, zoo_tensor *dx, float a, float b) {
    char key[72];
    snprintf(key, sizeof key, "unary_backward %s", unary_names[op]);
    TIMED(ctx, key, unary_backward, op, x, y, dy, dx, a, b);
}
static void p_binary(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *out) {
    char key[72];
    snprintf(key, sizeof key, "binary %s", binary_names[op]);
    TIMED(ctx, key, binary, op, a, b, out);
}
/* "[64,128,7,7]" (dims past the buffer are cut) */
static const char *shape_str(char *buf, size_t n, const zoo_tensor *t) {
    char d[4][24];
    for (int i = 0; i < 4; i++) snprintf(d[i], sizeof d[i], i ? ",%lld" : "%lld", (long long)t->shape.d[i]);
    int nd = t->shape.ndim;
    snprintf(buf, n, "[%s%s%s%s]", nd > 0 ? d[0] : "", nd > 1 ? d[1] : "", nd > 2 ? d[2] : "", nd > 3 ? d[3] : "");
    return buf;
}

static void p_reduce(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *out) {
    char key[240], a[112], b[112];
    snprintf(key, sizeof key, "reduce %s %s->%s", reduce_names[op], shape_str(a, sizeof a, x), shape_str(b, sizeof b, out));
    TIMED(ctx, key, reduce, op, x, out);
}
static void p_softmax(void *ctx, const zoo_tensor *x, zoo_tensor *y, bool log) {
    TIMED(ctx, log ? "log_softmax" : "softmax", softmax, x, y, log);
}
static void p_softmax_backward(void *ctx, const zoo_tensor *y, const zoo_tensor *dy, zoo_tensor *dx, bool log) {
    TIMED(ctx, log ? "log_softmax_backward" : "softmax_backward", softmax_backward, y, dy, dx, log);
}
static void p_attention(void *ctx, const zoo_tensor *qkv, zoo_tensor *y, zoo_tensor *stats, int64_t heads,
                        float scale, bool causal) {
    TIMED(ctx, "attention", attention, qkv, y, stats, heads, scale, causal);
}
static void p_attention_backward(void *ctx, const zoo_tensor *qkv, const zoo_tensor *stats, const zoo_tensor *dy,
                                 zoo_tensor *dqkv, int64_t heads, float scale, bool causal) {
    TIMED(ctx, "attention_backward", attention_backward, qkv, stats, dy, dqkv, heads, scale, causal);
}
static void p_nll(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels, zoo_tensor *losses) {
    TIMED(ctx, "nll", nll, logp, labels, losses);
}
static void p_nll_backward(void *ctx, const zoo_tensor *labels, const zoo_tensor *dlosses, zoo_tensor *dlogp) {
    TIMED(ctx, "nll_backward", nll_backward, labels, dlosses, dlogp);
}
static void p_cross_entropy_backward(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels,
                                     const zoo_tensor *dlosses, zoo_tensor *dx) {
    TIMED(ctx, "cross_entropy_backward", cross_entropy_backward, logp, labels, dlosses, dx);
}
static void p_permute(void *ctx, const zoo_tensor *x, zoo_tensor *out, const int *perm) {
    TIMED(ctx, "permute", permute, x, out, perm);
}
static void p_copy_box(void *ctx, const zoo_tensor *src, zoo_tensor *dst, const zoo_box *b) {
    TIMED(ctx, "copy_box", copy_box, src, dst, b);
}
static void p_embedding(void *ctx, const zoo_tensor *weight, const zoo_tensor *ids, zoo_tensor *out) {
    TIMED(ctx, "embedding", embedding, weight, ids, out);
}
static void p_embedding_backward(void *ctx, const zoo_tensor *ids, const zoo_tensor *dy, zoo_tensor *dw) {
    TIMED(ctx, "embedding_backward", embedding_backward, ids, dy, dw);
}
static void p_rng_fill(void *ctx, zoo_tensor *out, zoo_rng_dist dist, uint64_t seed, uint64_t offset, float a,
                       float b) {
    TIMED(ctx, "rng_fill", rng_fill, out, dist, seed, offset, a, b);
}
static void p_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
                     const zoo_conv2d_geom *g) {
    char key[72];
    TIMED(ctx, conv_key(key, sizeof key, "conv2d", g), conv2d, x, w, bias, y, g);
}
static void p_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                                    zoo_tensor *dx, const zoo_conv2d_geom *g) {
    char key[72];
    TIMED(ctx, conv_key(key, sizeof key, "conv2d_backward_input", g), conv2d_backward_input, dy, w, bias, dx, g);
}
static void p_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                                     zoo_tensor *db, const zoo_conv2d_geom *g) {
    char key[72];
    TIMED(ctx, conv_key(key, sizeof key, "conv2d_backward_weight", g), conv2d_backward_weight, x, dy, dw, db, g);
}
static void p_pool2d(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
                     const zoo_conv2d_geom *g) {
    TIMED(ctx, op == ZOO_POOL_MAX ? "max_pool2d" : "avg_pool2d", pool2d, op, x, y, idx, g);
}
static void p_pool2d_backward(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx, zoo_tensor *dx,
                              const zoo_conv2d_geom *g) {
    TIMED(ctx, op == ZOO_POOL_MAX ? "max_pool2d_backward" : "avg_pool2d_backward", pool2d_backward, op, dy, idx, dx,
          g);
}
static void p_batchnorm(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                        zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                        zoo_tensor *save_invstd, const zoo_batchnorm_params *p) {
    TIMED(ctx, "batchnorm", batchnorm, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, p);
}
static void p_batchnorm_backward(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                                 const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                                 zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p) {
    TIMED(ctx, "batchnorm_backward", batchnorm_backward, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, p);
}
static void p_layernorm(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *gamma,
                        const zoo_tensor *beta, zoo_tensor *y, zoo_tensor *mean, zoo_tensor *rstd, float eps) {
    TIMED(ctx, groups ? "layernorm (group norm)" : "layernorm", layernorm, x, groups, gamma, beta, y, mean, rstd,
          eps);
}
static void p_layernorm_backward(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *dy,
                                 const zoo_tensor *gamma, const zoo_tensor *mean, const zoo_tensor *rstd,
                                 zoo_tensor *dx, zoo_tensor *dgamma, zoo_tensor *dbeta) {
    TIMED(ctx, groups ? "layernorm_backward (group norm)" : "layernorm_backward", layernorm_backward, x, groups, dy,
          gamma, mean, rstd, dx, dgamma, dbeta);
}
static void p_axpby(void *ctx, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    TIMED(ctx, "axpby", axpby, x, y, a, b);
}
static void p_sgd_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *buf,
                         const zoo_sgd_params *p) {
    TIMED(ctx, "sgd_update", sgd_update, param, grad, buf, p);
}
static void p_adam_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *m, zoo_tensor *v,
                          const zoo_adam_params *p) {
    TIMED(ctx, "adam_update", adam_update, param, grad, m, v, p);
}

/* ---------------------------------------------------------------- the backend */

zoo_backend *zoo_backend_profile_new(zoo_backend *inner) {
    zoo_backend *be = calloc(1, sizeof *be);
    prof_ctx *p = calloc(1, sizeof *p);
    if (!be || !p) {
        free(be);
        free(p);
        zoo_set_error("out of memory creating the profiler");
        return NULL;
    }
    p->inner = inner;
    be->ctx = p;
    be->exact = inner->exact;
    be->iface = (zoo_backend_iface){
        .name = p_name,
        .shutdown = p_shutdown,
        .set_threads = p_set_threads,
        .alloc = p_alloc,
        .free = p_free,
        .arena_alloc = p_arena_alloc,
        .arena_mark = p_arena_mark,
        .arena_reset = p_arena_reset,
        .peak_bytes = p_peak_bytes,
        .upload = p_upload,
        .download = p_download,
        .fill = p_fill,
        .flush = p_flush,
        .sync = p_sync,
        .counters = p_counters,
        .gemm = p_gemm,
        .unary = p_unary,
        .unary_backward = p_unary_backward,
        .binary = p_binary,
        .reduce = p_reduce,
        .softmax = p_softmax,
        .softmax_backward = p_softmax_backward,
        .attention = p_attention,
        .attention_backward = p_attention_backward,
        .nll = p_nll,
        .nll_backward = p_nll_backward,
        .cross_entropy_backward = p_cross_entropy_backward,
        .permute = p_permute,
        .copy_box = p_copy_box,
        .embedding = p_embedding,
        .embedding_backward = p_embedding_backward,
        .rng_fill = p_rng_fill,
        .conv2d = p_conv2d,
        .conv2d_backward_input = p_conv2d_backward_input,
        .conv2d_backward_weight = p_conv2d_backward_weight,
        .pool2d = p_pool2d,
        .pool2d_backward = p_pool2d_backward,
        .batchnorm = p_batchnorm,
        .batchnorm_backward = p_batchnorm_backward,
        .layernorm = p_layernorm,
        .layernorm_backward = p_layernorm_backward,
        .axpby = p_axpby,
        .sgd_update = p_sgd_update,
        .adam_update = p_adam_update,
    };
    return be;
}

int zoo_backend_profile_reset(zoo_backend *be) {
    if (!be || be->iface.name != p_name) return -1;
    ((prof_ctx *)be->ctx)->n = 0;
    return 0;
}

static int by_time(const void *a, const void *b) {
    double x = ((const prof_entry *)a)->seconds, y = ((const prof_entry *)b)->seconds;
    return (x < y) - (x > y);
}

int zoo_backend_profile_print(const zoo_backend *be, FILE *out, int64_t steps) {
    if (!be || be->iface.name != p_name) return -1;
    prof_ctx *p = be->ctx;
    prof_entry sorted[MAX_ENTRIES];
    memcpy(sorted, p->e, (size_t)p->n * sizeof sorted[0]);
    qsort(sorted, (size_t)p->n, sizeof sorted[0], by_time);
    double total = 0;
    for (int i = 0; i < p->n; i++) total += sorted[i].seconds;
    double per = steps > 0 ? (double)steps : 1.0;
    fprintf(out, "%-48s %10s %8s %7s\n", "kernel", steps > 0 ? "ms/step" : "ms", "calls", "share");
    for (int i = 0; i < p->n; i++)
        fprintf(out, "%-48s %10.3f %8.1f %6.1f%%\n", sorted[i].key, 1e3 * sorted[i].seconds / per,
                (double)sorted[i].calls / per, total > 0 ? 100.0 * sorted[i].seconds / total : 0.0);
    fprintf(out, "%-48s %10.3f\n", "all kernels", 1e3 * total / per);
    return 0;
}
