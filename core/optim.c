/* Optimizer state management around the backend's fused update kernels. */
#include "optim.h"

#include "internal.h"

#include <math.h>
#include <string.h>

zoo_optim_config zoo_optim_defaults(zoo_optim_kind kind, float lr) {
    zoo_optim_config c = {.kind = kind, .lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == ZOO_OPTIM_ADAMW) c.weight_decay = 0.01f;
    return c;
}

static const char *kind_names[] = {"sgd", "adam", "adamw"};

int zoo_optim_kind_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, kind_names[i]) == 0) return i;
    return -1;
}

const char *zoo_optim_kind_name(zoo_optim_kind kind) { return kind_names[kind]; }

int zoo_optim_no_decay(zoo_optim_config *c, unsigned kinds) {
    if (c->n_groups == ZOO_MAX_GROUPS) {
        zoo_set_error("an optimizer takes at most %d parameter groups", ZOO_MAX_GROUPS);
        return -1;
    }
    c->groups[c->n_groups++] = (zoo_param_group){.kinds = kinds, .weight_decay = 0.0f, .lr_scale = 1.0f};
    return 0;
}

int zoo_optim_decay_weights_only(zoo_optim_config *c) {
    return zoo_optim_no_decay(c, ZOO_KIND(ZOO_PARAM_BIAS) | ZOO_KIND(ZOO_PARAM_NORM) | ZOO_KIND(ZOO_PARAM_EMBEDDING));
}

int zoo_optim_decay_matrices_only(zoo_optim_config *c) {
    return zoo_optim_no_decay(c, ZOO_KIND(ZOO_PARAM_BIAS) | ZOO_KIND(ZOO_PARAM_NORM));
}

int zoo_optim_decay_parse(zoo_optim_config *c, const char *name) {
    if (strcmp(name, "all") == 0) return 0;
    if (strcmp(name, "weights") == 0) return zoo_optim_decay_weights_only(c);
    if (strcmp(name, "matrices") == 0) return zoo_optim_decay_matrices_only(c);
    zoo_set_error("weight decay applies to all, weights or matrices, not '%s'", name);
    return -1;
}

/* the learning rate and weight decay parameter p is updated with */
static void settings_of(const zoo_optim_config *c, const zoo_param *p, float *lr, float *wd) {
    *lr = c->lr;
    *wd = c->weight_decay;
    for (int g = 0; g < c->n_groups; g++)
        if (c->groups[g].kinds & ZOO_KIND(p->kind)) {
            *wd = c->groups[g].weight_decay;
            if (c->groups[g].lr_scale > 0.0f) *lr = c->lr * c->groups[g].lr_scale;
            return;
        }
}

void zoo_optim_init(zoo_optimizer *o, zoo_module *params, zoo_optim_config cfg) {
    memset(o, 0, sizeof *o);
    o->cfg = cfg;
    o->params = params;
    zoo_module_init(&o->state);
    char name[ZOO_NAME_MAX + 16];
    for (int i = 0; i < params->n; i++) {
        zoo_param *p = &params->params[i];
        if (!p->t->requires_grad) continue;
        if (cfg.kind == ZOO_OPTIM_SGD) {
            if (cfg.momentum == 0.0f) continue;
            snprintf(name, sizeof name, "%s.momentum_buffer", p->name);
            zoo_module_buffer(&o->state, name, p->t->shape);
        } else {
            snprintf(name, sizeof name, "%s.exp_avg", p->name);
            zoo_module_buffer(&o->state, name, p->t->shape);
            snprintf(name, sizeof name, "%s.exp_avg_sq", p->name);
            zoo_module_buffer(&o->state, name, p->t->shape);
        }
    }
}

void zoo_optim_free(zoo_optimizer *o) { zoo_module_free(&o->state); }

void zoo_optim_set_lr(zoo_optimizer *o, float lr) { o->cfg.lr = lr; }

static zoo_tensor *state_of(zoo_optimizer *o, const char *param, const char *suffix) {
    char name[ZOO_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.%s", param, suffix);
    zoo_tensor *t = zoo_module_find(&o->state, name);
    if (!t) zoo__error("optimizer has no state for %s (was it unfrozen after the optimizer was made?)", param);
    return t;
}

void zoo_optim_step(zoo_optimizer *o) {
    if (zoo_failed()) return; /* the gradients may be partial */
    zoo_backend *be = zoo__backend();
    o->step++;
    const zoo_optim_config *c = &o->cfg;
    for (int i = 0; i < o->params->n; i++) {
        zoo_param *p = &o->params->params[i];
        zoo_tensor *w = p->t;
        /* no gradient since zero_grad: skipped, as torch.optim skips a None .grad */
        if (!w->requires_grad || w->grad_zero) continue;
        float lr, wd;
        settings_of(c, p, &lr, &wd);
        if (c->kind == ZOO_OPTIM_SGD) {
            zoo_tensor *buf = c->momentum != 0.0f ? state_of(o, p->name, "momentum_buffer") : NULL;
            if (c->momentum != 0.0f && !buf) return;
            zoo_sgd_params sp = {.lr = lr, .momentum = c->momentum, .dampening = c->dampening,
                                 .weight_decay = wd, .nesterov = c->nesterov, .first = o->step == 1};
            be->iface.sgd_update(be->ctx, w, w->grad, buf, &sp);
        } else {
            zoo_adam_params ap = {.lr = lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                                  .weight_decay = wd, .decoupled = c->kind == ZOO_OPTIM_ADAMW,
                                  .step = o->step};
            zoo_tensor *m = state_of(o, p->name, "exp_avg"), *v = state_of(o, p->name, "exp_avg_sq");
            if (!m || !v) return;
            be->iface.adam_update(be->ctx, w, w->grad, m, v, &ap);
        }
    }
}

float zoo_clip_grad_norm(zoo_module *params, float max_norm) {
    zoo_scope_begin();
    bool old = zoo_set_grad_enabled(false);
    zoo_tensor *total = NULL;
    for (int i = 0; i < params->n; i++) {
        zoo_tensor *w = params->params[i].t;
        if (!w->requires_grad || w->grad_zero) continue;
        zoo_tensor *sq = zoo_sum_all(zoo_pow_scalar(w->grad, 2.0f));
        total = total ? zoo_add(total, sq) : sq;
    }
    float norm = total ? sqrtf(zoo_tensor_item(total)) : 0.0f;
    if (norm > max_norm) {
        float scale = max_norm / (norm + 1e-6f);
        zoo_backend *be = zoo__backend();
        for (int i = 0; i < params->n; i++) {
            zoo_tensor *w = params->params[i].t;
            if (!w->requires_grad || w->grad_zero) continue;
            be->iface.unary(be->ctx, ZOO_UNARY_AFFINE, w->grad, w->grad, scale, 0.0f);
        }
    }
    zoo_set_grad_enabled(old);
    zoo_scope_end();
    return norm;
}

static const char *sched_names[] = {"constant", "step", "cosine"};

int zoo_schedule_kind_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, sched_names[i]) == 0) return i;
    return -1;
}

float zoo_schedule_lr(const zoo_schedule *s, int64_t step) {
    if (s->warmup > 0 && step < s->warmup) return s->base_lr * (float)(step + 1) / (float)s->warmup;
    int64_t t = step - s->warmup;
    switch (s->kind) {
    case ZOO_SCHED_STEP:
        if (s->step_size <= 0) return s->base_lr;
        return s->base_lr * powf(s->gamma, (float)(t / s->step_size));
    case ZOO_SCHED_COSINE: { /* the last step, total - 1, runs at min_lr */
        int64_t span = s->total - 1 - s->warmup;
        if (span <= 0) return s->base_lr;
        double frac = (double)(t < span ? t : span) / (double)span;
        return s->min_lr + (s->base_lr - s->min_lr) * 0.5f * (float)(1.0 + cos(M_PI * frac));
    }
    default: return s->base_lr;
    }
}
