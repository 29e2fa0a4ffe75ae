/* The transformer package at a tiny size: it memorizes a short text (loss < 0.05, and
 * greedy sampling from its first word writes the rest back); sampling with the KV
 * cache draws the same tokens as recomputing every window; its checkpoint keeps the
 * vocabulary; and on Vulkan, training steps and sampling agree with the CPU (exact mode:
 * the same bits; fast mode: close). Without Vulkan the CPU checks still run. */
#include "test.h"

#include "core/internal.h"
#include "models/registry.h"

#include <math.h>
#include <string.h>

static const char *const TEXT = "the quick brown fox jumps over the lazy dog, then naps in the sun.";
enum { CONTEXT = 16, BATCH = 8 };

/* 4 windows of 48: each starts at its own character, so every position of every window
 * is predictable from what comes before it in the window (a longer text's windows would
 * start at repeated characters, whose next one no model can know) */
static const char *const SHORT = "a stitch in time saves nine, so the proverb goes: ok";
enum { SHORT_CONTEXT = 48 };

static zoo_model *tiny_ctx(const zoo_text *t, const char *vocab, uint64_t seed, const char *context) {
    const zoo_model_def *def = zoo_model_lookup("transformer");
    zoo_model_args a = {.options = {"2", "2", "32", context, "0"}, .n_classes = t->vocab_size, .vocab = vocab,
                        .seed = seed};
    a.optim = zoo_optim_defaults(ZOO_OPTIM_ADAMW, 1e-2f);
    a.optim.weight_decay = 0.0f;
    return def->create(&a);
}

static zoo_model *tiny(const zoo_text *t, const char *vocab, uint64_t seed) { return tiny_ctx(t, vocab, seed, "16"); }

/* steps of training on every window in a seeded order; the last loss */
static double train(zoo_model *m, const zoo_text *t, int steps, double *losses) {
    zoo_dataset d = zoo_text_dataset(t, m->context);
    zoo_loader l;
    CHECK(zoo_loader_init(&l, &d, d.n < BATCH ? d.n : BATCH, true, true, 3) == 0);
    double last = NAN;
    for (int s = 0; s < steps; s++) {
        zoo_scope_begin();
        zoo_batch b;
        CHECK(zoo_loader_next(&l, &b) == 0);
        if (b.n == 0) CHECK(zoo_loader_next(&l, &b) == 0);
        zoo_metrics mt = {0};
        m->def->train_step(m, &b, s, &mt);
        zoo_scope_end();
        last = zoo_metrics_get(&mt, "loss");
        if (losses) losses[s] = last;
    }
    zoo_loader_free(&l);
    return last;
}

typedef struct collected {
    int32_t ids[256];
    int n;
} collected;

static void collect(int32_t id, void *ctx) {
    collected *c = ctx;
    if (c->n < 256) c->ids[c->n++] = id;
}

static collected sample(zoo_model *m, const int32_t *prompt, int n_prompt, int n, float temperature, bool cache,
                        uint64_t seed) {
    collected c = {.n = 0};
    zoo_sampling s = {.temperature = temperature, .top_k = temperature > 0 ? 5 : 0};
    zoo_rng rng = zoo_rng_new(seed);
    CHECK(m->def->generate_tokens(m, prompt, n_prompt, n, &s, cache, &rng, collect, &c) == 0);
    CHECK(c.n == n);
    return c;
}

TEST(a_tiny_model_memorizes_a_text_and_writes_it_back) {
    CHECK(zoo_init_with(&(zoo_options){.backend = "cpu"}) == 0);
    zoo_text t;
    CHECK(zoo_text_from_utf8(SHORT, strlen(SHORT), ZOO_TOKENIZER_CHAR, &t) == 0);
    CHECK(t.n == SHORT_CONTEXT + 4);
    zoo_model *m = tiny_ctx(&t, "", 1, "48");
    double first = train(m, &t, 1, NULL), last = train(m, &t, 150, NULL);
    printf("  loss %.4f after 1 step, %.4f after 150 more\n", first, last);
    CHECK(last < 0.05);
    /* its first 2 characters, then greedily to the end of the first window */
    collected c = sample(m, t.tokens, 2, SHORT_CONTEXT - 2, 0.0f, true, 0);
    char *got = zoo_text_decode(&t, c.ids, c.n);
    printf("  greedy: \"%.2s%s\"\n", SHORT, got);
    CHECK(got && strncmp(got, SHORT + 2, SHORT_CONTEXT - 2) == 0);
    free(got);
    m->def->destroy(m);
    zoo_text_free(&t);
    zoo_shutdown();
}

TEST(sampling_with_the_cache_draws_what_recomputing_draws) {
    /* exact mode: a cached step computes each logit from the same terms in the same
       order as the full window does, so even temperature draws agree */
    for (int exact = 1; exact >= 0; exact--) {
        CHECK(zoo_init_with(&(zoo_options){.backend = "cpu", .exact = exact}) == 0);
        zoo_text t;
        CHECK(zoo_text_from_utf8(TEXT, strlen(TEXT), ZOO_TOKENIZER_CHAR, &t) == 0);
        zoo_model *m = tiny(&t, "", 2);
        train(m, &t, 60, NULL);
        float temperature = exact ? 1.0f : 0.0f; /* fast mode: greedy, whose margins rounding cannot flip */
        for (int seed = 0; seed < 3; seed++) {
            collected a = sample(m, t.tokens + seed, 3, 40, temperature, true, (uint64_t)seed);
            collected b = sample(m, t.tokens + seed, 3, 40, temperature, false, (uint64_t)seed);
            CHECK(a.n == b.n && memcmp(a.ids, b.ids, (size_t)a.n * sizeof a.ids[0]) == 0);
        }
        m->def->destroy(m);
        zoo_text_free(&t);
        zoo_shutdown();
    }
}

TEST(a_checkpoint_keeps_the_vocabulary_and_the_weights) {
    CHECK(zoo_init_with(&(zoo_options){.backend = "cpu"}) == 0);
    zoo_text t;
    CHECK(zoo_text_from_utf8(TEXT, strlen(TEXT), ZOO_TOKENIZER_CHAR, &t) == 0);
    char *vocab = zoo_text_vocab_string(&t);
    zoo_model *m = tiny(&t, vocab, 4);
    train(m, &t, 20, NULL);
    char dir[] = "/tmp/zoo-transformer-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(zoo_checkpoint_save(m, path, 20, false) == 0);
    collected before = sample(m, t.tokens, 4, 30, 0.9f, true, 9);
    zoo_st_file *f = zoo_safetensors_open(path);
    CHECK(f != NULL);
    zoo_model_args args = {0};
    CHECK(zoo_checkpoint_args(f, m->def, &args) == 0);
    CHECK(args.vocab && strcmp(args.vocab, vocab) == 0 && args.n_classes == t.vocab_size);
    CHECK(strcmp(args.options[2], "32") == 0 && strcmp(args.options[3], "16") == 0);
    args.optim = zoo_optim_defaults(ZOO_OPTIM_ADAMW, 1e-3f);
    zoo_model *back = m->def->create(&args);
    CHECK(back && zoo_checkpoint_load_weights(back, f) == 0);
    collected after = sample(back, t.tokens, 4, 30, 0.9f, true, 9);
    CHECK(memcmp(before.ids, after.ids, sizeof before.ids) == 0);
    zoo_safetensors_close(f);
    back->def->destroy(back);
    m->def->destroy(m);
    free(vocab);
    zoo_text_free(&t);
    remove(path);
    remove(dir);
    zoo_shutdown();
}

/* ---------------------------------------------------------------- CPU vs Vulkan */

typedef struct run {
    double loss[5];
    collected greedy, drawn;
} run;

static bool run_on(const char *backend, bool exact, run *r) {
    if (zoo_init_with(&(zoo_options){.backend = backend, .exact = exact})) return false;
    zoo_text t;
    CHECK(zoo_text_from_utf8(TEXT, strlen(TEXT), ZOO_TOKENIZER_CHAR, &t) == 0);
    zoo_model *m = tiny(&t, "", 5);
    train(m, &t, 5, r->loss);
    r->greedy = sample(m, t.tokens, 5, 24, 0.0f, true, 0);
    r->drawn = sample(m, t.tokens, 5, 24, 1.0f, true, 7);
    m->def->destroy(m);
    zoo_text_free(&t);
    zoo_shutdown();
    return true;
}

TEST(vulkan_trains_and_samples_as_the_cpu_does) {
    for (int exact = 1; exact >= 0; exact--) {
        run cpu, vk;
        CHECK(run_on("cpu", exact, &cpu));
        if (!run_on("vulkan", exact, &vk)) {
            printf("  note: no Vulkan backend: %s\n", zoo_last_error());
            return;
        }
        double worst = 0;
        for (int s = 0; s < 5; s++) worst = fmax(worst, fabs(cpu.loss[s] - vk.loss[s]) / fabs(cpu.loss[s]));
        printf("  %s mode: 5 losses within %.1e of the CPU's; greedy %s, drawn %s\n", exact ? "exact" : "fast", worst,
               memcmp(cpu.greedy.ids, vk.greedy.ids, sizeof cpu.greedy.ids) ? "differ" : "equal",
               memcmp(cpu.drawn.ids, vk.drawn.ids, sizeof cpu.drawn.ids) ? "differ" : "equal");
        if (exact) {
            CHECK(worst == 0.0);
            CHECK(memcmp(cpu.greedy.ids, vk.greedy.ids, sizeof cpu.greedy.ids) == 0);
            CHECK(memcmp(cpu.drawn.ids, vk.drawn.ids, sizeof cpu.drawn.ids) == 0);
        } else {
            CHECK(worst <= 1e-4);
            CHECK(memcmp(cpu.greedy.ids, vk.greedy.ids, sizeof cpu.greedy.ids) == 0);
        }
    }
}

int main(void) {
    RUN(a_tiny_model_memorizes_a_text_and_writes_it_back);
    RUN(sampling_with_the_cache_draws_what_recomputing_draws);
    RUN(a_checkpoint_keeps_the_vocabulary_and_the_weights);
    RUN(vulkan_trains_and_samples_as_the_cpu_does);
    TEST_EXIT();
}
