/* zoo's summation order: the one order in which every backend adds up a sum, so
 * that the same inputs give the same float result, bit for bit, on every backend.
 *
 * Float addition is not associative: a sum of many terms depends on the order it is
 * taken in, and two backends that each pick their fastest order drift apart by an
 * ulp here and there, which training amplifies step after step. So the order is
 * part of the kernel contract (backend.h), like the shapes:
 *
 *   A sum of terms t_0 .. t_{L-1} is a tree of groups. The terms are cut, left to
 *   right, into groups of ZOO_SUM_GROUP (the last group may be short); each group is
 *   added left to right starting from +0.0: ((0 + t_0) + t_1) + ... One group sum
 *   per group makes the terms of the next level, grouped and added the same way,
 *   until a single group is left: its sum is the result. So a sum of at most 256
 *   terms is plain left-to-right addition; of at most 65536, the sums of its 256-term
 *   groups added left to right.
 *
 *   A product term (a dot product's a_k * b_k) is rounded before it is added: no
 *   fused multiply-add, since devices differ in whether they fuse.
 *
 * Starting from +0.0 means no group sum is ever -0.0, so adding a group sum to a
 * +0.0 accumulator never changes it: a kernel may start an accumulator from its
 * first group sum or from zero, as is convenient. Vulkan guarantees correctly
 * rounded float addition and multiplication, and the CPU build disables
 * contraction (-ffp-contract=off), so both compute exactly this. Which terms a sum
 * has, in which order, is said where each kernel is declared. */
#ifndef ZOO_CANON_H
#define ZOO_CANON_H

#include <stdint.h>

#define ZOO_SUM_GROUP 256
#define ZOO_SUM_LEVELS 4 /* 256^4 terms: more than any tensor holds */

/* A sum built term by term in zoo's order. */
typedef struct zoo_canon_sum {
    float part[ZOO_SUM_LEVELS]; /* the open group of each level */
    int32_t count[ZOO_SUM_LEVELS];
} zoo_canon_sum;

static inline zoo_canon_sum zoo_canon_sum_new(void) { return (zoo_canon_sum){{0}, {0}}; }

/* after terms were added to the open group of level 0: a full group becomes a term
 * of the level above, and so on up */
static inline void zoo_canon_sum_carry(zoo_canon_sum *s) {
    for (int l = 0; s->count[l] == ZOO_SUM_GROUP && l + 1 < ZOO_SUM_LEVELS; l++) {
        s->part[l + 1] = s->part[l + 1] + s->part[l];
        s->count[l + 1]++;
        s->part[l] = 0.0f;
        s->count[l] = 0;
    }
}

static inline void zoo_canon_sum_add(zoo_canon_sum *s, float t) {
    s->part[0] = s->part[0] + t;
    s->count[0]++;
    zoo_canon_sum_carry(s);
}

/* adds the n terms p[0], p[stride], p[2 stride], ... */
static inline void zoo_canon_sum_add_run(zoo_canon_sum *s, const float *p, int64_t n, int64_t stride) {
    while (n > 0) {
        int64_t take = ZOO_SUM_GROUP - s->count[0];
        if (take > n) take = n;
        float acc = s->part[0];
        for (int64_t i = 0; i < take; i++) acc = acc + p[i * stride];
        s->part[0] = acc;
        s->count[0] += (int32_t)take;
        zoo_canon_sum_carry(s);
        p += take * stride;
        n -= take;
    }
}

static inline float zoo_canon_sum_result(const zoo_canon_sum *s) {
    int top = ZOO_SUM_LEVELS - 1;
    while (top > 0 && s->count[top] == 0) top--;
    float r = s->part[0];
    for (int l = 1; l <= top; l++) r = s->part[l] + r; /* the open groups are the last terms */
    return r;
}

#endif
