/* The base layer: see base.h. */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

void zoo__assert_fail(const char *file, int line, const char *cond) {
    fprintf(stderr, "zoo: internal error at %s:%d: assertion failed: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}

void *zoo__need(void *p, const char *what) {
    if (p) return p;
    fprintf(stderr, "zoo: out of host memory (%s)\n", what);
    fflush(stderr);
    abort();
}

const char *zoo_last_error(void) { return last_error; }

/* formatted aside first: the arguments may include the last error itself */
void zoo_set_error(const char *fmt, ...) {
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
}
