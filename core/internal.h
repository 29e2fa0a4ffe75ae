/* Inside libzoo's core: the tape's nodes and the helpers every op is built from (the
 * backend to call, gradient slots, views, errors). Not installed: a program using
 * libzoo sees only the public headers. */
#ifndef ZOO_INTERNAL_H
#define ZOO_INTERNAL_H

#include "../backends/backend.h"
#include "zoo.h"

/* the backend every kernel call goes to */
zoo_backend *zoo__backend(void);
#define ZOO_K(fn, ...) (zoo__backend()->iface.fn(zoo__backend()->ctx, __VA_ARGS__))

/* ---------------------------------------------------------------- the tape */

typedef struct zoo_node zoo_node;
/* reads n->out->grad and accumulates into the inputs' grads (zoo__grad_*) */
typedef void (*zoo_backward_fn)(zoo_node *n);

#define ZOO_NODE_PARAM_BYTES 64

struct zoo_node {
    const char *op;
    zoo_backward_fn backward;
    zoo_tensor *out;
    zoo_tensor **in;      /* nin inputs, held in the scope's memory */
    int nin;
    zoo_tensor *saved[2]; /* extra tensors the backward needs (masks, statistics) */
    /* the op's own settings for its backward, as a struct the op defines (ggml's
       op_params): ZOO_NODE_PARAMS(n, conv_params) */
    union {
        unsigned char bytes[ZOO_NODE_PARAM_BYTES];
        double align_;
        void *align_ptr_;
    } params;
    zoo_node *prev;
};

/* n's parameter area as a `type`, which must fit (checked at compile time) */
#define ZOO_NODE_PARAMS(n, type)                                                                   \
    ((void)sizeof(char[sizeof(type) <= ZOO_NODE_PARAM_BYTES ? 1 : -1]), (type *)(void *)(n)->params.bytes)

/* true when grad mode is on and any of the inputs requires grad */
bool zoo__needs_grad(int nin, zoo_tensor *const *in);
/* appends a node producing out (and marks out as requiring grad); NULL when no
 * input requires grad or grad mode is off */
zoo_node *zoo__record(const char *op, zoo_tensor *out, zoo_backward_fn fn, int nin, zoo_tensor *const *in);
/* the tensor to write t's gradient into; *beta is 0 when it must be overwritten,
 * 1 when the new gradient must be added to what it holds */
zoo_tensor *zoo__grad_slot(zoo_tensor *t, float *beta);
/* For backward kernels that overwrite their output: grad_begin gives a tensor to
 * write t's new gradient into (t's own grad when it holds nothing yet), grad_end
 * adds it to t's grad unless it already is that grad. */
zoo_tensor *zoo__grad_begin(zoo_tensor *t);
void zoo__grad_end(zoo_tensor *t, zoo_tensor *g);
/* t.grad += g (g is not modified, and may be taken over as t.grad) */
void zoo__grad_accumulate(zoo_tensor *t, zoo_tensor *g);
bool zoo__wants_grad(const zoo_tensor *t);

zoo_node *zoo__tape_tail(void);
void zoo__tape_truncate(zoo_node *mark);

/* ---------------------------------------------------------------- helpers */

/* a step-scoped header over x's storage with another shape of the same numel; no
 * tape entry (zoo_reshape is the differentiable form) */
zoo_tensor *zoo__view(zoo_tensor *x, zoo_shape shape);
zoo_tensor *zoo__unary(const char *name, zoo_unary_op op, zoo_tensor *x, float a, float b);
/* records a failure for zoo_last_error and zoo_failed (the first since the last clear
 * keeps its message) */
void zoo__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* true when t is a usable float32 tensor; else records why, naming op */
bool zoo__check_f32(const char *op, const zoo_tensor *t);
/* axis counted from the end when negative, checked against x's dims: 0..ndim-1, or -1
 * with the error recorded */
int zoo__axis(const char *op, const zoo_tensor *x, int axis);
/* records "<op>: <what>" plus the shapes of a and b as the error */
void zoo__shape_error(const char *op, const char *what, const zoo_tensor *a, const zoo_tensor *b);

/* half-precision storage (core/half.c): to float32 exactly; from float32 rounded to
 * nearest even, F16 overflowing to infinity, NaN kept a (quiet) NaN */
float zoo__f16_to_f32(uint16_t h);
uint16_t zoo__f32_to_f16(float f);
float zoo__bf16_to_f32(uint16_t h);
uint16_t zoo__f32_to_bf16(float f);

#endif
