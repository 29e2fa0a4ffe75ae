/* Training the CNN, the GAN and the diffusion model (with self-attention at 14x14) on
 * the CPU and Vulkan backends from one seed and the same batches (the diffusion model
 * then draws 4 images with 5 DDIM steps):
 * - exact mode gives the same numbers bit for bit: every reported metric (loss; D and
 *   G losses, D(x), D(G(z))) is equal at every step, and so are the weights and the
 *   optimizer state at the end (compared as saved checkpoints), and so are the diffusion
 *   model's samples. Every kernel sums in
 *   backends/canon.h's order, so nothing is left to drift.
 * - fast mode (each backend its own arithmetic) keeps every metric of the first 3
 *   steps within 1e-4 relative, and the samples within NMSE 1e-6.
 * Small batches keep it quick on lavapipe, except the GAN's fast run, which takes its
 * real batch of 64: with batch norm over 8 images some gradients are no bigger than
 * rounding noise, and Adam's first steps move every weight by about lr whatever its
 * gradient's size, so the two backends' roundings flip a few hundred weights by 2 lr
 * (seen: 1e-4 in the loss after one step). Skips (77) without a Vulkan backend or
 * device. */
#include "test.h"
#include "test_files.h"

#include "core/internal.h"
#include "models/registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 6      /* exact mode */
#define BATCH 8
#define FAST_STEPS 3 /* fast mode */

static char tmp_dir[] = "/tmp/zoo-test-agreement-XXXXXX";

#define SAMPLE_N 4
#define SAMPLE_PIXELS (SAMPLE_N * 28 * 28)

typedef struct run {
    zoo_metrics step[STEPS];
    float sample[SAMPLE_PIXELS]; /* models with samplers: 5 DDIM steps from the trained weights */
} run;

/* the bytes of a file; *n its length */
static char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)*n);
    if (buf && fread(buf, 1, (size_t)*n, f) != (size_t)*n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* the two files hold the same bytes */
static bool same_file(const char *a, const char *b) {
    long na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, (size_t)na) == 0;
    free(x);
    free(y);
    return same;
}

/* trains on backend and saves the model (weights and optimizer state) under tmp_dir */
static int train_on(const char *backend, bool exact, const char *model, const zoo_images *d, int64_t batch,
                    int64_t steps, run *out) {
    if (zoo_init_with(&(zoo_options){.backend = backend, .exact = exact})) return -1;
    const zoo_model_def *def = zoo_model_lookup(model);
    ZOO_ASSERT(def);
    zoo_model_args args = {.c = d->c, .h = d->h, .w = d->w, .n_classes = 10, .seed = 11};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    if (strcmp(model, "diffusion") == 0) { /* a narrow U-Net (lavapipe is slow), with self-attention at 14x14 */
        args.options[0] = "8";
        args.options[4] = "14";
    }
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    ZOO_ASSERT(m);
    zoo_dataset ds = zoo_images_dataset(d);
    zoo_loader loader;
    CHECK(zoo_loader_init(&loader, &ds, batch, true, true, 11) == 0);
    for (int64_t s = 0; s < steps; s++) {
        zoo_scope_begin();
        zoo_batch b;
        CHECK(zoo_loader_next(&loader, &b) == 0 && b.n == batch);
        memset(&out->step[s], 0, sizeof out->step[s]);
        def->train_step(m, &b, s, &out->step[s]);
        zoo_scope_end();
    }
    zoo_loader_free(&loader);
    if (def->samplers) {
        zoo_image_sampling how = {.sampler = "ddim", .steps = 5};
        zoo_rng rng = zoo_rng_new(5);
        zoo_scope_begin();
        zoo_tensor *x = def->generate(m, SAMPLE_N, &how, &rng);
        CHECK(x != NULL && x->numel == SAMPLE_PIXELS);
        if (x && x->numel == SAMPLE_PIXELS) zoo_tensor_download(x, out->sample);
        zoo_scope_end();
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%s-%s.safetensors", tmp_dir, model, exact ? "exact" : "fast", backend);
    CHECK(zoo_checkpoint_save(m, path, steps, true) == 0);
    def->destroy(m);
    zoo_shutdown();
    return 0;
}

/* exact mode: metrics and saved state bit-identical */
static void compare_exact(const char *model, const run *cpu, const run *vk) {
    int differ = 0;
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < cpu->step[s].n; i++) {
            double a = cpu->step[s].value[i], b = zoo_metrics_get(&vk->step[s], cpu->step[s].name[i]);
            if (a != b) {
                differ++;
                fprintf(stderr, "%s step %d %s: cpu %.9g vulkan %.9g\n", model, s + 1, cpu->step[s].name[i], a, b);
            }
            CHECK(a == b);
        }
    /* the weights, then the optimizer state */
    char a[600], b[600];
    bool all_same = true;
    for (int f = 0; f < 2; f++) {
        const char *ext = f == 0 ? "safetensors" : "optim.safetensors";
        snprintf(a, sizeof a, "%s/%s-exact-cpu.%s", tmp_dir, model, ext);
        snprintf(b, sizeof b, "%s/%s-exact-vulkan.%s", tmp_dir, model, ext);
        bool same = same_file(a, b);
        if (!same) fprintf(stderr, "%s: the saved %s differ between the backends\n", model, ext);
        CHECK(same);
        all_same = all_same && same;
    }
    printf("%s, exact mode: %d steps, %d metrics differ; weights and optimizer state %s\n", model, STEPS, differ,
           all_same ? "bit-identical" : "DIFFER");
    if (zoo_model_lookup(model)->samplers) {
        bool same = memcmp(cpu->sample, vk->sample, sizeof cpu->sample) == 0;
        printf("%s, exact mode: a 5-step DDIM sample of %d images %s\n", model, SAMPLE_N,
               same ? "bit-identical" : "DIFFERS");
        CHECK(same);
    }
}

/* fast mode: the first steps' metrics close */
static void compare_fast(const char *model, const run *cpu, const run *vk) {
    double worst = 0.0;
    for (int s = 0; s < FAST_STEPS; s++)
        for (int i = 0; i < cpu->step[s].n; i++) {
            double a = cpu->step[s].value[i], b = zoo_metrics_get(&vk->step[s], cpu->step[s].name[i]);
            double rel = fabs(a - b) / fmax(fabs(a), 1e-30);
            if (rel > 1e-4)
                fprintf(stderr, "%s step %d %s: cpu %.9g vulkan %.9g\n", model, s + 1, cpu->step[s].name[i], a, b);
            worst = fmax(worst, rel);
        }
    printf("%s, fast mode: largest relative difference of the first %d steps' metrics %.1e\n", model, FAST_STEPS,
           worst);
    CHECK(worst <= 1e-4);
    if (zoo_model_lookup(model)->samplers) {
        double err = 0.0, ref = 0.0;
        for (int i = 0; i < SAMPLE_PIXELS; i++) {
            err += ((double)cpu->sample[i] - vk->sample[i]) * ((double)cpu->sample[i] - vk->sample[i]);
            ref += (double)cpu->sample[i] * cpu->sample[i];
        }
        printf("%s, fast mode: a 5-step DDIM sample's NMSE %.1e\n", model, err / ref);
        CHECK(err / ref <= 1e-6);
    }
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    zoo_images full, d;
    if (zoo_mnist_load(NULL, "train", &full) || zoo_images_head(&full, 256, &d)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        return 1;
    }
    const char *models[] = {"cnn", "gan", "diffusion"};
    const int64_t fast_batch[] = {BATCH, 64, BATCH};
    for (int k = 0; k < 3; k++)
        for (int exact = 1; exact >= 0; exact--) {
            static run vk, cpu;
            int64_t batch = exact ? BATCH : fast_batch[k], steps = exact ? STEPS : FAST_STEPS;
            if (train_on("vulkan", exact, models[k], &d, batch, steps, &vk)) {
                printf("skip: no Vulkan backend here (%s)\n", zoo_last_error());
                remove_tree(tmp_dir);
                return 77;
            }
            CHECK(train_on("cpu", exact, models[k], &d, batch, steps, &cpu) == 0);
            if (exact) compare_exact(models[k], &cpu, &vk);
            else compare_fast(models[k], &cpu, &vk);
        }
    remove_tree(tmp_dir);
    zoo_images_free(&full);
    zoo_images_free(&d);
    TEST_EXIT();
}
