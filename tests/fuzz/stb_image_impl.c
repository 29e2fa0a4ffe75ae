/* stb_image and stb_image_resize compiled into the fuzz targets, so libFuzzer sees their
 * branches and ASan their memory (the system's libstb is neither instrumented nor
 * sanitized). The linker takes these definitions before the library's.
 * Sides are capped at 1024 (stb_image's default: 2^24): a 60-byte BMP may claim 2^24 x
 * 2^24 pixels, which stb_image fills with zeros, and a fuzzer spending seconds on each
 * such input finds nothing else; zoo's own size checks are plain arithmetic. */
#define STBI_MAX_DIMENSIONS 1024
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_resize.h>
