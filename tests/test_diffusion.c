/* The diffusion model: its noise schedules against closed forms; its samplers, driven by
 * the exact noise predictor of a Gaussian toy dataset, against the law they must draw;
 * DDIM with eta 1 over all 1000 steps against the posterior variances; determinism; the
 * model learning on a Fashion-MNIST subset; and clear errors for bad settings. */
#include "test.h"

#include "core/internal.h"
#include "models/diffusion/diffusion.h"
#include "models/registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T ZOO_DIFFUSION_STEPS

/* ---------------------------------------------------------------- schedules */

TEST(linear_schedule_matches_its_closed_form) {
    double beta[T], abar[T];
    zoo_diffusion_schedule(false, beta, abar);
    double worst = 0.0, log_prod = 0.0;
    for (int t = 0; t < T; t++) {
        double want = 1e-4 + (0.02 - 1e-4) * t / 999.0;
        worst = fmax(worst, fabs(beta[t] - want));
        log_prod += log1p(-want); /* abar as a sum of logs: another route to the product */
        worst = fmax(worst, fabs(abar[t] - exp(log_prod)) / abar[t] * 1e-3);
    }
    CHECK(worst < 1e-15);
    /* PyTorch: torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=float64), 0) */
    CHECK(fabs(abar[0] - 0.9999) < 1e-15);
    CHECK(fabs(abar[499] - 0.07858724288177824) < 1e-12);
    CHECK(fabs(abar[999] - 4.035829765375676e-05) < 1e-15);
}

TEST(cosine_schedule_matches_its_closed_form) {
    double beta[T], abar[T];
    zoo_diffusion_schedule(true, beta, abar);
    double f0 = cos(0.008 / 1.008 * M_PI / 2), worst = 0.0;
    for (int t = 0; t < T; t++) {
        double f = cos(((t + 1.0) / T + 0.008) / 1.008 * M_PI / 2) / f0;
        CHECK(beta[t] > 0.0 && beta[t] <= 0.999);
        if (beta[t] < 0.999) worst = fmax(worst, fabs(abar[t] - f * f)); /* before the clip */
    }
    printf("  cosine abar against f(t + 1)^2 / f(0)^2: worst %.1e\n", worst);
    CHECK(worst < 1e-12);
    CHECK(beta[T - 1] == 0.999); /* the last step is clipped */
}

/* ---------------------------------------------------------------- samplers */

/* The Gaussian toy data: every pixel of x0 ~ N(MU, S^2), independently. Then x_t ~
 * N(sqrt(abar) MU, abar S^2 + 1 - abar), and the best noise prediction is E[eps | x_t] =
 * sqrt(1 - abar) (x_t - sqrt(abar) MU) / (abar S^2 + 1 - abar): with it, a sampler that
 * is right draws x0 ~ N(MU, S^2) again. */
#define MU 0.3
#define S 0.5

typedef struct oracle {
    const double *abar;
    int calls;
} oracle;

static zoo_tensor *oracle_eps(void *ctx, zoo_tensor *x, int t) {
    oracle *o = ctx;
    o->calls++;
    double ab = o->abar[t], c = sqrt(1.0 - ab) / (ab * S * S + 1.0 - ab);
    return zoo_affine(x, (float)c, (float)(-c * sqrt(ab) * MU));
}

/* runs a sampler from x_T ~ N(0, 1) over n values; their mean and standard deviation */
static int sample_stats(const zoo_image_sampling *s, int64_t n, uint64_t seed, double *mean, double *sd, int *calls) {
    double beta[T], abar[T];
    zoo_diffusion_schedule(false, beta, abar);
    zoo_tensor *x = zoo_tensor_new_persistent(ZOO_F32, zoo_shape4(n, 1, 1, 1));
    zoo_rng rng = zoo_rng_new(seed);
    zoo_rng_normal(&rng, x, 0.0f, 1.0f);
    oracle o = {abar, 0};
    int rc = zoo_diffusion_sample(beta, abar, x, s, &rng, oracle_eps, NULL, &o);
    float *v = malloc((size_t)n * sizeof *v);
    zoo_tensor_download(x, v);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) sum += v[i];
    *mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) sq += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(sq / (double)(n - 1));
    *calls = o.calls;
    free(v);
    zoo_tensor_free(x);
    return rc;
}

TEST(every_sampler_draws_the_toy_data_law_with_the_exact_noise_predictor) {
    /* 40000 draws: the mean's standard error is S / 200 = 0.0025, the sd's about 0.0018 */
    const struct {
        zoo_image_sampling s;
        int calls;
        double tol; /* DDIM's 50 steps add their discretization error: sd 0.47 here */
    } cases[] = {
        {{.sampler = "ddpm"}, 1000, 0.012},
        {{.sampler = "ddim", .steps = 1000, .eta = 1.0f}, 1000, 0.012},
        {{.sampler = "ddim", .steps = 50}, 50, 0.04},
        {{.sampler = "ddim", .steps = 50, .eta = 0.5f}, 50, 0.04},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double mean, sd;
        int calls;
        CHECK(sample_stats(&cases[i].s, 40000, 3, &mean, &sd, &calls) == 0);
        printf("  %s, %lld steps, eta %.1f: mean %.4f sd %.4f (the law: %.1f, %.1f), %d predictions\n",
               cases[i].s.sampler, (long long)(cases[i].s.steps ? cases[i].s.steps : 1000), (double)cases[i].s.eta,
               mean, sd, MU, S, calls);
        CHECK(fabs(mean - MU) < cases[i].tol && fabs(sd - S) < cases[i].tol);
        CHECK(calls == cases[i].calls);
    }
}

/* With no noise predicted, DDIM with eta 1 over all 1000 steps only scales x by
 * sqrt(abar_{t-1} / abar_t) and adds sigma_t z at each step: from x_T = 0, x_0's variance
 * follows v <- v abar_{t-1} / abar_t + sigma_t^2 with sigma_t^2 the posterior variance
 * (1 - abar_{t-1}) / (1 - abar_t) beta_t. */
static zoo_tensor *zero_eps(void *ctx, zoo_tensor *x, int t) {
    (void)ctx, (void)t;
    return zoo_tensor_zeros(ZOO_F32, x->shape);
}

TEST(ddim_with_eta_1_adds_the_posterior_variance_at_each_step) {
    double beta[T], abar[T];
    zoo_diffusion_schedule(false, beta, abar);
    double var = 0.0; /* the variance after each step, from t = 999 down */
    for (int t = T - 1; t >= 0; t--) {
        double prev = t > 0 ? abar[t - 1] : 1.0;
        double sigma2 = (1.0 - prev) / (1.0 - abar[t]) * beta[t];
        var = var * prev / abar[t] + sigma2;
    }
    int64_t n = 40000;
    zoo_tensor *x = zoo_tensor_zeros(ZOO_F32, zoo_shape1(n));
    zoo_tensor *xp = zoo_tensor_new_persistent(ZOO_F32, zoo_shape4(n, 1, 1, 1));
    zoo_copy_(xp, x);
    zoo_rng rng = zoo_rng_new(9);
    zoo_image_sampling s = {.sampler = "ddim", .steps = T, .eta = 1.0f};
    CHECK(zoo_diffusion_sample(beta, abar, xp, &s, &rng, zero_eps, NULL, NULL) == 0);
    float *v = malloc((size_t)n * sizeof *v);
    zoo_tensor_download(xp, v);
    double sq = 0;
    for (int64_t i = 0; i < n; i++) sq += (double)v[i] * v[i];
    double got = sq / (double)n;
    printf("  variance %.5f, the posterior variances give %.5f\n", got, var);
    CHECK(fabs(got - var) / var < 0.02); /* standard error about 0.7% */
    free(v);
    zoo_tensor_free(xp);
}

TEST(bad_sampler_settings_are_refused) {
    double beta[T], abar[T];
    zoo_diffusion_schedule(false, beta, abar);
    zoo_tensor *x = zoo_tensor_new_persistent(ZOO_F32, zoo_shape4(2, 1, 1, 1));
    zoo_rng rng = zoo_rng_new(1);
    const struct {
        zoo_image_sampling s;
        const char *msg;
    } bad[] = {
        {{.sampler = "euler"}, "unknown sampler 'euler'"},
        {{.sampler = "ddpm", .steps = 50}, "the DDPM sampler runs all 1000 steps"},
        {{.sampler = "ddim", .steps = 1001}, "DDIM takes 1 to 1000 steps, got 1001"},
        {{.sampler = "ddim", .steps = -3}, "DDIM takes 1 to 1000 steps, got -3"},
        {{.sampler = "ddim", .eta = 1.5f}, "--eta must be from 0 to 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zoo_clear_error();
        oracle o = {abar, 0};
        CHECK(zoo_diffusion_sample(beta, abar, x, &bad[i].s, &rng, oracle_eps, NULL, &o) == -1);
        CHECK(strstr(zoo_last_error(), bad[i].msg) != NULL);
        CHECK(o.calls == 0);
    }
    zoo_clear_error();
    zoo_tensor_free(x);
}

/* ---------------------------------------------------------------- the model */

static zoo_model *make_model(const zoo_model_def *def, const char *channels, const char *mults, uint64_t seed) {
    zoo_model_args args = {.c = 1, .h = 28, .w = 28, .n_classes = 10, .seed = seed};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    if (channels) args.options[0] = channels;
    if (mults) args.options[1] = mults;
    args.optim = zoo_model_default_optim(def);
    return def->create(&args);
}

static float *draw(const zoo_model_def *def, zoo_model *m, const zoo_image_sampling *s, uint64_t seed, int n) {
    zoo_rng rng = zoo_rng_new(seed);
    zoo_scope_begin();
    zoo_tensor *x = def->generate(m, n, s, &rng);
    float *v = x ? malloc((size_t)x->numel * sizeof *v) : NULL;
    if (v) zoo_tensor_download(x, v);
    zoo_scope_end();
    return v;
}

TEST(the_model_learns_and_samples_deterministically) {
    const zoo_model_def *def = zoo_model_lookup("diffusion");
    CHECK(def != NULL && def->generate && def->samplers);
    zoo_images full, sub;
    if (zoo_mnist_load(NULL, "train", &full) || zoo_images_head(&full, 512, &sub)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        exit(1);
    }
    zoo_model *m = make_model(def, "16", "1,2", 3);
    CHECK(m != NULL);
    if (!m) return;
    /* the first and last 20 of 120 steps at batch 32: the loss must fall clearly */
    zoo_dataset ds = zoo_images_dataset(&sub);
    zoo_loader loader;
    CHECK(zoo_loader_init(&loader, &ds, 32, true, true, 3) == 0);
    double first = 0, last = 0;
    for (int64_t s = 0; s < 120; s++) {
        zoo_scope_begin();
        zoo_batch b;
        CHECK(zoo_loader_next(&loader, &b) == 0);
        if (b.n == 0) CHECK(zoo_loader_next(&loader, &b) == 0 && b.n == 32); /* the epoch ended */
        zoo_metrics out = {0};
        def->train_step(m, &b, s, &out);
        double loss = zoo_metrics_get(&out, "loss");
        if (s < 20) first += loss / 20;
        if (s >= 100) last += loss / 20;
        zoo_scope_end();
    }
    zoo_loader_free(&loader);
    printf("  mean loss of steps 1-20 %.4f, of steps 101-120 %.4f\n", first, last);
    CHECK(last < 0.5 * first);
    CHECK(last < 0.25);

    /* the same seed draws the same samples; DDIM with eta 0 draws nothing after x_T */
    zoo_image_sampling ddim = {.sampler = "ddim", .steps = 5}, noisy = {.sampler = "ddim", .steps = 5, .eta = 1.0f};
    float *a = draw(def, m, &ddim, 7, 3), *b = draw(def, m, &ddim, 7, 3), *c = draw(def, m, &noisy, 7, 3);
    float *d = draw(def, m, &noisy, 7, 3), *e = draw(def, m, &noisy, 8, 3);
    CHECK(a && b && c && d && e);
    if (a && b && c && d && e) {
        size_t bytes = 3 * 28 * 28 * sizeof(float);
        CHECK(memcmp(a, b, bytes) == 0);
        CHECK(memcmp(c, d, bytes) == 0);
        CHECK(memcmp(a, c, bytes) != 0); /* eta 1 added noise */
        CHECK(memcmp(d, e, bytes) != 0); /* another seed */
        bool finite = true;
        for (int i = 0; i < 3 * 28 * 28; i++) finite = finite && isfinite(a[i]);
        CHECK(finite);
    }
    free(a), free(b), free(c), free(d), free(e);

    /* the EMA tensors are saved beside the weights and follow them */
    zoo_tensor *w = zoo_model_find(m, "conv_in.weight"), *ema = zoo_model_find(m, "ema.conv_in.weight");
    CHECK(w && ema && !ema->requires_grad && w->requires_grad);
    def->destroy(m);
    zoo_images_free(&full);
    zoo_images_free(&sub);
}

TEST(a_conditional_model_draws_classes_with_guidance) {
    const zoo_model_def *def = zoo_model_lookup("diffusion");
    zoo_model_args args = {.c = 1, .h = 28, .w = 28, .n_classes = 10, .seed = 4};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    args.options[0] = "8";
    args.options[3] = "1"; /* --conditional */
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    CHECK(m != NULL);
    if (!m) return;
    zoo_tensor *emb = zoo_model_find(m, "label_emb.weight");
    CHECK(emb && emb->shape.d[0] == 11 && emb->shape.d[1] == 128); /* 10 classes and "no label" */
    /* untrained weights, so any class gives its own numbers: what matters is that the
       class and the guidance reach the network, and the same settings give the same bits */
    zoo_image_sampling none = {.sampler = "ddim", .steps = 3}, plain = {.sampler = "ddim", .steps = 3, .use_class = true,
                                                                       .class_id = 7, .guidance = 1.0f};
    zoo_image_sampling guided = plain, other = plain;
    guided.guidance = 3.0f;
    other.class_id = 2;
    float *a = draw(def, m, &none, 5, 2), *b = draw(def, m, &plain, 5, 2), *c = draw(def, m, &guided, 5, 2);
    float *d = draw(def, m, &other, 5, 2), *e = draw(def, m, &guided, 5, 2);
    CHECK(a && b && c && d && e);
    size_t bytes = 2 * 28 * 28 * sizeof(float);
    if (a && b && c && d && e) {
        CHECK(memcmp(a, b, bytes) != 0 && memcmp(b, c, bytes) != 0 && memcmp(b, d, bytes) != 0);
        CHECK(memcmp(c, e, bytes) == 0);
    }
    free(a), free(b), free(c), free(d), free(e);
    zoo_image_sampling bad = plain;
    bad.class_id = 10;
    zoo_rng rng = zoo_rng_new(1);
    zoo_scope_begin();
    CHECK(def->generate(m, 1, &bad, &rng) == NULL && strstr(zoo_last_error(), "classes 0 to 9"));
    zoo_scope_end();
    def->destroy(m);
    /* an unconditional model takes no class; --conditional needs labelled data */
    args.options[3] = "0";
    m = def->create(&args);
    zoo_rng rng2 = zoo_rng_new(1);
    zoo_scope_begin();
    CHECK(m && def->generate(m, 1, &plain, &rng2) == NULL && strstr(zoo_last_error(), "not trained with --conditional"));
    zoo_scope_end();
    if (m) def->destroy(m);
    args.options[3] = "1";
    args.n_classes = 1;
    CHECK(def->create(&args) == NULL && strstr(zoo_last_error(), "needs labelled data of 2 classes"));
}

TEST(bad_model_options_are_refused) {
    const zoo_model_def *def = zoo_model_lookup("diffusion");
    const struct {
        const char *channels, *mults, *msg;
    } bad[] = {
        {"12", NULL, "--base-channels expects a multiple of 8"},
        {"x", NULL, "--base-channels expects"},
        {NULL, "1,0", "--mults expects"},
        {NULL, "1,2,", "--mults expects"},
        {NULL, "1,2,2,2,2", "--mults expects 1 to 4"},
        {NULL, "1,2,2,2", "halve the image 3 times: its sides must be multiples of 8, got 28x28"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zoo_model *m = make_model(def, bad[i].channels, bad[i].mults, 1);
        CHECK(m == NULL);
        if (m) def->destroy(m);
        else if (!strstr(zoo_last_error(), bad[i].msg)) fprintf(stderr, "  got: %s\n", zoo_last_error());
        CHECK(strstr(zoo_last_error(), bad[i].msg) != NULL);
    }
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(linear_schedule_matches_its_closed_form);
    RUN(cosine_schedule_matches_its_closed_form);
    RUN(every_sampler_draws_the_toy_data_law_with_the_exact_noise_predictor);
    RUN(ddim_with_eta_1_adds_the_posterior_variance_at_each_step);
    RUN(bad_sampler_settings_are_refused);
    RUN(bad_model_options_are_refused);
    RUN(the_model_learns_and_samples_deterministically);
    RUN(a_conditional_model_draws_classes_with_guidance);
    zoo_shutdown();
    TEST_EXIT();
}
