/* test_faults - resource faults: out of device memory at every allocation point of network
 * creation and preparation, a lost device, fence time-outs.
 *
 *   test_faults budget        For each test network, on ONE context: kwvk_net_create +
 *                             kwvk_net_prepare under a device-memory budget that makes the
 *                             1st, 2nd, ... k-th buffer allocation fail (the budget is raised
 *                             step by step to exactly what the failed allocation asked for,
 *                             read from the error message, so every allocation point fails
 *                             once). Each failure must be KWVK_ERROR_OUT_OF_DEVICE_MEMORY with a
 *                             message, give back every byte (current usage 0, no memory block
 *                             left) and leave the context usable: the final create + run at the
 *                             same context gives the same output as an unlimited context. Done
 *                             with and without the host-visible fallback (staging uploads).
 *   test_faults device_lost   KWVK_FAULT=device_lost during a run and during net creation: the
 *                             call returns KWVK_ERROR_DEVICE_LOST, later calls on the context
 *                             return it too, destroy works, a new context works.
 *   test_faults timeout       KWVK_FAULT=timeout: KWVK_ERROR_TIMEOUT, and the context stays
 *                             usable (the fence did signal); a real time-out (timeout_ms = 1 on
 *                             a long run) returns KWVK_ERROR_TIMEOUT or finishes, never hangs,
 *                             and destroy completes.
 * Every context has the validation layer on; a validation message fails the test. */
#include "internal.h"
#include "th.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Budget sweep                                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef struct net_case {
    const char *name;
    mw_model m;
    uint32_t n, c, h, w;
} net_case;

/* Run `nc` once on an unlimited context for the reference output and the peak usage. */
static void reference(net_case *nc, float *x, float *y, uint64_t *peak)
{
    kwvk_context *ctx = th_context(0);
    kwvk_model *model = th_model(&nc->m);
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    if (r == KWVK_OK) r = kwvk_net_run(net, x, nc->n, nc->c, nc->h, nc->w, y, nc->n * nc->m.num_classes);
    TH_CHECK(r == KWVK_OK, "%s: reference run: %s", nc->name, kwvk_last_error());
    kwvk_context_memory_usage(ctx, NULL, peak);
    kwvk_net_destroy(net);
    kwvk_model_destroy(model);
    th_context_done(ctx, nc->name);
}

/* Parse "... %llu bytes in use, %llu requested, budget %llu" from a budget refusal. */
static int parse_budget_msg(const char *msg, uint64_t *used, uint64_t *req)
{
    const char *p = strstr(msg, "budget exceeded: ");
    unsigned long long u, q;
    if (!p || sscanf(p, "budget exceeded: %llu bytes in use, %llu requested", &u, &q) != 2) return -1;
    *used = u;
    *req = q;
    return 0;
}

static void sweep(net_case *nc, const char *variant)
{
    size_t nx = (size_t)nc->n * nc->c * nc->h * nc->w, ny = (size_t)nc->n * nc->m.num_classes;
    float *x = malloc(nx * sizeof *x), *y0 = malloc(ny * sizeof *y0), *y = malloc(ny * sizeof *y);
    if (!x || !y0 || !y) exit(1);
    th_fill(x, nx, 99);
    uint64_t peak = 0;
    reference(nc, x, y0, &peak);

    /* one context for the whole sweep; its budget is raised in place between attempts (the
     * public API sets it once, at creation: the test reaches into the context for this) */
    kwvk_context *ctx = th_context(1);
    kwvk_model *model = th_model(&nc->m);
    uint64_t budget = 1;
    uint32_t failures = 0, steps = 0;
    int checks_before = th_failures;
    kwvk_result r = KWVK_OK;
    for (;;) {
        ctx->c.budget = budget;
        kwvk_net *net = NULL;
        r = kwvk_net_create(ctx, model, NULL, &net);
        const char *stage = "kwvk_net_create";
        if (r == KWVK_OK) {
            r = kwvk_net_prepare(net, nc->n, nc->c, nc->h, nc->w);
            stage = "kwvk_net_prepare";
        }
        if (r == KWVK_OK) {
            /* the budget covers every allocation of the context, staging buffers included
             * (kwvk.h): what this net holds must fit in it */
            kwvk_net_stats st;
            kwvk_net_io io;
            kwvk_net_get_stats(net, &st);
            TH_CHECK(kwvk_net_get_io(net, nc->n, nc->c, nc->h, nc->w, &io) == KWVK_OK, "get_io");
            uint64_t held = st.weight_bytes + st.activation_bytes + io.input_bytes + io.output_bytes;
            TH_CHECK(held <= budget, "%s %s: the net holds %" PRIu64 " bytes (weights %" PRIu64 ", activations %"
                     PRIu64 ", staging %" PRIu64 " + %" PRIu64 ") under a budget of %" PRIu64, nc->name, variant,
                     held, st.weight_bytes, st.activation_bytes, io.input_bytes, io.output_bytes, budget);
            r = kwvk_net_run(net, x, nc->n, nc->c, nc->h, nc->w, y, ny);
            stage = "kwvk_net_run";
            TH_CHECK(r == KWVK_OK, "%s %s: run after a successful prepare: %s", nc->name, variant,
                     kwvk_last_error());
            TH_CHECK(r != KWVK_OK || memcmp(y, y0, ny * sizeof *y) == 0,
                     "%s %s: output after %u failed attempts differs from the reference", nc->name, variant,
                     failures);
            kwvk_net_destroy(net);
            break;
        }
        failures++;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kwvk_last_error());
        TH_CHECK(net == NULL || strcmp(stage, "kwvk_net_prepare") == 0, "%s: a failed create returned a net",
                 nc->name);
        kwvk_net_destroy(net);
        uint64_t cur = 0, used = 0, req = 0;
        kwvk_context_memory_usage(ctx, &cur, NULL);
        TH_CHECK(r == KWVK_ERROR_OUT_OF_DEVICE_MEMORY, "%s %s budget %" PRIu64 ": %s failed with %s: %s", nc->name,
                 variant, budget, stage, kwvk_result_name(r), msg);
        TH_CHECK(cur == 0 && ctx->c.blocks == NULL, "%s %s budget %" PRIu64 ": %" PRIu64
                 " device bytes (blocks %s) still held after the failure", nc->name, variant, budget, cur,
                 ctx->c.blocks ? "left" : "none");
        if (r != KWVK_ERROR_OUT_OF_DEVICE_MEMORY || parse_budget_msg(msg, &used, &req) != 0) {
            TH_CHECK(0, "%s %s: cannot continue the sweep after \"%s\"", nc->name, variant, msg);
            break;
        }
        printf("  %-8s %-12s step %2u: %s fails at %" PRIu64 " + %" PRIu64 " bytes (budget %" PRIu64 ")\n",
               nc->name, variant, steps, stage, used, req, budget);
        TH_CHECK(used + req > budget, "%s: the refused allocation would have fit", nc->name);
        budget = used + req; /* exactly enough for this allocation: the next one fails */
        if (++steps > 500) {
            TH_CHECK(0, "%s: the sweep does not end", nc->name);
            break;
        }
    }
    uint64_t cur = 0;
    kwvk_context_memory_usage(ctx, &cur, NULL);
    TH_CHECK(cur == 0, "%s: %" PRIu64 " bytes held after the last net was destroyed", nc->name, cur);
    printf("%s %-8s %-12s %u allocation points failed cleanly; then create + prepare + run at a budget of "
           "%" PRIu64 " bytes (unlimited peak %" PRIu64 ") on the same context matched the reference\n",
           r == KWVK_OK && th_failures == checks_before ? "ok  " : "FAIL", nc->name, variant, failures, budget, peak);
    /* On the host-visible path every allocation of create + prepare is persistent (one buffer
     * per used weight tensor, then the arena and the two staging buffers of the plan), so each
     * raises the high-water mark and each must have failed once. On the staging path the
     * upload's transient staging buffers are freed again, and an allocation that does not
     * raise the high-water mark cannot be made to fail by a budget: there the sweep reaches
     * the allocation points that do (see docs/reliability.md). */
    if (strcmp(variant, "host-visible") == 0)
        TH_CHECK(failures == nc->m.n_tensors + 3, "%s: %u allocation points failed, expected %u (every weight "
                 "tensor, the arena, two staging buffers)", nc->name, failures, nc->m.n_tensors + 3);
    else
        TH_CHECK(failures >= 4, "%s: only %u allocation points were exercised", nc->name, failures);
    /* the smallest budget that works is exactly the unlimited run's high-water mark */
    TH_CHECK(r != KWVK_OK || budget == peak, "%s %s: final budget %" PRIu64 " differs from the unlimited peak %" PRIu64,
             nc->name, variant, budget, peak);
    kwvk_model_destroy(model);
    th_context_done(ctx, nc->name);
    free(x);
    free(y0);
    free(y);
}

static int budget_main(void)
{
    static net_case cases[3];
    cases[0].name = "convnet";
    mw_convnet(&cases[0].m);
    cases[0].n = 2, cases[0].c = 1, cases[0].h = 8, cases[0].w = 8;
    cases[1].name = "kwnet";
    mw_kwnet(&cases[1].m);
    cases[1].n = 3, cases[1].c = 2, cases[1].h = 9, cases[1].w = 7;
    cases[2].name = "kwbasis";
    mw_kwbasis(&cases[2].m);
    cases[2].n = 1, cases[2].c = 2, cases[2].h = 8, cases[2].w = 8;
    for (int variant = 0; variant < 2; variant++) {
        /* variant 1: no host-visible device memory, so uploads go through staging buffers and
         * one-time command buffers (more allocation points) */
        if (variant) setenv("KWVK_FORCE_FALLBACKS", "host_visible", 1);
        for (int i = 0; i < 3; i++) sweep(&cases[i], variant ? "staging" : "host-visible");
    }
    unsetenv("KWVK_FORCE_FALLBACKS");
    for (int i = 0; i < 3; i++) mw_free(&cases[i].m);

    /* the public budget option: a context created with a too-small budget refuses the net */
    kwvk_context *ctx = th_context(4096);
    mw_model m;
    mw_convnet(&m);
    kwvk_model *model = th_model(&m);
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    if (r == KWVK_OK) r = kwvk_net_prepare(net, 64, 1, 64, 64);
    TH_CHECK(r == KWVK_ERROR_OUT_OF_DEVICE_MEMORY, "4 KiB budget: %s", kwvk_result_name(r));
    printf("ok   a 4 KiB device_memory_budget: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
    kwvk_net_destroy(net);
    kwvk_model_destroy(model);
    mw_free(&m);
    th_context_done(ctx, "4 KiB budget");
    return th_finish("test_faults budget");
}

/* ---------------------------------------------------------------------------------------- */
/* Device lost and time-outs                                                                */
/* ---------------------------------------------------------------------------------------- */

/* KWVK_FAULT as a context reads it at creation, switched on a live context */
static void inject(kwvk_context *ctx, int fault) { ctx->c.fault = fault; }

static void run_ok(kwvk_net *net, const float *x, float *y, const float *y0, const char *what)
{
    kwvk_result r = kwvk_net_run(net, x, 1, 1, 8, 8, y, 10);
    TH_CHECK(r == KWVK_OK, "%s: %s: %s", what, kwvk_result_name(r), kwvk_last_error());
    if (y0) TH_CHECK(r != KWVK_OK || memcmp(y, y0, 10 * sizeof *y) == 0, "%s: output differs", what);
}

static int device_lost_main(void)
{
    mw_model m;
    mw_convnet(&m);
    kwvk_model *model = th_model(&m);
    float x[64], y[10], y0[10];
    th_fill(x, 64, 5);

    /* lost during a run */
    kwvk_context *ctx = th_context(0);
    kwvk_net *net = NULL, *net2 = NULL;
    TH_CHECK(kwvk_net_create(ctx, model, NULL, &net) == KWVK_OK, "create: %s", kwvk_last_error());
    run_ok(net, x, y0, NULL, "run before the fault");
    inject(ctx, KW_FAULT_DEVICE_LOST);
    kwvk_result r = kwvk_net_run(net, x, 1, 1, 8, 8, y, 10);
    TH_CHECK(r == KWVK_ERROR_DEVICE_LOST && kwvk_last_error()[0], "run with KWVK_FAULT=device_lost: %s",
             kwvk_result_name(r));
    printf("ok   run on a lost device: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
    inject(ctx, KW_FAULT_NONE);
    /* the context stays lost: every later call says so, nothing hangs */
    r = kwvk_net_run(net, x, 1, 1, 8, 8, y, 10);
    TH_CHECK(r == KWVK_ERROR_DEVICE_LOST, "run after the loss: %s", kwvk_result_name(r));
    r = kwvk_net_create(ctx, model, NULL, &net2);
    TH_CHECK(r == KWVK_ERROR_DEVICE_LOST && net2 == NULL, "create after the loss: %s", kwvk_result_name(r));
    r = kwvk_net_submit(net, 1, 1, 8, 8, NULL);
    TH_CHECK(r == KWVK_ERROR_DEVICE_LOST, "submit after the loss: %s", kwvk_result_name(r));
    r = kwvk_net_prepare(net, 2, 1, 8, 8); /* records only: allowed, or refused as lost */
    TH_CHECK(r == KWVK_OK || r == KWVK_ERROR_DEVICE_LOST, "prepare after the loss: %s", kwvk_result_name(r));
    printf("ok   later calls on the lost context: KWVK_ERROR_DEVICE_LOST\n");
    kwvk_net_destroy(net);
    th_context_done(ctx, "lost during a run");

    /* lost during net creation (uploads through staging, which submit) */
    setenv("KWVK_FORCE_FALLBACKS", "host_visible", 1);
    ctx = th_context(0);
    inject(ctx, KW_FAULT_DEVICE_LOST);
    net = NULL;
    r = kwvk_net_create(ctx, model, NULL, &net);
    inject(ctx, KW_FAULT_NONE);
    uint64_t cur = 0;
    kwvk_context_memory_usage(ctx, &cur, NULL);
    TH_CHECK(r == KWVK_ERROR_DEVICE_LOST && net == NULL, "create with KWVK_FAULT=device_lost: %s",
             kwvk_result_name(r));
    TH_CHECK(cur == 0, "%" PRIu64 " device bytes held after the failed create", cur);
    printf("ok   net creation on a lost device: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
    th_context_done(ctx, "lost during creation");
    unsetenv("KWVK_FORCE_FALLBACKS");

    /* a new context is unaffected */
    ctx = th_context(0);
    TH_CHECK(kwvk_net_create(ctx, model, NULL, &net) == KWVK_OK, "create on a new context: %s", kwvk_last_error());
    run_ok(net, x, y, y0, "run on a new context");
    kwvk_net_destroy(net);
    th_context_done(ctx, "new context");
    printf("ok   a new context works after a lost one\n");
    kwvk_model_destroy(model);
    mw_free(&m);
    return th_finish("test_faults device_lost");
}

static int timeout_main(void)
{
    mw_model m;
    mw_convnet(&m);
    kwvk_model *model = th_model(&m);
    float x[64], y[10], y0[10];
    th_fill(x, 64, 5);

    /* injected: the fence wait reports VK_TIMEOUT although the work finished */
    kwvk_context *ctx = th_context(0);
    kwvk_net *net = NULL;
    TH_CHECK(kwvk_net_create(ctx, model, NULL, &net) == KWVK_OK, "create: %s", kwvk_last_error());
    run_ok(net, x, y0, NULL, "run before the fault");
    inject(ctx, KW_FAULT_TIMEOUT);
    for (int i = 0; i < 3; i++) {
        kwvk_result r = kwvk_net_run(net, x, 1, 1, 8, 8, y, 10);
        TH_CHECK(r == KWVK_ERROR_TIMEOUT && kwvk_last_error()[0], "run with KWVK_FAULT=timeout: %s",
                 kwvk_result_name(r));
        if (i == 0) printf("ok   injected time-out: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
    }
    inject(ctx, KW_FAULT_NONE);
    run_ok(net, x, y, y0, "run after injected time-outs");
    printf("ok   the context is usable after injected time-outs (same output)\n");
    kwvk_net_destroy(net);
    th_context_done(ctx, "injected time-out");

    /* injected during creation, with staging uploads */
    setenv("KWVK_FORCE_FALLBACKS", "host_visible", 1);
    ctx = th_context(0);
    inject(ctx, KW_FAULT_TIMEOUT);
    net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    inject(ctx, KW_FAULT_NONE);
    uint64_t cur = 0;
    kwvk_context_memory_usage(ctx, &cur, NULL);
    TH_CHECK(r == KWVK_ERROR_TIMEOUT && net == NULL && cur == 0, "create with KWVK_FAULT=timeout: %s, %" PRIu64
             " bytes held", kwvk_result_name(r), cur);
    printf("ok   injected time-out during net creation: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
    TH_CHECK(kwvk_net_create(ctx, model, NULL, &net) == KWVK_OK, "create after: %s", kwvk_last_error());
    run_ok(net, x, y, y0, "run after a time-out during creation");
    kwvk_net_destroy(net);
    th_context_done(ctx, "injected time-out during creation");
    unsetenv("KWVK_FORCE_FALLBACKS");

    /* a real time-out: a 1 ms limit on a run that takes longer on lavapipe */
    kwvk_context_desc d = {.enable_validation = 1, .cache_dir = "", .timeout_ms = 1};
    r = kwvk_context_create(&d, &ctx);
    TH_CHECK(r == KWVK_OK, "context: %s", kwvk_last_error());
    mw_model wm;
    mw_wide(&wm, 32);
    kwvk_model *wide = th_model(&wm);
    const uint32_t n = 16, hw = 96;
    size_t nx = (size_t)n * 3 * hw * hw;
    float *bx = malloc(nx * sizeof *bx), *by = malloc(n * 10 * sizeof *by);
    if (!bx || !by) exit(1);
    th_fill(bx, nx, 3);
    TH_CHECK(kwvk_net_create(ctx, wide, NULL, &net) == KWVK_OK, "create: %s", kwvk_last_error());
    TH_CHECK(kwvk_net_prepare(net, n, 3, hw, hw) == KWVK_OK, "prepare: %s", kwvk_last_error());
    double t0 = th_now_ms();
    r = kwvk_net_run(net, bx, n, 3, hw, hw, by, n * 10);
    double t1 = th_now_ms();
    TH_CHECK(r == KWVK_ERROR_TIMEOUT || r == KWVK_OK, "run with a 1 ms limit: %s", kwvk_result_name(r));
    printf("%s   a run under a 1 ms fence limit returned %s after %.1f ms: %s\n",
           r == KWVK_ERROR_TIMEOUT ? "ok" : "note", kwvk_result_name(r), t1 - t0, kwvk_last_error());
    if (r == KWVK_ERROR_TIMEOUT) {
        /* the work may still be running: the context is marked lost, later calls say so */
        kwvk_result r2 = kwvk_net_run(net, bx, n, 3, hw, hw, by, n * 10);
        TH_CHECK(r2 == KWVK_ERROR_DEVICE_LOST || r2 == KWVK_ERROR_TIMEOUT || r2 == KWVK_OK,
                 "run after a real time-out: %s", kwvk_result_name(r2));
        printf("ok   the next run after a real time-out: %s\n", kwvk_result_name(r2));
    }
    t0 = th_now_ms();
    kwvk_net_destroy(net); /* waits for the device: finite */
    kwvk_model_destroy(wide);
    th_context_done(ctx, "real time-out");
    printf("ok   destroy after a real time-out took %.1f ms\n", th_now_ms() - t0);
    mw_free(&wm);
    free(bx);
    free(by);
    kwvk_model_destroy(model);
    mw_free(&m);
    return th_finish("test_faults timeout");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "budget") == 0) return budget_main();
    if (strcmp(mode, "device_lost") == 0) return device_lost_main();
    if (strcmp(mode, "timeout") == 0) return timeout_main();
    fprintf(stderr, "usage: test_faults budget|device_lost|timeout\n");
    return 2;
}
