/* The tape and zoo_backward. Backward functions live next to their forward ops. */
#include "internal.h"

#include <string.h>

static zoo_node *tail;

zoo_node *zoo__tape_tail(void) { return tail; }
void zoo__tape_truncate(zoo_node *mark) { tail = mark; }

bool zoo__wants_grad(const zoo_tensor *t) { return t && t->requires_grad; }

bool zoo__needs_grad(int nin, zoo_tensor *const *in) {
    if (!zoo_grad_enabled()) return false;
    for (int i = 0; i < nin; i++)
        if (zoo__wants_grad(in[i])) return true;
    return false;
}

zoo_node *zoo__record(const char *op, zoo_tensor *out, zoo_backward_fn fn, int nin, zoo_tensor *const *in) {
    if (!out || !zoo__needs_grad(nin, in)) return NULL;
    ZOO_ASSERT(!out->persistent); /* ops write step-scoped outputs */
    zoo_node *n = zoo_scope_alloc(sizeof *n);
    zoo_tensor **ins = zoo_scope_alloc((size_t)nin * sizeof *ins);
    if (!n || !ins) return NULL;
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = fn;
    n->out = out;
    n->in = ins;
    n->nin = nin;
    for (int i = 0; i < nin; i++) n->in[i] = in[i];
    n->prev = tail;
    tail = n;
    out->node = n;
    out->requires_grad = true;
    return n;
}

zoo_tensor *zoo__grad_slot(zoo_tensor *t, float *beta) {
    if (t->persistent) {
        ZOO_ASSERT(t->grad);
        *beta = t->grad_zero ? 0.0f : 1.0f;
        t->grad_zero = false;
        return t->grad;
    }
    if (!t->grad) {
        t->grad = zoo_tensor_new(ZOO_F32, t->shape);
        t->grad_owned = true;
        *beta = 0.0f;
        return t->grad;
    }
    if (!t->grad_owned) {
        zoo_tensor *g = zoo_tensor_new(ZOO_F32, t->shape);
        if (!g) return NULL;
        zoo_copy_(g, t->grad);
        t->grad = g;
        t->grad_owned = true;
    }
    *beta = 1.0f;
    return t->grad;
}

zoo_tensor *zoo__grad_begin(zoo_tensor *t) {
    if (t->persistent && t->grad_zero) {
        t->grad_zero = false;
        return t->grad;
    }
    return zoo_tensor_new(ZOO_F32, t->shape);
}

void zoo__grad_end(zoo_tensor *t, zoo_tensor *g) {
    if (!g || g == t->grad) return;
    bool fresh = !t->persistent && !t->grad;
    zoo__grad_accumulate(t, g);
    if (fresh) t->grad_owned = true; /* made by grad_begin for t alone */
}

void zoo__grad_accumulate(zoo_tensor *t, zoo_tensor *g) {
    if (!zoo__wants_grad(t) || !g) return;
    ZOO_ASSERT(g->numel == t->numel);
    if (!t->persistent && !t->grad) {
        t->grad = g; /* shared, so never written in place */
        t->grad_owned = false;
        return;
    }
    zoo_tensor gv = *g; /* same numel; viewed with t's shape */
    gv.shape = t->shape;
    if (!t->persistent && !t->grad_owned) {
        /* a gradient shared with another tensor: the sum goes to one of t's own, in one
           pass (not a copy and then an add in place) */
        zoo_tensor *sum = zoo_tensor_new(ZOO_F32, t->shape);
        if (!sum) return;
        ZOO_K(binary, ZOO_BINARY_ADD, t->grad, &gv, sum);
        t->grad = sum;
        t->grad_owned = true;
        return;
    }
    float beta;
    zoo_tensor *slot = zoo__grad_slot(t, &beta);
    if (!slot) return;
    if (beta == 0.0f) {
        ZOO_K(unary, ZOO_UNARY_COPY, g, slot, 0, 0);
    } else {
        ZOO_K(binary, ZOO_BINARY_ADD, slot, &gv, slot);
    }
}

void zoo_zero_grad(zoo_tensor *param) {
    if (param->grad) param->grad_zero = true;
}

int zoo_backward(zoo_tensor *loss) {
    if (!zoo_tensor_check(loss, "zoo_backward")) return -1;
    if (loss->numel != 1) {
        char buf[96];
        zoo__error("zoo_backward: the loss must hold one element, got shape %s",
                   zoo_shape_str(loss->shape, buf, sizeof buf));
        return -1;
    }
    if (!loss->requires_grad || !loss->node) {
        zoo__error("zoo_backward: the loss was not computed from anything that requires grad");
        return -1;
    }
    for (zoo_node *n = tail; n; n = n->prev) n->out->grad = NULL;
    bool old = zoo_set_grad_enabled(false);
    loss->grad = zoo_tensor_full(loss->shape, 1.0f);
    loss->grad_owned = false;
    /* an op that fails on the way (out of memory) stops the pass: a partial gradient
       must not reach the optimizer */
    for (zoo_node *n = tail; n && !zoo_failed(); n = n->prev) {
        if (!n->out->grad) continue;
        n->backward(n);
    }
    zoo_set_grad_enabled(old);
    return zoo_failed() ? -1 : 0;
}
