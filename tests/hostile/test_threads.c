/* test_threads - the thread-safety contract of kwvk.h, exercised:
 *   shared    one context, two threads: each creates its own net (a conv net / a KW net),
 *             then prepares, runs, checks and destroys it ITER times with alternating shapes
 *             (so planning, recording and pipeline creation also run concurrently);
 *   same      one context, one model, two threads with a net each (the model is shared);
 *   separate  two threads, each creating and using its own context and net;
 *   mixed     contexts with and without the validation layer, created and destroyed in
 *             both orders, used alternately (contexts must be independent).
 * While two threads share a context, a third polls its memory usage and validation count.
 * Every output is compared bit for bit with a single-threaded reference run. Run under
 * ThreadSanitizer by tests/hostile/tsan.sh.
 * Usage: test_threads [ITER]   (default 12) */
#include "th.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSHAPES 2
static const uint32_t shapes[NSHAPES][3] = {{1, 8, 8}, {2, 10, 9}}; /* n, h, w */
static int iters = 12;

typedef struct model_ref {
    mw_model m;
    kwvk_model *model;
    float *x[NSHAPES], *y[NSHAPES]; /* reference input and output per shape */
    size_t nx[NSHAPES], ny[NSHAPES];
} model_ref;

static model_ref refs[2];

static void make_refs(void)
{
    mw_convnet(&refs[0].m);
    mw_kwnet(&refs[1].m);
    kwvk_context *ctx = th_context(0);
    for (int k = 0; k < 2; k++) {
        model_ref *r = &refs[k];
        r->model = th_model(&r->m);
        kwvk_net *net = NULL;
        kwvk_result res = kwvk_net_create(ctx, r->model, NULL, &net);
        TH_CHECK(res == KWVK_OK, "reference create: %s", kwvk_last_error());
        for (int s = 0; s < NSHAPES && res == KWVK_OK; s++) {
            r->nx[s] = (size_t)shapes[s][0] * r->m.c * shapes[s][1] * shapes[s][2];
            r->ny[s] = (size_t)shapes[s][0] * r->m.num_classes;
            r->x[s] = malloc(r->nx[s] * sizeof(float));
            r->y[s] = malloc(r->ny[s] * sizeof(float));
            if (!r->x[s] || !r->y[s]) exit(1);
            th_fill(r->x[s], r->nx[s], (uint64_t)(10 * k + s));
            res = kwvk_net_run(net, r->x[s], shapes[s][0], r->m.c, shapes[s][1], shapes[s][2], r->y[s], r->ny[s]);
            TH_CHECK(res == KWVK_OK, "reference run: %s", kwvk_last_error());
        }
        kwvk_net_destroy(net);
    }
    th_context_done(ctx, "reference");
}

/* ---------------------------------------------------------------------------------------- */

typedef struct job {
    kwvk_context *ctx; /* NULL: the thread creates its own */
    int model;
    int id;
    int failures; /* counted per thread (th_failures is not thread-safe) */
    char first_error[256];
} job;

static void job_fail(job *j, const char *what, kwvk_result r)
{
    if (!j->failures)
        snprintf(j->first_error, sizeof j->first_error, "%s: %s: %s", what, kwvk_result_name(r), kwvk_last_error());
    j->failures++;
}

static void *worker(void *arg)
{
    job *j = arg;
    kwvk_context *ctx = j->ctx;
    if (!ctx) {
        kwvk_context_desc d = {.enable_validation = 1, .cache_dir = "", .timeout_ms = 300000};
        kwvk_result r = kwvk_context_create(&d, &ctx);
        if (r != KWVK_OK) {
            job_fail(j, "context", r);
            return NULL;
        }
    }
    model_ref *ref = &refs[j->model];
    float *y = malloc(ref->ny[1] * sizeof *y + ref->ny[0] * sizeof *y);
    if (!y) exit(1);
    kwvk_net *net = NULL;
    for (int it = 0; it < iters; it++) {
        /* a fresh net every few iterations: creation and destruction race with the other thread */
        if (!net || it % 4 == 0) {
            kwvk_net_destroy(net);
            net = NULL;
            kwvk_result r = kwvk_net_create(ctx, ref->model, NULL, &net);
            if (r != KWVK_OK) {
                job_fail(j, "create", r);
                break;
            }
        }
        int s = (it + j->id) % NSHAPES;
        memset(y, 0xFF, ref->ny[s] * sizeof *y);
        kwvk_result r = kwvk_net_run(net, ref->x[s], shapes[s][0], ref->m.c, shapes[s][1], shapes[s][2], y, ref->ny[s]);
        if (r != KWVK_OK) job_fail(j, "run", r);
        else if (memcmp(y, ref->y[s], ref->ny[s] * sizeof *y) != 0) job_fail(j, "output differs from the reference", r);
    }
    kwvk_net_destroy(net);
    free(y);
    if (!j->ctx) {
        uint32_t v = kwvk_context_validation_messages(ctx);
        if (v) job_fail(j, "validation messages", KWVK_OK);
        kwvk_context_destroy(ctx);
    }
    return NULL;
}

/* While the workers run on a shared context, a third thread reads the context's counters
 * (memory usage, validation messages): allowed at any time. */
static volatile int monitor_stop;

static void *monitor(void *arg)
{
    kwvk_context *ctx = arg;
    uint64_t polls = 0, cur = 0, peak = 0;
    while (!__atomic_load_n(&monitor_stop, __ATOMIC_ACQUIRE)) {
        kwvk_context_memory_usage(ctx, &cur, &peak);
        (void)kwvk_context_validation_messages(ctx);
        polls++;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return (void *)(uintptr_t)(polls + (cur > peak)); /* cur <= peak always */
}

static void run_pair(const char *name, kwvk_context *shared, int model_a, int model_b)
{
    job jobs[2] = {{shared, model_a, 0, 0, ""}, {shared, model_b, 1, 0, ""}};
    pthread_t t[2], mon;
    double t0 = th_now_ms();
    __atomic_store_n(&monitor_stop, 0, __ATOMIC_RELEASE);
    if (shared && pthread_create(&mon, NULL, monitor, shared) != 0) exit(1);
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0) {
            printf("FAIL: pthread_create\n");
            exit(1);
        }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    if (shared) {
        __atomic_store_n(&monitor_stop, 1, __ATOMIC_RELEASE);
        pthread_join(mon, NULL);
    }
    for (int i = 0; i < 2; i++) {
        if (jobs[i].failures) th_failures++;
        TH_CHECK(jobs[i].failures == 0, "%s, thread %d: %d failure(s), first: %s", name, i, jobs[i].failures,
                 jobs[i].first_error);
    }
    printf("%s %-9s 2 threads x %d runs (nets recreated every 4 runs, 2 shapes): %.0f ms\n",
           jobs[0].failures || jobs[1].failures ? "FAIL" : "ok  ", name, iters, th_now_ms() - t0);
}

/* Contexts with different settings must not share entry points: created in both orders,
 * used alternately, destroyed in both orders. */
static void mixed(void)
{
    for (int order = 0; order < 2; order++) {
        kwvk_context_desc dv = {.enable_validation = 1, .cache_dir = "", .timeout_ms = 300000},
                          dn = {.enable_validation = 0, .cache_dir = "", .timeout_ms = 300000};
        kwvk_context *a = NULL, *b = NULL;
        kwvk_result r = kwvk_context_create(order ? &dn : &dv, &a);
        if (r == KWVK_OK) r = kwvk_context_create(order ? &dv : &dn, &b);
        TH_CHECK(r == KWVK_OK, "mixed: context: %s", kwvk_last_error());
        if (r != KWVK_OK) return;
        kwvk_context *val = order ? b : a;
        float y[2 * 10];
        for (int round = 0; round < 2; round++)
            for (int k = 0; k < 2; k++) {
                kwvk_context *c = k ? b : a;
                kwvk_net *net = NULL;
                r = kwvk_net_create(c, refs[k].model, NULL, &net);
                if (r == KWVK_OK)
                    r = kwvk_net_run(net, refs[k].x[1], shapes[1][0], refs[k].m.c, shapes[1][1], shapes[1][2], y,
                                     refs[k].ny[1]);
                TH_CHECK(r == KWVK_OK && memcmp(y, refs[k].y[1], refs[k].ny[1] * sizeof *y) == 0,
                         "mixed order %d: net on context %c: %s", order, k ? 'b' : 'a', kwvk_last_error());
                kwvk_net_destroy(net);
            }
        uint32_t v = kwvk_context_validation_messages(val);
        TH_CHECK(v == 0, "mixed: %u validation messages", v);
        /* destroy the first-created context first in one order, last in the other */
        if (order) {
            kwvk_context_destroy(a);
            kwvk_context_destroy(b);
        } else {
            kwvk_context_destroy(b);
            kwvk_context_destroy(a);
        }
    }
    printf("ok   mixed     contexts with and without validation, both creation and destruction orders\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) iters = atoi(argv[1]);
    if (iters < 1) iters = 1;
    make_refs();

    kwvk_context *ctx = th_context(0);
    run_pair("shared", ctx, 0, 1);
    run_pair("same", ctx, 1, 1);
    th_context_done(ctx, "shared context");
    run_pair("separate", NULL, 0, 1);
    mixed();

    for (int k = 0; k < 2; k++) {
        kwvk_model_destroy(refs[k].model);
        for (int s = 0; s < NSHAPES; s++) {
            free(refs[k].x[s]);
            free(refs[k].y[s]);
        }
        mw_free(&refs[k].m);
    }
    return th_finish("test_threads");
}
