/* DCGAN for small images (Radford et al., 2015): a generator that upsamples noise
 * with transposed convolutions and a convolutional discriminator, trained against
 * each other with BCE-with-logits. Two parts, two Adam optimizers, one train step.
 * Tensors are named generator.* and discriminator.*. */
#include "../registry.h"

#include "../../core/autograd.h"
#include "../../core/conv.h"
#include "../../core/dist.h"
#include "../../core/image.h"
#include "../../core/loss.h"
#include "../../core/ops.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { GEN = 0, DISC = 1 };
#define SAMPLE_GRID 64          /* images in the progress grid */
#define D_WINS_BELOW 0.05       /* D(G(z)) under this means D rejects every fake */
#define D_WINS_STEPS 200        /* for this many steps in a row: warn */

typedef struct gan {
    zoo_model base; /* first: a zoo_model * is a gan * */
    int z_dim, c, h, w;
    /* generator */
    zoo_linear_layer g_fc;
    zoo_batchnorm2d_layer g_bn1, g_bn2;
    zoo_conv_transpose2d_layer g_deconv1, g_deconv2;
    /* discriminator */
    zoo_conv2d_layer d_conv1, d_conv2;
    zoo_batchnorm2d_layer d_bn2;
    zoo_linear_layer d_fc;
    zoo_tensor *fixed_z; /* the progress grid's latents, the same every time */
    int64_t d_wins_run;  /* consecutive steps with D(G(z)) below D_WINS_BELOW */
    bool warned;
} gan;

/* ---------------------------------------------------------------- networks */

/* z [n, z_dim] -> images [n, c, h, w] in [-1, 1] */
static zoo_tensor *generator(gan *m, zoo_tensor *z) {
    bool training = m->base.parts[GEN].training;
    int64_t n = z->shape.d[0];
    zoo_tensor *x = zoo_reshape(zoo_linear_forward(&m->g_fc, z), zoo_shape4(n, 128, m->h / 4, m->w / 4));
    x = zoo_relu(zoo_batchnorm2d_forward(&m->g_bn1, x, training));
    x = zoo_relu(zoo_batchnorm2d_forward(&m->g_bn2, zoo_conv_transpose2d_forward(&m->g_deconv1, x), training));
    return zoo_tanh(zoo_conv_transpose2d_forward(&m->g_deconv2, x));
}

/* images [n, c, h, w] in [-1, 1] -> logits [n, 1] (real > 0 > fake) */
static zoo_tensor *discriminator(gan *m, zoo_tensor *x) {
    bool training = m->base.parts[DISC].training;
    x = zoo_leaky_relu(zoo_conv2d_forward(&m->d_conv1, x), 0.2f);
    x = zoo_leaky_relu(zoo_batchnorm2d_forward(&m->d_bn2, zoo_conv2d_forward(&m->d_conv2, x), training), 0.2f);
    return zoo_linear_forward(&m->d_fc, zoo_flatten(x));
}

static zoo_tensor *noise(gan *m, int64_t n, zoo_rng *rng) {
    zoo_tensor *z = zoo_tensor_new(ZOO_F32, zoo_shape2(n, m->z_dim));
    zoo_rng_normal(rng, z, 0.0f, 1.0f);
    return z;
}

static float mean_sigmoid(zoo_tensor *logits) {
    bool old = zoo_set_grad_enabled(false);
    float v = zoo_tensor_item(zoo_mean_all(zoo_sigmoid(logits)));
    zoo_set_grad_enabled(old);
    return v;
}

/* turns gradients of a part's parameters on or off, keeping --freeze choices */
static void set_part_grad(zoo_module *part, bool on, bool *saved) {
    for (int i = 0; i < part->n; i++) {
        zoo_tensor *t = part->params[i].t;
        if (!t->grad) continue; /* buffers */
        if (!on) saved[i] = t->requires_grad;
        t->requires_grad = on ? saved[i] : false;
    }
}

/* ---------------------------------------------------------------- training */

static void gan_train_step(zoo_model *base, const zoo_batch *b, int64_t step, zoo_metrics *out) {
    gan *m = (gan *)base;
    int64_t n = b->n;
    zoo_tensor *real = zoo_affine(zoo_batch_get(b, "image"), 2.0f, -1.0f); /* [0, 1] -> [-1, 1] */
    zoo_tensor *ones = zoo_tensor_full(zoo_shape2(n, 1), 1.0f), *zeros = zoo_tensor_zeros(ZOO_F32, zoo_shape2(n, 1));
    zoo_rng rng = zoo_model_step_rng(base, ((uint64_t)2 << 32) + (uint64_t)step);
    zoo_tensor *fake = generator(m, noise(m, n, &rng));

    /* discriminator: real -> 1, fake -> 0; the fake is detached so G gets nothing */
    zoo_module_zero_grad(&base->parts[DISC]);
    zoo_tensor *real_logits = discriminator(m, real);
    zoo_tensor *fake_logits = discriminator(m, zoo_detach(fake));
    zoo_tensor *d_loss = zoo_add(zoo_bce_with_logits(real_logits, ones), zoo_bce_with_logits(fake_logits, zeros));
    zoo_backward(d_loss);
    zoo_model_update(base, DISC);

    /* generator: make D say 1 for the fakes; D's weights are held still (no grads) */
    bool saved[64];
    assert(base->parts[DISC].n <= 64); /* the discriminator has a dozen tensors */
    zoo_module_zero_grad(&base->parts[GEN]);
    set_part_grad(&base->parts[DISC], false, saved);
    zoo_tensor *g_logits = discriminator(m, fake);
    zoo_tensor *g_loss = zoo_bce_with_logits(g_logits, ones);
    zoo_backward(g_loss);
    set_part_grad(&base->parts[DISC], true, saved);
    zoo_model_update(base, GEN);

    float d_fake = mean_sigmoid(fake_logits);
    zoo_metrics_set(out, "d_loss", zoo_tensor_item(d_loss));
    zoo_metrics_set(out, "g_loss", zoo_tensor_item(g_loss));
    zoo_metrics_set(out, "d_real", mean_sigmoid(real_logits));
    zoo_metrics_set(out, "d_fake", d_fake);

    /* D winning outright starves G of gradient: say so in the metrics and once on stderr */
    m->d_wins_run = d_fake < D_WINS_BELOW ? m->d_wins_run + 1 : 0;
    zoo_metrics_set(out, "d_wins", m->d_wins_run >= D_WINS_STEPS);
    if (m->d_wins_run >= D_WINS_STEPS && !m->warned) {
        fprintf(stderr, "\nzoo: warning: step %lld: the discriminator has rejected every fake (D(G(z)) < %.2f) for "
                        "%d steps; the generator gets almost no gradient, so expect mode collapse or a stalled "
                        "run (try a lower --lr or a smaller discriminator)\n",
                (long long)step + 1, D_WINS_BELOW, D_WINS_STEPS);
        m->warned = true;
    }
}

/* ---------------------------------------------------------------- sampling */

static zoo_tensor *gan_generate(zoo_model *base, int64_t n, const zoo_image_sampling *s, zoo_rng *rng) {
    (void)s; /* one forward pass: no sampler to choose */
    gan *m = (gan *)base;
    zoo_model_set_training(base, false);
    bool old = zoo_set_grad_enabled(false);
    zoo_tensor *x = generator(m, noise(m, n, rng));
    zoo_set_grad_enabled(old);
    return x;
}

static int gan_write_samples(zoo_model *base, const char *path) {
    gan *m = (gan *)base;
    zoo_model_set_training(base, false);
    bool old = zoo_set_grad_enabled(false);
    zoo_scope_begin();
    zoo_tensor *x = generator(m, m->fixed_z);
    float *host = x ? malloc((size_t)x->numel * sizeof *host) : NULL;
    if (host) zoo_tensor_download(x, host);
    zoo_scope_end();
    zoo_set_grad_enabled(old);
    if (!host) {
        if (x) zoo_set_error("out of host memory for the sample grid");
        return -1;
    }
    int rc = zoo_png_write_grid(path, host, SAMPLE_GRID, m->c, m->h, m->w, 8);
    free(host);
    return rc;
}

/* ---------------------------------------------------------------- evaluation */

#define EVAL_MAX 1000 /* images scored per evaluation, and as many samples */

/* per-pixel sums of x [n, c, h, w] (values in [-1, 1]) into sum and sumsq */
static void pixel_sums(const zoo_tensor *x, float *host, double *sum, double *sumsq, int64_t pix) {
    zoo_tensor_download(x, host);
    for (int64_t i = 0; i < x->numel; i++) {
        sum[i % pix] += host[i];
        sumsq[i % pix] += (double)host[i] * host[i];
    }
}

/* Proxies of sample quality on up to EVAL_MAX images of d against as many samples
 * (the same noise every time): d_real and d_fake, the discriminator's mean belief that
 * real images and samples are real (not for a generator loaded alone); mean_gap and std_gap, how far the samples'
 * per-pixel mean and spread are from the data's (mean absolute difference, pixels in
 * [-1, 1]); a generator that matches the data drives both gaps toward 0. Under
 * data-parallel training each rank takes its chunks and the sums are reduced. */
static int gan_evaluate(zoo_model *base, const zoo_dataset *d, zoo_metrics *out) {
    gan *m = (gan *)base;
    const int64_t bs = 250, total = d->n < EVAL_MAX ? d->n : EVAL_MAX, pix = (int64_t)m->c * m->h * m->w;
    double *acc = calloc((size_t)(4 * pix), sizeof *acc); /* real sum, real sumsq, fake sum, fake sumsq */
    float *host = malloc((size_t)(bs * pix) * sizeof *host);
    if (!acc || !host) {
        free(acc);
        free(host);
        zoo_set_error("out of host memory");
        return -1;
    }
    bool have_disc = !(base->missing_parts >> DISC & 1); /* a shipped generator comes alone */
    double d_real = 0, d_fake = 0;
    int rc = 0;
    zoo_rng rng = zoo_rng_stream(base->seed, 4);
    zoo_model_set_training(base, false);
    bool old = zoo_set_grad_enabled(false);
    for (int64_t start = 0; start < total && rc == 0; start += bs) {
        int64_t n = total - start < bs ? total - start : bs;
        if (!zoo_dist_mine(start / bs)) continue; /* another rank's chunk (data-parallel) */
        rng.offset = (uint64_t)(start * m->z_dim); /* where the chunks before would have left it */
        zoo_scope_begin();
        zoo_batch b;
        rc = zoo_dataset_batch(d, start, n, &b);
        zoo_tensor *real = rc ? NULL : zoo_affine(zoo_batch_get(&b, "image"), 2.0f, -1.0f);
        zoo_tensor *fake = rc ? NULL : generator(m, noise(m, n, &rng));
        if (real && fake && have_disc) {
            d_real += mean_sigmoid(discriminator(m, real)) * (double)n;
            d_fake += mean_sigmoid(discriminator(m, fake)) * (double)n;
        }
        if (real && fake) {
            pixel_sums(real, host, acc, acc + pix, pix);
            pixel_sums(fake, host, acc + 2 * pix, acc + 3 * pix, pix);
        }
        if (!real || !fake || zoo_failed()) rc = -1;
        zoo_scope_end();
    }
    zoo_set_grad_enabled(old);
    /* the ranks' sums together (data-parallel evaluation), then the gaps */
    double beliefs[2] = {d_real, d_fake};
    if (zoo_dist_sum(acc, (int)(4 * pix)) || zoo_dist_sum(beliefs, 2)) rc = -1;
    d_real = beliefs[0];
    d_fake = beliefs[1];
    double mean_gap = 0, std_gap = 0, nt = (double)total;
    for (int64_t p = 0; p < pix; p++) {
        double mr = acc[p] / nt, mf = acc[2 * pix + p] / nt;
        double sr = sqrt(fmax(acc[pix + p] / nt - mr * mr, 0)), sf = sqrt(fmax(acc[3 * pix + p] / nt - mf * mf, 0));
        mean_gap += fabs(mf - mr);
        std_gap += fabs(sf - sr);
    }
    free(acc);
    free(host);
    if (rc) return -1;
    if (have_disc) {
        zoo_metrics_set(out, "d_real", d_real / nt);
        zoo_metrics_set(out, "d_fake", d_fake / nt);
    }
    zoo_metrics_set(out, "mean_gap", mean_gap / (double)pix);
    zoo_metrics_set(out, "std_gap", std_gap / (double)pix);
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

/* DCGAN's initialization: weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0 */
static void dcgan_init(zoo_module *part, zoo_rng *rng) {
    for (int i = 0; i < part->n; i++) {
        const char *name = part->params[i].name;
        zoo_tensor *t = part->params[i].t;
        size_t len = strlen(name);
        bool bias = len > 5 && strcmp(name + len - 5, ".bias") == 0;
        bool bn = strstr(name, ".bn") != NULL;
        if (!t->grad) continue; /* running statistics keep their 0/1 start */
        if (bias) zoo_tensor_fill(t, 0.0f);
        else zoo_rng_normal(rng, t, bn ? 1.0f : 0.0f, 0.02f);
    }
}

static void gan_destroy(zoo_model *m);

static zoo_model *gan_create(const zoo_model_args *args) {
    zoo_clear_error(); /* zoo_failed() below then means this create failed */
    char *end;
    long z_dim = strtol(args->options[0], &end, 10);
    if (*end || z_dim < 1 || z_dim > 4096) {
        zoo_set_error("--z-dim expects a whole number from 1 to 4096, got '%s'", args->options[0]);
        return NULL;
    }
    if (args->h % 4 || args->w % 4 || args->h < 8) {
        zoo_set_error("the GAN doubles 2 times from h/4: image sides must be multiples of 4, got %dx%d", args->h,
                      args->w);
        return NULL;
    }
    gan *m = calloc(1, sizeof *m);
    if (!m) {
        zoo_set_error("out of host memory");
        return NULL;
    }
    zoo_model_init(&m->base, &zoo_gan_def, args);
    m->z_dim = (int)z_dim;
    m->c = args->c;
    m->h = args->h;
    m->w = args->w;
    m->base.input_mean = 0.5f; /* the model sees 2x - 1 */
    m->base.input_std = 0.5f;
    m->base.n_parts = 2;
    zoo_module *g = &m->base.parts[GEN], *d = &m->base.parts[DISC];
    zoo_module_init(g);
    zoo_module_init(d);
    zoo_rng init = zoo_rng_stream(args->seed, 1);
    int64_t feat = 128 * (args->h / 4) * (args->w / 4);
    m->g_fc = zoo_linear_new(g, "generator.fc", m->z_dim, (int)feat, true, &init);
    m->g_bn1 = zoo_batchnorm2d_new(g, "generator.bn1", 128);
    m->g_deconv1 = zoo_conv_transpose2d_new(g, "generator.deconv1", 128, 64, 4, 2, 1, 0, true, &init);
    m->g_bn2 = zoo_batchnorm2d_new(g, "generator.bn2", 64);
    m->g_deconv2 = zoo_conv_transpose2d_new(g, "generator.deconv2", 64, args->c, 4, 2, 1, 0, true, &init);
    m->d_conv1 = zoo_conv2d_new(d, "discriminator.conv1", args->c, 64, 4, 2, 1, true, &init);
    m->d_conv2 = zoo_conv2d_new(d, "discriminator.conv2", 64, 128, 4, 2, 1, true, &init);
    m->d_bn2 = zoo_batchnorm2d_new(d, "discriminator.bn2", 128);
    m->d_fc = zoo_linear_new(d, "discriminator.fc", (int)feat, 1, true, &init);
    dcgan_init(g, &init);
    dcgan_init(d, &init);
    m->fixed_z = zoo_tensor_new_persistent(ZOO_F32, zoo_shape2(SAMPLE_GRID, m->z_dim));
    zoo_rng fixed = zoo_rng_stream(args->seed, 3);
    zoo_rng_normal(&fixed, m->fixed_z, 0.0f, 1.0f);
    zoo_model_add_optimizers(&m->base);
    if (zoo_failed()) { /* a parameter could not be made (out of device memory) */
        gan_destroy(&m->base);
        return NULL;
    }
    return &m->base;
}

static void gan_destroy(zoo_model *base) {
    gan *m = (gan *)base;
    zoo_tensor_free(m->fixed_z);
    zoo_model_release(base);
    free(m);
}

const zoo_model_def zoo_gan_def = {
    .name = "gan",
    .description = "DCGAN: transposed-conv generator vs conv discriminator, PNG sample grids",
    .dataset = "Fashion-MNIST or a folder of images",
    .defaults = {.epochs = 5, .batch = 64, .lr = 2e-4f, .optimizer = ZOO_OPTIM_ADAM, .beta1 = 0.5f,
                 .sample_every = 500},
    .options = {{"z-dim", "64", "size of the noise vector"}},
    .n_options = 1,
    .create = gan_create,
    .destroy = gan_destroy,
    .train_step = gan_train_step,
    .evaluate = gan_evaluate,
    .generate_parts = 1u << GEN,
    .generate = gan_generate,
    .write_samples = gan_write_samples,
};
