/* The tensor header and its shape, the types every layer shares: the public API hands
 * tensors out, the core adds autograd to them, the backends read their shape and
 * storage. Installed with the public headers. */
#ifndef ZOO_TYPES_H
#define ZOO_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ZOO_API marks what libzoo exports; everything else is hidden (-fvisibility=hidden). */
#ifndef ZOO_API
#if defined(__GNUC__)
#define ZOO_API __attribute__((visibility("default")))
#else
#define ZOO_API
#endif
#endif

/* A call that fails on the caller's input (files, flags, devices, shapes) returns an
 * error status or NULL and leaves its message here; it stays until the next failure. */
ZOO_API const char *zoo_last_error(void);
/* sets that message (printf-style), as a model's create does when an option is invalid */
ZOO_API void zoo_set_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#define ZOO_MAX_DIMS 4

typedef enum zoo_dtype { ZOO_F32 = 0, ZOO_I32 = 1 } zoo_dtype;

typedef struct zoo_tensor zoo_tensor;

/* A shape: ndim dims (1 to ZOO_MAX_DIMS), unused trailing entries are 1. */
typedef struct zoo_shape {
    int ndim;
    int64_t d[ZOO_MAX_DIMS];
} zoo_shape;

/* Work an asynchronous backend has done since it started (Vulkan counts it; the CPU
 * backend reports zeros): a dispatch is one compute shader launch, transfers are copies
 * and fills, a submit is one queue submission (one per flush that has recorded work). */
typedef struct zoo_counters {
    uint64_t dispatches;
    uint64_t transfers;
    uint64_t barriers;
    uint64_t submits;
    uint64_t validation_messages; /* warnings and errors from the Vulkan validation layer */
} zoo_counters;

struct zoo_node; /* a tape entry (the core's own) */

/* Row-major and contiguous: element (i0, i1, ...) of a [d0, d1, ...] tensor is at
 * i0*d1*d2*... + i1*d2*... + ...; float32 or int32, 4 bytes each. `data` is
 * backend-owned storage: on the CPU a plain pointer to the first element, on other
 * backends an opaque handle (read it through zoo_tensor_download). Read the fields;
 * change them only through the API. */
struct zoo_tensor {
    zoo_shape shape;
    int64_t numel;
    zoo_dtype dtype;
    void *data;             /* backend storage; views share it */
    zoo_tensor *grad;       /* same shape; persistent for persistent tensors */
    struct zoo_node *node;  /* the op that produced this tensor, NULL for leaves */
    bool requires_grad;
    bool persistent;
    bool grad_zero;         /* grad holds no value yet: the next accumulation overwrites */
    bool grad_owned;        /* grad is this tensor's alone (not shared with another), so
                               backward may accumulate into it in place */
    bool owns_data;         /* persistent and not a view: zoo_tensor_free frees data */
    int scope_level;        /* 0: persistent; else the scope depth it was made in */
    uint64_t scope_id;      /* id of that scope; a mismatch means use after scope */
};

#ifdef __cplusplus
}
#endif

#endif
