/* test_ops_misc.c - max / average pooling, global average pooling, add and softmax on the GPU
 * against their C references: odd sizes, ceil_mode, count_include_pad, padding, batches 1
 * and 3, both global-average-pool modes (lane per plane, workgroup reduction). A second
 * context with a 64 KiB storage-range limit proves the splitting along planes / elements /
 * samples. KWVK_TEST_FILTER=substring runs only matching cases. */
#include "op_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *filter;
static unsigned ran; /* cases run (a filter may skip them all) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void init_case(oh_case *c, const char *label, uint32_t type, uint32_t n, kw_shape in, double tol)
{
    memset(c, 0, sizeof *c);
    c->label = label;
    c->op.type = type;
    for (int i = 0; i < KW_MAX_OP_INPUTS; i++) c->op.inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++) c->op.tensors[i] = KW_NONE;
    c->op.inputs[0] = 0;
    c->n = n;
    c->in[0] = in;
    c->tol = tol;
}

static void run(oh_env *env, const oh_case *c)
{
    if (filter && !strstr(c->label, filter)) return;
    ran++;
    double t0 = now_s();
    oh_run(env, c);
    printf("     (%.2f s)\n", now_s() - t0);
}

static void pool(oh_env *env, bool is_max, uint32_t n, kw_shape in, uint32_t k, uint32_t s, uint32_t pad,
                 bool ceil_mode, bool include_pad)
{
    char label[128];
    snprintf(label, sizeof label, "%s_c%u_%ux%u_k%u_s%u_p%u%s%s", is_max ? "maxpool" : "avgpool", in.c, in.h, in.w,
             k, s, pad, ceil_mode ? "_ceil" : "", include_pad ? "_incpad" : "");
    oh_case c;
    init_case(&c, label, is_max ? KW_OP_MAXPOOL2D : KW_OP_AVGPOOL2D, n, in, 1e-5);
    int32_t *p = c.op.p;
    p[0] = p[1] = (int32_t)k;
    p[2] = p[3] = (int32_t)s;
    p[4] = p[5] = (int32_t)pad;
    p[6] = ceil_mode;
    p[7] = include_pad;
    run(env, &c);
}

static void gap(oh_env *env, uint32_t n, kw_shape in)
{
    char label[128];
    snprintf(label, sizeof label, "global_avgpool_c%u_%ux%u", in.c, in.h, in.w);
    oh_case c;
    init_case(&c, label, KW_OP_GLOBAL_AVGPOOL, n, in, 1e-5);
    run(env, &c);
}

static void add(oh_env *env, uint32_t n, kw_shape in, int32_t act)
{
    char label[128];
    snprintf(label, sizeof label, "add_c%u_%ux%u_a%d", in.c, in.h, in.w, act);
    oh_case c;
    init_case(&c, label, KW_OP_ADD, n, in, 1e-6);
    c.op.inputs[1] = 1;
    c.in[1] = in;
    c.op.p[0] = act;
    run(env, &c);
}

static void softmax(oh_env *env, uint32_t n, uint32_t C, float scale)
{
    char label[128];
    snprintf(label, sizeof label, "softmax_c%u_x%g", C, scale);
    oh_case c;
    init_case(&c, label, KW_OP_SOFTMAX, n, (kw_shape){C, 1, 1}, 1e-6);
    c.x[0] = oh_random(env, (uint64_t)n * C, scale);
    run(env, &c);
}

static void all_cases(oh_env *env)
{
    /* pooling: ResNet stem maxpool, ceil_mode windows hanging over the edge, padding */
    pool(env, true, 3, (kw_shape){7, 15, 15}, 3, 2, 1, false, false);
    pool(env, true, 1, (kw_shape){3, 14, 13}, 3, 2, 1, true, false);
    pool(env, true, 3, (kw_shape){1, 8, 9}, 2, 2, 0, true, false);
    pool(env, true, 1, (kw_shape){15, 7, 7}, 5, 3, 2, true, false);
    pool(env, false, 3, (kw_shape){7, 15, 15}, 3, 2, 1, false, false);
    pool(env, false, 3, (kw_shape){7, 15, 15}, 3, 2, 1, false, true);
    pool(env, false, 1, (kw_shape){3, 14, 13}, 3, 2, 1, true, true);
    pool(env, false, 1, (kw_shape){3, 14, 13}, 3, 2, 1, true, false);
    pool(env, false, 3, (kw_shape){1, 9, 8}, 2, 2, 0, true, true);
    pool(env, false, 1, (kw_shape){15, 11, 12}, 7, 1, 3, false, false);
    pool(env, false, 3, (kw_shape){4, 7, 7}, 7, 7, 0, false, false);
    /* global average pooling: lane per plane (<= 256 values) and workgroup reduction */
    gap(env, 1, (kw_shape){1, 1, 1});
    gap(env, 3, (kw_shape){7, 7, 7});
    gap(env, 3, (kw_shape){130, 3, 5});
    gap(env, 1, (kw_shape){15, 16, 16});
    gap(env, 3, (kw_shape){3, 17, 19});
    gap(env, 1, (kw_shape){2, 224, 224});
    /* add with every activation, sizes not a multiple of the 256-element block */
    add(env, 1, (kw_shape){1, 1, 1}, KW_ACT_NONE);
    add(env, 3, (kw_shape){7, 15, 13}, KW_ACT_RELU);
    add(env, 3, (kw_shape){64, 56, 56}, KW_ACT_RELU6);
    /* softmax: 1 to 1000 classes, large logits (the max must be subtracted) */
    softmax(env, 1, 1, 1.0f);
    softmax(env, 3, 7, 1.0f);
    softmax(env, 3, 1000, 3.0f);
    softmax(env, 1, 10, 100.0f); /* exp would overflow without subtracting the max */
    softmax(env, 2, 129, 1.0f);
}

/* Bigger shapes under a 64 KiB storage-range limit: pooling splits along planes, global
 * pooling along planes, add along elements, softmax along samples. */
static void split_cases(oh_env *env)
{
    pool(env, true, 3, (kw_shape){16, 56, 56}, 3, 2, 1, false, false);
    pool(env, false, 3, (kw_shape){16, 56, 56}, 3, 2, 1, true, true);
    gap(env, 3, (kw_shape){40, 20, 20});
    gap(env, 2, (kw_shape){300, 7, 7});
    add(env, 3, (kw_shape){16, 30, 30}, KW_ACT_RELU);
    softmax(env, 40, 1000, 1.0f);
}

int main(void)
{
    filter = getenv("KWVK_TEST_FILTER");
    double t0 = now_s();
    oh_env *env = oh_init();
    all_cases(env);
    /* oh_finish counts a context without cases as a failure: keep that only unfiltered */
    int rc = oh_finish(env) && (ran || !filter);
    unsigned ran_before = ran;

    setenv("KWVK_MAX_STORAGE_RANGE", "65536", 1);
    env = oh_init();
    split_cases(env);
    rc |= oh_finish(env) && (ran > ran_before || !filter);
    printf("misc cases took %.2f s\n", now_s() - t0);
    return rc;
}
