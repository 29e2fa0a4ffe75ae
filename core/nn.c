/* The parameter container and the layers: Linear, Conv2d, ConvTranspose2d, BatchNorm2d,
 * LayerNorm and Dropout. */
#include "nn.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void zoo_module_init(zoo_module *m) {
    memset(m, 0, sizeof *m);
    m->training = true;
}

void zoo_module_free(zoo_module *m) {
    for (int i = 0; i < m->n; i++) zoo_tensor_free(m->params[i].t);
    free(m->params);
    memset(m, 0, sizeof *m);
}

static zoo_tensor *add(zoo_module *m, const char *name, zoo_shape shape, zoo_param_kind kind) {
    if (strlen(name) >= ZOO_NAME_MAX) {
        zoo__error("parameter name too long: %s", name);
        return NULL;
    }
    if (zoo_module_find(m, name)) {
        zoo__error("parameter %s defined twice", name);
        return NULL;
    }
    zoo_tensor *t = zoo_tensor_new_persistent(ZOO_F32, shape);
    if (!t) return NULL;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->params = zoo__need(realloc(m->params, (size_t)m->cap * sizeof *m->params), "module");
    }
    zoo_param *p = &m->params[m->n++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->t = t;
    p->kind = kind;
    if (kind != ZOO_PARAM_BUFFER) zoo_tensor_enable_grad(p->t);
    return p->t;
}

zoo_tensor *zoo_module_param(zoo_module *m, const char *name, zoo_shape shape) {
    return add(m, name, shape, shape.ndim >= 2 ? ZOO_PARAM_WEIGHT : ZOO_PARAM_BIAS);
}
zoo_tensor *zoo_module_param_kind(zoo_module *m, const char *name, zoo_shape shape, zoo_param_kind kind) {
    return add(m, name, shape, kind);
}
zoo_tensor *zoo_module_buffer(zoo_module *m, const char *name, zoo_shape shape) {
    return add(m, name, shape, ZOO_PARAM_BUFFER);
}

zoo_tensor *zoo_module_find(const zoo_module *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].t;
    return NULL;
}

void zoo_module_zero_grad(zoo_module *m) {
    for (int i = 0; i < m->n; i++)
        if (m->params[i].t->grad) m->params[i].t->grad_zero = true;
}

int zoo_module_freeze(zoo_module *m, const char *prefix) {
    size_t len = strlen(prefix);
    int count = 0;
    for (int i = 0; i < m->n; i++) {
        const char *name = m->params[i].name;
        if (strncmp(name, prefix, len) == 0 && (name[len] == '\0' || name[len] == '.')) {
            m->params[i].t->requires_grad = false;
            count++;
        }
    }
    return count;
}

int64_t zoo_module_numel(const zoo_module *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n; i++)
        if (m->params[i].kind != ZOO_PARAM_BUFFER) n += m->params[i].t->numel;
    return n;
}

void zoo_module_train(zoo_module *m, bool training) { m->training = training; }

/* ------------------------------------------------------------ Linear */

zoo_linear_layer zoo_linear_new(zoo_module *m, const char *name, int in, int out, bool bias, zoo_rng *init) {
    char buf[ZOO_NAME_MAX + 8];
    zoo_linear_layer l = {0};
    float bound = 1.0f / sqrtf((float)in);
    snprintf(buf, sizeof buf, "%s.weight", name);
    l.weight = zoo_module_param(m, buf, zoo_shape2(out, in));
    zoo_rng_uniform(init, l.weight, -bound, bound);
    if (bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        l.bias = zoo_module_param(m, buf, zoo_shape1(out));
        zoo_rng_uniform(init, l.bias, -bound, bound);
    }
    return l;
}

zoo_tensor *zoo_linear_forward(const zoo_linear_layer *l, zoo_tensor *x) { return zoo_linear(x, l->weight, l->bias); }

/* ------------------------------------------------------------ Conv2d, ConvTranspose2d */

/* "<name>.<what>" as a new parameter of m, uniform in [-bound, bound) */
static zoo_tensor *uniform_param(zoo_module *m, const char *name, const char *what, zoo_shape s, float bound,
                                 zoo_rng *init) {
    char buf[ZOO_NAME_MAX + 16];
    snprintf(buf, sizeof buf, "%s.%s", name, what);
    zoo_tensor *t = zoo_module_param(m, buf, s);
    zoo_rng_uniform(init, t, -bound, bound);
    return t;
}

static zoo_conv2d_args square_args(int stride, int padding, int output_padding) {
    return (zoo_conv2d_args){{stride, stride}, {padding, padding}, {1, 1}, {output_padding, output_padding}};
}

zoo_conv2d_layer zoo_conv2d_new(zoo_module *m, const char *name, int in, int out, int kernel, int stride, int padding,
                                bool bias, zoo_rng *init) {
    zoo_conv2d_layer l = {.args = square_args(stride, padding, 0)};
    float bound = 1.0f / sqrtf((float)in * (float)kernel * (float)kernel);
    l.weight = uniform_param(m, name, "weight", zoo_shape4(out, in, kernel, kernel), bound, init);
    if (bias) l.bias = uniform_param(m, name, "bias", zoo_shape1(out), bound, init);
    return l;
}

zoo_tensor *zoo_conv2d_forward(const zoo_conv2d_layer *l, zoo_tensor *x) {
    return zoo_conv2d_ex(x, l->weight, l->bias, &l->args);
}

zoo_conv_transpose2d_layer zoo_conv_transpose2d_new(zoo_module *m, const char *name, int in, int out, int kernel,
                                                    int stride, int padding, int output_padding, bool bias,
                                                    zoo_rng *init) {
    zoo_conv_transpose2d_layer l = {.args = square_args(stride, padding, output_padding)};
    float bound = 1.0f / sqrtf((float)out * (float)kernel * (float)kernel);
    l.weight = uniform_param(m, name, "weight", zoo_shape4(in, out, kernel, kernel), bound, init);
    if (bias) l.bias = uniform_param(m, name, "bias", zoo_shape1(out), bound, init);
    return l;
}

zoo_tensor *zoo_conv_transpose2d_forward(const zoo_conv_transpose2d_layer *l, zoo_tensor *x) {
    return zoo_conv_transpose2d_ex(x, l->weight, l->bias, &l->args);
}

/* ------------------------------------------------------------ Embedding */

zoo_embedding_layer zoo_embedding_new(zoo_module *m, const char *name, int vocab, int dim, zoo_rng *init) {
    char buf[ZOO_NAME_MAX + 8];
    snprintf(buf, sizeof buf, "%s.weight", name);
    zoo_embedding_layer l = {zoo_module_param_kind(m, buf, zoo_shape2(vocab, dim), ZOO_PARAM_EMBEDDING)};
    zoo_rng_normal(init, l.weight, 0.0f, 1.0f);
    return l;
}

zoo_tensor *zoo_embedding_forward(const zoo_embedding_layer *l, zoo_tensor *ids) {
    return zoo_embedding(l->weight, ids);
}

/* ------------------------------------------------------------ BatchNorm2d */

/* a norm layer's "<name>.weight" (1s) and, when bias is wanted, "<name>.bias" (0s),
 * both [n] of kind NORM */
static void norm_affine(zoo_module *m, const char *name, int n, zoo_tensor **weight, zoo_tensor **bias) {
    char buf[ZOO_NAME_MAX + 16];
    snprintf(buf, sizeof buf, "%s.weight", name);
    *weight = zoo_module_param_kind(m, buf, zoo_shape1(n), ZOO_PARAM_NORM);
    zoo_tensor_fill(*weight, 1.0f);
    if (bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        *bias = zoo_module_param_kind(m, buf, zoo_shape1(n), ZOO_PARAM_NORM);
    }
}

zoo_batchnorm2d_layer zoo_batchnorm2d_new(zoo_module *m, const char *name, int channels) {
    char buf[ZOO_NAME_MAX + 16];
    zoo_batchnorm2d_layer l = {.momentum = 0.1f, .eps = 1e-5f};
    zoo_shape s = zoo_shape1(channels);
    norm_affine(m, name, channels, &l.weight, &l.bias);
    snprintf(buf, sizeof buf, "%s.running_mean", name);
    l.running_mean = zoo_module_buffer(m, buf, s);
    snprintf(buf, sizeof buf, "%s.running_var", name);
    l.running_var = zoo_module_buffer(m, buf, s);
    zoo_tensor_fill(l.running_var, 1.0f);
    return l;
}

zoo_tensor *zoo_batchnorm2d_forward(const zoo_batchnorm2d_layer *l, zoo_tensor *x, bool training) {
    return zoo_batch_norm2d(x, l->weight, l->bias, l->running_mean, l->running_var, training, l->momentum, l->eps);
}

/* ------------------------------------------------------------ LayerNorm */

zoo_layernorm_layer zoo_layernorm_new(zoo_module *m, const char *name, int dim, bool bias) {
    zoo_layernorm_layer l = {.eps = 1e-5f};
    norm_affine(m, name, dim, &l.weight, bias ? &l.bias : NULL);
    return l;
}

zoo_tensor *zoo_layernorm_forward(const zoo_layernorm_layer *l, zoo_tensor *x) {
    return zoo_layer_norm(x, l->weight, l->bias, l->eps);
}

/* ------------------------------------------------------------ GroupNorm */

zoo_groupnorm_layer zoo_groupnorm_new(zoo_module *m, const char *name, int groups, int channels) {
    zoo_groupnorm_layer l = {.groups = groups, .eps = 1e-5f};
    norm_affine(m, name, channels, &l.weight, &l.bias);
    return l;
}

zoo_tensor *zoo_groupnorm_forward(const zoo_groupnorm_layer *l, zoo_tensor *x) {
    return zoo_group_norm(x, l->groups, l->weight, l->bias, l->eps);
}

/* ------------------------------------------------------------ Dropout */

zoo_tensor *zoo_dropout(zoo_tensor *x, float p, bool training, zoo_rng *rng) {
    if (!zoo__check_f32("dropout", x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) {
        zoo__error("dropout: probability %g is outside [0, 1)", p);
        return NULL;
    }
    if (!training || p == 0.0f) return x;
    zoo_tensor *mask = zoo_tensor_new(ZOO_F32, x->shape);
    if (!mask) return NULL;
    zoo_rng_bernoulli(rng, mask, 1.0f - p, 1.0f / (1.0f - p));
    return zoo_mul(x, mask);
}
