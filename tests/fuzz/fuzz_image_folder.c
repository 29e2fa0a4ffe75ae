/* libFuzzer target: the input is one image file (any format stb_image reads). It is put
 * alone in a folder and loaded with zoo_image_folder_load at a size and channel count
 * taken from the input's length (so both resize paths and both channel counts run), then
 * read with zoo_image_read at want_channels 0 to 4. What loads must have the size asked
 * for, and every byte of it is read (ASan checks the buffers' lengths). */
#include "fuzz_files.h"

#include "core/image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char folder[256];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_files_init();
    snprintf(folder, sizeof folder, "%s", fuzz_path("images"));
    if (mkdir(folder, 0700) != 0) fuzz_fail("cannot create the image folder");
    return 0;
}

/* where byte sums go, so the compiler keeps the loops that read them */
static volatile unsigned sink;

static void read_all(const uint8_t *p, int64_t n) {
    unsigned sum = 0;
    for (int64_t i = 0; i < n; i++) sum += p[i];
    sink = sum;
}

static void check_folder(size_t size) {
    int c = size % 2 ? 3 : 1, h = 1 + (int)(size % 13), w = 1 + (int)(size / 13 % 11);
    zoo_images d;
    if (zoo_image_folder_load(folder, c, h, w, &d) != 0) return;
    if (d.n != 1 || d.c != c || d.h != h || d.w != w || d.n_classes != 1 || d.labels[0] != 0)
        fuzz_fail("a folder of one image loaded as something else");
    read_all(d.pixels, (int64_t)c * h * w);
    zoo_images_free(&d);
}

static void check_read(const char *path, size_t size) {
    int want = (int)(size % 5), w = -1, h = -1, c = -1;
    uint8_t *pixels = zoo_image_read(path, &w, &h, &c, want);
    if (!pixels) {
        if (w != -1 || h != -1 || c != -1) fuzz_fail("a failed read changed its outputs");
        return;
    }
    if (w < 1 || h < 1 || c < 1 || c > 4 || (want && c != want)) fuzz_fail("an image read with impossible sizes");
    read_all(pixels, (int64_t)w * h * c);
    free(pixels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char name[300];
    snprintf(name, sizeof name, "%s/input", folder);
    FILE *fp = fopen(name, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) fuzz_fail("cannot write the input file");
    check_folder(size);
    check_read(name, size);
    return 0;
}
