/* Differentiable ops: shape checks, output allocation, the kernel call through the
 * backend, and the backward function next to each forward. */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void zoo__shape_error(const char *op, const char *what, const zoo_tensor *a, const zoo_tensor *b) {
    char sa[96], sb[96] = "";
    zoo_shape_str(a->shape, sa, sizeof sa);
    if (b) zoo_shape_str(b->shape, sb, sizeof sb);
    zoo__error("%s: %s (shapes %s%s%s)", op, what, sa, b ? " and " : "", sb);
}

bool zoo__check_f32(const char *op, const zoo_tensor *t) {
    if (!zoo_tensor_check(t, op)) return false;
    if (t->dtype == ZOO_F32) return true;
    zoo__shape_error(op, "expects a float32 tensor", t, NULL);
    return false;
}
#define check_f32 zoo__check_f32

int zoo__axis(const char *op, const zoo_tensor *x, int axis) {
    int a = axis < 0 ? axis + x->shape.ndim : axis;
    if (a >= 0 && a < x->shape.ndim) return a;
    char buf[64];
    snprintf(buf, sizeof buf, "axis %d out of range", axis);
    zoo__shape_error(op, buf, x, NULL);
    return -1;
}
#define norm_axis zoo__axis

static zoo_tensor *view(zoo_tensor *x, zoo_shape s) { return zoo__view(x, s); }

static zoo_tensor *scalar(float v) { return zoo_tensor_full(zoo_shape1(1), v); }

/* x's shape padded on the left with 1s to ndim dims */
static zoo_shape pad_shape(zoo_shape s, int ndim) {
    zoo_shape r = {ndim, {1, 1, 1, 1}};
    for (int i = 0; i < s.ndim; i++) r.d[ndim - s.ndim + i] = s.d[i];
    return r;
}

/* ---------------------------------------------------------------- broadcasting binary */

static bool broadcast_shape(const char *op, const zoo_tensor *a, const zoo_tensor *b, zoo_shape *r) {
    int nd = a->shape.ndim > b->shape.ndim ? a->shape.ndim : b->shape.ndim;
    zoo_shape pa = pad_shape(a->shape, nd), pb = pad_shape(b->shape, nd);
    *r = (zoo_shape){nd, {1, 1, 1, 1}};
    for (int i = 0; i < nd; i++) {
        if (pa.d[i] != pb.d[i] && pa.d[i] != 1 && pb.d[i] != 1) {
            zoo__shape_error(op, "shapes do not broadcast", a, b);
            return false;
        }
        r->d[i] = pa.d[i] > pb.d[i] ? pa.d[i] : pb.d[i];
    }
    return true;
}

typedef struct binary_params {
    zoo_binary_op op;
} binary_params;

static void binary_backward(zoo_node *n) {
    zoo_tensor *a = n->in[0], *b = n->in[1], *g = n->out->grad;
    zoo_binary_op op = ZOO_NODE_PARAMS(n, binary_params)->op;
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
    zoo_shape shape;
    if (!check_f32(name, a) || !check_f32(name, b) || !broadcast_shape(name, a, b, &shape)) return NULL;
    zoo_tensor *out = zoo_tensor_new(ZOO_F32, shape);
    if (!out) return NULL;
    ZOO_K(binary, op, a, b, out);
    zoo_tensor *in[2] = {a, b};
    zoo_node *n = zoo__record(name, out, binary_backward, 2, in);
    if (n) ZOO_NODE_PARAMS(n, binary_params)->op = op;
    return out;
}

zoo_tensor *zoo_add(zoo_tensor *a, zoo_tensor *b) { return binary("add", ZOO_BINARY_ADD, a, b); }
zoo_tensor *zoo_sub(zoo_tensor *a, zoo_tensor *b) { return binary("sub", ZOO_BINARY_SUB, a, b); }
zoo_tensor *zoo_mul(zoo_tensor *a, zoo_tensor *b) { return binary("mul", ZOO_BINARY_MUL, a, b); }
zoo_tensor *zoo_div(zoo_tensor *a, zoo_tensor *b) { return binary("div", ZOO_BINARY_DIV, a, b); }

/* ---------------------------------------------------------------- unary */

typedef struct unary_params {
    zoo_unary_op op;
    float a, b;
} unary_params;

static void unary_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0];
    zoo_tensor *dx = zoo__grad_begin(x);
    if (!dx) return;
    const unary_params *p = ZOO_NODE_PARAMS(n, unary_params);
    ZOO_K(unary_backward, p->op, x, n->out, n->out->grad, dx, p->a, p->b);
    zoo__grad_end(x, dx);
}

zoo_tensor *zoo__unary(const char *name, zoo_unary_op op, zoo_tensor *x, float a, float b) {
    if (!check_f32(name, x)) return NULL;
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    if (!y) return NULL;
    ZOO_K(unary, op, x, y, a, b);
    zoo_node *n = zoo__record(name, y, unary_backward, 1, &x);
    if (n) *ZOO_NODE_PARAMS(n, unary_params) = (unary_params){op, a, b};
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

/* The gemm kernel takes matrices [rows, cols] and batches of them [batch, rows, cols]:
 * a tensor of more dims is viewed with its leading dims as one batch dim. */
static zoo_shape gemm_shape(zoo_shape s) {
    if (s.ndim <= 3) return s;
    int64_t batch = 1;
    for (int i = 0; i < s.ndim - 2; i++) batch *= s.d[i];
    return zoo_shape3(batch, s.d[s.ndim - 2], s.d[s.ndim - 1]);
}

static int64_t gemm_batch(zoo_shape s) { return s.ndim == 3 ? s.d[0] : 1; }

static zoo_tensor *as_gemm(zoo_tensor *t) {
    return t->shape.ndim <= 3 ? t : view(t, gemm_shape(t->shape));
}

/* the gradient of target, which took part in a gemm viewed with shape `as`, gets
 * op(a) op(b) (summed over the batch when target was shared by every batch entry) */
static void gemm_into_grad(zoo_tensor *target, zoo_shape as, zoo_tensor *a, zoo_tensor *b, bool ta, bool tb,
                           int64_t batch) {
    if (!zoo__wants_grad(target) || !a || !b) return;
    if (gemm_batch(as) == batch) {
        float beta;
        zoo_tensor *slot = zoo__grad_slot(target, &beta);
        if (!slot) return;
        if (!zoo_shape_eq(slot->shape, as)) slot = view(slot, as);
        if (slot) ZOO_K(gemm, a, b, slot, ta, tb, 1.0f, beta);
        return;
    }
    /* target is one matrix used by every batch entry: per-entry products, then their sum */
    zoo_tensor *tmp = zoo_tensor_new(ZOO_F32, zoo_shape3(batch, as.d[as.ndim - 2], as.d[as.ndim - 1]));
    if (!tmp) return;
    ZOO_K(gemm, a, b, tmp, ta, tb, 1.0f, 0.0f);
    zoo_tensor *sum = zoo_sum(tmp, 0, false);
    if (sum) zoo__grad_accumulate(target, view(sum, target->shape));
}

typedef struct matmul_params {
    bool ta, tb;
} matmul_params;

static void matmul_backward(zoo_node *n) {
    zoo_tensor *a = n->in[0], *b = n->in[1];
    zoo_tensor *a3 = as_gemm(a), *b3 = as_gemm(b), *g = as_gemm(n->out->grad);
    zoo_shape sa = gemm_shape(a->shape), sb = gemm_shape(b->shape);
    bool ta = ZOO_NODE_PARAMS(n, matmul_params)->ta, tb = ZOO_NODE_PARAMS(n, matmul_params)->tb;
    int64_t batch = gemm_batch(gemm_shape(n->out->shape));
    if (ta) gemm_into_grad(a, sa, b3, g, tb, true, batch); /* dA = op(B) dC^T */
    else gemm_into_grad(a, sa, g, b3, false, !tb, batch);  /* dA = dC op(B)^T */
    if (tb) gemm_into_grad(b, sb, g, a3, true, ta, batch); /* dB = dC^T op(A) */
    else gemm_into_grad(b, sb, a3, g, !ta, false, batch);  /* dB = op(A)^T dC */
}

zoo_tensor *zoo_matmul_ex(zoo_tensor *a, zoo_tensor *b, bool ta, bool tb) {
    if (!check_f32("matmul", a) || !check_f32("matmul", b)) return NULL;
    int na = a->shape.ndim, nb = b->shape.ndim;
    if (na < 2 || nb < 2) {
        zoo__shape_error("matmul", "operands must have at least 2 dims", a, b);
        return NULL;
    }
    int64_t ar = a->shape.d[na - 2], ac = a->shape.d[na - 1], br = b->shape.d[nb - 2], bc = b->shape.d[nb - 1];
    int64_t m = ta ? ac : ar, k = ta ? ar : ac, kb = tb ? bc : br, nn = tb ? br : bc;
    if (k != kb) {
        zoo__shape_error("matmul", "inner dimensions differ", a, b);
        return NULL;
    }
    /* the batch: the leading dims of one operand; the other has the same leading dims,
       or is one matrix for every entry (2-d, or leading dims all 1) */
    int64_t ba = gemm_batch(gemm_shape(a->shape)), bb = gemm_batch(gemm_shape(b->shape));
    const zoo_tensor *lead = ba > 1 || (bb == 1 && na >= nb) ? a : b;
    if (ba > 1 && bb > 1) {
        bool same = na == nb;
        for (int i = 0; same && i < na - 2; i++) same = a->shape.d[i] == b->shape.d[i];
        if (!same) {
            zoo__shape_error("matmul", "leading (batch) dims differ", a, b);
            return NULL;
        }
    }
    zoo_shape cs = lead->shape;
    cs.d[cs.ndim - 2] = m;
    cs.d[cs.ndim - 1] = nn;
    zoo_tensor *c = zoo_tensor_new(ZOO_F32, cs);
    zoo_tensor *a3 = as_gemm(a), *b3 = as_gemm(b), *c3 = c ? as_gemm(c) : NULL;
    if (!c3 || !a3 || !b3) return NULL;
    ZOO_K(gemm, a3, b3, c3, ta, tb, 1.0f, 0.0f);
    zoo_tensor *in[2] = {a, b};
    zoo_node *n = zoo__record("matmul", c, matmul_backward, 2, in);
    if (n) *ZOO_NODE_PARAMS(n, matmul_params) = (matmul_params){ta, tb};
    return c;
}

zoo_tensor *zoo_matmul(zoo_tensor *a, zoo_tensor *b) { return zoo_matmul_ex(a, b, false, false); }

/* [..., f] as the matrix [rows, f] */
static zoo_shape rows_of(zoo_shape s) {
    return zoo_shape2(zoo_shape_numel(s) / s.d[s.ndim - 1], s.d[s.ndim - 1]);
}

static void linear_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *w = n->in[1], *bias = n->nin > 2 ? n->in[2] : NULL;
    zoo_tensor *g = view(n->out->grad, rows_of(n->out->shape));
    zoo_tensor *x2 = view(x, rows_of(x->shape));
    if (!g || !x2) return;
    gemm_into_grad(x, x2->shape, g, w, false, false, 1); /* dx = dy W */
    gemm_into_grad(w, w->shape, g, x2, true, false, 1);  /* dW = dy^T x */
    if (zoo__wants_grad(bias)) zoo__grad_accumulate(bias, zoo_sum_to(g, bias->shape));
}

zoo_tensor *zoo_linear(zoo_tensor *x, zoo_tensor *w, zoo_tensor *bias) {
    if (!check_f32("linear", x) || !check_f32("linear", w)) return NULL;
    if (w->shape.ndim != 2 || x->shape.ndim < 1 || x->shape.d[x->shape.ndim - 1] != w->shape.d[1]) {
        zoo__shape_error("linear", "expects x [..., in] and weight [out, in]", x, w);
        return NULL;
    }
    int64_t out_f = w->shape.d[0];
    if (bias) {
        if (!check_f32("linear", bias)) return NULL;
        if (bias->numel != out_f || bias->shape.ndim != 1) {
            zoo__shape_error("linear", "bias must be [out]", w, bias);
            return NULL;
        }
    }
    zoo_shape ys = x->shape;
    ys.d[ys.ndim - 1] = out_f;
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, ys);
    zoo_tensor *x2 = view(x, rows_of(x->shape)), *y2 = y ? view(y, rows_of(ys)) : NULL;
    if (!x2 || !y2) return NULL;
    int64_t rows = y2->shape.d[0];
    if (bias && y2->numel <= INT32_MAX) {
        /* the bias in every row, then the product added onto it (gemm's beta 1): each
           element is S + bias rounded once, as an add after the product would give, in
           one pass over y fewer */
        zoo_box box = {{(int32_t)rows, 1, 1, (int32_t)out_f}, 0, {0, 0, 0, 1}, 0, {(int32_t)out_f, 0, 0, 1}};
        ZOO_K(copy_box, bias, y2, &box);
        ZOO_K(gemm, x2, w, y2, false, true, 1.0f, 1.0f);
    } else {
        ZOO_K(gemm, x2, w, y2, false, true, 1.0f, 0.0f);
        if (bias) ZOO_K(binary, ZOO_BINARY_ADD, y2, bias, y2);
    }
    zoo_tensor *in[3] = {x, w, bias};
    zoo__record("linear", y, linear_backward, bias ? 3 : 2, in);
    return y;
}

/* ---------------------------------------------------------------- reductions */

/* dx = broadcast of g (shaped like the kept-dims output) over x's shape, times s */
static zoo_tensor *expand(zoo_tensor *g, zoo_shape shape, float s) {
    zoo_tensor *dx = zoo_tensor_new(ZOO_F32, shape), *k = scalar(s);
    if (!dx || !k || !g) return NULL;
    ZOO_K(binary, ZOO_BINARY_MUL, g, k, dx);
    return dx;
}

typedef struct reduce_params {
    zoo_reduce_op op;
} reduce_params;

static void reduce_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *kept = n->saved[0];
    zoo_reduce_op op = ZOO_NODE_PARAMS(n, reduce_params)->op;
    zoo_tensor *g = view(n->out->grad, kept->shape);
    if (!g) return;
    if (op == ZOO_REDUCE_MAX) {
        zoo_tensor *mask = zoo_tensor_new(ZOO_F32, x->shape), *count = zoo_tensor_new(ZOO_F32, kept->shape);
        if (!mask || !count) return;
        ZOO_K(binary, ZOO_BINARY_EQ, x, kept, mask);
        ZOO_K(reduce, ZOO_REDUCE_SUM, mask, count);
        zoo_tensor *share = zoo_div(g, count), *dx = zoo_tensor_new(ZOO_F32, x->shape);
        if (!share || !dx) return;
        ZOO_K(binary, ZOO_BINARY_MUL, mask, share, dx);
        zoo__grad_accumulate(x, dx);
        return;
    }
    float s = op == ZOO_REDUCE_MEAN ? (float)kept->numel / (float)x->numel : 1.0f;
    zoo__grad_accumulate(x, expand(g, x->shape, s));
}

/* reduces the dims where keep has 1 and x does not; returns out viewed as shape */
static zoo_tensor *reduce(const char *name, zoo_reduce_op op, zoo_tensor *x, zoo_shape keep, zoo_shape shape) {
    zoo_tensor *out = zoo_tensor_new(ZOO_F32, keep);
    if (!out) return NULL;
    ZOO_K(reduce, op, x, out);
    zoo_tensor *res = zoo_shape_eq(keep, shape) ? out : view(out, shape);
    if (!res) return NULL;
    zoo_node *nd = zoo__record(name, res, reduce_backward, 1, &x);
    if (nd) {
        ZOO_NODE_PARAMS(nd, reduce_params)->op = op;
        nd->saved[0] = out;
    }
    return res;
}

zoo_tensor *zoo_sum_to(zoo_tensor *x, zoo_shape shape) {
    if (!check_f32("sum_to", x)) return NULL;
    if (zoo_shape_eq(x->shape, shape)) return x;
    bool ok = shape.ndim >= 1 && shape.ndim <= x->shape.ndim;
    zoo_shape keep = ok ? pad_shape(shape, x->shape.ndim) : x->shape;
    for (int i = 0; ok && i < x->shape.ndim; i++) ok = keep.d[i] == x->shape.d[i] || keep.d[i] == 1;
    if (!ok) {
        char buf[96], msg[160];
        snprintf(msg, sizeof msg, "cannot sum to %s: it does not broadcast to the input",
                 zoo_shape_str(shape, buf, sizeof buf));
        zoo__shape_error("sum_to", msg, x, NULL);
        return NULL;
    }
    return reduce("sum_to", ZOO_REDUCE_SUM, x, keep, shape);
}

/* the shapes of a reduction over axis a: kept dims, and the result's */
static void axis_shapes(const zoo_tensor *x, int a, bool keepdim, zoo_shape *keep, zoo_shape *shape) {
    *keep = x->shape;
    keep->d[a] = 1;
    *shape = (zoo_shape){0, {1, 1, 1, 1}};
    if (keepdim) *shape = *keep;
    else
        for (int i = 0; i < x->shape.ndim; i++)
            if (i != a) shape->d[shape->ndim++] = x->shape.d[i];
    if (shape->ndim == 0) *shape = zoo_shape1(1);
}

static zoo_tensor *reduce_axis(const char *name, zoo_reduce_op op, zoo_tensor *x, int axis, bool keepdim) {
    if (!check_f32(name, x)) return NULL;
    int a = norm_axis(name, x, axis);
    if (a < 0) return NULL;
    zoo_shape keep, shape;
    axis_shapes(x, a, keepdim, &keep, &shape);
    return reduce(name, op, x, keep, shape);
}

static zoo_tensor *reduce_all(const char *name, zoo_reduce_op op, zoo_tensor *x) {
    if (!check_f32(name, x)) return NULL;
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
    if (!check_f32("argmax", x)) return NULL;
    int a = norm_axis("argmax", x, axis);
    if (a < 0) return NULL;
    zoo_shape keep, shape;
    axis_shapes(x, a, false, &keep, &shape);
    zoo_tensor *out = zoo_tensor_new(ZOO_I32, keep);
    if (!out) return NULL;
    ZOO_K(reduce, ZOO_REDUCE_ARGMAX, x, out);
    return view(out, shape);
}

/* ---------------------------------------------------------------- shapes */

static void reshape_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0];
    zoo__grad_accumulate(x, view(n->out->grad, x->shape));
}

zoo_tensor *zoo_reshape(zoo_tensor *x, zoo_shape shape) {
    if (!zoo_tensor_check(x, "reshape")) return NULL;
    int infer = -1;
    int64_t known = 1;
    bool ok = shape.ndim >= 1 && shape.ndim <= ZOO_MAX_DIMS;
    for (int i = 0; ok && i < shape.ndim; i++) {
        if (shape.d[i] == -1 && infer < 0) infer = i;
        else if (shape.d[i] < 1) ok = false;
        else known *= shape.d[i];
    }
    if (ok && infer >= 0 && x->numel % known == 0) shape.d[infer] = x->numel / known;
    if (!ok || zoo_shape_numel(shape) != x->numel) {
        char buf[96], msg[160];
        snprintf(msg, sizeof msg, "cannot view %lld elements as %s", (long long)x->numel,
                 shape.ndim >= 1 && shape.ndim <= ZOO_MAX_DIMS ? zoo_shape_str(shape, buf, sizeof buf) : "that shape");
        zoo__shape_error("reshape", msg, x, NULL);
        return NULL;
    }
    zoo_tensor *v = view(x, shape);
    if (v) zoo__record("reshape", v, reshape_backward, 1, &x);
    return v;
}

zoo_tensor *zoo_detach(zoo_tensor *x) {
    if (!zoo_tensor_check(x, "detach")) return NULL;
    return view(x, x->shape);
}

zoo_tensor *zoo_flatten(zoo_tensor *x) {
    if (!zoo_tensor_check(x, "flatten")) return NULL;
    return zoo_reshape(x, zoo_shape2(x->shape.d[0], x->numel / x->shape.d[0]));
}

typedef struct permute_params {
    int perm[ZOO_MAX_DIMS];
} permute_params;

static void permute_backward(zoo_node *n) {
    int inv[ZOO_MAX_DIMS] = {0, 1, 2, 3};
    const int *perm = ZOO_NODE_PARAMS(n, permute_params)->perm;
    for (int i = 0; i < n->in[0]->shape.ndim; i++) inv[perm[i]] = i;
    zoo_tensor *x = n->in[0], *dx = zoo__grad_begin(x);
    if (!dx) return;
    ZOO_K(permute, n->out->grad, dx, inv);
    zoo__grad_end(x, dx);
}

zoo_tensor *zoo_permute(zoo_tensor *x, const int *perm) {
    if (!check_f32("permute", x)) return NULL;
    int nd = x->shape.ndim;
    zoo_shape s = {nd, {1, 1, 1, 1}};
    bool seen[ZOO_MAX_DIMS] = {false};
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]) {
            zoo__shape_error("permute", "not a permutation of the dims", x, NULL);
            return NULL;
        }
        seen[perm[i]] = true;
        s.d[i] = x->shape.d[perm[i]];
    }
    zoo_tensor *out = zoo_tensor_new(ZOO_F32, s);
    if (!out) return NULL;
    ZOO_K(permute, x, out, perm);
    zoo_node *n = zoo__record("permute", out, permute_backward, 1, &x);
    if (n)
        for (int i = 0; i < nd; i++) ZOO_NODE_PARAMS(n, permute_params)->perm[i] = perm[i];
    return out;
}

zoo_tensor *zoo_transpose(zoo_tensor *x, int dim0, int dim1) {
    if (!zoo_tensor_check(x, "transpose")) return NULL;
    int a = norm_axis("transpose", x, dim0), b = norm_axis("transpose", x, dim1);
    if (a < 0 || b < 0) return NULL;
    int perm[ZOO_MAX_DIMS] = {0, 1, 2, 3};
    perm[a] = b;
    perm[b] = a;
    return zoo_permute(x, perm);
}

/* ---------------------------------------------------------------- softmax */

typedef struct softmax_params {
    bool log;
} softmax_params;

static void softmax_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *dx = zoo__grad_begin(x);
    if (!dx) return;
    ZOO_K(softmax_backward, n->out, n->out->grad, dx, ZOO_NODE_PARAMS(n, softmax_params)->log);
    zoo__grad_end(x, dx);
}

static zoo_tensor *softmax(const char *name, zoo_tensor *x, bool log) {
    if (!check_f32(name, x)) return NULL;
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    if (!y) return NULL;
    ZOO_K(softmax, x, y, log);
    zoo_node *n = zoo__record(name, y, softmax_backward, 1, &x);
    if (n) ZOO_NODE_PARAMS(n, softmax_params)->log = log;
    return y;
}

zoo_tensor *zoo_softmax(zoo_tensor *x) { return softmax("softmax", x, false); }
zoo_tensor *zoo_log_softmax(zoo_tensor *x) { return softmax("log_softmax", x, true); }

/* ---------------------------------------------------------------- attention */

typedef struct attention_params {
    int64_t heads;
    float scale;
    bool causal;
} attention_params;

static void attention_backward(zoo_node *n) {
    zoo_tensor *qkv = n->in[0], *dqkv = zoo__grad_begin(qkv);
    if (!dqkv) return;
    const attention_params *p = ZOO_NODE_PARAMS(n, attention_params);
    ZOO_K(attention_backward, qkv, n->saved[0], n->out->grad, dqkv, p->heads, p->scale, p->causal);
    zoo__grad_end(qkv, dqkv);
}

/* heads too wide for the kernels: the ops the kernel fuses, one by one (their [B, heads,
 * T, T] scores held whole) */
static zoo_tensor *attention_composed(zoo_tensor *qkv, int64_t heads, float scale, bool causal) {
    int64_t b = qkv->shape.d[0], t = qkv->shape.d[1], c = qkv->shape.d[2] / 3;
    static const int to_heads[4] = {0, 2, 1, 3}; /* [B, T, H, D] <-> [B, H, T, D] */
    zoo_tensor *part[3], *h[3];
    if (zoo_chunk(qkv, 3, 2, part)) return NULL;
    for (int i = 0; i < 3; i++) h[i] = zoo_permute(zoo_reshape(part[i], zoo_shape4(b, t, heads, c / heads)), to_heads);
    zoo_tensor *s = zoo_mul_scalar(zoo_matmul_ex(h[0], h[1], false, true), scale);
    if (causal) {
        float *mask = zoo_scope_alloc((size_t)(t * t) * sizeof *mask);
        if (!mask) return NULL;
        for (int64_t i = 0; i < t; i++)
            for (int64_t j = 0; j < t; j++) mask[i * t + j] = j > i ? -INFINITY : 0.0f;
        s = zoo_add(s, zoo_tensor_from_host(zoo_shape2(t, t), mask));
    }
    zoo_tensor *y = zoo_permute(zoo_matmul(zoo_softmax(s), h[2]), to_heads);
    return zoo_reshape(y, zoo_shape3(b, t, c));
}

zoo_tensor *zoo_attention(zoo_tensor *qkv, int heads, bool causal) {
    if (!check_f32("attention", qkv)) return NULL;
    int64_t c3 = qkv->shape.ndim == 3 ? qkv->shape.d[2] : 0;
    if (heads < 1 || c3 == 0 || c3 % (3 * (int64_t)heads) != 0) {
        char sb[96];
        zoo__error("attention: expects qkv [batch, time, 3 * heads * head_dim] with %d heads (qkv %s)", heads,
                   zoo_shape_str(qkv->shape, sb, sizeof sb));
        return NULL;
    }
    int64_t b = qkv->shape.d[0], t = qkv->shape.d[1], c = c3 / 3;
    if (t > 65536) {
        zoo__error("attention: at most 65536 positions (%lld here)", (long long)t);
        return NULL;
    }
    float scale = 1.0f / sqrtf((float)(c / heads));
    if (c / heads > ZOO_ATTENTION_MAX_HEAD) return attention_composed(qkv, heads, scale, causal);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, zoo_shape3(b, t, c));
    zoo_tensor *stats = zoo_tensor_new(ZOO_F32, zoo_shape4(b, heads, t, 2));
    if (!y || !stats) return NULL;
    ZOO_K(attention, qkv, y, stats, heads, scale, causal);
    zoo_node *n = zoo__record("attention", y, attention_backward, 1, &qkv);
    if (n) {
        n->saved[0] = stats;
        *ZOO_NODE_PARAMS(n, attention_params) = (attention_params){heads, scale, causal};
    }
    return y;
}
