/* zoo-bench MODEL: training and inference throughput and peak memory, printed as
 * "key: value" lines that bench/compare.sh sets beside PyTorch's. */
#include "cli.h"

#ifdef ZOO_HAVE_VULKAN
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *usage = "usage: zoo-bench MODEL [options]\n       zoo-bench --devices\n\nmeasures training "
                           "steps/s, inference images/s and peak memory on real data; --devices lists the Vulkan "
                           "devices";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* copies batch i of a fixed shuffled order into x, y */
static void fill_batch(const zoo_images *d, const int32_t *order, int64_t i, int64_t bs, float *x, int32_t *y) {
    int64_t pix = (int64_t)d->c * d->h * d->w;
    for (int64_t b = 0; b < bs; b++) {
        int64_t k = order[(i * bs + b) % d->n];
        const uint8_t *p = d->pixels + k * pix;
        for (int64_t j = 0; j < pix; j++) x[b * pix + j] = (float)p[j] * (1.0f / 255.0f);
        y[b] = d->labels[k];
    }
}

/* zoo-bench --devices: the Vulkan devices and which one zoo would pick */
static int list_devices(void) {
    int n = zoo_list_devices("vulkan", stdout);
    if (n < 0) {
        fprintf(stderr, "zoo-bench: error: %s\n", zoo_last_error());
        return 1;
    }
    if (n == 0) printf("no Vulkan devices (for a software one: apt-get install mesa-vulkan-drivers)\n");
    return 0;
}

static void count_token(int32_t id, void *ctx) {
    (void)id;
    ++*(int64_t *)ctx;
}

/* A language model: training steps on random windows of the text (tokens/s) and
 * sampling with the KV cache, batch 1 (tokens/s). */
static int bench_text(cli *c, const zoo_model_def *def, int64_t steps, int64_t bs) {
    zoo_text text;
    if (zoo_text_load(cli_str(c, "data"), ZOO_TOKENIZER_CHAR, &text)) cli_die(c->prog, "%s", zoo_last_error());
    char *vocab = zoo_text_vocab_string(&text);
    zoo_model_args args = cli_model_args(c, def, NULL);
    args.n_classes = text.vocab_size;
    args.vocab = vocab;
    args.optim = zoo_model_default_optim(def);
    if (def->defaults.decay) zoo_optim_decay_parse(&args.optim, def->defaults.decay);
    zoo_model *m = def->create(&args);
    if (!m) cli_usage_error(c, "%s", zoo_last_error());
    m->clip_norm = def->defaults.clip;
    zoo_dataset d = zoo_text_dataset(&text, m->context);
    zoo_loader l;
    if (zoo_loader_init(&l, &d, bs, true, true, args.seed)) cli_die(c->prog, "%s", zoo_last_error());
    double t_train = 0;
    for (int64_t s = 0; s < steps + 5; s++) {
        if (s == 5) zoo_profile_reset();
        double t0 = now_s();
        zoo_scope_begin();
        zoo_batch b;
        if (zoo_loader_next(&l, &b)) cli_die(c->prog, "%s", zoo_last_error());
        zoo_metrics mt = {0};
        def->train_step(m, &b, s, &mt);
        zoo_scope_end();
        if (zoo_failed()) cli_die(c->prog, "%s", zoo_last_error());
        if (s >= 5) t_train += now_s() - t0;
    }
    if (cli_on(c, "profile")) zoo_profile_print(stdout, steps);
    /* sampling: 200 tokens after a one-token prompt, three times */
    int64_t sampled = 0;
    double t_sample = 0;
    zoo_sampling sm = {.temperature = 0.8f, .top_k = 40};
    for (int r = 0; r < 3; r++) {
        zoo_rng rng = zoo_rng_new((uint64_t)r);
        double t0 = now_s();
        if (def->generate_tokens(m, text.tokens, 1, 200, &sm, true, &rng, count_token, &sampled))
            cli_die(c->prog, "%s", zoo_last_error());
        t_sample += now_s() - t0;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long threads = cli_int(c, "threads", 0, 1024);
    printf("model: %s\n", def->name);
    printf("framework: zoo %s\n", zoo_backend_name());
    printf("numeric: %s\n", zoo_numeric_mode());
    printf("threads: %ld\n", threads ? threads : sysconf(_SC_NPROCESSORS_ONLN));
    printf("batch: %lld\n", (long long)bs);
    printf("context: %lld\n", (long long)m->context);
    printf("train_ms_per_step: %.3f\n", 1e3 * t_train / (double)steps);
    printf("train_tokens_per_s: %.0f\n", (double)(steps * bs * m->context) / t_train);
    printf("sample_tokens_per_s: %.0f\n", (double)sampled / t_sample);
    printf("peak_tensor_mb: %.1f\n", (double)zoo_peak_bytes() / (1 << 20));
    printf("peak_rss_mb: %.1f\n", (double)ru.ru_maxrss / 1024.0);
    zoo_loader_free(&l);
    def->destroy(m);
    free(vocab);
    zoo_text_free(&text);
    zoo_shutdown();
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--devices") == 0) return list_devices();
    const zoo_model_def *def = cli_model("zoo-bench", argc, argv, usage);
    cli c = {.prog = "zoo-bench"};
    char batch[32];
    snprintf(batch, sizeof batch, "%lld", (long long)def->defaults.batch);
    cli_add(&c, "steps", "N", "300", "timed training steps (after 20 warm-up steps; 5 for a language model)");
    cli_add(&c, "batch", "N", batch, "training batch size");
    cli_add(&c, "infer-batch", "N", "1000", "inference batch size");
    bool text = def->data == ZOO_DATA_TEXT;
    cli_add(&c, "data", "PATH", text ? ZOO_FORTUNES_DIR : ZOO_FASHION_MNIST_DIR,
            text ? "a UTF-8 text file or folder" : "MNIST-format data folder");
    cli_add_backend(&c);
    cli_add(&c, "seed", "N", "0", "seed");
    cli_add(&c, "profile", NULL, NULL, "print each kernel's time per training step (waits after every kernel)");
    cli_add_model_options(&c, def);
    if (!cli_parse(&c, argc, argv, 2, usage)) return 0;
    int64_t steps = cli_int(&c, "steps", 1, 1 << 30), bs = cli_int(&c, "batch", 1, 1 << 16);
    int64_t ibs = cli_int(&c, "infer-batch", 1, 1 << 16);

    cli_init_backend(&c);
    if (text) return bench_text(&c, def, steps, bs);
    zoo_images train;
    cli_load_data(&c, "train", &train);
    zoo_model_args args = cli_model_args(&c, def, &train);
    args.optim = zoo_model_default_optim(def);
    zoo_model *m = def->create(&args);
    if (!m) cli_usage_error(&c, "%s", zoo_last_error());

    int64_t pix = (int64_t)train.c * train.h * train.w, maxb = bs > ibs ? bs : ibs;
    float *x = malloc((size_t)(maxb * pix) * sizeof *x);
    int32_t *y = malloc((size_t)maxb * sizeof *y), *order = malloc((size_t)train.n * sizeof *order);
    for (int64_t i = 0; i < train.n; i++) order[i] = (int32_t)i;
    zoo_rng r = zoo_rng_new(args.seed);
    zoo_rng_shuffle(&r, order, train.n);

    double t_train = 0;
    zoo_counters c0 = {0}, c1;
    for (int64_t s = 0; s < steps + 20; s++) {
        if (s == 20) {
            zoo_get_counters(&c0);
            zoo_profile_reset();
        }
        fill_batch(&train, order, s, bs, x, y); /* host-side batching is not timed */
        double t0 = now_s();
        zoo_scope_begin();
        zoo_batch b = {.n = bs, .n_fields = 2, .names = {"image", "label"},
                       .t = {zoo_tensor_from_host(zoo_shape4(bs, train.c, train.h, train.w), x),
                             zoo_tensor_from_host_i32(zoo_shape1(bs), y)}};
        zoo_metrics mt = {0};
        def->train_step(m, &b, s, &mt);
        zoo_scope_end();
        if (s >= 20) t_train += now_s() - t0;
    }
    zoo_get_counters(&c1);
    bool counted = c1.dispatches > 0;
    if (cli_on(&c, "profile")) zoo_profile_print(stdout, steps);

    double t_infer = 0;
    int64_t infer_batches = 20, images = 0;
    if (def->predict) {
        zoo_model_set_training(m, false);
        zoo_set_grad_enabled(false);
        for (int64_t s = 0; s < infer_batches + 2; s++) {
            fill_batch(&train, order, s, ibs, x, y);
            double t0 = now_s();
            zoo_scope_begin();
            zoo_tensor *logits = def->predict(m, zoo_tensor_from_host(zoo_shape4(ibs, train.c, train.h, train.w), x));
            zoo_tensor_download(zoo_argmax(logits, 1), y);
            zoo_scope_end();
            if (s >= 2) {
                t_infer += now_s() - t0;
                images += ibs;
            }
        }
    }
    double t_sample_step = 0; /* models with samplers: one denoising step for SAMPLE_BATCH images */
    if (def->samplers) {
        enum { SAMPLE_BATCH = 16, SAMPLE_STEPS = 10 };
        zoo_rng r2 = zoo_rng_new(args.seed);
        zoo_image_sampling how = {.sampler = "ddim", .steps = SAMPLE_STEPS};
        double best = 1e30;
        for (int64_t s = 0; s < 4; s++) { /* the first warms up; the best of the rest */
            double t0 = now_s();
            zoo_scope_begin();
            zoo_tensor *img = def->generate(m, SAMPLE_BATCH, &how, &r2);
            if (!img) cli_die(c.prog, "%s", zoo_last_error());
            zoo_tensor_download(img, x);
            zoo_scope_end();
            if (s >= 1) best = fmin(best, (now_s() - t0) / SAMPLE_STEPS);
        }
        t_sample_step = best;
    } else if (def->generate) { /* a generative model's inference: new samples per second */
        zoo_rng r2 = zoo_rng_new(args.seed);
        for (int64_t s = 0; s < 4; s++) {
            double t0 = now_s();
            zoo_scope_begin();
            zoo_tensor *img = def->generate(m, ibs, NULL, &r2);
            zoo_tensor_download(img, x);
            zoo_scope_end();
            if (s >= 1) {
                t_infer += now_s() - t0;
                images += ibs;
            }
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("model: %s\n", def->name);
    printf("framework: zoo %s\n", zoo_backend_name());
    printf("numeric: %s\n", zoo_numeric_mode());
    long threads = cli_int(&c, "threads", 0, 1024);
    printf("threads: %ld\n", threads ? threads : sysconf(_SC_NPROCESSORS_ONLN));
    printf("batch: %lld\n", (long long)bs);
    printf("train_ms_per_step: %.3f\n", 1e3 * t_train / (double)steps);
    printf("train_samples_per_s: %.0f\n", (double)(steps * bs) / t_train);
    if (images) printf("infer_images_per_s: %.0f\n", (double)images / t_infer);
    if (t_sample_step > 0) printf("sample_ms_per_step_16: %.3f\n", 1e3 * t_sample_step);
    if (counted) {
        printf("dispatches_per_step: %.1f\n", (double)(c1.dispatches - c0.dispatches) / (double)steps);
        printf("submits_per_step: %.1f\n", (double)(c1.submits - c0.submits) / (double)steps);
    }
    printf("peak_tensor_mb: %.1f\n", (double)zoo_peak_bytes() / (1 << 20));
    printf("peak_rss_mb: %.1f\n", (double)ru.ru_maxrss / 1024.0);
    free(x);
    free(y);
    free(order);
    def->destroy(m);
    zoo_images_free(&train);
    zoo_shutdown();
    return 0;
}
