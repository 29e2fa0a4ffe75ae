/* A minimal test harness: TEST(name) defines a case, main() in each test file runs
 * them all via RUN(name). A failed CHECK prints the condition and keeps going; the
 * program exits non-zero when any check failed. */
#ifndef ZOO_TEST_H
#define ZOO_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        test_checks++;                                                                             \
        if (!(fabs(a_ - b_) <= (tol)) || a_ != a_ || b_ != b_) {                                   \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s = %.9g, %s = %.9g, differ by more than %g\n", __FILE__,   \
                    __LINE__, #a, a_, #b, b_, (double)(tol));                                      \
        }                                                                                          \
    } while (0)

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        int before_ = test_failures;                                                               \
        test_##name();                                                                             \
        printf("%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #name);                      \
    } while (0)

#define TEST_EXIT()                                                                                \
    do {                                                                                           \
        printf("%d checks, %d failed\n", test_checks, test_failures);                             \
        return test_failures ? 1 : 0;                                                              \
    } while (0)

#endif
