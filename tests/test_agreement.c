/* Whole-model agreement between backends: the MLP trained for 200 steps from the same
 * seed on the same batches, once on the CPU and once on Vulkan,
 * - in exact mode sees the same loss at every step, bit for bit (every kernel sums in
 *   backends/canon.h's order), and so reaches the same test accuracy;
 * - in fast mode (each backend its own arithmetic) stays within 1e-3 relative at
 *   every step, and within 1e-4 for the first 3.
 * Without a Vulkan backend (or device) it skips with status 77. */
#include "test.h"

#include "core/internal.h"
#include "models/registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 200
#define BATCH 32
#define TRAIN_N 2000
#define TEST_N 1000
#define HIDDEN "64"
#define SEED 7


typedef struct run_result {
    double loss[STEPS];
    double acc;
} run_result;

/* trains a fresh model on `backend`; -1 when that backend does not start */
static int train_on(const char *backend, bool exact, const zoo_images *train, const zoo_images *test,
                    run_result *out) {
    if (zoo_init_with(&(zoo_options){.backend = backend, .exact = exact})) return -1;
    const zoo_model_def *def = zoo_model_lookup("mlp");
    ZOO_ASSERT(def);
    zoo_model_args args = {.c = train->c, .h = train->h, .w = train->w, .n_classes = train->n_classes, .seed = SEED};
    args.options[0] = HIDDEN;
    args.optim = zoo_optim_defaults(def->defaults.optimizer, def->defaults.lr);
    zoo_model *m = def->create(&args);
    ZOO_ASSERT(m);

    zoo_dataset ds = zoo_images_dataset(train), test_ds = zoo_images_dataset(test);
    zoo_loader loader;
    CHECK(zoo_loader_init(&loader, &ds, BATCH, true, true, SEED) == 0);
    for (int64_t step = 0; step < STEPS; step++) {
        zoo_scope_begin();
        zoo_batch b;
        CHECK(zoo_loader_next(&loader, &b) == 0);
        if (b.n == 0) CHECK(zoo_loader_next(&loader, &b) == 0); /* the next epoch */
        zoo_metrics mt = {0};
        def->train_step(m, &b, step, &mt);
        out->loss[step] = zoo_metrics_get(&mt, "loss");
        zoo_scope_end();
    }
    zoo_metrics em = {0};
    CHECK(def->evaluate(m, &test_ds, &em) == 0);
    out->acc = zoo_metrics_get(&em, "acc");
    zoo_loader_free(&loader);
    def->destroy(m);
    zoo_shutdown();
    return 0;
}

static void load(const char *split, int64_t count, zoo_images *out) {
    zoo_images full;
    if (zoo_mnist_load(NULL, split, &full) || zoo_images_head(&full, count, out)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        exit(1);
    }
    zoo_images_free(&full);
}

static double rel_diff(double a, double b) { return fabs(a - b) / fmax(fabs(a), 1e-30); }

/* both backends in one mode; false when there is no Vulkan backend */
static bool compare(bool exact, const zoo_images *train, const zoo_images *test) {
    static run_result vk, cpu;
    const char *mode = exact ? "exact" : "fast";
    /* Vulkan first: without it there is nothing to compare, and the CPU run is spared */
    if (train_on("vulkan", exact, train, test, &vk)) return false;
    CHECK(train_on("cpu", exact, train, test, &cpu) == 0);

    printf("%s mode: mlp hidden %s, batch %d, %d steps on %d Fashion-MNIST images, seed %d\n", mode, HIDDEN, BATCH,
           STEPS, TRAIN_N, SEED);
    printf("%6s %14s %14s %10s\n", "step", "cpu loss", "vulkan loss", "relative");
    int differ = 0, first = -1;
    double worst = 0.0, worst_early = 0.0;
    for (int s = 0; s < STEPS; s++) {
        bool same = vk.loss[s] == cpu.loss[s];
        double rel = rel_diff(cpu.loss[s], vk.loss[s]);
        if (!same && first < 0) first = s;
        differ += !same;
        worst = fmax(worst, rel);
        if (s < 3) worst_early = fmax(worst_early, rel);
        if (s % 20 == 0 || s == STEPS - 1 || (exact && !same && differ <= 10))
            printf("%6d %14.9f %14.9f %10.1e%s\n", s, cpu.loss[s], vk.loss[s], rel, same ? "" : "  differs");
    }
    printf("%s mode: %d of %d losses differ (the first at step %d); largest relative difference %.1e (first 3 "
           "steps: %.1e)\n",
           mode, differ, STEPS, first, worst, worst_early);
    printf("%s mode: test accuracy on %d images: cpu %.2f%%, vulkan %.2f%%\n", mode, TEST_N, 100 * cpu.acc,
           100 * vk.acc);
    if (exact) {
        CHECK(differ == 0);
        CHECK(cpu.acc == vk.acc);
    } else {
        CHECK(worst <= 1e-3);
        CHECK(worst_early <= 1e-4);
        CHECK(fabs(cpu.acc - vk.acc) <= 0.01);
    }
    return true;
}

int main(void) {
    zoo_images train, test;
    load("train", TRAIN_N, &train);
    load("test", TEST_N, &test);
    bool have_vulkan = compare(true, &train, &test);
    if (have_vulkan) compare(false, &train, &test);
    zoo_images_free(&train);
    zoo_images_free(&test);
    if (!have_vulkan) {
        printf("note: no Vulkan backend to compare with the CPU: %s\n", zoo_last_error());
        if (getenv("ZOO_TEST_REQUIRE_VULKAN")) {
            fprintf(stderr, "FAIL: ZOO_TEST_REQUIRE_VULKAN is set\n");
            return 1;
        }
        return 77;
    }
    TEST_EXIT();
}
