/* Tensors, their two lifetimes (persistent and step-scoped), the runtime that holds
 * the active backend, and error reporting. This is the bottom of the core: it knows
 * the backend vtable and nothing above it. */
#ifndef ZOO_TENSOR_H
#define ZOO_TENSOR_H

#include "../backends/backend.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- errors */

/* A usage error the caller made (wrong shapes, op outside a scope): prints
 * "zoo: error: <message>" to stderr and exits with status 1. */
void zoo_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---------------------------------------------------------------- shapes */

zoo_shape zoo_shape1(int64_t a);
zoo_shape zoo_shape2(int64_t a, int64_t b);
zoo_shape zoo_shape3(int64_t a, int64_t b, int64_t c);
zoo_shape zoo_shape4(int64_t a, int64_t b, int64_t c, int64_t d);
int64_t zoo_shape_numel(zoo_shape s);
bool zoo_shape_eq(zoo_shape a, zoo_shape b);
/* "[128, 784]" into buf (returns buf) */
const char *zoo_shape_str(zoo_shape s, char *buf, size_t n);

/* ---------------------------------------------------------------- tensors */

/* Step-scoped tensors: live until the enclosing zoo_scope_end. Uninitialized. */
zoo_tensor *zoo_tensor_new(zoo_dtype dtype, zoo_shape shape);
zoo_tensor *zoo_tensor_zeros(zoo_dtype dtype, zoo_shape shape);
zoo_tensor *zoo_tensor_full(zoo_shape shape, float value);
/* a step-scoped float tensor holding a copy of host data (numel floats) */
zoo_tensor *zoo_tensor_from_host(zoo_shape shape, const float *src);
zoo_tensor *zoo_tensor_from_host_i32(zoo_shape shape, const int32_t *src);

/* Persistent tensors (parameters, optimizer state): zero-filled; the caller frees
 * with zoo_tensor_free, which also frees .grad. */
zoo_tensor *zoo_tensor_new_persistent(zoo_dtype dtype, zoo_shape shape);
void zoo_tensor_free(zoo_tensor *t);
/* gives a persistent tensor a persistent gradient and sets requires_grad */
void zoo_tensor_enable_grad(zoo_tensor *t);

/* host <-> tensor copies of all elements (numel * 4 bytes); download waits */
void zoo_tensor_upload(zoo_tensor *t, const void *src);
void zoo_tensor_download(const zoo_tensor *t, void *dst);
float zoo_tensor_item(const zoo_tensor *t); /* element 0 as float */
void zoo_tensor_fill(zoo_tensor *t, float value);
void zoo_tensor_copy(zoo_tensor *dst, const zoo_tensor *src); /* same numel and dtype */

/* a step-scoped header over x's storage with another shape of the same numel; no
 * tape entry (zoo_reshape is the differentiable form) */
zoo_tensor *zoo__view(zoo_tensor *x, zoo_shape shape);

/* aborts with a clear message when t was made in a scope that has ended */
void zoo_tensor_check(const zoo_tensor *t, const char *where);

/* ---------------------------------------------------------------- runtime */

/* How the library computes: on which backend, with how many CPU threads, in which
 * numeric mode (backends/backend.h):
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
int zoo_init_with(const zoo_options *opts);
/* zoo_init_with({backend_name, threads, fast mode}) */
int zoo_init(const char *backend_name, int threads);
/* true when the backend computes in exact mode */
bool zoo_exact(void);
/* "exact" or "fast", as checkpoints and metrics record it */
const char *zoo_numeric_mode(void);
/* with zoo_options.profile: the time each kernel took so far, per step when steps > 0 */
void zoo_profile_print(FILE *out, int64_t steps);
void zoo_profile_reset(void); /* starts the count again (after warm-up steps) */
void zoo_shutdown(void);
zoo_backend *zoo_backend_current(void);
const char *zoo_backend_name(void);
/* waits until queued kernels have run */
void zoo_sync(void);
size_t zoo_peak_bytes(void);

/* Scopes nest. Tensors and tape entries made inside are released, all at once, by
 * the matching end. A training step is one scope. */
void zoo_scope_begin(void);
void zoo_scope_end(void);
int zoo_scope_depth(void);

/* host-side scratch from the current scope (freed with it), 64-byte aligned */
void *zoo_scope_alloc(size_t bytes);

/* grad mode: when off, ops record nothing (inference, evaluation). Returns the old value. */
bool zoo_grad_enabled(void);
bool zoo_set_grad_enabled(bool on);

#endif
