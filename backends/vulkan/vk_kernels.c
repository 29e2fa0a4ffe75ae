/* The Vulkan backend's vtable: every kernel of backends/backend.h as one or a few
 * recorded dispatches, with cpu.c's semantics (cpu.c is the reference; the shader
 * comments say where the arithmetic is the CPU's bit for bit). Nothing here waits for
 * the device except download and sync. */
#include "vk_internal.h"
#include "../canon.h"
#include "../kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(void *) == 8, "tensor handles hold 64-bit device addresses");

/* ---------------------------------------------------------------- helpers */

static size_t tensor_bytes(const zoo_tensor *t) { return (size_t)t->numel * 4; }

/* (the shaders index a tensor's elements with 32-bit uints) */
vk_arg vk_in(const zoo_tensor *t) {
    vk_u32(t->numel);
    return (vk_arg){vk_addr_of(t), tensor_bytes(t), false};
}

vk_arg vk_out(const zoo_tensor *t) {
    vk_u32(t->numel);
    return (vk_arg){vk_addr_of(t), tensor_bytes(t), true};
}

/* ---------------------------------------------------------------- lifecycle */

static const char *vk_name(void *ctx) {
    (void)ctx;
    return "vulkan";
}

static void vk_destroy(vk_ctx *c) {
    vk_exec_destroy(c);
    vk_pipelines_destroy(c);
    vk_memory_destroy(c);
    vk_device_destroy(c);
    free(c);
}

static void vk_shutdown(void *ctx) { vk_destroy(ctx); }

static void vk_set_threads(void *ctx, int n) {
    (void)ctx;
    (void)n; /* a CPU implementation picks its own (lavapipe: LP_NUM_THREADS) */
}

static void *to_ptr(vk_addr a) { return (void *)(uintptr_t)a; }

static void *vk_be_alloc(void *ctx, size_t bytes) { return to_ptr(vk_alloc(ctx, bytes)); }
static void vk_be_free(void *ctx, void *data) { vk_free(ctx, (vk_addr)(uintptr_t)data); }
static void *vk_be_arena_alloc(void *ctx, size_t bytes) { return to_ptr(vk_arena_alloc(ctx, bytes)); }
static size_t vk_be_arena_mark(void *ctx) { return vk_arena_mark(ctx); }
static void vk_be_arena_reset(void *ctx, size_t mark) { vk_arena_reset(ctx, mark); }
static size_t vk_peak_bytes(void *ctx) { return ((vk_ctx *)ctx)->peak; }

/* ---------------------------------------------------------------- transfers */

/* through staging in pieces the staging buffer holds; no wait unless it fills up */
static void vk_upload(void *ctx, zoo_tensor *dst, const void *src, size_t bytes, size_t offset) {
    vk_ctx *c = ctx;
    ZOO_ASSERT(offset + bytes <= tensor_bytes(dst));
    size_t cap = vk_staging_capacity(c);
    for (size_t done = 0; done < bytes;) {
        size_t piece = bytes - done < cap ? bytes - done : cap;
        vk_addr s = vk_staging_alloc(c, piece);
        memcpy(vk_staging_host(c, s), (const char *)src + done, piece);
        vk_copy(c, s, vk_addr_of(dst) + offset + done, piece, false);
        done += piece;
    }
}

/* one submit and wait per piece (usually one) */
static void vk_download(void *ctx, const zoo_tensor *src, void *dst, size_t bytes, size_t offset) {
    vk_ctx *c = ctx;
    ZOO_ASSERT(offset + bytes <= tensor_bytes(src));
    size_t cap = vk_staging_capacity(c);
    for (size_t done = 0; done < bytes;) {
        size_t piece = bytes - done < cap ? bytes - done : cap;
        vk_addr s = vk_staging_alloc(c, piece);
        vk_copy(c, vk_addr_of(src) + offset + done, s, piece, true);
        vk_wait(c);
        memcpy((char *)dst + done, vk_staging_host(c, s), piece);
        done += piece;
    }
}

static void vk_be_fill(void *ctx, zoo_tensor *t, float value) {
    uint32_t word;
    if (t->dtype == ZOO_I32) {
        int32_t v = (int32_t)value;
        memcpy(&word, &v, 4);
    } else {
        memcpy(&word, &value, 4);
    }
    vk_fill(ctx, vk_addr_of(t), tensor_bytes(t), word);
}

static void vk_be_flush(void *ctx) { vk_flush(ctx); }
static void vk_be_sync(void *ctx) { vk_wait(ctx); }

/* ---------------------------------------------------------------- gemm */

/* a gemm.comp invocation loops about this often per 16-wide step along K (measured
 * on lavapipe, whose loop budget it counts against) */
#define GEMM_LOOPS_PER_STEP 12

typedef struct gemm_push {
    uint32_t m, n, k, ta, tb, stride_a, stride_b, stride_c, off_a, off_b, off_c;
    float alpha, beta;
} gemm_push;

void vk_gemm_run(vk_ctx *c, const vk_gemm_args *g) {
    int64_t steps = (g->k + 15) / 16;
    vk_check_loops(c, (uint64_t)(steps * GEMM_LOOPS_PER_STEP), "a matrix product");
    const vk_pipeline *p = vk_pipeline_get(c, VK_SH_gemm);
    uint64_t tile_m = p->local[1] * p->tile[0], tile_n = p->local[0] * p->tile[1];
    uint64_t gx = ((uint64_t)g->n + tile_n - 1) / tile_n, gy = ((uint64_t)g->m + tile_m - 1) / tile_m;
    const uint32_t *max = c->props.limits.maxComputeWorkGroupCount;
    ZOO_ASSERT(gx <= max[0] && gy <= max[1]);
    vk_arg args[3] = {g->a, g->b, g->c};
    /* batches past the grid's z limit go in further dispatches */
    for (int64_t base = 0; base < g->batch; base += max[2]) {
        int64_t nz = g->batch - base < max[2] ? g->batch - base : max[2];
        gemm_push push = {vk_u32(g->m), vk_u32(g->n), vk_u32(g->k), g->ta, g->tb,
                          vk_u32(g->stride_a), vk_u32(g->stride_b), vk_u32(g->stride_c),
                          vk_u32(g->off_a + base * g->stride_a), vk_u32(g->off_b + base * g->stride_b),
                          vk_u32(g->off_c + base * g->stride_c), g->alpha, g->beta};
        vk_dispatch(c, VK_SH_gemm, args, 3, &push, sizeof push, (uint32_t)gx, (uint32_t)gy, (uint32_t)nz);
    }
}

static void vk_gemm(void *ctx, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *cm, bool ta, bool tb,
                    float alpha, float beta) {
    zoo_gemm_dims d = zoo_gemm_dims_of(a, b, cm, ta, tb);
    vk_gemm_args g = {
        .a = vk_in(a), .b = vk_in(b), .c = vk_out(cm),
        .m = d.m, .n = d.n, .k = d.k, .ta = ta, .tb = tb, .batch = d.batch,
        .stride_a = d.stride_a, .stride_b = d.stride_b, .stride_c = d.stride_c,
        .alpha = alpha, .beta = beta,
    };
    vk_gemm_run(ctx, &g);
}

/* ---------------------------------------------------------------- elementwise */

typedef struct unary_push {
    uint32_t n, op;
    float a, b;
} unary_push;

static void vk_unary(void *ctx, zoo_unary_op op, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    vk_ctx *c = ctx;
    if (op == ZOO_UNARY_COPY) {
        if (x->data != y->data) vk_copy(c, vk_addr_of(x), vk_addr_of(y), tensor_bytes(x), false);
        return;
    }
    unary_push push = {vk_u32(x->numel), op, a, b};
    vk_arg args[2] = {vk_in(x), vk_out(y)};
    vk_dispatch_threads(c, VK_SH_unary, args, 2, &push, sizeof push, x->numel);
}

static void vk_unary_backward(void *ctx, zoo_unary_op op, const zoo_tensor *x, const zoo_tensor *y,
                              const zoo_tensor *dy, zoo_tensor *dx, float a, float b) {
    unary_push push = {vk_u32(x->numel), op, a, b};
    /* no y: x stands in for the binding, which the ops that read y never lack */
    vk_arg args[4] = {vk_in(x), vk_in(y ? y : x), vk_in(dy), vk_out(dx)};
    vk_dispatch_threads(ctx, VK_SH_unary_backward, args, 4, &push, sizeof push, x->numel);
}

/* How binary.comp reads an operand t of out: 0 same layout, 1 a repeating trailing
 * block of len elements (t's leading dims 1, the rest out's), 2 by strides. */
static uint32_t operand_mode(const zoo_tensor *t, const int64_t od[4], int64_t n, uint32_t s[4]) {
    int64_t d[4];
    zoo_dims4(t, d);
    if (t->numel == n) return 0;
    int first = 0;
    while (first < 4 && d[first] == 1) first++;
    bool trailing = true;
    for (int i = first; i < 4; i++) trailing = trailing && d[i] == od[i];
    if (trailing) return 1;
    int64_t stride = 1;
    for (int i = 3; i >= 0; i--) {
        s[i] = d[i] == 1 && od[i] != 1 ? 0 : vk_u32(stride);
        stride *= d[i];
    }
    return 2;
}

void vk_binary(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *o) {
    int64_t od[4];
    zoo_dims4(o, od);
    uint32_t sa[4] = {0}, sb[4] = {0};
    uint32_t ma = operand_mode(a, od, o->numel, sa), mb = operand_mode(b, od, o->numel, sb);
    struct {
        uint32_t n, op, mode_a, mode_b, len_a, len_b, d1, d2, d3, sa[4], sb[4];
    } push = {vk_u32(o->numel), op, ma, mb, vk_u32(a->numel), vk_u32(b->numel), vk_u32(od[1]), vk_u32(od[2]), vk_u32(od[3]),
              {sa[0], sa[1], sa[2], sa[3]}, {sb[0], sb[1], sb[2], sb[3]}};
    vk_arg args[3] = {vk_in(a), vk_in(b), vk_out(o)};
    vk_dispatch_threads(ctx, VK_SH_binary, args, 3, &push, sizeof push, o->numel);
}

/* ---------------------------------------------------------------- reduce */

/* argmax.comp runs one invocation per output; over long lengths that leaves a GPU
 * idle (and runs into lavapipe's loop budget), so argmax_wg.comp gives each output a
 * workgroup instead */
#define REDUCE_WG_MIN_LEN 4096

static void argmax(vk_ctx *c, const zoo_tensor *x, zoo_tensor *o, const int64_t d[4], const int64_t od[4]) {
    int axis = -1;
    for (int i = 0; i < 4; i++)
        if (od[i] != d[i]) axis = i;
    if (axis < 0) { /* the reduced axis has size 1: every index is 0 */
        vk_fill(c, vk_addr_of(o), tensor_bytes(o), 0);
        return;
    }
    int64_t inner = 1;
    for (int i = axis + 1; i < 4; i++) inner *= d[i];
    struct {
        uint32_t n_out, len, inner;
    } push = {vk_u32(o->numel), vk_u32(d[axis]), vk_u32(inner)};
    vk_arg args[2] = {vk_in(x), vk_out(o)};
    if (d[axis] < REDUCE_WG_MIN_LEN) {
        vk_dispatch_threads(c, VK_SH_argmax, args, 2, &push, sizeof push, o->numel);
        return;
    }
    uint64_t local = vk_pipeline_get(c, VK_SH_argmax_wg)->local[0];
    vk_check_loops(c, (uint64_t)d[axis] / local + 16, "argmax");
    vk_dispatch_groups(c, VK_SH_argmax_wg, args, 2, &push, sizeof push, o->numel);
}

/* x's dims and o's, both padded to 4 on the left */
static void reduce_dims(const zoo_tensor *x, const zoo_tensor *o, int64_t d[4], int64_t od[4]) {
    zoo_dims4(x, d);
    int off = 4 - x->shape.ndim;
    for (int i = 0; i < 4; i++) od[i] = i < off ? 1 : o->shape.d[i - off];
}

typedef struct reduce_push {
    uint32_t d[4], od[4], n_out, op, len, groups, cont;
    float count;
} reduce_push;

/* One pass of reduce.comp: n_out outputs of len terms each -> their group sums in
 * dst ([n_out, groups], or the result when groups is 1) */
static void reduce_pass(vk_ctx *c, zoo_reduce_op op, vk_arg x, const int64_t d[4], const int64_t od[4],
                        int64_t n_out, int64_t len, vk_arg dst, bool cont, float count) {
    int64_t groups = (len + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
    reduce_push push = {{vk_u32(d[0]), vk_u32(d[1]), vk_u32(d[2]), vk_u32(d[3])},
                        {vk_u32(od[0]), vk_u32(od[1]), vk_u32(od[2]), vk_u32(od[3])},
                        vk_u32(n_out), op, vk_u32(len), vk_u32(groups), cont, groups == 1 ? count : 0.0f};
    vk_arg args[2] = {x, dst};
    vk_dispatch_threads(c, VK_SH_reduce, args, 2, &push, sizeof push, (uint64_t)(n_out * groups));
}

/* Fast mode, more than a group of terms per output: one workgroup per output, with
 * subgroup operations where the device has them (reduce_wg.glsl). */
static void reduce_workgroups(vk_ctx *c, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *o, const int64_t d[4],
                              const int64_t od[4], int64_t len, bool cont, float count) {
    vk_shader sh = c->subgroup_arithmetic ? VK_SH_reduce_wg_subgroup : VK_SH_reduce_wg;
    vk_check_loops(c, (uint64_t)len / vk_pipeline_get(c, sh)->local[0] + 8, "a reduction");
    reduce_push push = {{vk_u32(d[0]), vk_u32(d[1]), vk_u32(d[2]), vk_u32(d[3])},
                        {vk_u32(od[0]), vk_u32(od[1]), vk_u32(od[2]), vk_u32(od[3])},
                        vk_u32(o->numel), op, vk_u32(len), 1, cont, count};
    vk_arg args[2] = {vk_in(x), vk_out(o)};
    vk_dispatch_groups(c, sh, args, 2, &push, sizeof push, (uint64_t)o->numel);
}

/* Sums in canon.h's order: a pass turns each group of 256 terms into one term of the
 * next pass, so no invocation loops more than 256 times (lavapipe's loop budget) and
 * long reductions still spread over the device. */
static void reduce(vk_ctx *c, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *o, bool cont) {
    int64_t d[4], od[4];
    reduce_dims(x, o, d, od);
    int64_t n_out = o->numel, len = x->numel / n_out;
    float count = op == ZOO_REDUCE_MEAN ? (float)len : 0.0f;
    if (!c->exact && len > ZOO_SUM_GROUP) {
        ZOO_ASSERT(!cont || vk_addr_of(x) != vk_addr_of(o));
        reduce_workgroups(c, op, x, o, d, od, len, cont, count);
        return;
    }
    size_t mark = vk_arena_mark(c);
    vk_arg src = vk_in(x);
    while (len > ZOO_SUM_GROUP) {
        int64_t groups = (len + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
        vk_arg sums = {vk_arena_scratch(c, n_out * groups), (VkDeviceSize)(n_out * groups) * 4, true};
        reduce_pass(c, op, src, d, od, n_out, len, sums, false, count);
        /* the group sums are the next pass's terms: [n_out, groups], reducing the last dim */
        src = (vk_arg){sums.addr, sums.bytes, false};
        int64_t nd[4] = {1, 1, n_out, groups}, nod[4] = {1, 1, n_out, 1};
        memcpy(d, nd, sizeof d);
        memcpy(od, nod, sizeof od);
        len = groups;
    }
    ZOO_ASSERT(!cont || vk_addr_of(x) != vk_addr_of(o));
    reduce_pass(c, op, src, d, od, n_out, len, vk_out(o), cont, count);
    vk_arena_reset(c, mark);
}

void vk_reduce(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *o) {
    vk_ctx *c = ctx;
    if (op == ZOO_REDUCE_ARGMAX) {
        int64_t d[4], od[4];
        reduce_dims(x, o, d, od);
        argmax(c, x, o, d, od);
        return;
    }
    reduce(c, op, x, o, false);
}

void vk_sum_continue(vk_ctx *c, const zoo_tensor *x, zoo_tensor *o) {
    ZOO_ASSERT(x->numel / o->numel <= ZOO_SUM_GROUP);
    reduce(c, ZOO_REDUCE_SUM, x, o, true);
}

/* ---------------------------------------------------------------- softmax, losses */

static int64_t last_dim(const zoo_tensor *t) { return t->shape.d[t->shape.ndim - 1]; }

static void vk_softmax(void *ctx, const zoo_tensor *x, zoo_tensor *y, bool log) {
    int64_t cols = last_dim(x), rows = x->numel / cols;
    struct {
        uint32_t rows, cols, log;
    } push = {vk_u32(rows), vk_u32(cols), log};
    vk_arg args[2] = {vk_in(x), vk_out(y)};
    vk_check_loops(ctx, 3 * (uint64_t)cols, "softmax");
    vk_dispatch_threads(ctx, VK_SH_softmax, args, 2, &push, sizeof push, rows);
}

static void vk_softmax_backward(void *ctx, const zoo_tensor *y, const zoo_tensor *dy, zoo_tensor *dx, bool log) {
    int64_t cols = last_dim(y), rows = y->numel / cols;
    struct {
        uint32_t rows, cols, log;
    } push = {vk_u32(rows), vk_u32(cols), log};
    vk_arg args[3] = {vk_in(y), vk_in(dy), vk_out(dx)};
    vk_check_loops(ctx, 2 * (uint64_t)cols, "softmax backward");
    vk_dispatch_threads(ctx, VK_SH_softmax_backward, args, 3, &push, sizeof push, rows);
}

/* ---------------------------------------------------------------- attention */

typedef struct attention_push {
    uint32_t rows, t, c, heads, dh;
    float scale;
    uint32_t causal;
} attention_push;

/* one invocation per (sample, head, position); each loops over all T positions a few
 * times, D values each */
static attention_push attention_push_of(const vk_ctx *c, const zoo_tensor *qkv, int64_t heads, float scale,
                                        bool causal, const char *what) {
    int64_t b = qkv->shape.d[0], t = qkv->shape.d[1], ch = qkv->shape.d[2] / 3;
    vk_check_loops(c, 4 * (uint64_t)t * (uint64_t)(ch / heads + 1), what);
    return (attention_push){vk_u32(b * heads * t), vk_u32(t), vk_u32(ch), vk_u32(heads), vk_u32(ch / heads), scale,
                            causal};
}

static void vk_attention(void *ctx, const zoo_tensor *qkv, zoo_tensor *y, zoo_tensor *stats, int64_t heads,
                         float scale, bool causal) {
    attention_push push = attention_push_of(ctx, qkv, heads, scale, causal, "attention");
    vk_arg args[3] = {vk_in(qkv), vk_out(y), vk_out(stats)};
    vk_dispatch_threads(ctx, VK_SH_attention, args, 3, &push, sizeof push, push.rows);
}

/* dq and each query's c_i first (kept in scratch), then dk and dv per key */
static void vk_attention_backward(void *ctx, const zoo_tensor *qkv, const zoo_tensor *stats, const zoo_tensor *dy,
                                  zoo_tensor *dqkv, int64_t heads, float scale, bool causal) {
    vk_ctx *c = ctx;
    attention_push push = attention_push_of(c, qkv, heads, scale, causal, "attention backward");
    size_t mark = vk_arena_mark(c);
    vk_arg csum = {vk_arena_scratch(c, push.rows), (VkDeviceSize)push.rows * 4, true};
    vk_arg args[5] = {vk_in(qkv), vk_in(stats), vk_in(dy), vk_out(dqkv), csum};
    vk_dispatch_threads(c, VK_SH_attention_backward_dq, args, 5, &push, sizeof push, push.rows);
    args[4].write = false;
    vk_dispatch_threads(c, VK_SH_attention_backward_dkv, args, 5, &push, sizeof push, push.rows);
    vk_arena_reset(c, mark);
}

typedef struct rows_push {
    uint32_t rows, cols;
} rows_push;

static void vk_nll(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels, zoo_tensor *losses) {
    rows_push push = {vk_u32(logp->shape.d[0]), vk_u32(logp->shape.d[1])};
    vk_arg args[3] = {vk_in(logp), vk_in(labels), vk_out(losses)};
    vk_dispatch_threads(ctx, VK_SH_nll, args, 3, &push, sizeof push, push.rows);
}

static void vk_nll_backward(void *ctx, const zoo_tensor *labels, const zoo_tensor *dlosses, zoo_tensor *dlogp) {
    rows_push push = {vk_u32(dlogp->shape.d[0]), vk_u32(dlogp->shape.d[1])};
    vk_arg args[3] = {vk_in(labels), vk_in(dlosses), vk_out(dlogp)};
    vk_dispatch_threads(ctx, VK_SH_nll_backward, args, 3, &push, sizeof push, dlogp->numel);
}

static void vk_cross_entropy_backward(void *ctx, const zoo_tensor *logp, const zoo_tensor *labels,
                                      const zoo_tensor *dlosses, zoo_tensor *dx) {
    rows_push push = {vk_u32(logp->shape.d[0]), vk_u32(logp->shape.d[1])};
    vk_arg args[4] = {vk_in(logp), vk_in(labels), vk_in(dlosses), vk_out(dx)};
    vk_dispatch_threads(ctx, VK_SH_cross_entropy_backward, args, 4, &push, sizeof push, dx->numel);
}

/* ---------------------------------------------------------------- permute */

static void vk_permute(void *ctx, const zoo_tensor *x, zoo_tensor *o, const int *perm) {
    int64_t d[4], st[4];
    zoo_permute_plan(x, o, perm, d, st);
    struct {
        uint32_t n, d1, d2, d3, s[4];
    } push = {vk_u32(o->numel), vk_u32(d[1]), vk_u32(d[2]), vk_u32(d[3]), {vk_u32(st[0]), vk_u32(st[1]), vk_u32(st[2]), vk_u32(st[3])}};
    vk_arg args[2] = {vk_in(x), vk_out(o)};
    vk_dispatch_threads(ctx, VK_SH_permute, args, 2, &push, sizeof push, o->numel);
}

/* ---------------------------------------------------------------- copy_box, embedding */

static void vk_copy_box(void *ctx, const zoo_tensor *src, zoo_tensor *dst, const zoo_box *b) {
    int64_t n = (int64_t)b->size[0] * b->size[1] * b->size[2] * b->size[3];
    if (n == 0) return;
    vk_arg args[2] = {vk_in(src), vk_out(dst)};
    vk_dispatch_threads(ctx, VK_SH_copy_box, args, 2, b, sizeof *b, n);
}

static void vk_embedding(void *ctx, const zoo_tensor *weight, const zoo_tensor *ids, zoo_tensor *out) {
    struct {
        uint32_t n, d;
    } push = {vk_u32(ids->numel), vk_u32(weight->shape.d[1])};
    vk_arg args[3] = {vk_in(weight), vk_in(ids), vk_out(out)};
    vk_dispatch_threads(ctx, VK_SH_embedding, args, 3, &push, sizeof push, out->numel);
}

static void vk_embedding_backward(void *ctx, const zoo_tensor *ids, const zoo_tensor *dy, zoo_tensor *dw) {
    struct {
        uint32_t n, d, v;
    } push = {vk_u32(ids->numel), vk_u32(dw->shape.d[1]), vk_u32(dw->shape.d[0])};
    vk_arg args[3] = {vk_in(ids), vk_in(dy), vk_out(dw)};
    vk_dispatch_threads(ctx, VK_SH_embedding_backward, args, 3, &push, sizeof push, dw->numel);
}

/* ---------------------------------------------------------------- random */

static void vk_rng_fill(void *ctx, zoo_tensor *o, zoo_rng_dist dist, uint64_t seed, uint64_t offset, float a,
                        float b) {
    struct {
        uint32_t n, dist, seed_lo, seed_hi, offset_lo, offset_hi;
        float a, b;
    } push = {vk_u32(o->numel), dist, (uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)offset, (uint32_t)(offset >> 32),
              a, b};
    vk_arg args[1] = {vk_out(o)};
    vk_dispatch_threads(ctx, VK_SH_rng, args, 1, &push, sizeof push, o->numel);
}

/* ---------------------------------------------------------------- layer norm and group norm */

/* how often one invocation of layernorm.comp or layernorm_backward_dx.comp loops over a
 * row of d (layernorm.glsl: two sums, then the elementwise pass), for lavapipe's budget */
static uint64_t layernorm_loops(vk_ctx *c, vk_shader sh, int64_t d) {
    uint64_t local = vk_pipeline_get(c, sh)->local[0], groups = (uint64_t)(d + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
    uint64_t per_sum = c->exact ? (groups + local - 1) / local * ZOO_SUM_GROUP + groups : (uint64_t)d / local + 16;
    return 2 * per_sum + (uint64_t)d / local + 16;
}

/* one workgroup per row: both sums and y in one dispatch */
static void vk_layernorm(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *gamma,
                         const zoo_tensor *beta, zoo_tensor *y, zoo_tensor *mean, zoo_tensor *rstd, float eps) {
    vk_ctx *c = ctx;
    zoo_norm_dims nd = zoo_norm_dims_of(x, groups);
    struct {
        uint32_t rows, d, has_gamma, has_beta;
        float eps;
        uint32_t groups, inner;
    } push = {vk_u32(nd.rows), vk_u32(nd.d), gamma != NULL, beta != NULL, eps, vk_u32(nd.groups), vk_u32(nd.inner)};
    /* without gamma or beta, x stands in for the binding */
    vk_arg args[6] = {vk_in(x), vk_in(gamma ? gamma : x), vk_in(beta ? beta : x), vk_out(y), vk_out(mean),
                      vk_out(rstd)};
    vk_check_loops(c, layernorm_loops(c, VK_SH_layernorm, nd.d), groups ? "group norm" : "layer norm");
    vk_dispatch_groups(c, VK_SH_layernorm, args, 6, &push, sizeof push, (uint64_t)nd.rows);
}

/* layer norm's dgamma, dbeta: the sums of each group of 256 rows
 * (layernorm_backward_params.comp), then, with more than one group, those group sums
 * added up by reduce in canon.h's order */
static void layernorm_param_grads(vk_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *mean,
                                  const zoo_tensor *rstd, zoo_tensor *dgamma, zoo_tensor *dbeta, int64_t rows,
                                  int64_t d) {
    int64_t groups = (rows + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
    size_t mark = vk_arena_mark(c);
    vk_arg sums[2] = {{0}, {0}};
    zoo_tensor *outs[2] = {dgamma, dbeta};
    for (int i = 0; i < 2; i++) {
        if (!outs[i]) continue;
        vk_addr a = groups == 1 ? vk_addr_of(outs[i]) : vk_arena_scratch(c, groups * d);
        sums[i] = (vk_arg){a, (VkDeviceSize)(groups * d) * 4, true};
    }
    struct {
        uint32_t rows, d, groups, want_dgamma, want_dbeta;
    } push = {vk_u32(rows), vk_u32(d), vk_u32(groups), dgamma != NULL, dbeta != NULL};
    /* an output not wanted binds the other one, which the shader then does not write */
    vk_arg args[6] = {vk_in(x), vk_in(dy), vk_in(mean), vk_in(rstd), dgamma ? sums[0] : sums[1],
                      dbeta ? sums[1] : sums[0]};
    vk_dispatch_threads(c, VK_SH_layernorm_backward_params, args, 6, &push, sizeof push, (uint64_t)(groups * d));
    for (int i = 0; i < 2 && groups > 1; i++) {
        if (!outs[i]) continue;
        zoo_tensor part = vk_view(sums[i].addr, 2, groups, d, 1), out = vk_view(vk_addr_of(outs[i]), 2, 1, d, 1);
        vk_reduce(c, ZOO_REDUCE_SUM, &part, &out);
    }
    vk_arena_reset(c, mark);
}

/* group norm's dgamma, dbeta: the terms dy * xhat (groupnorm_terms.comp), then the
 * channel sums of those and of dy over (sample, position), as batch norm's */
static void groupnorm_param_grads(vk_ctx *c, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *mean,
                                  const zoo_tensor *rstd, zoo_tensor *dgamma, zoo_tensor *dbeta,
                                  const zoo_norm_dims *nd) {
    int64_t n = nd->samples, ch = nd->params, inner = nd->inner;
    if (dbeta) vk_channel_sums(c, vk_addr_of(dy), n, ch, inner, vk_addr_of(dbeta));
    if (!dgamma) return;
    size_t mark = vk_arena_mark(c);
    vk_addr t = vk_arena_scratch(c, x->numel);
    struct {
        uint32_t count, d;
    } push = {vk_u32(x->numel), vk_u32(nd->d)};
    vk_arg args[5] = {vk_in(x), vk_in(dy), vk_in(mean), vk_in(rstd), {t, (VkDeviceSize)x->numel * 4, true}};
    vk_dispatch_threads(c, VK_SH_groupnorm_terms, args, 5, &push, sizeof push, (uint64_t)x->numel);
    vk_channel_sums(c, t, n, ch, inner, vk_addr_of(dgamma));
    vk_arena_reset(c, mark);
}

/* dx: one workgroup per row (layernorm_backward_dx.comp); dgamma, dbeta above */
static void vk_layernorm_backward(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *dy,
                                  const zoo_tensor *gamma, const zoo_tensor *mean, const zoo_tensor *rstd,
                                  zoo_tensor *dx, zoo_tensor *dgamma, zoo_tensor *dbeta) {
    vk_ctx *c = ctx;
    zoo_norm_dims nd = zoo_norm_dims_of(x, groups);
    if (dx) {
        struct {
            uint32_t rows, d, has_gamma, groups, inner;
        } push = {vk_u32(nd.rows), vk_u32(nd.d), gamma != NULL, vk_u32(nd.groups), vk_u32(nd.inner)};
        vk_arg args[6] = {vk_in(x), vk_in(dy), vk_in(gamma ? gamma : x), vk_in(mean), vk_in(rstd), vk_out(dx)};
        vk_check_loops(c, layernorm_loops(c, VK_SH_layernorm_backward_dx, nd.d),
                       groups ? "group norm backward" : "layer norm backward");
        vk_dispatch_groups(c, VK_SH_layernorm_backward_dx, args, 6, &push, sizeof push, (uint64_t)nd.rows);
    }
    if (!dgamma && !dbeta) return;
    if (groups == 0) layernorm_param_grads(c, x, dy, mean, rstd, dgamma, dbeta, nd.rows, nd.d);
    else groupnorm_param_grads(c, x, dy, mean, rstd, dgamma, dbeta, &nd);
}

/* ---------------------------------------------------------------- optimizers */

static void vk_sgd_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *mbuf,
                          const zoo_sgd_params *p) {
    struct {
        uint32_t n, has_buf, first, nesterov;
        float lr, momentum, dampening, wd;
    } push = {vk_u32(param->numel), mbuf != NULL, p->first, p->nesterov, p->lr, p->momentum, p->dampening,
              p->weight_decay};
    /* without momentum the buffer binding is unused; param stands in */
    vk_arg args[3] = {vk_out(param), vk_in(grad), vk_out(mbuf ? mbuf : param)};
    vk_dispatch_threads(ctx, VK_SH_sgd, args, 3, &push, sizeof push, param->numel);
}

static void vk_adam_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *m, zoo_tensor *v,
                           const zoo_adam_params *p) {
    struct {
        uint32_t n;
        zoo_adam_scalars s;
    } push = {vk_u32(param->numel), zoo_adam_scalars_of(p)};
    vk_arg args[4] = {vk_out(param), vk_in(grad), vk_out(m), vk_out(v)};
    vk_dispatch_threads(ctx, VK_SH_adam, args, 4, &push, sizeof push, param->numel);
}

static void vk_axpby(void *ctx, const zoo_tensor *x, zoo_tensor *y, float a, float b) {
    struct {
        uint32_t n;
        float a, b;
    } push = {vk_u32(y->numel), a, b};
    vk_arg args[2] = {vk_in(x), vk_out(y)};
    vk_dispatch_threads(ctx, VK_SH_axpby, args, 2, &push, sizeof push, y->numel);
}

static void vk_counters(void *ctx, zoo_counters *out) {
    *out = ((const vk_ctx *)ctx)->stats;
    out->validation_messages = vk_validation_messages();
}

/* ---------------------------------------------------------------- the vtable */


zoo_backend *zoo_backend_vulkan_new(const zoo_backend_config *cfg) {
    zoo_backend *be = calloc(1, sizeof *be);
    vk_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        zoo_set_error("out of host memory creating the Vulkan backend");
        return NULL;
    }
    c->exact = cfg->exact;
    c->local_rank = cfg->local_rank;
    if (!vk_device_init(c) || !vk_memory_init(c) || !vk_exec_init(c) || !vk_pipelines_init(c)) {
        vk_destroy(c);
        free(be);
        return NULL;
    }
    be->ctx = c;
    be->exact = cfg->exact;
    be->flushes_subnormals = vk_flushes_subnormals(c);
    be->iface = (zoo_backend_iface){
        .name = vk_name,
        .shutdown = vk_shutdown,
        .set_threads = vk_set_threads,
        .alloc = vk_be_alloc,
        .free = vk_be_free,
        .arena_alloc = vk_be_arena_alloc,
        .arena_mark = vk_be_arena_mark,
        .arena_reset = vk_be_arena_reset,
        .peak_bytes = vk_peak_bytes,
        .upload = vk_upload,
        .download = vk_download,
        .fill = vk_be_fill,
        .flush = vk_be_flush,
        .sync = vk_be_sync,
        .counters = vk_counters,
        .gemm = vk_gemm,
        .unary = vk_unary,
        .unary_backward = vk_unary_backward,
        .binary = vk_binary,
        .reduce = vk_reduce,
        .softmax = vk_softmax,
        .softmax_backward = vk_softmax_backward,
        .attention = vk_attention,
        .attention_backward = vk_attention_backward,
        .nll = vk_nll,
        .nll_backward = vk_nll_backward,
        .cross_entropy_backward = vk_cross_entropy_backward,
        .permute = vk_permute,
        .copy_box = vk_copy_box,
        .embedding = vk_embedding,
        .embedding_backward = vk_embedding_backward,
        .rng_fill = vk_rng_fill,
        .conv2d = vk_conv2d,
        .conv2d_backward_input = vk_conv2d_backward_input,
        .conv2d_backward_weight = vk_conv2d_backward_weight,
        .pool2d = vk_pool2d,
        .pool2d_backward = vk_pool2d_backward,
        .batchnorm = vk_batchnorm,
        .batchnorm_backward = vk_batchnorm_backward,
        .layernorm = vk_layernorm,
        .layernorm_backward = vk_layernorm_backward,
        .axpby = vk_axpby,
        .sgd_update = vk_sgd_update,
        .adam_update = vk_adam_update,
    };
    return be;
}
