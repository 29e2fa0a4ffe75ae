/* A Vulkan driver (ICD) that loads, creates instances and has no devices: what a
 * machine with a Vulkan driver but no usable GPU looks like. test_vulkan points the
 * loader at it (VK_DRIVER_FILES) to check the zero-device message. Not for anything
 * else: the loader insists that every Vulkan 1.0 instance function exists, so the rest
 * are one stub that aborts (with no device, nothing can call them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vk_icd.h>
#include <vulkan/vulkan.h>

#define EXPORT __attribute__((visibility("default")))

/* dispatchable handles start with a word the loader owns */
typedef struct null_instance {
    VK_LOADER_DATA loader_data;
} null_instance;

static VKAPI_ATTR VkResult VKAPI_CALL null_create_instance(const VkInstanceCreateInfo *ci,
                                                           const VkAllocationCallbacks *alloc, VkInstance *out) {
    (void)ci;
    (void)alloc;
    null_instance *inst = calloc(1, sizeof *inst);
    if (!inst) return VK_ERROR_OUT_OF_HOST_MEMORY;
    set_loader_magic_value(inst);
    *out = (VkInstance)inst;
    return VK_SUCCESS;
}

static VKAPI_ATTR void VKAPI_CALL null_destroy_instance(VkInstance instance, const VkAllocationCallbacks *alloc) {
    (void)alloc;
    free(instance);
}

static VKAPI_ATTR VkResult VKAPI_CALL null_enumerate_extensions(const char *layer, uint32_t *count,
                                                                VkExtensionProperties *props) {
    (void)layer;
    (void)props;
    *count = 0;
    return VK_SUCCESS;
}

static VKAPI_ATTR VkResult VKAPI_CALL null_enumerate_devices(VkInstance instance, uint32_t *count,
                                                             VkPhysicalDevice *devices) {
    (void)instance;
    (void)devices;
    *count = 0;
    return VK_SUCCESS;
}

static VKAPI_ATTR void VKAPI_CALL null_unsupported(void) {
    fprintf(stderr, "vulkan_null_icd: a function this test driver lacks was called\n");
    abort();
}

EXPORT VKAPI_ATTR VkResult VKAPI_CALL vk_icdNegotiateLoaderICDInterfaceVersion(uint32_t *version) {
    if (*version > 2) *version = 2;
    return VK_SUCCESS;
}

EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vk_icdGetInstanceProcAddr(VkInstance instance, const char *name) {
    (void)instance;
    if (strcmp(name, "vkCreateInstance") == 0) return (PFN_vkVoidFunction)null_create_instance;
    if (strcmp(name, "vkDestroyInstance") == 0) return (PFN_vkVoidFunction)null_destroy_instance;
    if (strcmp(name, "vkEnumerateInstanceExtensionProperties") == 0) return (PFN_vkVoidFunction)null_enumerate_extensions;
    if (strcmp(name, "vkEnumeratePhysicalDevices") == 0) return (PFN_vkVoidFunction)null_enumerate_devices;
    /* instance-level extensions stay absent, so the loader does not advertise them */
    if (strncmp(name, "vk", 2) == 0 && !strstr(name, "KHR") && !strstr(name, "EXT")) return null_unsupported;
    return NULL;
}
