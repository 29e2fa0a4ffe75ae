/* stb_image and stb_image_resize compiled into the fuzz targets, so libFuzzer sees their
 * branches and ASan their memory (the system's libstb.a is neither instrumented nor
 * sanitized). The linker takes these definitions before the archive's. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_resize.h>
