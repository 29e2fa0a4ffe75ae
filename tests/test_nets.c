/* Small networks built from the core's ops, as the transformer and the diffusion
 * model use them, one training step each (forward, backward) on every backend:
 *   attention  ids -> embedding -> qkv from one linear -> chunk -> heads (reshape,
 *              permute) -> causal softmax attention (4-d matmuls) -> projection ->
 *              logits -> cross-entropy
 *   fused      the same with zoo_attention's one kernel in place of chunk .. permute;
 *              in exact mode its loss and gradients are the composed network's bits
 *   full, fused-full   both again without the causal mask (every position attends to
 *              every position, as the U-Net's attention does)
 *   U-Net      conv -> group norm -> SiLU -> pool (down) -> conv -> upsample (up) ->
 *              concat with the skip -> pad -> conv -> MSE
 * On the CPU in exact mode each network's gradient matches finite differences (the
 * ops composed correctly). Every other backend and mode is compared with it: exact
 * mode bit for bit (loss and every gradient), fast mode within NMSE 1e-7 per gradient.
 * Without a Vulkan backend the CPU's own checks still run. */
#include "op_check.h"

#include <math.h>
#include <string.h>

static uint64_t data_rng = 0x4E75u;

/* ---------------------------------------------------------------- the networks */

enum { B = 2, T = 5, C = 8, H = 2, V = 11 };

#define MAX_PARAMS 8

typedef struct net {
    const char *name;
    int n;
    zoo_shape shape[MAX_PARAMS];
    const char *pname[MAX_PARAMS];
    /* the loss for parameters p (persistent) */
    zoo_tensor *(*loss)(zoo_tensor *const *p);
} net;

static const int32_t ids[B * T] = {1, 4, 2, 9, 0, 3, 3, 10, 5, 7};
static const int32_t targets[B * T] = {4, 2, 9, 0, 6, 3, 10, 5, 7, 1};

static zoo_tensor *attention_loss_masked(zoo_tensor *const *p, bool causal) {
    zoo_tensor *wte = p[0], *w_qkv = p[1], *b_qkv = p[2], *w_proj = p[3], *w_head = p[4];
    zoo_tensor *x = zoo_embedding(wte, zoo_tensor_from_host_i32(zoo_shape2(B, T), ids)); /* [B, T, C] */
    zoo_tensor *qkv[3];
    if (zoo_chunk(zoo_linear(x, w_qkv, b_qkv), 3, -1, qkv)) return NULL; /* 3 x [B, T, C] */
    static const int to_heads[4] = {0, 2, 1, 3};
    zoo_tensor *h[3];
    for (int i = 0; i < 3; i++) h[i] = zoo_permute(zoo_reshape(qkv[i], zoo_shape4(B, T, H, C / H)), to_heads);
    /* [B, H, T, T] scores, future positions masked out */
    float mask[T * T];
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) mask[i * T + j] = j > i ? -1e30f : 0.0f;
    zoo_tensor *scores = zoo_mul_scalar(zoo_matmul_ex(h[0], h[1], false, true), 1.0f / sqrtf((float)(C / H)));
    zoo_tensor *att = zoo_softmax(causal ? zoo_add(scores, zoo_tensor_from_host(zoo_shape2(T, T), mask)) : scores);
    zoo_tensor *y = zoo_permute(zoo_matmul(att, h[2]), to_heads); /* [B, T, H, D] */
    zoo_tensor *out = zoo_linear(zoo_reshape(y, zoo_shape3(B, T, C)), w_proj, NULL);
    zoo_tensor *logits = zoo_linear(zoo_add(x, out), w_head, NULL); /* a residual, then [B, T, V] */
    return zoo_cross_entropy(zoo_reshape(logits, zoo_shape2(B * T, V)),
                             zoo_tensor_from_host_i32(zoo_shape1(B * T), targets));
}

static zoo_tensor *fused_attention_loss_masked(zoo_tensor *const *p, bool causal) {
    zoo_tensor *wte = p[0], *w_qkv = p[1], *b_qkv = p[2], *w_proj = p[3], *w_head = p[4];
    zoo_tensor *x = zoo_embedding(wte, zoo_tensor_from_host_i32(zoo_shape2(B, T), ids));
    zoo_tensor *out = zoo_linear(zoo_attention(zoo_linear(x, w_qkv, b_qkv), H, causal), w_proj, NULL);
    zoo_tensor *logits = zoo_linear(zoo_add(x, out), w_head, NULL);
    return zoo_cross_entropy(zoo_reshape(logits, zoo_shape2(B * T, V)),
                             zoo_tensor_from_host_i32(zoo_shape1(B * T), targets));
}

static zoo_tensor *attention_loss(zoo_tensor *const *p) { return attention_loss_masked(p, true); }
static zoo_tensor *fused_attention_loss(zoo_tensor *const *p) { return fused_attention_loss_masked(p, true); }
static zoo_tensor *full_attention_loss(zoo_tensor *const *p) { return attention_loss_masked(p, false); }
static zoo_tensor *fused_full_attention_loss(zoo_tensor *const *p) { return fused_attention_loss_masked(p, false); }

enum { N = 2, S = 6 };

static zoo_tensor *unet_loss(zoo_tensor *const *p) {
    zoo_tensor *w1 = p[0], *b1 = p[1], *w2 = p[2], *w3 = p[3], *xin = p[4], *gn_w = p[5], *gn_b = p[6];
    zoo_tensor *c1 = zoo_silu(zoo_group_norm(zoo_conv2d(xin, w1, b1, 1, 1, 1), 2, gn_w, gn_b, 1e-5f)); /* [N, 4, 6, 6] */
    zoo_tensor *down = zoo_avg_pool2d(c1, 2, 2, 0);                  /* [N, 4, 3, 3] */
    zoo_tensor *c2 = zoo_tanh(zoo_conv2d(down, w2, NULL, 1, 1, 1));   /* [N, 4, 3, 3] */
    zoo_tensor *up = zoo_upsample2d(c2, 2);                          /* [N, 4, 6, 6] */
    zoo_tensor *skip[2] = {up, c1};
    zoo_tensor *cat = zoo_concat(skip, 2, 1);                        /* [N, 8, 6, 6] */
    zoo_tensor *padded = zoo_pad(zoo_pad(cat, 2, 1, 1, 0.0f), 3, 1, 1, 0.0f); /* [N, 8, 8, 8] */
    zoo_tensor *out = zoo_conv2d(padded, w3, NULL, 1, 0, 1);         /* [N, 1, 6, 6] */
    float target[N * S * S];
    for (int i = 0; i < N * S * S; i++) target[i] = (float)sin(0.37 * i);
    return zoo_mse_loss(out, zoo_tensor_from_host(zoo_shape4(N, 1, S, S), target));
}

/* the attention networks' parameters (they share their values too: make_values) */
#define ATTENTION_NET(name, loss)                                                                  \
    {name, 5, {{2, {V, C}}, {2, {3 * C, C}}, {1, {3 * C}}, {2, {C, C}}, {2, {V, C}}},             \
     {"wte", "w_qkv", "b_qkv", "w_proj", "w_head"}, loss}

static const net nets[] = {
    ATTENTION_NET("attention", attention_loss),
    ATTENTION_NET("fused", fused_attention_loss),
    ATTENTION_NET("full", full_attention_loss),
    ATTENTION_NET("fused-full", fused_full_attention_loss),
    {"unet", 7,
     {{4, {4, 1, 3, 3}}, {1, {4}}, {4, {4, 4, 3, 3}}, {4, {1, 8, 3, 3}}, {4, {N, 1, S, S}}, {1, {4}}, {1, {4}}},
     {"conv1.w", "conv1.b", "conv2.w", "conv3.w", "input", "norm1.w", "norm1.b"},
     unet_loss},
};
#define N_NETS ((int)(sizeof nets / sizeof nets[0]))

/* ---------------------------------------------------------------- runs */

/* the parameters' values: the same on every backend */
static float *values[N_NETS][MAX_PARAMS];

typedef struct step_result {
    float loss;
    float *grad[MAX_PARAMS];
} step_result;

static void make_values(void) {
    for (int k = 0; k < N_NETS; k++)
        for (int i = 0; i < nets[k].n; i++) {
            if (k >= 1 && k <= 3) { /* the other attention networks: the first one's parameters */
                values[k][i] = values[0][i];
                continue;
            }
            int64_t n = zoo_shape_numel(nets[k].shape[i]);
            values[k][i] = malloc((size_t)n * sizeof(float));
            for (int64_t j = 0; j < n; j++) values[k][i][j] = (float)(urand(&data_rng) - 0.5);
        }
}

static zoo_tensor *graph(zoo_tensor *const *x, const void *ctx) { return ((const net *)ctx)->loss(x); }

/* one forward and backward of net k on the running backend */
static bool step(int k, step_result *r, bool with_gradcheck) {
    const net *nt = &nets[k];
    zoo_tensor *p[MAX_PARAMS];
    for (int i = 0; i < nt->n; i++) p[i] = param(nt->shape[i], values[k][i]);
    zoo_scope_begin();
    zoo_tensor *loss = nt->loss(p);
    bool ok = expect(loss != NULL && zoo_backward(loss) == 0, "%s on %s: %s", nt->name, zoo_backend_name(),
                     zoo_last_error());
    if (ok) {
        r->loss = zoo_tensor_item(loss);
        for (int i = 0; i < nt->n; i++) {
            r->grad[i] = malloc((size_t)p[i]->numel * sizeof(float));
            zoo_tensor_download(p[i]->grad, r->grad[i]);
        }
    }
    zoo_scope_end();
    if (ok && with_gradcheck) gradcheck(nt->name, graph, nt, p, nt->n);
    for (int i = 0; i < nt->n; i++) zoo_tensor_free(p[i]);
    return ok;
}

static double nmse(const float *got, const float *want, int64_t n) {
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        err += d * d;
        ref += (double)want[i] * want[i];
    }
    return err / (ref > 0 ? ref : 1);
}

/* r (backend, mode) against the CPU's exact result */
static void compare(int k, const char *what, bool exact, const step_result *r, const step_result *ref) {
    const net *nt = &nets[k];
    double worst = 0;
    for (int i = 0; i < nt->n; i++) {
        int64_t n = zoo_shape_numel(nt->shape[i]);
        if (exact) {
            expect(memcmp(r->grad[i], ref->grad[i], (size_t)n * 4) == 0, "%s %s: d%s differs from the CPU's exact bits",
                   nt->name, what, nt->pname[i]);
        } else {
            double e = nmse(r->grad[i], ref->grad[i], n);
            worst = fmax(worst, e);
            expect(e <= 1e-7, "%s %s: d%s NMSE %.2e against exact mode", nt->name, what, nt->pname[i], e);
        }
    }
    if (exact) expect(r->loss == ref->loss, "%s %s: loss %.9g, the CPU's %.9g", nt->name, what, r->loss, ref->loss);
    else expect(fabs(r->loss - ref->loss) <= 1e-5 * fabs(ref->loss), "%s %s: loss %.9g, exact %.9g", nt->name, what,
                r->loss, ref->loss);
    printf("%-9s %-14s loss %.9g%s", nt->name, what, r->loss, exact ? "  bit-identical to the CPU's exact step\n" : "");
    if (!exact) printf("  worst gradient NMSE %.1e\n", worst);
}

static void free_result(int k, step_result *r) {
    for (int i = 0; i < nets[k].n; i++) free(r->grad[i]);
}

int main(void) {
    make_values();
    step_result ref[N_NETS];
    if (zoo_init_with(&(zoo_options){.backend = "cpu", .exact = true})) return 1;
    for (int k = 0; k < N_NETS; k++)
        if (!step(k, &ref[k], true)) return 1;
    zoo_shutdown();
    /* the fused kernel's exact mode: the composed ops' numbers, bit for bit, causal (1
     * against 0) and not (3 against 2) */
    for (int k = 1; k <= 3; k += 2) {
        expect(ref[k].loss == ref[k - 1].loss, "%s attention: loss %.9g, composed %.9g", nets[k].name, ref[k].loss,
               ref[k - 1].loss);
        for (int i = 0; i < nets[0].n; i++)
            expect(memcmp(ref[k].grad[i], ref[k - 1].grad[i], (size_t)zoo_shape_numel(nets[0].shape[i]) * 4) == 0,
                   "%s attention: d%s differs from the composed attention's", nets[k].name, nets[0].pname[i]);
    }
    expect(ref[2].loss != ref[0].loss, "the attention without its mask has the masked one's loss %.9g", ref[0].loss);

    static const char *const backends[] = {"cpu", "vulkan"};
    bool have_vulkan = false;
    for (int b = 0; b < 2; b++)
        for (int exact = 1; exact >= 0; exact--) {
            if (b == 0 && exact) continue; /* the reference */
            if (zoo_init_with(&(zoo_options){.backend = backends[b], .exact = exact})) {
                printf("note: no %s backend: %s\n", backends[b], zoo_last_error());
                continue;
            }
            have_vulkan |= b == 1;
            char what[32];
            snprintf(what, sizeof what, "%s %s", backends[b], exact ? "exact" : "fast");
            for (int k = 0; k < N_NETS; k++) {
                step_result r;
                if (!step(k, &r, false)) continue;
                compare(k, what, exact, &r, &ref[k]);
                free_result(k, &r);
            }
            zoo_shutdown();
        }
    for (int k = 0; k < N_NETS; k++) {
        free_result(k, &ref[k]);
        for (int i = 0; i < nets[k].n && !(k >= 1 && k <= 3); i++) free(values[k][i]);
    }
    if (!have_vulkan && getenv("ZOO_TEST_REQUIRE_VULKAN")) {
        fprintf(stderr, "FAIL: ZOO_TEST_REQUIRE_VULKAN is set and there is no Vulkan backend\n");
        return 1;
    }
    TEST_EXIT();
}
