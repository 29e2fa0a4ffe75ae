/* MLP classifier: normalize -> [Linear -> ReLU] x hidden -> Linear. Defaults to
 * 784-256-128-10 for Fashion-MNIST; layers are fc1..fcN as in a PyTorch module. */
#include "../classifier.h"
#include "../registry.h"

#include "../../core/ops.h"

#include <stdlib.h>
#include <string.h>

#define MLP_MAX_LAYERS 8

/* Fashion-MNIST training-set pixel statistics, pixels in [0, 1] */
#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

typedef struct mlp {
    zoo_model base; /* first: a zoo_model * is an mlp * */
    zoo_linear_layer fc[MLP_MAX_LAYERS];
    int n_layers;
} mlp;

/* ---------------------------------------------------------------- config */

/* "256,128" -> {256, 128}; -1 on anything else */
static int parse_hidden(const char *s, int *sizes, int max) {
    int n = 0;
    if (!*s) return 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 65536 || n == max) return -1;
        sizes[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

/* ---------------------------------------------------------------- forward */

static zoo_tensor *mlp_forward(zoo_model *base, zoo_tensor *x, int64_t step) {
    (void)step;
    mlp *m = (mlp *)base;
    zoo_tensor *h = zoo_affine(zoo_flatten(x), 1.0f / base->input_std, -base->input_mean / base->input_std);
    for (int i = 0; i < m->n_layers; i++) {
        h = zoo_linear_forward(&m->fc[i], h);
        if (i + 1 < m->n_layers) h = zoo_relu(h);
    }
    return h;
}

static zoo_tensor *mlp_predict(zoo_model *m, zoo_tensor *x) { return mlp_forward(m, x, 0); }

static void mlp_train_step(zoo_model *m, const zoo_batch *b, int64_t step, zoo_metrics *out) {
    zoo_classifier_step(m, mlp_forward, b, step, out);
}

/* ---------------------------------------------------------------- lifecycle */

static void mlp_destroy(zoo_model *m);

static zoo_model *mlp_create(const zoo_model_args *args) {
    zoo_clear_error(); /* zoo_failed() below then means this create failed */
    int hidden[MLP_MAX_LAYERS];
    int nh = parse_hidden(args->options[0], hidden, MLP_MAX_LAYERS - 1);
    if (nh < 0) {
        zoo_set_error("--hidden expects positive layer sizes separated by commas (e.g. 256,128), got '%s'",
                      args->options[0]);
        return NULL;
    }
    mlp *m = calloc(1, sizeof *m);
    if (!m) {
        zoo_set_error("out of host memory");
        return NULL;
    }
    zoo_model_init(&m->base, &zoo_mlp_def, args);
    m->base.input_mean = FMNIST_MEAN;
    m->base.input_std = FMNIST_STD;
    m->base.n_parts = 1;
    zoo_module *mod = &m->base.parts[0];
    zoo_module_init(mod);
    zoo_rng init = zoo_rng_stream(args->seed, 1);
    int in = args->c * args->h * args->w;
    for (int i = 0; i <= nh; i++) {
        char name[16];
        snprintf(name, sizeof name, "fc%d", i + 1);
        int out = i < nh ? hidden[i] : args->n_classes;
        m->fc[i] = zoo_linear_new(mod, name, in, out, true, &init);
        in = out;
    }
    m->n_layers = nh + 1;
    zoo_model_add_optimizers(&m->base);
    if (zoo_failed()) { /* a parameter could not be made (out of device memory) */
        mlp_destroy(&m->base);
        return NULL;
    }
    return &m->base;
}

static void mlp_destroy(zoo_model *m) {
    zoo_model_release(m);
    free(m);
}

const zoo_model_def zoo_mlp_def = {
    .name = "mlp",
    .description = "multilayer perceptron classifier (784-256-128-10, ReLU)",
    .dataset = "Fashion-MNIST",
    .defaults = {.epochs = 5, .batch = 128, .lr = 1e-3f, .optimizer = ZOO_OPTIM_ADAM},
    .options = {{"hidden", "256,128", "hidden layer sizes, comma-separated"}},
    .n_options = 1,
    .create = mlp_create,
    .destroy = mlp_destroy,
    .train_step = mlp_train_step,
    .predict = mlp_predict,
    .evaluate = zoo_classifier_evaluate,
    .eval_sharded = true,
    .monitor = "acc",
    .monitor_max = true,
};
