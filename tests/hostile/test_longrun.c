/* test_longrun - many inferences on one network with the validation layer and its
 * synchronization validation on:
 *   - N (default 10,000) runs of the tiny conv net, alternating two inputs, each output
 *     compared bit for bit with the first run of that input;
 *   - host RSS (/proc/self/statm) sampled every N/10 runs: after a warm-up of N/10 runs it
 *     may not grow by more than 1 MiB (a leak of even 100 bytes per run would show; not
 *     enforced under AddressSanitizer, see UNDER_ASAN);
 *   - device memory (kwvk_context_memory_usage) identical after every sample;
 *   - then full runs of every test network (conv net, KW net, KW basis net, every op type)
 *     at two batch sizes, so synchronization validation sees every op's barriers;
 *   - no validation message at all.
 * Usage: test_longrun [N] */
#include "th.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RSS_SLACK (1u << 20)

/* Under AddressSanitizer the host RSS says nothing about leaks: its allocator quarantines
 * freed memory and keeps per-thread caches (with lavapipe's threads it grows by ~100 KB per
 * run with the default quarantine, ~1 KB without one, while the same test in a normal build
 * stays flat to the byte). There LeakSanitizer checks for leaks instead, and the RSS bound
 * is reported but not enforced. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static void all_networks(kwvk_context *ctx)
{
    void (*builders[])(mw_model *) = {mw_convnet, mw_kwnet, mw_kwbasis, mw_allops};
    for (size_t i = 0; i < sizeof builders / sizeof builders[0]; i++) {
        mw_model m;
        builders[i](&m);
        kwvk_model *model = th_model(&m);
        kwvk_net *net = NULL;
        kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
        TH_CHECK(r == KWVK_OK, "%s: create: %s", m.name, kwvk_last_error());
        for (uint32_t n = 1; n <= 3 && r == KWVK_OK; n += 2) {
            size_t nx = (size_t)n * m.c * m.h * m.w, ny = (size_t)n * m.num_classes;
            float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *y2 = malloc(ny * sizeof *y);
            if (!x || !y || !y2) exit(1);
            th_fill(x, nx, n);
            r = kwvk_net_run(net, x, n, m.c, m.h, m.w, y, ny);
            if (r == KWVK_OK) r = kwvk_net_run(net, x, n, m.c, m.h, m.w, y2, ny);
            TH_CHECK(r == KWVK_OK, "%s batch %u: %s", m.name, n, kwvk_last_error());
            TH_CHECK(r != KWVK_OK || memcmp(y, y2, ny * sizeof *y) == 0, "%s batch %u: a replay differs", m.name, n);
            free(x);
            free(y);
            free(y2);
        }
        printf("ok   %-14s full runs at batch 1 and 3 (twice each) under synchronization validation\n", m.name);
        kwvk_net_destroy(net);
        kwvk_model_destroy(model);
        mw_free(&m);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    long n_runs = argc > 1 ? atol(argv[1]) : 10000;
    if (n_runs < 20) n_runs = 20;
    setenv("KWVK_VALIDATION_SYNC", "1", 0); /* synchronization validation (context.c) */
    kwvk_context *ctx = th_context(0);
    mw_model m;
    mw_convnet(&m);
    kwvk_model *model = th_model(&m);
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    TH_CHECK(r == KWVK_OK, "create: %s", kwvk_last_error());
    if (r != KWVK_OK) return th_finish("test_longrun");

    float x[2][64], y0[2][10], y[10];
    th_fill(x[0], 64, 1);
    th_fill(x[1], 64, 2);
    long step = n_runs / 10, mismatches = 0, errors = 0;
    uint64_t rss_warm = 0, rss_max = 0, dev_warm = 0, dev_peak_warm = 0;
    double t0 = th_now_ms(), t_warm = 0;
    printf("%ld inferences of %s (1x1x8x8), validation + synchronization validation on\n", n_runs, m.name);
    for (long i = 0; i < n_runs; i++) {
        int k = (int)(i & 1);
        r = kwvk_net_run(net, x[k], 1, 1, 8, 8, i < 2 ? y0[k] : y, 10);
        if (r != KWVK_OK) {
            if (!errors++) printf("FAIL run %ld: %s: %s\n", i, kwvk_result_name(r), kwvk_last_error());
            continue;
        }
        if (i >= 2 && memcmp(y, y0[k], sizeof y) != 0) mismatches++;
        if ((i + 1) % step == 0) {
            uint64_t rss = th_rss_bytes(), dev = 0, dev_peak = 0;
            kwvk_context_memory_usage(ctx, &dev, &dev_peak);
            if (i + 1 == step) {
                rss_warm = rss;
                dev_warm = dev;
                dev_peak_warm = dev_peak;
                t_warm = th_now_ms();
            }
            if (rss > rss_max) rss_max = rss;
            printf("     after %6ld runs: host RSS %8.2f MiB, device %" PRIu64 " bytes (peak %" PRIu64 "), %.3f ms/run\n",
                   i + 1, rss / 1048576.0, dev, dev_peak, (th_now_ms() - t0) / (double)(i + 1));
            TH_CHECK(dev == dev_warm && dev_peak == dev_peak_warm, "device memory changed: %" PRIu64 " -> %" PRIu64, dev_warm,
                     dev);
        }
    }
    double ms = th_now_ms() - t0;
    TH_CHECK(errors == 0, "%ld failed runs", errors);
    TH_CHECK(mismatches == 0, "%ld outputs differ from the first run of the same input", mismatches);
    TH_CHECK(rss_warm != 0, "no RSS reading");
    if (!UNDER_ASAN)
        TH_CHECK(rss_max <= rss_warm + RSS_SLACK, "host RSS grew by %.2f MiB after the warm-up",
                 (rss_max - rss_warm) / 1048576.0);
    else
        printf("note: AddressSanitizer build: the RSS bound is not enforced (LeakSanitizer checks leaks)\n");
    printf("%s %ld runs in %.1f s (%.3f ms/run); RSS %.2f MiB after the warm-up, at most %.2f MiB later (+%.1f KiB, "
           "%.2f bytes/run); device memory flat at %" PRIu64 " bytes\n",
           th_failures ? "FAIL" : "ok  ", n_runs, ms / 1e3, ms / n_runs, rss_warm / 1048576.0, rss_max / 1048576.0,
           (rss_max - rss_warm) / 1024.0, (double)(rss_max - rss_warm) / (double)(n_runs - step), dev_warm);
    (void)t_warm;
    kwvk_net_destroy(net);
    kwvk_model_destroy(model);
    mw_free(&m);

    uint64_t dev = 0;
    kwvk_context_memory_usage(ctx, &dev, NULL);
    TH_CHECK(dev == 0, "%" PRIu64 " device bytes held after the net was destroyed", dev);
    all_networks(ctx);
    th_context_done(ctx, "long run");
    return th_finish("test_longrun");
}
