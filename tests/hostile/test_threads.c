/* test_threads - the thread-safety contract of kwvk.h, exercised:
 *   shared    one context, two threads: each creates its own net (a conv net / a KW net),
 *             then prepares, runs, checks and destroys it ITER times with alternating shapes
 *             (so planning, recording and pipeline creation also run concurrently);
 *   same      one context, one model, two threads with a net each (the model is shared);
 *   separate  two threads, each creating and using its own context and net;
 *   mixed     contexts with and without the validation layer, created and destroyed in
 *             both orders, used alternately (contexts must be independent);
 *   jobs      one net, two threads with a job in flight each (kwvk_net_start, and
 *             kwvk_net_start_images on a frame), so two runs of one net overlap: a "UI"
 *             thread polls its job (kwvk_job_poll on jobs of tens of milliseconds: every
 *             call must return within 1 ms unless the thread was preempted during it, and
 *             some must return before their job is done) and a worker waits on its own
 *             (kwvk_job_wait) and also runs kwvk_net_run in between.
 * While two threads share a context, a third polls its memory usage and validation count.
 * Every output is compared bit for bit with a single-threaded reference run. Run under
 * ThreadSanitizer by tests/hostile/tsan.sh.
 * Usage: test_threads [ITER]   (default 12) */
#define _GNU_SOURCE 1 /* RUSAGE_THREAD */
#include "th.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* n, h, w; the first two alternate in every thread, the third is the UI thread's job (large
 * enough that a poll which waited for its job would take far over 1 ms) */
#define NSHAPES 3
#define NRUN_SHAPES 2
#define UI_SHAPE 2
static const uint32_t shapes[NSHAPES][3] = {{1, 8, 8}, {2, 10, 9}, {4, 40, 40}};
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
    float *y = malloc(ref->ny[UI_SHAPE] * sizeof *y);
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
        int s = (it + j->id) % NRUN_SHAPES;
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

/* ---------------------------------------------------------------------------------------- */
/* jobs: two runs of one net in flight from two threads                                     */
/* ---------------------------------------------------------------------------------------- */

typedef struct job_thread {
    kwvk_net *net;
    int ui; /* 1: polls, 0: waits */
    const kwvk_image *frame;
    const float *frame_ref; /* kwvk_net_run_images's output for `frame` */
    int failures;
    char first_error[256];
    double max_poll_ms;  /* the longest kwvk_job_poll call */
    uint64_t polls, early, preempted; /* calls; calls that returned before the job was done; calls
                                         over 1 ms during which the thread was preempted */
} job_thread;

static void jt_fail(job_thread *t, const char *what, kwvk_result r)
{
    if (!t->failures)
        snprintf(t->first_error, sizeof t->first_error, "%s: %s: %s", what, kwvk_result_name(r), kwvk_last_error());
    t->failures++;
}

static long involuntary_switches(void)
{
    struct rusage u;
    return getrusage(RUSAGE_THREAD, &u) == 0 ? u.ru_nivcsw : -1;
}

static void *job_worker(void *arg)
{
    job_thread *t = arg;
    model_ref *ref = &refs[1];
    float *y = malloc(sizeof(float) * ref->ny[UI_SHAPE]);
    if (!y) exit(1);
    for (int it = 0; it < iters; it++) {
        const int s = t->ui ? UI_SHAPE : it % NRUN_SHAPES, images = !t->ui && it % 2 == 1;
        const size_t ny = images ? ref->m.num_classes : ref->ny[s];
        const float *want = images ? t->frame_ref : ref->y[s];
        kwvk_job *job = NULL;
        kwvk_result r = images ? kwvk_net_start_images(t->net, t->frame, 1, &job)
                               : kwvk_net_start(t->net, ref->x[s], shapes[s][0], ref->m.c, shapes[s][1], shapes[s][2], &job);
        if (r != KWVK_OK) {
            jt_fail(t, "start", r);
            continue;
        }
        if (t->ui) {
            for (int done = 0; !done && r == KWVK_OK;) {
                long sw0 = involuntary_switches();
                double t0 = th_now_ms();
                r = kwvk_job_poll(job, &done);
                double ms = th_now_ms() - t0;
                t->polls++;
                if (ms > 1.0 && involuntary_switches() != sw0) t->preempted++; /* the scheduler's, not ours */
                else if (ms > t->max_poll_ms) t->max_poll_ms = ms;
                if (!done) {
                    t->early++;
                    struct timespec ts = {0, 500000}; /* a UI frame's other work */
                    nanosleep(&ts, NULL);
                }
            }
            if (r != KWVK_OK) jt_fail(t, "poll", r);
        } else {
            r = kwvk_job_wait(job, 600000);
            if (r != KWVK_OK) jt_fail(t, "wait", r);
            /* a blocking run of the same net while the other thread's job is in flight */
            if (it % 3 == 0) {
                r = kwvk_net_run(t->net, ref->x[1], shapes[1][0], ref->m.c, shapes[1][1], shapes[1][2], y, ref->ny[1]);
                if (r != KWVK_OK) jt_fail(t, "run", r);
                else if (memcmp(y, ref->y[1], ref->ny[1] * sizeof *y) != 0) jt_fail(t, "kwvk_net_run differs", r);
            }
        }
        memset(y, 0xFF, ny * sizeof *y);
        r = kwvk_job_output(job, y, ny);
        if (r != KWVK_OK) jt_fail(t, "output", r);
        else if (memcmp(y, want, ny * sizeof *y) != 0) jt_fail(t, "job output differs from the sequential run", r);
        kwvk_job_destroy(job);
    }
    free(y);
    return NULL;
}

static void jobs_two_threads(kwvk_context *ctx)
{
    model_ref *ref = &refs[1];
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, ref->model, NULL, &net);
    TH_CHECK(r == KWVK_OK, "jobs: create: %s", kwvk_last_error());
    if (r != KWVK_OK) return;
    /* a 13x11 grey frame and its sequential reference */
    uint8_t px[13 * 11];
    for (int i = 0; i < 13 * 11; i++) px[i] = (uint8_t)(i * 37 % 251);
    kwvk_image frame = {KWVK_PIXEL_GRAY8, 13, 11, 0, px, NULL, 0, 90, 0};
    float frame_ref[10];
    r = kwvk_net_run_images(net, &frame, 1, frame_ref, ref->m.num_classes);
    TH_CHECK(r == KWVK_OK, "jobs: reference image run: %s", kwvk_last_error());
    job_thread t[2] = {{net, 1, &frame, frame_ref, 0, "", 0, 0, 0, 0}, {net, 0, &frame, frame_ref, 0, "", 0, 0, 0, 0}};
    pthread_t th[2];
    double t0 = th_now_ms();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, job_worker, &t[i]) != 0) exit(1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        TH_CHECK(t[i].failures == 0, "jobs, thread %d: %d failure(s), first: %s", i, t[i].failures, t[i].first_error);
    TH_CHECK(t[0].max_poll_ms < 1.0, "jobs: a kwvk_job_poll call took %.3f ms", t[0].max_poll_ms);
    TH_CHECK(t[0].early > 0, "jobs: every kwvk_job_poll call returned only once its job was done (%llu calls)",
             (unsigned long long)t[0].polls);
    printf("%s jobs      one net, 2 threads x %d jobs in flight (poll / wait + kwvk_net_run): %.0f ms; %llu polls, "
           "%llu before their job was done, longest %.3f ms (%llu over 1 ms while preempted)\n",
           t[0].failures || t[1].failures || t[0].max_poll_ms >= 1.0 || !t[0].early ? "FAIL" : "ok  ", iters,
           th_now_ms() - t0, (unsigned long long)t[0].polls, (unsigned long long)t[0].early, t[0].max_poll_ms,
           (unsigned long long)t[0].preempted);
    kwvk_net_destroy(net);
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
    jobs_two_threads(ctx);
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
