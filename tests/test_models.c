/* Every registered model learns: a short run on a Fashion-MNIST subset must pass an
 * accuracy bar well above chance, through the same loop zoo-train uses. */
#include "test.h"

#include "core/zoo.h"
#include "models/registry.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct learn_case {
    const char *model;
    int64_t train_n, test_n, epochs, batch;
    double min_acc;
} learn_case;

static double train_once(const learn_case *lc, const char *out_dir) {
    const zoo_model_def *def = zoo_model_lookup(lc->model);
    CHECK(def != NULL);
    zoo_dataset full_train, full_test, train, test;
    if (zoo_mnist_load(NULL, "train", &full_train) || zoo_mnist_load(NULL, "test", &full_test)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        exit(1);
    }
    CHECK(zoo_dataset_head(&full_train, lc->train_n, &train) == 0);
    CHECK(zoo_dataset_head(&full_test, lc->test_n, &test) == 0);
    zoo_model_args args = {.c = train.c, .h = train.h, .w = train.w, .n_classes = 10, .seed = 1};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    zoo_train_config cfg = {.epochs = lc->epochs, .batch = lc->batch, .seed = 1, .out_dir = out_dir,
                            .log_every = 10, .quiet = true,
                            .schedule = {.kind = ZOO_SCHED_CONSTANT, .base_lr = def->defaults.lr}};
    double acc = 0;
    CHECK(zoo_train(m, &train, &test, &cfg, &acc) == 0);
    def->destroy(m);
    zoo_dataset_free(&full_train);
    zoo_dataset_free(&full_test);
    zoo_dataset_free(&train);
    zoo_dataset_free(&test);
    return acc;
}

static const learn_case cases[] = {
    {"mlp", 10000, 1000, 3, 64, 0.80},
    {"cnn", 4000, 1000, 2, 64, 0.78},
};

TEST(every_model_learns_on_a_subset) {
    char dir[] = "/tmp/zoo-models-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double acc = train_once(&cases[i], dir);
        printf("  %s: %.2f%% after %lld epochs on %lld examples (bar %.0f%%)\n", cases[i].model, 100 * acc,
               (long long)cases[i].epochs, (long long)cases[i].train_n, 100 * cases[i].min_acc);
        CHECK(acc >= cases[i].min_acc);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(every_registered_model_is_complete) {
    for (int i = 0; zoo_models[i]; i++) {
        const zoo_model_def *d = zoo_models[i];
        CHECK(d->name && d->description && d->create && d->destroy && d->train_step);
        CHECK(zoo_model_lookup(d->name) == d);
    }
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(every_registered_model_is_complete);
    RUN(every_model_learns_on_a_subset);
    zoo_shutdown();
    TEST_EXIT();
}
