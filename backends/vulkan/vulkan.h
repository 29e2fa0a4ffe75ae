/* The Vulkan backend as the registry (backends/registry.c) sees it: its constructor and
 * a device listing. Plain C: including it needs no Vulkan headers. Built only when meson
 * finds Vulkan (ZOO_HAVE_VULKAN is then defined for what builds on libzoo). */
#ifndef ZOO_VULKAN_H
#define ZOO_VULKAN_H

#include "../backend.h"

#include <stdint.h>
#include <stdio.h>

/* The backend on the device chosen as: ZOO_VULKAN_DEVICE=N if set (an index from
 * zoo_vulkan_list_devices), else the first discrete GPU, else integrated, else any
 * other (Mesa's lavapipe runs on the CPU). cfg->threads is unused: a CPU implementation
 * takes its own (LP_NUM_THREADS for lavapipe).
 * NULL with zoo_last_error() when there is no driver, no device, or device N does not
 * exist. The caller frees with zoo_backend_free.
 *
 * ZOO_VULKAN_VALIDATE=1 turns on the Khronos validation layer with synchronization
 * validation; any message it prints then ends the process with status 1.
 * ZOO_VULKAN_SUBGROUPS=0 keeps fast mode's reductions off subgroup operations (the
 * shared-memory path devices without them take), for tests. */
zoo_backend *zoo_backend_vulkan_new(const zoo_backend_config *cfg);

/* Prints one line per physical device to out: its index (for ZOO_VULKAN_DEVICE), name,
 * type, driver and memory, with the one zoo would pick marked. Returns the number of
 * devices (0 included), or -1 with zoo_last_error() when no Vulkan driver loads. */
int zoo_vulkan_list_devices(FILE *out);

#endif
