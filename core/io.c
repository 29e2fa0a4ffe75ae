/* Safetensors checkpoints (layout in io.h). Reading trusts nothing in the file; saving
 * never leaves a half-written file at the path it saves to. */
#include "io.h"

#include "atomic.h"
#include "internal.h"

#include <cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and zoo copies it as it is: a big-endian host needs byte swaps here"
#endif

/* the reference loader refuses larger headers */
static const uint64_t max_header_bytes = 100000000;
/* JSON numbers are doubles here; integers past 2^53 are not exact, and no file needs them */
static const double max_json_int = 9007199254740992.0;

/* how a tensor's elements are stored in the file; F16 and BF16 become float32 tensors */
typedef enum st_type { ST_F32, ST_I32, ST_F16, ST_BF16 } st_type;

static const struct {
    const char *name;
    uint64_t size;
} st_types[] = {[ST_F32] = {"F32", 4}, [ST_I32] = {"I32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}};

static const char *dtype_name(zoo_dtype dtype) { return dtype == ZOO_I32 ? "I32" : "F32"; }

/* what a tensor of this dtype is saved as under `as` */
static st_type stored_as(zoo_dtype dtype, zoo_st_float as) {
    if (dtype == ZOO_I32) return ST_I32;
    return as == ZOO_ST_F16 ? ST_F16 : as == ZOO_ST_BF16 ? ST_BF16 : ST_F32;
}

static void *need(void *p) { return zoo__need(p, "safetensors I/O"); }

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF): the
 * reference loader refuses a header that is not. */
static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], lo = 0x80, hi = 0xbf;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return false;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        i += len;
    }
    return true;
}

static bool utf8_str(const char *s) { return utf8_valid((const unsigned char *)s, strlen(s)); }

/* ---------------------------------------------------------------- saving */

static int check_save_args(const char *path, const zoo_named *tensors, int n, const zoo_kv *meta, int nmeta) {
    if (!path) {
        zoo_set_error("zoo_safetensors_save: path is NULL");
        return -1;
    }
    if (n < 0 || nmeta < 0 || (n > 0 && !tensors) || (nmeta > 0 && !meta)) {
        zoo_set_error("%s: cannot save: bad tensor or metadata list (n = %d, nmeta = %d)", path, n, nmeta);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *name = tensors[i].name;
        const zoo_tensor *t = tensors[i].t;
        if (!name || !utf8_str(name) || strcmp(name, "__metadata__") == 0) {
            zoo_set_error("%s: cannot save: tensor %d needs a UTF-8 name other than __metadata__", path, i);
            return -1;
        }
        if (!t || (t->dtype != ZOO_F32 && t->dtype != ZOO_I32)) {
            zoo_set_error("%s: cannot save: tensor '%s' is NULL or of an unknown dtype", path, name);
            return -1;
        }
        zoo_tensor_check(t, "zoo_safetensors_save"); /* a dead tensor aborts here, before any file exists */
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j].name, name) == 0) {
                zoo_set_error("%s: cannot save: tensor name '%s' appears twice", path, name);
                return -1;
            }
    }
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value || !utf8_str(meta[i].key) || !utf8_str(meta[i].value)) {
            zoo_set_error("%s: cannot save: metadata entry %d needs a UTF-8 key and value", path, i);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0) {
                zoo_set_error("%s: cannot save: metadata key '%s' appears twice", path, meta[i].key);
                return -1;
            }
    }
    return 0;
}

/* adds item to an object under key, or to an array when key is NULL */
static void json_add(cJSON *to, const char *key, cJSON *item) {
    need(item);
    if (!(key ? cJSON_AddItemToObject(to, key, item) : cJSON_AddItemToArray(to, item))) need(NULL);
}

/* an integer printed exactly: cJSON prints large doubles as 1e+15, which loaders refuse */
static cJSON *json_int(int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return cJSON_CreateRaw(buf);
}

/* The header as the reference writer lays it out: compact JSON, __metadata__ first, then
 * the tensors packed in order, padded with spaces to a multiple of 8 bytes. */
static char *build_header(const zoo_named *tensors, int n, const zoo_kv *meta, int nmeta, zoo_st_float as,
                          size_t *len) {
    cJSON *root = need(cJSON_CreateObject());
    if (nmeta > 0) {
        cJSON *m = need(cJSON_CreateObject());
        for (int i = 0; i < nmeta; i++) json_add(m, meta[i].key, cJSON_CreateString(meta[i].value));
        json_add(root, "__metadata__", m);
    }
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const zoo_tensor *t = tensors[i].t;
        cJSON *entry = need(cJSON_CreateObject());
        cJSON *shape = need(cJSON_CreateArray());
        cJSON *offsets = need(cJSON_CreateArray());
        st_type type = stored_as(t->dtype, as);
        json_add(entry, "dtype", cJSON_CreateString(st_types[type].name));
        for (int d = 0; d < t->shape.ndim; d++) json_add(shape, NULL, json_int(t->shape.d[d]));
        json_add(entry, "shape", shape);
        json_add(offsets, NULL, json_int(offset));
        offset += t->numel * (int64_t)st_types[type].size;
        json_add(offsets, NULL, json_int(offset));
        json_add(entry, "data_offsets", offsets);
        json_add(root, tensors[i].name, entry);
    }
    char *json = need(cJSON_PrintUnformatted(root));
    cJSON_Delete(root);
    size_t k = strlen(json), padded = (k + 7) / 8 * 8;
    char *header = need(malloc(padded));
    memcpy(header, json, k);
    memset(header + k, ' ', padded - k);
    cJSON_free(json);
    *len = padded;
    return header;
}

/* float32 values rounded to 16 bits, in place (the 2-byte results packed at the front) */
static void to_half(void *buf, int64_t n, st_type type) {
    const float *src = buf;
    unsigned char *dst = buf;
    for (int64_t i = 0; i < n; i++) { /* element i's 2 bytes never overwrite element i + 1's 4 */
        uint16_t h = type == ST_F16 ? zoo__f32_to_f16(src[i]) : zoo__f32_to_bf16(src[i]);
        dst[2 * i] = (unsigned char)(h & 0xff);
        dst[2 * i + 1] = (unsigned char)(h >> 8);
    }
}

/* Writes the length, header and data; 0, or errno of the failed write. */
static int write_contents(FILE *fp, const char *header, size_t hlen, const zoo_named *tensors, int n,
                          zoo_st_float as) {
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    size_t max_bytes = 4;
    for (int i = 0; i < n; i++)
        if ((size_t)tensors[i].t->numel * 4 > max_bytes) max_bytes = (size_t)tensors[i].t->numel * 4;
    void *scratch = need(malloc(max_bytes));
    int err = 0;
    errno = 0;
    if (fwrite(len_le, 1, 8, fp) != 8 || fwrite(header, 1, hlen, fp) != hlen) err = errno ? errno : EIO;
    for (int i = 0; i < n && !err; i++) {
        st_type type = stored_as(tensors[i].t->dtype, as);
        size_t bytes = (size_t)tensors[i].t->numel * st_types[type].size;
        zoo_tensor_download(tensors[i].t, scratch);
        if (type == ST_F16 || type == ST_BF16) to_half(scratch, tensors[i].t->numel, type);
        if (fwrite(scratch, 1, bytes, fp) != bytes) err = errno ? errno : EIO;
    }
    free(scratch);
    return err;
}

int zoo_safetensors_save(const char *path, const zoo_named *tensors, int n, const zoo_kv *meta, int nmeta) {
    return zoo_safetensors_save_as(path, tensors, n, meta, nmeta, ZOO_ST_F32);
}

int zoo_safetensors_save_as(const char *path, const zoo_named *tensors, int n, const zoo_kv *meta, int nmeta,
                            zoo_st_float as) {
    if (check_save_args(path, tensors, n, meta, nmeta)) return -1;
    if (as != ZOO_ST_F32 && as != ZOO_ST_F16 && as != ZOO_ST_BF16) {
        zoo_set_error("%s: cannot save: unknown float storage %d", path, (int)as);
        return -1;
    }
    size_t hlen;
    char *header = build_header(tensors, n, meta, nmeta, as, &hlen);
    zoo_atomic_file f;
    if (zoo__atomic_begin(&f, path)) {
        free(header);
        return -1;
    }
    int err = write_contents(f.fp, header, hlen, tensors, n, as);
    free(header);
    return zoo__atomic_commit(&f, err, NULL);
}

/* ---------------------------------------------------------------- reading */

typedef struct st_entry {
    const char *name; /* owned by the parsed header */
    zoo_dtype dtype; /* the tensor's: float32 for F16 and BF16 */
    st_type stored;
    zoo_shape shape;
    uint64_t begin, end; /* byte offsets in the data buffer */
} st_entry;

struct zoo_st_file {
    char *path;
    unsigned char *bytes;      /* the whole file */
    const unsigned char *data; /* the data buffer, inside bytes */
    uint64_t data_size;
    cJSON *header;
    const cJSON *meta; /* the __metadata__ object, or NULL */
    int n;
    st_entry *entries;   /* header order */
    st_entry **by_name;  /* sorted, for lookups */
};

/* sets "<path>: <message>" and returns -1 */
static int st_error(const zoo_st_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int st_error(const zoo_st_file *f, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    zoo_set_error("%s: %s", f->path, msg);
    return -1;
}

static int read_whole_file(zoo_st_file *f, size_t *size) {
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return st_error(f, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return st_error(f, "not a regular file");
    }
    *size = (size_t)st.st_size;
    f->bytes = malloc(*size ? *size : 1);
    if (!f->bytes) {
        fclose(fp);
        return st_error(f, "cannot hold the file in memory (%zu bytes)", *size);
    }
    size_t got = fread(f->bytes, 1, *size, fp);
    fclose(fp);
    if (got != *size) return st_error(f, "read %zu of %zu bytes", got, *size);
    return 0;
}

/* a JSON number that is a non-negative integer a double holds exactly */
static bool json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= max_json_int) || (double)(uint64_t)d != d) return false;
    *out = (uint64_t)d;
    return true;
}

/* a short rendering of a JSON value for messages */
static const char *json_show(const cJSON *v, char *buf, size_t n) {
    if (cJSON_IsNumber(v)) snprintf(buf, n, "%.17g", v->valuedouble);
    else if (cJSON_IsString(v)) snprintf(buf, n, "a string");
    else if (cJSON_IsArray(v)) snprintf(buf, n, "an array");
    else if (cJSON_IsObject(v)) snprintf(buf, n, "an object");
    else snprintf(buf, n, "%s", cJSON_IsBool(v) ? "a boolean" : "null");
    return buf;
}

static int parse_shape(const zoo_st_file *f, const char *name, const cJSON *shape, st_entry *e) {
    if (!cJSON_IsArray(shape)) return st_error(f, "tensor '%s': \"shape\" is not an array", name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ZOO_MAX_DIMS) return st_error(f, "tensor '%s': shape has %d dims, zoo supports at most %d", name, ndim, ZOO_MAX_DIMS);
    e->shape = (zoo_shape){ndim, {1, 1, 1, 1}};
    int i = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        char buf[40];
        if (!json_uint(dim, &v))
            return st_error(f, "tensor '%s': shape dim %d is %s, not a non-negative integer", name, i,
                            json_show(dim, buf, sizeof buf));
        e->shape.d[i++] = (int64_t)v;
    }
    return 0;
}

static int parse_offsets(const zoo_st_file *f, const char *name, const cJSON *offsets, st_entry *e) {
    bool ok = cJSON_IsArray(offsets) && cJSON_GetArraySize(offsets) == 2 &&
              json_uint(cJSON_GetArrayItem(offsets, 0), &e->begin) && json_uint(cJSON_GetArrayItem(offsets, 1), &e->end);
    if (!ok) return st_error(f, "tensor '%s': \"data_offsets\" is not two non-negative integers", name);
    if (e->begin > e->end)
        return st_error(f, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] begin past their end", name, e->begin, e->end);
    if (e->end > f->data_size)
        return st_error(f, "tensor '%s': data_offsets end %" PRIu64 " is past the end of the data buffer (%" PRIu64
                        " bytes): truncated or corrupt", name, e->end, f->data_size);
    return 0;
}

/* numel * 4, or UINT64_MAX when that overflows */
static uint64_t shape_bytes(zoo_shape s, uint64_t elem) {
    for (int i = 0; i < s.ndim; i++)
        if (s.d[i] == 0) return 0;
    uint64_t bytes = elem;
    for (int i = 0; i < s.ndim; i++) {
        uint64_t d = (uint64_t)s.d[i];
        if (bytes > UINT64_MAX / d) return UINT64_MAX;
        bytes *= d;
    }
    return bytes;
}

static int parse_entry(const zoo_st_file *f, const cJSON *item, st_entry *e) {
    const char *name = item->string;
    e->name = name;
    if (!cJSON_IsObject(item)) return st_error(f, "tensor '%s': entry is not a JSON object", name);
    const char *fields[] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!cJSON_GetObjectItemCaseSensitive(item, fields[i])) return st_error(f, "tensor '%s': missing \"%s\"", name, fields[i]);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype)) return st_error(f, "tensor '%s': \"dtype\" is not a string", name);
    int type = -1;
    for (int i = 0; i < (int)(sizeof st_types / sizeof *st_types); i++)
        if (strcmp(dtype->valuestring, st_types[i].name) == 0) type = i;
    if (type < 0)
        return st_error(f, "tensor '%s': unsupported dtype \"%s\" (zoo reads F32, F16, BF16 and I32)", name,
                        dtype->valuestring);
    e->stored = (st_type)type;
    e->dtype = e->stored == ST_I32 ? ZOO_I32 : ZOO_F32;
    if (parse_shape(f, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), e)) return -1;
    if (parse_offsets(f, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), e)) return -1;
    uint64_t bytes = shape_bytes(e->shape, st_types[e->stored].size);
    char shape[96];
    zoo_shape_str(e->shape, shape, sizeof shape);
    if (bytes == UINT64_MAX) return st_error(f, "tensor '%s': shape %s is too large (its byte size overflows)", name, shape);
    if (e->end - e->begin != bytes)
        return st_error(f, "tensor '%s': data_offsets span %" PRIu64 " bytes but %s %s needs %" PRIu64, name,
                        e->end - e->begin, st_types[e->stored].name, shape, bytes);
    return 0;
}

static int parse_meta(const zoo_st_file *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) return st_error(f, "__metadata__ is not a JSON object");
    const cJSON *v;
    cJSON_ArrayForEach(v, meta)
        if (!cJSON_IsString(v)) return st_error(f, "__metadata__ value for '%s' is not a string", v->string);
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}

static int cmp_offsets(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Tensors must tile the data buffer: safetensors forbids overlaps and unused bytes. */
static int check_layout(const zoo_st_file *f) {
    if (f->n == 0) return f->data_size ? st_error(f, "data buffer of %" PRIu64 " bytes but no tensors", f->data_size) : 0;
    st_entry **order = need(malloc((size_t)f->n * sizeof *order));
    for (int i = 0; i < f->n; i++) order[i] = &f->entries[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_offsets);
    uint64_t pos = 0;
    int rc = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        if (order[i]->begin < pos)
            rc = st_error(f, "tensors '%s' and '%s' overlap in the data buffer", order[i - 1]->name, order[i]->name);
        else if (order[i]->begin > pos)
            rc = st_error(f, "bytes [%" PRIu64 ", %" PRIu64 ") of the data buffer belong to no tensor", pos, order[i]->begin);
        pos = order[i]->end;
    }
    if (!rc && pos != f->data_size)
        rc = st_error(f, "%" PRIu64 " bytes after the last tensor belong to no tensor", f->data_size - pos);
    free(order);
    return rc;
}

/* true when a string of the (valid) JSON text holds the escape \u0000: cJSON decodes it
 * to a NUL, which ends a C string, so a name or value would silently lose its tail and
 * "a\u0000x" and "a\u0000y" would both be "a" */
static bool json_escapes_nul(const char *text, size_t len) {
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = text[i] == '"';
        } else if (text[i] == '"') {
            in_string = false;
        } else if (text[i] == '\\') {
            if (len - i > 5 && memcmp(text + i + 1, "u0000", 5) == 0) return true;
            i++; /* the escaped character, which may be a quote or a backslash */
        }
    }
    return false;
}

static int parse_header(zoo_st_file *f, const char *text, size_t len) {
    if (!utf8_valid((const unsigned char *)text, len)) return st_error(f, "header is not valid UTF-8");
    if (memchr(text, 0, len)) return st_error(f, "header contains a NUL byte");
    const char *end = NULL;
    f->header = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!f->header) return st_error(f, "header is not valid JSON (error near byte %td of it)", end ? end - text : 0);
    if (!cJSON_IsObject(f->header)) return st_error(f, "header is not a JSON object");
    if (text[0] != '{') return st_error(f, "header does not start with '{'");
    for (; end < text + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            return st_error(f, "header has bytes after its JSON object");
    if (json_escapes_nul(text, len))
        return st_error(f, "header has a \\u0000 (NUL) in a string, which no name or value may hold");

    const cJSON *item;
    int count = 0;
    cJSON_ArrayForEach(item, f->header) count += strcmp(item->string, "__metadata__") != 0;
    f->entries = need(calloc((size_t)count + 1, sizeof *f->entries));
    f->by_name = need(calloc((size_t)count + 1, sizeof *f->by_name));
    cJSON_ArrayForEach(item, f->header) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (f->meta) return st_error(f, "__metadata__ appears twice");
            if (parse_meta(f, item)) return -1;
            f->meta = item;
            continue;
        }
        if (parse_entry(f, item, &f->entries[f->n])) return -1;
        f->by_name[f->n] = &f->entries[f->n];
        f->n++;
    }
    if (f->n > 0) qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return st_error(f, "tensor '%s' appears twice", f->by_name[i]->name);
    return check_layout(f);
}

/* Reads, checks the header length, then hands the header to parse_header. */
static int load(zoo_st_file *f) {
    size_t size = 0;
    if (read_whole_file(f, &size)) return -1;
    if (size < 8) return st_error(f, "too short to be a safetensors file (%zu bytes, the header length alone takes 8)", size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)f->bytes[i] << (8 * i);
    if (hlen > max_header_bytes)
        return st_error(f, "header length %" PRIu64 " is over 100 MB: not a safetensors file, or corrupt", hlen);
    if (hlen > size - 8)
        return st_error(f, "header length %" PRIu64 " runs past the end of the file (%zu bytes)", hlen, size);
    f->data = f->bytes + 8 + hlen;
    f->data_size = size - 8 - hlen;
    /* a NUL-terminated copy, so the parser can never read past the header */
    char *text = need(malloc(hlen + 1));
    memcpy(text, f->bytes + 8, hlen);
    text[hlen] = '\0';
    int rc = parse_header(f, text, hlen);
    free(text);
    return rc;
}

zoo_st_file *zoo_safetensors_open(const char *path) {
    if (!path) {
        zoo_set_error("zoo_safetensors_open: path is NULL");
        return NULL;
    }
    zoo_st_file *f = need(calloc(1, sizeof *f));
    f->path = need(strdup(path));
    if (load(f)) {
        zoo_safetensors_close(f);
        return NULL;
    }
    return f;
}

void zoo_safetensors_close(zoo_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->header);
    free(f->entries);
    free(f->by_name);
    free(f->bytes);
    free(f->path);
    free(f);
}

int zoo_st_count(const zoo_st_file *f) { return f->n; }

const char *zoo_st_name(const zoo_st_file *f, int i) { return i >= 0 && i < f->n ? f->entries[i].name : NULL; }

static const st_entry *find(const zoo_st_file *f, const char *name) {
    if (!name || f->n == 0) return NULL;
    st_entry key = {.name = name}, *kp = &key;
    st_entry **hit = bsearch(&kp, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    return hit ? *hit : NULL;
}

int zoo_st_info(const zoo_st_file *f, const char *name, zoo_dtype *dtype, zoo_shape *shape) {
    const st_entry *e = find(f, name);
    if (!e) return -1;
    if (dtype) *dtype = e->dtype;
    if (shape) *shape = e->shape;
    return 0;
}

int zoo_st_read(const zoo_st_file *f, const char *name, zoo_tensor *dst) {
    zoo_tensor_check(dst, "zoo_st_read");
    const st_entry *e = find(f, name);
    if (!e) return st_error(f, "no tensor '%s' in the checkpoint", name ? name : "(null)");
    char want[96], have[96];
    if (e->dtype != dst->dtype)
        return st_error(f, "%s: checkpoint has %s, model has %s", name, st_types[e->stored].name,
                        dtype_name(dst->dtype));
    if (!zoo_shape_eq(e->shape, dst->shape))
        return st_error(f, "%s: checkpoint has %s, model has %s", name, zoo_shape_str(e->shape, have, sizeof have),
                        zoo_shape_str(dst->shape, want, sizeof want));
    if (e->stored == ST_F32 || e->stored == ST_I32) {
        zoo_tensor_upload(dst, f->data + e->begin);
        return 0;
    }
    /* 16-bit floats, widened (exactly) to float32 */
    float *v = need(malloc((size_t)dst->numel * sizeof *v + 1));
    const unsigned char *p = f->data + e->begin;
    for (int64_t i = 0; i < dst->numel; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        v[i] = e->stored == ST_F16 ? zoo__f16_to_f32(h) : zoo__bf16_to_f32(h);
    }
    zoo_tensor_upload(dst, v);
    free(v);
    return 0;
}

const char *zoo_st_meta(const zoo_st_file *f, const char *key) {
    if (!key || !f->meta) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->meta, key);
    return v ? v->valuestring : NULL;
}
