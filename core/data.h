/* Labelled image sets on the host: the IDX reader (MNIST, Fashion-MNIST, EMNIST),
 * copies and splits. Nothing here touches tensors or the backend; dataset.h makes an
 * image set a dataset the training loop batches. */
#ifndef ZOO_DATA_H
#define ZOO_DATA_H

#include "../backends/types.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
ZOO_API int zoo_idx_load(const char *images_path, const char *labels_path, zoo_images *out);

/* Loads split "train" (train-images-idx3-ubyte, train-labels-idx1-ubyte) or "test"
 * (t10k-...) from dir, each file raw or with ".gz"; dir NULL means
 * ZOO_FASHION_MNIST_DIR. n_classes is at least 10. Returns 0 and fills *out (the
 * caller frees with zoo_images_free), or -1 with zoo_last_error() and *out untouched;
 * a missing file's message names the paths tried and, for the default dir, the
 * Debian package that provides it. */
ZOO_API int zoo_mnist_load(const char *dir, const char *split, zoo_images *out);

/* Debian's dataset-fashion-mnist puts the four gzip files here. */
#define ZOO_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Fashion-MNIST's label names, by label. */
ZOO_API extern const char *const zoo_fashion_mnist_classes[10];

/* Frees pixels and labels and zeroes *d; a zeroed dataset may be freed again. */
ZOO_API void zoo_images_free(zoo_images *d);

/* The first min(count, d->n) examples as a new dataset (copies, same n_classes), for
 * small runs; count must be positive. Returns 0 and fills *out (the caller frees with
 * zoo_images_free), or -1 with zoo_last_error() and *out untouched. */
ZOO_API int zoo_images_head(const zoo_images *d, int64_t count, zoo_images *out);

/* Holds out a validation set: permutes the examples with zoo_rng_new(seed), and the
 * last round(frac * n) of the permutation become *val, the rest *train, each in
 * permutation order (copies, same n_classes as d; d is unchanged and must not be one
 * of the outputs). Both parts must end up non-empty. Returns 0 and fills both (the
 * caller frees each with zoo_images_free), or -1 with zoo_last_error() and both
 * untouched. */
ZOO_API int zoo_images_split(const zoo_images *d, double frac, uint64_t seed, zoo_images *train,
                      zoo_images *val);

#ifdef __cplusplus
}
#endif

#endif
