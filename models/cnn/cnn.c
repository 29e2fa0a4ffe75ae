/* CNN classifier for 28x28 images: two conv-ReLU-maxpool stages, then a dropout-
 * regularized two-layer head. Tensors conv1.*, conv2.*, fc1.*, fc2.* as in the
 * equivalent PyTorch module, so checkpoints load there as they are. */
#include "../classifier.h"
#include "../registry.h"

#include "../../core/conv.h"
#include "../../core/ops.h"

#include <stdlib.h>
#include <string.h>

#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

typedef struct cnn {
    zoo_model base; /* first: a zoo_model * is a cnn * */
    zoo_conv2d_layer conv1, conv2;
    zoo_linear_layer fc1, fc2;
    float dropout;
    int channels1, channels2;
} cnn;

/* ---------------------------------------------------------------- config */

static int parse_positive(const char *s, const char *flag, int max) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v <= 0 || v > max) {
        zoo_set_error("--%s expects a whole number from 1 to %d, got '%s'", flag, max, s);
        return -1;
    }
    return (int)v;
}

/* ---------------------------------------------------------------- forward */

/* x [n, c, h, w] in [0, 1] -> logits [n, classes]; dropout draws are keyed by step */
static zoo_tensor *cnn_forward(zoo_model *base, zoo_tensor *x, int64_t step) {
    cnn *m = (cnn *)base;
    bool training = base->parts[0].training;
    zoo_tensor *h = zoo_affine(x, 1.0f / base->input_std, -base->input_mean / base->input_std);
    /* pool before ReLU: the same values and gradients (ReLU is monotone), on a quarter
     * of the elements */
    h = zoo_relu(zoo_max_pool2d(zoo_conv2d_forward(&m->conv1, h), 2, 2, 0));
    h = zoo_relu(zoo_max_pool2d(zoo_conv2d_forward(&m->conv2, h), 2, 2, 0));
    h = zoo_relu(zoo_linear_forward(&m->fc1, zoo_flatten(h)));
    zoo_rng drop = zoo_model_step_rng(base, ((uint64_t)1 << 32) + (uint64_t)step);
    h = zoo_dropout(h, m->dropout, training, &drop);
    return zoo_linear_forward(&m->fc2, h);
}

static zoo_tensor *cnn_predict(zoo_model *m, zoo_tensor *x) { return cnn_forward(m, x, 0); }

static void cnn_train_step(zoo_model *m, const zoo_batch *b, int64_t step, zoo_metrics *out) {
    zoo_classifier_step(m, cnn_forward, b, step, out);
}

/* ---------------------------------------------------------------- lifecycle */

static void cnn_destroy(zoo_model *m);

static zoo_model *cnn_create(const zoo_model_args *args) {
    zoo_clear_error(); /* zoo_failed() below then means this create failed */
    int c1 = parse_positive(args->options[0], "channels1", 4096);
    int c2 = c1 < 0 ? -1 : parse_positive(args->options[1], "channels2", 4096);
    int hidden = c2 < 0 ? -1 : parse_positive(args->options[2], "fc-hidden", 1 << 16);
    if (hidden < 0) return NULL;
    char *end;
    double p = strtod(args->options[3], &end);
    if (*end || !(p >= 0.0 && p < 1.0)) {
        zoo_set_error("--dropout expects a probability in [0, 1), got '%s'", args->options[3]);
        return NULL;
    }
    if (args->h % 4 || args->w % 4) {
        zoo_set_error("the CNN pools twice by 2: image sides must be multiples of 4, got %dx%d", args->h, args->w);
        return NULL;
    }
    cnn *m = calloc(1, sizeof *m);
    if (!m) {
        zoo_set_error("out of host memory");
        return NULL;
    }
    zoo_model_init(&m->base, &zoo_cnn_def, args);
    m->base.input_mean = FMNIST_MEAN;
    m->base.input_std = FMNIST_STD;
    m->base.n_parts = 1;
    m->dropout = (float)p;
    zoo_module *mod = &m->base.parts[0];
    zoo_module_init(mod);
    zoo_rng init = zoo_rng_stream(args->seed, 1);
    m->conv1 = zoo_conv2d_new(mod, "conv1", args->c, c1, 3, 1, 1, true, &init);
    m->conv2 = zoo_conv2d_new(mod, "conv2", c1, c2, 3, 1, 1, true, &init);
    m->fc1 = zoo_linear_new(mod, "fc1", c2 * (args->h / 4) * (args->w / 4), hidden, true, &init);
    m->fc2 = zoo_linear_new(mod, "fc2", hidden, args->n_classes, true, &init);
    zoo_model_add_optimizers(&m->base);
    if (zoo_failed()) { /* a parameter could not be made (out of device memory) */
        cnn_destroy(&m->base);
        return NULL;
    }
    return &m->base;
}

static void cnn_destroy(zoo_model *m) {
    zoo_model_release(m);
    free(m);
}

const zoo_model_def zoo_cnn_def = {
    .name = "cnn",
    .description = "convolutional classifier (2x conv3x3-ReLU-maxpool, fc 128, dropout)",
    .dataset = "Fashion-MNIST",
    .defaults = {.epochs = 3, .batch = 128, .lr = 1e-3f, .optimizer = ZOO_OPTIM_ADAM},
    .options = {{"channels1", "32", "channels of the first convolution"},
                {"channels2", "64", "channels of the second convolution"},
                {"fc-hidden", "128", "width of the hidden fully connected layer"},
                {"dropout", "0.25", "dropout probability before the last layer"}},
    .n_options = 4,
    .create = cnn_create,
    .destroy = cnn_destroy,
    .train_step = cnn_train_step,
    .predict = cnn_predict,
    .evaluate = zoo_classifier_evaluate,
    .eval_sharded = true,
    .monitor = "acc",
    .monitor_max = true,
};
