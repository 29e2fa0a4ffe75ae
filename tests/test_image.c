/* Images: the torchvision grid layout and value mapping, PNG write/read round trips and
 * atomic writes, and image-folder datasets (conversion, resizing, order, skipped files).
 * Writes its files into a fresh directory under /tmp and removes it at the end. */
#include "test.h"
#include "test_files.h"

#include "core/image.h"
#include "core/tensor.h"

#include <stb_image_write.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* every file of this run lives here; main removes it */
static char root[] = "/tmp/zoo-test-image-XXXXXX";

/* ---------------------------------------------------------------- helpers */

/* root/name; a ring of buffers, so a call may hold a few at once */
static const char *tmp_path(const char *name) {
    static char ring[8][256];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", root, name);
    return p;
}

static bool write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(bytes, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* the whole file (the caller frees), NULL when unreadable */
static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    struct stat st;
    fstat(fileno(fp), &st);
    *n = (size_t)st.st_size;
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, fp) != *n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    return b;
}



static bool mentions(const char *message, const char *part) { return strstr(message, part) != NULL; }

/* stb_image's RGB to gray (stbi__compute_y) */
static int luma(int r, int g, int b) { return (r * 77 + g * 150 + b * 29) >> 8; }

/* the float a grid maps to byte b exactly: (v + 1) / 2 * 255 lands within float error of b */
static float value_for_byte(int b) { return (float)b / 255.0f * 2.0f - 1.0f; }

/* Runs zoo_image_folder_load with stderr sent to a file; returns its result and how many
 * "skipping" lines it wrote. */
static int folder_load_counting_warnings(const char *dir, int c, int h, int w, zoo_images *out,
                                         int *warnings) {
    const char *log = tmp_path("stderr.log");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = zoo_image_folder_load(dir, c, h, w, out);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n = 0;
    uint8_t *text = read_bytes(log, &n);
    *warnings = 0;
    if (text) {
        text[n] = '\0';
        for (char *p = (char *)text; (p = strstr(p, "zoo: warning: skipping ")); p++) (*warnings)++;
        free(text);
    }
    unlink(log);
    return rc;
}

/* ---------------------------------------------------------------- grids */

TEST(grid_layout_is_make_grid_with_padding_everywhere) {
    /* 5 images 1x3x3 in 2 columns, pad 2: 3 rows, 2*(3+2)+2 = 12 wide, 3*(3+2)+2 = 17 high;
     * image i's pixel (y, x) is byte 10*i + 3*y + x + 1 (never 0, so black means padding) */
    enum { n = 5, h = 3, w = 3, cols = 2, pad = 2 };
    float images[n * h * w];
    for (int i = 0; i < n; i++)
        for (int p = 0; p < h * w; p++) images[i * h * w + p] = value_for_byte(10 * i + p + 1);
    int gw = -1, gh = -1;
    uint8_t *g = zoo_image_grid(images, n, 1, h, w, cols, pad, &gw, &gh);
    CHECK(g != NULL);
    if (!g) return;
    CHECK(gw == 12 && gh == 17);
    int wrong = 0;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            int row = (y - pad) / (h + pad), col = (x - pad) / (w + pad);
            int ty = (y - pad) % (h + pad), tx = (x - pad) % (w + pad);
            int i = row * cols + col;
            bool in_tile = y >= pad && x >= pad && ty < h && tx < w && i < n;
            int expect = in_tile ? 10 * i + ty * w + tx + 1 : 0;
            wrong += g[y * gw + x] != expect;
        }
    CHECK(wrong == 0);
    /* spot checks of the formula in image.h: tile i's top-left at (2 + (i/2)*5, 2 + (i%2)*5) */
    CHECK(g[2 * gw + 2] == 1);           /* image 0 */
    CHECK(g[2 * gw + 7] == 11);          /* image 1 */
    CHECK(g[12 * gw + 2] == 41);         /* image 4 */
    CHECK(g[12 * gw + 7] == 0);          /* the empty sixth cell */
    CHECK(g[0] == 0 && g[gw * gh - 1] == 0);
    free(g);
}

TEST(grid_maps_minus_one_to_0_zero_to_128_one_to_255_and_clamps) {
    const float v[] = {-1.0f, 1.0f, 0.0f, -5.0f, 5.0f, NAN, 0.5f, -0.5f, 1e30f, -INFINITY};
    /* torchvision: floor(clamp((clamp(v,-1,1)+1)/2*255 + 0.5, 0, 255)) */
    const uint8_t expect[] = {0, 255, 128, 0, 255, 0, 191, 64, 255, 0};
    enum { n = sizeof v / sizeof v[0] };
    int gw, gh;
    uint8_t *g = zoo_image_grid(v, 1, 1, 1, n, 1, 0, &gw, &gh);
    CHECK(g && gw == n && gh == 1);
    for (int i = 0; g && i < n; i++) CHECK(g[i] == expect[i]);
    free(g);
}

TEST(grid_uses_at_most_n_columns_like_torchvision) {
    float images[3 * 2 * 2] = {0};
    int gw, gh;
    uint8_t *g = zoo_image_grid(images, 3, 1, 2, 2, 8, 2, &gw, &gh);
    CHECK(g && gw == 3 * 4 + 2 && gh == 1 * 4 + 2);
    free(g);
}

TEST(rgb_grid_interleaves_channels) {
    /* 2 images 3x1x2 in one column, pad 1: 4 wide, 5 high; channel ch of image i, pixel x
     * is byte 100*i + 10*ch + x + 1 */
    float images[2 * 3 * 1 * 2];
    for (int i = 0; i < 2; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int x = 0; x < 2; x++) images[(i * 3 + ch) * 2 + x] = value_for_byte(100 * i + 10 * ch + x + 1);
    int gw, gh;
    uint8_t *g = zoo_image_grid(images, 2, 3, 1, 2, 1, 1, &gw, &gh);
    CHECK(g && gw == 4 && gh == 5);
    if (!g) return;
    int wrong = 0;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++)
            for (int ch = 0; ch < 3; ch++) {
                int i = y == 1 ? 0 : y == 3 ? 1 : -1;
                int expect = i >= 0 && (x == 1 || x == 2) ? 100 * i + 10 * ch + (x - 1) + 1 : 0;
                wrong += g[(y * gw + x) * 3 + ch] != expect;
            }
    CHECK(wrong == 0);
    free(g);
}

TEST(grid_refuses_bad_arguments_and_leaves_outputs) {
    float one = 0;
    int gw = -7, gh = -7;
    CHECK(zoo_image_grid(&one, 0, 1, 1, 1, 1, 2, &gw, &gh) == NULL);
    CHECK(zoo_image_grid(&one, 1, 2, 1, 1, 1, 2, &gw, &gh) == NULL);
    CHECK(mentions(zoo_last_error(), "c 1 or 3"));
    CHECK(zoo_image_grid(&one, 1, 1, 1, 1, 0, 2, &gw, &gh) == NULL);
    CHECK(zoo_image_grid(&one, 1, 1, 1, 1, 1, -1, &gw, &gh) == NULL);
    CHECK(zoo_image_grid(&one, 1, 1, 1 << 20, 1 << 20, 1, 2, &gw, &gh) == NULL);
    CHECK(mentions(zoo_last_error(), "over 2^31 bytes"));
    CHECK(gw == -7 && gh == -7);
}

/* ---------------------------------------------------------------- PNG files */

/* a PNG's IHDR says bit depth 8 and this color type (0 gray, 2 RGB) */
static bool png_header_says(const char *path, int color_type) {
    size_t n = 0;
    uint8_t *b = read_bytes(path, &n);
    bool ok = b && n > 26 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(b + 12, "IHDR", 4) == 0 &&
              b[24] == 8 && b[25] == color_type;
    free(b);
    return ok;
}

TEST(gray_png_reads_back_identical) {
    enum { w = 7, h = 5 };
    uint8_t px[w * h];
    for (int i = 0; i < w * h; i++) px[i] = (uint8_t)(i * 7 + 3);
    const char *path = tmp_path("gray.png");
    CHECK(zoo_png_write(path, w, h, 1, px) == 0);
    CHECK(png_header_says(path, 0));
    int rw, rh, rc;
    uint8_t *back = zoo_image_read(path, &rw, &rh, &rc, 0);
    CHECK(back && rw == w && rh == h && rc == 1);
    CHECK(back && memcmp(back, px, sizeof px) == 0);
    free(back);
    /* want_channels 3 repeats gray into RGB */
    back = zoo_image_read(path, &rw, &rh, &rc, 3);
    CHECK(back && rc == 3);
    bool same = back != NULL;
    for (int i = 0; same && i < w * h; i++) same = back[3 * i] == px[i] && back[3 * i + 1] == px[i] && back[3 * i + 2] == px[i];
    CHECK(same);
    free(back);
}

TEST(png_text_chunks_round_trip_and_bad_ones_are_refused) {
    enum { w = 4, h = 3 };
    uint8_t px[w * h] = {0};
    const char *path = tmp_path("text.png");
    zoo_png_text text[2] = {{.key = "parameters", .value = "model: x, seed: 7"},
                            {.key = "zoo-sample", .value = "diffusion\n--seed\n7"}};
    CHECK(zoo_png_write_text(path, w, h, 1, px, text, 2) == 0);
    char *a = zoo_png_read_text(path, "zoo-sample"), *b = zoo_png_read_text(path, "parameters");
    CHECK(a && strcmp(a, "diffusion\n--seed\n7") == 0);
    CHECK(b && strcmp(b, "model: x, seed: 7") == 0);
    free(a);
    free(b);
    int rw, rh, rc; /* the pixels are unchanged by the text */
    uint8_t *back = zoo_image_read(path, &rw, &rh, &rc, 0);
    CHECK(back && rw == w && rh == h && memcmp(back, px, sizeof px) == 0);
    free(back);
    CHECK(zoo_png_read_text(path, "missing") == NULL && strstr(zoo_last_error(), "no 'missing' text"));
    CHECK(zoo_png_write(tmp_path("plain.png"), w, h, 1, px) == 0);
    CHECK(zoo_png_read_text(tmp_path("plain.png"), "parameters") == NULL);
    CHECK(zoo_png_read_text(tmp_path("nope.png"), "parameters") == NULL && strstr(zoo_last_error(), "cannot open"));
    FILE *fp = fopen(tmp_path("fake.png"), "wb");
    fputs("not a png at all", fp);
    fclose(fp);
    CHECK(zoo_png_read_text(tmp_path("fake.png"), "parameters") == NULL && strstr(zoo_last_error(), "not a PNG"));
    /* keywords of 80 characters, with control characters, or empty; text beyond ASCII */
    char long_key[81];
    memset(long_key, 'k', 80);
    long_key[80] = 0;
    const zoo_png_text bad[] = {{.key = long_key, .value = "v"}, {.key = "a\tb", .value = "v"}, {.key = "", .value = "v"},
                                {.key = " lead", .value = "v"}, {.key = "k", .value = "caf\xc3\xa9"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(zoo_png_write_text(tmp_path("bad.png"), w, h, 1, px, &bad[i], 1) == -1);
        CHECK(strstr(zoo_last_error(), "text chunk 0 needs") != NULL);
        CHECK(access(tmp_path("bad.png"), F_OK) != 0);
    }
}

TEST(rgb_png_reads_back_identical) {
    enum { w = 6, h = 3 };
    uint8_t px[w * h * 3];
    for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)(i * 13 + 5);
    const char *path = tmp_path("rgb.png");
    CHECK(zoo_png_write(path, w, h, 3, px) == 0);
    CHECK(png_header_says(path, 2));
    int rw, rh, rc;
    uint8_t *back = zoo_image_read(path, &rw, &rh, &rc, 0);
    CHECK(back && rw == w && rh == h && rc == 3);
    CHECK(back && memcmp(back, px, sizeof px) == 0);
    free(back);
    /* want_channels 1 takes stb_image's luminance */
    back = zoo_image_read(path, &rw, &rh, &rc, 1);
    CHECK(back && rc == 1);
    bool same = back != NULL;
    for (int i = 0; same && i < w * h; i++) same = back[i] == luma(px[3 * i], px[3 * i + 1], px[3 * i + 2]);
    CHECK(same);
    free(back);
}

TEST(png_grid_file_holds_the_grid_with_padding_2) {
    float images[3 * 3 * 4 * 5];
    for (int i = 0; i < 3 * 3 * 4 * 5; i++) images[i] = (float)((i * 37) % 201 - 100) / 100.0f;
    int gw, gh;
    uint8_t *g = zoo_image_grid(images, 3, 3, 4, 5, 2, 2, &gw, &gh);
    const char *path = tmp_path("grid.png");
    CHECK(zoo_png_write_grid(path, images, 3, 3, 4, 5, 2) == 0);
    int rw, rh, rc;
    uint8_t *back = zoo_image_read(path, &rw, &rh, &rc, 0);
    CHECK(g && back && rw == gw && rh == gh && rc == 3);
    CHECK(gw == 2 * 7 + 2 && gh == 2 * 6 + 2);
    CHECK(g && back && memcmp(g, back, (size_t)gw * gh * 3) == 0);
    free(g);
    free(back);
    unlink(path);
}

TEST(png_write_into_a_missing_directory_fails_cleanly) {
    const char *path = tmp_path("no_such_dir/out.png");
    int entries = count_entries(root);
    uint8_t px[4] = {1, 2, 3, 4};
    CHECK(zoo_png_write(path, 2, 2, 1, px) == -1);
    CHECK(mentions(zoo_last_error(), path) && mentions(zoo_last_error(), "No such file or directory"));
    CHECK(count_entries(root) == entries);
}

TEST(failed_rename_removes_the_temp_file) {
    /* path is a directory: the temp file is written, the rename fails */
    const char *path = tmp_path("a_directory");
    CHECK(mkdir(path, 0755) == 0);
    int entries = count_entries(root);
    uint8_t px[4] = {1, 2, 3, 4};
    CHECK(zoo_png_write(path, 2, 2, 1, px) == -1);
    CHECK(mentions(zoo_last_error(), path) && mentions(zoo_last_error(), "rename"));
    CHECK(count_entries(root) == entries);
    CHECK(count_entries(path) == 0);
    rmdir(path);
}

TEST(png_write_replaces_the_file_atomically) {
    const char *path = tmp_path("overwrite.png");
    uint8_t a[2 * 2] = {10, 20, 30, 40}, b[3 * 1 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int entries = count_entries(root);
    CHECK(zoo_png_write(path, 2, 2, 1, a) == 0);
    CHECK(zoo_png_write(path, 3, 1, 3, b) == 0);
    CHECK(count_entries(root) == entries + 1);
    int rw, rh, rc;
    uint8_t *back = zoo_image_read(path, &rw, &rh, &rc, 0);
    CHECK(back && rw == 3 && rh == 1 && rc == 3 && memcmp(back, b, sizeof b) == 0);
    free(back);

    /* a refused write leaves the old file as it was */
    size_t before_n = 0, after_n = 0;
    uint8_t *before = read_bytes(path, &before_n);
    CHECK(zoo_png_write(path, 3, 1, 2, b) == -1);
    CHECK(mentions(zoo_last_error(), "channels"));
    CHECK(zoo_png_write(path, 0, 1, 1, b) == -1);
    CHECK(zoo_png_write(path, 1, 1, 1, NULL) == -1);
    uint8_t *after = read_bytes(path, &after_n);
    CHECK(before && after && before_n == after_n && memcmp(before, after, before_n) == 0);
    free(before);
    free(after);
    unlink(path);
}

TEST(png_write_that_runs_out_of_space_leaves_the_old_file) {
    const char *path = tmp_path("full.png");
    uint8_t small[4] = {9, 8, 7, 6};
    CHECK(zoo_png_write(path, 2, 2, 1, small) == 0);
    size_t before_n = 0, after_n = 0;
    uint8_t *before = read_bytes(path, &before_n);
    int entries = count_entries(root);

    /* noise does not compress: 256 x 256 x 3 bytes of it overrun a 4 KiB file-size limit */
    enum { side = 256 };
    uint8_t *noise = malloc(side * side * 3);
    uint32_t s = 12345;
    for (int i = 0; i < side * side * 3; i++) noise[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &(struct rlimit){4096, 4096});
        int rc = zoo_png_write(path, side, side, 3, noise);
        _exit(rc == -1 && mentions(zoo_last_error(), "File too large") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    uint8_t *after = read_bytes(path, &after_n);
    CHECK(before && after && before_n == after_n && memcmp(before, after, before_n) == 0);
    CHECK(count_entries(root) == entries);
    free(noise);
    free(before);
    free(after);
    unlink(path);
}

TEST(image_read_errors_name_the_file_and_leave_outputs) {
    int w = -7, h = -7, c = -7;
    const char *missing = tmp_path("missing.png");
    CHECK(zoo_image_read(missing, &w, &h, &c, 0) == NULL);
    CHECK(mentions(zoo_last_error(), missing) && mentions(zoo_last_error(), "No such file"));

    const char *text = tmp_path("text.png");
    CHECK(write_bytes(text, "hello, not a picture\n", 21));
    CHECK(zoo_image_read(text, &w, &h, &c, 0) == NULL);
    CHECK(mentions(zoo_last_error(), text) && mentions(zoo_last_error(), "not an image"));

    CHECK(zoo_image_read(root, &w, &h, &c, 0) == NULL);
    CHECK(mentions(zoo_last_error(), "not a regular file"));
    CHECK(zoo_image_read(text, &w, &h, &c, 5) == NULL);
    CHECK(w == -7 && h == -7 && c == -7);
    unlink(text);
}

/* Found by tests/fuzz/fuzz_image_folder: stb_image 2.27 (Debian 12's) writes past its
 * Huffman arrays when a JPEG's DHT segment declares more than 256 codes. zoo refuses such
 * a file before stb_image reads it: at the start, after fill bytes, and between scans. */
TEST(jpeg_with_a_huffman_table_of_over_256_codes_is_refused) {
    /* DHT: FF C4, length 19, class 0 table 0, sixteen counts of 32 (512 codes) */
    uint8_t dht[2 + 2 + 1 + 16];
    dht[0] = 0xff, dht[1] = 0xc4, dht[2] = 0, dht[3] = 19, dht[4] = 0;
    memset(dht + 5, 32, 16);
    uint8_t file[64];
    const char *path = tmp_path("huffman.jpg");
    for (int variant = 0; variant < 3; variant++) {
        size_t n = 0;
        if (variant == 1) file[n++] = 0xff; /* fill byte before SOI */
        file[n++] = 0xff, file[n++] = 0xd8;
        if (variant == 2) { /* an SOS segment and entropy-coded bytes first */
            const uint8_t sos[] = {0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x12, 0xff, 0x00, 0x34};
            memcpy(file + n, sos, sizeof sos);
            n += sizeof sos;
        }
        memcpy(file + n, dht, sizeof dht);
        n += sizeof dht;
        CHECK(write_bytes(path, file, n));
        int w = -7, h = -7, c = -7;
        CHECK(zoo_image_read(path, &w, &h, &c, 0) == NULL);
        CHECK(mentions(zoo_last_error(), path) && mentions(zoo_last_error(), "Huffman table of more than 256 codes"));
        CHECK(w == -7 && h == -7 && c == -7);
    }
    unlink(path);
}

/* Found by tests/fuzz/fuzz_image_folder: stb_image 2.27 converts a 16-bit PNM's channels
 * as if its samples were bytes, then reads twice the converted buffer's length; it also
 * takes the samples as little-endian, where PNM's are big-endian; and it parses header
 * numbers into an int that overflows. zoo refuses 16-bit PNMs (maxval over 255) and
 * header numbers past 2^31, and reads 8-bit ones as before. */
TEST(a_16_bit_or_overflowing_pnm_is_refused_and_an_8_bit_one_reads) {
    const char *path = tmp_path("deep.ppm");
    const char ppm16[] = "P6\n2 2\n65535\n\x12\x34\x56\x78\x9a\xbc\xff\x00\x00\x00\x80\x00"
                         "\x01\x00\x02\x00\x03\x00\xfe\xff\x7f\xff\x00\xff";
    CHECK(write_bytes(path, ppm16, sizeof ppm16 - 1));
    for (int want = 0; want <= 4; want++) {
        int w = -7, h = -7, c = -7;
        CHECK(zoo_image_read(path, &w, &h, &c, want) == NULL);
        CHECK(mentions(zoo_last_error(), path) && mentions(zoo_last_error(), "16-bit PNM"));
        CHECK(w == -7 && h == -7 && c == -7);
    }
    /* and a header number past an int, which stb_image would overflow on */
    const char wide[] = "P6\n# comment\n99999999999 2\n255\n\x01\x02\x03";
    CHECK(write_bytes(path, wide, sizeof wide - 1));
    int w = -7, h = -7, c = -7;
    CHECK(zoo_image_read(path, &w, &h, &c, 0) == NULL);
    CHECK(mentions(zoo_last_error(), path) && mentions(zoo_last_error(), "PNM header with a number over 2^31"));
    const char pgm8[] = "P5\n3 2\n255\n\x00\x32\x64\x96\xc8\xfa";
    CHECK(write_bytes(path, pgm8, sizeof pgm8 - 1));
    uint8_t *px = zoo_image_read(path, &w, &h, &c, 0);
    CHECK(px && w == 3 && h == 2 && c == 1 && memcmp(px, "\x00\x32\x64\x96\xc8\xfa", 6) == 0);
    free(px);
    unlink(path);
}

/* A 20-byte gray PGM claiming 40000 x 40000, read as RGB (4.8 GB): refused from its header
 * before stb_image allocates the 1.6 GB gray image it would decode first. */
TEST(an_image_over_2_31_bytes_is_refused_from_its_header) {
    const char *path = tmp_path("huge.pgm");
    const char pgm[] = "P5\n40000 40000\n255\n\x01\x02";
    CHECK(write_bytes(path, pgm, sizeof pgm - 1));
    int w = -7, h = -7, c = -7;
    CHECK(zoo_image_read(path, &w, &h, &c, 3) == NULL);
    CHECK(mentions(zoo_last_error(), "40000 x 40000 x 3 is over 2^31 bytes"));
    CHECK(w == -7 && h == -7 && c == -7);
    unlink(path);
}

/* ---------------------------------------------------------------- folders */

/* The mixed folder: four images of different formats, channels and sizes, named so that
 * strcmp order differs from the order they are written in, and things to skip. */
enum { FW = 5, FH = 4 };
static uint8_t exact_rgb[FH * FW * 3]; /* b-rgb.png, already FW x FH */

static void write_png_fill(const char *path, int w, int h, int c, uint8_t v) {
    uint8_t *px = malloc((size_t)w * h * c);
    memset(px, v, (size_t)w * h * c);
    CHECK(zoo_png_write(path, w, h, c, px) == 0);
    free(px);
}

static void write_jpg_rgb(const char *path, int w, int h, const uint8_t rgb[3]) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) memcpy(px + 3 * i, rgb, 3);
    CHECK(stbi_write_jpg(path, w, h, 3, px, 95) != 0);
    free(px);
}

static void make_mixed_folder(const char *dir) {
    char p[512];
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(p, sizeof p, "%s/subdir", dir);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/g-empty.png", dir);
    CHECK(write_bytes(p, "", 0));
    snprintf(p, sizeof p, "%s/f-notes.txt", dir);
    CHECK(write_bytes(p, "not an image\n", 13));
    /* a real PNG whose compressed data is overwritten with garbage */
    uint8_t px[16 * 16];
    for (int i = 0; i < 256; i++) px[i] = (uint8_t)(i * 31);
    snprintf(p, sizeof p, "%s/e-corrupt.png", dir);
    CHECK(zoo_png_write(p, 16, 16, 1, px) == 0);
    size_t n = 0;
    uint8_t *bytes = read_bytes(p, &n);
    CHECK(bytes && n > 60);
    if (bytes) {
        for (size_t i = 41; i < n - 12; i++) bytes[i] = (uint8_t)(i * 151 + 7);
        CHECK(write_bytes(p, bytes, n));
        free(bytes);
    }
    snprintf(p, sizeof p, "%s/d-gray.jpg", dir);
    uint8_t gray[7 * 9];
    memset(gray, 150, sizeof gray);
    CHECK(stbi_write_jpg(p, 7, 9, 1, gray, 95) != 0);
    snprintf(p, sizeof p, "%s/c-rgb.jpg", dir);
    write_jpg_rgb(p, 3, 2, (const uint8_t[3]){200, 100, 50});
    snprintf(p, sizeof p, "%s/b-rgb.png", dir);
    CHECK(zoo_png_write(p, FW, FH, 3, exact_rgb) == 0);
    snprintf(p, sizeof p, "%s/a-gray-big.png", dir);
    write_png_fill(p, 10, 8, 1, 77);
    snprintf(p, sizeof p, "%s/.hidden.png", dir);
    write_png_fill(p, FW, FH, 3, 1);
}

/* every pixel of channel ch of example i is within tol of v */
static bool plane_near(const zoo_images *d, int64_t i, int ch, int v, int tol) {
    const uint8_t *p = d->pixels + ((i * d->c + ch) * d->h) * d->w;
    for (int k = 0; k < d->h * d->w; k++)
        if (abs(p[k] - v) > tol) {
            fprintf(stderr, "  example %lld channel %d pixel %d: %d, expected %d +- %d\n", (long long)i, ch, k,
                    p[k], v, tol);
            return false;
        }
    return true;
}

TEST(folder_loads_mixed_images_converted_and_resized_in_name_order) {
    const char *dir = tmp_path("mixed");
    make_mixed_folder(dir);
    zoo_images d = {0};
    int warnings = -1;
    CHECK(folder_load_counting_warnings(dir, 3, FH, FW, &d, &warnings) == 0);
    /* e-corrupt.png, f-notes.txt, g-empty.png warned about; .hidden.png and subdir not */
    CHECK(warnings == 3);
    CHECK(d.n == 4 && d.c == 3 && d.h == FH && d.w == FW && d.n_classes == 1);
    CHECK(d.labels && d.labels[0] == 0 && d.labels[3] == 0);
    if (d.n != 4) {
        zoo_images_free(&d);
        return;
    }
    /* a: gray 10x8 of 77, to RGB and down to 5x4 */
    for (int ch = 0; ch < 3; ch++) CHECK(plane_near(&d, 0, ch, 77, 1));
    /* b: already 5x4 RGB, exact, channels-first */
    bool exact = true;
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < FH * FW; p++) exact = exact && d.pixels[(FH * FW * 3) + ch * FH * FW + p] == exact_rgb[p * 3 + ch];
    CHECK(exact);
    /* c: RGB JPEG 3x2, up to 5x4 */
    CHECK(plane_near(&d, 2, 0, 200, 3) && plane_near(&d, 2, 1, 100, 3) && plane_near(&d, 2, 2, 50, 3));
    /* d: gray JPEG 7x9, to RGB, down in width and height both */
    for (int ch = 0; ch < 3; ch++) CHECK(plane_near(&d, 3, ch, 150, 2));
    zoo_images_free(&d);

    /* as gray: RGB files through stb_image's luminance */
    CHECK(folder_load_counting_warnings(dir, 1, FH, FW, &d, &warnings) == 0);
    CHECK(d.n == 4 && d.c == 1);
    if (d.n == 4) {
        exact = true;
        for (int p = 0; p < FH * FW; p++)
            exact = exact && d.pixels[FH * FW + p] == luma(exact_rgb[3 * p], exact_rgb[3 * p + 1], exact_rgb[3 * p + 2]);
        CHECK(exact);
        CHECK(plane_near(&d, 0, 0, 77, 1) && plane_near(&d, 2, 0, luma(200, 100, 50), 3));
    }
    zoo_images_free(&d);
}

TEST(folder_order_is_by_name_and_repeatable) {
    const char *dir = tmp_path("ordered");
    CHECK(mkdir(dir, 0755) == 0);
    /* written in this order; strcmp order is a, b, c10, c2 */
    const char *names[] = {"c2.png", "b.png", "c10.png", "a.png"};
    const uint8_t values[] = {40, 30, 20, 10};
    for (int i = 0; i < 4; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        write_png_fill(p, 2, 2, 1, values[i]);
    }
    zoo_images d1 = {0}, d2 = {0};
    CHECK(zoo_image_folder_load(dir, 1, 2, 2, &d1) == 0);
    CHECK(zoo_image_folder_load(dir, 1, 2, 2, &d2) == 0);
    CHECK(d1.n == 4 && d2.n == 4);
    if (d1.n == 4) {
        const uint8_t expect[] = {10, 30, 20, 40};
        for (int i = 0; i < 4; i++) CHECK(d1.pixels[i * 4] == expect[i] && d1.pixels[i * 4 + 3] == expect[i]);
        CHECK(d2.n == 4 && memcmp(d1.pixels, d2.pixels, 16) == 0);
    }
    zoo_images_free(&d1);
    zoo_images_free(&d2);
}

/* zoo_image_folder_load that must fail, leaving *out untouched; returns the message */
static const char *folder_error(const char *dir, int c, int *warnings) {
    zoo_images out, before;
    memset(&out, 0xa5, sizeof out);
    memcpy(&before, &out, sizeof out);
    int rc = folder_load_counting_warnings(dir, c, 4, 4, &out, warnings);
    CHECK(rc == -1);
    CHECK(memcmp(&out, &before, sizeof out) == 0);
    if (rc == 0) zoo_images_free(&out);
    return zoo_last_error();
}

TEST(folder_errors_name_the_folder) {
    int warnings = -1;
    const char *missing = tmp_path("no_such_folder");
    const char *err = folder_error(missing, 1, &warnings);
    CHECK(mentions(err, missing) && mentions(err, "No such file or directory"));

    const char *empty = tmp_path("empty");
    CHECK(mkdir(empty, 0755) == 0);
    char hidden[512];
    snprintf(hidden, sizeof hidden, "%s/.DS_Store", empty);
    CHECK(write_bytes(hidden, "junk", 4));
    err = folder_error(empty, 1, &warnings);
    CHECK(mentions(err, empty) && mentions(err, "no image files"));
    CHECK(warnings == 0);

    const char *junk = tmp_path("junk");
    CHECK(mkdir(junk, 0755) == 0);
    char p[512];
    snprintf(p, sizeof p, "%s/readme.txt", junk);
    CHECK(write_bytes(p, "text", 4));
    err = folder_error(junk, 3, &warnings);
    CHECK(mentions(err, junk) && mentions(err, "none of its 1 files"));
    CHECK(warnings == 1);

    err = folder_error(junk, 2, &warnings);
    CHECK(mentions(err, "channels must be 1 or 3"));
}

TEST(folder_fixture_in_assets_loads_three_of_five) {
    const char *assets = getenv("ZOO_ASSETS");
    CHECK(assets != NULL);
    if (!assets) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/images/mixed", assets);
    zoo_images d = {0};
    int warnings = -1;
    CHECK(folder_load_counting_warnings(dir, 1, 8, 8, &d, &warnings) == 0);
    CHECK(warnings == 2); /* d-notes.txt, e-corrupt.png */
    CHECK(d.n == 3 && d.c == 1 && d.h == 8 && d.w == 8);
    if (d.n == 3) {
        /* b-rgb-8x8.png is 8x8 already: pixel (y, x) = luma(32x, 32y, 200) exactly */
        bool exact = true;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) exact = exact && d.pixels[64 + y * 8 + x] == luma(32 * x, 32 * y, 200);
        CHECK(exact);
        CHECK(plane_near(&d, 2, 0, luma(220, 120, 20), 4));
    }
    zoo_images_free(&d);
}

int main(void) {
    if (zoo_init("cpu", 0)) return 1;
    if (!mkdtemp(root)) {
        perror(root);
        return 1;
    }
    for (int i = 0; i < FH * FW * 3; i++) exact_rgb[i] = (uint8_t)(i * 11 + 3);

    RUN(grid_layout_is_make_grid_with_padding_everywhere);
    RUN(grid_maps_minus_one_to_0_zero_to_128_one_to_255_and_clamps);
    RUN(grid_uses_at_most_n_columns_like_torchvision);
    RUN(rgb_grid_interleaves_channels);
    RUN(grid_refuses_bad_arguments_and_leaves_outputs);
    RUN(gray_png_reads_back_identical);
    RUN(rgb_png_reads_back_identical);
    RUN(png_text_chunks_round_trip_and_bad_ones_are_refused);
    RUN(png_grid_file_holds_the_grid_with_padding_2);
    RUN(png_write_into_a_missing_directory_fails_cleanly);
    RUN(failed_rename_removes_the_temp_file);
    RUN(png_write_replaces_the_file_atomically);
    RUN(png_write_that_runs_out_of_space_leaves_the_old_file);
    RUN(image_read_errors_name_the_file_and_leave_outputs);
    RUN(jpeg_with_a_huffman_table_of_over_256_codes_is_refused);
    RUN(a_16_bit_or_overflowing_pnm_is_refused_and_an_8_bit_one_reads);
    RUN(an_image_over_2_31_bytes_is_refused_from_its_header);
    RUN(folder_loads_mixed_images_converted_and_resized_in_name_order);
    RUN(folder_order_is_by_name_and_repeatable);
    RUN(folder_errors_name_the_folder);
    RUN(folder_fixture_in_assets_loads_three_of_five);

    remove_tree(root);
    zoo_shutdown();
    TEST_EXIT();
}
