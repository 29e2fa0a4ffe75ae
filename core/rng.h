/* Random numbers. Every draw comes from Philox 4x32-10 keyed by a seed and a counter
 * (backends/philox.h), so the same seed gives the same values on every backend. A
 * zoo_rng is a seed plus the next unused counter; each fill advances it. */
#ifndef ZOO_RNG_H
#define ZOO_RNG_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zoo_rng {
    uint64_t seed;
    uint64_t offset; /* next counter */
    /* rows > 0: a tensor filled is rows [row0, row0 + its first dim) of one of `rows`
       rows, drawing what those rows of the whole would draw (zoo_rng_rows) */
    int64_t row0, rows;
} zoo_rng;

ZOO_API zoo_rng zoo_rng_new(uint64_t seed);
/* a generator for an independent purpose (data order, dropout, init) from one seed */
ZOO_API zoo_rng zoo_rng_stream(uint64_t seed, uint64_t stream);

/* r drawing for rows [first, first + n) of a batch of total rows: a process holding part
 * of a batch (data-parallel training, dist.h) draws the same numbers for its rows as one
 * process holding all of it. Device fills only; host draws ignore it. */
ZOO_API zoo_rng zoo_rng_rows(zoo_rng r, int64_t first, int64_t total);

ZOO_API void zoo_rng_uniform(zoo_rng *r, zoo_tensor *t, float lo, float hi);
ZOO_API void zoo_rng_normal(zoo_rng *r, zoo_tensor *t, float mean, float std);
/* each element: scale with probability p, else 0 */
ZOO_API void zoo_rng_bernoulli(zoo_rng *r, zoo_tensor *t, float p, float scale);

/* host-side draws (data shuffling) */
ZOO_API uint32_t zoo_rng_u32(zoo_rng *r);
/* uniform in [0, n) without modulo bias */
ZOO_API uint32_t zoo_rng_below(zoo_rng *r, uint32_t n);
/* Fisher-Yates over idx[0..n) */
ZOO_API void zoo_rng_shuffle(zoo_rng *r, int32_t *idx, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
