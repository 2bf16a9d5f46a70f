/* th.h - small helpers shared by the hostile-input, fault, thread and long-run tests. */
#ifndef KWVK_TEST_TH_H
#define KWVK_TEST_TH_H

#include "kwvk.h"
#include "mw.h"

#include <stdint.h>

/* Count of failed checks (the test's exit code is 1 when non-zero). */
extern int th_failures;

#define TH_CHECK(cond, ...)                                                                       \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            th_failures++;                                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                 \
            printf("\n");                                                                        \
        }                                                                                        \
    } while (0)

/* A context with the validation layer on (plus `budget` bytes of device memory, 0 = none).
 * Exits 77 (skip) only when no Vulkan device exists at all; any other failure exits 1. */
kwvk_context *th_context(uint64_t budget);
/* Destroy the context; a validation-layer message counts as a failure. */
void th_context_done(kwvk_context *ctx, const char *what);
/* Load a model built with mw into a kwvk_model (exits 1 on failure). */
kwvk_model *th_model(const mw_model *m);
/* Seeded input values in [-1, 1). */
void th_fill(float *x, size_t n, uint64_t seed);
/* Host resident set size in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t th_rss_bytes(void);
double th_now_ms(void);
/* Exit code from th_failures, with a summary line. */
int th_finish(const char *test);

#endif
