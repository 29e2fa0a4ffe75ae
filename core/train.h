/* The model interface and the one training loop that runs every model: steps and
 * epochs, the LR schedule, evaluation, checkpoints, metrics, the progress line and
 * the NaN guard. A model package fills a zoo_model_def; nothing here knows any model. */
#ifndef ZOO_TRAIN_H
#define ZOO_TRAIN_H

#include "data.h"
#include "io.h"
#include "nn.h"
#include "optim.h"

#define ZOO_MAX_PARTS 4
#define ZOO_MAX_METRICS 16
#define ZOO_MAX_OPTIONS 16

/* named scalars a step or an evaluation reports, in the order they were set */
typedef struct zoo_metrics {
    const char *name[ZOO_MAX_METRICS];
    double value[ZOO_MAX_METRICS];
    int n;
} zoo_metrics;

void zoo_metrics_set(zoo_metrics *m, const char *name, double value);
/* NAN when absent */
double zoo_metrics_get(const zoo_metrics *m, const char *name);

/* A model-specific option ("--hidden 256,128"): its value is a string the model
 * parses in create; the checkpoint records every option so eval rebuilds the model. */
typedef struct zoo_model_option {
    const char *name;
    const char *default_value;
    const char *help;
} zoo_model_option;

/* What create gets: option values (one per def->options entry, in order), the
 * data's geometry, the optimizer and the seed for initialization. */
typedef struct zoo_model_args {
    const char *options[ZOO_MAX_OPTIONS];
    int c, h, w, n_classes;
    zoo_optim_config optim;
    uint64_t seed;
} zoo_model_args;

/* A training batch on the backend: x [n, c, h, w] in [0, 1], labels int32 [n]. */
typedef struct zoo_batch {
    zoo_tensor *x, *labels;
    int64_t n;
} zoo_batch;

typedef struct zoo_model_def zoo_model_def;

/* Every model starts with this header. Parts are the separately optimized
 * sub-networks (one for a classifier; generator and discriminator for a GAN), each
 * with its own optimizer. Parameter names are global across parts. */
typedef struct zoo_model {
    const zoo_model_def *def;
    zoo_module parts[ZOO_MAX_PARTS];
    zoo_optimizer optim[ZOO_MAX_PARTS];
    int n_parts;
    zoo_model_args args;
    float input_mean, input_std; /* normalization the model applies to [0, 1] pixels */
    uint64_t seed;
    float clip_norm; /* > 0: gradients are clipped to this global norm before each update */
} zoo_model;

typedef struct zoo_train_defaults {
    int64_t epochs, batch;
    float lr;
    zoo_optim_kind optimizer;
    float beta1;          /* Adam's beta1; 0 means PyTorch's 0.9 */
    int64_t sample_every; /* generative models: steps between sample grids */
} zoo_train_defaults;

struct zoo_model_def {
    const char *name;
    const char *description;
    const char *dataset; /* shown in --help */
    zoo_train_defaults defaults;
    zoo_model_option options[ZOO_MAX_OPTIONS];
    int n_options;
    /* a new model with initialized weights and optimizers; NULL with zoo_last_error()
     * when an option is invalid */
    zoo_model *(*create)(const zoo_model_args *args);
    void (*destroy)(zoo_model *m);
    /* one training step (forward, backward, optimizer updates) inside the loop's
     * scope; step is 0-based and keys this step's randomness (dropout) */
    void (*train_step)(zoo_model *m, const zoo_batch *b, int64_t step, zoo_metrics *out);
    /* classifiers: class scores [n, classes] for x [n, c, h, w], no grad, eval mode */
    zoo_tensor *(*predict)(zoo_model *m, zoo_tensor *x);
    /* generative models: n new samples [n, c, h, w] with values in [-1, 1], eval mode */
    zoo_tensor *(*generate)(zoo_model *m, int64_t n, zoo_rng *rng);
    /* generative models: the progress grid (the same latents every time) as a PNG */
    int (*write_samples)(zoo_model *m, const char *path);
};

/* ---------------------------------------------------------------- models */

/* fills the header: def, args, seed; parts are added by the model */
void zoo_model_init(zoo_model *m, const zoo_model_def *def, const zoo_model_args *args);
/* frees parts and optimizers (not m itself) */
void zoo_model_release(zoo_model *m);
/* the optimizer a model trains with by default (kind, lr, beta1 from its def) */
zoo_optim_config zoo_model_default_optim(const zoo_model_def *def);
/* creates optimizer i over part i with the args' optimizer config */
void zoo_model_add_optimizers(zoo_model *m);
zoo_tensor *zoo_model_find(const zoo_model *m, const char *name);
int64_t zoo_model_numel(const zoo_model *m);
void zoo_model_set_training(zoo_model *m, bool training);

/* The classifier step shared by MLP and CNN: zero grads, predict-with-grad through
 * forward, cross-entropy, backward, optimizer step; reports "loss". */
typedef zoo_tensor *(*zoo_forward_fn)(zoo_model *m, zoo_tensor *x, int64_t step);
void zoo_classifier_step(zoo_model *m, zoo_forward_fn forward, const zoo_batch *b, int64_t step, zoo_metrics *out);

/* test accuracy (fraction) and, when confusion is not NULL, the [classes x classes]
 * confusion counts (row: true class, column: prediction); batches of 1000 */
double zoo_evaluate(zoo_model *m, const zoo_images *d, int64_t *confusion, double *mean_loss);

/* ---------------------------------------------------------------- checkpoints */

/* Weights go to path (PyTorch state_dict names, loadable as they are); with
 * optimizer state, a sibling "<path minus .safetensors>.optim.safetensors" holds it
 * and the step. Both atomic. 0, or -1 with zoo_last_error(). */
int zoo_checkpoint_save(const zoo_model *m, const char *path, int64_t step, bool with_optimizer);
/* Reads the model name and options recorded in a checkpoint into args (the option
 * strings stay valid until the next call). */
int zoo_checkpoint_args(const zoo_st_file *f, const zoo_model_def *def, zoo_model_args *args);
/* loads every parameter (all must be present with their shapes) */
int zoo_checkpoint_load_weights(zoo_model *m, const zoo_st_file *f);
/* loads optimizer state from the sibling file; returns the step to continue from */
int zoo_checkpoint_load_optimizer(zoo_model *m, const char *path, int64_t *step);
/* --init-from: loads tensors whose name and shape match, prints what it skipped */
int zoo_checkpoint_init_from(zoo_model *m, const char *path, FILE *report);

/* ---------------------------------------------------------------- the loop */

typedef struct zoo_train_config {
    int64_t epochs;     /* used when steps == 0 */
    int64_t steps;      /* total steps; 0: epochs * batches per epoch */
    int64_t batch;
    zoo_schedule schedule;
    uint64_t seed;
    const char *out_dir;       /* model.safetensors, checkpoint.safetensors, metrics.jsonl */
    const char *resume;        /* checkpoint to continue from, or NULL */
    int64_t log_every;         /* metrics record every N steps */
    int64_t eval_every;        /* 0: at each epoch end */
    int64_t ckpt_every;        /* 0: at each epoch end */
    int64_t sample_every;      /* generative models: OUT/samples/step_NNNNNN.png every N steps (0: off) */
    float clip;                /* global gradient norm bound, 0: off */
    /* early stopping: with a validation set, the model is scored on it at every
     * evaluation; the best weights are kept in OUT/best.safetensors and become the
     * final model; after `patience` evaluations without improvement (0: never) the
     * run stops */
    const zoo_images *val;
    int64_t patience;
    bool quiet;
} zoo_train_config;

/* Trains m on train, evaluating on test. Returns 0, or -1 with zoo_last_error()
 * (NaN loss, unwritable output). Final test accuracy in *final_acc when not NULL. */
int zoo_train(zoo_model *m, const zoo_images *train, const zoo_images *test, const zoo_train_config *cfg,
              double *final_acc);

#endif
