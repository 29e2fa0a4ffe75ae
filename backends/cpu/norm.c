/* Batch norm and its gradients (backend.h), one channel per task. The per-channel
 * sums run over (image, position) in order: in exact mode in canon.h's order, in fast
 * mode each image's run vectorized. The formulas are formulas.h's, shared with the
 * shaders. */
#include "cpu_internal.h"
#include "../canon.h"
#include "../formulas.h"
#include "../kernels.h"
#include "vecmath.h"

/* the terms of batch norm's sums (backend.h) over channel ch of x [n, c, inner] */
typedef enum bn_term { BN_X, BN_SQ_DEV, BN_DY, BN_DY_DEV } bn_term;

/* the sum of term t over channel ch, built a group of terms at a time */
static float channel_sum(const cpu_ctx *c, bn_term t, const float *x, const float *dy, int64_t n, int64_t ch_count,
                         int64_t inner, int64_t ch, float mean) {
    zoo_canon_sum acc = zoo_canon_sum_new();
    float fast = 0.0f;
    float buf[ZOO_SUM_GROUP];
    for (int64_t b = 0; b < n; b++) {
        const float *r = x + (b * ch_count + ch) * inner, *d = dy ? dy + (b * ch_count + ch) * inner : NULL;
        if (!c->exact && (t == BN_X || t == BN_DY)) { /* the run as it is */
            fast += cpu_vsum(t == BN_X ? r : d, inner);
            continue;
        }
        for (int64_t i0 = 0; i0 < inner; i0 += ZOO_SUM_GROUP) {
            int64_t len = inner - i0 < ZOO_SUM_GROUP ? inner - i0 : ZOO_SUM_GROUP;
            for (int64_t i = 0; i < len; i++) {
                float v = r[i0 + i];
                switch (t) {
                case BN_X: buf[i] = v; break;
                case BN_SQ_DEV: buf[i] = (v - mean) * (v - mean); break;
                case BN_DY: buf[i] = d[i0 + i]; break;
                case BN_DY_DEV: buf[i] = d[i0 + i] * (v - mean); break;
                }
            }
            if (c->exact) zoo_canon_sum_add_run(&acc, buf, len, 1);
            else fast += cpu_vsum(buf, len);
        }
    }
    return c->exact ? zoo_canon_sum_result(&acc) : fast;
}

/* x [n, c, inner] -> y; per channel in parallel: mean, then the variance about it
 * (two passes: no cancellation) */
void cpu_batchnorm(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                   zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                   zoo_tensor *save_invstd, const zoo_batchnorm_params *p) {
    cpu_ctx *c = ctx;
    int64_t n, ch_count, inner;
    zoo_bn_dims(x, &n, &ch_count, &inner);
    int64_t m = n * inner;
    const float *px = f32(x);
    float *py = f32(y);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t ch = 0; ch < ch_count; ch++) {
        float mean, invstd;
        if (p->training) {
            mean = channel_sum(c, BN_X, px, NULL, n, ch_count, inner, ch, 0.0f) / (float)m;
            float sq = channel_sum(c, BN_SQ_DEV, px, NULL, n, ch_count, inner, ch, mean);
            invstd = zoo_bn_invstd(sq / (float)m, p->eps);
            if (running_mean) {
                float *rm = f32(running_mean) + ch, *rv = f32(running_var) + ch;
                *rm = zoo_bn_running(*rm, mean, p->momentum);
                *rv = zoo_bn_running(*rv, sq / (float)(m - 1), p->momentum);
            }
        } else {
            mean = f32(running_mean)[ch];
            invstd = zoo_bn_invstd(f32(running_var)[ch], p->eps);
        }
        f32(save_mean)[ch] = mean;
        f32(save_invstd)[ch] = invstd;
        float scale = zoo_bn_scale(invstd, gamma ? f32(gamma)[ch] : 1.0f);
        float shift = zoo_bn_shift(beta ? f32(beta)[ch] : 0.0f, mean, scale);
        for (int64_t b = 0; b < n; b++) {
            const float *r = px + (b * ch_count + ch) * inner;
            float *o = py + (b * ch_count + ch) * inner;
            for (int64_t i = 0; i < inner; i++) o[i] = zoo_bn_apply(r[i], scale, shift);
        }
    }
}

/* x, dy, saved mean and invstd -> dx, dgamma, dbeta; per channel in parallel: the two
 * sums, then dx in one more pass */
void cpu_batchnorm_backward(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                            const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                            zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p) {
    cpu_ctx *c = ctx;
    int64_t n, ch_count, inner;
    zoo_bn_dims(x, &n, &ch_count, &inner);
    int64_t m = n * inner;
    const float *px = f32(x), *pd = f32(dy);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t ch = 0; ch < ch_count; ch++) {
        float mean = f32(save_mean)[ch], invstd = f32(save_invstd)[ch];
        float g = gamma ? f32(gamma)[ch] : 1.0f;
        bool need_sums = dgamma || dbeta || (dx && p->training);
        float sum_dy = 0.0f, dot = 0.0f;
        if (need_sums) {
            sum_dy = channel_sum(c, BN_DY, px, pd, n, ch_count, inner, ch, mean);
            dot = channel_sum(c, BN_DY_DEV, px, pd, n, ch_count, inner, ch, mean);
        }
        if (dgamma) f32(dgamma)[ch] = dot * invstd;
        if (dbeta) f32(dbeta)[ch] = sum_dy;
        if (!dx) continue;
        float k = p->training ? zoo_bn_k(dot, invstd, (float)m) : 0.0f;
        float mdy = p->training ? sum_dy / (float)m : 0.0f, s = zoo_bn_scale(invstd, g);
        for (int64_t b = 0; b < n; b++) {
            const float *r = px + (b * ch_count + ch) * inner, *d = pd + (b * ch_count + ch) * inner;
            float *o = f32(dx) + (b * ch_count + ch) * inner;
            for (int64_t i = 0; i < inner; i++) o[i] = zoo_bn_dx(d[i], r[i], mean, mdy, k, s);
        }
    }
}
