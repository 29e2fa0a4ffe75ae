/* Training the CNN and the GAN gives the same numbers on the CPU and Vulkan backends,
 * bit for bit: from one seed and the same batches, every reported metric (loss; D and
 * G losses, D(x), D(G(z))) is equal at every step, and so are the weights and the
 * optimizer state at the end (compared as saved checkpoints). Every kernel sums in
 * backends/canon.h's order, so nothing is left to drift. Small batches keep it quick
 * on lavapipe. Skips (77) without a Vulkan backend or device. */
#include "test.h"
#include "test_files.h"

#include "core/zoo.h"
#include "models/registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 6
#define BATCH 8

static char tmp_dir[] = "/tmp/zoo-test-agreement-XXXXXX";

typedef struct run {
    zoo_metrics step[STEPS];
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
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%s.safetensors", tmp_dir, model, backend);
    CHECK(zoo_checkpoint_save(m, path, STEPS, true) == 0);
    def->destroy(m);
    zoo_shutdown();
    return 0;
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
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
            remove_tree(tmp_dir);
            return 77;
        }
        CHECK(train_on("cpu", models[k], &d, &cpu) == 0);
        int differ = 0;
        for (int s = 0; s < STEPS; s++)
            for (int i = 0; i < cpu.step[s].n; i++) {
                double a = cpu.step[s].value[i], b = zoo_metrics_get(&vk.step[s], cpu.step[s].name[i]);
                if (a != b) {
                    differ++;
                    fprintf(stderr, "%s step %d %s: cpu %.9g vulkan %.9g\n", models[k], s + 1, cpu.step[s].name[i],
                            a, b);
                }
                CHECK(a == b);
            }
        /* the weights, then the optimizer state */
        char a[600], b[600];
        bool all_same = true;
        for (int f = 0; f < 2; f++) {
            const char *ext = f == 0 ? "safetensors" : "optim.safetensors";
            snprintf(a, sizeof a, "%s/%s-cpu.%s", tmp_dir, models[k], ext);
            snprintf(b, sizeof b, "%s/%s-vulkan.%s", tmp_dir, models[k], ext);
            bool same = same_file(a, b);
            if (!same) fprintf(stderr, "%s: the saved %s differ between the backends\n", models[k], ext);
            CHECK(same);
            all_same = all_same && same;
        }
        printf("%s: %d steps, %d metrics differ; weights and optimizer state %s\n", models[k], STEPS, differ,
               all_same ? "bit-identical" : "DIFFER");
    }
    remove_tree(tmp_dir);
    zoo_dataset_free(&full);
    zoo_dataset_free(&d);
    TEST_EXIT();
}
