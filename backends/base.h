/* The base layer under the core and the backends alike: invariants that abort with
 * file:line, and recording the message of a call that failed (types.h has the public
 * half, zoo_last_error). Not installed. */
#ifndef ZOO_BASE_H
#define ZOO_BASE_H

#include "types.h"

/* An invariant the code relies on (a bug if it fails, never the caller's input):
 * prints file:line and the condition, aborts. */
#define ZOO_ASSERT(cond)                                                            \
    do {                                                                            \
        if (!(cond)) zoo__assert_fail(__FILE__, __LINE__, #cond);                   \
    } while (0)
void zoo__assert_fail(const char *file, int line, const char *cond) __attribute__((noreturn));

/* p, or when it is NULL (a host allocation failed) prints "zoo: out of host memory
 * (<what>)" and aborts, as glib's g_malloc does: small bookkeeping allocations have no
 * useful way to fail. Tensor storage and file-sized buffers report errors instead. */
void *zoo__need(void *p, const char *what);

#endif
