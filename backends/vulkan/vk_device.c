/* Vulkan instance and device: driver loading, the validation layer when asked for,
 * device choice (discrete > integrated > virtual > CPU, or ZOO_VULKAN_DEVICE) and the
 * listing the apps print. Nothing here records commands or allocates tensors.
 *
 * The instance is made once per process and kept: backends come and go (tests switch
 * often) while loading the drivers costs a good part of a second, and a driver
 * unloaded mid-process takes with it the globals that point at its own allocations,
 * which leak checkers then report. Devices are made and destroyed per backend. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"
#define SOFTWARE_HINT                                                                              \
    "for a software implementation install mesa-vulkan-drivers (apt-get install mesa-vulkan-drivers)"

/* ---------------------------------------------------------------- checked calls */

const char *vk_result_name(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    default: return "an unnamed VkResult";
    }
}

void vk__check(VkResult r, const char *call, const char *file, int line) {
    if (r == VK_SUCCESS) return;
    const char *hint = "";
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        hint = " (out of memory: try a smaller batch or model)";
    else if (r == VK_ERROR_DEVICE_LOST)
        hint = " (the GPU driver reset the device: rerun with ZOO_VULKAN_VALIDATE=1 to look for a bad command)";
    fprintf(stderr, "zoo: error: Vulkan call failed at %s:%d: %s returned %s (%d)%s\n", file, line, call,
            vk_result_name(r), (int)r, hint);
    exit(1);
}

/* ---------------------------------------------------------------- validation */

static struct {
    VkInstance instance; /* VK_NULL_HANDLE until the first successful creation */
    VkDebugUtilsMessengerEXT messenger;
    bool validate; /* ZOO_VULKAN_VALIDATE=1 when the instance was made */
    uint64_t messages;
} process;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)types;
    (void)user;
    process.messages++;
    const char *level = severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning";
    fprintf(stderr, "zoo: Vulkan validation %s: %s\n", level, data->pMessage ? data->pMessage : "(no text)");
    if (process.validate) {
        /* a test run: the first message fails it, before the bad command does harm */
        fprintf(stderr, "zoo: error: stopping at the first validation message (ZOO_VULKAN_VALIDATE=1)\n");
        fflush(stdout);
        fflush(stderr);
        _Exit(1);
    }
    return VK_FALSE;
}

uint64_t vk_validation_messages(void) { return process.messages; }

static VkDebugUtilsMessengerCreateInfoEXT messenger_info(void) {
    return (VkDebugUtilsMessengerCreateInfoEXT){
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        /* not GENERAL: that is the loader narrating, e.g. the driver search that
           process_instance already turns into one clear error */
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
}

/* ---------------------------------------------------------------- instance */

static bool has_extension(const char *layer, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

static bool has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

/* the process's instance, made on the first call (false with the error set when no
 * driver loads; the next call tries again) */
static bool process_instance(VkInstance *out) {
    if (process.instance) {
        *out = process.instance;
        return true;
    }
    const char *env = getenv("ZOO_VULKAN_VALIDATE");
    bool validate = env && strcmp(env, "1") == 0;
    if (validate && !has_layer(VALIDATION_LAYER)) {
        zoo_set_error("ZOO_VULKAN_VALIDATE=1 needs the Khronos validation layer, which is not installed "
                      "(apt-get install vulkan-validationlayers)");
        return false;
    }
    const char *exts[4], *layers[1];
    uint32_t next = 0, nlayers = 0;
    bool debug_utils = has_extension(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (debug_utils) exts[next++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkInstanceCreateFlags flags = 0;
    /* lists devices that are not fully conformant, such as MoltenVK on macOS */
    if (has_extension(NULL, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[next++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkDebugUtilsMessengerCreateInfoEXT mi = {0};
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    const void *chain = NULL;
    if (debug_utils) {
        /* chained here too, so messages from instance creation itself are seen */
        mi = messenger_info();
        chain = &mi;
    }
    if (validate) {
        if (!has_extension(VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME) || !debug_utils) {
            zoo_set_error("ZOO_VULKAN_VALIDATE=1: the installed validation layer cannot enable synchronization "
                          "validation (VK_EXT_validation_features or VK_EXT_debug_utils is missing)");
            return false;
        }
        layers[nlayers++] = VALIDATION_LAYER;
        exts[next++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
        features.pNext = chain;
        chain = &features;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "zoo",
        .pEngineName = "zoo",
        .apiVersion = VK_API_VERSION_1_1, /* subgroup properties (a 1.0 device still works) */
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = chain,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = nlayers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = next,
        .ppEnabledExtensionNames = exts,
    };
    VkInstance inst;
    VkResult r = vkCreateInstance(&ci, NULL, &inst);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        zoo_set_error("no Vulkan device found: no Vulkan driver could be loaded (vkCreateInstance returned "
                      "VK_ERROR_INCOMPATIBLE_DRIVER); " SOFTWARE_HINT);
        return false;
    }
    if (r != VK_SUCCESS) {
        zoo_set_error("cannot start Vulkan: vkCreateInstance returned %s (%d)", vk_result_name(r), (int)r);
        return false;
    }
    if (debug_utils) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT");
        if (create) VK_CHECK(create(inst, &mi, NULL, &process.messenger));
    }
    process.instance = *out = inst;
    process.validate = validate;
    return true;
}


/* ---------------------------------------------------------------- device choice */

#define FLOAT_CONTROLS "VK_KHR_shader_float_controls"

static bool device_has_extension(VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

/* whether shaders can ask for subnormal floats to be kept (SPIR-V's DenormPreserve,
   through VK_KHR_shader_float_controls, which devices keep listing after Vulkan 1.2
   made it core): GPUs that flush them by default (NVIDIA's do) would otherwise break
   exact mode's agreement with the CPU wherever values get that small */
static bool can_keep_subnormals(VkPhysicalDevice pd) {
    if (!device_has_extension(pd, FLOAT_CONTROLS)) return false;
    VkPhysicalDeviceFloatControlsProperties fc = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &fc};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    return fc.shaderDenormPreserveFloat32;
}

/* the physical devices, in the driver's order (the indices ZOO_VULKAN_DEVICE uses) */
static bool enumerate(VkInstance inst, VkPhysicalDevice **out, uint32_t *n) {
    *out = NULL;
    *n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, n, NULL);
    /* the loader (1.3.2xx) says "no device" this way rather than with a count of 0 */
    if (r == VK_ERROR_INITIALIZATION_FAILED) {
        *n = 0;
        return true;
    }
    if (r != VK_SUCCESS) {
        zoo_set_error("cannot list Vulkan devices: vkEnumeratePhysicalDevices returned %s", vk_result_name(r));
        return false;
    }
    if (*n == 0) return true;
    *out = calloc(*n, sizeof **out);
    if (!*out) {
        zoo_set_error("out of host memory listing Vulkan devices");
        return false;
    }
    r = vkEnumeratePhysicalDevices(inst, n, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        zoo_set_error("cannot list Vulkan devices: vkEnumeratePhysicalDevices returned %s", vk_result_name(r));
        return false;
    }
    return true;
}

/* the first queue family that runs compute work, or -1 */
static int compute_family(VkPhysicalDevice pd) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[32];
    if (n > 32) n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    for (uint32_t i = 0; i < n; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].queueCount > 0) return (int)i;
    return -1;
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

/* the best device with a compute queue; ties keep the driver's order. -1 if none */
/* the best type of device there is (discrete, integrated, ...); with several of it, the
   nth of them modulo their number (the processes of a data-parallel job on one machine
   each take their own) */
static int pick_default(const VkPhysicalDevice *pds, uint32_t n, int nth) {
    int best_rank = -1, count = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        int rank = type_rank(p.deviceType);
        if (compute_family(pds[i]) < 0 || rank < best_rank) continue;
        count = rank > best_rank ? 1 : count + 1;
        best_rank = rank;
    }
    for (uint32_t i = 0, seen = 0; i < n && count; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (compute_family(pds[i]) < 0 || type_rank(p.deviceType) != best_rank) continue;
        if ((int)seen++ == nth % count) return (int)i;
    }
    return -1;
}

/* ZOO_VULKAN_DEVICE: -1 when unset; -2 (with the error set) when not an index */
static int requested_device(void) {
    const char *s = getenv("ZOO_VULKAN_DEVICE");
    if (!s || !*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1000000) {
        zoo_set_error("ZOO_VULKAN_DEVICE must be a device index (0, 1, ...), got '%s'", s);
        return -2;
    }
    return (int)v;
}

static uint64_t device_memory_bytes(VkPhysicalDevice pd) {
    VkPhysicalDeviceMemoryProperties m;
    vkGetPhysicalDeviceMemoryProperties(pd, &m);
    uint64_t best = 0;
    for (uint32_t i = 0; i < m.memoryHeapCount; i++)
        if ((m.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && m.memoryHeaps[i].size > best)
            best = m.memoryHeaps[i].size;
    return best;
}

int zoo_vulkan_list_devices(FILE *out) {
    VkInstance inst;
    if (!process_instance(&inst)) return -1;
    VkPhysicalDevice *pds;
    uint32_t n;
    if (!enumerate(inst, &pds, &n)) return -1;
    int pick = requested_device();
    if (pick < 0 || pick >= (int)n) pick = pick_default(pds, n, 0);
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        fprintf(out, "%u: %s (%s, Vulkan %u.%u, %.1f GiB)%s%s%s\n", i, p.deviceName, type_name(p.deviceType),
                VK_VERSION_MAJOR(p.apiVersion), VK_VERSION_MINOR(p.apiVersion),
                (double)device_memory_bytes(pds[i]) / (1 << 30), compute_family(pds[i]) < 0 ? " no compute queue" : "",
                can_keep_subnormals(pds[i]) ? "" : " may flush subnormals", (int)i == pick ? " [selected]" : "");
    }
    if (n == 0) fprintf(out, "no Vulkan devices; " SOFTWARE_HINT "\n");
    free(pds);
    return (int)n;
}

/* "0: llvmpipe (CPU), 1: ..." for error messages */
static void describe_devices(const VkPhysicalDevice *pds, uint32_t n, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < n && k < size; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        k += (size_t)snprintf(buf + k, size - k, "%s%u: %s (%s)", i ? ", " : "", i, p.deviceName,
                              type_name(p.deviceType));
    }
}

static bool choose_device(vk_ctx *c) {
    VkPhysicalDevice *pds;
    uint32_t n;
    if (!enumerate(c->instance, &pds, &n)) return false;
    if (n == 0) {
        zoo_set_error("no Vulkan device found: the Vulkan driver reports no devices; " SOFTWARE_HINT);
        return false;
    }
    char list[512];
    describe_devices(pds, n, list, sizeof list);
    int want = requested_device(), pick;
    if (want == -2) {
        free(pds);
        return false;
    }
    if (want >= (int)n) {
        zoo_set_error("ZOO_VULKAN_DEVICE=%d: device %d does not exist (%u device%s: %s)", want, want, n,
                      n == 1 ? "" : "s", list);
        free(pds);
        return false;
    }
    pick = want >= 0 ? want : pick_default(pds, n, c->local_rank);
    if (pick < 0 || compute_family(pds[pick]) < 0) {
        zoo_set_error("no Vulkan device with compute queues found (%s); " SOFTWARE_HINT, list);
        free(pds);
        return false;
    }
    c->phys = pds[pick];
    free(pds);
    c->queue_family = (uint32_t)compute_family(c->phys);
    vkGetPhysicalDeviceProperties(c->phys, &c->props);
    vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem_props);
    bool llvmpipe = c->props.vendorID == VK_VENDOR_ID_MESA && c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    c->loop_budget = llvmpipe ? 65535 : 0;
    /* subgroup arithmetic in compute shaders (Vulkan 1.1) lets fast mode's reductions
       skip shared memory */
    if (c->props.apiVersion >= VK_API_VERSION_1_1) {
        VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
        vkGetPhysicalDeviceProperties2(c->phys, &p2);
        c->subgroup_size = sg.subgroupSize;
        c->subgroup_arithmetic = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                 (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                 (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
    }
    const char *sub = getenv("ZOO_VULKAN_SUBGROUPS"); /* 0: the shared-memory fallback, for tests */
    if (sub && strcmp(sub, "0") == 0) c->subgroup_arithmetic = false;
    c->denorm_preserve = can_keep_subnormals(c->phys);
    if (c->exact && vk_flushes_subnormals(c))
        fprintf(stderr,
                "zoo: warning: %s cannot keep subnormal floats in shaders (no shaderDenormPreserveFloat32); exact "
                "mode matches the CPU bit for bit except where a value falls below 1.18e-38\n",
                c->props.deviceName);
    return true;
}

void vk_check_loops(const vk_ctx *c, uint64_t iterations, const char *kernel) {
    if (!c->loop_budget || iterations < c->loop_budget) return;
    fprintf(stderr,
            "zoo: error: %s would loop %llu times in one shader invocation; %s stops every invocation after "
            "%u loop iterations and would return wrong numbers. Use smaller shapes, a GPU, or --backend cpu.\n",
            kernel, (unsigned long long)iterations, c->props.deviceName, c->loop_budget);
    exit(1);
}

/* ---------------------------------------------------------------- device */

/* A CPU implementation computes on the host's floating point, as the CPU backend does
   (the consistency suite's rows with subnormal results check lavapipe); a GPU that
   does not promise to keep subnormals is taken to flush them, as NVIDIA's do. */
bool vk_flushes_subnormals(const vk_ctx *c) {
    return !c->denorm_preserve && c->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
}

bool vk_device_init(vk_ctx *c) {
    if (!process_instance(&c->instance)) return false;
    if (!choose_device(c)) return false;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = c->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    /* a portability implementation (MoltenVK) must be told we know it is one; float
       controls lets shaders keep subnormals */
    const char *exts[2];
    uint32_t next = 0;
    if (device_has_extension(c->phys, "VK_KHR_portability_subset")) exts[next++] = "VK_KHR_portability_subset";
    if (c->denorm_preserve) exts[next++] = FLOAT_CONTROLS;
    VkDeviceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
        .enabledExtensionCount = next,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateDevice(c->phys, &ci, NULL, &c->device);
    if (r != VK_SUCCESS) {
        zoo_set_error("cannot open Vulkan device %s: vkCreateDevice returned %s", c->props.deviceName,
                      vk_result_name(r));
        return false;
    }
    vkGetDeviceQueue(c->device, c->queue_family, 0, &c->queue);
    return true;
}

void vk_device_destroy(vk_ctx *c) {
    if (c->device) vkDestroyDevice(c->device, NULL);
    c->device = VK_NULL_HANDLE;
}
