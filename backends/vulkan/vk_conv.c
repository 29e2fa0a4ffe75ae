/* The convolution family on Vulkan, with cpu.c's semantics: conv2d and its two
 * gradients as im2col (or col2im) plus the tiled gemm, pooling and batch norm as
 * their own shaders. Scratch (column matrices, per-channel sums) comes from the arena
 * and is released before the call returns; the barrier tracking in vk_exec.c keeps
 * later users of those bytes behind the dispatches recorded here. */
#include "vk_internal.h"
#include "../canon.h"
#include "../kernels.h"

#include <stdint.h>

/* column matrices of at most this many bytes: a batch of images goes through
 * im2col and gemm in chunks of images that fit */
#define COLS_MAX_BYTES ((int64_t)32 << 20)

static vk_arg arg(vk_addr a, int64_t floats, bool write) { return (vk_arg){a, (VkDeviceSize)floats * 4, write}; }


/* y [n, ch, plane] += bias [ch] */
static void add_channel_bias(vk_ctx *c, const zoo_tensor *y, const zoo_tensor *bias, int64_t n, int64_t ch,
                             int64_t plane) {
    zoo_tensor yv = vk_view(vk_addr_of(y), 3, n, ch, plane), bv = vk_view(vk_addr_of(bias), 2, ch, 1, 1);
    vk_binary(c, ZOO_BINARY_ADD, &yv, &bv, &yv);
}

/* images per chunk so that one chunk's columns [images, K, P] fit COLS_MAX_BYTES */
static int64_t chunk_images(const zoo_conv2d_geom *g) {
    int64_t per_image = (int64_t)g->cin * g->kh * g->kw * g->oh * g->ow * 4;
    int64_t k = COLS_MAX_BYTES / per_image;
    if (k < 1) k = 1;
    return k < g->n ? k : g->n;
}

/* cols [nb, K, P] = the column matrices of images b0 .. b0 + nb - 1 of x */
static void im2col(vk_ctx *c, const zoo_tensor *x, vk_addr cols, int64_t b0, int64_t nb, const zoo_conv2d_geom *g) {
    int64_t count = nb * g->cin * g->kh * g->kw * g->oh * g->ow;
    struct {
        zoo_conv2d_geom g;
        uint32_t b0, count;
    } push = {*g, vk_u32(b0), vk_u32(count)};
    vk_arg args[2] = {vk_in(x), arg(cols, count, true)};
    vk_dispatch_threads(c, VK_SH_im2col, args, 2, &push, sizeof push, (uint64_t)count);
}

/* ---------------------------------------------------------------- conv2d */

void vk_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
               const zoo_conv2d_geom *g) {
    vk_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow, per = chunk_images(g);
    bool pointwise = zoo_conv_is_pointwise(g);
    size_t mark = vk_arena_mark(c);
    vk_addr cols = pointwise ? 0 : vk_arena_scratch(c, per * K * P);
    for (int64_t b0 = 0; b0 < g->n; b0 += per) {
        int64_t nb = g->n - b0 < per ? g->n - b0 : per;
        if (!pointwise) im2col(c, x, cols, b0, nb, g);
        /* y_b [cout, P] = w [cout, K] cols_b [K, P]; a 1x1 image is its own columns */
        vk_gemm_args a = {
            .a = vk_in(w), .b = pointwise ? vk_in(x) : arg(cols, nb * K * P, false), .c = vk_out(y),
            .m = g->cout, .n = P, .k = K, .batch = nb,
            .off_b = pointwise ? b0 * K * P : 0, .off_c = b0 * g->cout * P,
            .stride_a = 0, .stride_b = K * P, .stride_c = g->cout * P,
            .alpha = 1.0f, .beta = 0.0f,
        };
        vk_gemm_run(c, &a);
    }
    if (bias) add_channel_bias(c, y, bias, g->n, g->cout, P);
    vk_arena_reset(c, mark);
}

/* ---------------------------------------------------------------- its gradients */

void vk_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                              zoo_tensor *dx, const zoo_conv2d_geom *g) {
    vk_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow, per = chunk_images(g);
    int64_t HW = (int64_t)g->h * g->w;
    /* cols_b [K, P] = w^T [K, cout] dy_b [cout, P] */
    vk_gemm_args a = {
        .a = vk_in(w), .b = vk_in(dy), .m = K, .n = P, .k = g->cout, .ta = true,
        .stride_a = 0, .stride_b = g->cout * P, .stride_c = K * P, .alpha = 1.0f, .beta = 0.0f,
    };
    if (zoo_conv_is_pointwise(g)) { /* the columns are dx itself */
        a.c = vk_out(dx);
        a.batch = g->n;
        vk_gemm_run(c, &a);
        if (bias) add_channel_bias(c, dx, bias, g->n, g->cin, HW);
        return;
    }
    size_t mark = vk_arena_mark(c);
    vk_addr cols = vk_arena_scratch(c, per * K * P);
    for (int64_t b0 = 0; b0 < g->n; b0 += per) {
        int64_t nb = g->n - b0 < per ? g->n - b0 : per;
        a.c = arg(cols, nb * K * P, true);
        a.batch = nb;
        a.off_b = b0 * g->cout * P;
        vk_gemm_run(c, &a);
        struct {
            zoo_conv2d_geom g;
            uint32_t b0, count, has_bias;
        } push = {*g, vk_u32(b0), vk_u32(nb * g->cin * HW), bias != NULL};
        vk_arg args[3] = {arg(cols, nb * K * P, false), bias ? vk_in(bias) : vk_in(dx), vk_out(dx)};
        vk_dispatch_threads(c, VK_SH_col2im, args, 3, &push, sizeof push, (uint64_t)push.count);
    }
    vk_arena_reset(c, mark);
}

/* at most this many floats of per-image weight gradients wait to be summed */
#define WGRAD_MAX_PARTIAL_FLOATS ((int64_t)1 << 23)

/* x, dy -> dw, db (backend.h): each image's gradient is a product dy_b cols_b^T
 * (and dy_b's row sums), and the images' gradients are added in canon.h's order,
 * an image a term. Slices of images go through im2col and one batched product into
 * per-image partials, which are added to their group's sum (continuing it), groups
 * of 256 images at a time; with more than one group, the group sums are added last. */
void vk_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                               zoo_tensor *db, const zoo_conv2d_geom *g) {
    vk_ctx *c = ctx;
    int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow, WS = g->cout * K;
    size_t mark = vk_arena_mark(c);
    if (db) {
        vk_addr rows = vk_arena_scratch(c, g->n * g->cout);
        zoo_tensor dyv = vk_view(vk_addr_of(dy), 3, g->n, g->cout, P), rv = vk_view(rows, 3, g->n, g->cout, 1);
        vk_reduce(c, ZOO_REDUCE_SUM, &dyv, &rv);
        zoo_tensor imgs = vk_view(rows, 2, g->n, g->cout, 1), dbv = vk_view(vk_addr_of(db), 2, 1, g->cout, 1);
        vk_reduce(c, ZOO_REDUCE_SUM, &imgs, &dbv);
    }
    if (!dw) {
        vk_arena_reset(c, mark);
        return;
    }
    bool pointwise = zoo_conv_is_pointwise(g);
    int64_t slice = chunk_images(g), most = WGRAD_MAX_PARTIAL_FLOATS / WS;
    if (slice > most) slice = most > 0 ? most : 1;
    if (slice > ZOO_SUM_GROUP) slice = ZOO_SUM_GROUP;
    int64_t ngroups = (g->n + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
    vk_addr cols = pointwise ? 0 : vk_arena_scratch(c, slice * K * P), parts = vk_arena_scratch(c, slice * WS);
    /* each group's sum in its own allocation (descriptor offsets must be aligned), then
     * side by side for the sum over groups */
    vk_addr group_sum = ngroups == 1 ? vk_addr_of(dw) : vk_arena_scratch(c, WS);
    vk_addr sums = ngroups == 1 ? 0 : vk_arena_scratch(c, ngroups * WS);
    for (int64_t b0 = 0; b0 < g->n;) {
        int64_t in_group = ZOO_SUM_GROUP - b0 % ZOO_SUM_GROUP;
        int64_t nb = g->n - b0 < slice ? g->n - b0 : slice;
        if (nb > in_group) nb = in_group;
        if (!pointwise) im2col(c, x, cols, b0, nb, g);
        /* parts_b [cout, K] = dy_b [cout, P] cols_b^T [P, K] */
        vk_gemm_args a = {
            .a = vk_in(dy), .b = pointwise ? vk_in(x) : arg(cols, nb * K * P, false), .c = arg(parts, nb * WS, true),
            .m = g->cout, .n = K, .k = P, .tb = true, .batch = nb,
            .off_a = b0 * g->cout * P, .off_b = pointwise ? b0 * K * P : 0,
            .stride_a = g->cout * P, .stride_b = K * P, .stride_c = WS,
            .alpha = 1.0f, .beta = 0.0f,
        };
        vk_gemm_run(c, &a);
        zoo_tensor pv = vk_view(parts, 2, nb, WS, 1), sv = vk_view(group_sum, 2, 1, WS, 1);
        if (b0 % ZOO_SUM_GROUP == 0)
            vk_reduce(c, ZOO_REDUCE_SUM, &pv, &sv);
        else
            vk_sum_continue(c, &pv, &sv);
        b0 += nb;
        if (ngroups > 1 && (b0 % ZOO_SUM_GROUP == 0 || b0 == g->n)) /* the group is complete */
            vk_copy(c, group_sum, sums + (VkDeviceSize)((b0 - 1) / ZOO_SUM_GROUP * WS) * 4, (VkDeviceSize)WS * 4,
                    false);
    }
    if (ngroups > 1) {
        zoo_tensor gv = vk_view(sums, 2, ngroups, WS, 1), dwv = vk_view(vk_addr_of(dw), 2, 1, WS, 1);
        vk_reduce(c, ZOO_REDUCE_SUM, &gv, &dwv);
    }
    vk_arena_reset(c, mark);
}

/* ---------------------------------------------------------------- pooling */

typedef struct pool_push {
    zoo_conv2d_geom g;
    uint32_t count, is_max;
} pool_push;

void vk_pool2d(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
               const zoo_conv2d_geom *g) {
    bool is_max = op == ZOO_POOL_MAX;
    pool_push push = {*g, vk_u32(y->numel), is_max};
    /* AVG has no idx: y stands in for the unused binding */
    vk_arg args[3] = {vk_in(x), vk_out(y), is_max ? vk_out(idx) : vk_out(y)};
    vk_dispatch_threads(ctx, VK_SH_pool2d, args, 3, &push, sizeof push, (uint64_t)y->numel);
}

void vk_pool2d_backward(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx, zoo_tensor *dx,
                        const zoo_conv2d_geom *g) {
    bool is_max = op == ZOO_POOL_MAX;
    pool_push push = {*g, vk_u32(dx->numel), is_max};
    vk_arg args[3] = {vk_in(dy), is_max ? vk_in(idx) : vk_in(dy), vk_out(dx)};
    vk_dispatch_threads(ctx, VK_SH_pool2d_backward, args, 3, &push, sizeof push, (uint64_t)dx->numel);
}

/* ---------------------------------------------------------------- batch norm */

/* vk_internal.h: the channel sums, reduce.comp over [n, ch, inner] -> [1, ch, 1] */
void vk_channel_sums(vk_ctx *c, vk_addr t, int64_t n, int64_t ch, int64_t inner, vk_addr dst) {
    zoo_tensor tv = vk_view(t, 3, n, ch, inner), dv = vk_view(dst, 3, 1, ch, 1);
    vk_reduce(c, ZOO_REDUCE_SUM, &tv, &dv);
}

/* dst [n, c, inner] = x - mean (mean [c]), then times `by` when given (else itself) */
static void deviations(vk_ctx *c, const zoo_tensor *x, vk_addr mean, const zoo_tensor *by, vk_addr dst, int64_t n,
                       int64_t ch, int64_t inner) {
    zoo_tensor xv = vk_view(vk_addr_of(x), 3, n, ch, inner), mv = vk_view(mean, 3, 1, ch, 1);
    zoo_tensor dv = vk_view(dst, 3, n, ch, inner);
    vk_binary(c, ZOO_BINARY_SUB, &xv, &mv, &dv);
    zoo_tensor bv = by ? vk_view(vk_addr_of(by), 3, n, ch, inner) : dv;
    vk_binary(c, ZOO_BINARY_MUL, &bv, &dv, &dv);
}

typedef struct bn_stats_push {
    uint32_t c, m, training, stage, has_running;
    float momentum, eps;
} bn_stats_push;

/* Training: the channel sums of x give the mean, those of (x - mean)^2 the variance
 * (two passes, as cpu.c: no cancellation), each sum taken by reduce.comp. */
void vk_batchnorm(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                  zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                  zoo_tensor *save_invstd, const zoo_batchnorm_params *p) {
    vk_ctx *c = ctx;
    int64_t n, ch, inner;
    zoo_bn_dims(x, &n, &ch, &inner);
    bool running = running_mean != NULL;
    ZOO_ASSERT(p->training || running); /* eval normalizes with the running statistics */
    size_t mark = vk_arena_mark(c);
    vk_addr sums = vk_arena_scratch(c, ch);
    bn_stats_push push = {vk_u32(ch), vk_u32(n * inner), p->training != 0, 0, running, p->momentum, p->eps};
    /* without running statistics save_mean and save_invstd stand in for their bindings */
    vk_arg sargs[5] = {arg(sums, ch, false), vk_out(running ? running_mean : save_mean),
                       vk_out(running ? running_var : save_invstd), vk_out(save_mean), vk_out(save_invstd)};
    if (p->training) {
        vk_channel_sums(c, vk_addr_of(x), n, ch, inner, sums);
        vk_dispatch_threads(c, VK_SH_batchnorm_stats, sargs, 5, &push, sizeof push, (uint64_t)ch);
        vk_addr dev = vk_arena_scratch(c, x->numel);
        deviations(c, x, vk_addr_of(save_mean), NULL, dev, n, ch, inner);
        vk_channel_sums(c, dev, n, ch, inner, sums);
        push.stage = 1;
    }
    vk_dispatch_threads(c, VK_SH_batchnorm_stats, sargs, 5, &push, sizeof push, (uint64_t)ch);

    struct {
        uint32_t count, c, inner, has_gamma, has_beta;
    } apply = {vk_u32(x->numel), vk_u32(ch), vk_u32(inner), gamma != NULL, beta != NULL};
    vk_arg aargs[6] = {vk_in(x), vk_in(gamma ? gamma : x), vk_in(beta ? beta : x), vk_in(save_mean),
                       vk_in(save_invstd), vk_out(y)};
    vk_dispatch_threads(c, VK_SH_batchnorm_apply, aargs, 6, &apply, sizeof apply, (uint64_t)x->numel);
    vk_arena_reset(c, mark);
}

/* the channel sums of dy and of dy (x - mean) (reduce.comp), then dgamma, dbeta and
 * dx from them */
void vk_batchnorm_backward(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                           const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                           zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p) {
    vk_ctx *c = ctx;
    int64_t n, ch, inner;
    zoo_bn_dims(x, &n, &ch, &inner);
    size_t mark = vk_arena_mark(c);
    /* per channel: sum dy, and sum dy (x - mean) */
    vk_addr sum_dy = vk_arena_scratch(c, ch), sum_dot = vk_arena_scratch(c, ch);
    if (dgamma || dbeta || (dx && p->training)) {
        vk_channel_sums(c, vk_addr_of(dy), n, ch, inner, sum_dy);
        vk_addr dev = vk_arena_scratch(c, x->numel);
        deviations(c, x, vk_addr_of(save_mean), dy, dev, n, ch, inner);
        vk_channel_sums(c, dev, n, ch, inner, sum_dot);
    }
    if (dgamma) { /* sum dy (x - mean) * invstd */
        zoo_tensor dot = vk_view(sum_dot, 1, ch, 1, 1);
        vk_binary(c, ZOO_BINARY_MUL, &dot, save_invstd, dgamma);
    }
    if (dbeta) vk_copy(c, sum_dy, vk_addr_of(dbeta), (VkDeviceSize)ch * 4, false);
    if (dx) {
        struct {
            uint32_t count, c, inner, m, training, has_gamma;
        } push = {vk_u32(x->numel), vk_u32(ch), vk_u32(inner), vk_u32(n * inner), p->training != 0, gamma != NULL};
        vk_arg args[8] = {vk_in(x),           vk_in(dy),          vk_in(gamma ? gamma : x), vk_in(save_mean),
                          vk_in(save_invstd), arg(sum_dy, ch, false), arg(sum_dot, ch, false), vk_out(dx)};
        vk_dispatch_threads(c, VK_SH_batchnorm_backward_dx, args, 8, &push, sizeof push, (uint64_t)x->numel);
    }
    vk_arena_reset(c, mark);
}
