/* libFuzzer target: the input is a safetensors file. It is opened; every tensor it lists
 * is read into a persistent tensor of its shape; what was read is saved and opened again,
 * which must give the same names, dtypes, shapes and bits (zoo's writer and reader agree
 * on anything the reader accepts). */
#include "fuzz_files.h"

#include "core/io.h"
#include "core/tensor.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (zoo_init("cpu", 1)) fuzz_fail(zoo_last_error());
    fuzz_files_init();
    return 0;
}

/* the tensor `name` of f in a new persistent tensor, or NULL when no zoo tensor has its
 * shape (a dim of 0) */
static zoo_tensor *read_tensor(const zoo_st_file *f, const char *name) {
    zoo_dtype dtype;
    zoo_shape shape;
    if (zoo_st_info(f, name, &dtype, &shape) != 0) fuzz_fail("a listed name has no info");
    zoo_tensor *t = zoo_tensor_new_persistent(dtype, shape);
    if (!t) return NULL;
    if (zoo_st_read(f, name, t) != 0) fuzz_fail("reading a tensor into its own shape and dtype failed");
    return t;
}

static bool same_bits(const zoo_tensor *a, const zoo_tensor *b) {
    if (a->dtype != b->dtype || !zoo_shape_eq(a->shape, b->shape)) return false;
    size_t bytes = (size_t)a->numel * 4;
    unsigned char *x = malloc(bytes + 1), *y = malloc(bytes + 1);
    zoo_tensor_download(a, x);
    zoo_tensor_download(b, y);
    bool same = memcmp(x, y, bytes) == 0;
    free(x);
    free(y);
    return same;
}

/* saves the tensors read from the input, opens the copy and compares */
static void check_round_trip(const zoo_named *named, int k) {
    const char *copy = fuzz_path("copy.safetensors");
    if (zoo_safetensors_save(copy, named, k, NULL, 0) != 0) fuzz_fail("saving what was read failed");
    zoo_st_file *g = zoo_safetensors_open(copy);
    if (!g) fuzz_fail("the saved copy does not open");
    if (zoo_st_count(g) != k) fuzz_fail("the copy holds another number of tensors");
    for (int i = 0; i < k; i++) {
        if (strcmp(zoo_st_name(g, i), named[i].name) != 0) fuzz_fail("the copy names a tensor differently");
        zoo_tensor *t = read_tensor(g, named[i].name);
        if (!t || !same_bits(t, named[i].t)) fuzz_fail("a tensor of the copy differs");
        zoo_tensor_free(t);
    }
    zoo_safetensors_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    zoo_st_file *f = zoo_safetensors_open(fuzz_write("input.safetensors", data, size));
    if (!f) return 0;
    int n = zoo_st_count(f), k = 0;
    zoo_named *named = calloc((size_t)n + 1, sizeof *named);
    for (int i = 0; i < n; i++) {
        const char *name = zoo_st_name(f, i);
        zoo_tensor *t = read_tensor(f, name);
        if (t) named[k++] = (zoo_named){name, t};
    }
    (void)zoo_st_meta(f, "format");
    check_round_trip(named, k);
    for (int i = 0; i < k; i++) zoo_tensor_free((zoo_tensor *)named[i].t);
    free(named);
    zoo_safetensors_close(f);
    zoo_clear_error();
    return 0;
}
