/* Device memory: a few large VkBuffers ("chunks") that tensors are carved from.
 * Persistent tensors come from a first-fit block list per chunk; step-scoped ones from
 * a bump arena that a scope end rewinds in O(1); host transfers go through one mapped
 * staging chunk. Nothing here records commands (vk_exec.c does). */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_CHUNK_BYTES ((VkDeviceSize)64 << 20)
#define ARENA_FIRST_CHUNK_BYTES ((VkDeviceSize)64 << 20)
#define ARENA_MAX_CHUNK_BYTES ((VkDeviceSize)1 << 30) /* growth stops doubling here */
#define STAGING_BYTES ((VkDeviceSize)8 << 20)

static VkDeviceSize round_up(VkDeviceSize n, VkDeviceSize a) { return (n + a - 1) / a * a; }

static bool grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int n = *cap ? *cap * 2 : 8;
    while (n < need) n *= 2;
    void *q = realloc(*p, (size_t)n * elem);
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

/* ---------------------------------------------------------------- chunks */

/* the first memory type in `bits` with all of `want`, or -1 */
static int find_type(const vk_ctx *c, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < c->mem_props.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (c->mem_props.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

/* a new chunk of `size` bytes; its index, or -1 when the device is out of memory */
static int chunk_new(vk_ctx *c, VkDeviceSize size, bool host) {
    if (!grow((void **)&c->chunks, &c->cap_chunks, c->nchunks + 1, sizeof *c->chunks)) return -1;
    vk_chunk ch = {.size = size};
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    if (vkCreateBuffer(c->device, &bi, NULL, &ch.buffer) != VK_SUCCESS) return -1;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(c->device, ch.buffer, &req);
    int type;
    if (host) {
        /* cached memory makes downloads (host reads) fast where the device offers it */
        type = find_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                    VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                                    VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (type < 0)
            type = find_type(c, req.memoryTypeBits,
                             VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    } else {
        type = find_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (type < 0) type = find_type(c, req.memoryTypeBits, 0);
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    if (type < 0 || vkAllocateMemory(c->device, &ai, NULL, &ch.memory) != VK_SUCCESS) {
        vkDestroyBuffer(c->device, ch.buffer, NULL);
        return -1;
    }
    VK_CHECK(vkBindBufferMemory(c->device, ch.buffer, ch.memory, 0));
    if (host) VK_CHECK(vkMapMemory(c->device, ch.memory, 0, VK_WHOLE_SIZE, 0, &ch.mapped));
    c->chunks[c->nchunks] = ch;
    return c->nchunks++;
}

VkBuffer vk_buffer_of(const vk_ctx *c, vk_addr a) {
    int i = vk_addr_chunk(a);
    ZOO_ASSERT(i >= 0 && i < c->nchunks);
    return c->chunks[i].buffer;
}

/* a tensor a shader cannot bind whole is refused here, with the reason on stderr */
static bool bindable(const vk_ctx *c, size_t bytes) {
    if (bytes <= c->props.limits.maxStorageBufferRange) return true;
    fprintf(stderr, "zoo: a tensor of %zu bytes is larger than this Vulkan device binds (maxStorageBufferRange %u)\n",
            bytes, c->props.limits.maxStorageBufferRange);
    return false;
}

static void note_peak(vk_ctx *c) {
    size_t now = c->persistent_bytes + (size_t)c->arena_used;
    if (now > c->peak) c->peak = now;
}

/* ---------------------------------------------------------------- persistent */

static bool pool_chunk_new(vk_ctx *c, VkDeviceSize size) {
    if (!grow((void **)&c->pool, &c->cap_pool, c->npool + 1, sizeof *c->pool)) return false;
    int ch = chunk_new(c, size, false);
    if (ch < 0) return false;
    vk_pool_chunk pc = {.chunk = ch, .blocks = malloc(8 * sizeof(vk_block)), .nblocks = 1, .cap = 8};
    if (!pc.blocks) return false;
    pc.blocks[0] = (vk_block){.offset = 0, .size = size, .used = false};
    c->pool[c->npool++] = pc;
    return true;
}

/* takes `size` bytes from the front of free block i, splitting it */
static vk_addr take(vk_pool_chunk *pc, int i, VkDeviceSize size) {
    vk_block *b = &pc->blocks[i];
    if (b->size > size) {
        if (!grow((void **)&pc->blocks, &pc->cap, pc->nblocks + 1, sizeof *pc->blocks)) return 0;
        b = &pc->blocks[i];
        memmove(b + 2, b + 1, (size_t)(pc->nblocks - i - 1) * sizeof *b);
        b[1] = (vk_block){.offset = b->offset + size, .size = b->size - size, .used = false};
        b->size = size;
        pc->nblocks++;
    }
    b->used = true;
    return vk_addr_make(pc->chunk, b->offset);
}

vk_addr vk_alloc(vk_ctx *c, size_t bytes) {
    if (!bindable(c, bytes)) return 0;
    VkDeviceSize size = round_up(bytes ? bytes : 1, c->align);
    vk_addr a = 0;
    for (int p = 0; p < c->npool && !a; p++)
        for (int i = 0; i < c->pool[p].nblocks && !a; i++)
            if (!c->pool[p].blocks[i].used && c->pool[p].blocks[i].size >= size) a = take(&c->pool[p], i, size);
    if (!a) {
        if (!pool_chunk_new(c, size > POOL_CHUNK_BYTES ? size : POOL_CHUNK_BYTES)) return 0;
        a = take(&c->pool[c->npool - 1], 0, size);
    }
    if (a) {
        c->persistent_bytes += size;
        note_peak(c);
    }
    return a;
}

void vk_free(vk_ctx *c, vk_addr a) {
    if (!a) return;
    int ch = vk_addr_chunk(a);
    VkDeviceSize off = vk_addr_offset(a);
    vk_pool_chunk *pc = NULL;
    for (int p = 0; p < c->npool && !pc; p++)
        if (c->pool[p].chunk == ch) pc = &c->pool[p];
    ZOO_ASSERT(pc != NULL); /* freeing memory that persistent alloc did not hand out */
    int lo = 0, hi = pc->nblocks - 1;
    while (lo < hi) { /* the block at offset `off` */
        int mid = (lo + hi) / 2;
        if (pc->blocks[mid].offset < off) lo = mid + 1;
        else hi = mid;
    }
    vk_block *b = pc->blocks;
    ZOO_ASSERT(b[lo].offset == off && b[lo].used);
    b[lo].used = false;
    c->persistent_bytes -= b[lo].size;
    /* merge with free neighbours so the chunk does not fragment over time */
    if (lo + 1 < pc->nblocks && !b[lo + 1].used) {
        b[lo].size += b[lo + 1].size;
        memmove(b + lo + 1, b + lo + 2, (size_t)(pc->nblocks - lo - 2) * sizeof *b);
        pc->nblocks--;
    }
    if (lo > 0 && !b[lo - 1].used) {
        b[lo - 1].size += b[lo].size;
        memmove(b + lo, b + lo + 1, (size_t)(pc->nblocks - lo - 1) * sizeof *b);
        pc->nblocks--;
    }
}

/* ---------------------------------------------------------------- arena */

static VkDeviceSize arena_chunk_size(const vk_ctx *c, int i) { return c->chunks[c->arena[i].chunk].size; }

static bool arena_chunk_new(vk_ctx *c, VkDeviceSize min_bytes) {
    if (!grow((void **)&c->arena, &c->cap_arena, c->narena + 1, sizeof *c->arena)) return false;
    VkDeviceSize size = ARENA_FIRST_CHUNK_BYTES, start = 0;
    if (c->narena) {
        VkDeviceSize last = arena_chunk_size(c, c->narena - 1);
        size = last * 2 < ARENA_MAX_CHUNK_BYTES ? last * 2 : ARENA_MAX_CHUNK_BYTES;
        start = c->arena[c->narena - 1].start + last;
    }
    if (size < min_bytes) size = min_bytes;
    int ch = chunk_new(c, size, false);
    if (ch < 0) return false;
    c->arena[c->narena++] = (vk_arena_chunk){.chunk = ch, .start = start};
    return true;
}

vk_addr vk_arena_alloc(vk_ctx *c, size_t bytes) {
    if (!bindable(c, bytes)) return 0;
    VkDeviceSize size = round_up(bytes ? bytes : 1, c->align);
    while (c->arena_cur < c->narena && c->arena_off + size > arena_chunk_size(c, c->arena_cur)) {
        /* the rest of this chunk is skipped; the next ones are larger */
        c->arena_cur++;
        c->arena_off = 0;
    }
    if (c->arena_cur == c->narena) {
        if (!arena_chunk_new(c, size)) return 0;
        c->arena_off = 0;
    }
    vk_addr a = vk_addr_make(c->arena[c->arena_cur].chunk, c->arena_off);
    c->arena_off += size;
    c->arena_used = c->arena[c->arena_cur].start + c->arena_off;
    note_peak(c);
    return a;
}

vk_addr vk_arena_scratch(vk_ctx *c, int64_t floats) {
    vk_addr a = vk_arena_alloc(c, (size_t)floats * 4);
    if (!a) {
        fprintf(stderr, "zoo: error: out of Vulkan memory for %lld MiB of kernel scratch (try a smaller batch)\n",
                (long long)((floats * 4) >> 20));
        exit(1);
    }
    return a;
}

size_t vk_arena_mark(vk_ctx *c) {
    if (c->arena_cur == c->narena)
        return c->narena ? (size_t)(c->arena[c->narena - 1].start + arena_chunk_size(c, c->narena - 1)) : 0;
    return (size_t)(c->arena[c->arena_cur].start + c->arena_off);
}

void vk_arena_reset(vk_ctx *c, size_t mark) {
    if (c->narena == 0) return;
    int b = 0;
    while (b + 1 < c->narena && c->arena[b + 1].start <= mark) b++;
    c->arena_cur = b;
    c->arena_off = mark - c->arena[b].start;
    c->arena_used = mark;
}

/* ---------------------------------------------------------------- staging */

size_t vk_staging_capacity(const vk_ctx *c) { return (size_t)c->chunks[c->staging].size; }

vk_addr vk_staging_alloc(vk_ctx *c, size_t bytes) {
    ZOO_ASSERT(bytes <= vk_staging_capacity(c));
    VkDeviceSize size = round_up(bytes ? bytes : 1, 64);
    if (c->staging_off + size > c->chunks[c->staging].size) vk_wait(c); /* resets staging_off */
    vk_addr a = vk_addr_make(c->staging, c->staging_off);
    c->staging_off += size;
    return a;
}

void *vk_staging_host(vk_ctx *c, vk_addr a) {
    ZOO_ASSERT(vk_addr_chunk(a) == c->staging);
    return (char *)c->chunks[c->staging].mapped + vk_addr_offset(a);
}

void vk_staging_reset(vk_ctx *c) { c->staging_off = 0; }

/* ---------------------------------------------------------------- lifecycle */

bool vk_memory_init(vk_ctx *c) {
    VkDeviceSize min_align = c->props.limits.minStorageBufferOffsetAlignment;
    c->align = min_align > 256 ? min_align : 256;
    c->staging = chunk_new(c, STAGING_BYTES, true);
    if (c->staging < 0) {
        zoo_set_error("cannot allocate %u MiB of host-visible Vulkan memory for transfers",
                      (unsigned)(STAGING_BYTES >> 20));
        return false;
    }
    return true;
}

void vk_memory_destroy(vk_ctx *c) {
    for (int i = 0; i < c->nchunks; i++) {
        if (c->chunks[i].mapped) vkUnmapMemory(c->device, c->chunks[i].memory);
        vkDestroyBuffer(c->device, c->chunks[i].buffer, NULL);
        vkFreeMemory(c->device, c->chunks[i].memory, NULL);
    }
    for (int p = 0; p < c->npool; p++) free(c->pool[p].blocks);
    free(c->pool);
    free(c->arena);
    free(c->chunks);
    c->chunks = NULL;
    c->pool = NULL;
    c->arena = NULL;
    c->nchunks = c->npool = c->narena = 0;
}
