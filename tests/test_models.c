/* Every registered model learns: a short run on a Fashion-MNIST subset must pass an
 * accuracy bar well above chance, through the same loop zoo-train uses. */
#include "test.h"

#include "core/internal.h"
#include "models/registry.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

typedef struct learn_case {
    const char *model;
    int64_t train_n, test_n, epochs, batch;
    double min_acc;
} learn_case;

static double train_once(const learn_case *lc, const char *out_dir) {
    const zoo_model_def *def = zoo_model_lookup(lc->model);
    CHECK(def != NULL);
    zoo_images full_train, full_test, train, test;
    if (zoo_mnist_load(NULL, "train", &full_train) || zoo_mnist_load(NULL, "test", &full_test)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        exit(1);
    }
    CHECK(zoo_images_head(&full_train, lc->train_n, &train) == 0);
    CHECK(zoo_images_head(&full_test, lc->test_n, &test) == 0);
    zoo_model_args args = {.c = train.c, .h = train.h, .w = train.w, .n_classes = 10, .seed = 1};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    zoo_train_config cfg = {.epochs = lc->epochs, .batch = lc->batch, .seed = 1, .out_dir = out_dir,
                            .log_every = 10, .quiet = true,
                            .schedule = {.kind = ZOO_SCHED_CONSTANT, .base_lr = def->defaults.lr}};
    zoo_dataset train_ds = zoo_images_dataset(&train), test_ds = zoo_images_dataset(&test);
    zoo_metrics final = {0};
    CHECK(zoo_train(m, &train_ds, &test_ds, &cfg, &final) == 0);
    double acc = zoo_metrics_get(&final, "test_acc");
    def->destroy(m);
    zoo_images_free(&full_train);
    zoo_images_free(&full_test);
    zoo_images_free(&train);
    zoo_images_free(&test);
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

/* A GAN whose generator cannot learn (learning rate 0) against a fast discriminator:
 * D wins outright, and the metrics must say so (d_wins) within a few hundred steps. */
TEST(gan_reports_when_the_discriminator_wins_outright) {
    const zoo_model_def *def = zoo_model_lookup("gan");
    CHECK(def != NULL);
    zoo_images full, d;
    CHECK(zoo_mnist_load(NULL, "train", &full) == 0);
    CHECK(zoo_images_head(&full, 512, &d) == 0);
    zoo_model_args args = {.c = 1, .h = 28, .w = 28, .n_classes = 10, .seed = 5};
    args.options[0] = "64";
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    zoo_optim_set_lr(&m->optim[0], 0.0f);  /* generator */
    zoo_optim_set_lr(&m->optim[1], 2e-3f); /* discriminator */
    enum { B = 16 };
    zoo_dataset ds = zoo_images_dataset(&d);
    zoo_loader loader;
    CHECK(zoo_loader_init(&loader, &ds, B, true, true, 5) == 0);
    int64_t first_win = -1;
    double last_fake = 1.0;
    /* the run's warning goes to /dev/null while it trains */
    fflush(stderr);
    int saved_err = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    for (int64_t s = 0; s < 400 && first_win < 0; s++) {
        zoo_scope_begin();
        zoo_batch b;
        CHECK(zoo_loader_next(&loader, &b) == 0);
        if (b.n == 0) CHECK(zoo_loader_next(&loader, &b) == 0);
        zoo_metrics mt = {0};
        def->train_step(m, &b, s, &mt);
        zoo_scope_end();
        last_fake = zoo_metrics_get(&mt, "d_fake");
        if (zoo_metrics_get(&mt, "d_wins") == 1.0) first_win = s + 1;
    }
    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    close(devnull);
    printf("  D(G(z)) %.4f; d_wins first reported at step %lld\n", last_fake, (long long)first_win);
    CHECK(first_win >= 200); /* it needs 200 steps in a row below 0.05 */
    CHECK(first_win > 0 && first_win < 400);
    zoo_loader_free(&loader);
    def->destroy(m);
    zoo_images_free(&full);
    zoo_images_free(&d);
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(every_registered_model_is_complete);
    RUN(every_model_learns_on_a_subset);
    RUN(gan_reports_when_the_discriminator_wins_outright);
    zoo_shutdown();
    TEST_EXIT();
}
