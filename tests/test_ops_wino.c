/* test_ops_wino.c - the Winograd F(2x2,3x3) conv path (ops_wino.c) against the direct-conv C
 * reference, with static weights (transformed on the host) and per-sample weights (KW;
 * transformed on the device by conv_wino_wt, from [O, C, 3, 3] and from kw_assemble's
 * [O, 3, 3, C]): channels 1, 3, 7, 15, 16 and more than one GEMM block, input planes from 1x1 to
 * 14x14 (odd and even, so partial 2x2 tiles), padding 0, 1 and 2, batch 1 and 3, and every
 * epilogue piece (scale, bias, residual, ReLU, ReLU6). KWVK_WINOGRAD=1 forces the path for
 * every eligible conv; a recording check proves that the cases really take it (3 dispatches),
 * that KWVK_WINOGRAD=0, the default rule below 32 channels and a sample above the
 * storage-range limit leave the conv to the direct path, that a batch above it is split into
 * chunks of samples, and the split cases still compute the right result. Run with
 * KWVK_GPU_KERNELS=1 (the _gpu test) the GEMM is the shared-memory conv_wino_gemm_sm; cases
 * with partial 64 x 64 blocks and C not a multiple of its 16-channel slice cover it, and a
 * check proves which GEMM ran.
 * KWVK_TEST_FILTER=substring runs only matching cases. */
#include "op_harness.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 2e-5

typedef struct wino_desc {
    uint32_t n, C, H, W, O, pad, act;
    bool scale, bias, res, dyn, ohwi;
    bool fused; /* dispatches() only: the kernel comes from a kw_assemble peer (kw_wino_kw_fused) */
} wino_desc;

static const char *filter;
static unsigned ran;

static void make_op(const wino_desc *d, kw_op *op)
{
    memset(op, 0, sizeof *op);
    op->type = KW_OP_CONV2D;
    for (int i = 0; i < KW_MAX_OP_INPUTS; i++)
        op->inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++)
        op->tensors[i] = KW_NONE;
    int32_t *p = op->p;
    p[0] = d->O, p[1] = p[2] = 3, p[3] = p[4] = 1, p[5] = p[6] = d->pad, p[7] = p[8] = 1, p[9] = 1;
    p[10] = d->act, p[11] = d->C;
    op->inputs[0] = 0;
    if (d->dyn)
        op->inputs[1] = 1;
    else
        op->tensors[0] = 0;
    if (d->scale) op->tensors[1] = 1;
    if (d->bias) op->tensors[2] = 2;
    if (d->res) op->inputs[2] = 2;
    char msg[128];
    kw_op_decode(op, msg, sizeof msg); /* the named parameters, as a loaded model has them */
}

static kw_shape out_shape(const wino_desc *d)
{
    return (kw_shape){d->O, d->H + 2 * d->pad - 2, d->W + 2 * d->pad - 2};
}

static void run_wino(oh_env *env, const wino_desc *d)
{
    char label[128];
    snprintf(label, sizeof label, "wino_n%u_c%u_%ux%u_o%u_p%u_a%u%s%s%s%s", d->n, d->C, d->H, d->W, d->O, d->pad,
             d->act, d->scale ? "_scale" : "", d->bias ? "_bias" : "", d->res ? "_res" : "",
             d->dyn ? (d->ohwi ? "_dyn_ohwi" : "_dyn") : "");
    if (filter && !strstr(label, filter)) return;
    ran++;
    oh_case c;
    memset(&c, 0, sizeof c);
    c.label = label;
    make_op(d, &c.op);
    c.n = d->n;
    c.in[0] = (kw_shape){d->C, d->H, d->W};
    uint32_t dims[4] = {d->O, d->C, 3, 3}, od[1] = {d->O};
    if (d->dyn) { /* a kernel per sample */
        c.in[1] = (kw_shape){d->O * d->C * 9, 1, 1};
        c.x[1] = oh_random(env, (uint64_t)d->O * d->C * 9 * d->n, 0.3f);
        c.w_ohwi = d->ohwi;
    } else {
        oh_set_tensor(&c.t[0], 4, dims, oh_random(env, (uint64_t)d->O * d->C * 9, 0.3f));
    }
    if (d->scale) oh_set_tensor(&c.t[1], 1, od, oh_random(env, d->O, 1.0f));
    if (d->bias) oh_set_tensor(&c.t[2], 1, od, oh_random(env, d->O, 1.0f));
    if (d->res) c.in[2] = out_shape(d);
    c.tol = TOL;
    oh_run(env, &c);
}

/* Record (not run) the conv of `d` as the net would and return its dispatch count, or -1. */
static int dispatches(oh_env *env, const wino_desc *d)
{
    kw_op op, peer;
    make_op(d, &op);
    if (d->fused) { /* a kw_assemble of 3x3 kernels of 1x1 cells [O, C], 4 cells */
        memset(&peer, 0, sizeof peer);
        peer.type = KW_OP_KW_ASSEMBLE;
        peer.assemble = (kw_assemble_params){.O = (int32_t)d->O,
                                             .Cg = (int32_t)d->C,
                                             .kh = 3,
                                             .kw = 3,
                                             .co = (int32_t)d->O,
                                             .ci = (int32_t)d->C,
                                             .ckh = 1,
                                             .ckw = 1,
                                             .M = 4};
        op.kw_peer = &peer;
    }
    const oh_conv_call c = {.op = &op,
                            .n = d->n,
                            .in = {d->C, d->H, d->W},
                            .out = out_shape(d),
                            .weights = 9ull * d->O * d->C,
                            .dyn = d->dyn,
                            .scale = d->scale,
                            .bias = d->bias,
                            .res = d->res,
                            .gemm_only = false};
    return oh_conv_dispatches(env, &c);
}

static int check_path(oh_env *env, const char *what, const wino_desc *d, int want)
{
    int got = dispatches(env, d);
    printf("%s path: %-40s %d dispatch(es), expected %d\n", got == want ? "ok  " : "FAIL", what, got, want);
    return got != want;
}

#define WINO(...) run_wino(env, &(wino_desc){__VA_ARGS__})

/* Has the context created a pipeline for shader `name`? */
static bool has_pipeline(oh_env *env, const char *name)
{
    for (const kw_pipeline *p = oh_ctx(env)->pipelines; p; p = p->next)
        if (strcmp(p->shader->name, name) == 0) return true;
    return false;
}

/* KWVK_WINOGRAD as the context reads it at creation (0, 1, or unset: -1), switched here on the
 * harness's context */
static void set_winograd(oh_env *env, int v)
{
    oh_ctx(env)->winograd = v;
}

int main(void)
{
    filter = getenv("KWVK_TEST_FILTER");
    setenv("KWVK_WINOGRAD", "1", 1);
    setenv("KWVK_PW", "0", 1); /* the GEMM path would take the KW cases on 7x7 planes first */
    oh_env *env = oh_init();
    int bad = 0;

    /* odd channel counts (U rows padded to the GEMM's 8-channel block), 1x1 and odd planes
     * (partial tiles), padding 0 / 1 / 2, batch 1 and 3 (tiles of several samples in one
     * GEMM column block), each epilogue piece */
    WINO(.n = 1, .C = 1, .H = 1, .W = 1, .O = 1, .pad = 1);
    WINO(.n = 3, .C = 3, .H = 1, .W = 1, .O = 7, .pad = 2, .bias = true);
    WINO(.n = 1, .C = 7, .H = 5, .W = 7, .O = 15, .pad = 0);
    WINO(.n = 3, .C = 15, .H = 5, .W = 7, .O = 16, .pad = 1, .scale = true, .bias = true, .act = KW_ACT_RELU);
    WINO(.n = 1, .C = 16, .H = 6, .W = 8, .O = 16, .pad = 1, .res = true, .act = KW_ACT_RELU6);
    WINO(.n = 3, .C = 16, .H = 7, .W = 6, .O = 3, .pad = 2, .scale = true, .bias = true, .res = true,
         .act = KW_ACT_RELU);
    WINO(.n = 1, .C = 3, .H = 4, .W = 4, .O = 7, .pad = 0, .act = KW_ACT_RELU6);
    WINO(.n = 3, .C = 7, .H = 9, .W = 9, .O = 1, .pad = 1, .bias = true, .res = true);
    WINO(.n = 1, .C = 15, .H = 8, .W = 5, .O = 15, .pad = 2, .scale = true);
    WINO(.n = 3, .C = 1, .H = 3, .W = 3, .O = 16, .pad = 0, .bias = true);
    /* ResNet-like blocks: deeper sums, several channel and tile blocks */
    WINO(.n = 1, .C = 64, .H = 14, .W = 14, .O = 64, .pad = 1, .scale = true, .bias = true, .res = true,
         .act = KW_ACT_RELU);
    WINO(.n = 3, .C = 33, .H = 7, .W = 7, .O = 36, .pad = 1, .scale = true, .bias = true, .act = KW_ACT_RELU);
    /* per-sample weights (a KW conv), both layouts, odd and padded channel counts */
    WINO(.n = 1, .C = 5, .H = 7, .W = 6, .O = 9, .pad = 1, .bias = true, .dyn = true);
    WINO(.n = 3, .C = 7, .H = 5, .W = 5, .O = 15, .pad = 1, .scale = true, .res = true, .act = KW_ACT_RELU, .dyn = true,
         .ohwi = true);
    WINO(.n = 3, .C = 36, .H = 9, .W = 8, .O = 33, .pad = 2, .bias = true, .act = KW_ACT_RELU6, .dyn = true);
    WINO(.n = 2, .C = 32, .H = 14, .W = 14, .O = 32, .pad = 1, .scale = true, .bias = true, .res = true,
         .act = KW_ACT_RELU, .dyn = true, .ohwi = true);

    /* the shared-memory GEMM (conv_wino_gemm_sm, KWVK_GPU_KERNELS=1 or a GPU) works in 64 x 64
     * blocks of (output channel, tile) and 16-channel slices of C: partial blocks in both
     * dimensions (O 72: blocks of 64 + 8; 98 tiles padded to 112: 64 + 48), C not a multiple of
     * the slice (20, 33, 17), exact multiples (C 32, O 64, 128 tiles), a single partial tile
     * block with three channel blocks (O 130), and per-sample weights */
    WINO(.n = 2, .C = 20, .H = 14, .W = 14, .O = 72, .pad = 1, .bias = true, .act = KW_ACT_RELU);
    WINO(.n = 2, .C = 32, .H = 16, .W = 16, .O = 64, .pad = 1, .scale = true, .res = true);
    WINO(.n = 1, .C = 33, .H = 9, .W = 11, .O = 130, .pad = 0, .bias = true, .act = KW_ACT_RELU6);
    WINO(.n = 1, .C = 17, .H = 18, .W = 18, .O = 70, .pad = 1, .scale = true, .bias = true, .dyn = true);

    /* which GEMM ran: the shared-memory one exactly where the context asks for GPU kernels */
    if (!filter || ran) {
        const bool want = oh_ctx(env)->gpu_kernels, got = has_pipeline(env, "conv_wino_gemm_sm");
        printf("%s GEMM variant: conv_wino_gemm_sm %s, gpu_kernels %d\n", got == want ? "ok  " : "FAIL",
               got ? "used" : "not used", want);
        bad |= got != want;
    }

    /* the path each setting takes */
    const wino_desc big = {.n = 3, .C = 32, .H = 14, .W = 14, .O = 32, .pad = 1, .bias = true, .res = true};
    bad |= check_path(env, "KWVK_WINOGRAD=1", &big, 3);
    set_winograd(env, 0);
    bad |= check_path(env, "KWVK_WINOGRAD=0", &big, 1);
    set_winograd(env, -1);
    bad |= check_path(env, "default rule, C = O = 32", &big, 3);
    const wino_desc small = {.n = 1, .C = 16, .H = 14, .W = 14, .O = 32, .pad = 1};
    bad |= check_path(env, "default rule, C = 16, O = 32", &small, 1);
    const wino_desc kw = {.n = 3, .C = 32, .H = 14, .W = 14, .O = 32, .pad = 1, .dyn = true};
    /* per-sample convs small enough for conv2d_small (<= 4 M multiply-adds per sample, as all
     * the KW ones here) stay there, one program for them all; the rule for larger ones: */
    bad |= check_path(env, "default rule, small per-sample conv: conv2d_small", &kw, 1);
    oh_ctx(env)->conv_small = 0;
    bad |= check_path(env, "default rule, per-sample weights", &kw, 12); /* 4 per sample */
    /* KW convs on planes of at most 64 pixels take the GEMM path by default (ops_pw.c, recorded
     * first; test_ops_pw): its copy of the unrolled input and its GEMM, whatever the kernel's
     * origin; the rules below are those without it (KWVK_PW=0, as the op cases above) */
    const wino_desc kw7 = {.n = 3, .C = 32, .H = 7, .W = 7, .O = 32, .pad = 1, .dyn = true};
    const wino_desc kwf7 = {.n = 1, .C = 32, .H = 7, .W = 7, .O = 32, .pad = 1, .dyn = true, .fused = true};
    oh_ctx(env)->pw = -1;
    bad |= check_path(env, "default rule, per-sample weights, 7x7: the GEMM", &kw7, 2);
    bad |= check_path(env, "default rule, KW kernel, 7x7: the GEMM", &kwf7, 2);
    oh_ctx(env)->pw = 0;
    bad |= check_path(env, "KWVK_PW=0, per-sample weights, 7x7", &kw7, 1);
    /* a kernel from a kw_assemble peer: one Winograd-domain assembly for the 3 samples, then 3
     * dispatches per sample; on a 7x7 plane only at batch 1; KWVK_KW_WINOGRAD=0: as above */
    const wino_desc kwf = {.n = 3, .C = 32, .H = 14, .W = 14, .O = 32, .pad = 1, .dyn = true, .fused = true};
    const wino_desc kwf7b = {.n = 3, .C = 32, .H = 7, .W = 7, .O = 32, .pad = 1, .dyn = true, .fused = true};
    bad |= check_path(env, "default rule, Winograd-domain KW kernel", &kwf, 10);
    bad |= check_path(env, "KWVK_PW=0, Winograd-domain KW kernel, 7x7", &kwf7, 4);
    bad |= check_path(env, "KWVK_PW=0, KW kernel, 7x7, batch 3", &kwf7b, 1);
    oh_ctx(env)->kw_wino = 0;
    bad |= check_path(env, "KWVK_KW_WINOGRAD=0, KW kernel", &kwf, 12);
    bad |= check_path(env, "KWVK_PW=0, KWVK_KW_WINOGRAD=0, KW kernel, 7x7", &kwf7, 1);
    oh_ctx(env)->kw_wino = 1;
    oh_ctx(env)->conv_small = -1;
    set_winograd(env, 1);
    /* V of the whole batch (16 x 32 x 160 floats = 320 KiB) above a 64 KiB storage range: the
     * direct path, which splits */
    kw_ctx *ctx = oh_ctx(env);
    const uint64_t range = ctx->max_storage_range;
    ctx->max_storage_range = 65536;
    set_winograd(env, 0);
    const int direct = dispatches(env, &big); /* split along samples */
    set_winograd(env, 1);
    bad |= check_path(env, "64 KiB storage range: direct", &big, direct);
    if (!filter || strstr("wino_n3_c32_14x14_o32_p1_a0_bias_res", filter)) run_wino(env, &big);
    /* a batch whose V (3 x 49 tiles) exceeds 64 KiB while 2 samples' fit: two chunks of
     * samples, 3 dispatches each, reusing the scratch */
    const wino_desc split = {.n = 3,
                             .C = 8,
                             .H = 14,
                             .W = 14,
                             .O = 8,
                             .pad = 1,
                             .act = KW_ACT_RELU,
                             .scale = true,
                             .bias = true,
                             .res = true};
    bad |= check_path(env, "64 KiB storage range: 2 chunks", &split, 6);
    run_wino(env, &split);
    ctx->max_storage_range = range;

    if (filter && ran == 0) printf("no case matches KWVK_TEST_FILTER=%s\n", filter);
    int rc = oh_finish(env);
    return rc ? rc : bad;
}
