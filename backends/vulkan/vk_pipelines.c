/* The compute shaders, embedded as SPIR-V (compiled by glslc at build time from
 * the shaders/ folder), and their pipelines: one per shader, built on first use and kept.
 * Workgroup sizes are specialization constants chosen here, within the device's limits. */
#include "vk_internal.h"

#include <stdlib.h>

/* each *.spv.h is a brace-enclosed list of 32-bit words */
static const uint32_t spv_unary[] =
#include "unary.spv.h"
    ;
static const uint32_t spv_unary_backward[] =
#include "unary_backward.spv.h"
    ;
static const uint32_t spv_binary[] =
#include "binary.spv.h"
    ;
static const uint32_t spv_reduce[] =
#include "reduce.spv.h"
    ;
static const uint32_t spv_argmax[] =
#include "argmax.spv.h"
    ;
static const uint32_t spv_argmax_wg[] =
#include "argmax_wg.spv.h"
    ;
static const uint32_t spv_softmax[] =
#include "softmax.spv.h"
    ;
static const uint32_t spv_softmax_backward[] =
#include "softmax_backward.spv.h"
    ;
static const uint32_t spv_nll[] =
#include "nll.spv.h"
    ;
static const uint32_t spv_nll_backward[] =
#include "nll_backward.spv.h"
    ;
static const uint32_t spv_cross_entropy_backward[] =
#include "cross_entropy_backward.spv.h"
    ;
static const uint32_t spv_permute[] =
#include "permute.spv.h"
    ;
static const uint32_t spv_rng[] =
#include "rng.spv.h"
    ;
static const uint32_t spv_sgd[] =
#include "sgd.spv.h"
    ;
static const uint32_t spv_adam[] =
#include "adam.spv.h"
    ;
static const uint32_t spv_gemm[] =
#include "gemm.spv.h"
    ;
static const uint32_t spv_im2col[] =
#include "im2col.spv.h"
    ;
static const uint32_t spv_col2im[] =
#include "col2im.spv.h"
    ;
static const uint32_t spv_pool2d[] =
#include "pool2d.spv.h"
    ;
static const uint32_t spv_pool2d_backward[] =
#include "pool2d_backward.spv.h"
    ;
static const uint32_t spv_batchnorm_stats[] =
#include "batchnorm_stats.spv.h"
    ;
static const uint32_t spv_batchnorm_apply[] =
#include "batchnorm_apply.spv.h"
    ;
static const uint32_t spv_batchnorm_backward_dx[] =
#include "batchnorm_backward_dx.spv.h"
    ;

typedef struct shader_def {
    const char *name;
    const uint32_t *code;
    size_t bytes;
    int bindings;
    uint32_t local[3]; /* preferred workgroup size; shrunk to fit the device */
    uint32_t tile[2];  /* gemm: C rows and columns per invocation */
} shader_def;

#define SPV(a) a, sizeof a

/* gemm on a CPU implementation: 8x8 invocations computing 8x8 of C each (measured
 * on lavapipe: 4x the speed of the GPU shape for 512^3, 2.5x for a convolution's
 * small products) */
#define CPU_GEMM_LOCAL 8
#define CPU_GEMM_TILE 8

static const shader_def shaders[VK_SH_COUNT] = {
    [VK_SH_UNARY] = {"unary", SPV(spv_unary), 2, {256, 1, 1}},
    [VK_SH_UNARY_BACKWARD] = {"unary_backward", SPV(spv_unary_backward), 4, {256, 1, 1}},
    [VK_SH_BINARY] = {"binary", SPV(spv_binary), 3, {256, 1, 1}},
    [VK_SH_REDUCE] = {"reduce", SPV(spv_reduce), 2, {64, 1, 1}},
    [VK_SH_ARGMAX] = {"argmax", SPV(spv_argmax), 2, {64, 1, 1}},
    [VK_SH_ARGMAX_WG] = {"argmax_wg", SPV(spv_argmax_wg), 2, {256, 1, 1}},
    [VK_SH_SOFTMAX] = {"softmax", SPV(spv_softmax), 2, {64, 1, 1}},
    [VK_SH_SOFTMAX_BACKWARD] = {"softmax_backward", SPV(spv_softmax_backward), 3, {64, 1, 1}},
    [VK_SH_NLL] = {"nll", SPV(spv_nll), 3, {64, 1, 1}},
    [VK_SH_NLL_BACKWARD] = {"nll_backward", SPV(spv_nll_backward), 3, {256, 1, 1}},
    [VK_SH_CROSS_ENTROPY_BACKWARD] = {"cross_entropy_backward", SPV(spv_cross_entropy_backward), 4, {256, 1, 1}},
    [VK_SH_PERMUTE] = {"permute", SPV(spv_permute), 2, {256, 1, 1}},
    [VK_SH_RNG] = {"rng", SPV(spv_rng), 1, {256, 1, 1}},
    [VK_SH_SGD] = {"sgd", SPV(spv_sgd), 3, {256, 1, 1}},
    [VK_SH_ADAM] = {"adam", SPV(spv_adam), 4, {256, 1, 1}},
    /* 16x16 invocations, each computing 4x4 of a 64x64 tile of C */
    [VK_SH_GEMM] = {"gemm", SPV(spv_gemm), 3, {16, 16, 1}, {4, 4}},
    [VK_SH_IM2COL] = {"im2col", SPV(spv_im2col), 2, {256, 1, 1}},
    [VK_SH_COL2IM] = {"col2im", SPV(spv_col2im), 3, {256, 1, 1}},
    [VK_SH_POOL2D] = {"pool2d", SPV(spv_pool2d), 3, {256, 1, 1}},
    [VK_SH_POOL2D_BACKWARD] = {"pool2d_backward", SPV(spv_pool2d_backward), 3, {256, 1, 1}},
    [VK_SH_BATCHNORM_STATS] = {"batchnorm_stats", SPV(spv_batchnorm_stats), 5, {256, 1, 1}},
    [VK_SH_BATCHNORM_APPLY] = {"batchnorm_apply", SPV(spv_batchnorm_apply), 6, {256, 1, 1}},
    [VK_SH_BATCHNORM_BACKWARD_DX] = {"batchnorm_backward_dx", SPV(spv_batchnorm_backward_dx), 8, {256, 1, 1}},
};

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
    p->tile[0] = d->tile[0];
    p->tile[1] = d->tile[1];
    if (sh == VK_SH_GEMM && c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        /* a CPU implementation (lavapipe) pays per invocation, dearly at barriers */
        p->local[0] = p->local[1] = CPU_GEMM_LOCAL;
        p->tile[0] = p->tile[1] = CPU_GEMM_TILE;
    }
    fit_local(c, p->local);

    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = d->bytes,
        .pCode = d->code,
    };
    VkShaderModule module;
    VK_CHECK(vkCreateShaderModule(c->device, &mi, NULL, &module));
    /* constant_id 0, 1: the workgroup size, 2, 3: gemm's tile; ids a shader does not
       declare are ignored */
    uint32_t values[4] = {p->local[0], p->local[1], p->tile[0], p->tile[1]};
    VkSpecializationMapEntry map[4];
    for (uint32_t i = 0; i < 4; i++) map[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo spec = {4, map, sizeof values, values};
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
