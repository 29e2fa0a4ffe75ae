/* The base layer: see base.h. */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

void zoo__assert_fail(const char *file, int line, const char *cond) {
    fprintf(stderr, "zoo: internal error at %s:%d: assertion failed: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}

const char *zoo_last_error(void) { return last_error; }

void zoo_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}
