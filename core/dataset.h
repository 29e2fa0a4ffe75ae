/* Training data for any model: a dataset says what one example holds (named fields of
 * any dtype and shape: an image and its label, a window of tokens and the next ones)
 * and copies examples out on request; a batch is those fields for a set of examples,
 * as tensors on the backend; the loader walks a dataset in a seeded order and hands
 * the training loop one batch per step. zoo_images and zoo_text become datasets through
 * their adapters; a program can write its own (fill a zoo_dataset). */
#ifndef ZOO_DATASET_H
#define ZOO_DATASET_H

#include "data.h"
#include "tensor.h"
#include "text.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_MAX_FIELDS 8

/* One field of an example: name, dtype and the example's own shape (ndim 0 for a
 * single value, such as a label). A batch of n holds it as [n, shape...]. */
typedef struct zoo_field {
    const char *name;
    zoo_dtype dtype;
    zoo_shape shape;
} zoo_field;

typedef struct zoo_dataset zoo_dataset;

/* Copies examples idx[0..count) of every field: dst[f] receives count examples of
 * field f back to back (floats or int32 as its dtype says). 0, or -1 with
 * zoo_last_error(). */
typedef int (*zoo_fill_fn)(const zoo_dataset *d, const int64_t *idx, int64_t count, void *const *dst);

struct zoo_dataset {
    int64_t n; /* examples */
    int n_fields;
    zoo_field fields[ZOO_MAX_FIELDS];
    /* the number of values a discrete field takes (classes of a label, the vocabulary
       of a text): ids are in [0, n_classes); 0 when the data has none */
    int n_classes;
    zoo_fill_fn fill;
    const void *src; /* what fill reads (not owned) */
    int64_t arg;     /* a setting of fill's (a text window's length) */
};

/* Labelled images as a dataset: "image" float [c, h, w] (pixels / 255, in [0, 1]) and
 * "label" int32 (one value). It reads im, which must outlive it. */
ZOO_API zoo_dataset zoo_images_dataset(const zoo_images *im);

/* A text as a dataset of windows: example i is "tokens", the ids t[i .. i+block), and
 * "targets", the ids one further, t[i+1 .. i+block] (what a language model predicts),
 * both int32 [block]; t->n - block examples, n_classes the vocabulary's size. It reads
 * t, which must outlive it. A text of block tokens or fewer gives n <= 0, which the
 * loader refuses with a message. */
ZOO_API zoo_dataset zoo_text_dataset(const zoo_text *t, int64_t block);

/* elements of one example of field f */
ZOO_API int64_t zoo_field_numel(const zoo_field *f);
/* the index of the field called name, or -1 */
ZOO_API int zoo_dataset_field(const zoo_dataset *d, const char *name);

/* ---------------------------------------------------------------- batches */

/* A batch: n examples of every field of its dataset, as step-scoped tensors
 * [n, field shape...] named like the fields. */
typedef struct zoo_batch {
    int64_t n;
    /* the rows are [first, first + n) of a batch of total (data-parallel training hands
       each process part of one; alone, first 0 and total n) */
    int64_t first, total;
    int n_fields;
    const char *names[ZOO_MAX_FIELDS];
    zoo_tensor *t[ZOO_MAX_FIELDS];
} zoo_batch;

/* the tensor of field name, or NULL with zoo_last_error() naming the fields there are */
ZOO_API zoo_tensor *zoo_batch_get(const zoo_batch *b, const char *name);

/* Examples [start, start + count) of d as a batch, in the current scope (evaluation
 * walks a dataset this way). 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_dataset_batch(const zoo_dataset *d, int64_t start, int64_t count, zoo_batch *out);
/* the same for examples idx[0..count), each in [0, d->n) */
ZOO_API int zoo_dataset_batch_at(const zoo_dataset *d, const int64_t *idx, int64_t count, zoo_batch *out);

/* ---------------------------------------------------------------- loader */

/* Batches in a seeded order. The order of epoch e is a shuffle of 0..n-1 with
 * zoo_rng_stream(seed, e) (identity when shuffle is false), so (epoch, batch index)
 * alone says what a batch holds: resuming at a step reproduces the same batches.
 * Batch k of an epoch holds order[k*batch ..]. The loader reads d (copied) but not
 * what d reads, which must outlive it. */
typedef struct zoo_loader {
    zoo_dataset d;
    int64_t batch;
    bool shuffle, drop_last;
    uint64_t seed;
    int64_t *order; /* d.n indices, the order of `epoch`; owned */
    int64_t epoch;
    int64_t pos;    /* the next batch starts at order[pos] */
    void *host[ZOO_MAX_FIELDS]; /* one batch of each field on the host; owned */
} zoo_loader;

/* Starts at batch 0 of epoch 0. 0, or -1 with zoo_last_error() when batch is not
 * positive, d is empty or has no fields. The caller frees with zoo_loader_free. */
ZOO_API int zoo_loader_init(zoo_loader *l, const zoo_dataset *d, int64_t batch, bool shuffle, bool drop_last,
                            uint64_t seed);
ZOO_API void zoo_loader_free(zoo_loader *l);

/* n / batch with drop_last (0 when batch > n), else ceil(n / batch) */
ZOO_API int64_t zoo_loader_batches_per_epoch(const zoo_loader *l);

/* Positions the loader at batch `index` of epoch `epoch`, 0 <= index <=
 * batches_per_epoch (index == batches_per_epoch: the next call ends the epoch).
 * 0, or -1 with zoo_last_error() outside that range. */
ZOO_API int zoo_loader_seek(zoo_loader *l, int64_t epoch, int64_t index);

/* The next batch on the host: the loader's own buffers (l->host[f], valid until the
 * next call), *n examples: batch, or fewer only for the last batch without drop_last.
 * *n is 0 at the end of the epoch, and the loader has then moved to the next epoch,
 * so the next call returns that epoch's first batch. 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_loader_next_host(zoo_loader *l, int64_t *n);

/* zoo_loader_next_host, uploaded as a batch in the current scope; out->n 0 at the end
 * of an epoch. 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_loader_next(zoo_loader *l, zoo_batch *out);
/* The same, keeping part `part` of the batch split into `parts` near-equal row ranges
 * (zoo_split); out->first and out->total say where its rows sit in the whole. */
ZOO_API int zoo_loader_next_part(zoo_loader *l, int part, int parts, zoo_batch *out);
/* rows [*first, *first + *count) of n split into `parts` near-equal ranges in order
 * (the first n % parts take one more): part `part`'s */
ZOO_API void zoo_split(int64_t n, int part, int parts, int64_t *first, int64_t *count);

#ifdef __cplusplus
}
#endif

#endif
