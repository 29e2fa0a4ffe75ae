/* The ops that move elements (slice, chunk, concat, pad, upsample2d, embedding) and
 * the products over leading dims (matmul on 4-d, linear on [B, T, C]): each forward
 * against a naive host reference, each backward against finite differences, and the
 * errors each reports. Runs on the CPU backend; test_nets.c runs them on both. */
#include "op_check.h"

#include <string.h>

static uint64_t data_rng = 0x1A70u;

static double *host_doubles(int64_t n) { return zoo_scope_alloc((size_t)n * sizeof(double)); }

/* a persistent parameter of values in [-1, 1) */
static zoo_tensor *rand_param(zoo_shape s) {
    int64_t n = zoo_shape_numel(s);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (float)(2.0 * urand(&data_rng) - 1.0);
    zoo_tensor *t = param(s, v);
    free(v);
    return t;
}

/* row-major index of (i0, i1, i2, i3) in shape s */
static int64_t at(zoo_shape s, const int64_t *i) {
    int64_t k = 0;
    for (int d = 0; d < s.ndim; d++) k = k * s.d[d] + i[d];
    return k;
}

/* steps idx through shape s in row-major order; false after the last */
static bool next_index(zoo_shape s, int64_t *idx) {
    for (int d = s.ndim - 1; d >= 0; d--) {
        if (++idx[d] < s.d[d]) return true;
        idx[d] = 0;
    }
    return false;
}

/* the reference for a window along axis ax: out element idx is x's element idx shifted
 * by `shift` along ax, or `fill` where that falls outside x (slices shift into x, pads
 * out of it) */
static void ref_window(const float *hx, zoo_shape xs, zoo_shape ys, int ax, int64_t shift, float fill, double *want) {
    int64_t idx[4] = {0, 0, 0, 0}, n = 0;
    do {
        int64_t src[4];
        memcpy(src, idx, sizeof src);
        src[ax] += shift;
        want[n++] = src[ax] < 0 || src[ax] >= xs.d[ax] ? fill : hx[at(xs, src)];
    } while (next_index(ys, idx));
}

/* ---------------------------------------------------------------- slice, chunk */

typedef struct slice_case {
    zoo_shape x;
    int axis;
    int64_t start, len;
} slice_case;

static zoo_tensor *g_slice(zoo_tensor *const *x, const void *ctx) {
    const slice_case *c = ctx;
    return zoo_slice(x[0], c->axis, c->start, c->len);
}

TEST(slice_copies_a_window_of_one_axis_and_its_gradient_goes_back_there) {
    static const slice_case cases[] = {
        {{1, {10}}, 0, 3, 4},      {{2, {5, 7}}, 1, 2, 3},         {{2, {5, 7}}, 0, 0, 5},
        {{3, {2, 6, 3}}, 1, 4, 2}, {{4, {2, 3, 4, 5}}, 3, 1, 3},   {{4, {2, 3, 4, 5}}, -4, 1, 1},
        {{3, {2, 6, 3}}, -1, 2, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const slice_case *c = &cases[k];
        char sx[64], what[128];
        snprintf(what, sizeof what, "slice %s axis %d [%lld, +%lld)", zoo_shape_str(c->x, sx, sizeof sx), c->axis,
                 (long long)c->start, (long long)c->len);
        zoo_tensor *x = rand_param(c->x);
        zoo_scope_begin();
        zoo_tensor *y = g_slice(&x, c);
        int ax = c->axis < 0 ? c->axis + c->x.ndim : c->axis;
        zoo_shape ys = c->x;
        ys.d[ax] = c->len;
        if (expect(y != NULL, "%s: %s", what, zoo_last_error())) {
            expect_shape(what, y, ys);
            double *want = host_doubles(y->numel);
            ref_window(host(x), c->x, ys, ax, c->start, NAN, want);
            expect_close(what, host(y), want, y->numel, 0);
        }
        zoo_scope_end();
        gradcheck(what, g_slice, c, &x, 1);
        zoo_tensor_free(x);
    }
}

TEST(slice_takes_int32_tensors_too) {
    int32_t v[6] = {10, 11, 12, 13, 14, 15};
    zoo_scope_begin();
    zoo_tensor *t = zoo_slice(zoo_tensor_from_host_i32(zoo_shape2(2, 3), v), 1, 1, 2);
    int32_t got[4] = {0};
    if (expect(t != NULL && t->dtype == ZOO_I32, "int32 slice: %s", zoo_last_error())) zoo_tensor_download(t, got);
    CHECK(got[0] == 11 && got[1] == 12 && got[2] == 14 && got[3] == 15);
    zoo_scope_end();
}

typedef struct chunk_ctx {
    int n, axis;
} chunk_ctx;

/* the chunks weighted differently and summed, so each one's gradient is checked */
static zoo_tensor *g_chunk(zoo_tensor *const *x, const void *ctx) {
    const chunk_ctx *c = ctx;
    zoo_tensor *parts[4];
    if (zoo_chunk(x[0], c->n, c->axis, parts)) return NULL;
    zoo_tensor *sum = NULL;
    for (int i = 0; i < c->n; i++) {
        zoo_tensor *p = zoo_mul_scalar(parts[i], (float)(i + 1));
        sum = sum ? zoo_add(sum, p) : p;
    }
    return sum;
}

TEST(chunk_splits_q_k_v_out_of_one_projection) {
    /* [B, T, 3C] -> three [B, T, C] */
    zoo_tensor *x = rand_param(zoo_shape3(2, 3, 12));
    zoo_scope_begin();
    zoo_tensor *qkv[3];
    CHECK(zoo_chunk(x, 3, -1, qkv) == 0);
    float *hx = host(x);
    for (int i = 0; i < 3; i++) {
        expect_shape("chunk", qkv[i], zoo_shape3(2, 3, 4));
        float *h = host(qkv[i]);
        bool same = true;
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 4; j++) same = same && h[r * 4 + j] == hx[r * 12 + i * 4 + j];
        expect(same, "chunk %d holds the wrong elements", i);
    }
    zoo_scope_end();
    chunk_ctx c = {3, 2};
    gradcheck("chunk into 3 along the last axis", g_chunk, &c, &x, 1);
    zoo_tensor_free(x);
}

/* ---------------------------------------------------------------- concat */

typedef struct concat_case {
    int n, axis;
    zoo_shape s[3];
} concat_case;

static zoo_tensor *g_concat(zoo_tensor *const *x, const void *ctx) {
    const concat_case *c = ctx;
    return zoo_concat(x, c->n, c->axis);
}

TEST(concat_joins_along_an_axis_and_splits_the_gradient_back) {
    static const concat_case cases[] = {
        {2, 0, {{1, {3}}, {1, {5}}}},
        {3, 1, {{2, {2, 3}}, {2, {2, 1}}, {2, {2, 4}}}},
        {2, 1, {{4, {2, 3, 4, 4}}, {4, {2, 2, 4, 4}}}}, /* a U-Net's skip: channels */
        {3, -1, {{3, {2, 3, 1}}, {3, {2, 3, 2}}, {3, {2, 3, 3}}}},
        {2, 0, {{3, {1, 2, 3}}, {3, {2, 2, 3}}}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const concat_case *c = &cases[k];
        char what[64];
        snprintf(what, sizeof what, "concat of %d along axis %d (case %zu)", c->n, c->axis, k);
        zoo_tensor *x[3] = {NULL, NULL, NULL};
        for (int i = 0; i < c->n; i++) x[i] = rand_param(c->s[i]);
        int nd = c->s[0].ndim, ax = c->axis < 0 ? c->axis + nd : c->axis;
        zoo_shape ys = c->s[0];
        for (int i = 1; i < c->n; i++) ys.d[ax] += c->s[i].d[ax];
        zoo_scope_begin();
        zoo_tensor *y = g_concat(x, c);
        if (expect(y != NULL, "%s: %s", what, zoo_last_error())) {
            expect_shape(what, y, ys);
            double *want = host_doubles(y->numel);
            int64_t idx[4] = {0, 0, 0, 0}, n = 0;
            do {
                int i = 0;
                int64_t src[4];
                memcpy(src, idx, sizeof src);
                while (src[ax] >= c->s[i].d[ax]) src[ax] -= c->s[i++].d[ax];
                want[n++] = host(x[i])[at(c->s[i], src)];
            } while (next_index(ys, idx));
            expect_close(what, host(y), want, y->numel, 0);
        }
        zoo_scope_end();
        gradcheck(what, g_concat, c, x, c->n);
        free_all(x, c->n);
    }
}

TEST(concat_takes_more_inputs_than_a_node_used_to_hold) {
    zoo_tensor *x[6];
    for (int i = 0; i < 6; i++) x[i] = rand_param(zoo_shape2(2, 1 + i));
    concat_case c = {6, 1, {{0}}};
    gradcheck("concat of 6", g_concat, &c, x, 6);
    free_all(x, 6);
}

/* ---------------------------------------------------------------- pad, upsample */

typedef struct pad_case {
    zoo_shape x;
    int axis;
    int64_t before, after;
    float value;
} pad_case;

static zoo_tensor *g_pad(zoo_tensor *const *x, const void *ctx) {
    const pad_case *c = ctx;
    return zoo_pad(x[0], c->axis, c->before, c->after, c->value);
}

TEST(pad_adds_constant_borders_and_passes_the_interior_gradient) {
    static const pad_case cases[] = {
        {{1, {4}}, 0, 2, 1, 0.0f},
        {{4, {1, 2, 3, 3}}, 2, 1, 0, 0.0f}, /* an odd side made even for a U-Net */
        {{4, {1, 2, 3, 3}}, 3, 0, 1, -0.5f},
        {{2, {3, 4}}, -2, 0, 0, 0.0f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const pad_case *c = &cases[k];
        char what[64];
        snprintf(what, sizeof what, "pad case %zu", k);
        zoo_tensor *x = rand_param(c->x);
        int ax = c->axis < 0 ? c->axis + c->x.ndim : c->axis;
        zoo_shape ys = c->x;
        ys.d[ax] += c->before + c->after;
        zoo_scope_begin();
        zoo_tensor *y = g_pad(&x, c);
        if (expect(y != NULL, "%s: %s", what, zoo_last_error())) {
            expect_shape(what, y, ys);
            double *want = host_doubles(y->numel);
            ref_window(host(x), c->x, ys, ax, -c->before, c->value, want);
            expect_close(what, host(y), want, y->numel, 0);
        }
        zoo_scope_end();
        gradcheck(what, g_pad, c, &x, 1);
        zoo_tensor_free(x);
    }
}

static zoo_tensor *g_upsample(zoo_tensor *const *x, const void *ctx) { return zoo_upsample2d(x[0], *(const int *)ctx); }

TEST(upsample2d_repeats_each_pixel_and_sums_its_block_gradient) {
    static const int scales[] = {1, 2, 3};
    for (size_t k = 0; k < 3; k++) {
        int s = scales[k];
        char what[64];
        snprintf(what, sizeof what, "upsample2d by %d", s);
        zoo_shape xs = zoo_shape4(2, 3, 3, 4);
        zoo_tensor *x = rand_param(xs);
        zoo_scope_begin();
        zoo_tensor *y = g_upsample(&x, &s);
        zoo_shape ys = zoo_shape4(2, 3, 3 * s, 4 * s);
        if (expect(y != NULL, "%s: %s", what, zoo_last_error())) {
            expect_shape(what, y, ys);
            float *hx = host(x);
            double *want = host_doubles(y->numel);
            int64_t idx[4] = {0, 0, 0, 0}, n = 0;
            do {
                int64_t src[4] = {idx[0], idx[1], idx[2] / s, idx[3] / s};
                want[n++] = hx[at(xs, src)];
            } while (next_index(ys, idx));
            expect_close(what, host(y), want, y->numel, 0);
        }
        zoo_scope_end();
        gradcheck(what, g_upsample, &s, &x, 1);
        zoo_tensor_free(x);
    }
}

/* ---------------------------------------------------------------- embedding */

typedef struct embed_ctx {
    zoo_shape ids_shape;
    const int32_t *ids;
} embed_ctx;

static zoo_tensor *g_embedding(zoo_tensor *const *x, const void *ctx) {
    const embed_ctx *c = ctx;
    return zoo_embedding(x[0], zoo_tensor_from_host_i32(c->ids_shape, c->ids));
}

TEST(embedding_gathers_rows_and_sums_repeated_ids_in_the_gradient) {
    /* ids repeat (3 three times) and skip rows (0, 5): the gradient of a row is the sum of
       its positions', and rows no id names get none */
    static const int32_t ids[8] = {3, 1, 3, 4, 2, 3, 6, 1};
    embed_ctx c = {zoo_shape2(2, 4), ids};
    zoo_tensor *w = rand_param(zoo_shape2(7, 5));
    zoo_scope_begin();
    zoo_tensor *y = g_embedding(&w, &c);
    if (expect(y != NULL, "embedding: %s", zoo_last_error())) {
        expect_shape("embedding", y, zoo_shape3(2, 4, 5));
        float *hw = host(w);
        double want[40];
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 5; j++) want[i * 5 + j] = hw[ids[i] * 5 + j];
        expect_close("embedding", host(y), want, 40, 0);
    }
    zoo_scope_end();
    /* d sum(y) / dw: each row's count of ids, exactly */
    zoo_scope_begin();
    zoo_zero_grad(w);
    CHECK(zoo_backward(zoo_sum_all(g_embedding(&w, &c))) == 0);
    float *gw = host(w->grad);
    static const float count[7] = {0, 2, 1, 3, 1, 0, 1};
    bool exact = true;
    for (int r = 0; r < 7; r++)
        for (int j = 0; j < 5; j++) exact = exact && gw[r * 5 + j] == count[r];
    expect(exact, "embedding: the weight's gradient is not each row's id count");
    zoo_scope_end();
    gradcheck("embedding", g_embedding, &c, &w, 1);
    zoo_tensor_free(w);
}

/* ---------------------------------------------------------------- leading dims */

typedef struct mm4_case {
    zoo_shape a, b;
    bool tb;
} mm4_case;

static zoo_tensor *g_mm4(zoo_tensor *const *x, const void *ctx) {
    const mm4_case *c = ctx;
    return zoo_matmul_ex(x[0], x[1], false, c->tb);
}

TEST(matmul_runs_over_every_leading_dim_as_attention_needs) {
    /* q k^T over [B, H, T, D], then the weights times v */
    static const mm4_case cases[] = {
        {{4, {2, 3, 4, 5}}, {4, {2, 3, 4, 5}}, true},
        {{4, {2, 3, 4, 4}}, {4, {2, 3, 4, 5}}, false},
        {{4, {2, 3, 4, 5}}, {2, {5, 6}}, false}, /* a matrix shared by every entry */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const mm4_case *c = &cases[k];
        char what[64];
        snprintf(what, sizeof what, "4-d matmul case %zu", k);
        zoo_tensor *x[2] = {rand_param(c->a), rand_param(c->b)};
        zoo_scope_begin();
        zoo_tensor *y = g_mm4(x, c);
        int64_t batch = c->a.d[0] * c->a.d[1], m = c->a.d[2], kk = c->a.d[3];
        int64_t n = c->b.ndim == 2 ? c->b.d[1] : c->tb ? c->b.d[2] : c->b.d[3];
        zoo_shape ys = zoo_shape4(c->a.d[0], c->a.d[1], m, n);
        if (expect(y != NULL, "%s: %s", what, zoo_last_error())) {
            expect_shape(what, y, ys);
            float *ha = host(x[0]), *hb = host(x[1]);
            double *want = host_doubles(y->numel);
            for (int64_t e = 0; e < batch; e++)
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        const float *pb = c->b.ndim == 2 ? hb : hb + e * kk * n;
                        double s = 0;
                        for (int64_t p = 0; p < kk; p++)
                            s += (double)ha[(e * m + i) * kk + p] * (c->tb ? pb[j * kk + p] : pb[p * n + j]);
                        want[(e * m + i) * n + j] = s;
                    }
            expect_close(what, host(y), want, y->numel, 1e-5);
        }
        zoo_scope_end();
        gradcheck(what, g_mm4, c, x, 2);
        free_all(x, 2);
    }
}

static zoo_tensor *g_linear3(zoo_tensor *const *x, const void *ctx) { return zoo_linear(x[0], x[1], x[2]); }

TEST(linear_applies_to_the_last_dim_of_any_shape) {
    zoo_tensor *x[3] = {rand_param(zoo_shape3(2, 3, 4)), rand_param(zoo_shape2(5, 4)),
                        rand_param(zoo_shape1(5))};
    zoo_scope_begin();
    zoo_tensor *y = g_linear3(x, NULL);
    if (expect(y != NULL, "linear [2, 3, 4]: %s", zoo_last_error())) {
        expect_shape("linear [2, 3, 4]", y, zoo_shape3(2, 3, 5));
        float *hx = host(x[0]), *hw = host(x[1]), *hb = host(x[2]);
        double want[30];
        for (int r = 0; r < 6; r++)
            for (int o = 0; o < 5; o++) {
                double s = hb[o];
                for (int k = 0; k < 4; k++) s += (double)hx[r * 4 + k] * hw[o * 4 + k];
                want[r * 5 + o] = s;
            }
        expect_close("linear [2, 3, 4]", host(y), want, 30, 1e-5);
    }
    zoo_scope_end();
    gradcheck("linear [2, 3, 4]", g_linear3, NULL, x, 3);
    free_all(x, 3);
}

/* ---------------------------------------------------------------- errors */

static zoo_tensor *zeros(zoo_shape s) { return zoo_tensor_zeros(ZOO_F32, s); }
static void bad_slice_range(void) { zoo_slice(zeros(zoo_shape2(3, 4)), 1, 2, 3); }
static void bad_slice_axis(void) { zoo_slice(zeros(zoo_shape2(3, 4)), 2, 0, 1); }
static void bad_chunk(void) {
    zoo_tensor *out[3];
    zoo_chunk(zeros(zoo_shape2(3, 4)), 3, 1, out);
}
static void bad_concat(void) {
    zoo_tensor *x[2] = {zeros(zoo_shape2(3, 4)), zeros(zoo_shape2(2, 5))};
    zoo_concat(x, 2, 1);
}
static void bad_concat_dtype(void) {
    zoo_tensor *x[2] = {zeros(zoo_shape1(3)), zoo_tensor_zeros(ZOO_I32, zoo_shape1(3))};
    zoo_concat(x, 2, 0);
}
static void bad_pad(void) { zoo_pad(zeros(zoo_shape1(3)), 0, -1, 0, 0.0f); }
static void bad_upsample(void) { zoo_upsample2d(zeros(zoo_shape3(1, 2, 2)), 2); }
static void bad_embedding_id(void) {
    int32_t ids[3] = {0, 7, 2};
    zoo_embedding(zeros(zoo_shape2(7, 4)), zoo_tensor_from_host_i32(zoo_shape1(3), ids));
}
static void bad_embedding_negative(void) {
    int32_t ids[2] = {-1, 0};
    zoo_embedding(zeros(zoo_shape2(7, 4)), zoo_tensor_from_host_i32(zoo_shape1(2), ids));
}
static void bad_embedding_dtype(void) { zoo_embedding(zeros(zoo_shape2(7, 4)), zeros(zoo_shape1(3))); }
static void bad_matmul_leading(void) { zoo_matmul(zeros(zoo_shape4(2, 3, 4, 5)), zeros(zoo_shape4(3, 2, 5, 4))); }
static void bad_linear_last(void) { zoo_linear(zeros(zoo_shape3(2, 3, 4)), zeros(zoo_shape2(5, 3)), NULL); }

TEST(bad_arguments_return_null_and_say_what_is_wrong) {
    expect_usage_error("slice past the end", bad_slice_range, "are not all there");
    expect_usage_error("slice axis 2 of 2-d", bad_slice_axis, "axis 2 out of range");
    expect_usage_error("chunk 4 into 3", bad_chunk, "3 equal chunks");
    expect_usage_error("concat [3,4] and [2,5]", bad_concat, "other than the axis");
    expect_usage_error("concat float and int32", bad_concat_dtype, "dtype");
    expect_usage_error("pad -1", bad_pad, "at least 0");
    expect_usage_error("upsample2d on 3-d", bad_upsample, "[n, c, h, w]");
    expect_usage_error("embedding id 7 of 7", bad_embedding_id, "id 7 at position 1");
    expect_usage_error("embedding id -1", bad_embedding_negative, "id -1 at position 0");
    expect_usage_error("embedding float ids", bad_embedding_dtype, "int32 ids");
    expect_usage_error("matmul leading dims", bad_matmul_leading, "leading (batch) dims differ");
    expect_usage_error("linear [.., 4] with [5, 3]", bad_linear_last, "[..., in]");
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    RUN(slice_copies_a_window_of_one_axis_and_its_gradient_goes_back_there);
    RUN(slice_takes_int32_tensors_too);
    RUN(chunk_splits_q_k_v_out_of_one_projection);
    RUN(concat_joins_along_an_axis_and_splits_the_gradient_back);
    RUN(concat_takes_more_inputs_than_a_node_used_to_hold);
    RUN(pad_adds_constant_borders_and_passes_the_interior_gradient);
    RUN(upsample2d_repeats_each_pixel_and_sums_its_block_gradient);
    RUN(embedding_gathers_rows_and_sums_repeated_ids_in_the_gradient);
    RUN(matmul_runs_over_every_leading_dim_as_attention_needs);
    RUN(linear_applies_to_the_last_dim_of_any_shape);
    RUN(bad_arguments_return_null_and_say_what_is_wrong);
    zoo_shutdown();
    TEST_EXIT();
}
