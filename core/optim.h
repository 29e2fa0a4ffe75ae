/* Optimizers (fused update kernels, as torch.optim's), gradient clipping and
 * learning-rate schedules. An optimizer holds its own state tensors, named after
 * the parameters they belong to, so checkpoints can carry them. */
#ifndef ZOO_OPTIM_H
#define ZOO_OPTIM_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum zoo_optim_kind { ZOO_OPTIM_SGD, ZOO_OPTIM_ADAM, ZOO_OPTIM_ADAMW } zoo_optim_kind;

/* ZOO_KINDS(ZOO_PARAM_BIAS, ZOO_PARAM_NORM): a set of parameter kinds */
#define ZOO_KIND(k) (1u << (k))

#define ZOO_MAX_GROUPS 4

/* Settings for the parameters of some kinds, as torch.optim's param_groups: a
 * parameter takes the first group whose kinds include its kind, or else the config's
 * own settings. */
typedef struct zoo_param_group {
    unsigned kinds;     /* ZOO_KIND(ZOO_PARAM_BIAS) | ZOO_KIND(ZOO_PARAM_NORM) ... */
    float weight_decay; /* instead of the config's */
    float lr_scale;     /* the group's lr is the (scheduled) lr times this; 0 means 1 */
} zoo_param_group;

typedef struct zoo_optim_config {
    zoo_optim_kind kind;
    float lr;
    float momentum;     /* SGD */
    float dampening;    /* SGD */
    bool nesterov;      /* SGD */
    float beta1, beta2; /* Adam */
    float eps;          /* Adam */
    float weight_decay; /* L2 added to the gradient (SGD, Adam), decoupled (AdamW) */
    zoo_param_group groups[ZOO_MAX_GROUPS];
    int n_groups;
} zoo_optim_config;

/* Adds a group that takes the parameters of `kinds` out of weight decay; -1 with
 * zoo_last_error() when the groups are full. */
ZOO_API int zoo_optim_no_decay(zoo_optim_config *c, unsigned kinds);
/* weight decay on layers' weights only: none on biases, norms and embeddings */
ZOO_API int zoo_optim_decay_weights_only(zoo_optim_config *c);
/* nanoGPT's rule: weight decay on every parameter of 2 or more dims (weights and
 * embeddings), none on biases and norms */
ZOO_API int zoo_optim_decay_matrices_only(zoo_optim_config *c);
/* "all" (no groups), "weights" or "matrices" applied to c; -1 for another name */
ZOO_API int zoo_optim_decay_parse(zoo_optim_config *c, const char *name);

/* PyTorch's defaults: Adam betas (0.9, 0.999), eps 1e-8; AdamW weight decay 0.01 */
ZOO_API zoo_optim_config zoo_optim_defaults(zoo_optim_kind kind, float lr);
/* "sgd", "adam", "adamw" -> kind; -1 when unknown */
ZOO_API int zoo_optim_kind_parse(const char *name);
ZOO_API const char *zoo_optim_kind_name(zoo_optim_kind kind);

typedef struct zoo_optimizer {
    zoo_optim_config cfg;
    zoo_module *params; /* not owned */
    zoo_module state;   /* "<param>.exp_avg" etc.; owned */
    int64_t step;       /* updates done so far */
} zoo_optimizer;

/* state tensors are made for every parameter that requires grad when created */
ZOO_API void zoo_optim_init(zoo_optimizer *o, zoo_module *params, zoo_optim_config cfg);
ZOO_API void zoo_optim_free(zoo_optimizer *o);
/* one update of every parameter that requires grad and got a gradient since the
 * last zero_grad; frozen and unused ones are untouched */
ZOO_API void zoo_optim_step(zoo_optimizer *o);
ZOO_API void zoo_optim_set_lr(zoo_optimizer *o, float lr);

/* Scales all gradients so their global L2 norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_); returns the norm before clipping. */
ZOO_API float zoo_clip_grad_norm(zoo_module *params, float max_norm);

typedef enum zoo_schedule_kind { ZOO_SCHED_CONSTANT, ZOO_SCHED_STEP, ZOO_SCHED_COSINE } zoo_schedule_kind;

typedef struct zoo_schedule {
    zoo_schedule_kind kind;
    float base_lr;
    int64_t warmup;      /* linear warmup: step s < warmup uses base_lr * (s + 1) / warmup */
    int64_t total;       /* cosine: the run's steps; its last, total - 1, runs at min_lr */
    int64_t step_size;   /* step: multiply by gamma every step_size steps */
    float gamma;
    float min_lr;
} zoo_schedule;

ZOO_API int zoo_schedule_kind_parse(const char *name);
/* the learning rate for 0-based step */
ZOO_API float zoo_schedule_lr(const zoo_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
