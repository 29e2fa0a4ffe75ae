/* Losses. Most are compositions of ops (their gradients come for free); cross
 * entropy and NLL have fused kernels because they gather by label. */
#include "loss.h"

#include "internal.h"

static bool check_same(const char *op, const zoo_tensor *a, const zoo_tensor *b) {
    if (!zoo__check_f32(op, a) || !zoo__check_f32(op, b)) return false;
    if (zoo_shape_eq(a->shape, b->shape)) return true;
    zoo__shape_error(op, "prediction and target shapes differ", a, b);
    return false;
}

zoo_tensor *zoo_mse_loss(zoo_tensor *pred, zoo_tensor *target) {
    if (!check_same("mse_loss", pred, target)) return NULL;
    return zoo_mean_all(zoo_pow_scalar(zoo_sub(pred, target), 2.0f));
}

zoo_tensor *zoo_l1_loss(zoo_tensor *pred, zoo_tensor *target) {
    if (!check_same("l1_loss", pred, target)) return NULL;
    return zoo_mean_all(zoo_abs(zoo_sub(pred, target)));
}

zoo_tensor *zoo_linf_loss(zoo_tensor *pred, zoo_tensor *target) {
    if (!check_same("linf_loss", pred, target)) return NULL;
    return zoo_max_all(zoo_abs(zoo_sub(pred, target)));
}

zoo_tensor *zoo_bce_with_logits(zoo_tensor *x, zoo_tensor *t) {
    if (!check_same("bce_with_logits", x, t)) return NULL;
    zoo_tensor *softplus = zoo_log(zoo_add_scalar(zoo_exp(zoo_neg(zoo_abs(x))), 1.0f));
    return zoo_mean_all(zoo_add(zoo_sub(zoo_relu(x), zoo_mul(x, t)), softplus));
}

static bool check_labels(const char *op, const zoo_tensor *scores, const zoo_tensor *labels) {
    if (!zoo_tensor_check(scores, op) || !zoo_tensor_check(labels, op)) return false;
    const char *bad = NULL;
    if (scores->dtype != ZOO_F32 || scores->shape.ndim != 2) bad = "expects float scores [n, classes]";
    else if (labels->dtype != ZOO_I32 || labels->numel != scores->shape.d[0]) bad = "expects int32 labels [n]";
    if (bad) zoo__shape_error(op, bad, scores, labels);
    return !bad;
}

/* per-row losses -> their mean; the backward scales by 1/n */
static zoo_tensor *mean_rows(zoo_tensor *losses) { return zoo_mean_all(losses); }

static void nll_backward(zoo_node *n) {
    zoo_tensor *logp = n->in[0], *d = zoo__grad_begin(logp);
    if (!d) return;
    ZOO_K(nll_backward, n->saved[0], n->out->grad, d);
    zoo__grad_end(logp, d);
}

zoo_tensor *zoo_nll_loss(zoo_tensor *logp, zoo_tensor *labels) {
    if (!check_labels("nll_loss", logp, labels)) return NULL;
    zoo_tensor *losses = zoo_tensor_new(ZOO_F32, zoo_shape1(logp->shape.d[0]));
    if (!losses) return NULL;
    ZOO_K(nll, logp, labels, losses);
    zoo_node *n = zoo__record("nll_loss", losses, nll_backward, 1, &logp);
    if (n) n->saved[0] = labels;
    return mean_rows(losses);
}

static void cross_entropy_backward(zoo_node *n) {
    zoo_tensor *x = n->in[0], *d = zoo__grad_begin(x);
    if (!d) return;
    ZOO_K(cross_entropy_backward, n->saved[0], n->saved[1], n->out->grad, d);
    zoo__grad_end(x, d);
}

zoo_tensor *zoo_cross_entropy(zoo_tensor *logits, zoo_tensor *labels) {
    if (!check_labels("cross_entropy", logits, labels)) return NULL;
    zoo_tensor *logp = zoo_tensor_new(ZOO_F32, logits->shape);
    zoo_tensor *losses = zoo_tensor_new(ZOO_F32, zoo_shape1(logits->shape.d[0]));
    if (!logp || !losses) return NULL;
    ZOO_K(softmax, logits, logp, true);
    ZOO_K(nll, logp, labels, losses);
    zoo_node *n = zoo__record("cross_entropy", losses, cross_entropy_backward, 1, &logits);
    if (n) {
        n->saved[0] = logp;
        n->saved[1] = labels;
    }
    return mean_rows(losses);
}

static zoo_tensor *penalty(const char *op, zoo_tensor *const *params, int n, bool l2) {
    if (n < 1) {
        zoo__error("%s: no tensors given", op);
        return NULL;
    }
    zoo_tensor *total = NULL;
    for (int i = 0; i < n; i++) {
        zoo_tensor *p = params[i];
        zoo_tensor *term = zoo_sum_all(l2 ? zoo_pow_scalar(p, 2.0f) : zoo_abs(p));
        total = total ? zoo_add(total, term) : term;
    }
    return total;
}

zoo_tensor *zoo_l2_penalty(zoo_tensor *const *params, int n) { return penalty("l2_penalty", params, n, true); }
zoo_tensor *zoo_l1_penalty(zoo_tensor *const *params, int n) { return penalty("l1_penalty", params, n, false); }
