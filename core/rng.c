/* Seeded generators over Philox; device fills go through the backend's rng_fill. */
#include "rng.h"

#include "../backends/philox.h"
#include "internal.h"

/* splitmix64 finalizer: spreads (seed, stream) into well-separated Philox keys */
static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

zoo_rng zoo_rng_new(uint64_t seed) { return (zoo_rng){.seed = mix64(seed), .offset = 0}; }

zoo_rng zoo_rng_stream(uint64_t seed, uint64_t stream) {
    return (zoo_rng){.seed = mix64(mix64(seed) ^ mix64(stream + 0x5851F42D4C957F2Dull)), .offset = 0};
}

static void fill(zoo_rng *r, zoo_tensor *t, zoo_rng_dist dist, float a, float b) {
    if (!zoo__check_f32("rng fill", t)) return;
    zoo_backend *be = zoo__backend();
    if (r->rows > 0 && t->shape.ndim > 0 && t->shape.d[0] > 0) { /* my rows of a larger batch */
        uint64_t per_row = (uint64_t)(t->numel / t->shape.d[0]);
        be->iface.rng_fill(be->ctx, t, dist, r->seed, r->offset + (uint64_t)r->row0 * per_row, a, b);
        r->offset += (uint64_t)r->rows * per_row;
        return;
    }
    be->iface.rng_fill(be->ctx, t, dist, r->seed, r->offset, a, b);
    r->offset += (uint64_t)t->numel;
}

zoo_rng zoo_rng_rows(zoo_rng r, int64_t first, int64_t total) {
    r.row0 = first;
    r.rows = total;
    return r;
}

void zoo_rng_uniform(zoo_rng *r, zoo_tensor *t, float lo, float hi) { fill(r, t, ZOO_RNG_UNIFORM, lo, hi); }
void zoo_rng_normal(zoo_rng *r, zoo_tensor *t, float mean, float std) { fill(r, t, ZOO_RNG_NORMAL, mean, std); }
void zoo_rng_bernoulli(zoo_rng *r, zoo_tensor *t, float p, float scale) { fill(r, t, ZOO_RNG_BERNOULLI, p, scale); }

uint32_t zoo_rng_u32(zoo_rng *r) {
    uint32_t out[4];
    zoo_philox4x32(r->seed, r->offset++, out);
    return out[0];
}

uint32_t zoo_rng_below(zoo_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection */
    uint64_t m = (uint64_t)zoo_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)zoo_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void zoo_rng_shuffle(zoo_rng *r, int32_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = zoo_rng_below(r, (uint32_t)(i + 1));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
