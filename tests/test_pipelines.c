/* test_pipelines.c - the GPU programs a network compiles: the shipped Fashion-MNIST model
 * stays under a bound (each program costs lavapipe 0.1-1 s of compilation at the first run),
 * a second net of the same model on the same context creates none, both give the same output,
 * and every created pipeline is reported by one DEBUG log line. */
#include "kwvk.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* conv2d_small takes every conv of this model, its classifier included, one kw_assemble
 * program every assembly and one kw_attention program every attention (20 programs before
 * conv2d_small, 13 with it, 5 with all three) */
#define MAX_PIPELINES 5

static unsigned logged; /* DEBUG "pipeline ... created" lines */

static void on_log(void *user, kwvk_log_level level, const char *msg)
{
    (void)user;
    if (level == KWVK_LOG_DEBUG && strncmp(msg, "pipeline ", 9) == 0 && strstr(msg, " created in ")) {
        logged++;
        printf("  %s\n", msg); /* which programs, for a failure's diagnosis */
    } else if (level >= KWVK_LOG_WARN)
        printf("log: %s\n", msg);
}

static int fail(const char *what)
{
    printf("FAIL: %s: %s\n", what, kwvk_last_error());
    return 1;
}

int main(void)
{
    kwvk_context_desc cd = {.cache_dir = "", .log = on_log, .enable_validation = 1};
    kwvk_context *ctx;
    kwvk_result r = kwvk_context_create(&cd, &ctx);
    if (r == KWVK_ERROR_NO_DEVICE) {
        printf("SKIP: %s\n", kwvk_last_error());
        return 77;
    }
    if (r != KWVK_OK) return fail("kwvk_context_create");
    kwvk_model *model;
    if (kwvk_model_load_file(KWVK_SOURCE_DIR "/models/fmnist_kw1x.kwvk", &model) != KWVK_OK)
        return fail("loading models/fmnist_kw1x.kwvk");

    int failed = 0;
    kwvk_net *a, *b;
    if (kwvk_net_create(ctx, model, NULL, &a) != KWVK_OK) return fail("kwvk_net_create a");
    if (kwvk_net_prepare(a, 1, 1, 28, 28) != KWVK_OK) return fail("kwvk_net_prepare a");
    kwvk_net_stats sa, sb;
    kwvk_net_get_stats(a, &sa);
    printf("first net: %u pipelines created in %.1f ms, %u logged\n", sa.pipelines_created, sa.pipeline_ms, logged);
    if (sa.pipelines_created == 0 || sa.pipelines_created > MAX_PIPELINES) {
        printf("FAIL: %u pipelines, expected 1..%d\n", sa.pipelines_created, MAX_PIPELINES);
        failed++;
    }
    if (logged != sa.pipelines_created) {
        printf("FAIL: %u DEBUG lines for %u created pipelines\n", logged, sa.pipelines_created);
        failed++;
    }

    if (kwvk_net_create(ctx, model, NULL, &b) != KWVK_OK) return fail("kwvk_net_create b");
    if (kwvk_net_prepare(b, 1, 1, 28, 28) != KWVK_OK) return fail("kwvk_net_prepare b");
    kwvk_net_get_stats(b, &sb);
    printf("second net: %u pipelines created\n", sb.pipelines_created);
    if (sb.pipelines_created != 0) {
        printf("FAIL: the second net of the same model created %u pipelines, expected 0\n", sb.pipelines_created);
        failed++;
    }

    float x[28 * 28], ya[10], yb[10];
    for (int i = 0; i < 28 * 28; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    if (kwvk_net_run(a, x, 1, 1, 28, 28, ya, 10) != KWVK_OK) return fail("kwvk_net_run a");
    if (kwvk_net_run(b, x, 1, 1, 28, 28, yb, 10) != KWVK_OK) return fail("kwvk_net_run b");
    for (int i = 0; i < 10; i++)
        if (!isfinite(ya[i]) || ya[i] != yb[i]) {
            printf("FAIL: output %d: %g (first net) vs %g (second net)\n", i, ya[i], yb[i]);
            failed++;
            break;
        }
    if (kwvk_context_validation_messages(ctx) != 0) {
        printf("FAIL: %u validation messages\n", (unsigned)kwvk_context_validation_messages(ctx));
        failed++;
    }
    kwvk_net_destroy(b);
    kwvk_net_destroy(a);
    kwvk_model_destroy(model);
    kwvk_context_destroy(ctx);
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
