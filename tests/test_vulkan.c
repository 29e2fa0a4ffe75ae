/* The Vulkan backend's own properties (test_consistency compares its kernels with the
 * CPU's): clear errors without a driver or a device, transfers of every size, scoped
 * memory that is reused, long chains of dependent dispatches, dispatches past the
 * group-count limit, and the counters zoo-bench prints. Without a Vulkan device it
 * skips (exit 77) after the error tests, unless ZOO_TEST_REQUIRE_VULKAN is set.
 * argv[1]: the path of the null driver (vulkan_null_icd.c), for the zero-device case. */
#include "test.h"

#include "backends/vulkan/vulkan.h"
#include "core/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *null_icd_path;

/* ---------------------------------------------------------------- forced errors */

/* Runs zoo_init("vulkan") in a child process whose loader sees only `driver_json`
 * (NULL: the real drivers) and whose ZOO_VULKAN_DEVICE is `device` (NULL: unset).
 * The child checks that init fails with a message holding `want1` and `want2`, and
 * that zoo_vulkan_list_devices returns `list_count` (ANY_COUNT: at least 1); it exits
 * 0 when all hold. */
#define ANY_COUNT -2

static int init_fails_in_child(const char *driver_json, const char *device, const char *want1, const char *want2,
                               int list_count) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        unsetenv("ZOO_VULKAN_VALIDATE");
        unsetenv("VK_INSTANCE_LAYERS");
        if (driver_json) {
            setenv("VK_DRIVER_FILES", driver_json, 1);
            setenv("VK_ICD_FILENAMES", driver_json, 1); /* the older loaders' name */
        }
        if (device) setenv("ZOO_VULKAN_DEVICE", device, 1);
        else unsetenv("ZOO_VULKAN_DEVICE");
        if (zoo_init("vulkan", 0) == 0) {
            fprintf(stderr, "zoo_init(\"vulkan\") succeeded; expected an error with '%s'\n", want1);
            _exit(1);
        }
        const char *msg = zoo_last_error();
        if (!strstr(msg, want1) || (want2 && !strstr(msg, want2))) {
            fprintf(stderr, "error message '%s' lacks '%s'%s%s\n", msg, want1, want2 ? " or " : "", want2 ? want2 : "");
            _exit(1);
        }
        printf("    (message: %s)\n", msg);
        FILE *devnull = fopen("/dev/null", "w");
        int n = zoo_vulkan_list_devices(devnull);
        fclose(devnull);
        if (list_count == ANY_COUNT ? n < 1 : n != list_count) {
            fprintf(stderr, "zoo_vulkan_list_devices returned %d, expected %d\n", n, list_count);
            _exit(1);
        }
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define MESA_HINT "apt-get install mesa-vulkan-drivers"

TEST(no_driver_names_the_software_package) {
    CHECK(init_fails_in_child("/nonexistent/zoo-no-driver.json", NULL, "no Vulkan device found", MESA_HINT, -1) == 0);
}

TEST(driver_without_devices_names_the_software_package) {
    if (!null_icd_path) {
        printf("    note: no null driver given (argv[1]); zero-device case not run\n");
        return;
    }
    char dir[] = "/tmp/zoo-null-icd-XXXXXX", json[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(json, sizeof json, "%s/null_icd.json", dir);
    FILE *f = fopen(json, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "{\"file_format_version\": \"1.0.0\", \"ICD\": {\"library_path\": \"%s\", \"api_version\": \"1.0.0\"}}\n",
            null_icd_path);
    fclose(f);
    CHECK(init_fails_in_child(json, NULL, "the Vulkan driver reports no devices", MESA_HINT, 0) == 0);
    remove(json);
    rmdir(dir);
}

/* true when a child process can start the backend (the parent must not start it
 * before forking: a driver's threads do not survive fork) */
static bool device_in_child(void) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("ZOO_VULKAN_VALIDATE");
        _exit(zoo_init("vulkan", 0) == 0 ? 0 : 1);
    }
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* these two need a real driver with a device; main runs them only then */
TEST(missing_device_index_is_named) {
    CHECK(init_fails_in_child(NULL, "99", "ZOO_VULKAN_DEVICE=99: device 99 does not exist", "0: ", ANY_COUNT) == 0);
}

TEST(device_index_must_be_a_number) {
    CHECK(init_fails_in_child(NULL, "first", "ZOO_VULKAN_DEVICE must be a device index", "'first'", ANY_COUNT) == 0);
}

/* ---------------------------------------------------------------- helpers */

static zoo_backend *be(void) { return zoo__backend(); }

static zoo_counters stats(void) {
    zoo_counters s;
    zoo_get_counters(&s);
    return s;
}

static float *random_floats(int64_t n, uint32_t seed) {
    float *v = malloc((size_t)n * sizeof *v);
    ZOO_ASSERT(v);
    uint32_t x = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        v[i] = (float)(int32_t)x * (1.0f / 2147483648.0f); /* [-1, 1) */
    }
    return v;
}

/* ---------------------------------------------------------------- devices */

TEST(lists_the_device_it_uses) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int n = zoo_vulkan_list_devices(f);
    fclose(f);
    CHECK(n >= 1);
    CHECK(text && strstr(text, "[selected]"));
    CHECK(text && strstr(text, "0: "));
    printf("%s", text ? text : "");
    free(text);
}

/* ---------------------------------------------------------------- transfers */

/* sizes around the workgroup (256), the staging buffer (8 MiB = 2M floats) and the
 * one-row group limit of a 64-wide shader (65535 * 64) */
TEST(upload_download_round_trip_is_exact) {
    const int64_t sizes[] = {1, 3, 63, 64, 65, 255, 257, 1000, 65537, 2097152 + 5, 65535 * 64 + 7};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int64_t n = sizes[k];
        float *src = random_floats(n, (uint32_t)k), *dst = malloc((size_t)n * sizeof *dst);
        memset(dst, 0, (size_t)n * sizeof *dst);
        zoo_scope_begin();
        zoo_tensor *t = zoo_tensor_from_host(zoo_shape1(n), src);
        zoo_tensor_download(t, dst);
        zoo_scope_end();
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += memcmp(&src[i], &dst[i], 4) != 0;
        if (bad) printf("    %lld elements: %lld differ\n", (long long)n, (long long)bad);
        CHECK(bad == 0);
        free(src);
        free(dst);
    }
}

TEST(transfers_at_byte_offsets) {
    zoo_scope_begin();
    int32_t v[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, part[3] = {-1, -2, -3}, out[10];
    zoo_tensor *t = zoo_tensor_from_host_i32(zoo_shape1(10), v);
    be()->iface.upload(be()->ctx, t, part, sizeof part, 4 * 4);
    zoo_tensor_download(t, out);
    int32_t want[10] = {0, 1, 2, 3, -1, -2, -3, 7, 8, 9};
    CHECK(memcmp(out, want, sizeof want) == 0);
    int32_t tail[2];
    be()->iface.download(be()->ctx, t, tail, sizeof tail, 8 * 4);
    CHECK(tail[0] == 8 && tail[1] == 9);
    zoo_scope_end();
}

TEST(fill_writes_floats_and_ints) {
    zoo_scope_begin();
    zoo_tensor *f = zoo_tensor_full(zoo_shape2(3, 5), -2.5f), *i = zoo_tensor_new(ZOO_I32, zoo_shape1(7));
    zoo_tensor_fill(i, 42.0f);
    float fv[15];
    int32_t iv[7];
    zoo_tensor_download(f, fv);
    zoo_tensor_download(i, iv);
    for (int k = 0; k < 15; k++) CHECK(fv[k] == -2.5f);
    for (int k = 0; k < 7; k++) CHECK(iv[k] == 42);
    zoo_scope_end();
}

/* ---------------------------------------------------------------- memory */

TEST(scope_reset_reuses_memory) {
    void *first[3];
    size_t peak = 0;
    for (int round = 0; round < 3; round++) {
        zoo_scope_begin();
        zoo_tensor *t[3] = {zoo_tensor_new(ZOO_F32, zoo_shape2(100, 33)), zoo_tensor_new(ZOO_F32, zoo_shape1(5)),
                            zoo_tensor_new(ZOO_I32, zoo_shape3(2, 3, 4))};
        for (int k = 0; k < 3; k++) {
            if (round == 0) first[k] = t[k]->data;
            CHECK(t[k]->data == first[k]);
            CHECK(t[k]->data != NULL);
        }
        CHECK(t[0]->data != t[1]->data && t[1]->data != t[2]->data);
        zoo_scope_end();
        if (round == 1) peak = zoo_peak_bytes();
        if (round == 2) CHECK(zoo_peak_bytes() == peak);
    }
}

TEST(persistent_memory_is_reused_and_merged) {
    zoo_tensor *a = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(1000));
    zoo_tensor *b = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(1000));
    zoo_tensor *c = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(1000));
    void *pa = a->data;
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    /* a's and b's blocks merged: a tensor of both sizes fits where a was */
    zoo_tensor *d = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(2000));
    CHECK(d->data == pa);
    float v[2000];
    zoo_tensor_download(d, v); /* zero-filled by the core */
    CHECK(v[0] == 0.0f && v[1999] == 0.0f);
    zoo_tensor_free(c);
    zoo_tensor_free(d);
}

/* ---------------------------------------------------------------- execution */

/* 1000 dependent affine dispatches, ping-ponging between two tensors, give the CPU
 * backend's result bit for bit, and each one after the first waits on a barrier */
TEST(chained_dispatches_match_the_cpu_exactly) {
    const int64_t n = 100003;
    const int steps = 1000;
    float *x0 = random_floats(n, 99), *got = malloc((size_t)n * 4), *ping = malloc((size_t)n * 4);
    float *pong = malloc((size_t)n * 4);
    zoo_backend *cpu = zoo_backend_new("cpu", &(zoo_backend_config){.threads = 1, .exact = true});
    zoo_tensor hp = {.shape = {1, {n, 1, 1, 1}}, .numel = n, .dtype = ZOO_F32, .data = ping}, hq = hp;
    hq.data = pong;
    memcpy(ping, x0, (size_t)n * 4);

    zoo_scope_begin();
    zoo_tensor *p = zoo_tensor_from_host(zoo_shape1(n), x0), *q = zoo_tensor_new(ZOO_F32, zoo_shape1(n));
    zoo_sync();
    zoo_counters before = stats();
    for (int s = 0; s < steps; s++) {
        float a = s % 2 ? 1.0009765625f : 0.9990234375f, b = s % 3 ? 0.001f : -0.0015f;
        be()->iface.unary(be()->ctx, ZOO_UNARY_AFFINE, s % 2 ? q : p, s % 2 ? p : q, a, b);
        cpu->iface.unary(cpu->ctx, ZOO_UNARY_AFFINE, s % 2 ? &hq : &hp, s % 2 ? &hp : &hq, a, b);
    }
    zoo_counters mid = stats();
    zoo_tensor_download(steps % 2 ? q : p, got);
    zoo_scope_end();

    const float *want = steps % 2 ? pong : ping;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += memcmp(&got[i], &want[i], 4) != 0;
    printf("    %d chained dispatches over %lld elements: %lld differ from the CPU; %llu barriers\n", steps,
           (long long)n, (long long)bad, (unsigned long long)(mid.barriers - before.barriers));
    CHECK(bad == 0);
    CHECK(mid.dispatches - before.dispatches == (uint64_t)steps);
    CHECK(mid.barriers - before.barriers >= (uint64_t)steps - 1);
    CHECK(mid.submits == before.submits); /* recording alone never submits */
    zoo_backend_free(cpu);
    free(x0);
    free(got);
    free(ping);
    free(pong);
}

TEST(independent_dispatches_share_one_barrier) {
    zoo_scope_begin();
    float v[64];
    for (int i = 0; i < 64; i++) v[i] = (float)i;
    zoo_tensor *x = zoo_tensor_from_host(zoo_shape1(64), v), *y[8];
    for (int k = 0; k < 8; k++) y[k] = zoo_tensor_new(ZOO_F32, zoo_shape1(64));
    zoo_counters s0 = stats();
    /* the first read of x waits for its upload; the other seven read it too, in parallel */
    for (int k = 0; k < 8; k++) be()->iface.unary(be()->ctx, ZOO_UNARY_AFFINE, x, y[k], (float)k, 0.0f);
    zoo_counters s1 = stats();
    CHECK(s1.barriers - s0.barriers <= 1);
    /* reading one of the results must wait for it */
    be()->iface.binary(be()->ctx, ZOO_BINARY_ADD, y[3], y[5], y[0]);
    zoo_counters s2 = stats();
    CHECK(s2.barriers - s1.barriers == 1);
    float out[64];
    zoo_tensor_download(y[0], out);
    CHECK(out[10] == 80.0f);
    zoo_scope_end();
}

TEST(one_flush_is_one_submit) {
    zoo_scope_begin();
    zoo_tensor *x = zoo_tensor_full(zoo_shape2(16, 16), 1.0f);
    zoo_tensor *y = zoo_relu(zoo_add_scalar(zoo_exp(x), -1.0f));
    zoo_tensor *s = zoo_sum_all(zoo_matmul(y, y));
    zoo_counters s0 = stats();
    be()->iface.flush(be()->ctx);
    zoo_counters s1 = stats();
    CHECK(s1.submits == s0.submits + 1);
    be()->iface.flush(be()->ctx); /* nothing recorded since: nothing to submit */
    be()->iface.sync(be()->ctx);
    CHECK(stats().submits == s1.submits);
    float v = zoo_tensor_item(s); /* records one copy, submits once, waits */
    CHECK(stats().submits == s1.submits + 1);
    double e = exp(1.0) - 1.0, want = 16.0 * 16.0 * 16.0 * e * e;
    CHECK_NEAR(v, want, 1e-5 * want); /* float rounding of 256 sums of 16 products */
    zoo_scope_end(); /* nothing left to submit */
    CHECK(stats().submits == s1.submits + 1);
}

/* more invocations than one row of 64-wide workgroups holds (65535 * 64): the
 * dispatch becomes a 2-D grid, and every output is still written exactly once */
TEST(dispatch_past_the_group_limit) {
    const int64_t rows = 65535 * 64 + 100;
    float *v = random_floats(rows * 2, 5), *sum = malloc((size_t)rows * 4);
    int32_t *idx = malloc((size_t)rows * 4);
    zoo_scope_begin();
    zoo_tensor *x = zoo_tensor_from_host(zoo_shape2(rows, 2), v);
    zoo_tensor *s = zoo_sum(x, 1, false);
    zoo_tensor *am = zoo_argmax(x, 1);
    zoo_tensor_download(s, sum);
    zoo_tensor_download(am, idx);
    zoo_scope_end();
    int64_t bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        float want = 0.0f + v[2 * r] + v[2 * r + 1]; /* cpu.c's order */
        bad += sum[r] != want || idx[r] != (v[2 * r + 1] > v[2 * r] ? 1 : 0);
    }
    CHECK(bad == 0);
    free(v);
    free(sum);
    free(idx);
}

/* one workgroup per output (reduce_wg.comp) for a reduction over many elements */
TEST(whole_tensor_reductions) {
    const int64_t rows = 42859, n = rows * 7;
    float *v = random_floats(n, 11);
    double sum = 0.0;
    float mx = v[0];
    for (int64_t i = 0; i < n; i++) {
        sum += v[i];
        mx = v[i] > mx ? v[i] : mx;
    }
    zoo_scope_begin();
    zoo_tensor *x = zoo_tensor_from_host(zoo_shape2(rows, 7), v);
    float got_sum = zoo_tensor_item(zoo_sum_all(x)), got_mean = zoo_tensor_item(zoo_mean_all(x));
    float got_max = zoo_tensor_item(zoo_max_all(x));
    zoo_scope_end();
    CHECK_NEAR(got_sum, sum, 1e-2);
    CHECK_NEAR(got_mean, sum / (double)n, 1e-5);
    CHECK(got_max == mx);
    free(v);
}

/* A convolution's weight gradient sums over every image and pixel: 128 images of
 * 28x28 is more than one shader invocation may loop through on lavapipe, so the sum
 * is split into partial products; it must still equal the CPU's up to rounding. */
TEST(long_weight_gradient_sums_match_the_cpu) {
    zoo_conv2d_geom g = {128, 2, 28, 28, 8, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1};
    int64_t nx = (int64_t)g.n * g.cin * g.h * g.w, ny = (int64_t)g.n * g.cout * g.oh * g.ow;
    int64_t nw = (int64_t)g.cout * g.cin * g.kh * g.kw;
    float *x = random_floats(nx, 3), *dy = random_floats(ny, 4), *want = malloc((size_t)nw * 4);
    float *got = malloc((size_t)nw * 4), *db_want = malloc((size_t)g.cout * 4), *db_got = malloc((size_t)g.cout * 4);
    zoo_backend *cpu = zoo_backend_new("cpu", &(zoo_backend_config){.threads = 1, .exact = true});
    zoo_tensor hx = {.shape = {4, {g.n, g.cin, g.h, g.w}}, .numel = nx, .data = x};
    zoo_tensor hdy = {.shape = {4, {g.n, g.cout, g.oh, g.ow}}, .numel = ny, .data = dy};
    zoo_tensor hdw = {.shape = {4, {g.cout, g.cin, g.kh, g.kw}}, .numel = nw, .data = want};
    zoo_tensor hdb = {.shape = {1, {g.cout, 1, 1, 1}}, .numel = g.cout, .data = db_want};
    cpu->iface.conv2d_backward_weight(cpu->ctx, &hx, &hdy, &hdw, &hdb, &g);

    zoo_scope_begin();
    zoo_tensor *vx = zoo_tensor_from_host(hx.shape, x), *vdy = zoo_tensor_from_host(hdy.shape, dy);
    zoo_tensor *vdw = zoo_tensor_new(ZOO_F32, hdw.shape), *vdb = zoo_tensor_new(ZOO_F32, hdb.shape);
    be()->iface.conv2d_backward_weight(be()->ctx, vx, vdy, vdw, vdb, &g);
    zoo_tensor_download(vdw, got);
    zoo_tensor_download(vdb, db_got);
    zoo_scope_end();

    double err = 0.0, ref = 0.0;
    for (int64_t i = 0; i < nw; i++) {
        err += (double)(got[i] - want[i]) * (got[i] - want[i]);
        ref += (double)want[i] * want[i];
    }
    for (int64_t i = 0; i < g.cout; i++) {
        err += (double)(db_got[i] - db_want[i]) * (db_got[i] - db_want[i]);
        ref += (double)db_want[i] * db_want[i];
    }
    printf("    weight gradient over %d images of %dx%d: nmse %.1e against the CPU\n", g.n, g.h, g.w, err / ref);
    CHECK(err / ref < 1e-10);
    zoo_backend_free(cpu);
    free(x);
    free(dy);
    free(want);
    free(got);
    free(db_want);
    free(db_got);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    null_icd_path = argc > 1 ? argv[1] : NULL;
    /* in children, before this process starts Vulkan or OpenMP threads */
    RUN(no_driver_names_the_software_package);
    RUN(driver_without_devices_names_the_software_package);
    if (device_in_child()) {
        RUN(missing_device_index_is_named);
        RUN(device_index_must_be_a_number);
    }

    if (zoo_init_with(&(zoo_options){.backend = "vulkan", .exact = true}) != 0) {
        bool required = getenv("ZOO_TEST_REQUIRE_VULKAN") != NULL;
        printf("%s: the Vulkan backend did not start: %s\n", required ? "FAIL" : "skip", zoo_last_error());
        if (required || test_failures) TEST_EXIT();
        return 77;
    }
    RUN(lists_the_device_it_uses);
    RUN(upload_download_round_trip_is_exact);
    RUN(transfers_at_byte_offsets);
    RUN(fill_writes_floats_and_ints);
    RUN(scope_reset_reuses_memory);
    RUN(persistent_memory_is_reused_and_merged);
    RUN(chained_dispatches_match_the_cpu_exactly);
    RUN(independent_dispatches_share_one_barrier);
    RUN(one_flush_is_one_submit);
    RUN(dispatch_past_the_group_limit);
    RUN(whole_tensor_reductions);
    RUN(long_weight_gradient_sums_match_the_cpu);

    zoo_counters s = stats();
    printf("%llu dispatches, %llu transfers, %llu barriers, %llu submits, %llu validation messages\n",
           (unsigned long long)s.dispatches, (unsigned long long)s.transfers, (unsigned long long)s.barriers,
           (unsigned long long)s.submits, (unsigned long long)s.validation_messages);
    CHECK(s.validation_messages == 0);
    zoo_shutdown();
    TEST_EXIT();
}
