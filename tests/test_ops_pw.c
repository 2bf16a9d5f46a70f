/* test_ops_pw.c - the 1x1 convolution GEMM (ops_pw.c) against the direct-conv C reference:
 * channel counts that are and are not multiples of 4 and 8 (unaligned weight rows, a channel
 * tail, partial channel blocks), planes 1x1, 5x9, 7x7 and 8x8 (pixel counts not multiples of
 * 4: unaligned planes, partial pixel tiles), batch 1 and 3, every epilogue (scale, bias,
 * residual, ReLU, ReLU6, GELU), static and per-sample weights ([O, C, 1, 1] and kw_assemble's
 * [O, 1, 1, C]), strides 1, 2 and 3; and through the unrolled input 3x3 convs (stride 1 and 2,
 * padding, dilation, [O, C, 3, 3] and kw_assemble's [O, 3, 3, C]) and a padded 1x1.
 * KWVK_PW=1 forces the path for every eligible conv; a recording check proves that the cases
 * really take it, that KWVK_PW=0, grouped convs and the default rule's exclusions take another
 * path, and that small storage-range and texel limits split the batch into one chunk per
 * sample (those cases are also computed). In the KWVK_FORCE_FALLBACKS
 * run the storage-buffer variant computes every case.
 * KWVK_TEST_FILTER=substring runs only matching cases. */
#include "op_harness.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 2e-5

typedef struct pw_desc {
    uint32_t n, C, H, W, O, act;
    bool scale, bias, res, dyn, ohwi;
    uint32_t k, stride, pad, dil, groups; /* 0: 1, 1, 0, 1, 1 */
} pw_desc;

static const char *filter;
static unsigned ran;

static uint32_t ksize(const pw_desc *d)
{
    return d->k ? d->k : 1;
}
static uint32_t dil(const pw_desc *d)
{
    return d->dil ? d->dil : 1;
}
static uint32_t stride(const pw_desc *d)
{
    return d->stride ? d->stride : 1;
}
static uint32_t groups(const pw_desc *d)
{
    return d->groups ? d->groups : 1;
}

static void make_op(const pw_desc *d, kw_op *op)
{
    memset(op, 0, sizeof *op);
    op->type = KW_OP_CONV2D;
    for (int i = 0; i < KW_MAX_OP_INPUTS; i++)
        op->inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++)
        op->tensors[i] = KW_NONE;
    int32_t *p = op->p;
    p[0] = d->O, p[1] = p[2] = ksize(d), p[3] = p[4] = stride(d), p[5] = p[6] = d->pad, p[7] = p[8] = dil(d);
    p[9] = groups(d), p[10] = d->act, p[11] = d->C;
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

static kw_shape out_shape(const pw_desc *d)
{
    const uint32_t s = stride(d), span = dil(d) * (ksize(d) - 1) + 1;
    return (kw_shape){d->O, (d->H + 2 * d->pad - span) / s + 1, (d->W + 2 * d->pad - span) / s + 1};
}

static uint64_t wcount(const pw_desc *d)
{
    return (uint64_t)d->O * (d->C / groups(d)) * ksize(d) * ksize(d);
}

static void run_pw(oh_env *env, const pw_desc *d)
{
    char label[128];
    snprintf(label, sizeof label, "pw_n%u_c%u_%ux%u_k%u_s%u_p%u_d%u_o%u_a%u%s%s%s%s", d->n, d->C, d->H, d->W, ksize(d),
             stride(d), d->pad, dil(d), d->O, d->act, d->scale ? "_scale" : "", d->bias ? "_bias" : "",
             d->res ? "_res" : "", d->dyn ? (d->ohwi ? "_dyn_ohwi" : "_dyn") : "");
    if (filter && !strstr(label, filter)) return;
    ran++;
    oh_case c;
    memset(&c, 0, sizeof c);
    c.label = label;
    make_op(d, &c.op);
    c.n = d->n;
    c.in[0] = (kw_shape){d->C, d->H, d->W};
    uint32_t dims[4] = {d->O, d->C / groups(d), ksize(d), ksize(d)}, od[1] = {d->O};
    if (d->dyn) { /* a kernel per sample */
        c.in[1] = (kw_shape){(uint32_t)wcount(d), 1, 1};
        c.x[1] = oh_random(env, wcount(d) * d->n, 0.3f);
        c.w_ohwi = d->ohwi;
    } else {
        oh_set_tensor(&c.t[0], 4, dims, oh_random(env, wcount(d), 0.3f));
    }
    if (d->scale) oh_set_tensor(&c.t[1], 1, od, oh_random(env, d->O, 1.0f));
    if (d->bias) oh_set_tensor(&c.t[2], 1, od, oh_random(env, d->O, 1.0f));
    if (d->res) c.in[2] = out_shape(d);
    c.tol = TOL;
    oh_run(env, &c);
}

/* Record (not run) the conv of `d` through the GEMM path as the conv2d recorder would and
 * return its dispatch count: 0 where it leaves the conv to another path, -1 on an error. */
static int dispatches(oh_env *env, const pw_desc *d)
{
    kw_op op;
    make_op(d, &op);
    const oh_conv_call c = {.op = &op,
                            .n = d->n,
                            .in = {d->C, d->H, d->W},
                            .out = out_shape(d),
                            .weights = wcount(d),
                            .dyn = d->dyn,
                            .scale = d->scale,
                            .bias = d->bias,
                            .res = d->res,
                            .gemm_only = true};
    return oh_conv_dispatches(env, &c);
}

static int check_path(oh_env *env, const char *what, const pw_desc *d, int want)
{
    int got = dispatches(env, d);
    printf("%s path: %-44s %d dispatch(es), expected %d\n", got == want ? "ok  " : "FAIL", what, got, want);
    return got != want;
}

#define PW(...) run_pw(env, &(pw_desc){__VA_ARGS__})

/* KWVK_PW as the context reads it at creation (0, 1, or unset: -1), switched here on the
 * harness's context */
static void set_pw(oh_env *env, int v)
{
    oh_ctx(env)->pw = v;
}

int main(void)
{
    filter = getenv("KWVK_TEST_FILTER");
    setenv("KWVK_PW", "1", 1);
    oh_env *env = oh_init();
    int bad = 0;

    /* static weights: odd and aligned channel counts, odd and aligned planes, each epilogue */
    PW(.n = 1, .C = 1, .H = 1, .W = 1, .O = 1);
    PW(.n = 3, .C = 3, .H = 1, .W = 1, .O = 7, .bias = true);
    PW(.n = 1, .C = 7, .H = 5, .W = 9, .O = 15, .scale = true, .bias = true, .act = KW_ACT_RELU);
    PW(.n = 3, .C = 13, .H = 7, .W = 7, .O = 9, .res = true, .act = KW_ACT_RELU6);
    PW(.n = 3, .C = 16, .H = 7, .W = 7, .O = 12, .scale = true, .bias = true, .res = true, .act = KW_ACT_RELU);
    PW(.n = 1, .C = 20, .H = 8, .W = 8, .O = 17, .scale = true, .bias = true, .res = true, .act = KW_ACT_GELU);
    PW(.n = 3, .C = 8, .H = 8, .W = 8, .O = 8, .bias = true, .act = KW_ACT_GELU);
    PW(.n = 3, .C = 5, .H = 5, .W = 9, .O = 3, .scale = true, .res = true);
    /* deeper sums, several channel blocks and pixel tiles (ResNet-like bottleneck convs) */
    PW(.n = 1, .C = 64, .H = 14, .W = 14, .O = 40, .scale = true, .bias = true, .res = true, .act = KW_ACT_RELU);
    PW(.n = 3, .C = 66, .H = 7, .W = 7, .O = 33, .scale = true, .bias = true, .act = KW_ACT_RELU);
    /* per-sample weights (a KW conv), both layouts */
    PW(.n = 1, .C = 5, .H = 7, .W = 6, .O = 9, .bias = true, .dyn = true);
    PW(.n = 3, .C = 7, .H = 5, .W = 9, .O = 15, .scale = true, .res = true, .act = KW_ACT_RELU, .dyn = true,
       .ohwi = true);
    PW(.n = 3, .C = 36, .H = 7, .W = 7, .O = 33, .bias = true, .act = KW_ACT_RELU6, .dyn = true);
    PW(.n = 2, .C = 32, .H = 8, .W = 8, .O = 24, .scale = true, .bias = true, .res = true, .act = KW_ACT_GELU,
       .dyn = true, .ohwi = true);

    /* strided (the ResNet downsample): the subsampled input in the scratch, then the GEMM */
    PW(.n = 3, .C = 13, .H = 7, .W = 7, .O = 9, .stride = 2, .scale = true, .bias = true);
    PW(.n = 1, .C = 24, .H = 14, .W = 14, .O = 20, .stride = 2, .bias = true, .res = true, .act = KW_ACT_RELU);
    PW(.n = 3, .C = 8, .H = 5, .W = 9, .O = 8, .stride = 3, .dyn = true, .ohwi = true, .act = KW_ACT_GELU);

    /* other kernels through the unrolled input: 3x3 stride 2 (ResNet), padded, dilated, both
     * weight layouts, a padded 1x1, and 3x3 stride 1 (Winograd's by default) */
    PW(.n = 3, .C = 5, .H = 9, .W = 7, .O = 9, .k = 3, .stride = 2, .pad = 1, .scale = true, .bias = true,
       .act = KW_ACT_RELU);
    PW(.n = 1, .C = 16, .H = 14, .W = 14, .O = 16, .k = 3, .stride = 2, .pad = 1, .res = true);
    PW(.n = 3, .C = 6, .H = 8, .W = 9, .O = 10, .k = 3, .stride = 2, .pad = 1, .dyn = true, .ohwi = true, .bias = true,
       .act = KW_ACT_RELU6);
    PW(.n = 1, .C = 4, .H = 11, .W = 10, .O = 5, .k = 3, .stride = 2, .pad = 2, .dil = 2, .dyn = true);
    PW(.n = 1, .C = 3, .H = 6, .W = 5, .O = 4, .k = 1, .pad = 1, .bias = true);
    PW(.n = 3, .C = 7, .H = 7, .W = 7, .O = 9, .k = 3, .pad = 1, .scale = true, .res = true, .act = KW_ACT_GELU);
    /* KW 3x3 stride 1 on small planes (the default rule's), both weight layouts */
    PW(.n = 3, .C = 9, .H = 7, .W = 7, .O = 10, .k = 3, .pad = 1, .dyn = true, .ohwi = true, .bias = true, .res = true,
       .act = KW_ACT_RELU);
    PW(.n = 2, .C = 12, .H = 5, .W = 6, .O = 7, .k = 3, .pad = 1, .dyn = true, .scale = true);

    /* the path each setting takes */
    const pw_desc big = {.n = 3, .C = 32, .H = 7, .W = 7, .O = 32, .bias = true, .res = true};
    const pw_desc kw = {.n = 3, .C = 32, .H = 7, .W = 7, .O = 32, .dyn = true};
    bad |= check_path(env, "KWVK_PW=1", &big, 1);
    bad |= check_path(env, "KWVK_PW=1, per-sample weights", &kw, 1);
    /* stride 2: the unrolling (subsampling) copy and the GEMM */
    const pw_desc ds = {.n = 3, .C = 8, .H = 14, .W = 14, .O = 32, .stride = 2};
    bad |= check_path(env, "KWVK_PW=1, stride 2", &ds, 2);
    const pw_desc s2 = {.n = 1, .C = 8, .H = 8, .W = 8, .O = 8, .k = 3, .stride = 2, .pad = 1};
    const pw_desc s1 = {.n = 1, .C = 8, .H = 8, .W = 8, .O = 8, .k = 3, .pad = 1};
    const pw_desc fc = {.n = 1, .C = 8, .H = 1, .W = 1, .O = 8};
    bad |= check_path(env, "KWVK_PW=1, 3x3 stride 2", &s2, 2);
    bad |= check_path(env, "KWVK_PW=1, 3x3 stride 1", &s1, 2);
    bad |= check_path(env, "KWVK_PW=1, 1x1 plane", &fc, 1);
    bad |= check_path(env, "KWVK_PW=1, 2 groups: direct",
                      &(pw_desc){.n = 1, .C = 8, .H = 8, .W = 8, .O = 8, .groups = 2}, 0);
    set_pw(env, 0);
    bad |= check_path(env, "KWVK_PW=0", &big, 0);
    set_pw(env, -1);
    /* strided convs small enough for conv2d_small (<= 4 M multiply-adds per sample, as all of
     * these) stay there, one program for them all; stride-1 1x1 convs take the GEMM anyway */
    const pw_desc ds16 = {.n = 1, .C = 16, .H = 14, .W = 14, .O = 32, .stride = 2};
    bad |= check_path(env, "default rule, small 1x1 conv", &big, 1);
    bad |= check_path(env, "default rule, small strided conv: conv2d_small", &ds16, 0);
    oh_ctx(env)->conv_small = 0;
    bad |= check_path(env, "default rule", &big, 1);
    const pw_desc s2_16 = {.n = 1, .C = 16, .H = 8, .W = 8, .O = 8, .k = 3, .stride = 2, .pad = 1};
    bad |= check_path(env, "default rule, 1x1 stride 2, 16 channels", &ds16, 2);
    bad |= check_path(env, "default rule, 3x3 stride 2, 16 channels", &s2_16, 2);
    bad |= check_path(env, "default rule, 3x3 stride 2, 8 channels: another path", &s2, 0);
    bad |= check_path(env, "default rule, 3x3 stride 1: another path", &s1, 0);
    bad |= check_path(env, "default rule, 1x1 plane: another path", &fc, 0);
    /* per-sample 3x3 kernels on planes of up to 64 pixels */
    const pw_desc kw7 = {.n = 2, .C = 8, .H = 7, .W = 7, .O = 8, .k = 3, .pad = 1, .dyn = true, .ohwi = true};
    const pw_desc kw9 = {.n = 2, .C = 8, .H = 9, .W = 9, .O = 8, .k = 3, .pad = 1, .dyn = true, .ohwi = true};
    bad |= check_path(env, "default rule, KW 3x3 stride 1, 7x7", &kw7, 2);
    bad |= check_path(env, "default rule, KW 3x3 stride 1, 9x9: another path", &kw9, 0);
    oh_ctx(env)->conv_small = -1;
    set_pw(env, 1);
    kw_ctx *ctx = oh_ctx(env);
    /* one sample's input and output (32 x 49 floats, 6.3 KB; the strided conv's input 8 x 196)
     * fit an 8 KiB binding, two do not: one chunk per sample */
    const uint64_t range = ctx->max_storage_range;
    ctx->max_storage_range = 8192;
    bad |= check_path(env, "8 KiB storage range: per sample", &big, 3);
    bad |= check_path(env, "8 KiB storage range: per sample, per-sample weights", &kw, 3);
    bad |= check_path(env, "8 KiB storage range: per sample, stride 2", &ds, 6);
    run_pw(env, &big);
    run_pw(env, &kw);
    run_pw(env, &ds);
    ctx->max_storage_range = range;
    /* the same through texel buffers limited to 512 texels (8 KiB), where they are on */
    const uint64_t texels = ctx->max_texel_elements;
    ctx->max_texel_elements = 512;
    if (ctx->feat.texel_buffers) bad |= check_path(env, "512 texels: per sample", &big, 3);
    run_pw(env, &big);
    ctx->max_texel_elements = texels;

    if (filter && ran == 0) printf("no case matches KWVK_TEST_FILTER=%s\n", filter);
    int rc = oh_finish(env);
    return rc ? rc : bad;
}
