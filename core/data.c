/* The IDX reader, dataset copies and the seeded batch loader. Host memory only: the
 * training loop uploads batches; nothing here calls the backend. */
#include "data.h"

#include "internal.h"
#include "rng.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

const char *const zoo_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

/* ---------------------------------------------------------------- IDX files */

/* IDX: a big-endian header, then the data. Magic 0x000008NN: uint8 elements, NN dims;
 * each dim a big-endian uint32. http://yann.lecun.com/exdb/mnist/ */
#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

/* Sides beyond this are not images; sizes beyond int32 would overflow the loader's
 * int32 order and are no MNIST-family set. */
#define IDX_MAX_SIDE (1 << 16)
#define IDX_MAX_BYTES INT32_MAX

typedef struct idx_file {
    int ndim;
    int64_t dims[3];
    uint8_t *data; /* dims[0] * ... * dims[ndim-1] bytes, malloc'ed */
} idx_file;

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads up to len bytes (raw or decompressed); fewer only at the end of the file.
 * Returns the count, or -1 with a message when the file is unreadable or corrupt. */
static int64_t read_upto(gzFile f, const char *path, uint8_t *buf, int64_t len) {
    int64_t got = 0;
    while (got < len) {
        /* gzread takes an unsigned length and returns an int */
        int64_t chunk = len - got < (1 << 30) ? len - got : (1 << 30);
        int r = gzread(f, buf + got, (unsigned)chunk);
        if (r < 0) {
            int errnum = 0;
            const char *msg = gzerror(f, &errnum);
            zoo_set_error("%s: read failed: %s", path, errnum == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    return got;
}

static int truncated(gzFile f, const char *path, int64_t expected, int64_t found) {
    zoo_set_error("%s: truncated: expected %lld bytes%s, found %lld", path, (long long)expected,
                  gzdirect(f) ? "" : " after decompression", (long long)found);
    return -1;
}

static int check_dims(const char *path, const idx_file *x) {
    int64_t bytes = 1;
    bool ok = true;
    for (int i = 0; i < x->ndim; i++) {
        /* the first dim is the count, the others are image sides */
        ok = ok && x->dims[i] > 0 && (i == 0 || x->dims[i] < IDX_MAX_SIDE);
        bytes *= x->dims[i]; /* three dims < 2^32 each could overflow: checked as we go */
        ok = ok && bytes <= IDX_MAX_BYTES;
        if (!ok) break;
    }
    if (ok) return 0;
    if (x->ndim == 3)
        zoo_set_error("%s: implausible dims [%lld, %lld, %lld]: each must be positive, height and "
                      "width below %d, the total below 2^31 bytes",
                      path, (long long)x->dims[0], (long long)x->dims[1], (long long)x->dims[2],
                      IDX_MAX_SIDE);
    else
        zoo_set_error("%s: implausible count %lld: must be positive and below 2^31", path,
                      (long long)x->dims[0]);
    return -1;
}

/* The first chunk a data buffer gets; it doubles as the data keep coming. */
#define IDX_FIRST_CHUNK (1 << 20)

/* The `bytes` data bytes after the header, in a malloc'ed buffer, or NULL with a message.
 * The buffer grows as the data arrive, so a header promising more than the file holds
 * (a 30-byte file may claim 2 GB) costs about what the file holds, not what it claims. */
static uint8_t *read_data(gzFile f, const char *path, int64_t bytes, int64_t header_bytes) {
    int64_t cap = bytes < IDX_FIRST_CHUNK ? bytes : IDX_FIRST_CHUNK, got = 0;
    uint8_t *data = malloc((size_t)cap);
    while (data) {
        int64_t r = read_upto(f, path, data + got, cap - got);
        if (r < 0) break;
        got += r;
        if (got == bytes) return data;
        if (got < cap) {
            truncated(f, path, header_bytes + bytes, header_bytes + got);
            break;
        }
        cap = cap > bytes / 2 ? bytes : cap * 2;
        uint8_t *grown = realloc(data, (size_t)cap);
        if (!grown) free(data);
        data = grown;
    }
    if (!data) zoo_set_error("%s: out of memory for %lld bytes", path, (long long)cap);
    free(data);
    return NULL;
}

/* The body of idx_read, with the file open: header, dims, data, then the end. */
static int idx_read_open(gzFile f, const char *path, uint32_t magic, idx_file *out) {
    uint8_t header[4 + 4 * 3];
    int ndim = (int)(magic & 0xff);
    int64_t header_bytes = 4 + 4 * ndim;
    int64_t got = read_upto(f, path, header, 4);
    if (got < 0) return -1;
    if (got < 4) return truncated(f, path, header_bytes, got);
    if (load_be32(header) != magic) {
        zoo_set_error("%s: not an IDX %s file: magic 0x%08x, expected 0x%08x (uint8, %d-d)", path,
                      ndim == 3 ? "image" : "label", load_be32(header), magic, ndim);
        return -1;
    }
    got = read_upto(f, path, header + 4, header_bytes - 4);
    if (got < 0) return -1;
    if (got < header_bytes - 4) return truncated(f, path, header_bytes, 4 + got);

    idx_file x = {.ndim = ndim};
    int64_t bytes = 1;
    for (int i = 0; i < ndim; i++) x.dims[i] = load_be32(header + 4 + 4 * i);
    if (check_dims(path, &x) != 0) return -1;
    for (int i = 0; i < ndim; i++) bytes *= x.dims[i];

    x.data = read_data(f, path, bytes, header_bytes);
    if (!x.data) return -1;

    /* Reading on past the data makes zlib check a gzip file's CRC and length trailer
     * (bytes after the data are allowed; then the trailer goes unchecked). */
    uint8_t extra;
    int r = gzread(f, &extra, 1);
    int errnum = Z_OK;
    const char *msg = gzerror(f, &errnum);
    if (r < 0 || (r == 0 && errnum != Z_OK)) {
        zoo_set_error("%s: damaged gzip file after the data (%s)", path,
                      errnum == Z_BUF_ERROR ? "it ends early: truncated" : msg);
        free(x.data);
        return -1;
    }
    *out = x;
    return 0;
}

/* Reads one IDX file whose magic must be `magic`; on success the caller frees out->data. */
static int idx_read(const char *path, uint32_t magic, idx_file *out) {
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        zoo_set_error("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    gzbuffer(f, 1 << 17);
    int rc = idx_read_open(f, path, magic, out);
    gzclose(f);
    return rc;
}

int zoo_idx_load(const char *images_path, const char *labels_path, zoo_images *out) {
    idx_file images, labels;
    if (idx_read(images_path, IDX_IMAGES_MAGIC, &images) != 0) return -1;
    if (idx_read(labels_path, IDX_LABELS_MAGIC, &labels) != 0) {
        free(images.data);
        return -1;
    }
    int64_t n = images.dims[0];
    int32_t *label_values = NULL;
    if (labels.dims[0] != n) {
        zoo_set_error("%s holds %lld images but %s holds %lld labels", images_path, (long long)n,
                      labels_path, (long long)labels.dims[0]);
    } else if (!(label_values = malloc((size_t)n * sizeof *label_values))) {
        zoo_set_error("%s: out of memory for %lld labels", labels_path, (long long)n);
    }
    if (!label_values) {
        free(images.data);
        free(labels.data);
        return -1;
    }

    int max_label = 0;
    for (int64_t i = 0; i < n; i++) {
        label_values[i] = labels.data[i];
        if (labels.data[i] > max_label) max_label = labels.data[i];
    }
    free(labels.data);
    *out = (zoo_images){
        .n = n,
        .c = 1,
        .h = (int)images.dims[1],
        .w = (int)images.dims[2],
        .pixels = images.data,
        .labels = label_values,
        .n_classes = max_label + 1,
    };
    return 0;
}

/* dir/name if it exists, else dir/name.gz, into path; -1 when neither does. */
static int find_idx_file(const char *dir, const char *name, char *path, size_t cap) {
    const char *suffixes[2] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        int len = snprintf(path, cap, "%s/%s%s", dir, name, suffixes[i]);
        if (len < 0 || (size_t)len >= cap) {
            zoo_set_error("%s/%s: path too long", dir, name);
            return -1;
        }
        if (access(path, F_OK) == 0) return 0;
    }
    bool is_default = strcmp(dir, ZOO_FASHION_MNIST_DIR) == 0;
    zoo_set_error("no %s[.gz] in %s (tried %s/%s and %s/%s.gz)%s", name, dir, dir, name, dir, name,
                  is_default ? "; install Fashion-MNIST with `apt-get install dataset-fashion-mnist`"
                             : "");
    return -1;
}

int zoo_mnist_load(const char *dir, const char *split, zoo_images *out) {
    const char *prefix = NULL;
    if (split && strcmp(split, "train") == 0) prefix = "train";
    if (split && strcmp(split, "test") == 0) prefix = "t10k";
    if (!prefix) {
        zoo_set_error("unknown split '%s' (expected train or test)", split ? split : "(null)");
        return -1;
    }
    if (!dir) dir = ZOO_FASHION_MNIST_DIR;

    char name[64], images_path[4096], labels_path[4096];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    if (find_idx_file(dir, name, images_path, sizeof images_path) != 0) return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (find_idx_file(dir, name, labels_path, sizeof labels_path) != 0) return -1;

    if (zoo_idx_load(images_path, labels_path, out) != 0) return -1;
    /* a subset that lacks the last classes still has ten */
    if (out->n_classes < 10) out->n_classes = 10;
    return 0;
}

/* ---------------------------------------------------------------- datasets */

static int64_t example_bytes(const zoo_images *d) { return (int64_t)d->c * d->h * d->w; }

void zoo_images_free(zoo_images *d) {
    free(d->pixels);
    free(d->labels);
    *d = (zoo_images){0};
}

/* An uninitialized dataset shaped like `like` with n examples. */
static int dataset_alloc(const zoo_images *like, int64_t n, zoo_images *out) {
    zoo_images d = {
        .n = n,
        .c = like->c,
        .h = like->h,
        .w = like->w,
        .n_classes = like->n_classes,
    };
    d.pixels = malloc((size_t)(n * example_bytes(like)));
    d.labels = malloc((size_t)n * sizeof *d.labels);
    if (!d.pixels || !d.labels) {
        zoo_images_free(&d);
        zoo_set_error("out of memory for a dataset of %lld examples", (long long)n);
        return -1;
    }
    *out = d;
    return 0;
}

/* dst gets src's examples idx[0..dst->n) in that order */
static void gather(zoo_images *dst, const zoo_images *src, const int32_t *idx) {
    int64_t size = example_bytes(src);
    for (int64_t i = 0; i < dst->n; i++) {
        memcpy(dst->pixels + i * size, src->pixels + idx[i] * size, (size_t)size);
        dst->labels[i] = src->labels[idx[i]];
    }
}

int zoo_images_head(const zoo_images *d, int64_t count, zoo_images *out) {
    if (count <= 0) {
        zoo_set_error("zoo_images_head: count must be positive, got %lld", (long long)count);
        return -1;
    }
    if (count > d->n) count = d->n;
    zoo_images h;
    if (dataset_alloc(d, count, &h) != 0) return -1;
    memcpy(h.pixels, d->pixels, (size_t)(count * example_bytes(d)));
    memcpy(h.labels, d->labels, (size_t)count * sizeof *h.labels);
    *out = h;
    return 0;
}

int zoo_images_split(const zoo_images *d, double frac, uint64_t seed, zoo_images *train,
                      zoo_images *val) {
    if (d->n > INT32_MAX) {
        zoo_set_error("zoo_images_split: %lld examples is more than it can index", (long long)d->n);
        return -1;
    }
    int64_t n_val = frac > 0 && frac < 1 ? (int64_t)(frac * (double)d->n + 0.5) : 0;
    if (n_val < 1 || n_val >= d->n) {
        zoo_set_error("zoo_images_split: a fraction of %g of %lld examples leaves the train or "
                      "validation set empty",
                      frac, (long long)d->n);
        return -1;
    }
    int32_t *perm = malloc((size_t)d->n * sizeof *perm);
    if (!perm) {
        zoo_set_error("zoo_images_split: out of memory for %lld indices", (long long)d->n);
        return -1;
    }
    for (int64_t i = 0; i < d->n; i++) perm[i] = (int32_t)i;
    zoo_rng r = zoo_rng_new(seed);
    zoo_rng_shuffle(&r, perm, d->n);

    zoo_images t, v;
    int rc = dataset_alloc(d, d->n - n_val, &t);
    if (rc == 0 && (rc = dataset_alloc(d, n_val, &v)) != 0) zoo_images_free(&t);
    if (rc == 0) {
        gather(&t, d, perm);
        gather(&v, d, perm + t.n);
        *train = t;
        *val = v;
    }
    free(perm);
    return rc;
}
