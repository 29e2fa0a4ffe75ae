/* A character-level GPT (nanoGPT's model at its small CPU size): token and learned
 * position embeddings, n_layer pre-LayerNorm blocks of causal self-attention and a 4x
 * GELU MLP, a final LayerNorm, and logits through the token embedding (tied). Tensors
 * are named as nanoGPT's GPT state_dict (transformer.wte.weight,
 * transformer.h.0.attn.c_attn.weight, ...), so tools/nanogpt_logits.py loads a
 * checkpoint into the same model in PyTorch.
 *
 * Sampling keeps each layer's keys and values (a KV cache), so a new token costs one
 * position's work. Positions are learned and absolute, so a window that slides would
 * change every cached position: when the context is full, the window restarts from its
 * last half (those tokens are run again once), and sampling without the cache follows
 * the same windows, which is what makes the two comparable. */
#include "../registry.h"

#include "../../core/zoo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 32

typedef struct block {
    zoo_layernorm_layer ln_1, ln_2;
    zoo_linear_layer c_attn, attn_proj; /* attn.c_attn, attn.c_proj */
    zoo_linear_layer c_fc, mlp_proj;    /* mlp.c_fc, mlp.c_proj */
} block;

typedef struct gpt {
    zoo_model base; /* first: a zoo_model * is a gpt * */
    int n_layer, n_head, n_embd, block_size, vocab;
    float dropout;
    zoo_embedding_layer wte, wpe;
    block h[MAX_LAYERS];
    zoo_layernorm_layer ln_f;
} gpt;

/* ---------------------------------------------------------------- config */

static int parse_int(const char *s, const char *flag, int min, int max) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max) {
        zoo_set_error("--%s expects a whole number from %d to %d, got '%s'", flag, min, max, s);
        return -1;
    }
    return (int)v;
}

/* ---------------------------------------------------------------- forward */

/* [B, T, C] -> [B, H, T, D] and back */
static const int to_heads[4] = {0, 2, 1, 3};

static zoo_tensor *heads(gpt *m, zoo_tensor *x) {
    int64_t b = x->shape.d[0], t = x->shape.d[1];
    return zoo_permute(zoo_reshape(x, zoo_shape4(b, t, m->n_head, m->n_embd / m->n_head)), to_heads);
}

/* 0 where key j may be seen from query i (j <= i + offset), a large negative number
 * where it may not; [tq, tk] */
static zoo_tensor *causal_mask(int64_t tq, int64_t tk, int64_t offset) {
    float *v = zoo_scope_alloc((size_t)(tq * tk) * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < tq; i++)
        for (int64_t j = 0; j < tk; j++) v[i * tk + j] = j <= i + offset ? 0.0f : -1e30f;
    return zoo_tensor_from_host(zoo_shape2(tq, tk), v);
}

/* softmax(q k^T / sqrt(D) + mask) v over [B, H, *, D]: the composed attention */
static zoo_tensor *attend(gpt *m, zoo_tensor *q, zoo_tensor *k, zoo_tensor *v, int64_t offset, bool training,
                          zoo_rng *drop) {
    float scale = 1.0f / sqrtf((float)(m->n_embd / m->n_head));
    zoo_tensor *scores = zoo_mul_scalar(zoo_matmul_ex(q, k, false, true), scale);
    zoo_tensor *att = zoo_softmax(zoo_add(scores, causal_mask(q->shape.d[2], k->shape.d[2], offset)));
    att = zoo_dropout(att, m->dropout, training, drop);
    return zoo_matmul(att, v);
}

/* one layer's attention branch on x [B, T, C]; with a cache, its keys and values are
 * appended to (*kc, *vc) [B, H, t, D] and the queries see them all */
static zoo_tensor *attention(gpt *m, const block *l, zoo_tensor *x, zoo_tensor **kc, zoo_tensor **vc, bool training,
                             zoo_rng *drop) {
    /* Without a cache (and without dropout on the probabilities) one fused kernel reads
       q, k and v straight from the projection's output and writes the heads side by
       side: no permutes, one [T, T] block per head at a time. */
    if (!kc && (!training || m->dropout == 0.0f))
        return zoo_linear_forward(&l->attn_proj, zoo_attention(zoo_linear_forward(&l->c_attn, x), m->n_head, true));
    /* The composed version. Training takes q, k and v from the thirds of c_attn's
       weight and bias: the same numbers as chunking the fused projection's output, but
       the backward then copies no activations. Inference (no backward) runs the fused
       projection. */
    zoo_tensor *qkv[3];
    if (zoo_grad_enabled()) {
        for (int i = 0; i < 3; i++) {
            zoo_tensor *w = zoo_slice(l->c_attn.weight, 0, (int64_t)i * m->n_embd, m->n_embd);
            zoo_tensor *b = zoo_slice(l->c_attn.bias, 0, (int64_t)i * m->n_embd, m->n_embd);
            qkv[i] = zoo_linear(x, w, b);
        }
    } else if (zoo_chunk(zoo_linear_forward(&l->c_attn, x), 3, -1, qkv)) {
        return NULL;
    }
    zoo_tensor *q = heads(m, qkv[0]), *k = heads(m, qkv[1]), *v = heads(m, qkv[2]);
    int64_t offset = 0;
    if (kc && *kc) {
        offset = (*kc)->shape.d[2];
        zoo_tensor *ks[2] = {*kc, k}, *vs[2] = {*vc, v};
        k = zoo_concat(ks, 2, 2);
        v = zoo_concat(vs, 2, 2);
    }
    if (kc) {
        *kc = k;
        *vc = v;
    }
    if (!q || !k || !v) return NULL;
    zoo_tensor *y = zoo_permute(attend(m, q, k, v, offset, training, drop), to_heads); /* [B, T, H, D] */
    int64_t b = x->shape.d[0], t = x->shape.d[1];
    return zoo_linear_forward(&l->attn_proj, zoo_reshape(y, zoo_shape3(b, t, m->n_embd)));
}

/* logits [B, T, V] for ids [B, T] at positions pos0.. (the cache's length); kc and vc
 * (n_layer each) are the cache, or NULL */
static zoo_tensor *forward(gpt *m, zoo_tensor *ids, int64_t pos0, zoo_tensor **kc, zoo_tensor **vc, int64_t step) {
    bool training = m->base.parts[0].training;
    int64_t t = ids->shape.d[1];
    int32_t *pos = zoo_scope_alloc((size_t)t * sizeof *pos);
    if (!pos) return NULL;
    for (int64_t i = 0; i < t; i++) pos[i] = (int32_t)(pos0 + i);
    zoo_rng drop = zoo_model_step_rng(&m->base, ((uint64_t)5 << 32) + (uint64_t)step);
    zoo_tensor *x = zoo_add(zoo_embedding_forward(&m->wte, ids),
                            zoo_embedding_forward(&m->wpe, zoo_tensor_from_host_i32(zoo_shape1(t), pos)));
    x = zoo_dropout(x, m->dropout, training, &drop);
    for (int i = 0; i < m->n_layer; i++) {
        const block *l = &m->h[i];
        zoo_tensor *a = attention(m, l, zoo_layernorm_forward(&l->ln_1, x), kc ? &kc[i] : NULL,
                                  vc ? &vc[i] : NULL, training, &drop);
        x = zoo_add(x, zoo_dropout(a, m->dropout, training, &drop));
        zoo_tensor *f = zoo_linear_forward(&l->mlp_proj, zoo_gelu(zoo_linear_forward(&l->c_fc,
                                                                                  zoo_layernorm_forward(&l->ln_2, x))));
        x = zoo_add(x, zoo_dropout(f, m->dropout, training, &drop));
    }
    /* the head is the token embedding itself (nanoGPT's weight tying) */
    return zoo_matmul_ex(zoo_layernorm_forward(&m->ln_f, x), m->wte.weight, false, true);
}

/* mean cross-entropy of the logits for tokens [B, T] against targets [B, T] */
static zoo_tensor *lm_loss(gpt *m, zoo_tensor *tokens, zoo_tensor *targets, int64_t step) {
    if (!tokens || !targets) return NULL;
    int64_t rows = tokens->numel;
    zoo_tensor *logits = forward(m, tokens, 0, NULL, NULL, step);
    return zoo_cross_entropy(zoo_reshape(logits, zoo_shape2(rows, m->vocab)),
                             zoo_reshape(targets, zoo_shape1(rows)));
}

/* ---------------------------------------------------------------- training */

static void gpt_train_step(zoo_model *base, const zoo_batch *b, int64_t step, zoo_metrics *out) {
    gpt *m = (gpt *)base;
    zoo_module_zero_grad(&base->parts[0]);
    zoo_tensor *loss = lm_loss(m, zoo_batch_get(b, "tokens"), zoo_batch_get(b, "targets"), step);
    if (zoo_backward(loss)) return;
    zoo_model_update(base, 0);
    zoo_metrics_set(out, "loss", zoo_tensor_item(loss));
}

/* the windows an evaluation scores: at most this many, evenly spaced over the data, so
 * every evaluation sees the same ones */
#define EVAL_WINDOWS 512
#define EVAL_BATCH 32

/* "loss": the mean cross-entropy over up to EVAL_WINDOWS windows spread evenly over d */
static int gpt_evaluate(zoo_model *base, const zoo_dataset *d, zoo_metrics *out) {
    gpt *m = (gpt *)base;
    int64_t n = d->n < EVAL_WINDOWS ? d->n : EVAL_WINDOWS;
    if (n < 1) {
        zoo_set_error("no window of %lld tokens to evaluate on", (long long)m->block_size);
        return -1;
    }
    int64_t idx[EVAL_BATCH];
    double sum = 0.0;
    int rc = 0;
    zoo_model_set_training(base, false);
    bool old = zoo_set_grad_enabled(false);
    for (int64_t start = 0; start < n && rc == 0; start += EVAL_BATCH) {
        int64_t count = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        if (!zoo_dist_mine(start / EVAL_BATCH)) continue; /* another rank's chunk (data-parallel) */
        for (int64_t i = 0; i < count; i++) idx[i] = (start + i) * d->n / n;
        zoo_scope_begin();
        zoo_batch b;
        rc = zoo_dataset_batch_at(d, idx, count, &b);
        if (rc == 0) {
            zoo_tensor *loss = lm_loss(m, zoo_batch_get(&b, "tokens"), zoo_batch_get(&b, "targets"), 0);
            if (loss) sum += (double)zoo_tensor_item(loss) * (double)count;
            else rc = -1;
        }
        zoo_scope_end();
    }
    zoo_set_grad_enabled(old);
    if (rc) return -1;
    zoo_metrics_set(out, "loss", sum / (double)n);
    return 0;
}

/* ---------------------------------------------------------------- sampling */

/* the logits of the last position of ids [1, t] as host floats; with a cache, ids are
 * the tokens after those cached */
static int last_logits(gpt *m, const int32_t *ids, int64_t t, int64_t pos0, zoo_tensor **kc, zoo_tensor **vc,
                       float *out) {
    zoo_tensor *logits = forward(m, zoo_tensor_from_host_i32(zoo_shape2(1, t), ids), pos0, kc, vc, 0);
    zoo_tensor *last = zoo_slice(logits, 1, t - 1, 1);
    if (!last) return -1;
    zoo_tensor_download(last, out);
    return 0;
}

static int gpt_generate_tokens(zoo_model *base, const int32_t *prompt, int64_t n_prompt, int64_t n,
                               const zoo_sampling *s, bool cache, zoo_rng *rng, void (*emit)(int32_t, void *),
                               void *ctx) {
    gpt *m = (gpt *)base;
    if (n_prompt < 1) {
        zoo_set_error("the prompt must hold at least one token");
        return -1;
    }
    int64_t block = m->block_size, keep = block / 2 > 0 ? block / 2 : 1;
    /* the window: at most block tokens, the last of them the newest */
    int32_t *win = malloc((size_t)block * sizeof *win);
    float *logits = malloc((size_t)m->vocab * sizeof *logits);
    if (!win || !logits) {
        free(win);
        free(logits);
        zoo_set_error("out of host memory");
        return -1;
    }
    int64_t len = n_prompt < block ? n_prompt : block;
    memcpy(win, prompt + (n_prompt - len), (size_t)len * sizeof *win);
    zoo_model_set_training(base, false);
    bool old = zoo_set_grad_enabled(false);
    int rc = 0;
    int64_t done = 0;
    while (done < n && rc == 0) {
        /* one window: its tokens run once, then one new token a step until it fills */
        zoo_scope_begin();
        zoo_tensor *kc[MAX_LAYERS] = {0}, *vc[MAX_LAYERS] = {0};
        int64_t cached = 0;
        for (;;) {
            if (cache) {
                rc = last_logits(m, win + cached, len - cached, cached, kc, vc, logits);
                cached = len;
            } else {
                rc = last_logits(m, win, len, 0, NULL, NULL, logits);
            }
            if (rc) break;
            int32_t id = zoo_sample_logits(logits, m->vocab, s, rng);
            emit(id, ctx);
            if (++done == n) break;
            if (len == block) { /* full: the next window starts from the last half */
                memmove(win, win + block - keep + 1, (size_t)(keep - 1) * sizeof *win);
                win[keep - 1] = id;
                len = keep;
                break;
            }
            win[len++] = id;
        }
        zoo_scope_end();
    }
    zoo_set_grad_enabled(old);
    free(win);
    free(logits);
    return rc;
}

/* ---------------------------------------------------------------- lifecycle */

static void gpt_destroy(zoo_model *m) {
    zoo_model_release(m);
    free(m);
}

/* nanoGPT's initialization: every linear and embedding weight N(0, 0.02), the residual
 * projections (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 n_layer)), biases 0, layer
 * norms 1 and 0 */
static void init_weights(gpt *m, zoo_rng *rng) {
    zoo_module *mod = &m->base.parts[0];
    float proj_std = 0.02f / sqrtf(2.0f * (float)m->n_layer);
    for (int i = 0; i < mod->n; i++) {
        const zoo_param *p = &mod->params[i];
        if (p->kind == ZOO_PARAM_BIAS) zoo_tensor_fill(p->t, 0.0f);
        else if (p->kind == ZOO_PARAM_WEIGHT || p->kind == ZOO_PARAM_EMBEDDING)
            zoo_rng_normal(rng, p->t, 0.0f, strstr(p->name, "c_proj.weight") ? proj_std : 0.02f);
    }
}

static zoo_model *gpt_create(const zoo_model_args *args) {
    zoo_clear_error(); /* zoo_failed() below then means this create failed */
    int n_layer = parse_int(args->options[0], "layers", 1, MAX_LAYERS);
    int n_head = n_layer < 0 ? -1 : parse_int(args->options[1], "heads", 1, 256);
    int n_embd = n_head < 0 ? -1 : parse_int(args->options[2], "embd", 1, 8192);
    int block_size = n_embd < 0 ? -1 : parse_int(args->options[3], "context", 1, 4096);
    if (block_size < 0) return NULL;
    char *end;
    double p = strtod(args->options[4], &end);
    if (*end || !(p >= 0.0 && p < 1.0)) {
        zoo_set_error("--dropout expects a probability in [0, 1), got '%s'", args->options[4]);
        return NULL;
    }
    if (n_embd % n_head) {
        zoo_set_error("--embd %d does not split into %d heads", n_embd, n_head);
        return NULL;
    }
    if (args->n_classes < 1) {
        zoo_set_error("the transformer needs a vocabulary (a text to train on)");
        return NULL;
    }
    gpt *m = calloc(1, sizeof *m);
    if (!m) {
        zoo_set_error("out of host memory");
        return NULL;
    }
    zoo_model_init(&m->base, &zoo_transformer_def, args);
    *m = (gpt){.base = m->base, .n_layer = n_layer, .n_head = n_head, .n_embd = n_embd, .block_size = block_size,
               .vocab = args->n_classes, .dropout = (float)p};
    m->base.n_parts = 1;
    m->base.context = block_size;
    zoo_module *mod = &m->base.parts[0];
    zoo_module_init(mod);
    zoo_rng init = zoo_rng_stream(args->seed, 1);
    m->wte = zoo_embedding_new(mod, "transformer.wte", m->vocab, n_embd, &init);
    m->wpe = zoo_embedding_new(mod, "transformer.wpe", block_size, n_embd, &init);
    for (int i = 0; i < n_layer; i++) {
        char name[64];
        block *l = &m->h[i];
#define NAME(what) (snprintf(name, sizeof name, "transformer.h.%d." what, i), name)
        l->ln_1 = zoo_layernorm_new(mod, NAME("ln_1"), n_embd, true);
        l->c_attn = zoo_linear_new(mod, NAME("attn.c_attn"), n_embd, 3 * n_embd, true, &init);
        l->attn_proj = zoo_linear_new(mod, NAME("attn.c_proj"), n_embd, n_embd, true, &init);
        l->ln_2 = zoo_layernorm_new(mod, NAME("ln_2"), n_embd, true);
        l->c_fc = zoo_linear_new(mod, NAME("mlp.c_fc"), n_embd, 4 * n_embd, true, &init);
        l->mlp_proj = zoo_linear_new(mod, NAME("mlp.c_proj"), 4 * n_embd, n_embd, true, &init);
#undef NAME
    }
    m->ln_f = zoo_layernorm_new(mod, "transformer.ln_f", n_embd, true);
    init_weights(m, &init);
    zoo_model_add_optimizers(&m->base);
    if (zoo_failed()) {
        gpt_destroy(&m->base);
        return NULL;
    }
    return &m->base;
}

const zoo_model_def zoo_transformer_def = {
    .name = "transformer",
    .description = "character-level GPT (nanoGPT: 4 layers, 4 heads, 128 wide, context 64)",
    .dataset = "a UTF-8 text file or folder (default: Debian's fortunes)",
    .data = ZOO_DATA_TEXT,
    /* nanoGPT's shakespeare_char recipe at this size */
    .defaults = {.steps = 2000, .batch = 32, .lr = 1e-3f, .optimizer = ZOO_OPTIM_ADAMW, .beta1 = 0.9f,
                 .beta2 = 0.99f, .weight_decay = 0.1f, .decay = "matrices", .schedule = "cosine", .warmup = 100,
                 .min_lr = 1e-4f, .clip = 1.0f, .log_every = 1, .eval_every = 250, .val_split = 0.1f},
    .options = {{"layers", "4", "transformer blocks"},
                {"heads", "4", "attention heads per block"},
                {"embd", "128", "embedding width"},
                {"context", "64", "tokens a window holds (block size)"},
                {"dropout", "0", "dropout probability"}},
    .n_options = 5,
    .create = gpt_create,
    .destroy = gpt_destroy,
    .train_step = gpt_train_step,
    .evaluate = gpt_evaluate,
    .eval_sharded = true,
    .monitor = "loss",
    .monitor_max = false,
    .generate_tokens = gpt_generate_tokens,
};
