/* The model interface and the one training loop that runs every model: steps and
 * epochs, the LR schedule, evaluation, checkpoints, metrics, the progress line and
 * the NaN guard. A model package fills a zoo_model_def; nothing here knows any model. */
#ifndef ZOO_TRAIN_H
#define ZOO_TRAIN_H

#include "dataset.h"
#include "io.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_MAX_PARTS 4
#define ZOO_MAX_METRICS 16
#define ZOO_MAX_OPTIONS 16

#define ZOO_METRIC_NAME_MAX 32

/* named scalars a step or an evaluation reports, in the order they were set */
typedef struct zoo_metrics {
    char name[ZOO_MAX_METRICS][ZOO_METRIC_NAME_MAX];
    double value[ZOO_MAX_METRICS];
    int n;
} zoo_metrics;

/* sets name (copied, cut to 31 bytes) to value; past ZOO_MAX_METRICS names it is dropped */
ZOO_API void zoo_metrics_set(zoo_metrics *m, const char *name, double value);
/* NAN when absent */
ZOO_API double zoo_metrics_get(const zoo_metrics *m, const char *name);

/* A model-specific option ("--hidden 256,128"): its value is a string the model
 * parses in create; the checkpoint records every option so eval rebuilds the model. A
 * switch ("--conditional") takes no value: it is "1" when given, else its default "0". */
typedef struct zoo_model_option {
    const char *name;
    const char *default_value;
    const char *help;
    bool is_switch;
} zoo_model_option;

/* What create gets: option values (one per def->options entry, in order), the
 * data's geometry (images: c, h, w; the values a label or token takes: n_classes),
 * the optimizer and the seed for initialization. */
typedef struct zoo_model_args {
    const char *options[ZOO_MAX_OPTIONS];
    int c, h, w, n_classes;
    /* text models: the vocabulary (zoo_text_vocab_string: its characters in id order,
       "" for bytes), which checkpoints keep; NULL for other data */
    const char *vocab;
    zoo_optim_config optim;
    uint64_t seed;
} zoo_model_args;

/* what a model trains on, so the apps know what to load */
typedef enum zoo_data_kind {
    ZOO_DATA_IMAGES = 0, /* labelled images: fields "image" and "label" */
    ZOO_DATA_TEXT = 1,   /* text windows: fields "tokens" and "targets" (zoo_text_dataset) */
} zoo_data_kind;

/* How a language model picks the next token from its logits: temperature 0 takes the
 * most likely (greedy); else a draw from softmax(logits / temperature) restricted to
 * the top_k most likely (0: all). */
typedef struct zoo_sampling {
    float temperature;
    int top_k;
} zoo_sampling;

/* the id drawn from logits [n] as s says, with one host draw from rng */
ZOO_API int32_t zoo_sample_logits(const float *logits, int n, const zoo_sampling *s, zoo_rng *rng);

/* How a diffusion-style model draws images: sampler by name ("ddpm", "ddim"; NULL: the
 * model's default), its number of steps (0: the sampler's default) and DDIM's eta (the
 * share of fresh noise per step: 0 deterministic, 1 the ancestral sampler's law);
 * progress: print a progress line to stderr; strip: also write a PNG of x_t at 10 points
 * of the way from noise to image, a row for each of the first 8 samples (NULL: none).
 * Class-conditional models: use_class draws class class_id (labels, when not NULL, gives
 * each sample its own), with classifier-free guidance of weight guidance (0: 1, plain
 * conditioning); neither: unconditional samples. */
typedef struct zoo_image_sampling {
    const char *sampler;
    int64_t steps;
    float eta;
    bool progress;
    const char *strip;
    bool use_class;
    int class_id;
    const int32_t *labels;
    float guidance;
} zoo_image_sampling;

typedef struct zoo_model_def zoo_model_def;

/* Every model starts with this header. Parts are the separately optimized
 * sub-networks (one for a classifier; a generator and a discriminator for an adversarial model), each
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
    int64_t context; /* sequence models: the tokens an example holds (a text window) */
    /* this step's batch starts at row batch_first of a global batch of batch_total
       (data-parallel training, dist.h; alone 0 and n; set by the loop): its random
       draws are those rows' (zoo_model_step_rng); its weight is zoo_dist_share() */
    int64_t batch_first, batch_total;
    /* bit p set: the checkpoint the model was loaded from had no part p (a shipped
       GAN holds its generator only); the part keeps its initial weights */
    unsigned missing_parts;
} zoo_model;

/* A model's training recipe, the defaults of zoo-train's flags; 0 (or NULL) leaves a
 * field to the app's general default. */
typedef struct zoo_train_defaults {
    int64_t epochs, batch;
    int64_t steps;        /* instead of epochs */
    float lr;
    zoo_optim_kind optimizer;
    float beta1, beta2;   /* Adam's; 0 means PyTorch's 0.9, 0.999 */
    float weight_decay;   /* 0: the optimizer's default */
    const char *decay;    /* which parameters decay: "all", "weights", "matrices" */
    const char *schedule; /* "constant", "step", "cosine" */
    int64_t warmup;
    float min_lr, clip;
    int64_t log_every, eval_every;
    float val_split;      /* text models: the fraction of the text that validates */
    int64_t sample_every; /* generative models: steps between sample grids */
} zoo_train_defaults;

struct zoo_model_def {
    const char *name;
    const char *description;
    const char *dataset; /* shown in --help */
    zoo_data_kind data;
    zoo_train_defaults defaults;
    zoo_model_option options[ZOO_MAX_OPTIONS];
    int n_options;
    /* a new model with initialized weights and optimizers; NULL with zoo_last_error()
     * when an option is invalid or a parameter cannot be made (it clears the error
     * state first: zoo_failed() after making the parameters says whether all were) */
    zoo_model *(*create)(const zoo_model_args *args);
    void (*destroy)(zoo_model *m);
    /* one training step (forward, backward, optimizer updates) inside the loop's
     * scope, on a batch of the training dataset's fields (zoo_batch_get); step is
     * 0-based and keys this step's randomness (dropout) */
    void (*train_step)(zoo_model *m, const zoo_batch *b, int64_t step, zoo_metrics *out);
    /* scores the model on a dataset like the training one, in eval mode without grad:
     * named metrics into out (classifiers: "acc" and "loss"; generative models: proxies
     * of sample quality). 0, or -1 with zoo_last_error(). The loop reports them as
     * test_NAME and val_NAME. */
    int (*evaluate)(zoo_model *m, const zoo_dataset *d, zoo_metrics *out);
    /* the metric of evaluate that picks the best weights on a validation set, and
     * whether higher is better ("acc", true; "loss", false); NULL: no early stopping */
    const char *monitor;
    bool monitor_max;
    /* evaluate does its share of the work under data-parallel training: the chunks
     * zoo_dist_mine(chunk) picks, each metric a sum over them divided by the whole's
     * size, so the loop sums the metrics over ranks; false: its metrics are the same on
     * every rank already (it evaluates all, or reduces its own sums, as the GAN does) */
    bool eval_sharded;
    /* classifiers: class scores [n, classes] for x [n, c, h, w], no grad, eval mode */
    zoo_tensor *(*predict)(zoo_model *m, zoo_tensor *x);
    /* generative models: n new samples [n, c, h, w] with values in [-1, 1], eval mode,
     * drawn as s says (NULL: the model's defaults; models without samplers ignore it);
     * NULL with zoo_last_error() on failure */
    zoo_tensor *(*generate)(zoo_model *m, int64_t n, const zoo_image_sampling *s, zoo_rng *rng);
    /* models with samplers: their names, comma-separated, the default first (zoo-sample
     * offers --sampler, --sample-steps and --eta only then) */
    const char *samplers;
    /* generative models: the parts generate uses (bit p for part p; 0: all), the ones a
     * checkpoint for sampling must hold */
    unsigned generate_parts;
    /* generative models: the progress grid (the same latents every time) as a PNG */
    int (*write_samples)(zoo_model *m, const char *path);
    /* language models: continues the n_prompt ids of prompt with n new ones drawn as s
     * says, in eval mode without grad, handing each to emit as it comes (cache: reuse
     * the keys and values of the tokens before, or recompute them every step, the
     * reference the cache is tested against); 0, or -1 with zoo_last_error() */
    int (*generate_tokens)(zoo_model *m, const int32_t *prompt, int64_t n_prompt, int64_t n,
                           const zoo_sampling *s, bool cache, zoo_rng *rng,
                           void (*emit)(int32_t id, void *ctx), void *ctx);
};

/* ---------------------------------------------------------------- models */

/* The update after a backward pass of part `part`: its gradients averaged over the
 * ranks of a data-parallel job (dist.h), clipped to m->clip_norm when set, then its
 * optimizer's step. Every model's training step ends each part's update with it. */
ZOO_API void zoo_model_update(zoo_model *m, int part);

/* the generator for this step's per-example draws (dropout masks, noise), stream
 * `stream` of the model's seed: it draws for this process's rows of the global batch
 * what one process holding the whole batch would (zoo_rng_rows) */
ZOO_API zoo_rng zoo_model_step_rng(const zoo_model *m, uint64_t stream);

/* fills the header: def, args, seed; parts are added by the model */
ZOO_API void zoo_model_init(zoo_model *m, const zoo_model_def *def, const zoo_model_args *args);
/* frees parts and optimizers (not m itself) */
ZOO_API void zoo_model_release(zoo_model *m);
/* the optimizer a model trains with by default (kind, lr, beta1 from its def) */
ZOO_API zoo_optim_config zoo_model_default_optim(const zoo_model_def *def);
/* creates optimizer i over part i with the args' optimizer config */
ZOO_API void zoo_model_add_optimizers(zoo_model *m);
ZOO_API zoo_tensor *zoo_model_find(const zoo_model *m, const char *name);
ZOO_API int64_t zoo_model_numel(const zoo_model *m);
ZOO_API void zoo_model_set_training(zoo_model *m, bool training);

/* ---------------------------------------------------------------- checkpoints */

/* Weights go to path (PyTorch state_dict names, loadable as they are); with
 * optimizer state, a sibling "<path minus .safetensors>.optim.safetensors" holds it
 * and the step. Both atomic. 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_checkpoint_save(const zoo_model *m, const char *path, int64_t step, bool with_optimizer);
/* Reads the model name and options recorded in a checkpoint into args (the option
 * strings stay valid until the next call). */
ZOO_API int zoo_checkpoint_args(const zoo_st_file *f, const zoo_model_def *def, zoo_model_args *args);
/* loads every parameter (all must be present with their shapes) */
ZOO_API int zoo_checkpoint_load_weights(zoo_model *m, const zoo_st_file *f);
/* the same for a checkpoint that may lack whole parts: those are marked in
 * m->missing_parts and keep their weights; a part with some tensors but not all, or a
 * file with none of the model's, is an error */
ZOO_API int zoo_checkpoint_load_parts(zoo_model *m, const zoo_st_file *f);
/* loads optimizer state from the sibling file; returns the step to continue from */
ZOO_API int zoo_checkpoint_load_optimizer(zoo_model *m, const char *path, int64_t *step);
/* --init-from: loads tensors whose name and shape match, prints what it skipped */
ZOO_API int zoo_checkpoint_init_from(zoo_model *m, const char *path, FILE *report);

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
     * evaluation (its def's monitor metric); the best weights are kept in
     * OUT/best.safetensors and become the final model; after `patience` evaluations
     * without improvement (0: never) the run stops */
    const zoo_dataset *val;
    int64_t patience;
    bool quiet;
} zoo_train_config;

/* Trains m on train, evaluating on test (may be NULL) with the model's evaluate.
 * Returns 0, or -1 with zoo_last_error() (an op that failed, NaN loss, unwritable
 * output). The last evaluation's metrics (test_acc, ...) in *final when not NULL. */
ZOO_API int zoo_train(zoo_model *m, const zoo_dataset *train, const zoo_dataset *test, const zoo_train_config *cfg,
              zoo_metrics *final);

#ifdef __cplusplus
}
#endif

#endif
