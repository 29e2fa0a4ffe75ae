/* The compute shaders, embedded as SPIR-V (compiled by glslc at build time from
 * the shaders/ folder), and their pipelines: one per shader, built on first use and kept.
 * Workgroup sizes are specialization constants chosen here, within the device's limits. */
#include "vk_internal.h"

#include <stdlib.h>

/* the SPIR-V of every shader, as written and with subnormals kept (built from
   spirv.c.in by meson) */
#define VK_SHADER(name, bindings, local_x, local_y, version)                                                   \
    extern const uint32_t zoo__spv_##name[], zoo__spv_##name##_denorm[];                                         \
    extern const size_t zoo__spv_##name##_bytes, zoo__spv_##name##_denorm_bytes;
#include "shaders.def"
#undef VK_SHADER

typedef struct shader_def {
    const char *name;
    const uint32_t *code, *code_denorm; /* the second keeps subnormal floats (common.glsl) */
    const size_t *bytes, *bytes_denorm;
    int bindings;
    uint32_t local[3]; /* preferred workgroup size; shrunk to fit the device */
} shader_def;

static const shader_def shaders[VK_SH_COUNT] = {
#define VK_SHADER(name, bindings, local_x, local_y, version)                                                   \
    [VK_SH_##name] = {#name,    zoo__spv_##name,  zoo__spv_##name##_denorm, &zoo__spv_##name##_bytes,              \
                      &zoo__spv_##name##_denorm_bytes, bindings, {local_x, local_y, 1}},
#include "shaders.def"
#undef VK_SHADER
};

/* gemm's rows and columns of C per invocation on a GPU: 16x16 invocations computing
 * 4x4 each, a 64x64 tile of C */
#define GPU_GEMM_TILE 4

/* gemm on a CPU implementation: 8x8 invocations computing 8x8 of C each (measured
 * on lavapipe: 4x the speed of the GPU shape for 512^3, 2.5x for a convolution's
 * small products) */
#define CPU_GEMM_LOCAL 8
#define CPU_GEMM_TILE 8

/* halves the largest dimension until the device accepts the size; shaders that
 * reduce in shared memory rely on the sizes staying powers of two */
static void fit_local(const vk_ctx *c, uint32_t l[3]) {
    const VkPhysicalDeviceLimits *lim = &c->props.limits;
    for (;;) {
        bool ok = l[0] * l[1] * l[2] <= lim->maxComputeWorkGroupInvocations;
        for (int i = 0; i < 3; i++) ok = ok && l[i] <= lim->maxComputeWorkGroupSize[i];
        if (ok) return;
        int big = l[1] > l[0] ? 1 : 0;
        if (l[2] > l[big]) big = 2;
        l[big] /= 2;
    }
}

const vk_pipeline *vk_pipeline_get(vk_ctx *c, vk_shader sh) {
    ZOO_ASSERT(sh >= 0 && sh < VK_SH_COUNT);
    vk_pipeline *p = &c->pipelines[sh];
    if (p->pipeline) return p;
    const shader_def *d = &shaders[sh];
    p->bindings = d->bindings;
    for (int i = 0; i < 3; i++) p->local[i] = d->local[i];
    p->tile[0] = p->tile[1] = sh == VK_SH_gemm ? GPU_GEMM_TILE : 1;
    if (sh == VK_SH_gemm && c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        /* a CPU implementation (lavapipe) pays per invocation, dearly at barriers */
        p->local[0] = p->local[1] = CPU_GEMM_LOCAL;
        p->tile[0] = p->tile[1] = CPU_GEMM_TILE;
    }
    fit_local(c, p->local);

    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = c->denorm_preserve ? *d->bytes_denorm : *d->bytes,
        .pCode = c->denorm_preserve ? d->code_denorm : d->code,
    };
    VkShaderModule module;
    VK_CHECK(vkCreateShaderModule(c->device, &mi, NULL, &module));
    /* constant_id 0, 1: the workgroup size, 2, 3: gemm's tile, 4: exact mode
       (common.glsl); ids a shader does not declare are ignored */
    uint32_t values[5] = {p->local[0], p->local[1], p->tile[0], p->tile[1], c->exact ? VK_TRUE : VK_FALSE};
    VkSpecializationMapEntry map[5];
    for (uint32_t i = 0; i < 5; i++) map[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo spec = {5, map, sizeof values, values};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main",
                .pSpecializationInfo = &spec,
            },
        .layout = c->layouts[d->bindings],
    };
    VK_CHECK(vkCreateComputePipelines(c->device, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipeline));
    vkDestroyShaderModule(c->device, module, NULL);
    return p;
}

/* one set layout and pipeline layout per binding count: every binding a storage
 * buffer, the push constants the 128 bytes every device has */
bool vk_pipelines_init(vk_ctx *c) {
    VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < VK_MAX_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES};
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutCreateInfo li = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = (uint32_t)n,
            .pBindings = b,
        };
        VK_CHECK(vkCreateDescriptorSetLayout(c->device, &li, NULL, &c->set_layouts[n]));
        VkPipelineLayoutCreateInfo pi = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1,
            .pSetLayouts = &c->set_layouts[n],
            .pushConstantRangeCount = 1,
            .pPushConstantRanges = &push,
        };
        VK_CHECK(vkCreatePipelineLayout(c->device, &pi, NULL, &c->layouts[n]));
    }
    return true;
}

void vk_pipelines_destroy(vk_ctx *c) {
    if (!c->device) return;
    for (int i = 0; i < VK_SH_COUNT; i++)
        if (c->pipelines[i].pipeline) vkDestroyPipeline(c->device, c->pipelines[i].pipeline, NULL);
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        if (c->layouts[n]) vkDestroyPipelineLayout(c->device, c->layouts[n], NULL);
        if (c->set_layouts[n]) vkDestroyDescriptorSetLayout(c->device, c->set_layouts[n], NULL);
    }
}
