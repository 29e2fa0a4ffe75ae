/* Convolution, pooling and batch norm ops: argument checks, the window geometry, the
 * kernel calls and the backward functions. The arithmetic lives in the backends. */
#include "conv.h"

#include "autograd.h"
#include "ops.h"

#include <stdio.h>

#define BE (zoo_backend_current())
#define K(fn, ...) (BE->iface.fn(BE->ctx, __VA_ARGS__))

/* every size a geometry holds must fit the kernels' int32 and two of them one node int */
#define DIM_MAX 32767

static void check_f32(const char *op, const zoo_tensor *t) {
    zoo_tensor_check(t, op);
    if (t->dtype != ZOO_F32) zoo__shape_error(op, "expects a float32 tensor", t, NULL);
}

static void check_nchw(const char *op, const zoo_tensor *x) {
    check_f32(op, x);
    if (x->shape.ndim != 4) zoo__shape_error(op, "expects x [n, c, h, w]", x, NULL);
    for (int i = 1; i < 4; i++)
        if (x->shape.d[i] > DIM_MAX) zoo__shape_error(op, "channels and sizes are limited to 32767", x, NULL);
}

/* (height, width) pairs travel in one node int */
static int pack2(int hi, int lo) { return hi << 16 | lo; }
static int unpack_hi(int v) { return v >> 16; }
static int unpack_lo(int v) { return v & 0xffff; }

static void bad_arg(const char *op, const char *what, int value) { zoo_fatal("%s: %s, got %d", op, what, value); }

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

/* stride, padding and dilation with the zero defaults applied, checked */
typedef struct conv_opts {
    int stride[2], pad[2], dil[2], out_pad[2];
} conv_opts;

static conv_opts resolve(const char *op, const zoo_conv2d_args *a) {
    zoo_conv2d_args none = {0};
    if (!a) a = &none;
    conv_opts o;
    for (int i = 0; i < 2; i++) {
        o.stride[i] = a->stride[i] ? a->stride[i] : 1;
        o.dil[i] = a->dilation[i] ? a->dilation[i] : 1;
        o.pad[i] = a->padding[i];
        o.out_pad[i] = a->output_padding[i];
        if (o.stride[i] < 1 || o.stride[i] > DIM_MAX) bad_arg(op, "stride must be at least 1", o.stride[i]);
        if (o.dil[i] < 1 || o.dil[i] > DIM_MAX) bad_arg(op, "dilation must be at least 1", o.dil[i]);
        if (o.pad[i] < 0 || o.pad[i] > DIM_MAX) bad_arg(op, "padding must be at least 0", o.pad[i]);
        if (o.out_pad[i] < 0) bad_arg(op, "output_padding must be at least 0", o.out_pad[i]);
    }
    return o;
}

static void check_weight(const char *op, const zoo_tensor *x, const zoo_tensor *w, int64_t in_dim, const char *what) {
    check_f32(op, w);
    if (w->shape.ndim != 4 || w->shape.d[in_dim] != x->shape.d[1]) zoo__shape_error(op, what, x, w);
    for (int i = 0; i < 4; i++)
        if (w->shape.d[i] > DIM_MAX) zoo__shape_error(op, "channels and sizes are limited to 32767", w, NULL);
}

static void check_bias(const char *op, const zoo_tensor *w, const zoo_tensor *bias, int64_t channels) {
    if (!bias) return;
    check_f32(op, bias);
    if (bias->shape.ndim != 1 || bias->numel != channels) zoo__shape_error(op, "bias must be [out channels]", w, bias);
}

/* gradients of conv2d(x, w) + b given dy, for the inputs that want them */
static void conv_grads(zoo_tensor *x, zoo_tensor *w, zoo_tensor *b, zoo_tensor *dy, const zoo_conv2d_geom *g) {
    if (zoo__wants_grad(x)) {
        zoo_tensor *dx = zoo__grad_begin(x);
        K(conv2d_backward_input, dy, w, NULL, dx, g);
        zoo__grad_end(x, dx);
    }
    bool want_w = zoo__wants_grad(w), want_b = zoo__wants_grad(b);
    if (!want_w && !want_b) return;
    zoo_tensor *dw = want_w ? zoo__grad_begin(w) : NULL, *db = want_b ? zoo__grad_begin(b) : NULL;
    K(conv2d_backward_weight, x, dy, dw, db, g);
    if (want_w) zoo__grad_end(w, dw);
    if (want_b) zoo__grad_end(b, db);
}

static void node_geom_save(zoo_node *n, const conv_opts *o) {
    if (!n) return;
    n->i[0] = pack2(o->stride[0], o->stride[1]);
    n->i[1] = pack2(o->pad[0], o->pad[1]);
    n->i[2] = pack2(o->dil[0], o->dil[1]);
}

static conv_opts node_geom_load(const zoo_node *n) {
    conv_opts o = {0};
    o.stride[0] = unpack_hi(n->i[0]), o.stride[1] = unpack_lo(n->i[0]);
    o.pad[0] = unpack_hi(n->i[1]), o.pad[1] = unpack_lo(n->i[1]);
    o.dil[0] = unpack_hi(n->i[2]), o.dil[1] = unpack_lo(n->i[2]);
    return o;
}

static void conv2d_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL, *y = n->out;
    conv_opts o = node_geom_load(n);
    zoo_conv2d_geom g = conv_geom(x, w, (int)y->shape.d[2], (int)y->shape.d[3], o.stride, o.pad, o.dil);
    conv_grads(x, w, b, y->grad, &g);
}

zoo_tensor *zoo_conv2d_ex(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, const zoo_conv2d_args *args) {
    const char *op = "conv2d";
    check_nchw(op, x);
    check_weight(op, x, w, 1, "expects weight [out, in, kh, kw] with in = x's channels");
    check_bias(op, w, bias, w->shape.d[0]);
    conv_opts o = resolve(op, args);
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        int64_t span = (int64_t)o.dil[i] * (w->shape.d[2 + i] - 1) + 1;
        size[i] = (x->shape.d[2 + i] + 2 * (int64_t)o.pad[i] - span) / o.stride[i] + 1;
        if (x->shape.d[2 + i] + 2 * (int64_t)o.pad[i] < span)
            zoo__shape_error(op, "the (dilated) kernel is larger than the padded input", x, w);
    }
    zoo_conv2d_geom g = conv_geom(x, w, (int)size[0], (int)size[1], o.stride, o.pad, o.dil);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape4(g.n, g.cout, g.oh, g.ow));
    K(conv2d, x, w, bias, y, &g);
    zoo_tensor *in[3] = {x, w, bias};
    node_geom_save(zoo__record(op, y, conv2d_backward, bias ? 3 : 2, in), &o);
    return y;
}

zoo_tensor *zoo_conv2d(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, int stride, int padding, int dilation) {
    zoo_conv2d_args a = {{stride, stride}, {padding, padding}, {dilation, dilation}, {0, 0}};
    return zoo_conv2d_ex(x, w, bias, &a);
}

/* conv_transpose2d(x, w) is the input gradient of conv2d(y, w) for y shaped like the
 * output: the conv2d geometry runs from the output (its "x") to x (its "y"). */
static void conv_transpose2d_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL, *y = n->out, *dy = y->grad;
    conv_opts o = node_geom_load(n);
    zoo_conv2d_geom g = conv_geom(y, w, (int)x->shape.d[2], (int)x->shape.d[3], o.stride, o.pad, o.dil);
    g.cin = (int32_t)w->shape.d[1];
    if (zoo__wants_grad(x)) {
        zoo_tensor *dx = zoo__grad_begin(x);
        K(conv2d, dy, w, NULL, dx, &g);
        zoo__grad_end(x, dx);
    }
    if (zoo__wants_grad(w)) {
        zoo_tensor *dw = zoo__grad_begin(w);
        K(conv2d_backward_weight, dy, x, dw, NULL, &g);
        zoo__grad_end(w, dw);
    }
    if (zoo__wants_grad(b)) {
        zoo_tensor *db = zoo_tensor_new(ZOO_F32, zoo_shape3(1, g.cin, 1));
        K(reduce, ZOO_REDUCE_SUM, zoo__view(dy, zoo_shape3(g.n, g.cin, (int64_t)g.h * g.w)), db);
        zoo__grad_accumulate(b, zoo__view(db, b->shape));
    }
}

zoo_tensor *zoo_conv_transpose2d_ex(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, const zoo_conv2d_args *args) {
    const char *op = "conv_transpose2d";
    check_nchw(op, x);
    check_weight(op, x, w, 0, "expects weight [in, out, kh, kw] with in = x's channels");
    check_bias(op, w, bias, w->shape.d[1]);
    conv_opts o = resolve(op, args);
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        if (o.out_pad[i] >= o.stride[i] && o.out_pad[i] >= o.dil[i])
            bad_arg(op, "output_padding must be smaller than the stride or the dilation", o.out_pad[i]);
        size[i] = (x->shape.d[2 + i] - 1) * o.stride[i] - 2 * (int64_t)o.pad[i] +
                  (int64_t)o.dil[i] * (w->shape.d[2 + i] - 1) + o.out_pad[i] + 1;
        if (size[i] < 1 || size[i] > DIM_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "the output size %lld is not in [1, 32767]", (long long)size[i]);
            zoo__shape_error(op, msg, x, w);
        }
    }
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape4(x->shape.d[0], w->shape.d[1], size[0], size[1]));
    /* conv2d from y (cin = out channels) to x (cout = in channels) */
    zoo_conv2d_geom g = conv_geom(y, w, (int)x->shape.d[2], (int)x->shape.d[3], o.stride, o.pad, o.dil);
    g.cin = (int32_t)w->shape.d[1];
    K(conv2d_backward_input, x, w, bias, y, &g);
    zoo_tensor *in[3] = {x, w, bias};
    node_geom_save(zoo__record(op, y, conv_transpose2d_backward, bias ? 3 : 2, in), &o);
    return y;
}

zoo_tensor *zoo_conv_transpose2d(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias, int stride, int padding,
                                 int output_padding) {
    zoo_conv2d_args a = {{stride, stride}, {padding, padding}, {1, 1}, {output_padding, output_padding}};
    return zoo_conv_transpose2d_ex(x, w, bias, &a);
}

/* ---------------------------------------------------------------- pooling */

static zoo_conv2d_geom pool_geom(const zoo_tensor *x, int oh, int ow, int kernel, int stride, int pad) {
    int32_t c = (int32_t)x->shape.d[1];
    return (zoo_conv2d_geom){
        .n = (int32_t)x->shape.d[0],
        .cin = c,
        .h = (int32_t)x->shape.d[2],
        .w = (int32_t)x->shape.d[3],
        .cout = c,
        .oh = oh,
        .ow = ow,
        .kh = kernel,
        .kw = kernel,
        .stride_h = stride,
        .stride_w = stride,
        .pad_h = pad,
        .pad_w = pad,
        .dil_h = 1,
        .dil_w = 1,
    };
}

static void pool2d_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *y = n->out;
    zoo_pool_op op = (zoo_pool_op)n->i[3];
    zoo_conv2d_geom g = pool_geom(x, (int)y->shape.d[2], (int)y->shape.d[3], n->i[0], n->i[1], n->i[2]);
    zoo_tensor *dx = zoo__grad_begin(x);
    K(pool2d_backward, op, y->grad, n->saved[0], dx, &g);
    zoo__grad_end(x, dx);
}

static zoo_tensor *pool2d(const char *name, zoo_pool_op op, zoo_tensor *x, int kernel, int stride, int pad) {
    check_nchw(name, x);
    if (stride == 0) stride = kernel;
    if (kernel < 1 || kernel > DIM_MAX) bad_arg(name, "kernel size must be at least 1", kernel);
    if (stride < 1 || stride > DIM_MAX) bad_arg(name, "stride must be at least 1", stride);
    if (pad < 0 || pad > kernel / 2) bad_arg(name, "padding must be between 0 and half the kernel size", pad);
    int64_t size[2];
    for (int i = 0; i < 2; i++) {
        if (x->shape.d[2 + i] + 2 * pad < kernel) zoo__shape_error(name, "the kernel is larger than the padded input", x, NULL);
        size[i] = (x->shape.d[2 + i] + 2 * pad - kernel) / stride + 1;
    }
    zoo_conv2d_geom g = pool_geom(x, (int)size[0], (int)size[1], kernel, stride, pad);
    zoo_shape s = zoo_shape4(g.n, g.cout, g.oh, g.ow);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, s);
    zoo_tensor *idx = op == ZOO_POOL_MAX ? zoo_tensor_new(ZOO_I32, s) : NULL;
    K(pool2d, op, x, y, idx, &g);
    zoo_node *n = zoo__record(name, y, pool2d_backward, 1, &x);
    if (n) {
        n->i[0] = kernel;
        n->i[1] = stride;
        n->i[2] = pad;
        n->i[3] = op;
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
    zoo_batchnorm_params p = {.momentum = n->f[0], .eps = n->f[1], .training = n->i[0]};
    zoo_tensor *dx = zoo__wants_grad(x) ? zoo__grad_begin(x) : NULL;
    zoo_tensor *dgamma = zoo__wants_grad(gamma) ? zoo__grad_begin(gamma) : NULL;
    zoo_tensor *dbeta = zoo__wants_grad(beta) ? zoo__grad_begin(beta) : NULL;
    K(batchnorm_backward, x, n->out->grad, gamma, n->saved[0], n->saved[1], dx, dgamma, dbeta, &p);
    if (dx) zoo__grad_end(x, dx);
    if (dgamma) zoo__grad_end(gamma, dgamma);
    if (dbeta) zoo__grad_end(beta, dbeta);
}

static void check_channel_vector(const char *what, const zoo_tensor *x, const zoo_tensor *v) {
    if (!v) return;
    check_f32("batch_norm2d", v);
    if (v->shape.ndim != 1 || v->numel != x->shape.d[1]) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be [channels]", what);
        zoo__shape_error("batch_norm2d", msg, x, v);
    }
}

zoo_tensor *zoo_batch_norm2d(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, zoo_tensor *running_mean,
                             zoo_tensor *running_var, bool training, float momentum, float eps) {
    const char *op = "batch_norm2d";
    check_f32(op, x);
    if (x->shape.ndim < 2) zoo__shape_error(op, "expects x [n, c, h, w] (or [n, c], [n, c, l])", x, NULL);
    check_channel_vector("weight", x, weight);
    check_channel_vector("bias", x, bias);
    check_channel_vector("running_mean", x, running_mean);
    check_channel_vector("running_var", x, running_var);
    if (!running_mean != !running_var) zoo_fatal("%s: give both running_mean and running_var, or neither", op);
    if (training && running_mean && (!running_mean->persistent || !running_var->persistent))
        zoo_fatal("%s: the running statistics must be persistent tensors (they are updated in place)", op);
    if (!training && !running_mean) zoo_fatal("%s: eval mode needs running_mean and running_var", op);
    if (training && x->numel / x->shape.d[1] < 2)
        zoo__shape_error(op, "training needs more than one value per channel", x, NULL);
    if (!(eps > 0.0f)) zoo_fatal("%s: eps must be positive, got %g", op, eps);
    zoo_shape cs = zoo_shape1(x->shape.d[1]);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    zoo_tensor *mean = zoo_tensor_new(ZOO_F32, cs), *invstd = zoo_tensor_new(ZOO_F32, cs);
    zoo_batchnorm_params p = {.momentum = momentum, .eps = eps, .training = training};
    K(batchnorm, x, weight, bias, running_mean, running_var, y, mean, invstd, &p);
    zoo_tensor *in[3] = {x, weight, bias};
    zoo_node *n = zoo__record(op, y, batch_norm_backward, 3, in);
    if (n) {
        n->saved[0] = mean;
        n->saved[1] = invstd;
        n->f[0] = momentum;
        n->f[1] = eps;
        n->i[0] = training;
    }
    return y;
}
