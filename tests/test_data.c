/* The data layer: IDX files (raw and gzip) and how bad ones fail, dataset copies and
 * splits, and the loader's seeded, resumable order. Writes its files into a fresh
 * directory under /tmp and removes them at the end. */
#include "test.h"

#include "core/data.h"
#include "core/dataset.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------- files */

static char tmp_dir[] = "/tmp/zoo-test-data-XXXXXX";
static char created[64][256];
static int n_created;

/* tmp_dir/name; a ring of buffers, so a call may hold a few at once */
static const char *tmp_path(const char *name) {
    static char ring[8][256];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", tmp_dir, name);
    return p;
}

static void remember(const char *path) {
    for (int i = 0; i < n_created; i++)
        if (strcmp(created[i], path) == 0) return;
    if (n_created < 64) snprintf(created[n_created++], sizeof created[0], "%s", path);
}

static void write_file(const char *path, const uint8_t *bytes, size_t len, bool gz) {
    remember(path);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CHECK(f && gzwrite(f, bytes, (unsigned)len) == (int)len);
        if (f) gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(bytes, 1, len, f) == len);
        if (f) fclose(f);
    }
}

/* the whole file as it is on disk; returns its length */
static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return 0;
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    return len;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX file: magic, ndim dims, then the first data_len bytes of data (which need
 * not match the dims, for the error cases). */
static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndim,
                      const uint8_t *data, size_t data_len, bool gz) {
    static uint8_t buf[1 << 16];
    size_t header = 4 + 4 * (size_t)ndim;
    CHECK(header + data_len <= sizeof buf);
    put_be32(buf, magic);
    for (int i = 0; i < ndim; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    memcpy(buf + header, data, data_len);
    write_file(path, buf, header + data_len, gz);
}

/* the sample set: 5 images of 3 x 4, every pixel distinct, labels with max 5 */
enum { N = 5, H = 3, W = 4 };
static uint8_t sample_pixels[N * H * W];
static const uint8_t sample_labels[N] = {3, 1, 4, 1, 5};

static void write_images(const char *path, uint32_t n, const uint8_t *pixels, size_t len, bool gz) {
    write_idx(path, 0x803, (uint32_t[]){n, H, W}, 3, pixels, len, gz);
}

static void write_labels(const char *path, uint32_t n, const uint8_t *labels, bool gz) {
    write_idx(path, 0x801, (uint32_t[]){n}, 1, labels, n, gz);
}

/* zoo_idx_load that must fail and leave its output untouched; returns the message */
static const char *load_error(const char *images, const char *labels) {
    zoo_images out, before;
    memset(&out, 0xa5, sizeof out);
    memcpy(&before, &out, sizeof out);
    int rc = zoo_idx_load(images, labels, &out);
    CHECK(rc == -1);
    CHECK(memcmp(&out, &before, sizeof out) == 0);
    if (rc == 0) zoo_images_free(&out);
    return zoo_last_error();
}

static bool mentions(const char *message, const char *part) { return strstr(message, part) != NULL; }

static void check_is_sample(const zoo_images *d) {
    CHECK(d->n == N && d->c == 1 && d->h == H && d->w == W);
    CHECK(d->n_classes == 6);
    CHECK(d->pixels && memcmp(d->pixels, sample_pixels, sizeof sample_pixels) == 0);
    bool labels_match = d->labels != NULL;
    for (int i = 0; labels_match && i < N; i++) labels_match = d->labels[i] == sample_labels[i];
    CHECK(labels_match);
}

/* ---------------------------------------------------------------- reading */

TEST(idx_raw_files_read_back_exactly) {
    write_images(tmp_path("raw-images"), N, sample_pixels, sizeof sample_pixels, false);
    write_labels(tmp_path("raw-labels"), N, sample_labels, false);
    zoo_images d = {0};
    CHECK(zoo_idx_load(tmp_path("raw-images"), tmp_path("raw-labels"), &d) == 0);
    check_is_sample(&d);
    zoo_images_free(&d);
    CHECK(d.pixels == NULL && d.labels == NULL && d.n == 0);
    zoo_images_free(&d); /* a freed dataset may be freed again */
}

TEST(idx_gzip_files_read_back_exactly) {
    write_images(tmp_path("gz-images.gz"), N, sample_pixels, sizeof sample_pixels, true);
    write_labels(tmp_path("gz-labels.gz"), N, sample_labels, true);
    zoo_images d = {0};
    CHECK(zoo_idx_load(tmp_path("gz-images.gz"), tmp_path("gz-labels.gz"), &d) == 0);
    check_is_sample(&d);
    zoo_images_free(&d);
}

TEST(bytes_after_the_data_are_ignored) {
    uint8_t longer[sizeof sample_pixels + 3];
    memcpy(longer, sample_pixels, sizeof sample_pixels);
    memset(longer + sizeof sample_pixels, 0xee, 3);
    write_images(tmp_path("long-images.gz"), N, longer, sizeof longer, true);
    write_labels(tmp_path("gz-labels.gz"), N, sample_labels, true);
    zoo_images d = {0};
    CHECK(zoo_idx_load(tmp_path("long-images.gz"), tmp_path("gz-labels.gz"), &d) == 0);
    check_is_sample(&d);
    zoo_images_free(&d);
}

TEST(fixtures_in_assets_load_by_split) {
    const char *assets = getenv("ZOO_ASSETS");
    CHECK(assets != NULL);
    if (!assets) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/idx", assets);
    zoo_images d = {0};
    CHECK(zoo_mnist_load(dir, "test", &d) == 0);
    CHECK(d.n == 3 && d.c == 1 && d.h == 4 && d.w == 5);
    CHECK(d.n_classes == 10);
    bool pixels_match = d.pixels != NULL;
    for (int i = 0; pixels_match && i < 3; i++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++)
                pixels_match = pixels_match && d.pixels[(i * 4 + y) * 5 + x] == 100 * i + 10 * y + x;
    CHECK(pixels_match);
    CHECK(d.labels && d.labels[0] == 9 && d.labels[1] == 0 && d.labels[2] == 4);
    zoo_images_free(&d);
}

TEST(mnist_load_takes_raw_or_gz_files_and_at_least_ten_classes) {
    write_images(tmp_path("train-images-idx3-ubyte"), N, sample_pixels, sizeof sample_pixels, false);
    write_labels(tmp_path("train-labels-idx1-ubyte.gz"), N, sample_labels, true);
    zoo_images d = {0};
    CHECK(zoo_mnist_load(tmp_dir, "train", &d) == 0);
    CHECK(d.n == N && d.n_classes == 10 && d.pixels &&
          memcmp(d.pixels, sample_pixels, sizeof sample_pixels) == 0);
    zoo_images_free(&d);
}

/* ---------------------------------------------------------------- errors */

TEST(missing_file_is_an_error_naming_it) {
    write_labels(tmp_path("raw-labels"), N, sample_labels, false);
    const char *msg = load_error(tmp_path("no-such-images"), tmp_path("raw-labels"));
    CHECK(mentions(msg, tmp_path("no-such-images")));
}

TEST(missing_split_names_the_paths_tried) {
    zoo_images d;
    CHECK(zoo_mnist_load(tmp_dir, "test", &d) == -1);
    const char *msg = zoo_last_error();
    CHECK(mentions(msg, tmp_path("t10k-images-idx3-ubyte")));
    CHECK(mentions(msg, tmp_path("t10k-images-idx3-ubyte.gz")));
    CHECK(!mentions(msg, "apt-get")); /* not the default dir */
    CHECK(zoo_mnist_load(tmp_dir, "validation", &d) == -1);
    CHECK(mentions(zoo_last_error(), "validation"));
}

TEST(missing_default_dir_suggests_the_debian_package) {
    if (access(ZOO_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", F_OK) == 0) {
        printf("note: %s is installed; the hint for a missing one is not exercised\n",
               ZOO_FASHION_MNIST_DIR);
        return;
    }
    zoo_images d;
    CHECK(zoo_mnist_load(NULL, "test", &d) == -1);
    CHECK(mentions(zoo_last_error(), "apt-get install dataset-fashion-mnist"));
}

TEST(wrong_magic_is_an_error) {
    /* a label file where the images should be */
    write_labels(tmp_path("raw-labels"), N, sample_labels, false);
    const char *msg = load_error(tmp_path("raw-labels"), tmp_path("raw-labels"));
    CHECK(mentions(msg, tmp_path("raw-labels")) && mentions(msg, "magic"));
    /* 3-d, but int32 elements (type 0x0c) */
    write_idx(tmp_path("int-images"), 0xc03, (uint32_t[]){N, H, W}, 3, sample_pixels,
              sizeof sample_pixels, false);
    msg = load_error(tmp_path("int-images"), tmp_path("raw-labels"));
    CHECK(mentions(msg, tmp_path("int-images")) && mentions(msg, "magic"));
}

TEST(truncated_image_file_says_expected_and_found) {
    /* header 16 + 60 pixels = 76 bytes promised, 7 missing */
    write_labels(tmp_path("raw-labels"), N, sample_labels, false);
    write_images(tmp_path("short-images"), N, sample_pixels, sizeof sample_pixels - 7, false);
    const char *msg = load_error(tmp_path("short-images"), tmp_path("raw-labels"));
    CHECK(mentions(msg, tmp_path("short-images")));
    CHECK(mentions(msg, "expected 76 bytes") && mentions(msg, "found 69"));
    /* the same bytes, well-formed gzip */
    write_images(tmp_path("short-images.gz"), N, sample_pixels, sizeof sample_pixels - 7, true);
    msg = load_error(tmp_path("short-images.gz"), tmp_path("raw-labels"));
    CHECK(mentions(msg, "expected 76 bytes") && mentions(msg, "found 69"));
    /* cut inside the header */
    write_file(tmp_path("stub-images"), (const uint8_t[]){0, 0, 8, 3, 0, 0}, 6, false);
    msg = load_error(tmp_path("stub-images"), tmp_path("raw-labels"));
    CHECK(mentions(msg, "expected 16 bytes") && mentions(msg, "found 6"));
}

TEST(count_mismatch_is_an_error) {
    write_images(tmp_path("raw-images"), N, sample_pixels, sizeof sample_pixels, false);
    write_labels(tmp_path("four-labels"), N - 1, sample_labels, false);
    const char *msg = load_error(tmp_path("raw-images"), tmp_path("four-labels"));
    CHECK(mentions(msg, tmp_path("raw-images")) && mentions(msg, tmp_path("four-labels")));
    CHECK(mentions(msg, "5 images") && mentions(msg, "4 labels"));
}

TEST(absurd_dims_are_errors) {
    write_labels(tmp_path("raw-labels"), N, sample_labels, false);
    const uint32_t bad[][3] = {
        {N, 0, W},                     /* empty side */
        {0, H, W},                     /* no images */
        {N, 70000, 1},                 /* a side of 2^16 or more */
        {0xffffffffu, 60000, 60000},   /* 2^63 bytes: must fail before allocating */
        {40000, 256, 256},             /* 2.6 GB, sides fine, total too large */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_idx(tmp_path("odd-images"), 0x803, bad[i], 3, sample_pixels, sizeof sample_pixels,
                  false);
        const char *msg = load_error(tmp_path("odd-images"), tmp_path("raw-labels"));
        CHECK(mentions(msg, tmp_path("odd-images")) && mentions(msg, "dims"));
    }
    write_images(tmp_path("raw-images"), N, sample_pixels, sizeof sample_pixels, false);
    write_idx(tmp_path("no-labels"), 0x801, (uint32_t[]){0}, 1, sample_labels, 0, false);
    CHECK(mentions(load_error(tmp_path("raw-images"), tmp_path("no-labels")), tmp_path("no-labels")));
}

/* Found by tests/fuzz/fuzz_idx: the reader allocated all the header promised before
 * reading, so a 76-byte file claiming 40000 x 256 x 200 images took 2 GB (slow, and out
 * of memory on a small machine). Now the buffer grows with the data: in a child allowed
 * 256 MB more address space than it has, the file fails as truncated, not out of memory. */
TEST(a_header_promising_gigabytes_costs_only_what_the_file_holds) {
#if defined(__SANITIZE_ADDRESS__)
    printf("note: skipped under AddressSanitizer, whose shadow memory defeats an address-space limit\n");
    return;
#endif
    write_idx(tmp_path("promising-images"), 0x803, (uint32_t[]){40000, 256, 200}, 3, sample_pixels,
              sizeof sample_pixels, false);
    write_labels(tmp_path("raw-labels"), N, sample_labels, false);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        long pages = 0;
        FILE *statm = fopen("/proc/self/statm", "r");
        if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(2);
        fclose(statm);
        rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
        zoo_images d;
        int rc = zoo_idx_load(tmp_path("promising-images"), tmp_path("raw-labels"), &d);
        if (rc == -1 && !strstr(zoo_last_error(), "truncated")) fprintf(stderr, "  got: %s\n", zoo_last_error());
        _exit(rc == -1 && strstr(zoo_last_error(), "truncated") ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(gzip_cut_in_the_middle_is_an_error) {
    /* 40 noisy images of 16 x 16: the deflate stream is about as long as the data */
    enum { M = 40, SIDE = 16 };
    static uint8_t noisy[M * SIDE * SIDE], labels[M], gz[1 << 15];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof noisy; i++) noisy[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    write_idx(tmp_path("noisy-images.gz"), 0x803, (uint32_t[]){M, SIDE, SIDE}, 3, noisy,
              sizeof noisy, true);
    write_labels(tmp_path("noisy-labels"), M, labels, false);
    zoo_images d = {0};
    CHECK(zoo_idx_load(tmp_path("noisy-images.gz"), tmp_path("noisy-labels"), &d) == 0);
    zoo_images_free(&d);

    size_t len = read_file(tmp_path("noisy-images.gz"), gz, sizeof gz);
    CHECK(len > sizeof noisy / 2);
    write_file(tmp_path("half-images.gz"), gz, len / 2, false);
    const char *msg = load_error(tmp_path("half-images.gz"), tmp_path("noisy-labels"));
    CHECK(mentions(msg, tmp_path("half-images.gz")) && mentions(msg, "truncated"));

    /* all the data there, the CRC and length trailer cut off */
    write_file(tmp_path("no-trailer-images.gz"), gz, len - 8, false);
    msg = load_error(tmp_path("no-trailer-images.gz"), tmp_path("noisy-labels"));
    CHECK(mentions(msg, tmp_path("no-trailer-images.gz")) && mentions(msg, "truncated"));

    /* a wrong CRC */
    gz[len - 8] ^= 0xff;
    write_file(tmp_path("bad-crc-images.gz"), gz, len, false);
    msg = load_error(tmp_path("bad-crc-images.gz"), tmp_path("noisy-labels"));
    CHECK(mentions(msg, tmp_path("bad-crc-images.gz")));
}

/* ---------------------------------------------------------------- copies and splits */

/* n examples of 1 x 1 x 2 whose two pixels spell the example's index; label = index % 7 */
static zoo_images numbered(int64_t n) {
    zoo_images d = {.n = n, .c = 1, .h = 1, .w = 2, .n_classes = 7};
    d.pixels = malloc((size_t)n * 2);
    d.labels = malloc((size_t)n * sizeof *d.labels);
    for (int64_t i = 0; i < n; i++) {
        d.pixels[2 * i] = (uint8_t)(i % 256);
        d.pixels[2 * i + 1] = (uint8_t)(i / 256);
        d.labels[i] = (int32_t)(i % 7);
    }
    return d;
}

static int64_t id_of_pixels(const uint8_t *p) { return p[0] + 256 * p[1]; }
static int64_t id_of_floats(const float *x) { return lrintf(x[0] * 255) + 256 * lrintf(x[1] * 255); }

/* every id in [0, n) exactly once among d's examples, each with its own label */
static bool holds_each_once(const zoo_images *d, const zoo_images *other, int64_t n) {
    int seen[1000] = {0};
    const zoo_images *parts[2] = {d, other};
    for (int p = 0; p < 2 && parts[p]; p++)
        for (int64_t i = 0; i < parts[p]->n; i++) {
            int64_t id = id_of_pixels(parts[p]->pixels + 2 * i);
            if (id >= n || parts[p]->labels[i] != id % 7) return false;
            seen[id]++;
        }
    for (int64_t i = 0; i < n; i++)
        if (seen[i] != 1) return false;
    return true;
}

TEST(head_copies_the_first_examples) {
    zoo_images d = numbered(50), h;
    CHECK(zoo_images_head(&d, 10, &h) == 0);
    CHECK(h.n == 10 && h.w == 2 && h.n_classes == 7 && h.pixels != d.pixels);
    CHECK(holds_each_once(&h, NULL, 10));
    zoo_images_free(&h);
    CHECK(zoo_images_head(&d, 1000, &h) == 0);
    CHECK(h.n == 50 && holds_each_once(&h, NULL, 50));
    zoo_images_free(&h);
    CHECK(zoo_images_head(&d, 0, &h) == -1);
    zoo_images_free(&d);
}

TEST(split_partitions_the_examples_by_seed) {
    zoo_images d = numbered(100), t, v, t2, v2;
    CHECK(zoo_images_split(&d, 0.2, 7, &t, &v) == 0);
    CHECK(t.n == 80 && v.n == 20 && t.n_classes == 7 && v.n_classes == 7);
    CHECK(holds_each_once(&t, &v, 100));
    CHECK(zoo_images_split(&d, 0.2, 7, &t2, &v2) == 0);
    CHECK(memcmp(v.pixels, v2.pixels, 40) == 0 && memcmp(t.pixels, t2.pixels, 160) == 0);
    zoo_images_free(&t2);
    zoo_images_free(&v2);
    CHECK(zoo_images_split(&d, 0.2, 8, &t2, &v2) == 0);
    CHECK(memcmp(v.pixels, v2.pixels, 40) != 0);
    zoo_images_free(&t2);
    zoo_images_free(&v2);
    zoo_images_free(&t);
    zoo_images_free(&v);
    zoo_images_free(&d);
}

TEST(split_refuses_an_empty_part) {
    zoo_images d = numbered(100), t, v;
    const double fracs[] = {0, 1, 0.001, 0.999, -0.5, 2};
    for (size_t i = 0; i < sizeof fracs / sizeof fracs[0]; i++) {
        CHECK(zoo_images_split(&d, fracs[i], 1, &t, &v) == -1);
        CHECK(mentions(zoo_last_error(), "empty"));
    }
    zoo_images_free(&d);
}

/* ---------------------------------------------------------------- loader */

enum { LN = 103, LB = 10 }; /* ten full batches and one of 3 */

/* the ids of the next batch into ids; returns its size */
static int64_t next_ids(zoo_loader *l, int64_t *ids) {
    int64_t got = -1;
    CHECK(zoo_loader_next_host(l, &got) == 0);
    const float *images = l->host[0];
    const int32_t *labels = l->host[1];
    for (int64_t i = 0; i < got; i++) {
        ids[i] = id_of_floats(images + 2 * i);
        CHECK(labels[i] == ids[i] % 7);
    }
    return got;
}

/* a loader over d as a dataset (the loader keeps a copy of the dataset struct) */
static int init_loader(zoo_loader *l, const zoo_images *d, int64_t batch, bool shuffle, bool drop_last,
                       uint64_t seed) {
    zoo_dataset ds = zoo_images_dataset(d);
    return zoo_loader_init(l, &ds, batch, shuffle, drop_last, seed);
}

/* one epoch's ids in order into ids; returns the number of examples */
static int64_t epoch_ids(zoo_loader *l, int64_t *ids) {
    int64_t total = 0, got;
    while ((got = next_ids(l, ids + total)) > 0) total += got;
    return total;
}

TEST(loader_visits_every_example_once_per_epoch) {
    zoo_images d = numbered(LN);
    zoo_loader l;
    init_loader(&l, &d, LB, true, false, 42);
    for (int epoch = 0; epoch < 3; epoch++) {
        int64_t ids[LN], seen[LN] = {0};
        CHECK(l.epoch == epoch);
        CHECK(epoch_ids(&l, ids) == LN);
        for (int i = 0; i < LN; i++) seen[ids[i]]++;
        bool once = true;
        for (int i = 0; i < LN; i++) once = once && seen[i] == 1;
        CHECK(once);
    }
    zoo_loader_free(&l);
    zoo_images_free(&d);
}

TEST(loader_order_depends_on_seed_and_epoch_only) {
    zoo_images d = numbered(LN);
    zoo_loader a, b, c;
    init_loader(&a, &d, LB, true, false, 42);
    init_loader(&b, &d, LB, true, false, 42);
    init_loader(&c, &d, LB, true, false, 43);
    int64_t a0[LN], a1[LN], b0[LN], b1[LN], c0[LN];
    epoch_ids(&a, a0);
    epoch_ids(&a, a1);
    epoch_ids(&b, b0);
    epoch_ids(&b, b1);
    epoch_ids(&c, c0);
    CHECK(memcmp(a0, b0, sizeof a0) == 0 && memcmp(a1, b1, sizeof a1) == 0);
    CHECK(memcmp(a0, a1, sizeof a0) != 0);
    CHECK(memcmp(a0, c0, sizeof a0) != 0);
    zoo_loader_free(&a);
    zoo_loader_free(&b);
    zoo_loader_free(&c);
    zoo_images_free(&d);
}

TEST(unshuffled_loader_keeps_dataset_order) {
    zoo_images d = numbered(LN);
    zoo_loader l;
    init_loader(&l, &d, LB, false, false, 42);
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t ids[LN];
        CHECK(epoch_ids(&l, ids) == LN);
        bool identity = true;
        for (int i = 0; i < LN; i++) identity = identity && ids[i] == i;
        CHECK(identity);
    }
    zoo_loader_free(&l);
    zoo_images_free(&d);
}

TEST(seek_then_next_gives_the_batch_iteration_reaches) {
    zoo_images d = numbered(LN);
    zoo_loader run, jump;
    init_loader(&run, &d, LB, true, false, 9);
    init_loader(&jump, &d, LB, true, false, 9);
    int64_t batches = zoo_loader_batches_per_epoch(&run);
    CHECK(batches == 11);
    static int64_t all[3][11][LB];
    static int64_t sizes[3][11];
    for (int e = 0; e < 3; e++) {
        int64_t none[LB];
        for (int k = 0; k < batches; k++) sizes[e][k] = next_ids(&run, all[e][k]);
        CHECK(sizes[e][batches - 1] == LN - LB * (batches - 1));
        CHECK(next_ids(&run, none) == 0 && run.epoch == e + 1);
    }
    /* jump around, backwards too */
    const int stops[][2] = {{2, 5}, {0, 10}, {1, 0}, {2, 10}, {0, 3}, {1, 7}};
    for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
        int e = stops[s][0], k = stops[s][1];
        int64_t ids[LB];
        zoo_loader_seek(&jump, e, k);
        CHECK(next_ids(&jump, ids) == sizes[e][k]);
        CHECK(memcmp(ids, all[e][k], (size_t)sizes[e][k] * sizeof ids[0]) == 0);
    }
    /* seeking to the end: the next call ends the epoch */
    int64_t ids[LB];
    zoo_loader_seek(&jump, 1, batches);
    CHECK(next_ids(&jump, ids) == 0 && jump.epoch == 2);
    CHECK(next_ids(&jump, ids) == LB && memcmp(ids, all[2][0], sizeof ids) == 0);
    zoo_loader_free(&run);
    zoo_loader_free(&jump);
    zoo_images_free(&d);
}

TEST(drop_last_skips_the_partial_batch) {
    zoo_images d = numbered(LN);
    zoo_loader l;
    init_loader(&l, &d, LB, true, true, 5);
    CHECK(zoo_loader_batches_per_epoch(&l) == 10);
    int64_t ids[LB];
    for (int k = 0; k < 10; k++) CHECK(next_ids(&l, ids) == LB);
    CHECK(next_ids(&l, ids) == 0);
    CHECK(l.epoch == 1 && next_ids(&l, ids) == LB);
    zoo_loader_free(&l);

    init_loader(&l, &d, 200, false, true, 5); /* a batch larger than the set */
    CHECK(zoo_loader_batches_per_epoch(&l) == 0);
    zoo_loader_free(&l);
    zoo_images_free(&d);
}

TEST(last_batch_is_partial_without_drop_last) {
    zoo_images d = numbered(LN);
    zoo_loader l;
    init_loader(&l, &d, LB, false, false, 5);
    int64_t ids[LB];
    zoo_loader_seek(&l, 0, 10);
    CHECK(next_ids(&l, ids) == 3);
    CHECK(ids[0] == 100 && ids[1] == 101 && ids[2] == 102);
    CHECK(next_ids(&l, ids) == 0);
    zoo_loader_free(&l);
    zoo_images_free(&d);
}

TEST(loader_scales_pixels_to_the_unit_interval) {
    uint8_t pixels[4] = {0, 1, 128, 255};
    int32_t label = 2;
    zoo_images d = {.n = 1, .c = 1, .h = 2, .w = 2, .pixels = pixels, .labels = &label, .n_classes = 3};
    zoo_loader l;
    init_loader(&l, &d, 1, false, false, 0);
    int64_t n = 0;
    CHECK(zoo_loader_next_host(&l, &n) == 0 && n == 1);
    const float *x = l.host[0];
    CHECK(((const int32_t *)l.host[1])[0] == 2);
    CHECK(x[0] == 0.0f && x[3] == 1.0f);
    CHECK_NEAR(x[1], 1.0 / 255, 1e-7);
    CHECK_NEAR(x[2], 128.0 / 255, 1e-7);
    zoo_loader_free(&l);
}

/* ---------------------------------------------------------------- real data */

TEST(fashion_mnist_test_split_has_ten_balanced_classes) {
    if (access(ZOO_FASHION_MNIST_DIR, F_OK) != 0) {
        printf("note: %s is absent (apt-get install dataset-fashion-mnist); skipped\n",
               ZOO_FASHION_MNIST_DIR);
        return;
    }
    zoo_images d = {0};
    CHECK(zoo_mnist_load(ZOO_FASHION_MNIST_DIR, "test", &d) == 0);
    if (d.n == 0) {
        fprintf(stderr, "%s\n", zoo_last_error());
        return;
    }
    CHECK(d.n == 10000 && d.c == 1 && d.h == 28 && d.w == 28);
    CHECK(d.n_classes == 10);
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < d.n; i++)
        if (d.labels[i] >= 0 && d.labels[i] < 10) counts[d.labels[i]]++;
    bool balanced = true;
    for (int k = 0; k < 10; k++) balanced = balanced && counts[k] == 1000;
    CHECK(balanced);
    CHECK(strcmp(zoo_fashion_mnist_classes[0], "T-shirt/top") == 0);
    CHECK(strcmp(zoo_fashion_mnist_classes[9], "Ankle boot") == 0);
    zoo_images_free(&d);
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    if (!mkdtemp(tmp_dir)) {
        perror(tmp_dir);
        return 1;
    }
    for (size_t i = 0; i < sizeof sample_pixels; i++) sample_pixels[i] = (uint8_t)(4 * i + 7);

    RUN(idx_raw_files_read_back_exactly);
    RUN(idx_gzip_files_read_back_exactly);
    RUN(bytes_after_the_data_are_ignored);
    RUN(fixtures_in_assets_load_by_split);
    RUN(mnist_load_takes_raw_or_gz_files_and_at_least_ten_classes);
    RUN(missing_file_is_an_error_naming_it);
    RUN(missing_split_names_the_paths_tried);
    RUN(missing_default_dir_suggests_the_debian_package);
    RUN(wrong_magic_is_an_error);
    RUN(truncated_image_file_says_expected_and_found);
    RUN(count_mismatch_is_an_error);
    RUN(absurd_dims_are_errors);
    RUN(a_header_promising_gigabytes_costs_only_what_the_file_holds);
    RUN(gzip_cut_in_the_middle_is_an_error);
    RUN(head_copies_the_first_examples);
    RUN(split_partitions_the_examples_by_seed);
    RUN(split_refuses_an_empty_part);
    RUN(loader_visits_every_example_once_per_epoch);
    RUN(loader_order_depends_on_seed_and_epoch_only);
    RUN(unshuffled_loader_keeps_dataset_order);
    RUN(seek_then_next_gives_the_batch_iteration_reaches);
    RUN(drop_last_skips_the_partial_batch);
    RUN(last_batch_is_partial_without_drop_last);
    RUN(loader_scales_pixels_to_the_unit_interval);
    RUN(fashion_mnist_test_split_has_ten_balanced_classes);

    for (int i = 0; i < n_created; i++) remove(created[i]);
    rmdir(tmp_dir);
    zoo_shutdown();
    TEST_EXIT();
}
