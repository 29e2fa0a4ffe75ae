/* libFuzzer target: the input is an IDX image file and an IDX label file, each raw or
 * gzip (zlib reads either; the seeds hold both):
 *   bytes [0, 4)          L, little-endian: the image file's length (clamped to what is left)
 *   bytes [4, 4 + L)      the image file
 *   bytes [4 + L, end)    the label file
 * zoo_idx_load reads both; when it succeeds the dataset must be what its header says. */
#include "fuzz_files.h"

#include "core/data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_files_init();
    return 0;
}

/* where pixel sums go, so the compiler keeps the loop that reads them */
static volatile unsigned sink;

static void check_dataset(const zoo_images *d) {
    if (d->n < 1 || d->c != 1 || d->h < 1 || d->w < 1 || !d->pixels || !d->labels)
        fuzz_fail("a loaded dataset is malformed");
    if (d->n_classes < 1 || d->n_classes > 256) fuzz_fail("n_classes is outside 1..256");
    unsigned sum = 0;
    int64_t bytes = d->n * d->h * d->w;
    /* every pixel read, so ASan sees a buffer shorter than the dims say */
    for (int64_t i = 0; i < bytes; i++) sum += d->pixels[i];
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->n_classes) fuzz_fail("a label is outside [0, n_classes)");
    sink = sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t len = 0;
    if (size >= 4) {
        len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
        data += 4;
        size -= 4;
    }
    if (len > size) len = size;
    const char *images = fuzz_write("images", data, len);
    const char *labels = fuzz_write("labels", data + len, size - len);
    zoo_images d;
    if (zoo_idx_load(images, labels, &d) == 0) {
        check_dataset(&d);
        zoo_images_free(&d);
    }
    return 0;
}
