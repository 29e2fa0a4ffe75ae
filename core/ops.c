/* Differentiable ops: shape checks, output allocation, the kernel call through the
 * backend, and the backward function next to each forward. */
#include "ops.h"

#include "autograd.h"

#include <string.h>

#define BE (zoo_backend_current())
#define K(fn, ...) (BE->iface.fn(BE->ctx, __VA_ARGS__))

void zoo__shape_error(const char *op, const char *what, const zoo_tensor *a, const zoo_tensor *b) {
    char sa[96], sb[96] = "";
    zoo_shape_str(a->shape, sa, sizeof sa);
    if (b) zoo_shape_str(b->shape, sb, sizeof sb);
    zoo_fatal("%s: %s (shapes %s%s%s)", op, what, sa, b ? " and " : "", sb);
}

static void check_f32(const char *op, const zoo_tensor *t) {
    zoo_tensor_check(t, op);
    if (t->dtype != ZOO_F32) zoo__shape_error(op, "expects a float32 tensor", t, NULL);
}

static int norm_axis(const char *op, const zoo_tensor *x, int axis) {
    int a = axis < 0 ? axis + x->shape.ndim : axis;
    if (a < 0 || a >= x->shape.ndim) {
        char buf[64];
        snprintf(buf, sizeof buf, "axis %d out of range", axis);
        zoo__shape_error(op, buf, x, NULL);
    }
    return a;
}

static zoo_tensor *view(zoo_tensor *x, zoo_shape s) { return zoo__view(x, s); }

static zoo_tensor *scalar(float v) { return zoo_tensor_full(zoo_shape1(1), v); }

/* x's shape padded on the left with 1s to ndim dims */
static zoo_shape pad_shape(zoo_shape s, int ndim) {
    zoo_shape r = {ndim, {1, 1, 1, 1}};
    for (int i = 0; i < s.ndim; i++) r.d[ndim - s.ndim + i] = s.d[i];
    return r;
}

/* ---------------------------------------------------------------- broadcasting binary */

static zoo_shape broadcast_shape(const char *op, const zoo_tensor *a, const zoo_tensor *b) {
    int nd = a->shape.ndim > b->shape.ndim ? a->shape.ndim : b->shape.ndim;
    zoo_shape pa = pad_shape(a->shape, nd), pb = pad_shape(b->shape, nd), r = {nd, {1, 1, 1, 1}};
    for (int i = 0; i < nd; i++) {
        if (pa.d[i] != pb.d[i] && pa.d[i] != 1 && pb.d[i] != 1)
            zoo__shape_error(op, "shapes do not broadcast", a, b);
        r.d[i] = pa.d[i] > pb.d[i] ? pa.d[i] : pb.d[i];
    }
    return r;
}

static void binary_backward(zoo_node *n) {
    zoo_tensor *a = n->in[0], *b = n->in[1], *g = n->out->grad;
    zoo_binary_op op = (zoo_binary_op)n->i[0];
    if (zoo__wants_grad(a)) {
        zoo_tensor *ga = g;
        if (op == ZOO_BINARY_MUL) ga = zoo_mul(g, b);
        if (op == ZOO_BINARY_DIV) ga = zoo_div(g, b);
        zoo__grad_accumulate(a, zoo_sum_to(ga, a->shape));
    }
    if (zoo__wants_grad(b)) {
        zoo_tensor *gb = g;
        if (op == ZOO_BINARY_SUB) gb = zoo_neg(g);
        if (op == ZOO_BINARY_MUL) gb = zoo_mul(g, a);
        if (op == ZOO_BINARY_DIV) gb = zoo_neg(zoo_div(zoo_mul(g, n->out), b)); /* -g * a / b^2 */
        zoo__grad_accumulate(b, zoo_sum_to(gb, b->shape));
    }
}

static zoo_tensor *binary(const char *name, zoo_binary_op op, zoo_tensor *a, zoo_tensor *b) {
    check_f32(name, a);
    check_f32(name, b);
    zoo_tensor *out = zoo_tensor_new(ZOO_F32, broadcast_shape(name, a, b));
    K(binary, op, a, b, out);
    zoo_tensor *in[2] = {a, b};
    zoo_node *n = zoo__record(name, out, binary_backward, 2, in);
    if (n) n->i[0] = op;
    return out;
}

zoo_tensor *zoo_add(zoo_tensor *a, zoo_tensor *b) { return binary("add", ZOO_BINARY_ADD, a, b); }
zoo_tensor *zoo_sub(zoo_tensor *a, zoo_tensor *b) { return binary("sub", ZOO_BINARY_SUB, a, b); }
zoo_tensor *zoo_mul(zoo_tensor *a, zoo_tensor *b) { return binary("mul", ZOO_BINARY_MUL, a, b); }
zoo_tensor *zoo_div(zoo_tensor *a, zoo_tensor *b) { return binary("div", ZOO_BINARY_DIV, a, b); }

/* ---------------------------------------------------------------- unary */

static void unary_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0];
    zoo_tensor *dx = zoo__grad_begin(x);
    K(unary_backward, (zoo_unary_op)n->i[0], x, n->out, n->out->grad, dx, n->f[0], n->f[1]);
    zoo__grad_end(x, dx);
}

zoo_tensor *zoo__unary(const char *name, zoo_unary_op op, zoo_tensor *x, float a, float b) {
    check_f32(name, x);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    K(unary, op, x, y, a, b);
    zoo_node *n = zoo__record(name, y, unary_backward, 1, &x);
    if (n) {
        n->i[0] = op;
        n->f[0] = a;
        n->f[1] = b;
    }
    return y;
}

zoo_tensor *zoo_add_scalar(zoo_tensor *x, float s) { return zoo__unary("add_scalar", ZOO_UNARY_AFFINE, x, 1.0f, s); }
zoo_tensor *zoo_mul_scalar(zoo_tensor *x, float s) { return zoo__unary("mul_scalar", ZOO_UNARY_AFFINE, x, s, 0.0f); }
zoo_tensor *zoo_affine(zoo_tensor *x, float scale, float shift) {
    return zoo__unary("affine", ZOO_UNARY_AFFINE, x, scale, shift);
}
zoo_tensor *zoo_pow_scalar(zoo_tensor *x, float p) { return zoo__unary("pow", ZOO_UNARY_POW, x, p, 0.0f); }
zoo_tensor *zoo_neg(zoo_tensor *x) { return zoo__unary("neg", ZOO_UNARY_AFFINE, x, -1.0f, 0.0f); }
zoo_tensor *zoo_relu(zoo_tensor *x) { return zoo__unary("relu", ZOO_UNARY_RELU, x, 0, 0); }
zoo_tensor *zoo_leaky_relu(zoo_tensor *x, float slope) {
    return zoo__unary("leaky_relu", ZOO_UNARY_LEAKY_RELU, x, slope, 0);
}
zoo_tensor *zoo_tanh(zoo_tensor *x) { return zoo__unary("tanh", ZOO_UNARY_TANH, x, 0, 0); }
zoo_tensor *zoo_sigmoid(zoo_tensor *x) { return zoo__unary("sigmoid", ZOO_UNARY_SIGMOID, x, 0, 0); }
zoo_tensor *zoo_gelu(zoo_tensor *x) { return zoo__unary("gelu", ZOO_UNARY_GELU, x, 0, 0); }
zoo_tensor *zoo_silu(zoo_tensor *x) { return zoo__unary("silu", ZOO_UNARY_SILU, x, 0, 0); }
zoo_tensor *zoo_exp(zoo_tensor *x) { return zoo__unary("exp", ZOO_UNARY_EXP, x, 0, 0); }
zoo_tensor *zoo_log(zoo_tensor *x) { return zoo__unary("log", ZOO_UNARY_LOG, x, 0, 0); }
zoo_tensor *zoo_sqrt(zoo_tensor *x) { return zoo__unary("sqrt", ZOO_UNARY_SQRT, x, 0, 0); }
zoo_tensor *zoo_abs(zoo_tensor *x) { return zoo__unary("abs", ZOO_UNARY_ABS, x, 0, 0); }

/* ---------------------------------------------------------------- matmul */

typedef struct mm_dims {
    int64_t batch, m, k, n;
} mm_dims;

static int64_t mat_batch(const zoo_tensor *t) { return t->shape.ndim == 3 ? t->shape.d[0] : 1; }

static mm_dims matmul_dims(const zoo_tensor *a, const zoo_tensor *b, bool ta, bool tb) {
    if (a->shape.ndim < 2 || a->shape.ndim > 3 || b->shape.ndim < 2 || b->shape.ndim > 3)
        zoo__shape_error("matmul", "operands must be 2-d or 3-d", a, b);
    int na = a->shape.ndim, nb = b->shape.ndim;
    int64_t ar = a->shape.d[na - 2], ac = a->shape.d[na - 1], br = b->shape.d[nb - 2], bc = b->shape.d[nb - 1];
    mm_dims d = {1, ta ? ac : ar, ta ? ar : ac, tb ? br : bc};
    int64_t kb = tb ? bc : br;
    if (d.k != kb) zoo__shape_error("matmul", "inner dimensions differ", a, b);
    int64_t ba = mat_batch(a), bb = mat_batch(b);
    if (ba != bb && ba != 1 && bb != 1) zoo__shape_error("matmul", "batch sizes differ", a, b);
    d.batch = ba > bb ? ba : bb;
    return d;
}

/* out = op(a) op(b), written into the gradient slot of target (summing over the
 * batch when target is shared by every batch entry) */
static void gemm_into_grad(zoo_tensor *target, zoo_tensor *a, zoo_tensor *b, bool ta, bool tb, int64_t batch) {
    if (!zoo__wants_grad(target)) return;
    if (mat_batch(target) == batch || batch == 1) {
        float beta;
        zoo_tensor *slot = zoo__grad_slot(target, &beta);
        K(gemm, a, b, slot, ta, tb, 1.0f, beta);
        return;
    }
    /* target is 2-d but used by every batch entry: per-batch products, then sum */
    int nd = target->shape.ndim;
    zoo_tensor *tmp = zoo_tensor_new(ZOO_F32, zoo_shape3(batch, target->shape.d[nd - 2], target->shape.d[nd - 1]));
    K(gemm, a, b, tmp, ta, tb, 1.0f, 0.0f);
    zoo__grad_accumulate(target, view(zoo_sum(tmp, 0, false), target->shape));
}

static void matmul_backward(zoo_node *n) {
    zoo_tensor *a = n->in[0], *b = n->in[1], *g = n->out->grad;
    bool ta = n->i[0], tb = n->i[1];
    int64_t batch = mat_batch(n->out);
    if (ta) gemm_into_grad(a, b, g, tb, true, batch);   /* dA = op(B) dC^T */
    else gemm_into_grad(a, g, b, false, !tb, batch);    /* dA = dC op(B)^T */
    if (tb) gemm_into_grad(b, g, a, true, ta, batch);   /* dB = dC^T op(A) */
    else gemm_into_grad(b, a, g, !ta, false, batch);    /* dB = op(A)^T dC */
}

zoo_tensor *zoo_matmul_ex(zoo_tensor *a, zoo_tensor *b, bool ta, bool tb) {
    check_f32("matmul", a);
    check_f32("matmul", b);
    mm_dims d = matmul_dims(a, b, ta, tb);
    bool batched = a->shape.ndim == 3 || b->shape.ndim == 3;
    zoo_tensor *c = zoo_tensor_new(ZOO_F32, batched ? zoo_shape3(d.batch, d.m, d.n) : zoo_shape2(d.m, d.n));
    K(gemm, a, b, c, ta, tb, 1.0f, 0.0f);
    zoo_tensor *in[2] = {a, b};
    zoo_node *n = zoo__record("matmul", c, matmul_backward, 2, in);
    if (n) {
        n->i[0] = ta;
        n->i[1] = tb;
    }
    return c;
}

zoo_tensor *zoo_matmul(zoo_tensor *a, zoo_tensor *b) { return zoo_matmul_ex(a, b, false, false); }

static void linear_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *w = n->in[1], *bias = n->nin > 2 ? n->in[2] : NULL, *g = n->out->grad;
    gemm_into_grad(x, g, w, false, false, 1); /* dx = dy W */
    gemm_into_grad(w, g, x, true, false, 1);  /* dW = dy^T x */
    if (zoo__wants_grad(bias)) zoo__grad_accumulate(bias, zoo_sum_to(g, bias->shape));
}

zoo_tensor *zoo_linear(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias) {
    check_f32("linear", x);
    check_f32("linear", w);
    if (x->shape.ndim != 2 || w->shape.ndim != 2 || x->shape.d[1] != w->shape.d[1])
        zoo__shape_error("linear", "expects x [n, in] and weight [out, in]", x, w);
    int64_t out_f = w->shape.d[0];
    if (bias) {
        check_f32("linear", bias);
        if (bias->numel != out_f || bias->shape.ndim != 1) zoo__shape_error("linear", "bias must be [out]", w, bias);
    }
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape2(x->shape.d[0], out_f));
    K(gemm, x, w, y, false, true, 1.0f, 0.0f);
    if (bias) K(binary, ZOO_BINARY_ADD, y, bias, y);
    zoo_tensor *in[3] = {x, w, bias};
    zoo__record("linear", y, linear_backward, bias ? 3 : 2, in);
    return y;
}

/* ---------------------------------------------------------------- reductions */

/* dx = broadcast of g (shaped like the kept-dims output) over x's shape, times s */
static zoo_tensor *expand(zoo_tensor *g, zoo_shape shape, float s) {
    zoo_tensor *dx = zoo_tensor_new(ZOO_F32, shape);
    K(binary, ZOO_BINARY_MUL, g, scalar(s), dx);
    return dx;
}

static void reduce_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0];
    zoo_reduce_op op = (zoo_reduce_op)n->i[0];
    zoo_tensor *g = view(n->out->grad, n->saved[0]->shape); /* kept dims */
    if (op == ZOO_REDUCE_MAX) {
        zoo_tensor *mask = zoo_tensor_new(ZOO_F32, x->shape);
        K(binary, ZOO_BINARY_EQ, x, n->saved[0], mask);
        zoo_tensor *count = zoo_tensor_new(ZOO_F32, n->saved[0]->shape);
        K(reduce, ZOO_REDUCE_SUM, mask, count);
        zoo_tensor *share = zoo_div(g, count);
        zoo_tensor *dx = zoo_tensor_new(ZOO_F32, x->shape);
        K(binary, ZOO_BINARY_MUL, mask, share, dx);
        zoo__grad_accumulate(x, dx);
        return;
    }
    float s = op == ZOO_REDUCE_MEAN ? (float)n->saved[0]->numel / (float)x->numel : 1.0f;
    zoo__grad_accumulate(x, expand(g, x->shape, s));
}

/* reduces the dims where keep has 1 and x does not; returns out viewed as shape */
static zoo_tensor *reduce(const char *name, zoo_reduce_op op, zoo_tensor *x, zoo_shape keep, zoo_shape shape) {
    check_f32(name, x);
    zoo_tensor *out = zoo_tensor_new(ZOO_F32, keep);
    K(reduce, op, x, out);
    zoo_tensor *res = zoo_shape_eq(keep, shape) ? out : view(out, shape);
    zoo_node *nd = zoo__record(name, res, reduce_backward, 1, &x);
    if (nd) {
        nd->i[0] = op;
        nd->saved[0] = out;
    }
    return res;
}

zoo_tensor *zoo_sum_to(zoo_tensor *x, zoo_shape shape) {
    check_f32("sum_to", x);
    if (zoo_shape_eq(x->shape, shape)) return x;
    bool ok = shape.ndim >= 1 && shape.ndim <= x->shape.ndim;
    zoo_shape keep = ok ? pad_shape(shape, x->shape.ndim) : x->shape;
    for (int i = 0; ok && i < x->shape.ndim; i++) ok = keep.d[i] == x->shape.d[i] || keep.d[i] == 1;
    if (!ok) {
        char buf[96], msg[160];
        snprintf(msg, sizeof msg, "cannot sum to %s: it does not broadcast to the input",
                 zoo_shape_str(shape, buf, sizeof buf));
        zoo__shape_error("sum_to", msg, x, NULL);
    }
    return reduce("sum_to", ZOO_REDUCE_SUM, x, keep, shape);
}

static zoo_tensor *reduce_axis(const char *name, zoo_reduce_op op, zoo_tensor *x, int axis, bool keepdim) {
    zoo_tensor_check(x, name);
    int a = norm_axis(name, x, axis);
    zoo_shape keep = x->shape, shape = {0, {1, 1, 1, 1}};
    keep.d[a] = 1;
    if (keepdim) shape = keep;
    else
        for (int i = 0; i < x->shape.ndim; i++)
            if (i != a) shape.d[shape.ndim++] = x->shape.d[i];
    if (shape.ndim == 0) shape = zoo_shape1(1);
    return reduce(name, op, x, keep, shape);
}

static zoo_tensor *reduce_all(const char *name, zoo_reduce_op op, zoo_tensor *x) {
    zoo_tensor_check(x, name);
    zoo_shape keep = {x->shape.ndim, {1, 1, 1, 1}};
    return reduce(name, op, x, keep, zoo_shape1(1));
}

zoo_tensor *zoo_sum(zoo_tensor *x, int axis, bool keepdim) { return reduce_axis("sum", ZOO_REDUCE_SUM, x, axis, keepdim); }
zoo_tensor *zoo_mean(zoo_tensor *x, int axis, bool keepdim) { return reduce_axis("mean", ZOO_REDUCE_MEAN, x, axis, keepdim); }
zoo_tensor *zoo_max(zoo_tensor *x, int axis, bool keepdim) { return reduce_axis("max", ZOO_REDUCE_MAX, x, axis, keepdim); }
zoo_tensor *zoo_sum_all(zoo_tensor *x) { return reduce_all("sum_all", ZOO_REDUCE_SUM, x); }
zoo_tensor *zoo_mean_all(zoo_tensor *x) { return reduce_all("mean_all", ZOO_REDUCE_MEAN, x); }
zoo_tensor *zoo_max_all(zoo_tensor *x) { return reduce_all("max_all", ZOO_REDUCE_MAX, x); }

zoo_tensor *zoo_argmax(zoo_tensor *x, int axis) {
    check_f32("argmax", x);
    int a = norm_axis("argmax", x, axis);
    zoo_shape keep = x->shape, shape = {0, {1, 1, 1, 1}};
    keep.d[a] = 1;
    for (int i = 0; i < x->shape.ndim; i++)
        if (i != a) shape.d[shape.ndim++] = x->shape.d[i];
    if (shape.ndim == 0) shape = zoo_shape1(1);
    zoo_tensor *out = zoo_tensor_new(ZOO_I32, keep);
    K(reduce, ZOO_REDUCE_ARGMAX, x, out);
    return view(out, shape);
}

/* ---------------------------------------------------------------- shapes */

static void reshape_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0];
    zoo__grad_accumulate(x, view(n->out->grad, x->shape));
}

zoo_tensor *zoo_reshape(zoo_tensor *x, zoo_shape shape) {
    zoo_tensor_check(x, "reshape");
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < shape.ndim; i++) {
        if (shape.d[i] == -1 && infer < 0) infer = i;
        else known *= shape.d[i];
    }
    if (infer >= 0 && known > 0 && x->numel % known == 0) shape.d[infer] = x->numel / known;
    if (shape.ndim < 1 || shape.ndim > ZOO_MAX_DIMS || zoo_shape_numel(shape) != x->numel) {
        char buf[96], msg[160];
        snprintf(msg, sizeof msg, "cannot view %lld elements as %s", (long long)x->numel,
                 zoo_shape_str(shape, buf, sizeof buf));
        zoo__shape_error("reshape", msg, x, NULL);
    }
    zoo_tensor *v = view(x, shape);
    zoo__record("reshape", v, reshape_backward, 1, &x);
    return v;
}

zoo_tensor *zoo_detach(zoo_tensor *x) {
    zoo_tensor_check(x, "detach");
    return view(x, x->shape);
}

zoo_tensor *zoo_flatten(zoo_tensor *x) {
    zoo_tensor_check(x, "flatten");
    return zoo_reshape(x, zoo_shape2(x->shape.d[0], x->numel / x->shape.d[0]));
}

static void permute_backward(zoo_node *n) {
    int inv[ZOO_MAX_DIMS];
    for (int i = 0; i < n->in[0]->shape.ndim; i++) inv[n->i[i]] = i;
    zoo_tensor *x = n->in[0], *dx = zoo__grad_begin(x);
    K(permute, n->out->grad, dx, inv);
    zoo__grad_end(x, dx);
}

zoo_tensor *zoo_permute(zoo_tensor *x, const int *perm) {
    check_f32("permute", x);
    int nd = x->shape.ndim;
    zoo_shape s = {nd, {1, 1, 1, 1}};
    bool seen[ZOO_MAX_DIMS] = {false};
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]) zoo__shape_error("permute", "not a permutation of the dims", x, NULL);
        seen[perm[i]] = true;
        s.d[i] = x->shape.d[perm[i]];
    }
    zoo_tensor *out = zoo_tensor_new(ZOO_F32, s);
    K(permute, x, out, perm);
    zoo_node *n = zoo__record("permute", out, permute_backward, 1, &x);
    if (n)
        for (int i = 0; i < nd; i++) n->i[i] = perm[i];
    return out;
}

zoo_tensor *zoo_transpose(zoo_tensor *x, int dim0, int dim1) {
    zoo_tensor_check(x, "transpose");
    int a = norm_axis("transpose", x, dim0), b = norm_axis("transpose", x, dim1);
    int perm[ZOO_MAX_DIMS] = {0, 1, 2, 3};
    perm[a] = b;
    perm[b] = a;
    return zoo_permute(x, perm);
}

/* ---------------------------------------------------------------- softmax */

static void softmax_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *dx = zoo__grad_begin(x);
    K(softmax_backward, n->out, n->out->grad, dx, n->i[0]);
    zoo__grad_end(x, dx);
}

static zoo_tensor *softmax(const char *name, zoo_tensor *x, bool log) {
    check_f32(name, x);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    K(softmax, x, y, log);
    zoo_node *n = zoo__record(name, y, softmax_backward, 1, &x);
    if (n) n->i[0] = log;
    return y;
}

zoo_tensor *zoo_softmax(zoo_tensor *x) { return softmax("softmax", x, false); }
zoo_tensor *zoo_log_softmax(zoo_tensor *x) { return softmax("log_softmax", x, true); }
