/* Bump arena: see arena.h. Positions are offsets into the concatenation of all
 * blocks, so a mark is one number and a reset is a search over a handful of blocks. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK (4u << 20)

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

static int add_block(zoo_arena *a, size_t min_bytes) {
    if (a->nblocks == a->cap_blocks) {
        int cap = a->cap_blocks ? a->cap_blocks * 2 : 8;
        zoo_arena_block *b = realloc(a->blocks, (size_t)cap * sizeof *b);
        if (!b) return -1;
        a->blocks = b;
        a->cap_blocks = cap;
    }
    size_t cap = ARENA_MIN_BLOCK;
    if (a->nblocks) cap = a->blocks[a->nblocks - 1].cap * 2;
    if (cap < min_bytes) cap = round_up(min_bytes);
    char *base = aligned_alloc(ARENA_ALIGN, cap);
    if (!base) return -1;
    size_t start = 0;
    if (a->nblocks) start = a->blocks[a->nblocks - 1].start + a->blocks[a->nblocks - 1].cap;
    a->blocks[a->nblocks++] = (zoo_arena_block){.base = base, .cap = cap, .start = start};
    return 0;
}

void *zoo_arena_alloc(zoo_arena *a, size_t bytes) {
    bytes = round_up(bytes ? bytes : 1);
    while (a->cur < a->nblocks && a->off + bytes > a->blocks[a->cur].cap) {
        /* the rest of this block is skipped; later blocks are larger */
        a->cur++;
        a->off = 0;
    }
    if (a->cur == a->nblocks) {
        if (add_block(a, bytes)) return NULL;
        a->off = 0;
    }
    char *p = a->blocks[a->cur].base + a->off;
    a->off += bytes;
    size_t pos = a->blocks[a->cur].start + a->off;
    a->used = pos;
    if (pos > a->peak) a->peak = pos;
    return p;
}

size_t zoo_arena_mark(const zoo_arena *a) {
    if (a->cur == a->nblocks) return a->nblocks ? a->blocks[a->nblocks - 1].start + a->blocks[a->nblocks - 1].cap : 0;
    return a->blocks[a->cur].start + a->off;
}

void zoo_arena_reset(zoo_arena *a, size_t mark) {
    int b = 0;
    while (b + 1 < a->nblocks && a->blocks[b + 1].start <= mark) b++;
    if (a->poison) {
        for (int i = b; i < a->nblocks && i <= a->cur; i++) {
            size_t from = i == b ? mark - a->blocks[i].start : 0;
            size_t to = i == a->cur ? a->off : a->blocks[i].cap;
            if (to > from) memset(a->blocks[i].base + from, a->poison, to - from);
        }
    }
    if (a->nblocks == 0) return;
    a->cur = b;
    a->off = mark - a->blocks[b].start;
    a->used = mark;
}

void zoo_arena_destroy(zoo_arena *a) {
    for (int i = 0; i < a->nblocks; i++) free(a->blocks[i].base);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}
