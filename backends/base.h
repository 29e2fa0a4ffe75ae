/* The base layer under the core and the backends alike: invariants that abort with
 * file:line, and the last error message of a call that failed on user input. It
 * includes nothing of zoo's; everything else may include it. */
#ifndef ZOO_BASE_H
#define ZOO_BASE_H

/* ZOO_API marks what libzoo exports; everything else is hidden (-fvisibility=hidden). */
#if defined(__GNUC__)
#define ZOO_API __attribute__((visibility("default")))
#else
#define ZOO_API
#endif

/* An invariant the code relies on: prints file:line and the condition, aborts. */
#define ZOO_ASSERT(cond)                                                            \
    do {                                                                            \
        if (!(cond)) zoo__assert_fail(__FILE__, __LINE__, #cond);                   \
    } while (0)
ZOO_API void zoo__assert_fail(const char *file, int line, const char *cond) __attribute__((noreturn));

/* Functions that fail on user input (files, flags, devices) return an error status and
 * leave their message here; it stays until the next failure. */
ZOO_API const char *zoo_last_error(void);
ZOO_API void zoo_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
