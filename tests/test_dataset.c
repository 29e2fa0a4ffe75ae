/* Generic datasets and batches: the image and text adapters, a dataset a program
 * writes itself, batches as named tensors, and the errors of each. (The loader's order,
 * seeking and epochs are tested in test_data.c.) */
#include "test.h"

#include "core/dataset.h"
#include "core/rng.h"
#include "core/ops.h"
#include "core/text.h"

#include <string.h>

static bool mentions(const char *message, const char *part) { return strstr(message, part) != NULL; }

/* ---------------------------------------------------------------- text */

TEST(text_windows_are_tokens_and_the_next_tokens) {
    zoo_text t;
    CHECK(zoo_text_from_utf8("abcdefgh", 8, ZOO_TOKENIZER_CHAR, &t) == 0); /* ids 0..7 */
    zoo_dataset d = zoo_text_dataset(&t, 3);
    CHECK(d.n == 5 && d.n_classes == 8 && d.n_fields == 2);
    CHECK(strcmp(d.fields[0].name, "tokens") == 0 && strcmp(d.fields[1].name, "targets") == 0);
    CHECK(d.fields[0].dtype == ZOO_I32 && zoo_field_numel(&d.fields[1]) == 3);
    zoo_scope_begin();
    zoo_batch b;
    CHECK(zoo_dataset_batch(&d, 2, 3, &b) == 0); /* windows 2, 3, 4 */
    zoo_tensor *x = zoo_batch_get(&b, "tokens"), *y = zoo_batch_get(&b, "targets");
    CHECK(x && y && b.n == 3 && zoo_shape_eq(x->shape, zoo_shape2(3, 3)) && x->dtype == ZOO_I32);
    int32_t hx[9], hy[9];
    zoo_tensor_download(x, hx);
    zoo_tensor_download(y, hy);
    bool ok = true;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) ok = ok && hx[i * 3 + j] == 2 + i + j && hy[i * 3 + j] == 3 + i + j;
    CHECK(ok);
    /* the last window ends at the last token */
    CHECK(zoo_dataset_batch(&d, 4, 1, &b) == 0);
    zoo_tensor_download(zoo_batch_get(&b, "targets"), hy);
    CHECK(hy[2] == 7);
    CHECK(zoo_dataset_batch(&d, 4, 2, &b) == -1 && mentions(zoo_last_error(), "examples 4..5"));
    zoo_scope_end();
    zoo_text_free(&t);
}

TEST(the_loader_batches_text_windows_in_a_seeded_order) {
    zoo_text t;
    const char *s = "the quick brown fox jumps over the lazy dog";
    CHECK(zoo_text_from_utf8(s, strlen(s), ZOO_TOKENIZER_BYTE, &t) == 0);
    zoo_dataset d = zoo_text_dataset(&t, 8);
    zoo_loader a, b;
    CHECK(zoo_loader_init(&a, &d, 4, true, true, 7) == 0 && zoo_loader_init(&b, &d, 4, true, true, 7) == 0);
    for (int step = 0; step < 3; step++) {
        zoo_scope_begin();
        zoo_batch ba, bb;
        CHECK(zoo_loader_next(&a, &ba) == 0 && zoo_loader_next(&b, &bb) == 0 && ba.n == 4);
        int32_t xa[32], ya[32], xb[32];
        zoo_tensor_download(zoo_batch_get(&ba, "tokens"), xa);
        zoo_tensor_download(zoo_batch_get(&ba, "targets"), ya);
        zoo_tensor_download(zoo_batch_get(&bb, "tokens"), xb);
        CHECK(memcmp(xa, xb, sizeof xa) == 0); /* the same seed, the same windows */
        bool shifted = true, bytes = true;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 7; j++) shifted = shifted && ya[i * 8 + j] == xa[i * 8 + j + 1];
        for (int i = 0; i < 32; i++) bytes = bytes && strchr(s, xa[i]) != NULL;
        CHECK(shifted && bytes);
        zoo_scope_end();
    }
    zoo_loader_free(&a);
    zoo_loader_free(&b);
    /* a text no longer than a window has none */
    zoo_dataset none = zoo_text_dataset(&t, t.n);
    CHECK(none.n == 0 && zoo_loader_init(&a, &none, 4, true, true, 7) == -1);
    zoo_text_free(&t);
}

/* ---------------------------------------------------------------- images */

TEST(images_are_unit_floats_and_int_labels) {
    uint8_t pixels[2 * 3] = {0, 51, 255, 102, 153, 204};
    int32_t labels[2] = {4, 1};
    zoo_images im = {.n = 2, .c = 1, .h = 1, .w = 3, .pixels = pixels, .labels = labels, .n_classes = 5};
    zoo_dataset d = zoo_images_dataset(&im);
    CHECK(d.n == 2 && d.n_classes == 5 && zoo_dataset_field(&d, "label") == 1 && zoo_dataset_field(&d, "x") == -1);
    zoo_scope_begin();
    zoo_batch b;
    CHECK(zoo_dataset_batch(&d, 0, 2, &b) == 0);
    zoo_tensor *x = zoo_batch_get(&b, "image"), *y = zoo_batch_get(&b, "label");
    CHECK(zoo_shape_eq(x->shape, zoo_shape4(2, 1, 1, 3)) && zoo_shape_eq(y->shape, zoo_shape1(2)));
    float hx[6];
    int32_t hy[2];
    zoo_tensor_download(x, hx);
    zoo_tensor_download(y, hy);
    CHECK(hx[0] == 0.0f && hx[2] == 1.0f && hy[0] == 4 && hy[1] == 1);
    CHECK_NEAR(hx[1], 0.2, 1e-7);
    zoo_scope_end();
}

/* ---------------------------------------------------------------- a dataset of one's own */

/* example i: "pos" float [2, 3] holding i*10 + k, "id" int32 i, "mask" float [1] = i odd;
 * an index of 13 or more is refused, as a reader of a broken file would */
static int own_fill(const zoo_dataset *d, const int64_t *idx, int64_t count, void *const *dst) {
    (void)d;
    float *pos = dst[0], *mask = dst[2];
    int32_t *id = dst[1];
    for (int64_t i = 0; i < count; i++) {
        if (idx[i] >= 13) {
            zoo_set_error("example %lld is unreadable", (long long)idx[i]);
            return -1;
        }
        for (int k = 0; k < 6; k++) pos[i * 6 + k] = (float)(idx[i] * 10 + k);
        id[i] = (int32_t)idx[i];
        mask[i] = (float)(idx[i] % 2);
    }
    return 0;
}

static zoo_dataset own(int64_t n) {
    return (zoo_dataset){
        .n = n,
        .n_fields = 3,
        .fields = {{"pos", ZOO_F32, zoo_shape2(2, 3)}, {"id", ZOO_I32, {0, {1, 1, 1, 1}}}, {"mask", ZOO_F32, zoo_shape1(1)}},
        .fill = own_fill,
    };
}

TEST(a_programs_own_dataset_batches_every_field) {
    zoo_dataset d = own(12);
    zoo_loader l;
    CHECK(zoo_loader_init(&l, &d, 5, false, false, 0) == 0);
    int64_t seen = 0;
    for (int step = 0; step < 3; step++) {
        zoo_scope_begin();
        zoo_batch b;
        CHECK(zoo_loader_next(&l, &b) == 0);
        int64_t n = step < 2 ? 5 : 2;
        CHECK(b.n == n && b.n_fields == 3);
        zoo_tensor *pos = zoo_batch_get(&b, "pos"), *id = zoo_batch_get(&b, "id"), *mask = zoo_batch_get(&b, "mask");
        CHECK(zoo_shape_eq(pos->shape, zoo_shape3(n, 2, 3)) && zoo_shape_eq(id->shape, zoo_shape1(n)) &&
              zoo_shape_eq(mask->shape, zoo_shape2(n, 1)));
        /* the fields are tensors like any other: ops take them */
        float total = zoo_tensor_item(zoo_sum_all(pos));
        float want = 0;
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < 6; k++) want += (float)((seen + i) * 10 + k);
        CHECK(total == want);
        seen += n;
        zoo_scope_end();
    }
    CHECK(seen == 12);
    zoo_loader_free(&l);
}

/* Data-parallel training's shards: for any number of parts, the parts of a batch
 * concatenated in order are the batch one loader hands a single process, and a
 * generator limited to a part's rows draws those rows of the whole batch's draws. */
TEST(the_parts_of_a_batch_are_the_batch) {
    zoo_dataset d = own(13);
    for (int parts = 1; parts <= 4; parts++) {
        zoo_loader whole, part[4];
        CHECK(zoo_loader_init(&whole, &d, 5, true, false, 11) == 0);
        for (int p = 0; p < parts; p++) CHECK(zoo_loader_init(&part[p], &d, 5, true, false, 11) == 0);
        for (int step = 0; step < 8; step++) { /* over epochs' ends (13 = 2 x 5 + 3) */
            zoo_scope_begin();
            zoo_batch b;
            CHECK(zoo_loader_next(&whole, &b) == 0);
            if (b.n == 0) CHECK(zoo_loader_next(&whole, &b) == 0);
            float want[5 * 6], got[5 * 6], noise_want[5 * 5], noise_got[5 * 5];
            zoo_tensor_download(zoo_batch_get(&b, "pos"), want);
            zoo_tensor *all = zoo_tensor_new(ZOO_F32, zoo_shape2(b.n, 5));
            zoo_rng r = zoo_rng_stream(3, (uint64_t)step);
            zoo_rng_normal(&r, all, 0.0f, 1.0f);
            zoo_tensor_download(all, noise_want);
            int64_t at = 0;
            for (int p = 0; p < parts; p++) {
                zoo_batch pb;
                int rc = zoo_loader_next_part(&part[p], p, parts, &pb);
                if (rc == 0 && pb.n == 0) rc = zoo_loader_next_part(&part[p], p, parts, &pb);
                if (p >= b.n) { /* 3 examples leave a fourth process without one */
                    CHECK(rc == -1 && mentions(zoo_last_error(), "cannot be split"));
                    continue;
                }
                CHECK(rc == 0 && pb.first == at && pb.total == b.n && pb.n >= b.n / parts && pb.n <= b.n / parts + 1);
                zoo_tensor_download(zoo_batch_get(&pb, "pos"), got + at * 6);
                zoo_tensor *mine = zoo_tensor_new(ZOO_F32, zoo_shape2(pb.n, 5));
                zoo_rng rp = zoo_rng_rows(zoo_rng_stream(3, (uint64_t)step), pb.first, pb.total);
                zoo_rng_normal(&rp, mine, 0.0f, 1.0f);
                CHECK(rp.offset == r.offset); /* both go on where the whole batch's draws end */
                zoo_tensor_download(mine, noise_got + at * 5);
                at += pb.n;
            }
            CHECK(at == b.n);
            CHECK(memcmp(want, got, (size_t)b.n * 6 * sizeof *want) == 0);
            CHECK(memcmp(noise_want, noise_got, (size_t)b.n * 5 * sizeof *noise_want) == 0);
            zoo_scope_end();
        }
        zoo_loader_free(&whole);
        for (int p = 0; p < parts; p++) zoo_loader_free(&part[p]);
    }
}

TEST(dataset_errors_say_what_is_wrong) {
    zoo_scope_begin();
    zoo_batch b;
    /* fill fails: the loader and zoo_dataset_batch pass its message on */
    zoo_dataset d = own(20);
    CHECK(zoo_dataset_batch(&d, 10, 5, &b) == -1 && mentions(zoo_last_error(), "example 13 is unreadable"));
    zoo_loader l;
    CHECK(zoo_loader_init(&l, &d, 20, false, false, 0) == 0);
    CHECK(zoo_loader_next(&l, &b) == -1 && mentions(zoo_last_error(), "unreadable"));
    zoo_loader_free(&l);
    /* a field the batch does not have: the message lists those it has */
    d = own(4);
    CHECK(zoo_dataset_batch(&d, 0, 2, &b) == 0);
    CHECK(zoo_batch_get(&b, "label") == NULL && mentions(zoo_last_error(), "no field 'label' (it has: pos, id, mask)"));
    /* no fields, no fill, too many dims, no examples, no batch */
    zoo_dataset bad = d;
    bad.n_fields = 0;
    CHECK(zoo_loader_init(&l, &bad, 2, false, false, 0) == -1 && mentions(zoo_last_error(), "0 fields"));
    bad = d;
    bad.fill = NULL;
    CHECK(zoo_dataset_batch(&bad, 0, 1, &b) == -1 && mentions(zoo_last_error(), "no fill"));
    bad = d;
    bad.fields[0].shape = zoo_shape4(1, 2, 3, 4);
    CHECK(zoo_loader_init(&l, &bad, 2, false, false, 0) == -1 && mentions(zoo_last_error(), "at most 3"));
    bad = d;
    bad.n = 0;
    CHECK(zoo_loader_init(&l, &bad, 2, false, false, 0) == -1 && mentions(zoo_last_error(), "0 examples"));
    CHECK(zoo_loader_init(&l, &d, 0, false, false, 0) == -1 && mentions(zoo_last_error(), "batch must be positive"));
    zoo_scope_end();
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(text_windows_are_tokens_and_the_next_tokens);
    RUN(the_loader_batches_text_windows_in_a_seeded_order);
    RUN(images_are_unit_floats_and_int_labels);
    RUN(a_programs_own_dataset_batches_every_field);
    RUN(the_parts_of_a_batch_are_the_batch);
    RUN(dataset_errors_say_what_is_wrong);
    zoo_shutdown();
    TEST_EXIT();
}
