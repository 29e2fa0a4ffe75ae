/* Optimizers, gradient clipping and learning-rate schedules against naive references
 * of torch.optim's formulas written here in double precision. */
#include "test.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "core/nn.h"
#include "core/optim.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <string.h>

/* ---------------------------------------------------------------- the setup */

/* two trainable tensors of different shapes and one frozen one */
#define NA 12
#define NB 5
#define NF 3
#define NP (NA + NB)

typedef struct fixture {
    zoo_module m;
    zoo_tensor *a, *b, *frozen;
} fixture;

static void fixture_init(fixture *f, float w[NP]) {
    zoo_module_init(&f->m);
    f->a = zoo_module_param(&f->m, "layer.a", zoo_shape2(3, 4));
    f->b = zoo_module_param(&f->m, "layer.b", zoo_shape1(NB));
    f->frozen = zoo_module_param(&f->m, "frozen", zoo_shape1(NF));
    for (int i = 0; i < NP; i++) w[i] = 0.8f * sinf(1.3f * (float)i + 0.4f) + (i % 2 ? 0.3f : -0.2f);
    float fz[NF] = {1, 2, 3};
    zoo_tensor_upload(f->a, w);
    zoo_tensor_upload(f->b, w + NA);
    zoo_tensor_upload(f->frozen, fz);
    zoo_module_freeze(&f->m, "frozen");
}

/* the gradient of step t: fixed values that change every step, none near 0 */
static float grad_at(int t, int i) {
    float g = 0.5f + 0.4f * cosf(0.7f * (float)t + 0.9f * (float)i);
    return (i + t) % 3 == 0 ? -g : g;
}

/* sets every trainable gradient to grad_at(t, .) through an ordinary backward:
 * d/dw sum(w * g) = g exactly */
static void backward_step(fixture *f, int t) {
    float ga[NA], gb[NB], gf[NF] = {1, 1, 1};
    for (int i = 0; i < NA; i++) ga[i] = grad_at(t, i);
    for (int i = 0; i < NB; i++) gb[i] = grad_at(t, NA + i);
    zoo_scope_begin();
    zoo_module_zero_grad(&f->m);
    zoo_tensor *la = zoo_sum_all(zoo_mul(f->a, zoo_tensor_from_host(f->a->shape, ga)));
    zoo_tensor *lb = zoo_sum_all(zoo_mul(f->b, zoo_tensor_from_host(f->b->shape, gb)));
    zoo_tensor *lf = zoo_sum_all(zoo_mul(f->frozen, zoo_tensor_from_host(f->frozen->shape, gf)));
    zoo_backward(zoo_add(zoo_add(la, lb), lf));
    zoo_scope_end();
}

static void expect_params(const char *what, int step, fixture *f, const double want[NP], double tol) {
    float got[NP], fz[NF];
    zoo_tensor_download(f->a, got);
    zoo_tensor_download(f->b, got + NA);
    zoo_tensor_download(f->frozen, fz);
    int bad = 0, first = -1;
    for (int i = 0; i < NP; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])))) {
            if (first < 0) first = i;
            bad++;
        }
    test_checks++;
    if (bad) {
        test_failures++;
        fprintf(stderr, "check failed: %s, step %d: %d of %d weights differ, first [%d]: got %.9g, want %.9g\n", what,
                step, bad, NP, first, got[first], want[first]);
    }
    CHECK(fz[0] == 1.0f && fz[1] == 2.0f && fz[2] == 3.0f); /* frozen: untouched */
}

/* ---------------------------------------------------------------- references */

/* weight i's learning rate and weight decay: "layer.a" is a matrix (a WEIGHT), "layer.b"
 * a vector (a BIAS); the first parameter group that names the kind applies */
static void ref_settings(const zoo_optim_config *c, int i, double *lr, double *wd) {
    zoo_param_kind kind = i < NA ? ZOO_PARAM_WEIGHT : ZOO_PARAM_BIAS;
    *lr = c->lr;
    *wd = c->weight_decay;
    for (int k = 0; k < c->n_groups; k++)
        if (c->groups[k].kinds & (1u << kind)) {
            *wd = c->groups[k].weight_decay;
            if (c->groups[k].lr_scale > 0) *lr = (double)(c->lr * c->groups[k].lr_scale);
            return;
        }
}

/* torch.optim.SGD, one step: buf is the momentum buffer, t the 1-based step */
static void ref_sgd(const zoo_optim_config *c, int t, double *w, const double *g, double *buf) {
    for (int i = 0; i < NP; i++) {
        double d = g[i], lr, wd;
        ref_settings(c, i, &lr, &wd);
        if (wd != 0) d += wd * w[i];
        if (c->momentum != 0) {
            buf[i] = t == 1 ? d : (double)c->momentum * buf[i] + (1.0 - (double)c->dampening) * d;
            d = c->nesterov ? d + (double)c->momentum * buf[i] : buf[i];
        }
        w[i] -= lr * d;
    }
}

/* torch.optim.Adam / AdamW (amsgrad off), one step */
static void ref_adam(const zoo_optim_config *c, int t, double *w, const double *g, double *m, double *v) {
    double b1 = c->beta1, b2 = c->beta2;
    for (int i = 0; i < NP; i++) {
        double d = g[i], lr, wd;
        ref_settings(c, i, &lr, &wd);
        if (c->kind == ZOO_OPTIM_ADAMW) w[i] *= 1.0 - lr * wd;
        else d += wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * d;
        v[i] = b2 * v[i] + (1 - b2) * d * d;
        double mhat = m[i] / (1 - pow(b1, t)), denom = sqrt(v[i]) / sqrt(1 - pow(b2, t)) + c->eps;
        w[i] -= lr * mhat / denom;
    }
}

/* runs steps updates of zoo's optimizer and of the reference side by side */
static void run_against_reference(const char *what, zoo_optim_config cfg, int steps) {
    fixture f;
    float w0[NP];
    fixture_init(&f, w0);
    zoo_optimizer o;
    zoo_optim_init(&o, &f.m, cfg);
    CHECK(zoo_module_find(&o.state, "frozen.exp_avg") == NULL);
    CHECK(zoo_module_find(&o.state, "frozen.momentum_buffer") == NULL);
    double w[NP], g[NP], s1[NP] = {0}, s2[NP] = {0};
    for (int i = 0; i < NP; i++) w[i] = w0[i];
    for (int t = 1; t <= steps; t++) {
        backward_step(&f, t);
        zoo_optim_step(&o);
        for (int i = 0; i < NP; i++) g[i] = grad_at(t, i);
        if (cfg.kind == ZOO_OPTIM_SGD) ref_sgd(&cfg, t, w, g, s1);
        else ref_adam(&cfg, t, w, g, s1, s2);
        expect_params(what, t, &f, w, 2e-6);
    }
    CHECK(o.step == steps);
    zoo_optim_free(&o);
    zoo_module_free(&f.m);
}

/* ---------------------------------------------------------------- optimizers */

TEST(defaults_are_pytorchs) {
    zoo_optim_config adam = zoo_optim_defaults(ZOO_OPTIM_ADAM, 1e-3f), adamw = zoo_optim_defaults(ZOO_OPTIM_ADAMW, 1e-3f);
    CHECK(adam.beta1 == 0.9f && adam.beta2 == 0.999f && adam.eps == 1e-8f && adam.weight_decay == 0.0f);
    CHECK(adamw.weight_decay == 0.01f && adamw.lr == 1e-3f);
    CHECK(zoo_optim_kind_parse("sgd") == ZOO_OPTIM_SGD && zoo_optim_kind_parse("adamw") == ZOO_OPTIM_ADAMW);
    CHECK(zoo_optim_kind_parse("lion") == -1);
    CHECK(strcmp(zoo_optim_kind_name(ZOO_OPTIM_ADAM), "adam") == 0);
}

TEST(sgd_plain_step_is_w_minus_lr_g) {
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_SGD, 0.1f);
    run_against_reference("sgd, 1 step", c, 1);
    run_against_reference("sgd, 6 steps", c, 6);
}

TEST(sgd_momentum_follows_torch_including_the_first_step) {
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_SGD, 0.05f);
    c.momentum = 0.9f;
    run_against_reference("sgd momentum 0.9, 1 step", c, 1);
    run_against_reference("sgd momentum 0.9, 6 steps", c, 6);
    c.dampening = 0.3f;
    run_against_reference("sgd momentum 0.9 dampening 0.3, 6 steps", c, 6);
}

TEST(sgd_nesterov_follows_torch) {
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_SGD, 0.05f);
    c.momentum = 0.8f;
    c.nesterov = true;
    run_against_reference("sgd nesterov, 1 step", c, 1);
    run_against_reference("sgd nesterov, 6 steps", c, 6);
}

TEST(sgd_weight_decay_is_added_to_the_gradient) {
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_SGD, 0.1f);
    c.weight_decay = 0.05f;
    run_against_reference("sgd weight decay, 6 steps", c, 6);
    c.momentum = 0.9f;
    run_against_reference("sgd momentum + weight decay, 6 steps", c, 6);
}

TEST(adam_follows_torch_with_bias_correction) {
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_ADAM, 0.01f);
    run_against_reference("adam, 1 step", c, 1);
    run_against_reference("adam, 8 steps", c, 8);
    c.beta1 = 0.5f;
    c.beta2 = 0.9f;
    c.eps = 1e-3f;
    run_against_reference("adam betas (0.5, 0.9) eps 1e-3, 8 steps", c, 8);
    c = zoo_optim_defaults(ZOO_OPTIM_ADAM, 0.01f);
    c.weight_decay = 0.1f;
    run_against_reference("adam with L2 weight decay, 8 steps", c, 8);
}

TEST(adamw_decays_the_weights_not_the_gradient) {
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_ADAMW, 0.01f);
    run_against_reference("adamw default decay 0.01, 1 step", c, 1);
    c.weight_decay = 0.2f;
    run_against_reference("adamw decay 0.2, 8 steps", c, 8);
}

TEST(parameter_groups_set_weight_decay_and_lr_by_kind) {
    /* nanoGPT's AdamW: the matrix decays, the vector does not */
    zoo_optim_config c = zoo_optim_defaults(ZOO_OPTIM_ADAMW, 0.01f);
    c.weight_decay = 0.3f;
    CHECK(zoo_optim_decay_weights_only(&c) == 0 && c.n_groups == 1);
    run_against_reference("adamw, decay on weights only, 8 steps", c, 8);
    /* SGD with its own settings for vectors: half the lr, more decay */
    c = zoo_optim_defaults(ZOO_OPTIM_SGD, 0.1f);
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    c.groups[c.n_groups++] = (zoo_param_group){.kinds = ZOO_KIND(ZOO_PARAM_BIAS), .weight_decay = 0.2f, .lr_scale = 0.5f};
    run_against_reference("sgd, a group for vectors, 6 steps", c, 6);
    /* the layers say what their parameters are */
    zoo_module m;
    zoo_module_init(&m);
    zoo_rng r = zoo_rng_new(1);
    zoo_linear_layer fc = zoo_linear_new(&m, "fc", 3, 2, true, &r);
    zoo_batchnorm2d_layer bn = zoo_batchnorm2d_new(&m, "bn", 2);
    zoo_embedding_layer emb = zoo_embedding_new(&m, "emb", 5, 3, &r);
    zoo_param_kind want[] = {ZOO_PARAM_WEIGHT, ZOO_PARAM_BIAS, ZOO_PARAM_NORM, ZOO_PARAM_NORM,
                             ZOO_PARAM_BUFFER, ZOO_PARAM_BUFFER, ZOO_PARAM_EMBEDDING};
    CHECK(m.n == 7);
    for (int i = 0; i < m.n && i < 7; i++) CHECK(m.params[i].kind == want[i]);
    CHECK(fc.weight == m.params[0].t && bn.weight == m.params[2].t && emb.weight == m.params[6].t);
    /* nanoGPT's own rule keeps the embedding in; names select the presets */
    zoo_optim_config p = zoo_optim_defaults(ZOO_OPTIM_ADAMW, 1e-3f);
    CHECK(zoo_optim_decay_parse(&p, "matrices") == 0 && p.n_groups == 1);
    CHECK(p.groups[0].kinds == (ZOO_KIND(ZOO_PARAM_BIAS) | ZOO_KIND(ZOO_PARAM_NORM)));
    CHECK(zoo_optim_decay_parse(&p, "all") == 0 && p.n_groups == 1);
    CHECK(zoo_optim_decay_parse(&p, "weights") == 0 && p.n_groups == 2);
    CHECK(p.groups[1].kinds & ZOO_KIND(ZOO_PARAM_EMBEDDING));
    CHECK(zoo_optim_decay_parse(&p, "biases") == -1 && strstr(zoo_last_error(), "'biases'"));
    /* every group full: a clear error */
    for (int i = c.n_groups; i < ZOO_MAX_GROUPS; i++) CHECK(zoo_optim_decay_weights_only(&c) == 0);
    CHECK(zoo_optim_decay_weights_only(&c) == -1 && strstr(zoo_last_error(), "parameter groups"));
    zoo_module_free(&m);
}

/* ---------------------------------------------------------------- gradient clipping */

TEST(clip_grad_norm_returns_the_norm_and_scales_to_max_norm) {
    fixture f;
    float w0[NP];
    fixture_init(&f, w0);
    double sq = 0;
    for (int i = 0; i < NP; i++) sq += (double)grad_at(1, i) * grad_at(1, i);
    double norm = sqrt(sq);

    /* below the limit: nothing changes */
    backward_step(&f, 1);
    float n1 = zoo_clip_grad_norm(&f.m, (float)norm * 2);
    CHECK_NEAR(n1, norm, 1e-5 * norm);
    float ga[NA], gb[NB];
    zoo_tensor_download(f.a->grad, ga);
    zoo_tensor_download(f.b->grad, gb);
    for (int i = 0; i < NA; i++) CHECK(ga[i] == grad_at(1, i));

    /* above it: every gradient scaled by max_norm / norm, the frozen one ignored */
    float max_norm = 0.75f;
    float n2 = zoo_clip_grad_norm(&f.m, max_norm);
    CHECK_NEAR(n2, norm, 1e-5 * norm);
    zoo_tensor_download(f.a->grad, ga);
    zoo_tensor_download(f.b->grad, gb);
    double after = 0;
    int bad = 0;
    for (int i = 0; i < NP; i++) {
        double got = i < NA ? ga[i] : gb[i - NA], want = grad_at(1, i) * max_norm / norm;
        after += got * got;
        if (fabs(got - want) > 1e-5 * (1 + fabs(want))) bad++;
    }
    CHECK(bad == 0);
    CHECK_NEAR(sqrt(after), max_norm, 1e-5);
    CHECK_NEAR(zoo_clip_grad_norm(&f.m, 10.0f), max_norm, 1e-5);

    /* after zero_grad there is no gradient: norm 0 */
    zoo_module_zero_grad(&f.m);
    CHECK(zoo_clip_grad_norm(&f.m, 1.0f) == 0.0f);
    zoo_module_free(&f.m);
}

/* ---------------------------------------------------------------- schedules */

TEST(constant_schedule_holds_the_base_rate_after_warmup) {
    zoo_schedule s = {.kind = ZOO_SCHED_CONSTANT, .base_lr = 0.1f};
    CHECK_NEAR(zoo_schedule_lr(&s, 0), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 17), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 100000), 0.1, 1e-8);
    /* linear warmup over 4 steps: step k gives base * (k + 1) / 4 */
    s.warmup = 4;
    CHECK_NEAR(zoo_schedule_lr(&s, 0), 0.025, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 1), 0.05, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 2), 0.075, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 3), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 4), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 50), 0.1, 1e-8);
}

TEST(step_schedule_multiplies_by_gamma_every_step_size_steps) {
    zoo_schedule s = {.kind = ZOO_SCHED_STEP, .base_lr = 0.1f, .step_size = 10, .gamma = 0.5f};
    CHECK_NEAR(zoo_schedule_lr(&s, 0), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 9), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 10), 0.05, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 19), 0.05, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 25), 0.025, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 40), 0.00625, 1e-9);
    /* with warmup 5 the steps count from the end of warmup */
    s.warmup = 5;
    CHECK_NEAR(zoo_schedule_lr(&s, 0), 0.02, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 4), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 14), 0.1, 1e-8);
    CHECK_NEAR(zoo_schedule_lr(&s, 15), 0.05, 1e-8);
}

TEST(cosine_schedule_warms_up_then_decays_to_min_lr) {
    /* warmup 10, cosine from step 10 to step 110 between 1.0 and 0.1: a run of 111 steps,
       whose last runs at min_lr */
    zoo_schedule s = {.kind = ZOO_SCHED_COSINE, .base_lr = 1.0f, .min_lr = 0.1f, .warmup = 10, .total = 111};
    CHECK_NEAR(zoo_schedule_lr(&s, 0), 0.1, 1e-6);  /* 1/10 */
    CHECK_NEAR(zoo_schedule_lr(&s, 4), 0.5, 1e-6);  /* 5/10 */
    CHECK_NEAR(zoo_schedule_lr(&s, 9), 1.0, 1e-6);  /* 10/10 */
    CHECK_NEAR(zoo_schedule_lr(&s, 10), 1.0, 1e-6); /* cos(0) */
    CHECK_NEAR(zoo_schedule_lr(&s, 35), 0.1 + 0.45 * (1 + 0.70710678118654752), 1e-6); /* a quarter in */
    CHECK_NEAR(zoo_schedule_lr(&s, 60), 0.55, 1e-6); /* halfway: the midpoint */
    CHECK_NEAR(zoo_schedule_lr(&s, 85), 0.1 + 0.45 * (1 - 0.70710678118654752), 1e-6);
    CHECK_NEAR(zoo_schedule_lr(&s, 110), 0.1, 1e-6); /* the end */
    CHECK_NEAR(zoo_schedule_lr(&s, 500), 0.1, 1e-6); /* and it stays there */
    float prev = 2.0f;
    bool decreasing = true;
    for (int64_t t = 10; t <= 110; t++) {
        float lr = zoo_schedule_lr(&s, t);
        if (lr > prev) decreasing = false;
        prev = lr;
    }
    CHECK(decreasing);
    CHECK(zoo_schedule_kind_parse("cosine") == ZOO_SCHED_COSINE && zoo_schedule_kind_parse("linear") == -1);
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(defaults_are_pytorchs);
    RUN(sgd_plain_step_is_w_minus_lr_g);
    RUN(sgd_momentum_follows_torch_including_the_first_step);
    RUN(sgd_nesterov_follows_torch);
    RUN(sgd_weight_decay_is_added_to_the_gradient);
    RUN(adam_follows_torch_with_bias_correction);
    RUN(adamw_decays_the_weights_not_the_gradient);
    RUN(parameter_groups_set_weight_decay_and_lr_by_kind);
    RUN(clip_grad_norm_returns_the_norm_and_scales_to_max_norm);
    RUN(constant_schedule_holds_the_base_rate_after_warmup);
    RUN(step_schedule_multiplies_by_gamma_every_step_size_steps);
    RUN(cosine_schedule_warms_up_then_decays_to_min_lr);
    zoo_shutdown();
    TEST_EXIT();
}
