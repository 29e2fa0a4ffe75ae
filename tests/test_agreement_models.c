/* The first training steps of the CNN and the GAN agree between the CPU and Vulkan
 * backends: from one seed and the same batches, every reported metric (loss; D and G
 * losses, D(x), D(G(z))) matches to 1e-3 relative at every step. Small batches keep it
 * quick on lavapipe. Skips (77) without a Vulkan backend or device. */
#include "test.h"

#include "core/zoo.h"
#include "models/registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* rounding differences grow step by step: the GAN (batch norm over 8 images, Adam)
 * agrees to 6e-5 over 3 steps but drifts to ~1e-3 by step 5, so the check is 3 steps */
#define STEPS 3
#define BATCH 8
#define MAX_REL_DIFF 1e-3

typedef struct run {
    zoo_metrics step[STEPS];
} run;

static int train_on(const char *backend, const char *model, const zoo_dataset *d, run *out) {
    if (zoo_init(backend, 0)) return -1;
    const zoo_model_def *def = zoo_model_lookup(model);
    ZOO_ASSERT(def);
    zoo_model_args args = {.c = d->c, .h = d->h, .w = d->w, .n_classes = 10, .seed = 11};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    ZOO_ASSERT(m);
    int64_t pix = (int64_t)d->c * d->h * d->w;
    float *x = malloc((size_t)(BATCH * pix) * sizeof *x);
    int32_t *y = malloc(BATCH * sizeof *y);
    zoo_loader loader;
    zoo_loader_init(&loader, d, BATCH, true, true, 11);
    for (int64_t s = 0; s < STEPS; s++) {
        int64_t n = zoo_loader_next(&loader, x, y);
        zoo_scope_begin();
        zoo_batch b = {zoo_tensor_from_host(zoo_shape4(n, d->c, d->h, d->w), x),
                       zoo_tensor_from_host_i32(zoo_shape1(n), y), n};
        memset(&out->step[s], 0, sizeof out->step[s]);
        def->train_step(m, &b, s, &out->step[s]);
        zoo_scope_end();
    }
    zoo_loader_free(&loader);
    free(x);
    free(y);
    def->destroy(m);
    zoo_shutdown();
    return 0;
}

int main(void) {
    zoo_dataset full, d;
    if (zoo_mnist_load(NULL, "train", &full) || zoo_dataset_head(&full, 64, &d)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        return 1;
    }
    const char *models[] = {"cnn", "gan"};
    for (int k = 0; k < 2; k++) {
        static run vk, cpu;
        if (train_on("vulkan", models[k], &d, &vk)) {
            printf("skip: no Vulkan backend here (%s)\n", zoo_last_error());
            return 77;
        }
        CHECK(train_on("cpu", models[k], &d, &cpu) == 0);
        double worst = 0;
        for (int s = 0; s < STEPS; s++)
            for (int i = 0; i < cpu.step[s].n; i++) {
                double a = cpu.step[s].value[i], b = zoo_metrics_get(&vk.step[s], cpu.step[s].name[i]);
                double rel = fabs(a - b) / fmax(fabs(a), 1e-3);
                if (rel > worst) worst = rel;
                if (!(rel <= MAX_REL_DIFF))
                    fprintf(stderr, "%s step %d %s: cpu %.9g vulkan %.9g\n", models[k], s + 1, cpu.step[s].name[i], a,
                            b);
                CHECK(rel <= MAX_REL_DIFF);
            }
        printf("%s: %d steps, largest relative difference of any metric %.3g (bar %g)\n", models[k], STEPS, worst,
               MAX_REL_DIFF);
    }
    zoo_dataset_free(&full);
    zoo_dataset_free(&d);
    TEST_EXIT();
}
