/* Layers and the container that names their parameters the way PyTorch's
 * state_dict does ("fc1.weight"), so checkpoints load in PyTorch as they are. */
#ifndef ZOO_NN_H
#define ZOO_NN_H

#include "conv.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_NAME_MAX 96

/* What a parameter is for, which optimizer parameter groups select by (optim.h) */
typedef enum zoo_param_kind {
    ZOO_PARAM_WEIGHT,    /* a layer's matrix or kernel: 2 or more dims */
    ZOO_PARAM_BIAS,      /* biases and other vectors: 0 or 1 dims */
    ZOO_PARAM_NORM,      /* a normalization's scale and shift */
    ZOO_PARAM_EMBEDDING, /* a lookup table */
    ZOO_PARAM_BUFFER,    /* running statistics: never optimized */
    ZOO_PARAM_KINDS
} zoo_param_kind;

typedef struct zoo_param {
    char name[ZOO_NAME_MAX];
    zoo_tensor *t;       /* persistent, owned by the module */
    zoo_param_kind kind; /* WEIGHT or BIAS by its dims unless the layer says otherwise */
} zoo_param;

/* A named set of persistent tensors plus a train/eval flag. Buffers (running
 * statistics) are parameters that never require grad. */
typedef struct zoo_module {
    zoo_param *params;
    int n, cap;
    bool training;
} zoo_module;

ZOO_API void zoo_module_init(zoo_module *m);
/* frees every tensor it owns */
ZOO_API void zoo_module_free(zoo_module *m);
/* a new zero-filled persistent tensor named name, with a gradient */
ZOO_API zoo_tensor *zoo_module_param(zoo_module *m, const char *name, zoo_shape shape);
/* the same without a gradient (running statistics) */
ZOO_API zoo_tensor *zoo_module_buffer(zoo_module *m, const char *name, zoo_shape shape);
/* the same with its kind given (layers mark norms and embeddings so) */
ZOO_API zoo_tensor *zoo_module_param_kind(zoo_module *m, const char *name, zoo_shape shape, zoo_param_kind kind);
ZOO_API zoo_tensor *zoo_module_find(const zoo_module *m, const char *name);
ZOO_API void zoo_module_zero_grad(zoo_module *m);
/* sets requires_grad off for every parameter whose name is prefix or starts with
 * "prefix."; returns how many it froze */
ZOO_API int zoo_module_freeze(zoo_module *m, const char *prefix);
/* the elements of its parameters, buffers (running statistics, moving averages) not
 * counted, as PyTorch's sum(p.numel() for p in module.parameters()) */
ZOO_API int64_t zoo_module_numel(const zoo_module *m);
ZOO_API void zoo_module_train(zoo_module *m, bool training);

/* ------------------------------------------------------------ Linear */

/* y = x W^T + b; weight [out, in], bias [out]. Initialized as torch.nn.Linear:
 * both U(-1/sqrt(in), 1/sqrt(in)). */
typedef struct zoo_linear_layer {
    zoo_tensor *weight, *bias;
} zoo_linear_layer;

ZOO_API zoo_linear_layer zoo_linear_new(zoo_module *m, const char *name, int in, int out, bool bias, zoo_rng *init);
ZOO_API zoo_tensor *zoo_linear_forward(const zoo_linear_layer *l, zoo_tensor *x);

/* ------------------------------------------------------------ Conv2d, ConvTranspose2d */

/* torch.nn.Conv2d (groups 1): weight [out, in, k, k], bias [out]; both initialized as
 * PyTorch does (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * fan_in = in*k*k. args may be changed after creation (dilation, per-axis values). */
typedef struct zoo_conv2d_layer {
    zoo_tensor *weight, *bias; /* bias NULL without one */
    zoo_conv2d_args args;
} zoo_conv2d_layer;

ZOO_API zoo_conv2d_layer zoo_conv2d_new(zoo_module *m, const char *name, int in, int out, int kernel, int stride, int padding,
                                bool bias, zoo_rng *init);
ZOO_API zoo_tensor *zoo_conv2d_forward(const zoo_conv2d_layer *l, zoo_tensor *x);

/* torch.nn.ConvTranspose2d (groups 1): weight [in, out, k, k] (PyTorch's layout), bias
 * [out]; both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with PyTorch's fan_in = out*k*k (it
 * reads dim 1 of the weight). */
typedef struct zoo_conv_transpose2d_layer {
    zoo_tensor *weight, *bias;
    zoo_conv2d_args args;
} zoo_conv_transpose2d_layer;

ZOO_API zoo_conv_transpose2d_layer zoo_conv_transpose2d_new(zoo_module *m, const char *name, int in, int out, int kernel,
                                                    int stride, int padding, int output_padding, bool bias,
                                                    zoo_rng *init);
ZOO_API zoo_tensor *zoo_conv_transpose2d_forward(const zoo_conv_transpose2d_layer *l, zoo_tensor *x);

/* ------------------------------------------------------------ Embedding */

/* torch.nn.Embedding(vocab, dim): weight [vocab, dim] ("<name>.weight", kind
 * EMBEDDING), initialized N(0, 1) as PyTorch does */
typedef struct zoo_embedding_layer {
    zoo_tensor *weight;
} zoo_embedding_layer;

ZOO_API zoo_embedding_layer zoo_embedding_new(zoo_module *m, const char *name, int vocab, int dim, zoo_rng *init);
/* ids: int32 of up to 3 dims -> [..., dim] */
ZOO_API zoo_tensor *zoo_embedding_forward(const zoo_embedding_layer *l, zoo_tensor *ids);

/* ------------------------------------------------------------ BatchNorm2d */

/* torch.nn.BatchNorm2d(channels) with affine and running statistics: weight (1s) and
 * bias (0s) are parameters, running_mean (0s) and running_var (1s) buffers, named
 * "<name>.weight", "<name>.bias", "<name>.running_mean", "<name>.running_var".
 * PyTorch's state_dict also has "<name>.num_batches_tracked", an int64 scalar that only
 * momentum=None uses; zoo has no int64 tensors and does not store it (load such a
 * checkpoint into PyTorch with strict=False, or add the key). */
typedef struct zoo_batchnorm2d_layer {
    zoo_tensor *weight, *bias, *running_mean, *running_var;
    float momentum, eps; /* 0.1 and 1e-5 */
} zoo_batchnorm2d_layer;

ZOO_API zoo_batchnorm2d_layer zoo_batchnorm2d_new(zoo_module *m, const char *name, int channels);
/* training: batch statistics, and the running ones are updated; else the running ones */
ZOO_API zoo_tensor *zoo_batchnorm2d_forward(const zoo_batchnorm2d_layer *l, zoo_tensor *x, bool training);

/* ------------------------------------------------------------ LayerNorm */

/* torch.nn.LayerNorm(dim, bias=bias) over the last dim: weight (1s, "<name>.weight") and,
 * when bias, bias (0s, "<name>.bias"; else NULL), both of kind NORM; eps 1e-5 */
typedef struct zoo_layernorm_layer {
    zoo_tensor *weight, *bias;
    float eps;
} zoo_layernorm_layer;

ZOO_API zoo_layernorm_layer zoo_layernorm_new(zoo_module *m, const char *name, int dim, bool bias);
/* x: [..., dim] -> x's shape (zoo_layer_norm) */
ZOO_API zoo_tensor *zoo_layernorm_forward(const zoo_layernorm_layer *l, zoo_tensor *x);

/* ------------------------------------------------------------ GroupNorm */

/* torch.nn.GroupNorm(groups, channels): weight (1s, "<name>.weight") and bias (0s,
 * "<name>.bias") [channels], of kind NORM; eps 1e-5 */
typedef struct zoo_groupnorm_layer {
    zoo_tensor *weight, *bias;
    int groups;
    float eps;
} zoo_groupnorm_layer;

ZOO_API zoo_groupnorm_layer zoo_groupnorm_new(zoo_module *m, const char *name, int groups, int channels);
/* x: [N, channels, ...] -> x's shape (zoo_group_norm) */
ZOO_API zoo_tensor *zoo_groupnorm_forward(const zoo_groupnorm_layer *l, zoo_tensor *x);

/* ------------------------------------------------------------ Dropout */

/* Inverted dropout: in training, zeroes each element with probability p and scales
 * the rest by 1/(1-p); identity otherwise. The mask comes from rng (Philox), so it
 * is the same on every backend. */
ZOO_API zoo_tensor *zoo_dropout(zoo_tensor *x, float p, bool training, zoo_rng *rng);

#ifdef __cplusplus
}
#endif

#endif
