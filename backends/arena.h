/* A bump allocator over 64-byte-aligned blocks with O(1) release to a mark. The CPU
 * backend keeps step-scoped tensors in one, the core keeps tensor headers and tape
 * entries in another. Blocks are kept after a reset and reused by the next scope. */
#ifndef ZOO_ARENA_H
#define ZOO_ARENA_H

#include <stddef.h>

typedef struct zoo_arena_block {
    char *base;
    size_t cap;
    size_t start; /* position of base in the arena's running count */
} zoo_arena_block;

typedef struct zoo_arena {
    zoo_arena_block *blocks;
    int nblocks, cap_blocks;
    int cur;        /* block being bumped */
    size_t off;     /* bytes used in blocks[cur] */
    size_t used;    /* bytes handed out since the arena was empty, for peak tracking */
    size_t peak;
    unsigned char poison; /* byte written over released memory; 0 disables */
} zoo_arena;

/* NULL only when the system is out of memory */
void *zoo_arena_alloc(zoo_arena *a, size_t bytes);
/* the current position; pass it to zoo_arena_reset to release what came after */
size_t zoo_arena_mark(const zoo_arena *a);
void zoo_arena_reset(zoo_arena *a, size_t mark);
void zoo_arena_destroy(zoo_arena *a);

#endif
