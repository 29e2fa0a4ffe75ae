/* Image files on the host: PNG writing (libpng), reading any format stb_image knows,
 * torchvision-style sample grids, and image-folder datasets. Host memory only: nothing
 * here touches tensors or the backend.
 *
 * Buffers named HWC hold 8-bit pixels row by row, top row first, channels interleaved:
 * pixel (y, x), channel ch is pixels[(y*width + x)*channels + ch]. */
#ifndef ZOO_IMAGE_H
#define ZOO_IMAGE_H

#include "data.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- files */

/* Writes an 8-bit PNG of width x height, grayscale (channels 1) or RGB (channels 3), from
 * an HWC buffer the caller keeps. Atomic, like checkpoints: a temp file beside path is
 * written, fsynced and renamed over it, then the directory is fsynced. Returns 0, or -1
 * with zoo_last_error() naming path; then no temp file is left and path is untouched (a
 * failed directory fsync, after the rename, is the one exception). */
ZOO_API int zoo_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels);

/* A PNG text chunk (tEXt): a keyword of 1 to 79 printable ASCII characters (no leading,
 * trailing or double spaces) and an ASCII text (newlines allowed). */
typedef struct zoo_png_text {
    const char *key, *value;
} zoo_png_text;
#define ZOO_PNG_TEXT_MAX 8

/* zoo_png_write with up to ZOO_PNG_TEXT_MAX text chunks before the pixels (how the
 * image was made, as stable-diffusion.cpp records its settings); bad keywords or text
 * are refused with zoo_last_error() */
ZOO_API int zoo_png_write_text(const char *path, int width, int height, int channels, const uint8_t *pixels,
                               const zoo_png_text *text, int ntext);
/* the text of PNG chunk `key` (tEXt, zTXt or iTXt) as a string the caller frees, or NULL
 * with zoo_last_error() when path is unreadable, not a PNG, or has no such chunk */
ZOO_API char *zoo_png_read_text(const char *path, const char *key);

/* Reads a PNG, JPEG, BMP, GIF (first frame), TGA, PSD, PNM or HDR file with stb_image
 * (16-bit PNGs come back as 8-bit). Refused before stb_image sees them: images of 2^31
 * bytes or more (from the header), 16-bit PNMs and PNM headers with numbers of 2^31 or
 * more, JPEG Huffman tables of more than 256 codes (each of which Debian's stb_image 2.27
 * mishandles). want_channels 0 keeps the file's channel count; 1 to
 * 4 converts to gray, gray+alpha, RGB or RGBA (RGB to gray by luminance, alpha dropped
 * without compositing). Returns an HWC buffer of *width x *height x *channels bytes, where
 * *channels is what the buffer holds (want_channels when non-zero); the caller frees it
 * with free(). NULL with zoo_last_error() naming path and the decoder's reason, and the
 * three outputs untouched. */
ZOO_API uint8_t *zoo_image_read(const char *path, int *width, int *height, int *channels, int want_channels);

/* ---------------------------------------------------------------- grids */

/* The layout of torchvision.utils.make_grid + save_image, for sample sheets.
 * images: [n, c, h, w] floats, channels-first (c 1 or 3), values in [-1, 1].
 * Tiles go left to right, then top to bottom, in cols' = min(cols, n) columns and
 * rows = ceil(n / cols') rows, `pad` pixels between tiles and around the outer border,
 * background 0 (black); cells after the last image stay black. Tile i's top-left pixel is
 * at (y, x) = (pad + (i / cols')*(h + pad), pad + (i % cols')*(w + pad)). A value v
 * becomes floor(clamp((clamp(v, -1, 1) + 1) / 2 * 255 + 0.5, 0, 255)) as torchvision's
 * normalize=True, value_range=(-1, 1) does (so -1 -> 0, 0 -> 128, 1 -> 255; NaN -> 0).
 * Two differences from torchvision: gray stays 1 channel (torchvision repeats it into 3),
 * and one image is padded too (torchvision returns it bare).
 * Returns an HWC buffer of *out_h = rows*(h + pad) + pad by *out_w = cols'*(w + pad) + pad
 * by c bytes (the caller frees it with free()), or NULL with zoo_last_error() for bad
 * arguments (n, h, w, cols < 1, pad < 0, c not 1 or 3, or an image over 2^31 bytes), and
 * the outputs untouched. */
ZOO_API uint8_t *zoo_image_grid(const float *images, int n, int c, int h, int w, int cols, int pad,
                        int *out_w, int *out_h);

/* zoo_image_grid with torchvision's padding of 2, written with zoo_png_write.
 * Returns 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_png_write_grid(const char *path, const float *images, int n, int c, int h, int w, int cols);
/* the same with text chunks (zoo_png_write_text) */
ZOO_API int zoo_png_write_grid_text(const char *path, const float *images, int n, int c, int h, int w, int cols,
                                    const zoo_png_text *text, int ntext);

/* ---------------------------------------------------------------- folders */

/* Loads every image file directly in dir into a dataset of c x h x w (c 1 or 3, h and w
 * 1 to 65535): files in strcmp order of their names, so the dataset's order is the same on
 * every run and machine. Each image is converted to c channels (see zoo_image_read) and,
 * when its size differs, resized to w x h with stb_image_resize (its default filters, on
 * the byte values as they are: no sRGB linearization), aspect ratio not kept. Labels are
 * all 0 and n_classes is 1. Names starting with '.' and subfolders are ignored; a file
 * that is not an image or does not decode is skipped with one line on stderr,
 * "zoo: warning: skipping PATH: REASON". Returns 0 and fills *out (the caller frees with
 * zoo_images_free), or -1 with zoo_last_error() naming dir (it cannot be opened, or no
 * file in it loads) and *out untouched. */
ZOO_API int zoo_image_folder_load(const char *dir, int c, int h, int w, zoo_images *out);

#ifdef __cplusplus
}
#endif

#endif
