/* Batch norm, layer norm and group norm with their gradients (backend.h). Batch norm
 * takes one channel per task, its sums over (image, position) in order: in exact mode
 * in canon.h's order, in fast mode each image's run vectorized. Layer norm and group
 * norm (one kernel: group norm's rows are a sample's groups of channels) take one row
 * per task, its row sums through cpu_sum (canon.h's order, or vectorized); group
 * norm's parameter gradients take one channel per task, as batch norm's sums do. The
 * formulas are formulas.h's, shared with the shaders. */
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

/* ---------------------------------------------------------------- layer norm and group norm */

/* gamma (or beta) as each group's row of d parameters, [groups, d]: entry (q, k) is
 * channel q * cpg + k / inner's, 1 (or 0) without the tensor. Layer norm's and a group
 * norm's with one element per channel are the vector itself; else scratch, written once
 * per call (one sample's worth of floats), so that the row loops below have one form. */
static const float *row_params(cpu_ctx *c, const zoo_tensor *t, const zoo_norm_dims *nd, float value) {
    if (t && nd->inner == 1) return f32(t);
    float *v = cpu_scratch(c, (size_t)(nd->groups * nd->d));
    for (int64_t ch = 0; ch < nd->params; ch++) {
        float p = t ? f32(t)[ch] : value;
        for (int64_t i = 0; i < nd->inner; i++) v[ch * nd->inner + i] = p;
    }
    return v;
}

/* x [rows, d] -> y, mean and rstd [rows]; per row in parallel: the mean, then the sum of
 * squared deviations about it (two passes: no cancellation on large offsets). The row
 * of y holds the squared deviations until it is written. */
void cpu_layernorm(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *gamma, const zoo_tensor *beta,
                   zoo_tensor *y, zoo_tensor *mean, zoo_tensor *rstd, float eps) {
    cpu_ctx *c = ctx;
    zoo_norm_dims nd = zoo_norm_dims_of(x, groups);
    int64_t d = nd.d;
    size_t mark = cpu_mark(c);
    const float *gs = row_params(c, gamma, &nd, 1.0f), *bs = row_params(c, beta, &nd, 0.0f);
    const float *px = f32(x);
    float *py = f32(y), *pm = f32(mean), *pr = f32(rstd);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < nd.rows; r++) {
        const float *xr = px + r * d, *g = gs + r % nd.groups * d, *b = bs + r % nd.groups * d;
        float *yr = py + r * d;
        float m = zoo_ln_mean(cpu_sum(c, xr, d, 1), (float)d);
#pragma omp simd
        for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * (xr[j] - m);
        float rs = zoo_ln_rstd(cpu_sum(c, yr, d, 1), (float)d, eps);
#pragma omp simd
        for (int64_t j = 0; j < d; j++) yr[j] = zoo_ln_apply(zoo_ln_xhat(xr[j], m, rs), g[j], b[j]);
        pm[r] = m;
        pr[r] = rs;
    }
    cpu_release(c, mark);
}

/* layer norm's dgamma and dbeta, sums over rows: each group of ZOO_SUM_GROUP rows is
 * added up from 0 in row order (in parallel over groups, vectorized over columns), then
 * each column's group sums are added in canon.h's order, which is the canon sum of all
 * its terms */
static void layernorm_param_grads(cpu_ctx *c, const float *px, const float *pd, const float *pm, const float *pr,
                                  float *dgamma, float *dbeta, int64_t rows, int64_t d) {
    int64_t groups = (rows + ZOO_SUM_GROUP - 1) / ZOO_SUM_GROUP;
    size_t mark = cpu_mark(c);
    float *sg = groups > 1 || !dgamma ? cpu_scratch(c, (size_t)(groups * d)) : dgamma;
    float *sb = groups > 1 || !dbeta ? cpu_scratch(c, (size_t)(groups * d)) : dbeta;
#pragma omp parallel for if (rows * d >= PAR_MIN) schedule(static)
    for (int64_t gi = 0; gi < groups; gi++) {
        float *ag = sg + gi * d, *ab = sb + gi * d;
        for (int64_t j = 0; j < d; j++) ag[j] = ab[j] = 0.0f;
        int64_t end = (gi + 1) * ZOO_SUM_GROUP < rows ? (gi + 1) * ZOO_SUM_GROUP : rows;
        for (int64_t r = gi * ZOO_SUM_GROUP; r < end; r++) {
            const float *xr = px + r * d, *dr = pd + r * d;
            float m = pm[r], rs = pr[r];
#pragma omp simd
            for (int64_t j = 0; j < d; j++) {
                ag[j] = ag[j] + dr[j] * zoo_ln_xhat(xr[j], m, rs);
                ab[j] = ab[j] + dr[j];
            }
        }
    }
    if (groups > 1) {
#pragma omp parallel for if (groups * d >= PAR_MIN) schedule(static)
        for (int64_t j = 0; j < d; j++) {
            if (dgamma) dgamma[j] = cpu_sum(c, sg + j, groups, d);
            if (dbeta) dbeta[j] = cpu_sum(c, sb + j, groups, d);
        }
    }
    cpu_release(c, mark);
}

/* group norm's dgamma and dbeta: per channel in parallel, the sums over its elements of
 * sample 0, 1, ... (a run of inner each), built a group of terms at a time as batch
 * norm's channel_sum does */
static void groupnorm_param_grads(const cpu_ctx *c, const zoo_norm_dims *nd, const float *px, const float *pd,
                                  const float *pm, const float *pr, float *dgamma, float *dbeta) {
    int64_t inner = nd->inner;
#pragma omp parallel for if (nd->rows * nd->d >= PAR_MIN) schedule(static)
    for (int64_t ch = 0; ch < nd->params; ch++) {
        zoo_canon_sum ag = zoo_canon_sum_new(), ab = zoo_canon_sum_new();
        float fg = 0.0f, fb = 0.0f;
        float buf[ZOO_SUM_GROUP];
        for (int64_t s = 0; s < nd->samples; s++) {
            int64_t r = s * nd->groups + ch / nd->cpg, at = r * nd->d + ch % nd->cpg * inner;
            const float *xr = px + at, *dr = pd + at;
            float m = pm[r], rs = pr[r];
            if (dbeta) {
                if (c->exact) zoo_canon_sum_add_run(&ab, dr, inner, 1);
                else fb += cpu_vsum(dr, inner);
            }
            for (int64_t i0 = 0; dgamma && i0 < inner; i0 += ZOO_SUM_GROUP) {
                int64_t len = inner - i0 < ZOO_SUM_GROUP ? inner - i0 : ZOO_SUM_GROUP;
#pragma omp simd
                for (int64_t i = 0; i < len; i++) buf[i] = dr[i0 + i] * zoo_ln_xhat(xr[i0 + i], m, rs);
                if (c->exact) zoo_canon_sum_add_run(&ag, buf, len, 1);
                else fg += cpu_vsum(buf, len);
            }
        }
        if (dgamma) dgamma[ch] = c->exact ? zoo_canon_sum_result(&ag) : fg;
        if (dbeta) dbeta[ch] = c->exact ? zoo_canon_sum_result(&ab) : fb;
    }
}

/* below this many elements per channel, group norm's rows are better taken the general way */
#define GROUPNORM_FAST_INNER 16

/* Group norm in fast mode, per row (sample, group) in parallel: one pass over each
 * channel's run takes sum(dy) and sum(dy * xhat), kept per (sample, channel), from
 * which the row's sums of g and g * xhat follow (gamma is constant along a run); a
 * second pass writes dx. dgamma and dbeta are then the per-sample sums added up. x and
 * dy are read twice, where the general path reads them once for the parameters' sums
 * and then five times row by row. */
static void groupnorm_backward_fast(cpu_ctx *c, const zoo_norm_dims *nd, const float *px, const float *pd,
                                    const float *pm, const float *pr, const float *gamma, float *dx,
                                    float *dgamma, float *dbeta) {
    int64_t d = nd->d, inner = nd->inner, cpg = nd->cpg, ch_count = nd->params;
    size_t mark = cpu_mark(c);
    float *sb = cpu_scratch(c, (size_t)(nd->samples * ch_count)), *sg = cpu_scratch(c, (size_t)(nd->samples * ch_count));
#pragma omp parallel for if (nd->rows * d >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < nd->rows; r++) {
        int64_t ch0 = r % nd->groups * cpg, s = r / nd->groups;
        float m = pm[r], rs = pr[r], row_g = 0.0f, row_gx = 0.0f;
        for (int64_t cc = 0; cc < cpg; cc++) {
            const float *xr = px + r * d + cc * inner, *dr = pd + r * d + cc * inner;
            float sdy = 0.0f, sdx = 0.0f;
#pragma omp simd reduction(+ : sdy, sdx)
            for (int64_t i = 0; i < inner; i++) {
                sdy += dr[i];
                sdx += dr[i] * zoo_ln_xhat(xr[i], m, rs);
            }
            float gv = gamma ? gamma[ch0 + cc] : 1.0f;
            sb[s * ch_count + ch0 + cc] = sdy;
            sg[s * ch_count + ch0 + cc] = sdx;
            row_g += gv * sdy;
            row_gx += gv * sdx;
        }
        if (!dx) continue;
        float mg = zoo_ln_mean(row_g, (float)d), mgx = zoo_ln_mean(row_gx, (float)d);
        for (int64_t cc = 0; cc < cpg; cc++) {
            const float *xr = px + r * d + cc * inner, *dr = pd + r * d + cc * inner;
            float *o = dx + r * d + cc * inner, gv = gamma ? gamma[ch0 + cc] : 1.0f;
#pragma omp simd
            for (int64_t i = 0; i < inner; i++) o[i] = zoo_ln_dx(dr[i] * gv, zoo_ln_xhat(xr[i], m, rs), mg, mgx, rs);
        }
    }
    for (int64_t ch = 0; ch < ch_count && (dgamma || dbeta); ch++) {
        float tg = 0.0f, tb = 0.0f;
        for (int64_t s = 0; s < nd->samples; s++) {
            tg += sg[s * ch_count + ch];
            tb += sb[s * ch_count + ch];
        }
        if (dgamma) dgamma[ch] = tg;
        if (dbeta) dbeta[ch] = tb;
    }
    cpu_release(c, mark);
}

/* per row in parallel: the sums of g and g * xhat, then dx; the row of dx holds the
 * terms of each sum until it is written */
void cpu_layernorm_backward(void *ctx, const zoo_tensor *x, int64_t groups, const zoo_tensor *dy,
                            const zoo_tensor *gamma, const zoo_tensor *mean, const zoo_tensor *rstd, zoo_tensor *dx,
                            zoo_tensor *dgamma, zoo_tensor *dbeta) {
    cpu_ctx *c = ctx;
    zoo_norm_dims nd = zoo_norm_dims_of(x, groups);
    int64_t d = nd.d;
    const float *px = f32(x), *pd = f32(dy), *pm = f32(mean), *pr = f32(rstd);
    float *pdg = dgamma ? f32(dgamma) : NULL, *pdb = dbeta ? f32(dbeta) : NULL;
    if (!c->exact && groups > 0 && nd.inner >= GROUPNORM_FAST_INNER) {
        groupnorm_backward_fast(c, &nd, px, pd, pm, pr, gamma ? f32(gamma) : NULL, dx ? f32(dx) : NULL, pdg, pdb);
        return;
    }
    if ((dgamma || dbeta) && groups == 0) layernorm_param_grads(c, px, pd, pm, pr, pdg, pdb, nd.rows, d);
    else if (dgamma || dbeta) groupnorm_param_grads(c, &nd, px, pd, pm, pr, pdg, pdb);
    if (!dx) return;
    size_t mark = cpu_mark(c);
    const float *gs = row_params(c, gamma, &nd, 1.0f);
    float *po = f32(dx);
#pragma omp parallel for if (x->numel >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < nd.rows; r++) {
        const float *xr = px + r * d, *dr = pd + r * d, *g = gs + r % nd.groups * d;
        float *o = po + r * d, m = pm[r], rs = pr[r];
#pragma omp simd
        for (int64_t j = 0; j < d; j++) o[j] = dr[j] * g[j];
        float mg = zoo_ln_mean(cpu_sum(c, o, d, 1), (float)d);
#pragma omp simd
        for (int64_t j = 0; j < d; j++) o[j] = dr[j] * g[j] * zoo_ln_xhat(xr[j], m, rs);
        float mgx = zoo_ln_mean(cpu_sum(c, o, d, 1), (float)d);
#pragma omp simd
        for (int64_t j = 0; j < d; j++) o[j] = zoo_ln_dx(dr[j] * g[j], zoo_ln_xhat(xr[j], m, rs), mg, mgx, rs);
    }
    cpu_release(c, mark);
}
