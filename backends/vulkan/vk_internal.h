/* Inside the Vulkan backend: the context every file shares and the few calls between
 * its parts (device, memory, execution, pipelines, kernels). Nothing outside
 * backends/vulkan/ includes this. */
#ifndef ZOO_VK_INTERNAL_H
#define ZOO_VK_INTERNAL_H

#include "../backend.h"
#include "vulkan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

/* ---------------------------------------------------------------- checked calls */

/* Vulkan calls that can only fail when the device is lost or out of memory: on
 * failure, prints the call, where it was, the result and a hint, then exits 1. */
#define VK_CHECK(call) vk__check((call), #call, __FILE__, __LINE__)
void vk__check(VkResult r, const char *call, const char *file, int line);
const char *vk_result_name(VkResult r);

/* ---------------------------------------------------------------- addresses */

/* tensor->data on this backend is a vk_addr cast to a pointer: which memory chunk
 * (a VkBuffer) and the byte offset in it, so views that copy the pointer stay valid
 * and no descriptor needs freeing. The top bit makes the value a non-canonical
 * pointer, so code that dereferences it by mistake faults at once. */
typedef uint64_t vk_addr;

#define VK_ADDR_TAG (UINT64_C(1) << 63)
#define VK_ADDR_CHUNK_SHIFT 40 /* up to 1 TiB per chunk */

static inline vk_addr vk_addr_make(int chunk, uint64_t offset) {
    return VK_ADDR_TAG | ((uint64_t)(chunk + 1) << VK_ADDR_CHUNK_SHIFT) | offset;
}
static inline int vk_addr_chunk(vk_addr a) {
    return (int)((a & ~VK_ADDR_TAG) >> VK_ADDR_CHUNK_SHIFT) - 1;
}
static inline uint64_t vk_addr_offset(vk_addr a) { return a & ((UINT64_C(1) << VK_ADDR_CHUNK_SHIFT) - 1); }
static inline vk_addr vk_addr_of(const zoo_tensor *t) { return (vk_addr)(uintptr_t)t->data; }

/* a count or index for a shader, which works in 32-bit uints */
static inline uint32_t vk_u32(int64_t v) {
    ZOO_ASSERT(v >= 0 && v <= INT32_MAX);
    return (uint32_t)v;
}

/* ---------------------------------------------------------------- memory */

/* One VkBuffer with its memory. Device chunks hold tensors; the staging chunk is host
 * visible and mapped. */
typedef struct vk_chunk {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize size;
    void *mapped; /* staging only */
} vk_chunk;

/* A piece of a persistent chunk; a chunk's blocks tile it, sorted by offset. */
typedef struct vk_block {
    VkDeviceSize offset, size;
    bool used;
} vk_block;

typedef struct vk_pool_chunk {
    int chunk;
    vk_block *blocks;
    int nblocks, cap;
} vk_pool_chunk;

/* The step-scoped arena: chunks bumped in order; positions count across all of them
 * (like backends/arena.h), so a mark is one number. */
typedef struct vk_arena_chunk {
    int chunk;
    VkDeviceSize start; /* position of this chunk's first byte */
} vk_arena_chunk;

/* ---------------------------------------------------------------- execution */

/* A byte range some recorded command reads or writes, for barrier placement. */
typedef struct vk_range {
    vk_addr begin, end;
} vk_range;

typedef struct vk_range_list {
    vk_range *r;
    int n, cap;
} vk_range_list;

/* The compute shaders, one pipeline each, from the list in shaders.def. */
typedef enum vk_shader {
#define VK_SHADER(name, bindings, local_x, local_y, version) VK_SH_##name,
#include "shaders.def"
#undef VK_SHADER
    VK_SH_COUNT
} vk_shader;

#define VK_MAX_BINDINGS 8
#define VK_PUSH_BYTES 128 /* the size every device supports */

typedef struct vk_pipeline {
    VkPipeline pipeline;
    int bindings;
    /* specialization constants: the workgroup size (ids 0, 1; z stays 1) and, for gemm,
       the rows and columns of C each invocation computes (ids 2, 3); id 4 is the mode */
    uint32_t local[3];
    uint32_t tile[2];
} vk_pipeline;

/* ---------------------------------------------------------------- the context */

typedef struct vk_ctx {
    bool exact; /* the numeric mode (backend.h); pipelines get it as a specialization constant */
    int local_rank; /* zoo_backend_config's: which of several like devices to take */

    /* device (vk_device.c) */
    VkInstance instance; /* the process's, never destroyed (vk_device.c says why) */
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    /* lavapipe ends a shader invocation after this many loop iterations in all (Mesa's
       LP_MAX_TGSI_LOOP_ITERATIONS, shared by every loop of the shader), silently
       leaving its results short; 0 on devices without such a limit */
    uint32_t loop_budget;
    uint32_t subgroup_size;   /* 0 on a Vulkan 1.0 device */
    bool subgroup_arithmetic; /* subgroupAdd and friends in compute shaders */
    bool denorm_preserve;     /* shaders keep subnormal floats: their _denorm SPIR-V (vk_device.c) */

    /* memory (vk_memory.c) */
    vk_chunk *chunks;
    int nchunks, cap_chunks;
    VkDeviceSize align;        /* allocation alignment: >= minStorageBufferOffsetAlignment */
    vk_pool_chunk *pool;       /* persistent allocations */
    int npool, cap_pool;
    vk_arena_chunk *arena;
    int narena, cap_arena;
    int arena_cur;             /* chunk being bumped (== narena when none) */
    VkDeviceSize arena_off;    /* bytes used in arena[arena_cur] */
    VkDeviceSize arena_used;   /* position, for peak tracking */
    int staging;               /* chunk index of the staging buffer */
    VkDeviceSize staging_off;  /* bump position; reset once the device is idle */
    size_t persistent_bytes, peak;

    /* execution (vk_exec.c) */
    VkCommandPool cmd_pool;
    VkCommandBuffer *cmds;
    int ncmds, next_cmd;
    VkFence *fences; /* fences[0 .. next_fence) guard the submits not yet waited for */
    int nfences, next_fence;
    VkCommandBuffer cur; /* being recorded, or VK_NULL_HANDLE */
    bool cur_downloads;  /* cur copies into staging for the host to read */
    VkDescriptorPool *desc_pools;
    int ndesc_pools, desc_pool_cur, desc_pool_used;
    vk_range_list reads, writes; /* since the last barrier */

    /* pipelines (vk_pipelines.c) */
    VkDescriptorSetLayout set_layouts[VK_MAX_BINDINGS + 1];
    VkPipelineLayout layouts[VK_MAX_BINDINGS + 1];
    vk_pipeline pipelines[VK_SH_COUNT];

    zoo_counters stats;
} vk_ctx;

/* ---------------------------------------------------------------- vk_device.c */

/* Makes the process's instance if there is none yet (with validation when asked),
 * picks the device, creates it and its queue. false with zoo_last_error() on failure;
 * vk_device_destroy cleans up either way. */
bool vk_device_init(vk_ctx *c);
void vk_device_destroy(vk_ctx *c);
/* a GPU that may flush subnormal floats to zero (zoo_backend.flushes_subnormals) */
bool vk_flushes_subnormals(const vk_ctx *c);
/* messages the validation layer has sent this process */
uint64_t vk_validation_messages(void);

/* exits with a clear message when one invocation would loop `iterations` times on a
 * device with a loop budget (see vk_ctx.loop_budget), rather than compute wrong numbers */
void vk_check_loops(const vk_ctx *c, uint64_t iterations, const char *kernel);

/* ---------------------------------------------------------------- vk_memory.c */

bool vk_memory_init(vk_ctx *c);
void vk_memory_destroy(vk_ctx *c);
vk_addr vk_alloc(vk_ctx *c, size_t bytes);         /* 0 when out of device memory */
void vk_free(vk_ctx *c, vk_addr a);
vk_addr vk_arena_alloc(vk_ctx *c, size_t bytes);   /* 0 when out of device memory */
/* a kernel's temporary floats, valid until it resets the arena to its mark; exits
 * with a message when the device is out of memory */
vk_addr vk_arena_scratch(vk_ctx *c, int64_t floats);
size_t vk_arena_mark(vk_ctx *c);
void vk_arena_reset(vk_ctx *c, size_t mark);
/* a staging region of `bytes` (at most vk_staging_capacity), flushing and waiting
 * for the device first when the staging buffer is full */
vk_addr vk_staging_alloc(vk_ctx *c, size_t bytes);
size_t vk_staging_capacity(const vk_ctx *c);
void *vk_staging_host(vk_ctx *c, vk_addr a);      /* the mapped bytes of a region */
void vk_staging_reset(vk_ctx *c);                 /* only when the device is idle */
VkBuffer vk_buffer_of(const vk_ctx *c, vk_addr a);

/* ---------------------------------------------------------------- vk_exec.c */

/* One buffer a dispatch binds: a tensor's bytes, and whether the shader writes them. */
typedef struct vk_arg {
    vk_addr addr;
    VkDeviceSize bytes;
    bool write;
} vk_arg;

bool vk_exec_init(vk_ctx *c);
void vk_exec_destroy(vk_ctx *c);
/* records one dispatch of `groups` workgroups, with a barrier first if it touches
 * memory that a command since the last barrier wrote (or writes what one read) */
void vk_dispatch(vk_ctx *c, vk_shader sh, const vk_arg *args, int nargs, const void *push, size_t push_bytes,
                 uint32_t gx, uint32_t gy, uint32_t gz);
/* a dispatch of at least `threads` invocations along x, as a 2-D grid when one row
 * of workgroups would pass the device's group-count limit (shaders use vk_index()) */
void vk_dispatch_threads(vk_ctx *c, vk_shader sh, const vk_arg *args, int nargs, const void *push,
                         size_t push_bytes, uint64_t threads);
/* one workgroup per item, `groups` of them, as a 2-D grid past the group-count limit
 * (shaders use vk_group_index()) */
void vk_dispatch_groups(vk_ctx *c, vk_shader sh, const vk_arg *args, int nargs, const void *push,
                        size_t push_bytes, uint64_t groups);
void vk_copy(vk_ctx *c, vk_addr src, vk_addr dst, VkDeviceSize bytes, bool to_host);
void vk_fill(vk_ctx *c, vk_addr dst, VkDeviceSize bytes, uint32_t word);
void vk_flush(vk_ctx *c);
void vk_wait(vk_ctx *c); /* flushes, then waits for everything submitted */

/* ---------------------------------------------------------------- vk_kernels.c */

/* One (batched) matrix product for gemm.comp; offsets and strides count elements.
 * C_z = alpha op(A_z) op(B_z) + beta C_z for z < batch, A_z at a.addr + off_a +
 * z*stride_a (stride 0: shared), likewise B and C. */
typedef struct vk_gemm_args {
    vk_arg a, b, c;
    int64_t m, n, k;
    bool ta, tb;
    int64_t batch;
    int64_t off_a, off_b, off_c, stride_a, stride_b, stride_c;
    float alpha, beta;
} vk_gemm_args;

void vk_gemm_run(vk_ctx *c, const vk_gemm_args *g);
/* kernels the convolution family reuses, with the vtable's signatures */
void vk_binary(void *ctx, zoo_binary_op op, const zoo_tensor *a, const zoo_tensor *b, zoo_tensor *o);
void vk_reduce(void *ctx, zoo_reduce_op op, const zoo_tensor *x, zoo_tensor *o);
/* o = o + the sum of x as vk_reduce reduces it, continuing o's sum: the terms of x
 * (at most 256 per output) come after the ones o holds, in one canon.h group */
void vk_sum_continue(vk_ctx *c, const zoo_tensor *x, zoo_tensor *o);
vk_arg vk_in(const zoo_tensor *t);  /* a tensor a dispatch reads */
vk_arg vk_out(const zoo_tensor *t); /* a tensor a dispatch writes (and may read) */

/* a float32 tensor header [d0, d1, d2] (ndim of them) over device bytes, for running
 * the vtable's kernels on scratch or on another shape of a tensor */
static inline zoo_tensor vk_view(vk_addr a, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    zoo_tensor t = {.shape = {ndim, {d0, d1, d2, 1}}, .dtype = ZOO_F32, .data = (void *)(uintptr_t)a};
    t.numel = d0 * d1 * d2;
    return t;
}
/* dst [ch] = the sum over (n, inner) of each channel of t [n, ch, inner], in canon.h's
 * order (batch norm's and group norm's parameter sums) */
void vk_channel_sums(vk_ctx *c, vk_addr t, int64_t n, int64_t ch, int64_t inner, vk_addr dst);

/* ---------------------------------------------------------------- vk_conv.c */

void vk_conv2d(void *ctx, const zoo_tensor *x, const zoo_tensor *w, const zoo_tensor *bias, zoo_tensor *y,
               const zoo_conv2d_geom *g);
void vk_conv2d_backward_input(void *ctx, const zoo_tensor *dy, const zoo_tensor *w, const zoo_tensor *bias,
                              zoo_tensor *dx, const zoo_conv2d_geom *g);
void vk_conv2d_backward_weight(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, zoo_tensor *dw,
                               zoo_tensor *db, const zoo_conv2d_geom *g);
void vk_pool2d(void *ctx, zoo_pool_op op, const zoo_tensor *x, zoo_tensor *y, zoo_tensor *idx,
               const zoo_conv2d_geom *g);
void vk_pool2d_backward(void *ctx, zoo_pool_op op, const zoo_tensor *dy, const zoo_tensor *idx, zoo_tensor *dx,
                        const zoo_conv2d_geom *g);
void vk_batchnorm(void *ctx, const zoo_tensor *x, const zoo_tensor *gamma, const zoo_tensor *beta,
                  zoo_tensor *running_mean, zoo_tensor *running_var, zoo_tensor *y, zoo_tensor *save_mean,
                  zoo_tensor *save_invstd, const zoo_batchnorm_params *p);
void vk_batchnorm_backward(void *ctx, const zoo_tensor *x, const zoo_tensor *dy, const zoo_tensor *gamma,
                           const zoo_tensor *save_mean, const zoo_tensor *save_invstd, zoo_tensor *dx,
                           zoo_tensor *dgamma, zoo_tensor *dbeta, const zoo_batchnorm_params *p);

/* ---------------------------------------------------------------- vk_pipelines.c */

bool vk_pipelines_init(vk_ctx *c);
void vk_pipelines_destroy(vk_ctx *c);
/* built on first use, then cached */
const vk_pipeline *vk_pipeline_get(vk_ctx *c, vk_shader sh);

#endif
