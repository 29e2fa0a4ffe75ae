/* Tensors, scopes and the arena: lifetimes, views, use-after-scope detection. */
#include "test.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "backends/philox.h"
#include "core/tensor.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(upload_download_round_trip) {
    zoo_scope_begin();
    float src[6] = {1, 2, 3, 4, 5, 6}, dst[6] = {0};
    zoo_tensor *t = zoo_tensor_from_host(zoo_shape2(2, 3), src);
    zoo_tensor_download(t, dst);
    CHECK(memcmp(src, dst, sizeof src) == 0);
    CHECK(t->numel == 6 && t->shape.ndim == 2);
    zoo_scope_end();
}

TEST(scope_end_releases_everything_in_constant_memory) {
    zoo_scope_begin();
    for (int i = 0; i < 100; i++) zoo_tensor_new(ZOO_F32, zoo_shape2(256, 256));
    zoo_scope_end();
    size_t peak1 = zoo_peak_bytes();
    for (int step = 0; step < 50; step++) {
        zoo_scope_begin();
        for (int i = 0; i < 100; i++) zoo_tensor_new(ZOO_F32, zoo_shape2(256, 256));
        zoo_scope_end();
    }
    CHECK(zoo_peak_bytes() == peak1);
}

TEST(nested_scopes_keep_outer_tensors) {
    float v = 0;
    zoo_scope_begin();
    zoo_tensor *outer = zoo_tensor_full(zoo_shape1(1), 7.0f);
    zoo_scope_begin();
    zoo_tensor *inner = zoo_tensor_full(zoo_shape1(1000), 1.0f);
    (void)inner;
    zoo_scope_end();
    zoo_tensor *again = zoo_tensor_full(zoo_shape1(1000), 2.0f);
    (void)again;
    zoo_tensor_download(outer, &v);
    CHECK(v == 7.0f);
    zoo_scope_end();
}

TEST(reshape_is_a_view) {
    zoo_scope_begin();
    zoo_tensor *t = zoo_tensor_full(zoo_shape2(4, 6), 3.0f);
    zoo_tensor *r = zoo_reshape(t, zoo_shape3(2, -1, 3));
    CHECK(r->data == t->data);
    CHECK(r->shape.d[1] == 4);
    zoo_scope_end();
}

TEST(use_after_scope_is_caught) {
    zoo_clear_error();
    zoo_scope_begin();
    zoo_tensor *t = zoo_tensor_full(zoo_shape1(4), 1.0f);
    zoo_scope_end();
    CHECK(!zoo_failed());
    zoo_scope_begin();
    CHECK(zoo_relu(t) == NULL); /* t's scope has ended */
    CHECK(zoo_failed());
    CHECK(strstr(zoo_last_error(), "relu") && strstr(zoo_last_error(), "after its scope ended"));
    /* the chain that follows reports the first failure, not its own */
    CHECK(zoo_sum_all(zoo_exp(zoo_relu(t))) == NULL);
    CHECK(strstr(zoo_last_error(), "relu") != NULL);
    zoo_scope_end();
    zoo_clear_error();
    CHECK(!zoo_failed() && zoo_last_error()[0] == '\0');
}

TEST(persistent_tensors_outlive_scopes) {
    zoo_tensor *p = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(3));
    zoo_scope_begin();
    zoo_tensor_fill(p, 5.0f);
    zoo_scope_end();
    zoo_scope_begin();
    zoo_tensor *q = zoo_relu(p);
    CHECK(zoo_tensor_item(q) == 5.0f);
    zoo_scope_end();
    zoo_tensor_free(p);
}

TEST(philox_matches_the_published_known_answer) {
    /* Random123 kat_vectors: philox4x32_10, counter 0, key 0 */
    uint32_t out[4];
    zoo_philox4x32(0, 0, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u);
}

TEST(rng_fills_are_reproducible_and_roughly_normal) {
    zoo_scope_begin();
    zoo_rng a = zoo_rng_new(42), b = zoo_rng_new(42);
    zoo_tensor *x = zoo_tensor_new(ZOO_F32, zoo_shape1(100000)), *y = zoo_tensor_new(ZOO_F32, zoo_shape1(100000));
    zoo_rng_normal(&a, x, 0.0f, 1.0f);
    zoo_rng_normal(&b, y, 0.0f, 1.0f);
    float *hx = malloc(100000 * 4), *hy = malloc(100000 * 4);
    zoo_tensor_download(x, hx);
    zoo_tensor_download(y, hy);
    CHECK(memcmp(hx, hy, 100000 * 4) == 0);
    double mean = 0, var = 0;
    for (int i = 0; i < 100000; i++) mean += hx[i];
    mean /= 100000;
    for (int i = 0; i < 100000; i++) var += (hx[i] - mean) * (hx[i] - mean);
    var /= 100000;
    CHECK_NEAR(mean, 0.0, 0.02);
    CHECK_NEAR(var, 1.0, 0.02);
    zoo_rng_normal(&a, x, 0.0f, 1.0f); /* the next fill continues the stream */
    zoo_tensor_download(x, hx);
    CHECK(memcmp(hx, hy, 100000 * 4) != 0);
    free(hx);
    free(hy);
    zoo_scope_end();
}

/* an EMA of weights, as a diffusion model keeps: ema = decay*ema + (1 - decay)*w */
TEST(lerp_and_copy_update_in_place_without_gradient) {
    float w[5] = {1, -2, 3.5f, 0, 1e-3f}, e[5] = {0, 0, 1, -1, 2};
    zoo_tensor *weights = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(5));
    zoo_tensor *ema = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(5));
    zoo_tensor_upload(weights, w);
    zoo_tensor_upload(ema, e);
    zoo_tensor_enable_grad(weights);
    const float decay = 0.9f;
    double want[5];
    for (int step = 0; step < 3; step++) {
        CHECK(zoo_lerp_(ema, weights, 1.0f - decay) == 0);
        for (int i = 0; i < 5; i++) {
            double prev = step ? want[i] : e[i];
            want[i] = (double)decay * prev + (1.0 - (double)decay) * w[i];
        }
    }
    float got[5];
    zoo_tensor_download(ema, got);
    for (int i = 0; i < 5; i++) CHECK_NEAR(got[i], want[i], 1e-6);
    CHECK(!ema->requires_grad && ema->node == NULL); /* nothing on the tape */
    /* copy_ restores the weights from the EMA (sampling with the EMA, then going on) */
    CHECK(zoo_copy_(weights, ema) == 0);
    zoo_tensor_download(weights, got);
    for (int i = 0; i < 5; i++) CHECK_NEAR(got[i], want[i], 1e-6);
    /* w = 1 and w = 0 are exact: the target itself, and dst unchanged */
    zoo_tensor_upload(weights, w);
    CHECK(zoo_lerp_(ema, weights, 1.0f) == 0);
    zoo_tensor_download(ema, got);
    CHECK(memcmp(got, w, sizeof w) == 0);
    CHECK(zoo_lerp_(ema, weights, 0.0f) == 0);
    /* a mismatch is an error that leaves dst alone */
    zoo_tensor *other = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(4));
    zoo_clear_error();
    CHECK(zoo_lerp_(ema, other, 0.5f) == -1 && strstr(zoo_last_error(), "lerp_") && strstr(zoo_last_error(), "[4]"));
    CHECK(zoo_copy_(other, ema) == -1 && strstr(zoo_last_error(), "lerp_")); /* the first failure's message stays */
    zoo_clear_error();
    CHECK(zoo_copy_(other, ema) == -1 && strstr(zoo_last_error(), "copy_"));
    zoo_clear_error();
    zoo_tensor_download(ema, got);
    CHECK(memcmp(got, w, sizeof w) == 0);
    zoo_tensor_free(other);
    zoo_tensor_free(weights);
    zoo_tensor_free(ema);
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(upload_download_round_trip);
    RUN(scope_end_releases_everything_in_constant_memory);
    RUN(nested_scopes_keep_outer_tensors);
    RUN(reshape_is_a_view);
    RUN(use_after_scope_is_caught);
    RUN(persistent_tensors_outlive_scopes);
    RUN(philox_matches_the_published_known_answer);
    RUN(rng_fills_are_reproducible_and_roughly_normal);
    RUN(lerp_and_copy_update_in_place_without_gradient);
    zoo_shutdown();
    TEST_EXIT();
}
