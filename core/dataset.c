/* Datasets, batches and the loader (dataset.h), and the adapter that makes labelled
 * images a dataset. */
#include "dataset.h"

#include "internal.h"

#include <stdlib.h>
#include <string.h>

int64_t zoo_field_numel(const zoo_field *f) { return zoo_shape_numel(f->shape); }

int zoo_dataset_field(const zoo_dataset *d, const char *name) {
    for (int i = 0; i < d->n_fields; i++)
        if (strcmp(d->fields[i].name, name) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------- images */

/* dst[i] = src[i] / 255; simd because -O2 leaves the uint8 -> float loop scalar */
static void to_unit_floats(float *restrict dst, const uint8_t *restrict src, int64_t n) {
    const float scale = 1.0f / 255.0f;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i] * scale;
}

static int images_fill(const zoo_dataset *d, const int64_t *idx, int64_t count, void *const *dst) {
    const zoo_images *im = d->src;
    int64_t size = (int64_t)im->c * im->h * im->w;
    float *x = dst[0];
    int32_t *y = dst[1];
    for (int64_t i = 0; i < count; i++) {
        to_unit_floats(x + i * size, im->pixels + idx[i] * size, size);
        y[i] = im->labels[idx[i]];
    }
    return 0;
}

zoo_dataset zoo_images_dataset(const zoo_images *im) {
    return (zoo_dataset){
        .n = im->n,
        .n_fields = 2,
        .fields = {{"image", ZOO_F32, zoo_shape3(im->c, im->h, im->w)}, {"label", ZOO_I32, {0, {1, 1, 1, 1}}}},
        .n_classes = im->n_classes,
        .fill = images_fill,
        .src = im,
    };
}

/* ---------------------------------------------------------------- text */

static int text_fill(const zoo_dataset *d, const int64_t *idx, int64_t count, void *const *dst) {
    const zoo_text *t = d->src;
    int64_t block = d->arg;
    int32_t *x = dst[0], *y = dst[1];
    for (int64_t i = 0; i < count; i++) {
        memcpy(x + i * block, t->tokens + idx[i], (size_t)block * sizeof *x);
        memcpy(y + i * block, t->tokens + idx[i] + 1, (size_t)block * sizeof *y);
    }
    return 0;
}

zoo_dataset zoo_text_dataset(const zoo_text *t, int64_t block) {
    return (zoo_dataset){
        .n = block > 0 ? t->n - block : 0,
        .n_fields = 2,
        .fields = {{"tokens", ZOO_I32, zoo_shape1(block)}, {"targets", ZOO_I32, zoo_shape1(block)}},
        .n_classes = t->vocab_size,
        .fill = text_fill,
        .src = t,
        .arg = block,
    };
}

/* ---------------------------------------------------------------- batches */

zoo_tensor *zoo_batch_get(const zoo_batch *b, const char *name) {
    for (int i = 0; i < b->n_fields; i++)
        if (strcmp(b->names[i], name) == 0) return b->t[i];
    char have[256] = "";
    size_t k = 0;
    for (int i = 0; i < b->n_fields && k < sizeof have; i++)
        k += (size_t)snprintf(have + k, sizeof have - k, "%s%s", i ? ", " : "", b->names[i]);
    zoo_set_error("the batch has no field '%s' (it has: %s)", name, b->n_fields ? have : "none");
    return NULL;
}

/* field f of count examples, as a [count, shape...] tensor */
static zoo_shape batch_shape(const zoo_field *f, int64_t count) {
    zoo_shape s = {f->shape.ndim + 1, {count, 1, 1, 1}};
    for (int i = 0; i < f->shape.ndim; i++) s.d[i + 1] = f->shape.d[i];
    return s;
}

/* rows [first, first + count) of host's `total` rows of each field, as a batch */
static int upload_rows(const zoo_dataset *d, void *const *host, int64_t first, int64_t count, int64_t total,
                       zoo_batch *out) {
    *out = (zoo_batch){.n = count, .first = first, .total = total, .n_fields = d->n_fields};
    for (int f = 0; f < d->n_fields; f++) {
        const zoo_field *fd = &d->fields[f];
        zoo_tensor *t = zoo_tensor_new(fd->dtype, batch_shape(fd, count));
        if (!t) return -1;
        zoo_tensor_upload(t, (const char *)host[f] + (size_t)(first * zoo_field_numel(fd)) * 4); /* f32 or i32 */
        out->names[f] = fd->name;
        out->t[f] = t;
    }
    return 0;
}

static bool check_fields(const zoo_dataset *d, const char *who) {
    if (d->n_fields < 1 || d->n_fields > ZOO_MAX_FIELDS || !d->fill) {
        zoo_set_error("%s: the dataset has %d fields and %s fill function", who, d->n_fields,
                      d->fill ? "a" : "no");
        return false;
    }
    for (int f = 0; f < d->n_fields; f++)
        if (d->fields[f].shape.ndim < 0 || d->fields[f].shape.ndim > ZOO_MAX_DIMS - 1) {
            zoo_set_error("%s: field %s has %d dims; a field has at most %d (its batch adds one)", who,
                          d->fields[f].name, d->fields[f].shape.ndim, ZOO_MAX_DIMS - 1);
            return false;
        }
    return true;
}

/* host buffers for count examples of every field */
static int alloc_host(const zoo_dataset *d, int64_t count, void **host) {
    for (int f = 0; f < d->n_fields; f++) {
        host[f] = malloc((size_t)(count * zoo_field_numel(&d->fields[f])) * 4);
        if (!host[f]) {
            zoo_set_error("out of host memory for a batch of %lld examples", (long long)count);
            for (int g = 0; g < f; g++) free(host[g]);
            return -1;
        }
    }
    return 0;
}

int zoo_dataset_batch_at(const zoo_dataset *d, const int64_t *idx, int64_t count, zoo_batch *out) {
    if (!check_fields(d, "zoo_dataset_batch")) return -1;
    for (int64_t i = 0; i < count; i++)
        if (idx[i] < 0 || idx[i] >= d->n) {
            zoo_set_error("zoo_dataset_batch: example %lld of a dataset of %lld", (long long)idx[i], (long long)d->n);
            return -1;
        }
    void *host[ZOO_MAX_FIELDS];
    if (count < 1 || alloc_host(d, count, host)) {
        if (count < 1) zoo_set_error("zoo_dataset_batch: a batch of %lld examples", (long long)count);
        return -1;
    }
    int rc = d->fill(d, idx, count, host);
    if (rc == 0) rc = upload_rows(d, host, 0, count, count, out);
    for (int f = 0; f < d->n_fields; f++) free(host[f]);
    return rc;
}

int zoo_dataset_batch(const zoo_dataset *d, int64_t start, int64_t count, zoo_batch *out) {
    if (start < 0 || count < 1 || start > d->n - count) {
        zoo_set_error("zoo_dataset_batch: examples %lld..%lld of a dataset of %lld", (long long)start,
                      (long long)(start + count - 1), (long long)d->n);
        return -1;
    }
    int64_t *idx = malloc((size_t)count * sizeof *idx);
    if (!idx) {
        zoo_set_error("out of host memory for a batch of %lld examples", (long long)count);
        return -1;
    }
    for (int64_t i = 0; i < count; i++) idx[i] = start + i;
    int rc = zoo_dataset_batch_at(d, idx, count, out);
    free(idx);
    return rc;
}

/* ---------------------------------------------------------------- loader */

/* zoo_rng_shuffle's Fisher-Yates, the same draws, over int64 indices */
static void shuffle(zoo_rng *r, int64_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = zoo_rng_below(r, (uint32_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static void loader_set_epoch(zoo_loader *l, int64_t epoch) {
    for (int64_t i = 0; i < l->d.n; i++) l->order[i] = i;
    if (l->shuffle) {
        zoo_rng r = zoo_rng_stream(l->seed, (uint64_t)epoch);
        shuffle(&r, l->order, l->d.n);
    }
    l->epoch = epoch;
    l->pos = 0;
}

int zoo_loader_init(zoo_loader *l, const zoo_dataset *d, int64_t batch, bool shuffle, bool drop_last,
                    uint64_t seed) {
    *l = (zoo_loader){0};
    if (!check_fields(d, "zoo_loader_init")) return -1;
    if (batch <= 0) {
        zoo_set_error("zoo_loader_init: batch must be positive, got %lld", (long long)batch);
        return -1;
    }
    if (d->n <= 0 || d->n > UINT32_MAX) {
        zoo_set_error("zoo_loader_init: the dataset has %lld examples; the loader takes 1 to 2^32 - 1", (long long)d->n);
        return -1;
    }
    int64_t b = batch < d->n ? batch : d->n;
    int64_t *order = malloc((size_t)d->n * sizeof *order);
    void *host[ZOO_MAX_FIELDS] = {0};
    if (!order || alloc_host(d, b, host)) {
        if (!order) zoo_set_error("zoo_loader_init: out of host memory for %lld indices", (long long)d->n);
        free(order);
        return -1;
    }
    *l = (zoo_loader){.d = *d, .batch = batch, .shuffle = shuffle, .drop_last = drop_last, .seed = seed,
                      .order = order};
    memcpy(l->host, host, sizeof host);
    loader_set_epoch(l, 0);
    return 0;
}

void zoo_loader_free(zoo_loader *l) {
    free(l->order);
    for (int f = 0; f < ZOO_MAX_FIELDS; f++) free(l->host[f]);
    *l = (zoo_loader){0};
}

int64_t zoo_loader_batches_per_epoch(const zoo_loader *l) {
    return l->drop_last ? l->d.n / l->batch : (l->d.n + l->batch - 1) / l->batch;
}

int zoo_loader_seek(zoo_loader *l, int64_t epoch, int64_t index) {
    int64_t batches = zoo_loader_batches_per_epoch(l);
    if (epoch < 0 || index < 0 || index > batches) {
        zoo_set_error("zoo_loader_seek: epoch %lld, batch %lld is outside [0, %lld] batches", (long long)epoch,
                      (long long)index, (long long)batches);
        return -1;
    }
    if (epoch != l->epoch) loader_set_epoch(l, epoch);
    l->pos = index * l->batch;
    return 0;
}

int zoo_loader_next_host(zoo_loader *l, int64_t *n) {
    int64_t count = l->d.n - l->pos < l->batch ? l->d.n - l->pos : l->batch;
    *n = 0;
    if (count <= 0 || (l->drop_last && count < l->batch)) {
        loader_set_epoch(l, l->epoch + 1);
        return 0;
    }
    if (l->d.fill(&l->d, l->order + l->pos, count, l->host)) return -1;
    l->pos += count;
    *n = count;
    return 0;
}

int zoo_loader_next(zoo_loader *l, zoo_batch *out) {
    int64_t n;
    *out = (zoo_batch){0};
    if (zoo_loader_next_host(l, &n)) return -1;
    return n ? upload_rows(&l->d, l->host, 0, n, n, out) : 0;
}

void zoo_split(int64_t n, int part, int parts, int64_t *first, int64_t *count) {
    int64_t base = n / parts, extra = n % parts;
    *first = part * base + (part < extra ? part : extra);
    *count = base + (part < extra ? 1 : 0);
}

int zoo_loader_next_part(zoo_loader *l, int part, int parts, zoo_batch *out) {
    int64_t n, first, count;
    *out = (zoo_batch){0};
    if (zoo_loader_next_host(l, &n)) return -1;
    if (!n) return 0;
    zoo_split(n, part, parts, &first, &count);
    if (count < 1) {
        zoo_set_error("a batch of %lld examples cannot be split %d ways: every process needs one", (long long)n, parts);
        return -1;
    }
    return upload_rows(&l->d, l->host, first, count, n, out);
}
