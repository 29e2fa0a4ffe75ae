/* The backends of this build by name: the only place that knows which exist, so the
 * core creates one without naming any. */
#include "backend.h"
#ifdef ZOO_HAVE_VULKAN
#include "vulkan/vulkan.h"
#endif

#include <stdlib.h>
#include <string.h>

typedef struct backend_entry {
    const char *name;
    zoo_backend *(*create)(const zoo_backend_config *cfg);
    int (*list_devices)(FILE *out); /* NULL: the host's CPU alone */
} backend_entry;

static const backend_entry entries[] = {
    {"cpu", zoo_backend_cpu_new, NULL},
#ifdef ZOO_HAVE_VULKAN
    {"vulkan", zoo_backend_vulkan_new, zoo_vulkan_list_devices},
#endif
};

#define N_ENTRIES (sizeof entries / sizeof entries[0])

const char *zoo_backend_names(void) {
#ifdef ZOO_HAVE_VULKAN
    return "cpu, vulkan";
#else
    return "cpu";
#endif
}

zoo_backend *zoo_backend_new(const char *name, const zoo_backend_config *cfg) {
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strcmp(entries[i].name, name) == 0) return entries[i].create(cfg);
    if (strcmp(name, "vulkan") == 0) {
        zoo_set_error("the Vulkan backend is not part of this build of zoo (available backends: %s); rebuild with "
                      "libvulkan-dev and glslc installed (meson setup -Dvulkan=enabled)",
                      zoo_backend_names());
        return NULL;
    }
    zoo_set_error("unknown backend '%s' (this build has: %s)", name, zoo_backend_names());
    return NULL;
}

int zoo_backend_list_devices(const char *name, FILE *out) {
    for (size_t i = 0; i < N_ENTRIES; i++) {
        if (strcmp(entries[i].name, name) != 0) continue;
        if (entries[i].list_devices) return entries[i].list_devices(out);
        fprintf(out, "0: the host's CPU [selected]\n");
        return 1;
    }
    zoo_set_error("unknown backend '%s' (this build has: %s)", name, zoo_backend_names());
    return -1;
}

void zoo_backend_free(zoo_backend *be) {
    if (!be) return;
    be->iface.shutdown(be->ctx);
    free(be);
}
