/* Convolution, pooling and batch norm ops: argument checks, the window geometry, the
 * kernel calls and the backward functions. The arithmetic lives in the backends. Each
 * node keeps the whole zoo_conv2d_geom in its parameter area, so a backward reads the
 * geometry its forward used. */
#include "internal.h"

#include <stdio.h>

/* every size a geometry holds must fit the kernels' int32 */
#define DIM_MAX 32767

static bool check_nchw(const char *op, const zoo_tensor *x) {
    if (!zoo__check_f32(op, x)) return false;
    if (x->shape.ndim != 4) {
        zoo__shape_error(op, "expects x [n, c, h, w]", x, NULL);
        return false;
    }
    for (int i = 1; i < 4; i++)
        if (x->shape.d[i] > DIM_MAX) {
            zoo__shape_error(op, "channels and sizes are limited to 32767", x, NULL);
            return false;
        }
    return true;
}

static bool bad_arg(const char *op, const char *what, int value) {
    zoo__error("%s: %s, got %d", op, what, value);
    return false;
}

/* ---------------------------------------------------------------- convolution */

/* the geometry of conv2d(x, w) where x is [n, cin, h, w], w [cout, cin, kh, kw] */
static zoo_conv2d_geom conv_geom(const zoo_tensor *x, const zoo_tensor *w, int oh, int ow, const int *stride,
                                 const int *pad, const int *dil) {
    return (zoo_conv2d_geom){
        .n = (int32_t)x->shape.d[0],
        .cin = (int32_t)x->shape.d[1],
        .h = (int32_t)x->shape.d[2],
        .w = (int32_t)x->shape.d[3],
        .cout = (int32_t)w->shape.d[0],
        .oh = oh,
        .ow = ow,
        .kh = (int32_t)w->shape.d[2],
        .kw = (int32_t)w->shape.d[3],
        .stride_h = stride[0],
        .stride_w = stride[1],
        .pad_h = pad[0],
        .pad_w = pad[1],
        .dil_h = dil[0],
        .dil_w = dil[1],
    };
}

/* stride, padding and dilation with the zero defaults applied */
typedef struct conv_opts {
    int stride[2], pad[2], dil[2], out_pad[2];
} conv_opts;

static bool resolve(const char *op, const zoo_conv2d_args *a, conv_opts *o) {
    zoo_conv2d_args none = {0};
    if (!a) a = &none;
    for (int i = 0; i < 2; i++) {
        o->stride[i] = a->stride[i] ? a->stride[i] : 1;
        o->dil[i] = a->dilation[i] ? a->dilation[i] : 1;
        o->pad[i] = a->padding[i];
        o->out_pad[i] = a->output_padding[i];
        if (o->stride[i] < 1 || o->stride[i] > DIM_MAX) return bad_arg(op, "stride must be at least 1", o->stride[i]);
        if (o->dil[i] < 1 || o->dil[i] > DIM_MAX) return bad_arg(op, "dilation must be at least 1", o->dil[i]);
        if (o->pad[i] < 0 || o->pad[i] > DIM_MAX) return bad_arg(op, "padding must be at least 0", o->pad[i]);
        if (o->out_pad[i] < 0) return bad_arg(op, "output_padding must be at least 0", o->out_pad[i]);
    }
    return true;
}

static bool check_weight(const char *op, const zoo_tensor *x, const zoo_tensor *w, int64_t in_dim, const char *what) {
    if (!zoo__check_f32(op, w)) return false;
    if (w->shape.ndim != 4 || w->shape.d[in_dim] != x->shape.d[1]) {
        zoo__shape_error(op, what, x, w);
        return false;
    }
    for (int i = 0; i < 4; i++)
        if (w->shape.d[i] > DIM_MAX) {
            zoo__shape_error(op, "channels and sizes are limited to 32767", w, NULL);
            return false;
        }
    return true;
}

static bool check_bias(const char *op, const zoo_tensor *w, const zoo_tensor *bias, int64_t channels) {
    if (!bias) return true;
    if (!zoo__check_f32(op, bias)) return false;
    if (bias->shape.ndim == 1 && bias->numel == channels) return true;
    zoo__shape_error(op, "bias must be [out channels]", w, bias);
    return false;
}

static void conv2d_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL, *dy = n->out->grad;
    const zoo_conv2d_geom *g = ZOO_NODE_PARAMS(n, zoo_conv2d_geom);
    if (zoo__wants_grad(x)) {
        zoo_tensor *dx = zoo__grad_begin(x);
        if (!dx) return;
        ZOO_K(conv2d_backward_input, dy, w, NULL, dx, g);
        zoo__grad_end(x, dx);
    }
    bool want_w = zoo__wants_grad(w), want_b = zoo__wants_grad(b);
    if (!want_w && !want_b) return;
    zoo_tensor *dw = want_w ? zoo__grad_begin(w) : NULL, *db = want_b ? zoo__grad_begin(b) : NULL;
    if ((want_w && !dw) || (want_b && !db)) return;
    ZOO_K(conv2d_backward_weight, x, dy, dw, db, g);
    if (want_w) zoo__grad_end(w, dw);
    if (want_b) zoo__grad_end(b, db);
}

zoo_tensor *zoo_conv2d_ex(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, const zoo_conv2d_args *args) {
    const char *op = "conv2d";
    conv_opts o;
    if (!check_nchw(op, x) || !check_weight(op, x, w, 1, "expects weight [out, in, kh, kw] with in = x's channels") ||
        !check_bias(op, w, bias, w->shape.d[0]) || !resolve(op, args, &o))
        return NULL;
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        int64_t span = (int64_t)o.dil[i] * (w->shape.d[2 + i] - 1) + 1;
        size[i] = (x->shape.d[2 + i] + 2 * (int64_t)o.pad[i] - span) / o.stride[i] + 1;
        if (x->shape.d[2 + i] + 2 * (int64_t)o.pad[i] < span) {
            zoo__shape_error(op, "the (dilated) kernel is larger than the padded input", x, w);
            return NULL;
        }
    }
    zoo_conv2d_geom g = conv_geom(x, w, (int)size[0], (int)size[1], o.stride, o.pad, o.dil);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape4(g.n, g.cout, g.oh, g.ow));
    if (!y) return NULL;
    ZOO_K(conv2d, x, w, bias, y, &g);
    zoo_tensor *in[3] = {x, w, bias};
    zoo_node *n = zoo__record(op, y, conv2d_backward, bias ? 3 : 2, in);
    if (n) *ZOO_NODE_PARAMS(n, zoo_conv2d_geom) = g;
    return y;
}

zoo_tensor *zoo_conv2d(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, int stride, int padding, int dilation) {
    zoo_conv2d_args a = {{stride, stride}, {padding, padding}, {dilation, dilation}, {0, 0}};
    return zoo_conv2d_ex(x, w, bias, &a);
}

/* conv_transpose2d(x, w) is the input gradient of conv2d(y, w) for y shaped like the
 * output: the conv2d geometry (the node's) runs from the output (its "x") to x (its "y"). */
static void conv_transpose2d_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL, *dy = n->out->grad;
    const zoo_conv2d_geom *g = ZOO_NODE_PARAMS(n, zoo_conv2d_geom);
    if (zoo__wants_grad(x)) {
        zoo_tensor *dx = zoo__grad_begin(x);
        if (!dx) return;
        ZOO_K(conv2d, dy, w, NULL, dx, g);
        zoo__grad_end(x, dx);
    }
    if (zoo__wants_grad(w)) {
        zoo_tensor *dw = zoo__grad_begin(w);
        if (!dw) return;
        ZOO_K(conv2d_backward_weight, dy, x, dw, NULL, g);
        zoo__grad_end(w, dw);
    }
    if (zoo__wants_grad(b)) {
        zoo_tensor *db = zoo_tensor_new(ZOO_F32, zoo_shape3(1, g->cin, 1));
        zoo_tensor *dyv = zoo__view(dy, zoo_shape3(g->n, g->cin, (int64_t)g->h * g->w));
        if (!db || !dyv) return;
        ZOO_K(reduce, ZOO_REDUCE_SUM, dyv, db);
        zoo__grad_accumulate(b, zoo__view(db, b->shape));
    }
}

zoo_tensor *zoo_conv_transpose2d_ex(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, const zoo_conv2d_args *args) {
    const char *op = "conv_transpose2d";
    conv_opts o;
    if (!check_nchw(op, x) || !check_weight(op, x, w, 0, "expects weight [in, out, kh, kw] with in = x's channels") ||
        !check_bias(op, w, bias, w->shape.d[1]) || !resolve(op, args, &o))
        return NULL;
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        if (o.out_pad[i] >= o.stride[i] && o.out_pad[i] >= o.dil[i])
        {
            bad_arg(op, "output_padding must be smaller than the stride or the dilation", o.out_pad[i]);
            return NULL;
        }
        size[i] = (x->shape.d[2 + i] - 1) * o.stride[i] - 2 * (int64_t)o.pad[i] +
                  (int64_t)o.dil[i] * (w->shape.d[2 + i] - 1) + o.out_pad[i] + 1;
        if (size[i] < 1 || size[i] > DIM_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "the output size %lld is not in [1, 32767]", (long long)size[i]);
            zoo__shape_error(op, msg, x, w);
            return NULL;
        }
    }
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape4(x->shape.d[0], w->shape.d[1], size[0], size[1]));
    if (!y) return NULL;
    /* conv2d from y (cin = out channels) to x (cout = in channels) */
    zoo_conv2d_geom g = conv_geom(y, w, (int)x->shape.d[2], (int)x->shape.d[3], o.stride, o.pad, o.dil);
    g.cin = (int32_t)w->shape.d[1];
    ZOO_K(conv2d_backward_input, x, w, bias, y, &g);
    zoo_tensor *in[3] = {x, w, bias};
    zoo_node *n = zoo__record(op, y, conv_transpose2d_backward, bias ? 3 : 2, in);
    if (n) *ZOO_NODE_PARAMS(n, zoo_conv2d_geom) = g;
    return y;
}

zoo_tensor *zoo_conv_transpose2d(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, int stride, int padding,
                                 int output_padding) {
    zoo_conv2d_args a = {{stride, stride}, {padding, padding}, {1, 1}, {output_padding, output_padding}};
    return zoo_conv_transpose2d_ex(x, w, bias, &a);
}

/* ---------------------------------------------------------------- pooling */

static void pool2d_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *y = n->out;
    const zoo_conv2d_geom *g = ZOO_NODE_PARAMS(n, zoo_conv2d_geom);
    zoo_tensor *idx = n->saved[0];
    zoo_tensor *dx = zoo__grad_begin(x);
    if (!dx) return;
    ZOO_K(pool2d_backward, idx ? ZOO_POOL_MAX : ZOO_POOL_AVG, y->grad, idx, dx, g);
    zoo__grad_end(x, dx);
}

static zoo_tensor *pool2d(const char *name, zoo_pool_op op, zoo_tensor *x, int kernel, int stride, int pad) {
    if (!check_nchw(name, x)) return NULL;
    if (stride == 0) stride = kernel;
    bool ok = (kernel >= 1 && kernel <= DIM_MAX) || bad_arg(name, "kernel size must be at least 1", kernel);
    ok = ok && ((stride >= 1 && stride <= DIM_MAX) || bad_arg(name, "stride must be at least 1", stride));
    ok = ok && ((pad >= 0 && pad <= kernel / 2) ||
                bad_arg(name, "padding must be between 0 and half the kernel size", pad));
    if (!ok) return NULL;
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        if (x->shape.d[2 + i] + 2 * pad < kernel) {
            zoo__shape_error(name, "the kernel is larger than the padded input", x, NULL);
            return NULL;
        }
        size[i] = (x->shape.d[2 + i] + 2 * pad - kernel) / stride + 1;
    }
    int32_t c = (int32_t)x->shape.d[1];
    zoo_conv2d_geom g = {
        .n = (int32_t)x->shape.d[0], .cin = c, .h = (int32_t)x->shape.d[2], .w = (int32_t)x->shape.d[3],
        .cout = c, .oh = (int32_t)size[0], .ow = (int32_t)size[1], .kh = kernel, .kw = kernel,
        .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad, .dil_h = 1, .dil_w = 1,
    };
    zoo_shape s = zoo_shape4(g.n, g.cout, g.oh, g.ow);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, s);
    zoo_tensor *idx = op == ZOO_POOL_MAX ? zoo_tensor_new(ZOO_I32, s) : NULL;
    if (!y || (op == ZOO_POOL_MAX && !idx)) return NULL;
    ZOO_K(pool2d, op, x, y, idx, &g);
    zoo_node *n = zoo__record(name, y, pool2d_backward, 1, &x);
    if (n) {
        *ZOO_NODE_PARAMS(n, zoo_conv2d_geom) = g;
        n->saved[0] = idx;
    }
    return y;
}

zoo_tensor *zoo_max_pool2d(zoo_tensor *x, int kernel, int stride, int padding) {
    return pool2d("max_pool2d", ZOO_POOL_MAX, x, kernel, stride, padding);
}

zoo_tensor *zoo_avg_pool2d(zoo_tensor *x, int kernel, int stride, int padding) {
    return pool2d("avg_pool2d", ZOO_POOL_AVG, x, kernel, stride, padding);
}

/* ---------------------------------------------------------------- batch norm */

static void batch_norm_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    const zoo_batchnorm_params *p = ZOO_NODE_PARAMS(n, zoo_batchnorm_params);
    zoo_tensor *dx = zoo__wants_grad(x) ? zoo__grad_begin(x) : NULL;
    zoo_tensor *dgamma = zoo__wants_grad(gamma) ? zoo__grad_begin(gamma) : NULL;
    zoo_tensor *dbeta = zoo__wants_grad(beta) ? zoo__grad_begin(beta) : NULL;
    if (zoo_failed()) return;
    ZOO_K(batchnorm_backward, x, n->out->grad, gamma, n->saved[0], n->saved[1], dx, dgamma, dbeta, p);
    if (dx) zoo__grad_end(x, dx);
    if (dgamma) zoo__grad_end(gamma, dgamma);
    if (dbeta) zoo__grad_end(beta, dbeta);
}

static bool check_channel_vector(const char *what, const zoo_tensor *x, const zoo_tensor *v) {
    if (!v) return true;
    if (!zoo__check_f32("batch_norm2d", v)) return false;
    if (v->shape.ndim == 1 && v->numel == x->shape.d[1]) return true;
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be [channels]", what);
    zoo__shape_error("batch_norm2d", msg, x, v);
    return false;
}

/* Batch norm with the statistics of a data-parallel job's global batch (--sync-bn,
   dist.h): the per-channel sums all-reduced, then the centred squares', composed of
   ops so autograd carries the gradient through both reductions. */
static zoo_tensor *batch_norm_global(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, zoo_tensor *running_mean,
                                     zoo_tensor *running_var, float momentum, float eps) {
    int64_t c = x->shape.d[1];
    zoo_shape cs = x->shape; /* [1, c, 1, 1] */
    for (int i = 0; i < cs.ndim; i++)
        if (i != 1) cs.d[i] = 1;
    double count = (double)(x->numel / c);
    if (zoo_dist_sum(&count, 1)) return NULL;
    zoo_tensor *mean = zoo_affine(zoo_dist_all_sum(zoo_sum_to(x, cs)), (float)(1.0 / count), 0.0f);
    zoo_tensor *d = zoo_sub(x, mean);
    zoo_tensor *var = zoo_affine(zoo_dist_all_sum(zoo_sum_to(zoo_mul(d, d), cs)), (float)(1.0 / count), 0.0f);
    zoo_tensor *y = zoo_div(d, zoo_sqrt(zoo_affine(var, 1.0f, eps)));
    if (weight) y = zoo_mul(y, zoo_reshape(weight, cs));
    if (bias) y = zoo_add(y, zoo_reshape(bias, cs));
    if (y && running_mean) { /* as the kernel: the unbiased variance, in place, no grad */
        bool old = zoo_set_grad_enabled(false);
        zoo_lerp_(running_mean, zoo_reshape(mean, zoo_shape1(c)), momentum);
        zoo_lerp_(running_var, zoo_reshape(zoo_affine(var, (float)(count / (count - 1.0)), 0.0f), zoo_shape1(c)),
                  momentum);
        zoo_set_grad_enabled(old);
    }
    return y;
}

zoo_tensor *zoo_batch_norm2d(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, zoo_tensor *running_mean,
                             zoo_tensor *running_var, bool training, float momentum, float eps) {
    const char *op = "batch_norm2d";
    if (!zoo__check_f32(op, x)) return NULL;
    if (x->shape.ndim < 2) {
        zoo__shape_error(op, "expects x [n, c, h, w] (or [n, c], [n, c, l])", x, NULL);
        return NULL;
    }
    if (!check_channel_vector("weight", x, weight) || !check_channel_vector("bias", x, bias) ||
        !check_channel_vector("running_mean", x, running_mean) || !check_channel_vector("running_var", x, running_var))
        return NULL;
    const char *bad = NULL;
    if (!running_mean != !running_var) bad = "give both running_mean and running_var, or neither";
    else if (training && running_mean && (!running_mean->persistent || !running_var->persistent))
        bad = "the running statistics must be persistent tensors (they are updated in place)";
    else if (!training && !running_mean) bad = "eval mode needs running_mean and running_var";
    else if (!(eps > 0.0f)) bad = "eps must be positive";
    if (bad) {
        zoo__error("%s: %s", op, bad);
        return NULL;
    }
    if (training && x->numel / x->shape.d[1] < 2) {
        zoo__shape_error(op, "training needs more than one value per channel", x, NULL);
        return NULL;
    }
    if (training && zoo_dist_sync_bn())
        return batch_norm_global(x, weight, bias, running_mean, running_var, momentum, eps);
    zoo_shape cs = zoo_shape1(x->shape.d[1]);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    zoo_tensor *mean = zoo_tensor_new(ZOO_F32, cs), *invstd = zoo_tensor_new(ZOO_F32, cs);
    if (!y || !mean || !invstd) return NULL;
    zoo_batchnorm_params p = {.momentum = momentum, .eps = eps, .training = training};
    ZOO_K(batchnorm, x, weight, bias, running_mean, running_var, y, mean, invstd, &p);
    zoo_tensor *in[3] = {x, weight, bias};
    zoo_node *n = zoo__record(op, y, batch_norm_backward, 3, in);
    if (n) {
        n->saved[0] = mean;
        n->saved[1] = invstd;
        *ZOO_NODE_PARAMS(n, zoo_batchnorm_params) = p;
    }
    return y;
}
