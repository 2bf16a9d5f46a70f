/* th.c - see th.h. */
#include "th.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int th_failures;

/* Keep every shared library loaded so far (the Vulkan driver, the validation layer, LLVM)
 * mapped until the process exits. The loader unloads the driver when the last instance goes;
 * memory the driver keeps in its own globals (lavapipe holds 128 bytes that way) then looks
 * leaked from an "<unknown module>" to LeakSanitizer, which no suppression can name. Pinned,
 * that memory stays reachable, and leaks in kwvk are reported exactly as before. */
static void pin_loaded_libraries(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (!path) continue;
        path[strcspn(path, "\n")] = 0;
        if (!strstr(path, ".so")) continue;
        void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        (void)h; /* the handle is deliberately never closed */
    }
    fclose(f);
}

kwvk_context *th_context(uint64_t budget)
{
    /* a 5-minute fence limit: on a shared CI machine under full load, lavapipe in an ASan
     * build has been seen to take over a minute for one tiny submission */
    kwvk_context_desc d = {.enable_validation = 1, .cache_dir = "", .device_memory_budget = budget,
                           .timeout_ms = 300000};
    kwvk_context *ctx = NULL;
    kwvk_result r = kwvk_context_create(&d, &ctx);
    if (r == KWVK_ERROR_NO_DEVICE) {
        printf("SKIP: no Vulkan device: %s\n", kwvk_last_error());
        exit(77);
    }
    if (r != KWVK_OK) {
        printf("FAIL: kwvk_context_create: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
        exit(1);
    }
    pin_loaded_libraries();
    return ctx;
}

void th_context_done(kwvk_context *ctx, const char *what)
{
    uint32_t v = kwvk_context_validation_messages(ctx);
    TH_CHECK(v == 0, "%s: %u validation-layer message(s)", what, v);
    kwvk_context_destroy(ctx);
}

kwvk_model *th_model(const mw_model *m)
{
    mw_layout l;
    uint8_t *b = mw_bytes(m, &l);
    if (!b) {
        printf("FAIL: out of memory\n");
        exit(1);
    }
    kwvk_model *model = NULL;
    kwvk_result r = kwvk_model_load_memory(b, l.size, &model);
    free(b);
    if (r != KWVK_OK) {
        printf("FAIL: loading the test model %s: %s: %s\n", m->name, kwvk_result_name(r), kwvk_last_error());
        exit(1);
    }
    return model;
}

void th_fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((s >> 40) * (2.0 / 16777216.0)) - 1.0f;
    }
}

uint64_t th_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2) return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

double th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int th_finish(const char *test)
{
    if (th_failures) printf("%s: %d check(s) FAILED\n", test, th_failures);
    else printf("%s: all checks passed\n", test);
    return th_failures ? 1 : 0;
}
