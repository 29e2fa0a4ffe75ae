/* Layer norm and group norm (core/ops.h's zoo_layer_norm, zoo_group_norm): argument
 * checks, the kernel calls and the backward. Both are one kernel, backend.h's layernorm
 * (group norm's rows are a sample's groups of channels, its parameters per channel);
 * the arithmetic lives in the backends, and this file never touches tensor data. */
#include "internal.h"

#include <stdio.h>

/* the node's parameter area: the groups (0: layer norm); the backward reads the saved
 * mean and rstd, not eps */
typedef struct layer_norm_params {
    int64_t groups;
} layer_norm_params;

static void layer_norm_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    zoo_tensor *dx = zoo__wants_grad(x) ? zoo__grad_begin(x) : NULL;
    zoo_tensor *dgamma = zoo__wants_grad(gamma) ? zoo__grad_begin(gamma) : NULL;
    zoo_tensor *dbeta = zoo__wants_grad(beta) ? zoo__grad_begin(beta) : NULL;
    if (zoo_failed()) return;
    int64_t groups = ZOO_NODE_PARAMS(n, layer_norm_params)->groups;
    ZOO_K(layernorm_backward, x, groups, n->out->grad, gamma, n->saved[0], n->saved[1], dx, dgamma, dbeta);
    if (dx) zoo__grad_end(x, dx);
    if (dgamma) zoo__grad_end(gamma, dgamma);
    if (dbeta) zoo__grad_end(beta, dbeta);
}

/* weight or bias: NULL, or float32 [d] */
static bool check_row_vector(const char *what, const zoo_tensor *x, const zoo_tensor *v) {
    if (!v) return true;
    if (!zoo__check_f32("layer_norm", v)) return false;
    if (v->shape.ndim == 1 && v->numel == x->shape.d[x->shape.ndim - 1]) return true;
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be [d], d the last dim of x", what);
    zoo__shape_error("layer_norm", msg, x, v);
    return false;
}

/* the kernel call and the node, once the arguments are checked: the rows of x
 * normalized, rows as backend.h's layernorm counts them (groups 0: layer norm's rows
 * over the last dim; else a sample's groups of channels) */
static zoo_tensor *normalize_rows(const char *op, zoo_tensor *x, int64_t groups, zoo_tensor *weight, zoo_tensor *bias,
                                  float eps) {
    zoo_shape rs = zoo_shape1(groups ? x->shape.d[0] * groups : x->numel / x->shape.d[x->shape.ndim - 1]);
    zoo_tensor *y = zoo_tensor_new(ZOO_F32, x->shape);
    zoo_tensor *mean = zoo_tensor_new(ZOO_F32, rs), *rstd = zoo_tensor_new(ZOO_F32, rs);
    if (!y || !mean || !rstd) return NULL;
    ZOO_K(layernorm, x, groups, weight, bias, y, mean, rstd, eps);
    zoo_tensor *in[3] = {x, weight, bias};
    zoo_node *n = zoo__record(op, y, layer_norm_backward, 3, in);
    if (n) {
        n->saved[0] = mean;
        n->saved[1] = rstd;
        ZOO_NODE_PARAMS(n, layer_norm_params)->groups = groups;
    }
    return y;
}

zoo_tensor *zoo_layer_norm(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, float eps) {
    const char *op = "layer_norm";
    if (!zoo__check_f32(op, x)) return NULL;
    if (x->shape.ndim < 1) {
        zoo__shape_error(op, "expects x [..., d]", x, NULL);
        return NULL;
    }
    if (!check_row_vector("weight", x, weight) || !check_row_vector("bias", x, bias)) return NULL;
    if (!(eps > 0.0f)) {
        zoo__error("%s: eps must be positive, got %g", op, (double)eps);
        return NULL;
    }
    return normalize_rows(op, x, 0, weight, bias, eps);
}

/* ---------------------------------------------------------------- group norm */

/* weight or bias: NULL, or float32 [C] */
static bool check_channels(const char *what, const zoo_tensor *x, const zoo_tensor *v) {
    if (!v) return true;
    if (!zoo__check_f32("group_norm", v)) return false;
    if (v->shape.ndim == 1 && v->numel == x->shape.d[1]) return true;
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be [C], C the channels (dim 1) of x", what);
    zoo__shape_error("group_norm", msg, x, v);
    return false;
}

zoo_tensor *zoo_group_norm(zoo_tensor *x, int groups, zoo_tensor *weight, zoo_tensor *bias, float eps) {
    const char *op = "group_norm";
    if (!zoo__check_f32(op, x)) return NULL;
    if (x->shape.ndim < 2) {
        zoo__shape_error(op, "expects x [N, C, ...]", x, NULL);
        return NULL;
    }
    int64_t c = x->shape.d[1];
    if (groups < 1 || c % groups != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "%lld channels do not split into %d groups", (long long)c, groups);
        zoo__shape_error(op, msg, x, NULL);
        return NULL;
    }
    if (!check_channels("weight", x, weight) || !check_channels("bias", x, bias)) return NULL;
    if (!(eps > 0.0f)) {
        zoo__error("%s: eps must be positive, got %g", op, (double)eps);
        return NULL;
    }
    /* one row per (sample, group): its channels are consecutive in memory */
    return normalize_rows(op, x, groups, weight, bias, eps);
}
