/* Tensors, their two lifetimes (persistent and step-scoped), the runtime that holds
 * the active backend, and errors. This is the bottom of the core. */
#ifndef ZOO_TENSOR_H
#define ZOO_TENSOR_H

#include "../backends/types.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/* A call that fails (shapes that do not fit, a tensor used after its scope ended, out
 * of memory) records its message (zoo_last_error) and returns NULL or -1; an op given
 * a NULL input returns NULL and records nothing new, so a chain of ops reports its
 * first failure. zoo_failed says whether an op failed since the last
 * zoo_clear_error (or zoo_init); the training loop checks it after every step. */
ZOO_API bool zoo_failed(void);
ZOO_API void zoo_clear_error(void);

/* ---------------------------------------------------------------- shapes */

ZOO_API zoo_shape zoo_shape1(int64_t a);
ZOO_API zoo_shape zoo_shape2(int64_t a, int64_t b);
ZOO_API zoo_shape zoo_shape3(int64_t a, int64_t b, int64_t c);
ZOO_API zoo_shape zoo_shape4(int64_t a, int64_t b, int64_t c, int64_t d);
ZOO_API int64_t zoo_shape_numel(zoo_shape s);
ZOO_API bool zoo_shape_eq(zoo_shape a, zoo_shape b);
/* "[128, 784]" into buf (returns buf) */
ZOO_API const char *zoo_shape_str(zoo_shape s, char *buf, size_t n);

/* ---------------------------------------------------------------- tensors */

/* Step-scoped tensors: live until the enclosing zoo_scope_end. Uninitialized. */
ZOO_API zoo_tensor *zoo_tensor_new(zoo_dtype dtype, zoo_shape shape);
ZOO_API zoo_tensor *zoo_tensor_zeros(zoo_dtype dtype, zoo_shape shape);
ZOO_API zoo_tensor *zoo_tensor_full(zoo_shape shape, float value);
/* a step-scoped float tensor holding a copy of host data (numel floats) */
ZOO_API zoo_tensor *zoo_tensor_from_host(zoo_shape shape, const float *src);
ZOO_API zoo_tensor *zoo_tensor_from_host_i32(zoo_shape shape, const int32_t *src);

/* Persistent tensors (parameters, optimizer state): zero-filled; the caller frees
 * with zoo_tensor_free, which also frees .grad. */
ZOO_API zoo_tensor *zoo_tensor_new_persistent(zoo_dtype dtype, zoo_shape shape);
ZOO_API void zoo_tensor_free(zoo_tensor *t);
/* gives a persistent tensor a persistent gradient and sets requires_grad */
ZOO_API void zoo_tensor_enable_grad(zoo_tensor *t);

/* host <-> tensor copies of all elements (numel * 4 bytes); download waits. A NULL
 * tensor (a failed op's result) leaves dst as it was. */
ZOO_API void zoo_tensor_upload(zoo_tensor *t, const void *src);
ZOO_API void zoo_tensor_download(const zoo_tensor *t, void *dst);
ZOO_API float zoo_tensor_item(const zoo_tensor *t); /* element 0 as float; NaN for NULL */
ZOO_API void zoo_tensor_fill(zoo_tensor *t, float value);

/* No gradient, in place, whatever grad mode says (an EMA of weights, restoring them):
 *   zoo_copy_(dst, src)      dst = src (same numel and dtype)
 *   zoo_lerp_(dst, src, w)   dst = dst + w * (src - dst), computed as (1-w)*dst + w*src,
 *                            as torch.lerp_ moves dst toward src (EMA: w = 1 - decay)
 * 0, or -1 with zoo_last_error() when the shapes differ. */
ZOO_API int zoo_copy_(zoo_tensor *dst, const zoo_tensor *src);
ZOO_API int zoo_lerp_(zoo_tensor *dst, const zoo_tensor *src, float w);

/* true when t can be used here: not NULL (a failed op's result) and not made in a scope
 * that has ended; else records why, naming `where`, and returns false */
ZOO_API bool zoo_tensor_check(const zoo_tensor *t, const char *where);

/* ---------------------------------------------------------------- runtime */

/* How the library computes: on which backend, with how many CPU threads, in which
 * numeric mode:
 *   fast (the default)  each backend's fastest correct arithmetic (OpenBLAS, FMA,
 *                       Winograd, subgroup sums): within NMSE 1e-7 of exact, kernel
 *                       by kernel, and the same from run to run on one machine
 *   exact               one summation order and one set of elementary functions on
 *                       every backend: the same bits on the CPU and any Vulkan device,
 *                       at any thread count, so a run can be replayed anywhere
 * ZOO_EXACT=1 in the environment selects exact mode whatever the options say. */
typedef struct zoo_options {
    const char *backend; /* "cpu" (also NULL) or "vulkan" */
    int threads;         /* CPU threads; <= 0: one per core */
    bool exact;          /* exact numeric mode */
    bool profile;        /* time every kernel (zoo_profile_print); serializes a GPU */
} zoo_options;

/* Selects the backend every later call runs on. Returns 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_init_with(const zoo_options *opts);
/* zoo_init_with({backend_name, threads, fast mode}) */
ZOO_API int zoo_init(const char *backend_name, int threads);
ZOO_API void zoo_shutdown(void);
/* "cpu" or "vulkan" */
ZOO_API const char *zoo_backend_name(void);
/* true when the backend computes in exact mode */
ZOO_API bool zoo_exact(void);
/* "exact" or "fast", as checkpoints and metrics record it */
ZOO_API const char *zoo_numeric_mode(void);
/* with zoo_options.profile: the time each kernel took so far, per step when steps > 0 */
ZOO_API void zoo_profile_print(FILE *out, int64_t steps);
ZOO_API void zoo_profile_reset(void); /* starts the count again (after warm-up steps) */
/* the devices backend `name` could run on, one a line, the one it picks marked; how
 * many there are, or -1 with zoo_last_error() (no such backend, no driver) */
ZOO_API int zoo_list_devices(const char *backend, FILE *out);
/* what the backend has counted so far (zoo_counters) */
ZOO_API void zoo_get_counters(zoo_counters *out);
/* waits until queued kernels have run */
ZOO_API void zoo_sync(void);
ZOO_API size_t zoo_peak_bytes(void);

/* Scopes nest. Tensors and tape entries made inside are released, all at once, by
 * the matching end. A training step is one scope. */
ZOO_API void zoo_scope_begin(void);
ZOO_API void zoo_scope_end(void);
ZOO_API int zoo_scope_depth(void);

/* host-side scratch from the current scope (freed with it), 64-byte aligned; NULL
 * with zoo_last_error() outside a scope or out of memory */
ZOO_API void *zoo_scope_alloc(size_t bytes);

/* grad mode: when off, ops record nothing (inference, evaluation). Returns the old value. */
ZOO_API bool zoo_grad_enabled(void);
ZOO_API bool zoo_set_grad_enabled(bool on);

#ifdef __cplusplus
}
#endif

#endif
