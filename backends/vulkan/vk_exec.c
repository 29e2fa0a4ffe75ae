/* Recording and submitting work. Every kernel call records into one command buffer;
 * flush submits it (one vkQueueSubmit), wait blocks on the fences. A barrier goes in
 * only where a command touches bytes that an earlier command, since the last barrier,
 * wrote (or writes bytes one read), so independent kernels may overlap on a GPU.
 * Descriptor sets, command buffers and staging space are recycled when the device is
 * idle, which the core guarantees at every scope end. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

#define SETS_PER_POOL 1024
#define MAX_IN_FLIGHT 16   /* submits without a wait before we wait anyway */
#define MAX_TRACKED 512    /* ranges remembered between barriers; more forces a barrier */

/* ---------------------------------------------------------------- hazards */

static bool overlaps(const vk_range_list *l, vk_range r) {
    for (int i = 0; i < l->n; i++)
        if (r.begin < l->r[i].end && l->r[i].begin < r.end) return true;
    return false;
}

static void push_range(vk_range_list *l, vk_range r) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        vk_range *p = realloc(l->r, (size_t)cap * sizeof *p);
        ZOO_ASSERT(p != NULL);
        l->r = p;
        l->cap = cap;
    }
    l->r[l->n++] = r;
}

/* Every compute or transfer write before it is visible to every compute or transfer
 * access after it. One global barrier is as cheap as a buffer barrier on current
 * drivers and cannot miss a range. */
static void barrier(vk_ctx *c, VkCommandBuffer cmd) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
    c->reads.n = c->writes.n = 0;
    c->stats.barriers++;
}

/* Orders a command that reads `rd` and writes `wr` after what came before. The lists
 * live across submits: a barrier also orders work of earlier submissions, and the
 * host waiting on a fence does not make device writes visible to later commands. */
static void order(vk_ctx *c, VkCommandBuffer cmd, const vk_range *rd, int nrd, const vk_range *wr, int nwr) {
    bool hazard = c->reads.n + c->writes.n + nrd + nwr > MAX_TRACKED;
    for (int i = 0; i < nrd && !hazard; i++) hazard = overlaps(&c->writes, rd[i]);
    for (int i = 0; i < nwr && !hazard; i++) hazard = overlaps(&c->writes, wr[i]) || overlaps(&c->reads, wr[i]);
    if (hazard) barrier(c, cmd);
    for (int i = 0; i < nrd; i++) push_range(&c->reads, rd[i]);
    for (int i = 0; i < nwr; i++) push_range(&c->writes, wr[i]);
}

static vk_range range(vk_addr a, VkDeviceSize bytes) { return (vk_range){a, a + bytes}; }

/* ---------------------------------------------------------------- command buffers */

static VkCommandBuffer recording(vk_ctx *c) {
    if (c->cur) return c->cur;
    if (c->next_fence == MAX_IN_FLIGHT) vk_wait(c);
    if (c->next_cmd == c->ncmds) {
        VkCommandBuffer *p = realloc(c->cmds, (size_t)(c->ncmds + 1) * sizeof *p);
        ZOO_ASSERT(p != NULL);
        c->cmds = p;
        VkCommandBufferAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
            .commandPool = c->cmd_pool,
            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
            .commandBufferCount = 1,
        };
        VK_CHECK(vkAllocateCommandBuffers(c->device, &ai, &c->cmds[c->ncmds++]));
    }
    c->cur = c->cmds[c->next_cmd++];
    c->cur_downloads = false;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VK_CHECK(vkBeginCommandBuffer(c->cur, &bi));
    return c->cur;
}

void vk_flush(vk_ctx *c) {
    if (!c->cur) return;
    if (c->cur_downloads) {
        /* the copies into staging must be visible to the host once the fence signals */
        VkMemoryBarrier mb = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
            .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
            .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
        };
        vkCmdPipelineBarrier(c->cur, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL,
                             0, NULL);
    }
    VK_CHECK(vkEndCommandBuffer(c->cur));
    if (c->next_fence == c->nfences) {
        VkFence *p = realloc(c->fences, (size_t)(c->nfences + 1) * sizeof *p);
        ZOO_ASSERT(p != NULL);
        c->fences = p;
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        VK_CHECK(vkCreateFence(c->device, &fi, NULL, &c->fences[c->nfences++]));
    }
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &c->cur,
    };
    VK_CHECK(vkQueueSubmit(c->queue, 1, &si, c->fences[c->next_fence++]));
    c->cur = VK_NULL_HANDLE;
    c->stats.submits++;
}

void vk_wait(vk_ctx *c) {
    vk_flush(c);
    if (c->next_fence == 0) return;
    VK_CHECK(vkWaitForFences(c->device, (uint32_t)c->next_fence, c->fences, VK_TRUE, UINT64_MAX));
    VK_CHECK(vkResetFences(c->device, (uint32_t)c->next_fence, c->fences));
    c->next_fence = 0;
    /* the device is idle: everything recorded so far may be reused */
    VK_CHECK(vkResetCommandPool(c->device, c->cmd_pool, 0));
    c->next_cmd = 0;
    for (int i = 0; i <= c->desc_pool_cur && i < c->ndesc_pools; i++)
        VK_CHECK(vkResetDescriptorPool(c->device, c->desc_pools[i], 0));
    c->desc_pool_cur = c->desc_pool_used = 0;
    vk_staging_reset(c);
}

/* ---------------------------------------------------------------- descriptors */

static VkDescriptorSet descriptor_set(vk_ctx *c, int bindings) {
    if (c->desc_pool_cur == c->ndesc_pools || c->desc_pool_used == SETS_PER_POOL) {
        if (c->desc_pool_cur < c->ndesc_pools) c->desc_pool_cur++;
        if (c->desc_pool_cur == c->ndesc_pools) {
            VkDescriptorPool *p = realloc(c->desc_pools, (size_t)(c->ndesc_pools + 1) * sizeof *p);
            ZOO_ASSERT(p != NULL);
            c->desc_pools = p;
            VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * VK_MAX_BINDINGS};
            VkDescriptorPoolCreateInfo pi = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = SETS_PER_POOL,
                .poolSizeCount = 1,
                .pPoolSizes = &size,
            };
            VK_CHECK(vkCreateDescriptorPool(c->device, &pi, NULL, &c->desc_pools[c->ndesc_pools++]));
        }
        c->desc_pool_used = 0;
    }
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = c->desc_pools[c->desc_pool_cur],
        .descriptorSetCount = 1,
        .pSetLayouts = &c->set_layouts[bindings],
    };
    VkDescriptorSet set;
    VK_CHECK(vkAllocateDescriptorSets(c->device, &ai, &set));
    c->desc_pool_used++;
    return set;
}

/* ---------------------------------------------------------------- commands */

void vk_dispatch(vk_ctx *c, vk_shader sh, const vk_arg *args, int nargs, const void *push, size_t push_bytes,
                 uint32_t gx, uint32_t gy, uint32_t gz) {
    const vk_pipeline *p = vk_pipeline_get(c, sh);
    const uint32_t *max = c->props.limits.maxComputeWorkGroupCount;
    ZOO_ASSERT(nargs == p->bindings && push_bytes <= VK_PUSH_BYTES && push_bytes % 4 == 0);
    ZOO_ASSERT(gx >= 1 && gy >= 1 && gz >= 1 && gx <= max[0] && gy <= max[1] && gz <= max[2]);
    VkCommandBuffer cmd = recording(c);

    vk_range rd[VK_MAX_BINDINGS], wr[VK_MAX_BINDINGS];
    int nrd = 0, nwr = 0;
    for (int i = 0; i < nargs; i++) {
        if (args[i].write) wr[nwr++] = range(args[i].addr, args[i].bytes);
        else rd[nrd++] = range(args[i].addr, args[i].bytes);
    }
    order(c, cmd, rd, nrd, wr, nwr);

    VkDescriptorSet set = descriptor_set(c, nargs);
    VkDescriptorBufferInfo info[VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (int i = 0; i < nargs; i++) {
        info[i] = (VkDescriptorBufferInfo){vk_buffer_of(c, args[i].addr), vk_addr_offset(args[i].addr), args[i].bytes};
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &info[i],
        };
    }
    vkUpdateDescriptorSets(c->device, (uint32_t)nargs, w, 0, NULL);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->layouts[nargs], 0, 1, &set, 0, NULL);
    if (push_bytes) vkCmdPushConstants(cmd, c->layouts[nargs], VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)push_bytes, push);
    vkCmdDispatch(cmd, gx, gy, gz);
    c->stats.dispatches++;
}

void vk_dispatch_threads(vk_ctx *c, vk_shader sh, const vk_arg *args, int nargs, const void *push,
                         size_t push_bytes, uint64_t threads) {
    uint64_t local = vk_pipeline_get(c, sh)->local[0];
    uint64_t groups = (threads + local - 1) / local, max_x = c->props.limits.maxComputeWorkGroupCount[0];
    if (groups == 0) groups = 1;
    uint64_t gx = groups < max_x ? groups : max_x, gy = (groups + gx - 1) / gx;
    ZOO_ASSERT(gy * gx * local < ((uint64_t)1 << 32)); /* vk_index() is a 32-bit uint */
    vk_dispatch(c, sh, args, nargs, push, push_bytes, (uint32_t)gx, (uint32_t)gy, 1);
}

void vk_dispatch_groups(vk_ctx *c, vk_shader sh, const vk_arg *args, int nargs, const void *push,
                        size_t push_bytes, uint64_t groups) {
    uint64_t max_x = c->props.limits.maxComputeWorkGroupCount[0];
    uint64_t gx = groups < max_x ? groups : max_x, gy = (groups + gx - 1) / gx;
    vk_dispatch(c, sh, args, nargs, push, push_bytes, (uint32_t)gx, (uint32_t)gy, 1);
}

void vk_copy(vk_ctx *c, vk_addr src, vk_addr dst, VkDeviceSize bytes, bool to_host) {
    if (bytes == 0) return;
    VkCommandBuffer cmd = recording(c);
    vk_range rd = range(src, bytes), wr = range(dst, bytes);
    order(c, cmd, &rd, 1, &wr, 1);
    VkBufferCopy region = {vk_addr_offset(src), vk_addr_offset(dst), bytes};
    vkCmdCopyBuffer(cmd, vk_buffer_of(c, src), vk_buffer_of(c, dst), 1, &region);
    c->cur_downloads |= to_host;
    c->stats.transfers++;
}

void vk_fill(vk_ctx *c, vk_addr dst, VkDeviceSize bytes, uint32_t word) {
    ZOO_ASSERT(bytes % 4 == 0 && vk_addr_offset(dst) % 4 == 0);
    if (bytes == 0) return;
    VkCommandBuffer cmd = recording(c);
    vk_range wr = range(dst, bytes);
    order(c, cmd, NULL, 0, &wr, 1);
    vkCmdFillBuffer(cmd, vk_buffer_of(c, dst), vk_addr_offset(dst), bytes, word);
    c->stats.transfers++;
}

/* ---------------------------------------------------------------- lifecycle */

bool vk_exec_init(vk_ctx *c) {
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
        .queueFamilyIndex = c->queue_family,
    };
    VkResult r = vkCreateCommandPool(c->device, &pi, NULL, &c->cmd_pool);
    if (r != VK_SUCCESS) {
        zoo_set_error("cannot create a Vulkan command pool: %s", vk_result_name(r));
        return false;
    }
    return true;
}

void vk_exec_destroy(vk_ctx *c) {
    if (c->device) {
        vk_wait(c);
        for (int i = 0; i < c->nfences; i++) vkDestroyFence(c->device, c->fences[i], NULL);
        for (int i = 0; i < c->ndesc_pools; i++) vkDestroyDescriptorPool(c->device, c->desc_pools[i], NULL);
        if (c->cmd_pool) vkDestroyCommandPool(c->device, c->cmd_pool, NULL);
    }
    free(c->fences);
    free(c->desc_pools);
    free(c->cmds);
    free(c->reads.r);
    free(c->writes.r);
    c->fences = NULL;
    c->desc_pools = NULL;
    c->cmds = NULL;
    c->reads.r = c->writes.r = NULL;
}
