/* Ops that move elements without arithmetic: slices, concatenation, chunks, padding,
 * nearest upsampling and embedding lookups. All but the lookup are the backend's one
 * strided-copy kernel (copy_box) over a box the op works out here; their backward
 * copies the gradient back through the same box, or sums it (upsampling). */
#include "internal.h"

#include <string.h>

/* x's shape as (outer, mid, inner) around axis: the dims before it, it, the dims after */
typedef struct around {
    int64_t outer, mid, inner;
} around;

static around split_at(zoo_shape s, int axis) {
    around r = {1, s.d[axis], 1};
    for (int i = 0; i < axis; i++) r.outer *= s.d[i];
    for (int i = axis + 1; i < s.ndim; i++) r.inner *= s.d[i];
    return r;
}

/* the kernels index with int32 */
static bool fits_int32(const char *op, const zoo_tensor *x) {
    if (x->numel < INT32_MAX) return true;
    zoo__shape_error(op, "tensors of 2^31 elements or more are not supported", x, NULL);
    return false;
}

/* Copies a [outer, len, inner] block between src (whose axis has src_mid entries, the
 * block starting at src_start) and dst (dst_mid entries, starting at dst_start). */
static void copy_block(zoo_tensor *src, int64_t src_mid, int64_t src_start, zoo_tensor *dst, int64_t dst_mid,
                       int64_t dst_start, int64_t outer, int64_t len, int64_t inner) {
    zoo_box b = {
        .size = {1, (int32_t)outer, (int32_t)len, (int32_t)inner},
        .src_offset = (int32_t)(src_start * inner),
        .src_stride = {0, (int32_t)(src_mid * inner), (int32_t)inner, 1},
        .dst_offset = (int32_t)(dst_start * inner),
        .dst_stride = {0, (int32_t)(dst_mid * inner), (int32_t)inner, 1},
    };
    ZOO_K(copy_box, src, dst, &b);
}

/* ---------------------------------------------------------------- slice */

typedef struct slice_params {
    int axis;
    int64_t start;
} slice_params;

/* the gradient of a slice: zeros with g copied into the sliced window */
static void slice_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *g = n->out->grad;
    const slice_params *p = ZOO_NODE_PARAMS(n, slice_params);
    zoo_tensor *dx = zoo_tensor_zeros(ZOO_F32, x->shape);
    if (!dx) return;
    around a = split_at(x->shape, p->axis);
    copy_block(g, g->shape.d[p->axis], 0, dx, a.mid, p->start, a.outer, g->shape.d[p->axis], a.inner);
    zoo__grad_accumulate(x, dx);
}

zoo_tensor *zoo_slice(zoo_tensor *x, int axis, int64_t start, int64_t len) {
    if (!zoo_tensor_check(x, "slice") || !fits_int32("slice", x)) return NULL;
    int ax = zoo__axis("slice", x, axis);
    if (ax < 0) return NULL;
    around a = split_at(x->shape, ax);
    if (start < 0 || len < 1 || start > a.mid - len) {
        char msg[128];
        snprintf(msg, sizeof msg, "elements %lld to %lld of axis %d are not all there", (long long)start,
                 (long long)(start + len - 1), axis);
        zoo__shape_error("slice", msg, x, NULL);
        return NULL;
    }
    zoo_shape s = x->shape;
    s.d[ax] = len;
    zoo_tensor *y = zoo_tensor_new(x->dtype, s);
    if (!y) return NULL;
    copy_block(x, a.mid, start, y, len, 0, a.outer, len, a.inner);
    zoo_node *n = zoo__record("slice", y, slice_backward, 1, &x);
    if (n) *ZOO_NODE_PARAMS(n, slice_params) = (slice_params){ax, start};
    return y;
}

int zoo_chunk(zoo_tensor *x, int n, int axis, zoo_tensor **out) {
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (!zoo_tensor_check(x, "chunk")) return -1;
    int ax = zoo__axis("chunk", x, axis);
    if (ax < 0) return -1;
    if (n < 1 || x->shape.d[ax] % n != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "axis %d does not split into %d equal chunks", axis, n);
        zoo__shape_error("chunk", msg, x, NULL);
        return -1;
    }
    int64_t len = x->shape.d[ax] / n;
    for (int i = 0; i < n; i++)
        if (!(out[i] = zoo_slice(x, ax, i * len, len))) return -1;
    return 0;
}

/* ---------------------------------------------------------------- concat */

typedef struct concat_params {
    int axis;
} concat_params;

static void concat_backward(zoo_node *n) {
    int ax = ZOO_NODE_PARAMS(n, concat_params)->axis;
    zoo_tensor *g = n->out->grad;
    around a = split_at(g->shape, ax);
    int64_t start = 0;
    for (int i = 0; i < n->nin; i++) {
        zoo_tensor *x = n->in[i];
        int64_t len = x->shape.d[ax];
        if (zoo__wants_grad(x)) {
            zoo_tensor *dx = zoo_tensor_new(ZOO_F32, x->shape);
            if (!dx) return;
            copy_block(g, a.mid, start, dx, len, 0, a.outer, len, a.inner);
            zoo__grad_accumulate(x, dx);
        }
        start += len;
    }
}

zoo_tensor *zoo_concat(zoo_tensor *const *xs, int n, int axis) {
    if (n < 1 || !xs) {
        zoo__error("concat: no tensors given");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!zoo_tensor_check(xs[i], "concat")) return NULL;
    int ax = zoo__axis("concat", xs[0], axis);
    if (ax < 0) return NULL;
    zoo_shape s = xs[0]->shape;
    s.d[ax] = 0;
    for (int i = 0; i < n; i++) {
        const zoo_tensor *x = xs[i];
        bool ok = x->shape.ndim == s.ndim && x->dtype == xs[0]->dtype;
        for (int d = 0; ok && d < s.ndim; d++) ok = d == ax || x->shape.d[d] == s.d[d];
        if (!ok) {
            zoo__shape_error("concat", "tensors differ in a dim other than the axis, or in dtype", xs[0], x);
            return NULL;
        }
        s.d[ax] += x->shape.d[ax];
    }
    zoo_tensor *y = zoo_tensor_new(xs[0]->dtype, s);
    if (!y || !fits_int32("concat", y)) return NULL;
    around a = split_at(s, ax);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = xs[i]->shape.d[ax];
        copy_block(xs[i], len, 0, y, a.mid, start, a.outer, len, a.inner);
        start += len;
    }
    zoo_node *nd = zoo__record("concat", y, concat_backward, n, xs);
    if (nd) ZOO_NODE_PARAMS(nd, concat_params)->axis = ax;
    return y;
}

/* ---------------------------------------------------------------- pad */

typedef struct pad_params {
    int axis;
    int64_t before;
} pad_params;

/* the gradient of a pad is the slice of g where x went */
static void pad_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *g = n->out->grad;
    const pad_params *p = ZOO_NODE_PARAMS(n, pad_params);
    zoo_tensor *dx = zoo_tensor_new(ZOO_F32, x->shape);
    if (!dx) return;
    around a = split_at(x->shape, p->axis);
    copy_block(g, g->shape.d[p->axis], p->before, dx, a.mid, 0, a.outer, a.mid, a.inner);
    zoo__grad_accumulate(x, dx);
}

zoo_tensor *zoo_pad(zoo_tensor *x, int axis, int64_t before, int64_t after, float value) {
    if (!zoo__check_f32("pad", x)) return NULL;
    int ax = zoo__axis("pad", x, axis);
    if (ax < 0) return NULL;
    if (before < 0 || after < 0 || before > INT32_MAX - after) {
        zoo__shape_error("pad", "padding must be at least 0", x, NULL);
        return NULL;
    }
    zoo_shape s = x->shape;
    s.d[ax] += before + after;
    zoo_tensor *y = zoo_tensor_full(s, value);
    if (!y || !fits_int32("pad", y)) return NULL;
    around a = split_at(x->shape, ax);
    copy_block(x, a.mid, 0, y, s.d[ax], before, a.outer, a.mid, a.inner);
    zoo_node *n = zoo__record("pad", y, pad_backward, 1, &x);
    if (n) *ZOO_NODE_PARAMS(n, pad_params) = (pad_params){ax, before};
    return y;
}

/* ---------------------------------------------------------------- upsample2d */

typedef struct upsample_params {
    int scale;
} upsample_params;

/* every input element fed a scale x scale block: its gradient is the block's sum */
static void upsample_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0];
    int s = ZOO_NODE_PARAMS(n, upsample_params)->scale;
    int64_t rows = x->shape.d[0] * x->shape.d[1] * x->shape.d[2], w = x->shape.d[3];
    zoo_tensor *g = zoo__view(n->out->grad, zoo_shape4(rows, s, w, s));
    zoo_tensor *dx = zoo_tensor_new(ZOO_F32, zoo_shape4(rows, 1, w, 1));
    if (!g || !dx) return;
    ZOO_K(reduce, ZOO_REDUCE_SUM, g, dx);
    zoo__grad_accumulate(x, zoo__view(dx, x->shape));
}

zoo_tensor *zoo_upsample2d(zoo_tensor *x, int scale) {
    if (!zoo__check_f32("upsample2d", x)) return NULL;
    if (x->shape.ndim != 4) {
        zoo__shape_error("upsample2d", "expects x [n, c, h, w]", x, NULL);
        return NULL;
    }
    if (scale < 1 || scale > 64) {
        zoo__error("upsample2d: scale must be 1 to 64, got %d", scale);
        return NULL;
    }
    int64_t rows = x->shape.d[0] * x->shape.d[1] * x->shape.d[2], w = x->shape.d[3];
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape4(x->shape.d[0], x->shape.d[1], x->shape.d[2] * scale, w * scale));
    if (!y || !fits_int32("upsample2d", y)) return NULL;
    /* y viewed as [rows, scale, w, scale] reads x [rows, w] with the scale dims repeated */
    zoo_box b = {
        .size = {(int32_t)rows, scale, (int32_t)w, scale},
        .src_stride = {(int32_t)w, 0, 1, 0},
        .dst_stride = {(int32_t)(scale * w * scale), (int32_t)(w * scale), scale, 1},
    };
    ZOO_K(copy_box, x, y, &b);
    zoo_node *n = zoo__record("upsample2d", y, upsample_backward, 1, &x);
    if (n) ZOO_NODE_PARAMS(n, upsample_params)->scale = scale;
    return y;
}

/* ---------------------------------------------------------------- embedding */

static void embedding_backward(zoo_node *n) {
    zoo_tensor *w = n->in[0], *ids = n->saved[0];
    zoo_tensor *g = zoo__view(n->out->grad, zoo_shape2(ids->numel, w->shape.d[1]));
    zoo_tensor *dw = zoo__grad_begin(w);
    if (!g || !dw) return;
    ZOO_K(embedding_backward, ids, g, dw);
    zoo__grad_end(w, dw);
}

zoo_tensor *zoo_embedding(zoo_tensor *weight, zoo_tensor *ids) {
    if (!zoo__check_f32("embedding", weight) || !zoo_tensor_check(ids, "embedding")) return NULL;
    if (weight->shape.ndim != 2 || ids->dtype != ZOO_I32 || ids->shape.ndim > ZOO_MAX_DIMS - 1) {
        zoo__shape_error("embedding", "expects weight [vocab, dim] and int32 ids of up to 3 dims", weight, ids);
        return NULL;
    }
    /* an id out of range would read past the table: checked on the host (embedding is
       usually a model's first op, so on a GPU the wait costs little) */
    int64_t v = weight->shape.d[0], n = ids->numel;
    int32_t *host = zoo_scope_alloc((size_t)n * sizeof *host);
    if (!host) return NULL;
    zoo_tensor_download(ids, host);
    for (int64_t i = 0; i < n; i++)
        if (host[i] < 0 || host[i] >= v) {
            zoo__error("embedding: id %d at position %lld is outside the vocabulary [0, %lld)", host[i], (long long)i,
                       (long long)v);
            return NULL;
        }
    zoo_shape s = ids->shape;
    s.d[s.ndim++] = weight->shape.d[1];
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, s);
    zoo_tensor *flat = zoo__view(ids, zoo_shape1(n));
    if (!y || !flat) return NULL;
    ZOO_K(embedding, weight, flat, y);
    zoo_node *nd = zoo__record("embedding", y, embedding_backward, 1, &weight);
    if (nd) nd->saved[0] = flat;
    return y;
}
