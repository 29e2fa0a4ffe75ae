/* Safetensors checkpoints: bit-exact round trips, the byte layout PyTorch's loader
 * expects, atomic saves, and corrupt files refused with a message instead of a crash. */
#include "test.h"
#include "test_files.h"

#include "core/internal.h"
#include "core/io.h"
#include "core/tensor.h"

#include <cJSON.h>

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* every file of this run lives here; main removes it */
static char root[] = "/tmp/zoo-test-io-XXXXXX";

/* ---------------------------------------------------------------- helpers */

static void path_to(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", root, name); }

static bool write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(bytes, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* the whole file (the caller frees), NULL when unreadable */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    struct stat st;
    fstat(fileno(fp), &st);
    *n = (size_t)st.st_size;
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, fp) != *n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    return b;
}

/* Writes a safetensors file by hand: `length` as the u64 header length, then the header
 * text with ' turned into " (so headers read cleanly here), then data_bytes bytes of data.
 * length 0 means the header's own length. */
static void write_raw(const char *path, uint64_t length, const char *header, size_t data_bytes) {
    size_t hlen = strlen(header), total = 8 + hlen + data_bytes;
    unsigned char *b = calloc(1, total);
    if (!length) length = hlen;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(length >> (8 * i));
    for (size_t i = 0; i < hlen; i++) b[8 + i] = header[i] == '\'' ? '"' : (unsigned char)header[i];
    for (size_t i = 0; i < data_bytes; i++) b[8 + hlen + i] = (unsigned char)i;
    write_bytes(path, b, total);
    free(b);
}

/* opening path fails, and the message names the file and contains `what` */
static bool rejected(const char *path, const char *what) {
    zoo_st_file *f = zoo_safetensors_open(path);
    if (f) {
        zoo_safetensors_close(f);
        fprintf(stderr, "  %s opened, expected an error with \"%s\"\n", path, what);
        return false;
    }
    const char *err = zoo_last_error();
    if (strstr(err, path) && strstr(err, what)) return true;
    fprintf(stderr, "  expected \"%s\" in: %s\n", what, err);
    return false;
}



/* a persistent tensor holding raw 32-bit patterns (floats or ints alike) */
static zoo_tensor *tensor_with_bits(zoo_dtype dtype, zoo_shape shape, const uint32_t *bits) {
    zoo_tensor *t = zoo_tensor_new_persistent(dtype, shape);
    zoo_tensor_upload(t, bits);
    return t;
}

static uint32_t *random_bits(int64_t n, uint32_t seed) {
    uint32_t *b = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        b[i] = seed ^ (seed >> 15);
    }
    return b;
}

/* t's elements are exactly these bits */
static bool holds_bits(const zoo_tensor *t, const uint32_t *bits) {
    uint32_t *got = malloc((size_t)t->numel * 4);
    zoo_tensor_download(t, got);
    bool same = memcmp(got, bits, (size_t)t->numel * 4) == 0;
    free(got);
    return same;
}

/* ---------------------------------------------------------------- round trips */

TEST(f32_and_i32_tensors_and_metadata_round_trip_bit_exactly) {
    /* NaN payloads, -0, denormals and infinities must survive as bits, not as values */
    uint32_t special[8] = {0x7fc00001u, 0xffffffffu, 0x80000000u, 0x00000001u,
                           0x7f800000u, 0xff800000u, 0x3f800000u, 0x7f7fffffu};
    uint32_t ints[4] = {0x80000000u, 0x7fffffffu, 0xffffffffu, 0};
    zoo_shape shapes[7] = {zoo_shape1(8), zoo_shape2(3, 5), zoo_shape3(2, 3, 4), zoo_shape4(2, 1, 3, 2),
                           {0, {1, 1, 1, 1}}, zoo_shape1(4), zoo_shape2(2, 3)};
    zoo_dtype dtypes[7] = {ZOO_F32, ZOO_F32, ZOO_F32, ZOO_F32, ZOO_F32, ZOO_I32, ZOO_I32};
    const char *names[7] = {"special", "fc1.weight", "conv.w", "four.dims", "scalar", "ints", "labels"};
    uint32_t *bits[7];
    zoo_tensor *src[7];
    zoo_named named[7];
    for (int i = 0; i < 7; i++) {
        bits[i] = random_bits(zoo_shape_numel(shapes[i]), 7u + (uint32_t)i);
        if (i == 0) memcpy(bits[i], special, sizeof special);
        if (i == 5) memcpy(bits[i], ints, sizeof ints);
        src[i] = tensor_with_bits(dtypes[i], shapes[i], bits[i]);
        named[i] = (zoo_named){names[i], src[i]};
    }
    zoo_kv meta[3] = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n tab \t \xc3\xa9 \xe6\x97\xa5"}, {"empty", ""}};
    char path[256];
    path_to(path, sizeof path, "round_trip.safetensors");
    CHECK(zoo_safetensors_save(path, named, 7, meta, 3) == 0);

    zoo_st_file *f = zoo_safetensors_open(path);
    CHECK(f != NULL);
    if (!f) return;
    CHECK(zoo_st_count(f) == 7);
    CHECK(zoo_st_name(f, 7) == NULL && zoo_st_name(f, -1) == NULL);
    CHECK(zoo_scope_depth() == 0); /* reads go into scope-less persistent tensors */
    for (int i = 0; i < 7; i++) {
        zoo_dtype dtype;
        zoo_shape shape;
        CHECK(strcmp(zoo_st_name(f, i), names[i]) == 0);
        CHECK(zoo_st_info(f, names[i], &dtype, &shape) == 0);
        CHECK(dtype == dtypes[i] && zoo_shape_eq(shape, shapes[i]));
        zoo_tensor *dst = zoo_tensor_new_persistent(dtypes[i], shapes[i]);
        CHECK(zoo_st_read(f, names[i], dst) == 0);
        CHECK(holds_bits(dst, bits[i]));
        zoo_tensor_free(dst);
    }
    for (int i = 0; i < 3; i++) CHECK(zoo_st_meta(f, meta[i].key) && strcmp(zoo_st_meta(f, meta[i].key), meta[i].value) == 0);
    CHECK(zoo_st_meta(f, "absent") == NULL);
    CHECK(zoo_st_info(f, "absent", NULL, NULL) == -1);

    zoo_scope_begin(); /* step-scoped tensors load too */
    zoo_tensor *scoped = zoo_tensor_new(ZOO_F32, shapes[1]);
    CHECK(zoo_st_read(f, names[1], scoped) == 0);
    CHECK(holds_bits(scoped, bits[1]));
    zoo_scope_end();

    zoo_safetensors_close(f);
    for (int i = 0; i < 7; i++) {
        zoo_tensor_free(src[i]);
        free(bits[i]);
    }
}

TEST(a_checkpoint_without_tensors_or_metadata_round_trips) {
    char path[256];
    path_to(path, sizeof path, "empty_checkpoint.safetensors");
    CHECK(zoo_safetensors_save(path, NULL, 0, NULL, 0) == 0);
    size_t n = 0;
    unsigned char *b = read_bytes(path, &n);
    /* the reference writer's empty file: length 8, then "{}" and six spaces */
    CHECK(b && n == 16 && b[0] == 8 && memcmp(b + 8, "{}      ", 8) == 0);
    free(b);
    zoo_st_file *f = zoo_safetensors_open(path);
    CHECK(f && zoo_st_count(f) == 0 && zoo_st_meta(f, "format") == NULL);
    zoo_safetensors_close(f);
}

/* ---------------------------------------------------------------- layout */

TEST(the_header_is_padded_json_whose_offsets_tile_the_data_buffer) {
    uint32_t *bits[3];
    zoo_tensor *t[3];
    zoo_shape shapes[3] = {zoo_shape2(3, 3), zoo_shape1(5), zoo_shape3(1, 2, 3)};
    const char *names[3] = {"b", "a", "c"}; /* written in the order given, not sorted */
    zoo_named named[3];
    for (int i = 0; i < 3; i++) {
        bits[i] = random_bits(zoo_shape_numel(shapes[i]), 100u + (uint32_t)i);
        t[i] = tensor_with_bits(i == 1 ? ZOO_I32 : ZOO_F32, shapes[i], bits[i]);
        named[i] = (zoo_named){names[i], t[i]};
    }
    zoo_kv meta = {"format", "pt"};
    char path[256];
    path_to(path, sizeof path, "layout.safetensors");
    CHECK(zoo_safetensors_save(path, named, 3, &meta, 1) == 0);

    size_t size = 0;
    unsigned char *b = read_bytes(path, &size);
    CHECK(b != NULL && size > 8);
    if (!b) return;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)b[i] << (8 * i);
    CHECK(hlen % 8 == 0);
    CHECK(8 + hlen + (9 + 5 + 6) * 4 == size);
    CHECK(b[8] == '{');
    size_t last = 8 + (size_t)hlen - 1;
    while (b[last] == ' ') last--; /* padding is spaces only, after the closing brace */
    CHECK(b[last] == '}' && 8 + hlen - 1 - last < 8);

    cJSON *header = cJSON_ParseWithLength((const char *)b + 8, (size_t)hlen);
    CHECK(header && cJSON_IsObject(header));
    if (!header) {
        free(b);
        return;
    }
    CHECK(strcmp(header->child->string, "__metadata__") == 0);
    CHECK(strcmp(cJSON_GetObjectItem(header, "__metadata__")->child->valuestring, "pt") == 0);
    int64_t offset = 0;
    for (int i = 0; i < 3; i++) {
        cJSON *e = cJSON_GetObjectItem(header, names[i]);
        cJSON *shape = cJSON_GetObjectItem(e, "shape"), *offsets = cJSON_GetObjectItem(e, "data_offsets");
        CHECK(strcmp(cJSON_GetObjectItem(e, "dtype")->valuestring, i == 1 ? "I32" : "F32") == 0);
        CHECK(cJSON_GetArraySize(shape) == shapes[i].ndim);
        for (int d = 0; d < shapes[i].ndim; d++) CHECK(cJSON_GetArrayItem(shape, d)->valuedouble == (double)shapes[i].d[d]);
        int64_t begin = (int64_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
        int64_t end = (int64_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
        CHECK(begin == offset && end == offset + zoo_shape_numel(shapes[i]) * 4);
        /* the data bytes are the elements, little-endian */
        CHECK(memcmp(b + 8 + hlen + begin, bits[i], (size_t)(end - begin)) == 0);
        offset = end;
    }
    cJSON_Delete(header);
    free(b);
    for (int i = 0; i < 3; i++) {
        zoo_tensor_free(t[i]);
        free(bits[i]);
    }
}

/* What `safetensors.torch.save_file({"a": torch.tensor([[1.5, -2.0], [0.25, 3.0]])}, path)`
 * writes: compact JSON, keys in this order, spaces to a multiple of 8, then the floats. */
static const char python_header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}       ";
static const unsigned char python_data[16] = {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0,
                                              0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x40, 0x40};
static const float python_values[4] = {1.5f, -2.0f, 0.25f, 3.0f};

static size_t python_file(unsigned char *out) {
    size_t hlen = sizeof python_header - 1;
    memset(out, 0, 8);
    out[0] = (unsigned char)hlen;
    memcpy(out + 8, python_header, hlen);
    memcpy(out + 8 + hlen, python_data, sizeof python_data);
    return 8 + hlen + sizeof python_data;
}

TEST(a_file_written_by_python_safetensors_loads) {
    unsigned char bytes[128];
    size_t n = python_file(bytes);
    CHECK(sizeof python_header - 1 == 64);
    char path[256];
    path_to(path, sizeof path, "from_python.safetensors");
    CHECK(write_bytes(path, bytes, n));
    zoo_st_file *f = zoo_safetensors_open(path);
    CHECK(f != NULL);
    if (!f) return;
    zoo_tensor *a = zoo_tensor_new_persistent(ZOO_F32, zoo_shape2(2, 2));
    float got[4] = {0};
    CHECK(zoo_st_read(f, "a", a) == 0);
    zoo_tensor_download(a, got);
    CHECK(memcmp(got, python_values, sizeof got) == 0);
    zoo_tensor_free(a);
    zoo_safetensors_close(f);
}

TEST(zoo_writes_the_same_bytes_as_python_safetensors) {
    unsigned char want[128];
    size_t want_n = python_file(want);
    zoo_tensor *a = zoo_tensor_new_persistent(ZOO_F32, zoo_shape2(2, 2));
    zoo_tensor_upload(a, python_values);
    zoo_named named = {"a", a};
    char path[256];
    path_to(path, sizeof path, "like_python.safetensors");
    CHECK(zoo_safetensors_save(path, &named, 1, NULL, 0) == 0);
    size_t n = 0;
    unsigned char *got = read_bytes(path, &n);
    CHECK(got && n == want_n && memcmp(got, want, n) == 0);
    free(got);

    /* with metadata, as transformers' save_pretrained adds: __metadata__ comes first */
    zoo_kv meta = {"format", "pt"};
    const char *header = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    CHECK(zoo_safetensors_save(path, &named, 1, &meta, 1) == 0);
    got = read_bytes(path, &n);
    CHECK(got && n == 8 + padded + 16 && got[0] == padded && memcmp(got + 8, header, hlen) == 0);
    CHECK(got && memcmp(got + 8 + padded, python_data, 16) == 0);
    free(got);
    zoo_tensor_free(a);
}

/* ---------------------------------------------------------------- atomic saves */

static zoo_tensor *filled(zoo_shape shape, float v) {
    zoo_tensor *t = zoo_tensor_new_persistent(ZOO_F32, shape);
    zoo_tensor_fill(t, v);
    return t;
}

TEST(saving_over_a_checkpoint_replaces_it_whole_and_leaves_no_temp_files) {
    char dir[256], path[300];
    path_to(dir, sizeof dir, "overwrite");
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    zoo_tensor *old = filled(zoo_shape2(4, 4), 1.0f), *new = filled(zoo_shape1(3), 2.0f);
    CHECK(zoo_safetensors_save(path, &(zoo_named){"w", old}, 1, NULL, 0) == 0);
    CHECK(zoo_safetensors_save(path, &(zoo_named){"w", new}, 1, NULL, 0) == 0);
    CHECK(count_entries(dir) == 1);
    zoo_st_file *f = zoo_safetensors_open(path);
    zoo_shape shape;
    CHECK(f && zoo_st_info(f, "w", NULL, &shape) == 0 && zoo_shape_eq(shape, zoo_shape1(3)));
    zoo_safetensors_close(f);
    zoo_tensor_free(old);
    zoo_tensor_free(new);
}

TEST(a_failed_save_leaves_the_old_file_untouched_and_no_temp_files) {
    char dir[256], path[300];
    path_to(dir, sizeof dir, "failed_save");
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    zoo_tensor *w = filled(zoo_shape2(2, 2), 1.0f);
    CHECK(zoo_safetensors_save(path, &(zoo_named){"w", w}, 1, NULL, 0) == 0);
    size_t before_n = 0, after_n = 0;
    unsigned char *before = read_bytes(path, &before_n);

    zoo_named twice[2] = {{"w", w}, {"w", w}};
    CHECK(zoo_safetensors_save(path, twice, 2, NULL, 0) == -1);
    CHECK(strstr(zoo_last_error(), "'w' appears twice") != NULL);
    zoo_named reserved = {"__metadata__", w};
    CHECK(zoo_safetensors_save(path, &reserved, 1, NULL, 0) == -1);

    /* fails at the rename, after the temp file was written: a directory is in the way */
    char blocked[300];
    snprintf(blocked, sizeof blocked, "%s/is_a_directory", dir);
    mkdir(blocked, 0700);
    CHECK(zoo_safetensors_save(blocked, &(zoo_named){"w", w}, 1, NULL, 0) == -1);
    CHECK(strstr(zoo_last_error(), "rename") != NULL);
    CHECK(count_entries(blocked) == 0);

    /* fails halfway through writing the data: the file size limit is hit */
    zoo_tensor *big = filled(zoo_shape1(1 << 16), 3.0f);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &(struct rlimit){4096, 4096});
        int rc = zoo_safetensors_save(path, &(zoo_named){"big", big}, 1, NULL, 0);
        _exit(rc == -1 && strstr(zoo_last_error(), "File too large") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    unsigned char *after = read_bytes(path, &after_n);
    CHECK(before && after && before_n == after_n && memcmp(before, after, before_n) == 0);
    CHECK(count_entries(dir) == 2); /* model.safetensors and is_a_directory */
    free(before);
    free(after);
    zoo_tensor_free(w);
    zoo_tensor_free(big);
}

TEST(saving_into_a_missing_directory_fails_cleanly) {
    char path[256];
    path_to(path, sizeof path, "no_such_dir/model.safetensors");
    int entries = count_entries(root);
    zoo_tensor *w = filled(zoo_shape1(2), 1.0f);
    CHECK(zoo_safetensors_save(path, &(zoo_named){"w", w}, 1, NULL, 0) == -1);
    CHECK(strstr(zoo_last_error(), path) && strstr(zoo_last_error(), "No such file or directory"));
    CHECK(count_entries(root) == entries);
    zoo_tensor_free(w);
}

/* ---------------------------------------------------------------- distrust */

TEST(files_too_short_for_a_header_are_refused) {
    char path[256];
    path_to(path, sizeof path, "empty.safetensors");
    CHECK(write_bytes(path, "", 0));
    CHECK(rejected(path, "too short"));
    path_to(path, sizeof path, "five_bytes.safetensors");
    CHECK(write_bytes(path, "\x08\x00\x00\x00\x00", 5));
    CHECK(rejected(path, "too short"));
    path_to(path, sizeof path, "missing.safetensors");
    CHECK(rejected(path, "cannot open"));
}

TEST(header_lengths_past_the_file_or_absurd_are_refused) {
    char path[256];
    path_to(path, sizeof path, "huge_length.safetensors");
    write_raw(path, (uint64_t)1 << 60, "{}      ", 0);
    CHECK(rejected(path, "over 100 MB"));
    path_to(path, sizeof path, "long_length.safetensors");
    write_raw(path, 1000, "{}      ", 0);
    CHECK(rejected(path, "runs past the end of the file"));
}

TEST(corrupt_headers_are_refused_with_a_message_naming_the_problem) {
    static const struct {
        const char *file, *header;
        size_t data_bytes;
        const char *expect;
    } cases[] = {
        {"truncated_data", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]}}", 8, "past the end of the data buffer"},
        {"bad_json", "{'a':{'dtype':'F32',", 0, "not valid JSON"},
        {"array", "[1,2]", 0, "not a JSON object"},
        {"trailing_bytes", "{} x", 0, "bytes after its JSON object"},
        {"leading_space", " {}", 0, "does not start with '{'"},
        {"not_utf8", "{'\xff':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4, "UTF-8"},
        {"entry_not_object", "{'a':3}", 0, "entry is not a JSON object"},
        {"f64", "{'a':{'dtype':'F64','shape':[2,2],'data_offsets':[0,32]}}", 32, "unsupported dtype \"F64\""},
        {"f16_size", "{'a':{'dtype':'F16','shape':[2,2],'data_offsets':[0,16]}}", 16, "F16 [2, 2] needs 8"},
        {"dtype_not_string", "{'a':{'dtype':32,'shape':[2,2],'data_offsets':[0,16]}}", 16, "\"dtype\" is not a string"},
        {"shape_not_array", "{'a':{'dtype':'F32','shape':4,'data_offsets':[0,16]}}", 16, "\"shape\" is not an array"},
        {"negative_dim", "{'a':{'dtype':'F32','shape':[2,-2],'data_offsets':[0,16]}}", 16, "shape dim 1 is -2"},
        {"fractional_dim", "{'a':{'dtype':'F32','shape':[2.5],'data_offsets':[0,16]}}", 16, "shape dim 0 is 2.5"},
        {"string_dim", "{'a':{'dtype':'F32','shape':['2'],'data_offsets':[0,8]}}", 8, "shape dim 0 is a string"},
        {"five_dims", "{'a':{'dtype':'F32','shape':[1,1,1,1,1],'data_offsets':[0,4]}}", 4, "at most 4"},
        {"missing_offsets", "{'a':{'dtype':'F32','shape':[2,2]}}", 16, "missing \"data_offsets\""},
        {"missing_dtype", "{'a':{'shape':[2,2],'data_offsets':[0,16]}}", 16, "missing \"dtype\""},
        {"fractional_offset", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16.5]}}", 16, "not two non-negative integers"},
        {"three_offsets", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16,32]}}", 16, "not two non-negative integers"},
        {"negative_offset", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[-16,0]}}", 16, "not two non-negative integers"},
        {"offsets_past_end", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[1000000,1000016]}}", 16, "past the end of the data buffer"},
        {"begin_after_end", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[16,0]}}", 16, "begin past their end"},
        {"size_mismatch", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,12]}}", 12, "span 12 bytes but F32 [2, 2] needs 16"},
        {"numel_overflow", "{'a':{'dtype':'F32','shape':[4294967296,4294967296],'data_offsets':[0,16]}}", 16, "overflows"},
        {"overlap", "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]},"
                    "'b':{'dtype':'I32','shape':[4],'data_offsets':[8,24]}}", 24, "overlap"},
        {"gap", "{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                "'b':{'dtype':'F32','shape':[2],'data_offsets':[16,24]}}", 24, "belong to no tensor"},
        {"trailing_data", "{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 12, "after the last tensor"},
        {"duplicate_name", "{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                           "'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8, "'a' appears twice"},
        {"meta_not_string", "{'__metadata__':{'epoch':1},'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4,
         "value for 'epoch' is not a string"},
        {"meta_not_object", "{'__metadata__':'pt'}", 0, "__metadata__ is not a JSON object"},
        /* cJSON decodes \u0000 to a NUL, which would cut a C string short: "a" twice here */
        {"nul_in_names", "{'a\\u0000x':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                         "'a\\u0000y':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8, "\\u0000 (NUL)"},
        {"nul_in_meta", "{'__metadata__':{'model':'mlp\\u0000 injected'}}", 0, "\\u0000 (NUL)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        path_to(path, sizeof path, cases[i].file);
        write_raw(path, 0, cases[i].header, cases[i].data_bytes);
        bool ok = rejected(path, cases[i].expect);
        CHECK(ok);
        if (!ok) fprintf(stderr, "  (case %s)\n", cases[i].file);
    }
}

/* The \u0000 check reads escapes as JSON does: a backslash escaped by another is text, so
 * a name holding a backslash and "u0000" saves and opens as it is. */
TEST(a_name_with_a_backslash_before_u0000_round_trips) {
    zoo_tensor *t = filled(zoo_shape1(2), 3.0f);
    zoo_named named = {"odd\\u0000name", t};
    zoo_kv meta = {"path", "C:\\u0000"};
    char path[256];
    path_to(path, sizeof path, "backslash.safetensors");
    CHECK(zoo_safetensors_save(path, &named, 1, &meta, 1) == 0);
    zoo_st_file *f = zoo_safetensors_open(path);
    CHECK(f != NULL);
    if (!f) return;
    CHECK(zoo_st_count(f) == 1 && strcmp(zoo_st_name(f, 0), "odd\\u0000name") == 0);
    CHECK(zoo_st_meta(f, "path") && strcmp(zoo_st_meta(f, "path"), "C:\\u0000") == 0);
    zoo_safetensors_close(f);
    zoo_tensor_free(t);
}

/* a small valid checkpoint's bytes (the caller frees) */
static unsigned char *valid_checkpoint(size_t *n) {
    zoo_tensor *a = filled(zoo_shape2(2, 3), 1.0f), *b = filled(zoo_shape1(4), 2.0f);
    zoo_named named[2] = {{"a", a}, {"b", b}};
    zoo_kv meta = {"format", "pt"};
    char path[256];
    path_to(path, sizeof path, "valid.safetensors");
    zoo_safetensors_save(path, named, 2, &meta, 1);
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    return read_bytes(path, n);
}

TEST(every_truncation_of_a_checkpoint_is_refused) {
    size_t n = 0;
    unsigned char *b = valid_checkpoint(&n);
    CHECK(b != NULL);
    char path[256];
    path_to(path, sizeof path, "truncation.safetensors");
    int refused = 0;
    for (size_t len = 0; b && len < n; len++) {
        write_bytes(path, b, len);
        zoo_st_file *f = zoo_safetensors_open(path);
        refused += f == NULL && strstr(zoo_last_error(), path) != NULL;
        zoo_safetensors_close(f);
    }
    CHECK(refused == (int)n);
    free(b);
}

/* Opens must give NULL or a file whose every tensor reads; run under ASan this also shows
 * no read strays outside the buffer. */
TEST(random_byte_changes_never_crash_the_reader) {
    size_t n = 0;
    unsigned char *b = valid_checkpoint(&n);
    CHECK(b != NULL);
    if (!b) return;
    char path[256];
    path_to(path, sizeof path, "mutated.safetensors");
    unsigned char *m = malloc(n);
    uint32_t seed = 12345;
    int opened = 0, messages = 0;
    for (int trial = 0; trial < 2000; trial++) {
        memcpy(m, b, n);
        for (int k = 0; k < 1 + trial % 3; k++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1664525u + 1013904223u;
            m[at] = trial % 2 ? (unsigned char)(seed >> 24) : (unsigned char)"{}[]\",:0123456789 -.e"[(seed >> 24) % 21];
        }
        write_bytes(path, m, n);
        zoo_st_file *f = zoo_safetensors_open(path);
        if (!f) {
            messages += strstr(zoo_last_error(), path) != NULL;
            continue;
        }
        opened++;
        for (int i = 0; i < zoo_st_count(f); i++) {
            zoo_dtype dtype;
            zoo_shape shape;
            CHECK(zoo_st_info(f, zoo_st_name(f, i), &dtype, &shape) == 0);
            if (zoo_shape_numel(shape) == 0) continue; /* no zoo tensor has a 0 dim */
            zoo_tensor *t = zoo_tensor_new_persistent(dtype, shape);
            CHECK(zoo_st_read(f, zoo_st_name(f, i), t) == 0);
            zoo_tensor_free(t);
        }
        zoo_safetensors_close(f);
    }
    CHECK(opened + messages == 2000);
    CHECK(opened > 0 && messages > 0); /* data-only changes open, header changes mostly do not */
    free(m);
    free(b);
}

TEST(reading_into_a_tensor_of_another_shape_or_dtype_fails_and_leaves_it_alone) {
    zoo_tensor *w = filled(zoo_shape2(4, 3), 1.0f);
    char path[256];
    path_to(path, sizeof path, "mismatch.safetensors");
    CHECK(zoo_safetensors_save(path, &(zoo_named){"fc1.weight", w}, 1, NULL, 0) == 0);
    zoo_st_file *f = zoo_safetensors_open(path);
    CHECK(f != NULL);
    if (!f) return;
    zoo_tensor *small = zoo_tensor_new_persistent(ZOO_F32, zoo_shape2(2, 3));
    CHECK(zoo_st_read(f, "fc1.weight", small) == -1);
    CHECK(strstr(zoo_last_error(), "fc1.weight: checkpoint has [4, 3], model has [2, 3]") != NULL);
    CHECK(zoo_tensor_item(small) == 0.0f);
    zoo_tensor *ints = zoo_tensor_new_persistent(ZOO_I32, zoo_shape2(4, 3));
    CHECK(zoo_st_read(f, "fc1.weight", ints) == -1);
    CHECK(strstr(zoo_last_error(), "fc1.weight: checkpoint has F32, model has I32") != NULL);
    CHECK(zoo_st_read(f, "fc2.weight", small) == -1);
    CHECK(strstr(zoo_last_error(), path) && strstr(zoo_last_error(), "no tensor 'fc2.weight'"));
    zoo_safetensors_close(f);
    zoo_tensor_free(small);
    zoo_tensor_free(ints);
    zoo_tensor_free(w);
}

/* ---------------------------------------------------------------- F16 and BF16 */

/* tests/data/half_reference.safetensors, written by tools/half_reference.py with
   PyTorch's conversions; NULL (and a failed check) when it cannot be opened */
static zoo_st_file *half_reference(void) {
    const char *dir = getenv("ZOO_TEST_DATA");
    char path[512];
    snprintf(path, sizeof path, "%s/half_reference.safetensors", dir ? dir : "tests/data");
    zoo_st_file *f = zoo_safetensors_open(path);
    if (!f) fprintf(stderr, "  %s\n", zoo_last_error());
    return f;
}

/* tensor `name` of f read into a new persistent float32 tensor, downloaded to host */
static float *read_floats(zoo_st_file *f, const char *name, int64_t n) {
    zoo_tensor *t = zoo_tensor_new_persistent(ZOO_F32, zoo_shape1(n));
    float *v = calloc((size_t)n, sizeof *v);
    if (zoo_st_read(f, name, t) == 0) zoo_tensor_download(t, v);
    else fprintf(stderr, "  %s\n", zoo_last_error());
    zoo_tensor_free(t);
    return v;
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* the same bits, or both NaN */
static bool same_float(float a, float b) { return float_bits(a) == float_bits(b) || (a != a && b != b); }

TEST(every_f16_and_bf16_pattern_widens_as_pytorch_does) {
    zoo_st_file *f = half_reference();
    CHECK(f != NULL);
    if (!f) return;
    zoo_dtype dtype;
    zoo_shape shape;
    CHECK(zoo_st_info(f, "f16_all", &dtype, &shape) == 0 && dtype == ZOO_F32 && shape.d[0] == 65536);
    const struct {
        const char *half, *want;
        int64_t n;
    } sets[2] = {{"f16_all", "f16_all_f32", 65536}, {"bf16_some", "bf16_some_f32", 8192}};
    for (int s = 0; s < 2; s++) {
        float *got = read_floats(f, sets[s].half, sets[s].n), *want = read_floats(f, sets[s].want, sets[s].n);
        int64_t bad = 0, nan = 0, sub = 0;
        for (int64_t i = 0; i < sets[s].n; i++) {
            bad += float_bits(got[i]) != float_bits(want[i]); /* NaN payloads too */
            nan += got[i] != got[i];
            sub += got[i] != 0.0f && fabsf(got[i]) < 6.1035156e-05f;
        }
        printf("  %s: %lld patterns, %lld differ from PyTorch (%lld NaNs, %lld F16-subnormal values)\n", sets[s].half,
               (long long)sets[s].n, (long long)bad, (long long)nan, (long long)sub);
        CHECK(bad == 0);
        CHECK(nan > 0 && sub > 0); /* the file holds the special classes */
        free(got);
        free(want);
    }
    zoo_safetensors_close(f);
}

TEST(float32_rounds_to_f16_and_bf16_as_pytorch_does) {
    zoo_st_file *f = half_reference();
    CHECK(f != NULL);
    if (!f) return;
    int64_t n = 4096;
    float *x = read_floats(f, "probe", n), *h = read_floats(f, "probe_f16", n), *b = read_floats(f, "probe_bf16", n);
    int64_t bad_h = 0, bad_b = 0, inf = 0, ties = 0;
    for (int64_t i = 0; i < n; i++) {
        float gh = zoo__f16_to_f32(zoo__f32_to_f16(x[i])), gb = zoo__bf16_to_f32(zoo__f32_to_bf16(x[i]));
        if (!same_float(gh, h[i])) {
            if (bad_h++ < 5) fprintf(stderr, "  F16 of %.9g (0x%08x): zoo %.9g, PyTorch %.9g\n", (double)x[i], float_bits(x[i]),
                                     (double)gh, (double)h[i]);
        }
        if (!same_float(gb, b[i])) {
            if (bad_b++ < 5) fprintf(stderr, "  BF16 of %.9g (0x%08x): zoo %.9g, PyTorch %.9g\n", (double)x[i], float_bits(x[i]),
                                     (double)gb, (double)b[i]);
        }
        inf += isinf(h[i]) && !isinf(x[i]);
        ties += (float_bits(x[i]) & 0xffff) == 0x8000;
    }
    printf("  %lld values: %lld F16 and %lld BF16 roundings differ from PyTorch (%lld overflow to inf, %lld BF16 ties)\n",
           (long long)n, (long long)bad_h, (long long)bad_b, (long long)inf, (long long)ties);
    CHECK(bad_h == 0 && bad_b == 0);
    CHECK(inf > 0 && ties > 0);
    /* the edges, spelled out */
    CHECK(zoo__f32_to_f16(65504.0f) == 0x7bff && zoo__f32_to_f16(65519.99f) == 0x7bff);
    CHECK(zoo__f32_to_f16(65520.0f) == 0x7c00 && zoo__f32_to_f16(-1e30f) == 0xfc00);
    CHECK(zoo__f32_to_f16(5.9604645e-08f) == 0x0001);    /* 2^-24, the smallest subnormal */
    CHECK(zoo__f32_to_f16(2.9802322e-08f) == 0x0000);    /* 2^-25: a tie, to even 0 */
    CHECK(zoo__f32_to_f16(8.9406967e-08f) == 0x0002);    /* 1.5 x 2^-24: a tie, to even 2 */
    CHECK(zoo__f32_to_f16(-0.0f) == 0x8000);
    CHECK(zoo__f32_to_bf16(1.00390625f) == 0x3f80);      /* 1 + 2^-8: a tie, to even */
    CHECK(zoo__f32_to_bf16(3.4028235e38f) == 0x7f80);    /* the largest float rounds to inf */
    float nan = zoo__f16_to_f32(zoo__f32_to_f16(NAN)), bnan = zoo__bf16_to_f32(zoo__f32_to_bf16(NAN));
    CHECK(nan != nan && bnan != bnan);
    free(x);
    free(h);
    free(b);
    zoo_safetensors_close(f);
}

TEST(checkpoints_saved_as_f16_or_bf16_take_half_the_bytes_and_load_rounded) {
    uint32_t *bits = random_bits(300, 11);
    for (int i = 0; i < 300; i++) bits[i] = (bits[i] & 0x807fffffu) | (uint32_t)(100 + i % 50) << 23; /* 2^-27 .. 2^22 */
    uint32_t ints[3] = {7, 0x80000000u, 0xffffffffu};
    zoo_tensor *w = tensor_with_bits(ZOO_F32, zoo_shape1(300), bits), *ids = tensor_with_bits(ZOO_I32, zoo_shape1(3), ints);
    zoo_named named[2] = {{"w", w}, {"ids", ids}};
    zoo_st_float kinds[2] = {ZOO_ST_F16, ZOO_ST_BF16};
    const char *names[2] = {"F16", "BF16"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        path_to(path, sizeof path, k ? "bf16.safetensors" : "f16.safetensors");
        CHECK(zoo_safetensors_save_as(path, named, 2, NULL, 0, kinds[k]) == 0);
        size_t size = 0;
        unsigned char *raw = read_bytes(path, &size);
        uint64_t hlen = 0;
        for (int i = 0; raw && i < 8; i++) hlen |= (uint64_t)raw[i] << (8 * i);
        CHECK(raw && size == 8 + hlen + 300 * 2 + 3 * 4); /* 2 bytes a float, 4 an int */
        char want[64];
        snprintf(want, sizeof want, "\"dtype\":\"%s\"", names[k]);
        char *header = raw ? strndup((const char *)raw + 8, hlen) : NULL;
        CHECK(header && strstr(header, want) && strstr(header, "\"I32\""));
        free(header);
        free(raw);
        zoo_st_file *f = zoo_safetensors_open(path);
        CHECK(f != NULL);
        if (!f) continue;
        float *got = read_floats(f, "w", 300);
        int64_t bad = 0;
        for (int i = 0; i < 300; i++) {
            float x;
            memcpy(&x, &bits[i], 4);
            float want_f = k ? zoo__bf16_to_f32(zoo__f32_to_bf16(x)) : zoo__f16_to_f32(zoo__f32_to_f16(x));
            bad += float_bits(got[i]) != float_bits(want_f);
        }
        CHECK(bad == 0);
        zoo_tensor *back = zoo_tensor_new_persistent(ZOO_I32, zoo_shape1(3));
        CHECK(zoo_st_read(f, "ids", back) == 0 && holds_bits(back, ints));
        zoo_tensor *wrong = zoo_tensor_new_persistent(ZOO_I32, zoo_shape1(300));
        CHECK(zoo_st_read(f, "w", wrong) == -1);
        snprintf(want, sizeof want, "w: checkpoint has %s, model has I32", names[k]);
        CHECK(strstr(zoo_last_error(), want) != NULL);
        zoo_tensor_free(back);
        zoo_tensor_free(wrong);
        free(got);
        zoo_safetensors_close(f);
    }
    char path[256];
    path_to(path, sizeof path, "bad_kind.safetensors");
    CHECK(zoo_safetensors_save_as(path, named, 2, NULL, 0, (zoo_st_float)7) == -1);
    CHECK(strstr(zoo_last_error(), "unknown float storage") != NULL && access(path, F_OK) != 0);
    zoo_tensor_free(w);
    zoo_tensor_free(ids);
    free(bits);
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(f32_and_i32_tensors_and_metadata_round_trip_bit_exactly);
    RUN(a_checkpoint_without_tensors_or_metadata_round_trips);
    RUN(the_header_is_padded_json_whose_offsets_tile_the_data_buffer);
    RUN(a_file_written_by_python_safetensors_loads);
    RUN(zoo_writes_the_same_bytes_as_python_safetensors);
    RUN(saving_over_a_checkpoint_replaces_it_whole_and_leaves_no_temp_files);
    RUN(a_failed_save_leaves_the_old_file_untouched_and_no_temp_files);
    RUN(saving_into_a_missing_directory_fails_cleanly);
    RUN(files_too_short_for_a_header_are_refused);
    RUN(header_lengths_past_the_file_or_absurd_are_refused);
    RUN(corrupt_headers_are_refused_with_a_message_naming_the_problem);
    RUN(a_name_with_a_backslash_before_u0000_round_trips);
    RUN(every_truncation_of_a_checkpoint_is_refused);
    RUN(random_byte_changes_never_crash_the_reader);
    RUN(reading_into_a_tensor_of_another_shape_or_dtype_fails_and_leaves_it_alone);
    RUN(every_f16_and_bf16_pattern_widens_as_pytorch_does);
    RUN(float32_rounds_to_f16_and_bf16_as_pytorch_does);
    RUN(checkpoints_saved_as_f16_or_bf16_take_half_the_bytes_and_load_rounded);
    remove_tree(root);
    zoo_shutdown();
    TEST_EXIT();
}
