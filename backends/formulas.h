/* Per-element formulas that both backends compute: unary ops and their derivatives,
 * the optimizer updates, batch norm's and layer norm's apply and input gradient. Like
 * canon_math.h this file is both C and GLSL (the CPU includes it; shaders #include it after
 * common.glsl), so the two cannot drift apart. Each is written exactly as exact mode
 * rounds it: operations in the order shown, divisions and square roots through
 * ZOO_DIV and zoo_sqrtf (correctly rounded on every device). */
#ifndef ZOO_FORMULAS_H
#define ZOO_FORMULAS_H

#include "canon_math.h"

#ifndef GL_core_profile
#include "backend.h"
#endif

/* ---------------------------------------------------------------- unary ops */

/* 1/sqrt(2) and 1/sqrt(2 pi), for GELU */
#define ZOO_RSQRT2 0.70710678118654752f
#define ZOO_RSQRT2PI 0.39894228040143268f

/* y = f(x) for op (ops.def), with its parameters a and b */
ZOO_FN float zoo_unary_f(int op, float v, float a, float b) {
    ZOO_PRECISE float r = v;
    switch (op) {
    case ZOO_UNARY_AFFINE: r = a * v + b; break;
    case ZOO_UNARY_POW: r = zoo_powf(v, a); break;
    case ZOO_UNARY_RELU: r = v > 0.0f ? v : 0.0f; break;
    case ZOO_UNARY_LEAKY_RELU: r = v > 0.0f ? v : a * v; break;
    case ZOO_UNARY_TANH: r = zoo_tanhf(v); break;
    case ZOO_UNARY_SIGMOID: r = zoo_sigmoidf(v); break;
    case ZOO_UNARY_GELU: r = 0.5f * v * (1.0f + zoo_erff(v * ZOO_RSQRT2)); break;
    case ZOO_UNARY_SILU: r = v * zoo_sigmoidf(v); break;
    case ZOO_UNARY_EXP: r = zoo_expf(v); break;
    case ZOO_UNARY_LOG: r = zoo_logf(v); break;
    case ZOO_UNARY_SQRT: r = zoo_sqrtf(v); break;
    case ZOO_UNARY_ABS: r = zoo_fabsf(v); break;
    default: break; /* COPY */
    }
    return r;
}

/* dx = dy * f'(x) for op, from x (v), y = f(x) (o) and dy (g) */
ZOO_FN float zoo_unary_df(int op, float v, float o, float g, float a) {
    ZOO_PRECISE float r = g;
    switch (op) {
    case ZOO_UNARY_AFFINE: r = a * g; break;
    case ZOO_UNARY_POW: r = a * zoo_powf(v, a - 1.0f) * g; break;
    case ZOO_UNARY_RELU: r = v > 0.0f ? g : 0.0f; break;
    case ZOO_UNARY_LEAKY_RELU: r = v > 0.0f ? g : a * g; break;
    case ZOO_UNARY_TANH: r = g * (1.0f - o * o); break;
    case ZOO_UNARY_SIGMOID: r = g * o * (1.0f - o); break;
    case ZOO_UNARY_GELU:
        r = g * (0.5f * (1.0f + zoo_erff(v * ZOO_RSQRT2)) + v * ZOO_RSQRT2PI * zoo_expf(-0.5f * v * v));
        break;
    case ZOO_UNARY_SILU: {
        ZOO_PRECISE float s = zoo_sigmoidf(v);
        r = g * (s * (1.0f + v * (1.0f - s)));
        break;
    }
    case ZOO_UNARY_EXP: r = g * o; break;
    case ZOO_UNARY_LOG: r = ZOO_DIV(g, v); break;
    case ZOO_UNARY_SQRT: r = ZOO_DIV(g * 0.5f, o); break;
    case ZOO_UNARY_ABS: r = v > 0.0f ? g : (v < 0.0f ? -g : 0.0f); break;
    default: break; /* COPY */
    }
    return r;
}

/* y = a*x + b*y: each product rounded, then added (an EMA of weights: zoo_lerp_) */
ZOO_FN float zoo_axpby(float x, float y, float a, float b) {
    ZOO_PRECISE float r = a * x + b * y;
    return r;
}

/* ---------------------------------------------------------------- optimizers */

/* torch.optim.SGD: g += wd*w; buf = momentum*buf + (1-dampening)*g (buf = g on the
 * first step); g = nesterov ? g + momentum*buf : buf; w -= lr*g. Step by step: */
ZOO_FN float zoo_sgd_grad(float g, float w, float wd) {
    ZOO_PRECISE float r = g + wd * w;
    return r;
}
ZOO_FN float zoo_sgd_buf(float buf, float g, float momentum, float dampening, bool first) {
    ZOO_PRECISE float r = momentum * buf + (1.0f - dampening) * g;
    return first ? g : r;
}
ZOO_FN float zoo_sgd_direction(float g, float buf, float momentum, bool nesterov) {
    ZOO_PRECISE float r = g + momentum * buf;
    return nesterov ? r : buf;
}
ZOO_FN float zoo_sgd_weight(float w, float g, float lr) {
    ZOO_PRECISE float r = w - lr * g;
    return r;
}

/* torch.optim.Adam / AdamW (no amsgrad), with kernels.h's per-step scalars:
 * g += wd*w; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 * w = w*decay - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps) */
ZOO_FN float zoo_adam_grad(float g, float w, float wd) {
    ZOO_PRECISE float r = g + wd * w;
    return r;
}
ZOO_FN float zoo_adam_m(float m, float g, float b1) {
    ZOO_PRECISE float r = b1 * m + (1.0f - b1) * g;
    return r;
}
ZOO_FN float zoo_adam_v(float v, float g, float b2) {
    ZOO_PRECISE float r = b2 * v + (1.0f - b2) * g * g;
    return r;
}
ZOO_FN float zoo_adam_weight(float w, float m, float v, float decay, float step_size, float inv_sqrt_bc2,
                             float eps) {
    ZOO_PRECISE float wi = w * decay;
    ZOO_PRECISE float den = zoo_sqrtf(v) * inv_sqrt_bc2 + eps;
    ZOO_PRECISE float r = wi - ZOO_DIV(step_size * m, den);
    return r;
}

/* ---------------------------------------------------------------- batch norm */

/* invstd = 1 / sqrt(var + eps) */
ZOO_FN float zoo_bn_invstd(float var, float eps) {
    ZOO_PRECISE float r = ZOO_DIV(1.0f, zoo_sqrtf(var + eps));
    return r;
}
/* y = x * scale + shift, scale = invstd * gamma, shift = beta - mean * scale */
ZOO_FN float zoo_bn_scale(float invstd, float gamma) {
    ZOO_PRECISE float r = invstd * gamma;
    return r;
}
ZOO_FN float zoo_bn_shift(float beta, float mean, float scale) {
    ZOO_PRECISE float r = beta - mean * scale;
    return r;
}
ZOO_FN float zoo_bn_apply(float x, float scale, float shift) {
    ZOO_PRECISE float r = x * scale + shift;
    return r;
}
/* running = (1 - momentum) * running + momentum * batch */
ZOO_FN float zoo_bn_running(float running, float batch, float momentum) {
    ZOO_PRECISE float r = (1.0f - momentum) * running + momentum * batch;
    return r;
}
/* the input gradient: dx = (dy - mdy - (x - mean) * k) * s, with mdy = sum(dy) / m,
 * k = sum(dy (x - mean)) * invstd * invstd / m and s = invstd * gamma (eval: mdy, k 0) */
ZOO_FN float zoo_bn_dx(float dy, float x, float mean, float mdy, float k, float s) {
    ZOO_PRECISE float r = (dy - mdy - (x - mean) * k) * s;
    return r;
}
ZOO_FN float zoo_bn_k(float dot, float invstd, float m) {
    ZOO_PRECISE float r = ZOO_DIV(dot * invstd * invstd, m);
    return r;
}

/* ---------------------------------------------------------------- layer norm */

/* a row's mean of d terms from their sum: mean, and the backward's sg / d, sgx / d */
ZOO_FN float zoo_ln_mean(float sum, float d) {
    ZOO_PRECISE float r = ZOO_DIV(sum, d);
    return r;
}
/* rstd = 1 / sqrt(q / d + eps), q the sum of squared deviations (the biased variance) */
ZOO_FN float zoo_ln_rstd(float q, float d, float eps) {
    ZOO_PRECISE float r = ZOO_DIV(1.0f, zoo_sqrtf(ZOO_DIV(q, d) + eps));
    return r;
}
/* xhat = (x - mean) * rstd */
ZOO_FN float zoo_ln_xhat(float x, float mean, float rstd) {
    ZOO_PRECISE float r = (x - mean) * rstd;
    return r;
}
/* y = xhat * gamma + beta */
ZOO_FN float zoo_ln_apply(float xhat, float gamma, float beta) {
    ZOO_PRECISE float r = xhat * gamma + beta;
    return r;
}
/* the input gradient: dx = ((g - mg) - xhat * mgx) * rstd, g = dy * gamma, mg and mgx the
 * row's means of g and g * xhat */
ZOO_FN float zoo_ln_dx(float g, float xhat, float mg, float mgx, float rstd) {
    ZOO_PRECISE float r = (g - mg - xhat * mgx) * rstd;
    return r;
}

#endif
