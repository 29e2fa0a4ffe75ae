/* PNG writing, image reading, sample grids and image-folder datasets (API in image.h).
 * Host memory only; a write never leaves a half-written file at the path it writes to. */
#include "image.h"

#include "atomic.h"
#include "internal.h"

#include "tensor.h"

#include <png.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* No image zoo makes is near this; it keeps every byte count inside an int. */
#define IMAGE_MAX_BYTES INT32_MAX
#define FOLDER_MAX_SIDE 65535

static void *need(void *p) { return zoo__need(p, "image I/O"); }

/* w * h * c as bytes, or -1 when a side is not positive or the total is over the limit */
static int64_t image_bytes(int64_t w, int64_t h, int64_t c) {
    if (w < 1 || h < 1 || c < 1) return -1;
    if (w > IMAGE_MAX_BYTES / h || w * h > IMAGE_MAX_BYTES / c) return -1;
    return w * h * c;
}

/* ---------------------------------------------------------------- PNG writing */

/* libpng reports errors by calling this, which must not return: it keeps the message
 * and jumps back to the setjmp in png_encode. */
typedef struct png_status {
    char message[200];
    int errnum; /* errno when libpng gave up: a failed fwrite leaves the reason there */
} png_status;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_status *s = png_get_error_ptr(png);
    s->errnum = errno;
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* nothing a caller can act on */
}

/* Encodes the image into fp. 0, or -1 with the message in *status. Nothing written
 * after setjmp is read after the jump back, so no local needs to be volatile. */
static int png_encode(FILE *fp, int width, int height, int channels, const uint8_t *pixels, const zoo_png_text *text,
                      int ntext, png_status *status) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, status, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        snprintf(status->message, sizeof status->message, "out of memory for libpng");
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text chunks[ZOO_PNG_TEXT_MAX];
    for (int i = 0; i < ntext; i++)
        chunks[i] = (png_text){.compression = PNG_TEXT_COMPRESSION_NONE, .key = (char *)text[i].key,
                               .text = (char *)text[i].value, .text_length = strlen(text[i].value)};
    if (ntext > 0) png_set_text(png, info, chunks, ntext);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int zoo_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels) {
    return zoo_png_write_text(path, width, height, channels, pixels, NULL, 0);
}

/* a tEXt keyword: 1 to 79 printable Latin-1 characters, no leading, trailing or double
   spaces; the text: Latin-1 (here: ASCII, newlines allowed) */
static bool png_text_ok(const zoo_png_text *t) {
    size_t k = t->key ? strlen(t->key) : 0;
    if (k < 1 || k > 79 || t->key[0] == ' ' || t->key[k - 1] == ' ' || strstr(t->key, "  ") || !t->value) return false;
    for (const char *p = t->key; *p; p++)
        if (*p < 32 || *p > 126) return false;
    for (const char *p = t->value; *p; p++)
        if ((*p < 32 && *p != '\n') || *p > 126) return false;
    return true;
}

int zoo_png_write_text(const char *path, int width, int height, int channels, const uint8_t *pixels,
                       const zoo_png_text *text, int ntext) {
    if (!path) {
        zoo_set_error("zoo_png_write: path is NULL");
        return -1;
    }
    if (ntext < 0 || ntext > ZOO_PNG_TEXT_MAX || (ntext > 0 && !text)) {
        zoo_set_error("%s: cannot write %d text chunks (at most %d)", path, ntext, ZOO_PNG_TEXT_MAX);
        return -1;
    }
    for (int i = 0; i < ntext; i++)
        if (!png_text_ok(&text[i])) {
            zoo_set_error("%s: text chunk %d needs a keyword of 1 to 79 printable ASCII characters and an ASCII "
                          "text",
                          path, i);
            return -1;
        }
    if ((channels != 1 && channels != 3) || !pixels || image_bytes(width, height, channels) < 0) {
        zoo_set_error("%s: cannot write a PNG of %d x %d x %d from %s: sides must be positive, channels "
                      "1 or 3, at most 2^31 bytes",
                      path, width, height, channels, pixels ? "these pixels" : "NULL pixels");
        return -1;
    }
    zoo_atomic_file f;
    if (zoo__atomic_begin(&f, path)) return -1;
    png_status status = {{0}, 0};
    int err = 0;
    errno = 0; /* so png_on_error records this write's errno, not an older one */
    if (png_encode(f.fp, width, height, channels, pixels, text, ntext, &status) != 0)
        err = status.errnum ? status.errnum : EIO;
    char what[240];
    snprintf(what, sizeof what, "libpng failed: %s", status.message);
    return zoo__atomic_commit(&f, err, status.message[0] ? what : NULL);
}

/* ---------------------------------------------------------------- reading */

/* The whole file at path, which must be a regular file below 2^31 bytes (stb_image takes
 * an int length); NULL with a message naming path. The caller frees it. */
static uint8_t *read_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        zoo_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        zoo_set_error("%s: not a regular file", path);
        return NULL;
    }
    if (st.st_size > IMAGE_MAX_BYTES) {
        fclose(fp);
        zoo_set_error("%s: %lld bytes: zoo reads image files below 2^31 bytes", path, (long long)st.st_size);
        return NULL;
    }
    *size = (size_t)st.st_size;
    uint8_t *bytes = malloc(*size ? *size : 1);
    size_t got = bytes ? fread(bytes, 1, *size, fp) : 0;
    fclose(fp);
    if (!bytes || got != *size) {
        zoo_set_error("%s: %s %zu bytes", path, bytes ? "could not read all" : "out of memory for", *size);
        free(bytes);
        return NULL;
    }
    return bytes;
}

/* true when a JPEG (FF, any fill FFs, D8) has a DHT segment (FF C4) with a table of more
 * than 256 codes. stb_image 2.27, Debian 12's, writes past its Huffman arrays on one
 * (stbi__build_huffman), and it reads DHT segments between scans too, so every FF C4 in
 * the file is checked, wherever it is; a byte past the end counts as 0, as stb_image reads it. */
static bool jpeg_huffman_overflows(const uint8_t *b, size_t n) {
    size_t i = 0;
    while (i < n && b[i] == 0xff) i++;
    if (i == 0 || i == n || b[i] != 0xd8) return false;
    for (; i + 1 < n; i++) {
        if (b[i] != 0xff || b[i + 1] != 0xc4) continue;
        size_t at = i + 2;
        long left = (at + 1 < n ? (long)(b[at] << 8 | b[at + 1]) : 0) - 2;
        at += 2;
        while (left > 0 && at < n && b[at] >> 4 <= 1 && (b[at] & 15) <= 3) {
            long codes = 0;
            for (size_t k = 1; k <= 16; k++) codes += at + k < n ? b[at + k] : 0;
            if (codes > 256) return true;
            at += 17 + (size_t)codes;
            left -= 17 + codes;
        }
    }
    return false;
}

/* A PNM header read as stb_image 2.27 reads it (stbi__pnm_info: "P5" or "P6", then width,
 * height and maxval, each after whitespace and '#' comments; a byte past the end is 0),
 * but into int64s that stop growing past 2^40, where stb_image's ints overflow. False when
 * the file is no PNM. */
static bool pnm_header(const uint8_t *b, size_t n, int64_t v[3]) {
    if (n < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return false;
    size_t i = 2;
    int c = i < n ? b[i++] : 0;
    for (int k = 0; k < 3; k++) {
        for (;;) {
            while (i < n && (c == ' ' || (c >= '\t' && c <= '\r'))) c = b[i++];
            if (i >= n || c != '#') break;
            while (i < n && c != '\n' && c != '\r') c = b[i++];
        }
        v[k] = 0;
        while (i < n && c >= '0' && c <= '9') {
            if (v[k] < ((int64_t)1 << 40)) v[k] = v[k] * 10 + (c - '0');
            c = b[i++];
        }
    }
    return true;
}

/* What stb_image must not be given: a JPEG it would overflow on, a PNM whose header it
 * would overflow on or whose 16-bit samples it would misread, an image whose header
 * claims more than 2^31 bytes (refused before stb_image allocates them). 0, or -1 with a
 * message naming path. */
static int check_before_decoding(const char *path, const uint8_t *file, size_t size, int want_channels) {
    if (jpeg_huffman_overflows(file, size)) {
        zoo_set_error("%s: corrupt JPEG: a Huffman table of more than 256 codes", path);
        return -1;
    }
    /* stb_image 2.27 parses a PNM header's numbers into ints without an overflow check,
     * reads a 16-bit PNM's samples in the wrong byte order, and given want_channels
     * converts them as if they were 8-bit and reads past the result */
    int64_t pnm[3];
    bool is_pnm = pnm_header(file, size, pnm);
    if (is_pnm && (pnm[0] > INT32_MAX || pnm[1] > INT32_MAX || pnm[2] > INT32_MAX)) {
        zoo_set_error("%s: a PNM header with a number over 2^31: corrupt", path);
        return -1;
    }
    if (is_pnm && pnm[2] > 255) {
        zoo_set_error("%s: a 16-bit PNM (maxval over 255), which zoo does not read", path);
        return -1;
    }
    int w = 0, h = 0, c = 0;
    if (!stbi_info_from_memory(file, (int)size, &w, &h, &c)) return 0; /* the decoder will say why */
    if (want_channels) c = want_channels;
    if (image_bytes(w, h, c) < 0) {
        zoo_set_error("%s: %d x %d x %d is over 2^31 bytes", path, w, h, c);
        return -1;
    }
    return 0;
}

uint8_t *zoo_image_read(const char *path, int *width, int *height, int *channels, int want_channels) {
    if (!path || want_channels < 0 || want_channels > 4) {
        zoo_set_error("zoo_image_read: %s%s", path ? path : "path is NULL",
                      path ? ": want_channels must be 0 to 4" : "");
        return NULL;
    }
    size_t size;
    uint8_t *file = read_file(path, &size);
    if (!file) return NULL;
    if (check_before_decoding(path, file, size, want_channels)) {
        free(file);
        return NULL;
    }
    int w = 0, h = 0, file_channels = 0;
    uint8_t *decoded = stbi_load_from_memory(file, (int)size, &w, &h, &file_channels, want_channels);
    free(file);
    if (!decoded) {
        const char *why = stbi_failure_reason();
        zoo_set_error("%s: not an image stb_image can decode (it says: %s)", path, why ? why : "no reason given");
        return NULL;
    }
    int c = want_channels ? want_channels : file_channels;
    int64_t bytes = image_bytes(w, h, c);
    if (bytes < 0) {
        stbi_image_free(decoded);
        zoo_set_error("%s: %d x %d x %d is over 2^31 bytes", path, w, h, c);
        return NULL;
    }
    /* a copy, so the caller's free() matches however libstb was built to allocate */
    uint8_t *pixels = need(malloc((size_t)bytes));
    memcpy(pixels, decoded, (size_t)bytes);
    stbi_image_free(decoded);
    *width = w;
    *height = h;
    *channels = c;
    return pixels;
}

/* ---------------------------------------------------------------- grids */

/* torchvision: clamp to [low, high], (v - low) / (high - low), then save_image's
 * mul(255).add(0.5).clamp(0, 255) and the cast to uint8, which truncates. Same float32
 * steps in the same order, so the bytes agree. */
static uint8_t grid_byte(float v) {
    if (!(v >= -1.0f)) v = -1.0f; /* NaN too */
    if (v > 1.0f) v = 1.0f;
    float p = (v + 1.0f) / 2.0f * 255.0f + 0.5f;
    if (p > 255.0f) p = 255.0f;
    return (uint8_t)p;
}

uint8_t *zoo_image_grid(const float *images, int n, int c, int h, int w, int cols, int pad,
                        int *out_w, int *out_h) {
    if (!images || n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || cols < 1 || pad < 0) {
        zoo_set_error("zoo_image_grid: bad arguments: %d images of %d x %d x %d, %d columns, padding %d "
                      "(need images, n, h, w, cols >= 1, c 1 or 3, padding >= 0)",
                      n, c, h, w, cols, pad);
        return NULL;
    }
    if (cols > n) cols = n;
    int64_t rows = (n + (int64_t)cols - 1) / cols;
    int64_t gw = (int64_t)cols * ((int64_t)w + pad) + pad, gh = rows * ((int64_t)h + pad) + pad;
    int64_t bytes = image_bytes(gw, gh, c);
    if (bytes < 0) {
        zoo_set_error("zoo_image_grid: a grid of %lld x %lld x %d is over 2^31 bytes", (long long)gw,
                      (long long)gh, c);
        return NULL;
    }
    uint8_t *grid = need(calloc((size_t)bytes, 1));
    for (int i = 0; i < n; i++) {
        int64_t top = pad + (i / cols) * ((int64_t)h + pad), left = pad + (i % cols) * ((int64_t)w + pad);
        const float *img = images + (int64_t)i * c * h * w;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    grid[((top + y) * gw + left + x) * c + ch] = grid_byte(img[((int64_t)ch * h + y) * w + x]);
    }
    *out_w = (int)gw;
    *out_h = (int)gh;
    return grid;
}

int zoo_png_write_grid(const char *path, const float *images, int n, int c, int h, int w, int cols) {
    return zoo_png_write_grid_text(path, images, n, c, h, w, cols, NULL, 0);
}

int zoo_png_write_grid_text(const char *path, const float *images, int n, int c, int h, int w, int cols,
                            const zoo_png_text *text, int ntext) {
    int gw, gh;
    uint8_t *grid = zoo_image_grid(images, n, c, h, w, cols, 2, &gw, &gh);
    if (!grid) return -1;
    int rc = zoo_png_write_text(path, gw, gh, c, grid, text, ntext);
    free(grid);
    return rc;
}

/* libpng's errors while reading text: the message, then back to the setjmp */
static void png_read_failed(png_structp png, png_const_charp msg) {
    png_status *status = png_get_error_ptr(png);
    snprintf(status->message, sizeof status->message, "%s", msg);
    png_longjmp(png, 1);
}

char *zoo_png_read_text(const char *path, const char *key) {
    FILE *fp = path ? fopen(path, "rb") : NULL;
    if (!fp) {
        zoo_set_error("%s: cannot open: %s", path ? path : "(null)", path ? strerror(errno) : "no path");
        return NULL;
    }
    unsigned char sig[8];
    if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(fp);
        zoo_set_error("%s: not a PNG file", path);
        return NULL;
    }
    png_status status = {{0}, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &status, png_read_failed, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    char *volatile found = NULL; /* volatile: set after setjmp (though never before a jump back) */
    volatile bool ok = info != NULL;
    if (ok && setjmp(png_jmpbuf(png))) {
        ok = false;
    } else if (ok) {
        png_init_io(png, fp);
        png_set_sig_bytes(png, 8);
        png_read_info(png, info); /* the chunks before the pixels: zoo writes its text there */
        png_textp chunks;
        int n = 0;
        png_get_text(png, info, &chunks, &n);
        for (int i = 0; i < n && !found; i++)
            if (strcmp(chunks[i].key, key) == 0) found = strdup(chunks[i].text ? chunks[i].text : "");
    }
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    fclose(fp);
    if (!ok) zoo_set_error("%s: unreadable PNG: %s", path, status.message[0] ? status.message : "out of memory");
    else if (!found) zoo_set_error("%s: no '%s' text in this PNG", path, key);
    if (!ok) {
        free(found);
        return NULL;
    }
    return found;
}

/* ---------------------------------------------------------------- folders */

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's entries that do not start with '.', sorted; NULL with a message
 * when dir cannot be read. The caller frees each name and the array. */
static char **list_names(const char *dir, int *count) {
    DIR *d = opendir(dir);
    if (!d) {
        zoo_set_error("%s: cannot open image folder: %s", dir, strerror(errno));
        return NULL;
    }
    int n = 0, cap = 16;
    char **names = need(malloc((size_t)cap * sizeof *names));
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = need(realloc(names, (size_t)(cap *= 2) * sizeof *names));
        names[n++] = need(strdup(e->d_name));
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    *count = n;
    return names;
}

/* Decodes path into dst as c x h x w channels-first. 0; 1 when path is no regular file
 * (skipped quietly); -1 with the reason in zoo_last_error(). */
static int load_one(const char *path, int c, int h, int w, uint8_t *dst) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return 1;
    int iw, ih, ic;
    uint8_t *img = zoo_image_read(path, &iw, &ih, &ic, c);
    if (!img) return -1;
    if (iw != w || ih != h) {
        uint8_t *resized = need(malloc((size_t)w * (size_t)h * (size_t)c));
        if (!stbir_resize_uint8(img, iw, ih, 0, resized, w, h, 0, c)) {
            free(resized);
            free(img);
            zoo_set_error("%s: resizing from %d x %d to %d x %d failed", path, iw, ih, w, h);
            return -1;
        }
        free(img);
        img = resized;
    }
    for (int ch = 0; ch < c; ch++)
        for (int64_t p = 0; p < (int64_t)h * w; p++) dst[(int64_t)ch * h * w + p] = img[p * c + ch];
    free(img);
    return 0;
}

int zoo_image_folder_load(const char *dir, int c, int h, int w, zoo_images *out) {
    if (!dir || (c != 1 && c != 3) || h < 1 || w < 1 || h > FOLDER_MAX_SIDE || w > FOLDER_MAX_SIDE) {
        zoo_set_error("zoo_image_folder_load: %s: cannot load images as %d x %d x %d: channels must be 1 "
                      "or 3, sides 1 to %d",
                      dir ? dir : "(null folder)", c, h, w, FOLDER_MAX_SIDE);
        return -1;
    }
    int count = 0;
    char **names = list_names(dir, &count);
    if (!names) return -1;

    int64_t size = (int64_t)c * h * w;
    uint8_t *pixels = need(malloc((size_t)(count > 0 ? count : 1) * (size_t)size));
    int64_t n = 0;
    int skipped = 0;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = need(malloc(len));
        snprintf(path, len, "%s/%s", dir, names[i]);
        int rc = load_one(path, c, h, w, pixels + n * size);
        if (rc == 0) n++;
        if (rc < 0) {
            /* zoo_image_read's message starts with the path already */
            fprintf(stderr, "zoo: warning: skipping %s\n", zoo_last_error());
            skipped++;
        }
        free(path);
        free(names[i]);
    }
    free(names);

    if (n == 0) {
        free(pixels);
        if (skipped)
            zoo_set_error("%s: none of its %d files is an image zoo can decode (see the warnings above)", dir, skipped);
        else
            zoo_set_error("%s: no image files in this folder", dir);
        return -1;
    }
    uint8_t *shrunk = realloc(pixels, (size_t)(n * size));
    *out = (zoo_images){
        .n = n,
        .c = c,
        .h = h,
        .w = w,
        .pixels = shrunk ? shrunk : pixels,
        .labels = need(calloc((size_t)n, sizeof(int32_t))),
        .n_classes = 1,
    };
    return 0;
}
