/* DDPM (Ho et al., 2020) on small images: a U-Net learns to predict the noise eps that
 * took an image x0 to x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps at a uniformly drawn
 * step t of T = 1000 (linear betas 1e-4 .. 0.02, or --schedule cosine), by mean squared
 * error. Samplers: ancestral DDPM (every step, sigma_t^2 = beta_t) and DDIM (evenly
 * spaced steps, eta 0 deterministic). An exponential moving average of the weights
 * (decay 0.999 by default, --ema; tensors "ema.<name>") is what samples and evaluations use.
 *
 * The U-Net (c = --base-channels channels at full resolution, c x mults[i] at level i):
 *   time: sinusoidal embedding of t (128) -> Linear -> SiLU -> Linear      temb [n, 128]
 *   conv_in 3x3 -> per level: ResBlock (its output is the level's skip), then a stride-2
 *   3x3 conv down (not after the last) -> mid ResBlock -> per level back up: nearest x2 +
 *   conv 3x3, ResBlock over concat(x, skip) -> GroupNorm, SiLU, conv_out 3x3
 *   ResBlock(in, out): GN(8), SiLU, conv 3x3 -> + Linear(SiLU(temb)) per channel -> GN(8),
 *   SiLU, conv 3x3 -> + x (a 1x1 conv of x when in != out)
 * With --mults 1,2 and 32 channels that is 28 -> 14 -> 28 with 32 and 64 channels.
 *
 * --conditional adds a learned embedding of the label (label_emb, one row per class and a
 * last one for "no label") to the time embedding; training drops the label (uses the
 * last row) for 10% of the images, so one network also predicts unconditionally, and
 * sampling with classifier-free guidance mixes the two: eps = eps(no label) + w (eps(y) -
 * eps(no label)) (Ho and Salimans 2022). */
#include "diffusion.h"

#include "../registry.h"

#include "../../core/autograd.h"
#include "../../core/conv.h"
#include "../../core/dist.h"
#include "../../core/image.h"
#include "../../core/loss.h"
#include "../../core/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_STEPS ZOO_DIFFUSION_STEPS
#define TEMB 128         /* the time embedding's width */
#define GROUPS 8         /* group norm's groups */
#define MAX_LEVELS 4
#define SAMPLE_GRID 64   /* images in the progress grid */
#define GRID_STEPS 50    /* its DDIM steps */
#define LABEL_DROP 0.1 /* conditional training: the share of images trained without their label */

typedef struct resblock {
    zoo_groupnorm_layer norm1, norm2;
    zoo_conv2d_layer conv1, conv2, skip; /* skip.weight NULL when in == out */
    zoo_linear_layer temb;
} resblock;

/* self-attention over the pixels of one resolution (DDPM's block, one head): GN, a 1x1
   convolution to queries, keys and values, softmax(q^T k / sqrt(C)), a 1x1 projection
   added back */
typedef struct attnblock {
    zoo_groupnorm_layer norm;
    zoo_conv2d_layer qkv, proj; /* qkv.weight NULL: no attention there */
} attnblock;

typedef struct diffusion {
    zoo_model base; /* first: a zoo_model * is a diffusion * */
    int c, h, w, ch, levels, mults[MAX_LEVELS];
    bool cosine;
    float ema_decay;            /* --ema: the moving average's decay per step (0: the live weights) */
    int classes;                /* conditional: the number of classes (the null label is this id); 0: none */
    zoo_embedding_layer label_emb;
    double beta[T_STEPS], abar[T_STEPS];
    zoo_linear_layer time1, time2;
    zoo_conv2d_layer conv_in, conv_out;
    resblock down_res[MAX_LEVELS], mid, up_res[MAX_LEVELS];
    attnblock down_attn[MAX_LEVELS], mid_attn, up_attn[MAX_LEVELS]; /* --attn: after those ResBlocks */
    zoo_conv2d_layer down[MAX_LEVELS], up[MAX_LEVELS];
    zoo_groupnorm_layer norm_out;
    /* the moving average: ema[i] follows param[i] (the trainable tensors of part 0) */
    int n_ema;
    zoo_tensor **param, **ema, **saved; /* saved: the live weights while the EMA's are in */
    zoo_tensor *fixed_noise;            /* the progress grid's x_T, the same every time */
} diffusion;

/* ---------------------------------------------------------------- schedule */

void zoo_diffusion_schedule(bool cosine, double *beta, double *abar) {
    double prod = 1.0;
    for (int t = 0; t < T_STEPS; t++) {
        if (cosine) {
            double s = 0.008, f0 = cos(s / (1 + s) * M_PI / 2);
            double a1 = cos(((double)(t + 1) / T_STEPS + s) / (1 + s) * M_PI / 2) / f0;
            double a0 = cos(((double)t / T_STEPS + s) / (1 + s) * M_PI / 2) / f0;
            beta[t] = fmin(1.0 - (a1 * a1) / (a0 * a0), 0.999);
        } else {
            beta[t] = 1e-4 + (0.02 - 1e-4) * t / (T_STEPS - 1);
        }
        prod *= 1.0 - beta[t];
        abar[t] = prod;
    }
}

/* ---------------------------------------------------------------- the network */

/* the sinusoidal embedding of each t: [sin(t f_0) .. sin(t f_63), cos(t f_0) ..], f_i =
 * 10000^(-i/64), computed in double on the host; [n, TEMB] */
static zoo_tensor *time_embedding(const int32_t *t, int64_t n) {
    float *v = zoo_scope_alloc((size_t)(n * TEMB) * sizeof *v);
    if (!v) return NULL;
    int half = TEMB / 2;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < half; j++) {
            double a = t[i] * exp(-log(10000.0) * j / half);
            v[i * TEMB + j] = (float)sin(a);
            v[i * TEMB + half + j] = (float)cos(a);
        }
    return zoo_tensor_from_host(zoo_shape2(n, TEMB), v);
}

static zoo_tensor *resblock_forward(const resblock *r, zoo_tensor *x, zoo_tensor *temb_act) {
    zoo_tensor *h = zoo_conv2d_forward(&r->conv1, zoo_silu(zoo_groupnorm_forward(&r->norm1, x)));
    if (!h) return NULL;
    zoo_tensor *t = zoo_linear_forward(&r->temb, temb_act); /* [n, out] -> per channel */
    h = zoo_add(h, zoo_reshape(t, zoo_shape4(h->shape.d[0], h->shape.d[1], 1, 1)));
    h = zoo_conv2d_forward(&r->conv2, zoo_silu(zoo_groupnorm_forward(&r->norm2, h)));
    return zoo_add(h, r->skip.weight ? zoo_conv2d_forward(&r->skip, x) : x);
}

/* x [n, C, H, W] plus its self-attention: every pixel attends to every pixel, one head
   of C values (zoo_attention's fused kernel, on the pixels as positions: the 1x1 conv's
   [n, 3C, HW] transposed to [n, HW, 3C], and its output back) */
static zoo_tensor *attn_forward(const attnblock *a, zoo_tensor *x) {
    if (!a->qkv.weight || !x) return x;
    int64_t n = x->shape.d[0], c = x->shape.d[1], hw = x->shape.d[2] * x->shape.d[3];
    zoo_tensor *qkv = zoo_conv2d_forward(&a->qkv, zoo_groupnorm_forward(&a->norm, x));
    qkv = zoo_transpose(zoo_reshape(qkv, zoo_shape3(n, 3 * c, hw)), 1, 2); /* [n, HW, 3C] */
    zoo_tensor *o = zoo_transpose(zoo_attention(qkv, 1, false), 1, 2);    /* [n, C, HW] */
    return zoo_add(x, zoo_conv2d_forward(&a->proj, zoo_reshape(o, x->shape)));
}

/* the predicted noise for x_t [n, c, h, w] at steps t [n], for labels y [n] (conditional
 * models; NULL or the null id: none) */
static zoo_tensor *unet(diffusion *m, zoo_tensor *x, const int32_t *t, const int32_t *y) {
    int64_t n = x->shape.d[0];
    zoo_tensor *temb = zoo_linear_forward(&m->time2, zoo_silu(zoo_linear_forward(&m->time1, time_embedding(t, n))));
    if (m->classes) {
        int32_t *ids = zoo_scope_alloc((size_t)n * sizeof *ids);
        if (!ids) return NULL;
        for (int64_t i = 0; i < n; i++) ids[i] = y ? y[i] : m->classes;
        temb = zoo_add(temb, zoo_embedding_forward(&m->label_emb, zoo_tensor_from_host_i32(zoo_shape1(n), ids)));
    }
    zoo_tensor *temb_act = zoo_silu(temb);
    zoo_tensor *skips[MAX_LEVELS];
    zoo_tensor *h = zoo_conv2d_forward(&m->conv_in, x);
    for (int i = 0; i < m->levels; i++) {
        h = skips[i] = attn_forward(&m->down_attn[i], resblock_forward(&m->down_res[i], h, temb_act));
        if (i < m->levels - 1) h = zoo_conv2d_forward(&m->down[i], h);
    }
    h = attn_forward(&m->mid_attn, resblock_forward(&m->mid, h, temb_act));
    for (int i = m->levels - 2; i >= 0; i--) {
        h = zoo_conv2d_forward(&m->up[i], zoo_upsample2d(h, 2));
        zoo_tensor *cat[2] = {h, skips[i]};
        h = attn_forward(&m->up_attn[i], resblock_forward(&m->up_res[i], zoo_concat(cat, 2, 1), temb_act));
    }
    return zoo_conv2d_forward(&m->conv_out, zoo_silu(zoo_groupnorm_forward(&m->norm_out, h)));
}

/* ---------------------------------------------------------------- the moving average */

/* swaps the EMA weights in (on) or the live ones back (off); the live ones wait in saved */
static int use_ema(diffusion *m, bool on) {
    for (int i = 0; i < m->n_ema; i++) {
        if (on && (zoo_copy_(m->saved[i], m->param[i]) || zoo_copy_(m->param[i], m->ema[i]))) return -1;
        if (!on && zoo_copy_(m->param[i], m->saved[i])) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- training */

/* per-sample scalars [n, 1, 1, 1] from the schedule: sqrt(abar[t_i]), or with noise
 * sqrt(1 - abar[t_i]) */
static zoo_tensor *per_sample(const diffusion *m, const int32_t *t, int64_t n, bool noise) {
    float *v = zoo_scope_alloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) v[i] = (float)sqrt(noise ? 1.0 - m->abar[t[i]] : m->abar[t[i]]);
    return zoo_tensor_from_host(zoo_shape4(n, 1, 1, 1), v);
}

/* the noise-prediction loss on images in [0, 1] at steps t, labels y (or NULL), with
 * noise from rng */
static zoo_tensor *denoising_loss(diffusion *m, zoo_tensor *image, const int32_t *t, const int32_t *y, zoo_rng *rng) {
    if (!image) return NULL;
    int64_t n = image->shape.d[0];
    zoo_tensor *x0 = zoo_affine(image, 2.0f, -1.0f); /* [0, 1] -> [-1, 1] */
    zoo_tensor *eps = zoo_tensor_new(ZOO_F32, image->shape);
    if (!x0 || !eps) return NULL;
    zoo_rng_normal(rng, eps, 0.0f, 1.0f);
    zoo_tensor *xt = zoo_add(zoo_mul(x0, per_sample(m, t, n, false)), zoo_mul(eps, per_sample(m, t, n, true)));
    return zoo_mse_loss(unet(m, xt, t, y), eps);
}

static void diffusion_train_step(zoo_model *base, const zoo_batch *b, int64_t step, zoo_metrics *out) {
    diffusion *m = (diffusion *)base;
    zoo_tensor *image = zoo_batch_get(b, "image");
    int32_t *t = zoo_scope_alloc((size_t)b->n * sizeof *t);
    if (!t || !image) return;
    /* the draws of the whole global batch, these rows' kept (data-parallel training) */
    zoo_rng rng = zoo_model_step_rng(base, ((uint64_t)7 << 32) + (uint64_t)step);
    int64_t first = base->batch_first, total = base->batch_total ? base->batch_total : b->n;
    for (int64_t i = 0; i < total; i++) {
        int32_t ti = (int32_t)zoo_rng_below(&rng, T_STEPS);
        if (i >= first && i < first + b->n) t[i - first] = ti;
    }
    int32_t *y = NULL;
    if (m->classes) { /* the labels, 10% of them dropped to the null label */
        zoo_tensor *label = zoo_batch_get(b, "label");
        y = zoo_scope_alloc((size_t)b->n * sizeof *y);
        if (!label || !y) return;
        zoo_tensor_download(label, y);
        for (int64_t i = 0; i < b->n; i++)
            if (y[i] < 0 || y[i] >= m->classes) {
                zoo_set_error("label %d is outside the model's %d classes", y[i], m->classes);
                return;
            }
        for (int64_t i = 0; i < total; i++) {
            bool drop = zoo_rng_below(&rng, 1000) < (uint32_t)(LABEL_DROP * 1000);
            if (drop && i >= first && i < first + b->n) y[i - first] = m->classes;
        }
    }
    zoo_module_zero_grad(&base->parts[0]);
    zoo_tensor *loss = denoising_loss(m, image, t, y, &rng);
    if (zoo_backward(loss)) return;
    zoo_model_update(base, 0);
    for (int i = 0; i < m->n_ema; i++) zoo_lerp_(m->ema[i], m->param[i], 1.0f - m->ema_decay);
    zoo_metrics_set(out, "loss", zoo_tensor_item(loss));
}

/* ---------------------------------------------------------------- sampling */

/* on a terminal one line redrawn at every step; elsewhere (a log file) a line at every
   tenth of the way */
static void progress(const zoo_image_sampling *s, int64_t done, int64_t total) {
    if (!s || !s->progress) return;
    bool tty = isatty(2);
    if (!tty && done * 10 / total == (done - 1) * 10 / total) return;
    fprintf(stderr, "%ssampling: step %lld/%lld%s", tty ? "\r\033[K" : "", (long long)done, (long long)total,
            tty && done < total ? "" : "\n");
}

int zoo_diffusion_sample(const double *beta, const double *abar, zoo_tensor *x, const zoo_image_sampling *s,
                         zoo_rng *rng, zoo_eps_fn eps_fn, zoo_observe_fn observe, void *ctx) {
    const char *sampler = s && s->sampler ? s->sampler : "ddim";
    bool ddpm = strcmp(sampler, "ddpm") == 0;
    if (!ddpm && strcmp(sampler, "ddim") != 0) {
        zoo_set_error("unknown sampler '%s' (ddpm or ddim)", sampler);
        return -1;
    }
    int64_t steps = s && s->steps ? s->steps : ddpm ? T_STEPS : GRID_STEPS;
    if (ddpm && steps != T_STEPS) {
        zoo_set_error("the DDPM sampler runs all %d steps, got --sample-steps %lld (DDIM takes fewer)", T_STEPS,
                      (long long)steps);
        return -1;
    }
    if (steps < 1 || steps > T_STEPS) {
        zoo_set_error("DDIM takes 1 to %d steps, got %lld", T_STEPS, (long long)steps);
        return -1;
    }
    float eta = s ? s->eta : 0.0f;
    if (!(eta >= 0.0f && eta <= 1.0f)) {
        zoo_set_error("--eta must be from 0 to 1, got %g", (double)eta);
        return -1;
    }
    int rc = observe ? observe(ctx, x, 0, steps) : 0;
    /* DDIM's steps: tau_i = i T / steps (i = 0 .. steps - 1), visited from the last */
    for (int64_t k = steps - 1; k >= 0 && rc == 0; k--) {
        int cur = (int)(k * T_STEPS / steps), prev = k > 0 ? (int)((k - 1) * T_STEPS / steps) : -1;
        zoo_scope_begin();
        zoo_tensor *eps = eps_fn(ctx, x, cur), *next = NULL;
        double ab = abar[cur], ab_prev = prev >= 0 ? abar[prev] : 1.0;
        if (ddpm) { /* mean (x - beta / sqrt(1 - abar) eps) / sqrt(alpha), plus sqrt(beta) z */
            double b = beta[cur];
            next = zoo_affine(zoo_add(x, zoo_mul_scalar(eps, (float)(-b / sqrt(1.0 - ab)))), (float)(1.0 / sqrt(1.0 - b)),
                              0.0f);
            if (cur > 0 && next) {
                zoo_tensor *z = zoo_tensor_new(ZOO_F32, x->shape);
                if (z) zoo_rng_normal(rng, z, 0.0f, 1.0f);
                next = zoo_add(next, zoo_mul_scalar(z, (float)sqrt(b)));
            }
        } else { /* x0 = (x - sqrt(1 - abar) eps) / sqrt(abar); x' = sqrt(abar') x0 + dir + sigma z */
            double sigma = eta * sqrt((1.0 - ab_prev) / (1.0 - ab)) * sqrt(1.0 - ab / ab_prev);
            double c_x = sqrt(ab_prev / ab);
            double c_eps = sqrt(fmax(1.0 - ab_prev - sigma * sigma, 0.0)) - sqrt(ab_prev) * sqrt(1.0 - ab) / sqrt(ab);
            next = zoo_add(zoo_mul_scalar(x, (float)c_x), zoo_mul_scalar(eps, (float)c_eps));
            if (sigma > 0.0 && next) {
                zoo_tensor *z = zoo_tensor_new(ZOO_F32, x->shape);
                if (z) zoo_rng_normal(rng, z, 0.0f, 1.0f);
                next = zoo_add(next, zoo_mul_scalar(z, (float)sigma));
            }
        }
        if (!next || zoo_copy_(x, next)) rc = -1;
        zoo_scope_end();
        if (rc == 0 && observe) rc = observe(ctx, x, steps - k, steps);
        progress(s, steps - k, steps);
    }
    return rc;
}

#define STRIP_FRAMES 10
#define STRIP_ROWS 8

/* the U-Net's noise prediction at one step for every image of x, and the strip's frames */
typedef struct unet_ctx {
    diffusion *m;
    int32_t *t, *y, *y_null; /* labels (NULL: none) and, with guidance, the null labels */
    float guidance;
    float *frames; /* [rows][STRIP_FRAMES][c h w], or NULL */
    int rows, next_frame;
} unet_ctx;

/* keeps x's first rows images at 10 points of the way: x_T, then after each ninth */
static int strip_frame(void *ctx, const zoo_tensor *x, int64_t done, int64_t total) {
    unet_ctx *u = ctx;
    if (!u->frames || u->next_frame >= STRIP_FRAMES || done * (STRIP_FRAMES - 1) < u->next_frame * total) return 0;
    int64_t img = x->numel / x->shape.d[0];
    float *all = malloc((size_t)x->numel * sizeof *all);
    if (!all) {
        zoo_set_error("out of host memory for the strip");
        return -1;
    }
    zoo_tensor_download(x, all);
    for (int r = 0; r < u->rows; r++)
        memcpy(u->frames + ((int64_t)r * STRIP_FRAMES + u->next_frame) * img, all + r * img, (size_t)img * sizeof *all);
    free(all);
    u->next_frame++;
    return 0;
}

static zoo_tensor *unet_eps(void *ctx, zoo_tensor *x, int t) {
    unet_ctx *u = ctx;
    for (int64_t i = 0; i < x->shape.d[0]; i++) u->t[i] = t;
    zoo_tensor *eps = unet(u->m, x, u->t, u->y);
    if (!u->y_null || u->guidance == 1.0f) return eps;
    /* classifier-free guidance: eps_null + w (eps_label - eps_null) */
    zoo_tensor *eps_null = unet(u->m, x, u->t, u->y_null);
    return zoo_add(eps_null, zoo_mul_scalar(zoo_sub(eps, eps_null), u->guidance));
}

/* x_T (x, persistent) denoised to x_0 in place by the U-Net; with s->strip, the strip too */
static int denoise(diffusion *m, zoo_tensor *x, const zoo_image_sampling *s, zoo_rng *rng) {
    int64_t n = x->shape.d[0], img = x->numel / n;
    int class_id = s && s->use_class ? s->class_id : -1;
    if (class_id < -1 || (s && s->use_class && s->class_id < 0)) {
        zoo_set_error("--class must be 0 or more, got %d", s->class_id);
        return -1;
    }
    bool labelled = class_id >= 0 || (s && s->labels);
    if (labelled && !m->classes) {
        zoo_set_error("this model was not trained with --conditional: it takes no --class");
        return -1;
    }
    if (class_id >= m->classes && m->classes) {
        zoo_set_error("--class %d: the model knows classes 0 to %d", class_id, m->classes - 1);
        return -1;
    }
    float guidance = s && s->guidance > 0.0f ? s->guidance : 1.0f;
    if (!(guidance >= 0.0f && guidance <= 100.0f)) {
        zoo_set_error("--guidance must be from 0 to 100, got %g", (double)guidance);
        return -1;
    }
    unet_ctx u = {.m = m, .t = malloc((size_t)n * sizeof(int32_t)), .rows = n < STRIP_ROWS ? (int)n : STRIP_ROWS,
                  .guidance = guidance};
    if (s && s->strip) u.frames = malloc((size_t)(u.rows * STRIP_FRAMES * img) * sizeof(float));
    if (labelled) {
        u.y = malloc((size_t)n * sizeof(int32_t));
        u.y_null = malloc((size_t)n * sizeof(int32_t));
    }
    if (!u.t || (s && s->strip && !u.frames) || (labelled && (!u.y || !u.y_null))) {
        free(u.t);
        free(u.frames);
        free(u.y);
        free(u.y_null);
        zoo_set_error("out of host memory");
        return -1;
    }
    for (int64_t i = 0; u.y && i < n; i++) {
        u.y[i] = s->labels ? s->labels[i] % m->classes : class_id;
        u.y_null[i] = m->classes;
    }
    int rc = zoo_diffusion_sample(m->beta, m->abar, x, s, rng, unet_eps, strip_frame, &u);
    if (rc == 0 && u.frames) /* x_t strays past [-1, 1]: the grid clamps */
        rc = zoo_png_write_grid(s->strip, u.frames, u.rows * STRIP_FRAMES, m->c, m->h, m->w, STRIP_FRAMES);
    free(u.t);
    free(u.frames);
    free(u.y);
    free(u.y_null);
    return rc;
}

/* n samples [n, c, h, w] from the EMA weights, in the caller's scope: about [-1, 1], a
 * little beyond at places (the PNG writers clamp) */
/* denoise with the EMA weights swapped in, in eval mode without grad */
static int denoise_ema(diffusion *m, zoo_tensor *x, const zoo_image_sampling *s, zoo_rng *rng) {
    zoo_model_set_training(&m->base, false);
    bool old = zoo_set_grad_enabled(false);
    int rc = use_ema(m, true);
    if (rc == 0) rc = denoise(m, x, s, rng);
    if (use_ema(m, false)) rc = -1;
    zoo_set_grad_enabled(old);
    return rc;
}

static zoo_tensor *diffusion_generate(zoo_model *base, int64_t n, const zoo_image_sampling *s, zoo_rng *rng) {
    diffusion *m = (diffusion *)base;
    zoo_tensor *x = zoo_tensor_new_persistent(ZOO_F32, zoo_shape4(n, m->c, m->h, m->w));
    if (!x) return NULL;
    zoo_rng_normal(rng, x, 0.0f, 1.0f);
    int rc = denoise_ema(m, x, s, rng);
    zoo_tensor *out = rc ? NULL : zoo_tensor_new(ZOO_F32, x->shape); /* in the caller's scope */
    if (out && zoo_copy_(out, x)) out = NULL;
    zoo_tensor_free(x);
    return out;
}

static int diffusion_write_samples(zoo_model *base, const char *path) {
    diffusion *m = (diffusion *)base;
    zoo_rng rng = zoo_rng_stream(base->seed, 9); /* unused: DDIM with eta 0 draws nothing */
    zoo_tensor *x = zoo_tensor_new_persistent(ZOO_F32, m->fixed_noise->shape);
    if (!x || zoo_copy_(x, m->fixed_noise)) {
        zoo_tensor_free(x);
        return -1;
    }
    int32_t labels[SAMPLE_GRID]; /* a conditional model's grid: one class per row, guided */
    for (int i = 0; i < SAMPLE_GRID; i++) labels[i] = m->classes ? (i / 8) % m->classes : 0;
    zoo_image_sampling s = {.sampler = "ddim", .steps = GRID_STEPS, .labels = m->classes ? labels : NULL, .guidance = 3.0f};
    int rc = denoise_ema(m, x, &s, &rng);
    float *host = rc ? NULL : malloc((size_t)x->numel * sizeof *host);
    if (host) { /* the grid clamps to [-1, 1] */
        zoo_tensor_download(x, host);
        rc = zoo_png_write_grid(path, host, SAMPLE_GRID, m->c, m->h, m->w, 8);
    } else if (rc == 0) {
        zoo_set_error("out of host memory for the sample grid");
        rc = -1;
    }
    free(host);
    zoo_tensor_free(x);
    return rc;
}

/* ---------------------------------------------------------------- evaluation */

#define EVAL_MAX 1000
#define EVAL_BATCH 250

/* "loss": the EMA weights' noise-prediction error on up to EVAL_MAX images of d, each at
 * the same step and noise every evaluation (the steps spread evenly over 0 .. T-1) */
static int diffusion_evaluate(zoo_model *base, const zoo_dataset *d, zoo_metrics *out) {
    diffusion *m = (diffusion *)base;
    int64_t total = d->n < EVAL_MAX ? d->n : EVAL_MAX;
    if (total < 1) {
        zoo_set_error("no images to evaluate on");
        return -1;
    }
    int32_t t[EVAL_BATCH];
    double sum = 0.0;
    zoo_model_set_training(base, false);
    bool old = zoo_set_grad_enabled(false);
    int rc = use_ema(m, true);
    for (int64_t start = 0; start < total && rc == 0; start += EVAL_BATCH) {
        int64_t n = total - start < EVAL_BATCH ? total - start : EVAL_BATCH;
        if (!zoo_dist_mine(start / EVAL_BATCH)) continue; /* another rank's chunk (data-parallel) */
        for (int64_t i = 0; i < n; i++) t[i] = (int32_t)((start + i) * T_STEPS / total);
        zoo_rng rng = zoo_rng_stream(base->seed, ((uint64_t)8 << 32) + (uint64_t)start);
        zoo_scope_begin();
        zoo_batch b;
        rc = zoo_dataset_batch(d, start, n, &b);
        int32_t *y = NULL;
        if (rc == 0 && m->classes) { /* the images' own labels */
            zoo_tensor *label = zoo_batch_get(&b, "label");
            y = label ? zoo_scope_alloc((size_t)n * sizeof *y) : NULL;
            if (y) zoo_tensor_download(label, y);
            for (int64_t i = 0; y && i < n; i++)
                if (y[i] < 0 || y[i] >= m->classes) y[i] = m->classes;
        }
        zoo_tensor *loss = rc ? NULL : denoising_loss(m, zoo_batch_get(&b, "image"), t, y, &rng);
        if (loss) sum += (double)zoo_tensor_item(loss) * (double)n;
        else rc = -1;
        zoo_scope_end();
    }
    if (use_ema(m, false)) rc = -1;
    zoo_set_grad_enabled(old);
    if (rc) return -1;
    zoo_metrics_set(out, "loss", sum / (double)total);
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

static resblock resblock_new(zoo_module *mod, const char *name, int in, int out, zoo_rng *init) {
    char buf[ZOO_NAME_MAX];
    resblock r = {0};
    snprintf(buf, sizeof buf, "%s.norm1", name);
    r.norm1 = zoo_groupnorm_new(mod, buf, GROUPS, in);
    snprintf(buf, sizeof buf, "%s.conv1", name);
    r.conv1 = zoo_conv2d_new(mod, buf, in, out, 3, 1, 1, true, init);
    snprintf(buf, sizeof buf, "%s.temb", name);
    r.temb = zoo_linear_new(mod, buf, TEMB, out, true, init);
    snprintf(buf, sizeof buf, "%s.norm2", name);
    r.norm2 = zoo_groupnorm_new(mod, buf, GROUPS, out);
    snprintf(buf, sizeof buf, "%s.conv2", name);
    r.conv2 = zoo_conv2d_new(mod, buf, out, out, 3, 1, 1, true, init);
    if (in != out) {
        snprintf(buf, sizeof buf, "%s.skip", name);
        r.skip = zoo_conv2d_new(mod, buf, in, out, 1, 1, 0, true, init);
    }
    return r;
}

static attnblock attnblock_new(zoo_module *mod, const char *name, int ch, zoo_rng *init) {
    char buf[ZOO_NAME_MAX];
    attnblock a;
    snprintf(buf, sizeof buf, "%s.norm", name);
    a.norm = zoo_groupnorm_new(mod, buf, GROUPS, ch);
    snprintf(buf, sizeof buf, "%s.qkv", name);
    a.qkv = zoo_conv2d_new(mod, buf, ch, 3 * ch, 1, 1, 0, true, init);
    snprintf(buf, sizeof buf, "%s.proj", name);
    a.proj = zoo_conv2d_new(mod, buf, ch, ch, 1, 1, 0, true, init);
    return a;
}

/* --attn "14,28": which of the levels' sides (h >> level) get attention, as bits per
   level; -1 with the error set for a side no level has */
static int parse_attn(const char *s, int h, int levels) {
    int bits = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        int level = -1;
        for (int i = 0; i < levels; i++)
            if (end != p && v == h >> i) level = i;
        if (level < 0 || (*end && *end != ',') || (*end == ',' && !end[1])) {
            char sides[64] = "";
            for (int i = 0, k = 0; i < levels; i++)
                k += snprintf(sides + k, sizeof sides - (size_t)k, "%s%d", i ? ", " : "", h >> i);
            zoo_set_error("--attn expects comma-separated image sides among the U-Net's levels (%s), got '%s'", sides, s);
            return -1;
        }
        bits |= 1 << level;
        p = *end ? end + 1 : end;
    }
    return bits;
}

/* "1,2" -> mults; the count, or -1 with the error set */
static int parse_mults(const char *s, int *mults) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 16 || n == MAX_LEVELS || (*end && *end != ',')) {
            zoo_set_error("--mults expects 1 to %d comma-separated whole numbers from 1 to 16, got '%s'", MAX_LEVELS, s);
            return -1;
        }
        mults[n++] = (int)v;
        if (*end == ',' && !end[1]) n = MAX_LEVELS + 1; /* a trailing comma */
        if (n > MAX_LEVELS) {
            zoo_set_error("--mults expects 1 to %d comma-separated whole numbers from 1 to 16, got '%s'", MAX_LEVELS, s);
            return -1;
        }
        p = *end ? end + 1 : end;
    }
    if (n == 0) zoo_set_error("--mults expects 1 to %d comma-separated whole numbers from 1 to 16, got '%s'", MAX_LEVELS, s);
    return n ? n : -1;
}

static void diffusion_destroy(zoo_model *base);

static zoo_model *diffusion_create(const zoo_model_args *args) {
    zoo_clear_error();
    char *end;
    long ch = strtol(args->options[0], &end, 10);
    if (*end || ch < GROUPS || ch > 1024 || ch % GROUPS) {
        zoo_set_error("--base-channels expects a multiple of %d from %d to 1024, got '%s'", GROUPS, GROUPS, args->options[0]);
        return NULL;
    }
    int mults[MAX_LEVELS], levels = parse_mults(args->options[1], mults);
    if (levels < 0) return NULL;
    const char *schedule = args->options[2];
    if (strcmp(schedule, "linear") != 0 && strcmp(schedule, "cosine") != 0) {
        zoo_set_error("--noise-schedule expects linear or cosine, got '%s'", schedule);
        return NULL;
    }
    int div = 1 << (levels - 1);
    if (args->h % div || args->w % div) {
        zoo_set_error("%d levels halve the image %d times: its sides must be multiples of %d, got %dx%d", levels,
                      levels - 1, div, args->h, args->w);
        return NULL;
    }
    int attn = parse_attn(args->options[4], args->h, levels);
    if (attn < 0) return NULL;
    double ema = strtod(args->options[5], &end);
    if (*end || end == args->options[5] || !(ema >= 0.0 && ema < 1.0)) {
        zoo_set_error("--ema expects a decay from 0 (no averaging) to below 1, got '%s'", args->options[5]);
        return NULL;
    }
    diffusion *m = calloc(1, sizeof *m);
    if (!m) {
        zoo_set_error("out of host memory");
        return NULL;
    }
    zoo_model_init(&m->base, &zoo_diffusion_def, args);
    m->c = args->c;
    m->h = args->h;
    m->w = args->w;
    m->ch = (int)ch;
    m->levels = levels;
    memcpy(m->mults, mults, sizeof mults);
    m->cosine = strcmp(schedule, "cosine") == 0;
    m->ema_decay = (float)ema;
    if (strcmp(args->options[3], "1") == 0) {
        if (args->n_classes < 2) {
            zoo_set_error("--conditional needs labelled data of 2 classes or more, got %d", args->n_classes);
            free(m);
            return NULL;
        }
        m->classes = args->n_classes;
    } else if (strcmp(args->options[3], "0") != 0) {
        zoo_set_error("--conditional is a switch (the checkpoint says '%s')", args->options[3]);
        free(m);
        return NULL;
    }
    zoo_diffusion_schedule(m->cosine, m->beta, m->abar);
    m->base.input_mean = 0.5f; /* the model sees 2x - 1 */
    m->base.input_std = 0.5f;
    m->base.n_parts = 1;
    zoo_module *mod = &m->base.parts[0];
    zoo_module_init(mod);
    zoo_rng init = zoo_rng_stream(args->seed, 1);
    char name[ZOO_NAME_MAX];
    m->time1 = zoo_linear_new(mod, "time_mlp.0", TEMB, TEMB, true, &init);
    m->time2 = zoo_linear_new(mod, "time_mlp.2", TEMB, TEMB, true, &init);
    if (m->classes) m->label_emb = zoo_embedding_new(mod, "label_emb", m->classes + 1, TEMB, &init);
    m->conv_in = zoo_conv2d_new(mod, "conv_in", m->c, m->ch, 3, 1, 1, true, &init);
    int cur = m->ch, level_ch[MAX_LEVELS];
    for (int i = 0; i < levels; i++) {
        level_ch[i] = m->ch * mults[i];
        snprintf(name, sizeof name, "down.%d.res", i);
        m->down_res[i] = resblock_new(mod, name, cur, level_ch[i], &init);
        cur = level_ch[i];
        if (attn >> i & 1) {
            snprintf(name, sizeof name, "down.%d.attn", i);
            m->down_attn[i] = attnblock_new(mod, name, cur, &init);
        }
        if (i < levels - 1) {
            snprintf(name, sizeof name, "down.%d.down", i);
            m->down[i] = zoo_conv2d_new(mod, name, cur, cur, 3, 2, 1, true, &init);
        }
    }
    m->mid = resblock_new(mod, "mid", cur, cur, &init);
    if (attn >> (levels - 1) & 1) m->mid_attn = attnblock_new(mod, "mid.attn", cur, &init);
    for (int i = levels - 2; i >= 0; i--) {
        snprintf(name, sizeof name, "up.%d.up", i);
        m->up[i] = zoo_conv2d_new(mod, name, cur, cur, 3, 1, 1, true, &init);
        snprintf(name, sizeof name, "up.%d.res", i);
        m->up_res[i] = resblock_new(mod, name, cur + level_ch[i], level_ch[i], &init);
        cur = level_ch[i];
        if (attn >> i & 1) {
            snprintf(name, sizeof name, "up.%d.attn", i);
            m->up_attn[i] = attnblock_new(mod, name, cur, &init);
        }
    }
    m->norm_out = zoo_groupnorm_new(mod, "norm_out", GROUPS, cur);
    m->conv_out = zoo_conv2d_new(mod, "conv_out", cur, m->c, 3, 1, 1, true, &init);

    /* the moving average starts as a copy of the initial weights */
    int n_params = mod->n;
    m->param = calloc((size_t)n_params, sizeof *m->param);
    m->ema = calloc((size_t)n_params, sizeof *m->ema);
    m->saved = calloc((size_t)n_params, sizeof *m->saved);
    if (!m->param || !m->ema || !m->saved) {
        zoo_set_error("out of host memory");
        diffusion_destroy(&m->base);
        return NULL;
    }
    for (int i = 0; i < n_params && !zoo_failed(); i++) {
        zoo_tensor *p = mod->params[i].t;
        char ema_name[ZOO_NAME_MAX + 8];
        snprintf(ema_name, sizeof ema_name, "ema.%s", mod->params[i].name);
        zoo_tensor *e = zoo_module_buffer(mod, ema_name, p->shape);
        m->saved[m->n_ema] = zoo_tensor_new_persistent(ZOO_F32, p->shape);
        if (!e || !m->saved[m->n_ema]) break;
        zoo_copy_(e, p);
        m->param[m->n_ema] = p;
        m->ema[m->n_ema++] = e;
    }
    m->fixed_noise = zoo_tensor_new_persistent(ZOO_F32, zoo_shape4(SAMPLE_GRID, m->c, m->h, m->w));
    if (m->fixed_noise) {
        zoo_rng fixed = zoo_rng_stream(args->seed, 3);
        zoo_rng_normal(&fixed, m->fixed_noise, 0.0f, 1.0f);
    }
    zoo_model_add_optimizers(&m->base);
    if (zoo_failed()) {
        diffusion_destroy(&m->base);
        return NULL;
    }
    return &m->base;
}

static void diffusion_destroy(zoo_model *base) {
    diffusion *m = (diffusion *)base;
    for (int i = 0; i < m->n_ema; i++) zoo_tensor_free(m->saved[i]);
    free(m->param);
    free(m->ema);
    free(m->saved);
    zoo_tensor_free(m->fixed_noise);
    zoo_model_release(base);
    free(m);
}

const zoo_model_def zoo_diffusion_def = {
    .name = "diffusion",
    .description = "DDPM: a U-Net that learns to remove noise, sampled by DDPM or DDIM into PNG grids",
    .dataset = "Fashion-MNIST or a folder of images",
    .defaults = {.steps = 6000, .batch = 64, .lr = 2e-4f, .optimizer = ZOO_OPTIM_ADAM, .sample_every = 1000,
                 .eval_every = 1000},
    .options = {{"base-channels", "32", "the U-Net's width at full resolution (a multiple of 8)", false},
                {"mults", "1,2", "width multipliers per level, comma-separated (each level but the last halves the image)", false},
                {"noise-schedule", "linear", "betas: linear (1e-4 to 0.02) or cosine", false},
                {"conditional", "0", "learn each class too (a label embedding, 10% of labels dropped), for zoo-sample --class", true},
                {"attn", "", "self-attention at these image sides, comma-separated (14: after the ResBlocks at 14x14)", false},
                {"ema", "0.999", "the weights' moving average (what samples use): its decay per step, 0 for none", false}},
    .n_options = 6,
    .create = diffusion_create,
    .destroy = diffusion_destroy,
    .train_step = diffusion_train_step,
    .evaluate = diffusion_evaluate,
    .eval_sharded = true,
    .monitor = "loss",
    .monitor_max = false,
    .generate = diffusion_generate,
    .samplers = "ddim,ddpm",
    .write_samples = diffusion_write_samples,
};
