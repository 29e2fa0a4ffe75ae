/* Labelled image sets on the host: the IDX reader (MNIST, Fashion-MNIST, EMNIST),
 * copies and splits, and a seeded batch loader. Nothing here touches tensors or the
 * backend; the training loop uploads the batches it gets. */
#ifndef ZOO_DATA_H
#define ZOO_DATA_H

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- datasets */

/* A labelled image set held on the host: n images of c x h x w uint8 pixels,
 * row-major, channels-first, so pixel (i, ch, y, x) is
 * pixels[((i*c + ch)*h + y)*w + x]. A zero-filled struct is an empty dataset. */
typedef struct zoo_images {
    int64_t n;
    int c, h, w;
    uint8_t *pixels;   /* n*c*h*w, owned */
    int32_t *labels;   /* n, owned; values in [0, n_classes) */
    int n_classes;     /* 1 + max label, at least the class count the caller expects */
} zoo_images;

/* Reads an IDX image file (magic 0x00000803: uint8, 3-d [n, h, w]) and its IDX label
 * file (magic 0x00000801: uint8, 1-d [n]) into a dataset with c = 1 and
 * n_classes = 1 + the largest label. Either file may be raw or gzip. Checks the magic,
 * that every dim is positive, that h and w are below 2^16 and n*h*w below 2^31, that
 * the files hold all the bytes the header promises (gzip: also the trailer's CRC),
 * and that both files hold the same count; bytes after the data are ignored.
 * Returns 0 and fills *out (the caller frees with zoo_images_free), or -1 with a
 * message naming the file in zoo_last_error() and *out untouched. */
int zoo_idx_load(const char *images_path, const char *labels_path, zoo_images *out);

/* Loads split "train" (train-images-idx3-ubyte, train-labels-idx1-ubyte) or "test"
 * (t10k-...) from dir, each file raw or with ".gz"; dir NULL means
 * ZOO_FASHION_MNIST_DIR. n_classes is at least 10. Returns 0 and fills *out (the
 * caller frees with zoo_images_free), or -1 with zoo_last_error() and *out untouched;
 * a missing file's message names the paths tried and, for the default dir, the
 * Debian package that provides it. */
int zoo_mnist_load(const char *dir, const char *split, zoo_images *out);

/* Debian's dataset-fashion-mnist puts the four gzip files here. */
#define ZOO_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Fashion-MNIST's label names, by label. */
extern const char *const zoo_fashion_mnist_classes[10];

/* Frees pixels and labels and zeroes *d; a zeroed dataset may be freed again. */
void zoo_images_free(zoo_images *d);

/* The first min(count, d->n) examples as a new dataset (copies, same n_classes), for
 * small runs; count must be positive. Returns 0 and fills *out (the caller frees with
 * zoo_images_free), or -1 with zoo_last_error() and *out untouched. */
int zoo_images_head(const zoo_images *d, int64_t count, zoo_images *out);

/* Holds out a validation set: permutes the examples with zoo_rng_new(seed), and the
 * last round(frac * n) of the permutation become *val, the rest *train, each in
 * permutation order (copies, same n_classes as d; d is unchanged and must not be one
 * of the outputs). Both parts must end up non-empty. Returns 0 and fills both (the
 * caller frees each with zoo_images_free), or -1 with zoo_last_error() and both
 * untouched. */
int zoo_images_split(const zoo_images *d, double frac, uint64_t seed, zoo_images *train,
                      zoo_images *val);

/* ---------------------------------------------------------------- loader */

/* Batches in a seeded order. The order of epoch e is a shuffle of 0..n-1 with
 * zoo_rng_stream(seed, e) (identity when shuffle is false), so (epoch, batch index)
 * alone says what a batch holds: resuming at a step reproduces the same batches.
 * Batch k of an epoch holds order[k*batch ..]. The loader reads d but does not own
 * it: d must outlive the loader. */
typedef struct zoo_loader {
    const zoo_images *d;
    int64_t batch;
    bool shuffle, drop_last;
    uint64_t seed;
    int32_t *order;  /* d->n indices, the order of `epoch`; owned */
    int64_t epoch;
    int64_t pos;     /* next batch starts at order[pos] */
} zoo_loader;

/* Starts at batch 0 of epoch 0. 0, or -1 with zoo_last_error() when batch is not
 * positive or d is empty. The caller frees with zoo_loader_free. */
int zoo_loader_init(zoo_loader *l, const zoo_images *d, int64_t batch, bool shuffle,
                     bool drop_last, uint64_t seed);
void zoo_loader_free(zoo_loader *l);

/* n / batch with drop_last (0 when batch > n), else ceil(n / batch) */
int64_t zoo_loader_batches_per_epoch(const zoo_loader *l);

/* Positions the loader at batch `index` of epoch `epoch`, 0 <= index <=
 * batches_per_epoch (index == batches_per_epoch: the next call ends the epoch). */
int zoo_loader_seek(zoo_loader *l, int64_t epoch, int64_t index); /* 0, or -1 outside */

/* Fills images ([batch, c, h, w] floats, pixels / 255 so in [0, 1]) and labels
 * ([batch]), both the caller's, sized for a full batch. Returns the number of examples
 * written: batch, or fewer only for the last batch when drop_last is false. Returns 0
 * at the end of the epoch, and the loader has then moved to the next epoch, so the
 * next call returns that epoch's first batch. */
int64_t zoo_loader_next(zoo_loader *l, float *images, int32_t *labels);

#endif
