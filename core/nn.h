/* Layers and the container that names their parameters the way PyTorch's
 * state_dict does ("fc1.weight"), so checkpoints load in PyTorch as they are. */
#ifndef ZOO_NN_H
#define ZOO_NN_H

#include "rng.h"
#include "tensor.h"

#define ZOO_NAME_MAX 96

typedef struct zoo_param {
    char name[ZOO_NAME_MAX];
    zoo_tensor *t; /* persistent, owned by the module */
} zoo_param;

/* A named set of persistent tensors plus a train/eval flag. Buffers (running
 * statistics) are parameters that never require grad. */
typedef struct zoo_module {
    zoo_param *params;
    int n, cap;
    bool training;
} zoo_module;

void zoo_module_init(zoo_module *m);
/* frees every tensor it owns */
void zoo_module_free(zoo_module *m);
/* a new zero-filled persistent tensor named name, with a gradient */
zoo_tensor *zoo_module_param(zoo_module *m, const char *name, zoo_shape shape);
/* the same without a gradient (running statistics) */
zoo_tensor *zoo_module_buffer(zoo_module *m, const char *name, zoo_shape shape);
zoo_tensor *zoo_module_find(const zoo_module *m, const char *name);
void zoo_module_zero_grad(zoo_module *m);
/* sets requires_grad off for every parameter whose name is prefix or starts with
 * "prefix."; returns how many it froze */
int zoo_module_freeze(zoo_module *m, const char *prefix);
int64_t zoo_module_numel(const zoo_module *m);
void zoo_module_train(zoo_module *m, bool training);

/* ------------------------------------------------------------ Linear */

/* y = x W^T + b; weight [out, in], bias [out]. Initialized as torch.nn.Linear:
 * both U(-1/sqrt(in), 1/sqrt(in)). */
typedef struct zoo_linear_layer {
    zoo_tensor *weight, *bias;
} zoo_linear_layer;

zoo_linear_layer zoo_linear_new(zoo_module *m, const char *name, int in, int out, bool bias, zoo_rng *init);
zoo_tensor *zoo_linear_forward(const zoo_linear_layer *l, zoo_tensor *x);

/* ------------------------------------------------------------ Dropout */

/* Inverted dropout: in training, zeroes each element with probability p and scales
 * the rest by 1/(1-p); identity otherwise. The mask comes from rng (Philox), so it
 * is the same on every backend. */
zoo_tensor *zoo_dropout(zoo_tensor *x, float p, bool training, zoo_rng *rng);

#endif
