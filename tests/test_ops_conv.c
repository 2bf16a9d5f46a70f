/* test_ops_conv.c - conv2d on the GPU against its C reference: odd channel counts, every
 * kernel size from 1x1 to 7x7, stride 1 and 2, padding, dilation 2, groups (1, 2,
 * depthwise), static and per-sample weights, the fused scale / bias / residual / activation
 * epilogue, and batches 1 and 3. Every path (general with unrolled or looped kernel rows,
 * 1x1 GEMM, depthwise) and tile shape is reached by some case. A second context with a
 * 64 KiB storage-range limit proves the splitting along batch, weight rows / output channels
 * (inside a group and in whole groups) and per-sample weights, and the clear refusal of a
 * sample that cannot fit. KWVK_TEST_FILTER=substring runs only matching cases. */
#include "op_harness.h"
#include "op_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOL 2e-5

typedef struct conv_desc {
    uint32_t n, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, G, act;
    bool dyn, scale, bias, res, w16, ohwi;
} conv_desc;

static const char *filter;
static unsigned ran; /* cases run (a filter may skip them all) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_conv(oh_env *env, const conv_desc *d)
{
    char label[160];
    snprintf(label, sizeof label, "c%u_%ux%u_o%u_k%ux%u_s%u%u_p%u%u_d%u%u_g%u_a%u%s%s%s%s%s", d->C, d->H, d->W,
             d->O, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw, d->dh, d->dw, d->G, d->act, d->dyn ? "_dyn" : "",
             d->scale ? "_scale" : "", d->bias ? "_bias" : "", d->res ? "_res" : "", d->w16 ? "_f16" : d->ohwi ? "_ohwi" : "");
    if (filter && !strstr(label, filter)) return;
    /* without usable 16-bit storage (forced fallbacks, lavapipe outside x86) a net keeps fp32
     * weights, which the other cases test: the fp16 cases would only repeat them */
    if (d->w16 && !oh_ctx(env)->feat.fp16_storage) {
        printf("--   %-48s not run: no usable 16-bit storage (the weights stay fp32)\n", label);
        return;
    }
    ran++;
    oh_case c;
    memset(&c, 0, sizeof c);
    c.label = label;
    c.op.type = KW_OP_CONV2D;
    for (int i = 0; i < KW_MAX_OP_INPUTS; i++) c.op.inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++) c.op.tensors[i] = KW_NONE;
    int32_t *p = c.op.p;
    p[0] = d->O, p[1] = d->kh, p[2] = d->kw, p[3] = d->sh, p[4] = d->sw, p[5] = d->ph, p[6] = d->pw;
    p[7] = d->dh, p[8] = d->dw, p[9] = d->G, p[10] = d->act, p[11] = d->C;
    c.n = d->n;
    c.in[0] = (kw_shape){d->C, d->H, d->W};
    c.op.inputs[0] = 0;
    const uint32_t wcount = d->O * (d->C / d->G) * d->kh * d->kw;
    if (d->dyn) {
        c.op.inputs[1] = 1;
        c.in[1] = (kw_shape){wcount, 1, 1};
        c.x[1] = oh_random(env, (uint64_t)wcount * d->n, 0.3f);
    } else {
        uint32_t dims[4] = {d->O, d->C / d->G, d->kh, d->kw};
        c.op.tensors[0] = 0;
        oh_set_tensor(&c.t[0], 4, dims, oh_random(env, wcount, 0.3f));
    }
    uint32_t od[1] = {d->O};
    if (d->scale) {
        c.op.tensors[1] = 1;
        oh_set_tensor(&c.t[1], 1, od, oh_random(env, d->O, 1.0f));
    }
    if (d->bias) {
        c.op.tensors[2] = 2;
        oh_set_tensor(&c.t[2], 1, od, oh_random(env, d->O, 1.0f));
    }
    if (d->res) {
        c.op.inputs[2] = 2;
        /* the output shape, as kw_op_infer computes it */
        uint32_t oh = (d->H + 2 * d->ph - d->dh * (d->kh - 1) - 1) / d->sh + 1;
        uint32_t ow = (d->W + 2 * d->pw - d->dw * (d->kw - 1) - 1) / d->sw + 1;
        c.in[2] = (kw_shape){d->O, oh, ow};
    }
    c.tol = TOL;
    c.w16 = d->w16;
    c.w_ohwi = d->ohwi;
    double t0 = now_s();
    oh_run(env, &c);
    printf("     (%.2f s)\n", now_s() - t0);
}

/* A sample whose input alone exceeds the storage range must be refused with
 * KWVK_ERROR_UNSUPPORTED and a message, not split wrongly or crash. Returns 0 if so. */
static int refuse_oversized(oh_env *env)
{
    kw_ctx *ctx = oh_ctx(env);
    const uint32_t C = 3, H = 100, W = 100, O = 2; /* 120 KB of input per sample */
    kw_op op;
    memset(&op, 0, sizeof op);
    op.type = KW_OP_CONV2D;
    for (int i = 0; i < KW_MAX_OP_INPUTS; i++) op.inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++) op.tensors[i] = KW_NONE;
    op.inputs[0] = 0;
    op.tensors[0] = 0;
    int32_t *p = op.p;
    p[0] = O, p[1] = p[2] = 1, p[3] = p[4] = 1, p[7] = p[8] = 1, p[9] = 1, p[11] = C;
    char msg[128];
    kw_op_decode(&op, msg, sizeof msg); /* the named parameters, as a loaded model has them */
    kw_op_call call;
    memset(&call, 0, sizeof call);
    call.op = &op;
    call.n = 1;
    call.in[0] = (kw_shape){C, H, W};
    call.out = (kw_shape){O, H, W};
    kw_buffer bx = {0}, by = {0}, bw = {0};
    kwvk_result r = kw_buffer_create(ctx, (uint64_t)C * H * W * 4, KW_MEM_DEVICE, &bx);
    if (r == KWVK_OK) r = kw_buffer_create(ctx, (uint64_t)O * H * W * 4, KW_MEM_DEVICE, &by);
    if (r == KWVK_OK) r = kw_buffer_create(ctx, (uint64_t)O * C * 4, KW_MEM_DEVICE, &bw);
    call.vin[0] = kw_view_of(&bx, 0, (uint64_t)C * H * W * 4);
    call.vout = kw_view_of(&by, 0, (uint64_t)O * H * W * 4);
    call.vt[0] = kw_view_of(&bw, 0, (uint64_t)O * C * 4);
    kw_rec rec;
    memset(&rec, 0, sizeof rec);
    if (r == KWVK_OK) r = kw_rec_begin(ctx, &rec, 0);
    if (r == KWVK_OK) r = kw_op_record(&rec, &call);
    int bad = r != KWVK_ERROR_UNSUPPORTED || !strstr(kwvk_last_error(), "storage range");
    printf("%s oversized sample refused: %s: %s\n", bad ? "FAIL" : "ok  ", kwvk_result_name(r), kwvk_last_error());
    kw_rec_release(&rec);
    kw_buffer_destroy(ctx, &bx);
    kw_buffer_destroy(ctx, &by);
    kw_buffer_destroy(ctx, &bw);
    return bad;
}

/* shorthand: n C HxW O, kernel, stride, pad, dilation, groups, act, flags */
#define CONV(...) run_conv(env, &(conv_desc){__VA_ARGS__})

int main(void)
{
    filter = getenv("KWVK_TEST_FILTER");
    /* the direct paths for every shape; test_ops_wino tests Winograd */
    setenv("KWVK_WINOGRAD", "0", 1);
    /* conv2d / conv2d_h for every shape, unless the caller asks for conv2d_small
     * (test_ops_conv_small: KWVK_CONV_SMALL=1), which takes every case without fp16 weights */
    setenv("KWVK_CONV_SMALL", "0", 0);
    oh_env *env = oh_init();
    double t0 = now_s();

    /* 1x1 (GEMM path): odd channels, odd planes, batch 1 and 3, every epilogue piece */
    CONV(.n = 1, .C = 1, .H = 1, .W = 1, .O = 1, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1);
    CONV(.n = 3, .C = 3, .H = 7, .W = 15, .O = 7, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .bias = true);
    CONV(.n = 1, .C = 15, .H = 13, .W = 9, .O = 33, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .scale = true, .bias = true, .act = KW_ACT_RELU);
    CONV(.n = 3, .C = 64, .H = 7, .W = 7, .O = 24, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .scale = true, .bias = true, .res = true, .act = KW_ACT_RELU6);
    /* linear layer: 1x1 on [C, 1, 1] */
    CONV(.n = 3, .C = 100, .H = 1, .W = 1, .O = 10, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .bias = true);
    /* 1x1 stride 2 (ResNet downsample) and grouped 1x1 */
    CONV(.n = 3, .C = 7, .H = 15, .W = 13, .O = 16, .kh = 1, .kw = 1, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .G = 1,
         .scale = true, .bias = true);
    CONV(.n = 1, .C = 6, .H = 5, .W = 11, .O = 10, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 2);

    /* general path: kernels 2x2 .. 7x7, strides, paddings, dilation, groups */
    CONV(.n = 1, .C = 3, .H = 9, .W = 8, .O = 5, .kh = 2, .kw = 2, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1);
    CONV(.n = 3, .C = 3, .H = 15, .W = 15, .O = 7, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .bias = true, .act = KW_ACT_RELU);
    CONV(.n = 1, .C = 15, .H = 14, .W = 17, .O = 15, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true);
    CONV(.n = 1, .C = 7, .H = 11, .W = 10, .O = 9, .kh = 3, .kw = 5, .sh = 1, .sw = 2, .ph = 0, .pw = 2, .dh = 1,
         .dw = 1, .G = 1);
    CONV(.n = 3, .C = 4, .H = 13, .W = 12, .O = 6, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 2, .pw = 2, .dh = 2,
         .dw = 2, .G = 2, .bias = true);
    CONV(.n = 1, .C = 3, .H = 10, .W = 9, .O = 4, .kh = 4, .kw = 4, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1);
    CONV(.n = 1, .C = 1, .H = 12, .W = 11, .O = 3, .kh = 5, .kw = 5, .sh = 1, .sw = 1, .ph = 2, .pw = 2, .dh = 1,
         .dw = 1, .G = 1, .act = KW_ACT_RELU6);
    CONV(.n = 1, .C = 3, .H = 9, .W = 13, .O = 7, .kh = 6, .kw = 2, .sh = 1, .sw = 1, .ph = 3, .pw = 1, .dh = 1,
         .dw = 1, .G = 1);
    /* the largest geometry the format allows: 15x15, stride 8, dilation 8, padding 56 */
    CONV(.n = 1, .C = 2, .H = 9, .W = 10, .O = 3, .kh = 15, .kw = 15, .sh = 8, .sw = 8, .ph = 56, .pw = 56,
         .dh = 8, .dw = 8, .G = 1, .bias = true);
    /* ResNet stem: 7x7 stride 2 pad 3, scale + bias + ReLU */
    CONV(.n = 3, .C = 3, .H = 29, .W = 31, .O = 16, .kh = 7, .kw = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true, .act = KW_ACT_RELU);
    /* ResNet block: 3x3, residual + ReLU6, more channels than one block */
    CONV(.n = 3, .C = 20, .H = 9, .W = 9, .O = 36, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true, .res = true, .act = KW_ACT_RELU6);
    /* groups 2 with odd per-group channels, and 4 groups with dilation */
    CONV(.n = 3, .C = 6, .H = 11, .W = 7, .O = 14, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 2, .scale = true, .act = KW_ACT_RELU);
    CONV(.n = 1, .C = 12, .H = 15, .W = 15, .O = 20, .kh = 3, .kw = 3, .sh = 2, .sw = 1, .ph = 2, .pw = 2, .dh = 2,
         .dw = 2, .G = 4);

    /* depthwise: stride 1 and 2, dilation 2, channel multiplier 2, MobileNet epilogue */
    CONV(.n = 3, .C = 7, .H = 15, .W = 13, .O = 7, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 7, .scale = true, .bias = true, .act = KW_ACT_RELU6);
    CONV(.n = 1, .C = 15, .H = 14, .W = 15, .O = 15, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 15, .bias = true);
    CONV(.n = 3, .C = 3, .H = 13, .W = 11, .O = 3, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 2, .pw = 2, .dh = 2,
         .dw = 2, .G = 3, .act = KW_ACT_RELU);
    CONV(.n = 1, .C = 5, .H = 9, .W = 10, .O = 10, .kh = 5, .kw = 5, .sh = 1, .sw = 1, .ph = 2, .pw = 2, .dh = 1,
         .dw = 1, .G = 5);
    CONV(.n = 1, .C = 1, .H = 7, .W = 7, .O = 1, .kh = 7, .kw = 7, .sh = 1, .sw = 1, .ph = 3, .pw = 3, .dh = 1,
         .dw = 1, .G = 1);

    /* per-sample (KW) weights at batch 3: general, 1x1, grouped and depthwise */
    CONV(.n = 3, .C = 7, .H = 9, .W = 11, .O = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .dyn = true, .scale = true, .bias = true, .act = KW_ACT_RELU);
    CONV(.n = 3, .C = 15, .H = 6, .W = 5, .O = 7, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .dyn = true, .res = true, .act = KW_ACT_RELU6);
    CONV(.n = 3, .C = 6, .H = 8, .W = 9, .O = 4, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 2, .dyn = true);
    CONV(.n = 3, .C = 9, .H = 10, .W = 10, .O = 9, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 9, .dyn = true, .bias = true, .act = KW_ACT_RELU6);
    /* per-sample weights in [O, kh, kw, Cg] (what kw_assemble writes for cells of single taps):
     * unrolled and looped kernel rows, groups, depthwise */
    CONV(.n = 3, .C = 7, .H = 9, .W = 11, .O = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .dyn = true, .scale = true, .bias = true, .act = KW_ACT_RELU, .ohwi = true);
    CONV(.n = 3, .C = 5, .H = 12, .W = 11, .O = 4, .kh = 5, .kw = 3, .sh = 2, .sw = 1, .ph = 2, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .dyn = true, .ohwi = true);
    CONV(.n = 3, .C = 6, .H = 8, .W = 9, .O = 4, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 2, .dyn = true, .res = true, .ohwi = true);
    CONV(.n = 3, .C = 9, .H = 10, .W = 10, .O = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 9, .dyn = true, .ohwi = true);

    /* bigger shapes that fill whole tiles and many workgroups */
    CONV(.n = 1, .C = 32, .H = 28, .W = 28, .O = 64, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true, .act = KW_ACT_RELU);
    CONV(.n = 1, .C = 64, .H = 28, .W = 28, .O = 96, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .bias = true);
    CONV(.n = 1, .C = 96, .H = 28, .W = 28, .O = 96, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 96, .bias = true, .act = KW_ACT_RELU6);

    /* fp16 weights (conv2d_h; fp32 where the device lacks 16-bit storage or it is forced off):
     * odd K = Cg*kh*kw, so weight rows start on odd fp16 elements; every path */
    CONV(.n = 3, .C = 15, .H = 7, .W = 9, .O = 7, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .bias = true, .w16 = true);
    CONV(.n = 1, .C = 7, .H = 11, .W = 10, .O = 9, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true, .res = true, .act = KW_ACT_RELU, .w16 = true);
    CONV(.n = 3, .C = 3, .H = 13, .W = 12, .O = 5, .kh = 5, .kw = 5, .sh = 1, .sw = 1, .ph = 2, .pw = 2, .dh = 2,
         .dw = 2, .G = 1, .w16 = true);
    CONV(.n = 1, .C = 6, .H = 11, .W = 7, .O = 14, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 2, .act = KW_ACT_RELU6, .w16 = true);
    CONV(.n = 3, .C = 9, .H = 10, .W = 10, .O = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 9, .bias = true, .w16 = true);
    CONV(.n = 1, .C = 3, .H = 29, .W = 31, .O = 16, .kh = 7, .kw = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true, .act = KW_ACT_RELU, .w16 = true);
    CONV(.n = 1, .C = 32, .H = 28, .W = 28, .O = 64, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true, .act = KW_ACT_RELU, .w16 = true);

    /* oh_finish counts a context without cases as a failure: keep that only unfiltered */
    int rc = oh_finish(env) && (ran || !filter);

    /* splitting under a 64 KiB storage-range limit */
    unsigned ran_before = ran;
    setenv("KWVK_MAX_STORAGE_RANGE", "65536", 1);
    env = oh_init();
    /* batch: 36 KiB of output per sample */
    CONV(.n = 3, .C = 8, .H = 24, .W = 24, .O = 16, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .bias = true, .res = true, .act = KW_ACT_RELU);
    /* weight rows of one group (147 KiB of weights) */
    CONV(.n = 3, .C = 64, .H = 8, .W = 8, .O = 64, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .scale = true, .bias = true);
    /* whole groups per chunk, and parts of a group */
    CONV(.n = 1, .C = 64, .H = 6, .W = 6, .O = 128, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 4, .bias = true);
    CONV(.n = 1, .C = 128, .H = 5, .W = 5, .O = 128, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 2);
    /* one output plane of 40 KB: one channel per dispatch */
    CONV(.n = 2, .C = 1, .H = 100, .W = 100, .O = 4, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .res = true);
    /* per-sample weights of 72 KiB: rows split, one sample per dispatch */
    CONV(.n = 3, .C = 32, .H = 5, .W = 5, .O = 64, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .dyn = true);
    /* depthwise and 1x1 GEMM */
    CONV(.n = 3, .C = 8, .H = 40, .W = 40, .O = 8, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 8, .bias = true, .act = KW_ACT_RELU6);
    CONV(.n = 3, .C = 32, .H = 16, .W = 16, .O = 80, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .G = 1,
         .bias = true);
    /* fp16 weight rows of odd length (K = 567) split across dispatches */
    CONV(.n = 1, .C = 63, .H = 6, .W = 6, .O = 130, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .G = 1, .bias = true, .w16 = true);
    rc |= refuse_oversized(env);
    rc |= oh_finish(env) && (ran > ran_before || !filter);
    printf("conv cases took %.2f s\n", now_s() - t0);
    return rc;
}
