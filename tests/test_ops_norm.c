/* test_ops_norm.c - the ops ConvNeXt needs, on the GPU against their C references:
 *   layernorm over the channels of NCHW values (odd C and planes, [C, 1, 1] vectors, inputs
 *     far from zero mean, eps 1e-6 and 1e-5);
 *   the exact (erf) GELU as a conv2d epilogue activation, checked densely on [-3.5, 3.5] to
 *     6e-7 absolute against the double-precision GELU (GLSL has no erf: common.glsl's erf4);
 *   ConvNeXt's convolutions: the 4x4 stride-4 stem, 2x2 stride-2 downsampling, depthwise 7x7
 *     with bias, static and with per-sample (KW) kernels, 1x1 with GELU, and 1x1 with the layer
 *     scale as epilogue scale, bias and the residual add;
 *   kw_assemble of depthwise 7x7 kernels from 1x1 cells of one input channel (Cg = 1);
 *   kw_attention with the LayerNorm hidden norm, standard and basis paths (one dispatch, or
 *     with KWVK_FORCE_FALLBACKS=1 the multi-dispatch path with its layernorm dispatch).
 * A second context with a 64 KiB storage-range limit makes layernorm split along samples and
 * the attention take the multi-dispatch path. KWVK_TEST_FILTER=substring runs matching cases. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *filter;
static unsigned ran;

static int32_t f32_bits(float f)
{
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static void blank(oh_case *c, uint32_t type)
{
    memset(c, 0, sizeof *c);
    c->op.type = type;
    for (int i = 0; i < KW_MAX_OP_INPUTS; i++)
        c->op.inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++)
        c->op.tensors[i] = KW_NONE;
    c->op.inputs[0] = 0;
}

static void run(oh_env *env, oh_case *c)
{
    if (filter && !strstr(c->label, filter)) return;
    ran++;
    oh_run(env, c);
}

/* ---------------------------------------------------------------------------------------- */
/* layernorm                                                                                */
/* ---------------------------------------------------------------------------------------- */

static void layernorm(oh_env *env, uint32_t n, kw_shape in, float eps, float offset)
{
    char label[128];
    snprintf(label, sizeof label, "layernorm n=%u C=%u %ux%u eps=%g offset=%g", n, in.c, in.h, in.w, (double)eps,
             (double)offset);
    oh_case c;
    blank(&c, KW_OP_LAYERNORM);
    c.label = label;
    c.op.p[0] = (int32_t)in.c;
    c.op.p[1] = f32_bits(eps);
    c.n = n;
    c.in[0] = in;
    /* values with a common offset per pixel: the mean must be subtracted before squaring */
    const uint64_t count = (uint64_t)n * kw_shape_count(in);
    float *x = oh_random(env, count, 1.0f);
    for (uint64_t i = 0; i < count; i++)
        x[i] = x[i] * 0.5f + offset;
    c.x[0] = x;
    float *wb = oh_random(env, 2ull * in.c, 1.0f);
    for (uint32_t i = 0; i < in.c; i++)
        wb[i] = 1.0f + 0.5f * wb[i];
    uint32_t dims[2] = {2, in.c};
    c.op.tensors[0] = 0;
    oh_set_tensor(&c.t[0], 2, dims, wb);
    c.tol = 2e-5 + 1e-6 * fabs((double)offset);
    run(env, &c);
}

/* ---------------------------------------------------------------------------------------- */
/* conv2d                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct conv_desc {
    uint32_t n, C, H, W, O, k, s, pad, G, act;
    bool dyn, scale, bias, res;
} conv_desc;

static void conv(oh_env *env, conv_desc d)
{
    char label[160];
    snprintf(label, sizeof label, "conv2d n=%u c%u %ux%u o%u k%u s%u p%u g%u act%u%s%s%s%s", d.n, d.C, d.H, d.W, d.O,
             d.k, d.s, d.pad, d.G, d.act, d.dyn ? " dyn" : "", d.scale ? " scale" : "", d.bias ? " bias" : "",
             d.res ? " res" : "");
    oh_case c;
    blank(&c, KW_OP_CONV2D);
    c.label = label;
    int32_t *p = c.op.p;
    p[0] = (int32_t)d.O, p[1] = p[2] = (int32_t)d.k, p[3] = p[4] = (int32_t)d.s, p[5] = p[6] = (int32_t)d.pad;
    p[7] = p[8] = 1, p[9] = (int32_t)d.G, p[10] = (int32_t)d.act, p[11] = (int32_t)d.C;
    c.n = d.n;
    c.in[0] = (kw_shape){d.C, d.H, d.W};
    const uint32_t wcount = d.O * (d.C / d.G) * d.k * d.k;
    const float ws = 1.0f / sqrtf((float)(d.C / d.G * d.k * d.k));
    if (d.dyn) {
        c.op.inputs[1] = 1;
        c.in[1] = (kw_shape){wcount, 1, 1};
        c.x[1] = oh_random(env, (uint64_t)wcount * d.n, ws);
    } else {
        uint32_t dims[4] = {d.O, d.C / d.G, d.k, d.k};
        c.op.tensors[0] = 0;
        oh_set_tensor(&c.t[0], 4, dims, oh_random(env, wcount, ws));
    }
    uint32_t od[1] = {d.O};
    if (d.scale) {
        c.op.tensors[1] = 1;
        oh_set_tensor(&c.t[1], 1, od, oh_random(env, d.O, 1.0f));
    }
    if (d.bias) {
        c.op.tensors[2] = 2;
        oh_set_tensor(&c.t[2], 1, od, oh_random(env, d.O, 0.5f));
    }
    if (d.res) {
        const uint32_t oh = (d.H + 2 * d.pad - d.k) / d.s + 1, ow = (d.W + 2 * d.pad - d.k) / d.s + 1;
        c.op.inputs[2] = 2;
        c.in[2] = (kw_shape){d.O, oh, ow};
    }
    c.tol = 1e-5;
    run(env, &c);
}

/* GELU on every float32 step of 1/1024 in [-3.5, 3.5]: a 1x1 identity conv, 7169 pixels. The
 * harness bound tol * max(1, max|ref|) = 1.7e-7 * 3.5 is 6e-7 absolute: float rounding of
 * the output (half an ulp of 3.5 is 2.4e-7) plus erf within ~2e-7. */
static void gelu_dense(oh_env *env)
{
    oh_case c;
    blank(&c, KW_OP_CONV2D);
    c.label = "gelu epilogue dense on [-3.5, 3.5]";
    int32_t *p = c.op.p;
    p[0] = p[1] = p[2] = p[3] = p[4] = 1, p[7] = p[8] = p[9] = 1, p[10] = KW_ACT_GELU, p[11] = 1;
    const uint32_t w = 7 * 1024 + 1;
    c.n = 1;
    c.in[0] = (kw_shape){1, 1, w};
    float *x = oh_random(env, w, 0.0f);
    for (uint32_t i = 0; i < w; i++)
        x[i] = -3.5f + (float)i / 1024.0f;
    c.x[0] = x;
    float *one = oh_random(env, 1, 0.0f);
    one[0] = 1.0f;
    uint32_t dims[4] = {1, 1, 1, 1};
    c.op.tensors[0] = 0;
    oh_set_tensor(&c.t[0], 4, dims, one);
    c.tol = 1.7e-7;
    run(env, &c);
}

/* ---------------------------------------------------------------------------------------- */
/* kw_assemble (depthwise 7x7 from 1x1 cells) and kw_attention with the LayerNorm norm       */
/* ---------------------------------------------------------------------------------------- */

static void assemble_dw7(oh_env *env, uint32_t n, uint32_t C, uint32_t M)
{
    char label[128];
    snprintf(label, sizeof label, "kw_assemble depthwise 7x7 n=%u C=%u cells [%u, %u, 1, 1]", n, C, M, C);
    oh_case c;
    blank(&c, KW_OP_KW_ASSEMBLE);
    c.label = label;
    int32_t *p = c.op.p;
    p[0] = (int32_t)C, p[1] = 1, p[2] = p[3] = 7, p[4] = (int32_t)C, p[5] = 1, p[6] = p[7] = 1, p[8] = (int32_t)M;
    c.n = n;
    c.in[0] = (kw_shape){49 * M, 1, 1};
    c.x[0] = oh_random(env, (uint64_t)n * 49 * M, 1.0f / (float)M);
    uint32_t dims[4] = {M, C, 1, 1};
    c.op.tensors[0] = 0;
    oh_set_tensor(&c.t[0], 4, dims, oh_random(env, (uint64_t)M * C, 1.0f));
    c.tol = 2e-5;
    run(env, &c);
}

typedef struct att_desc {
    uint32_t n, C, H, W, hid, nlm, M, nlc, nb, start;
} att_desc;

static void attention_ln(oh_env *env, att_desc d)
{
    char label[160];
    snprintf(label, sizeof label, "kw_attention layernorm %s n=%u C=%u %ux%u hid=%u nlm=%u M=%u nlc=%u nb=%u",
             d.nb ? "basis" : "standard", d.n, d.C, d.H, d.W, d.hid, d.nlm, d.M, d.nlc, d.nb);
    oh_case c;
    blank(&c, KW_OP_KW_ATTENTION);
    c.label = label;
    int32_t *p = c.op.p;
    p[0] = (int32_t)d.C, p[1] = (int32_t)d.hid, p[2] = (int32_t)d.nlm, p[3] = (int32_t)d.M;
    p[4] = (int32_t)d.nlc, p[5] = (int32_t)d.nb, p[6] = (int32_t)d.start;
    p[7] = KW_ATT_NORM_LAYERNORM, p[8] = f32_bits(1e-5f);
    c.n = d.n;
    c.in[0] = (kw_shape){d.C, d.H, d.W};
    uint32_t w1[2] = {d.hid, d.C}, b1[2] = {3, d.hid};
    c.op.tensors[0] = 0;
    oh_set_tensor(&c.t[0], 2, w1, oh_random(env, (uint64_t)d.hid * d.C, 1.0f / sqrtf((float)d.C)));
    float *b = oh_random(env, 3ull * d.hid, 0.5f);
    for (uint32_t i = 0; i < d.hid; i++)
        b[d.hid + i] += 1.0f; /* LN weight around 1 */
    c.op.tensors[1] = 1;
    oh_set_tensor(&c.t[1], 2, b1, b);
    const float s2 = 1.0f / sqrtf((float)d.hid);
    if (d.nb == 0) {
        uint32_t w2[2] = {d.nlm * (d.M + 1), d.hid}, b2[1] = {d.nlm * (d.M + 1)};
        c.op.tensors[2] = 2;
        oh_set_tensor(&c.t[2], 2, w2, oh_random(env, (uint64_t)w2[0] * d.hid, s2));
        c.op.tensors[3] = 3;
        oh_set_tensor(&c.t[3], 1, b2, oh_random(env, b2[0], 0.1f));
    } else {
        uint32_t w2[2] = {d.nlm * (d.nlc + d.nb + 1), d.hid}, w3[2] = {d.M - d.nlc, d.nb}, bb[1] = {d.nlm * (d.M + 1)};
        c.op.tensors[2] = 2;
        oh_set_tensor(&c.t[2], 2, w2, oh_random(env, (uint64_t)w2[0] * d.hid, s2));
        if (d.M > d.nlc) {
            c.op.tensors[4] = 4;
            oh_set_tensor(&c.t[4], 2, w3, oh_random(env, (uint64_t)w3[0] * d.nb, 1.0f / sqrtf((float)d.nb)));
        }
        c.op.tensors[5] = 5;
        oh_set_tensor(&c.t[5], 1, bb, oh_random(env, bb[0], 0.1f));
    }
    c.tol = 5e-6;
    run(env, &c);
}

/* ---------------------------------------------------------------------------------------- */

static void all_cases(oh_env *env)
{
    /* layernorm: 1 channel (output = bias), odd C and planes, the pooled [768, 1, 1] vector */
    layernorm(env, 1, (kw_shape){1, 3, 5}, 1e-6f, 0.0f);
    layernorm(env, 3, (kw_shape){7, 9, 11}, 1e-6f, 3.0f);
    layernorm(env, 1, (kw_shape){96, 14, 14}, 1e-6f, -2.0f);
    layernorm(env, 2, (kw_shape){33, 7, 5}, 1e-5f, 100.0f);
    layernorm(env, 2, (kw_shape){768, 1, 1}, 1e-6f, 0.5f);
    layernorm(env, 3, (kw_shape){5, 1, 1}, 1e-6f, 0.0f);
    layernorm(env, 1, (kw_shape){4, 1, 1}, 1e-6f, 0.0f);

    gelu_dense(env);
    /* ConvNeXt convs: stem 4x4/4 (odd input: the last partial window is dropped), 2x2/2
     * downsampling, depthwise 7x7 pad 3 (also on a 2x2 map: every tap but the centre's
     * neighbourhood in the padding), pointwise with GELU, pointwise with layer scale + bias +
     * residual; the KW block's three with per-sample weights */
    conv(env, (conv_desc){.n = 2, .C = 3, .H = 19, .W = 17, .O = 8, .k = 4, .s = 4, .G = 1, .bias = true});
    conv(env, (conv_desc){.n = 3, .C = 6, .H = 9, .W = 11, .O = 10, .k = 2, .s = 2, .G = 1, .bias = true});
    conv(env, (conv_desc){.n = 1, .C = 24, .H = 2, .W = 2, .O = 24, .k = 7, .s = 1, .pad = 3, .G = 24, .bias = true});
    for (int dyn = 0; dyn < 2; dyn++) {
        conv(env, (conv_desc){.n = 3,
                              .C = 13,
                              .H = 9,
                              .W = 11,
                              .O = 13,
                              .k = 7,
                              .s = 1,
                              .pad = 3,
                              .G = 13,
                              .bias = true,
                              .dyn = dyn});
        conv(env, (conv_desc){.n = 3,
                              .C = 12,
                              .H = 7,
                              .W = 9,
                              .O = 48,
                              .k = 1,
                              .s = 1,
                              .G = 1,
                              .bias = true,
                              .act = KW_ACT_GELU,
                              .dyn = dyn});
        conv(env, (conv_desc){.n = 3,
                              .C = 48,
                              .H = 7,
                              .W = 9,
                              .O = 12,
                              .k = 1,
                              .s = 1,
                              .G = 1,
                              .scale = true,
                              .bias = true,
                              .res = true,
                              .dyn = dyn});
    }
    /* GELU after a 3x3 conv with every epilogue term (another code path of conv2d.glsl) */
    conv(env, (conv_desc){.n = 2,
                          .C = 5,
                          .H = 9,
                          .W = 11,
                          .O = 7,
                          .k = 3,
                          .s = 1,
                          .pad = 1,
                          .G = 1,
                          .scale = true,
                          .bias = true,
                          .res = true,
                          .act = KW_ACT_GELU});

    assemble_dw7(env, 1, 13, 49);
    assemble_dw7(env, 9, 24, 98);

    attention_ln(env, (att_desc){.n = 1, .C = 3, .H = 9, .W = 11, .hid = 16, .nlm = 16, .M = 16});
    attention_ln(env, (att_desc){.n = 3, .C = 24, .H = 7, .W = 7, .hid = 16, .nlm = 49, .M = 98});
    attention_ln(env, (att_desc){.n = 3, .C = 7, .H = 5, .W = 3, .hid = 70, .nlm = 4, .M = 9});
    attention_ln(
        env, (att_desc){.n = 3, .C = 7, .H = 9, .W = 11, .hid = 16, .nlm = 6, .M = 50, .nlc = 6, .nb = 16, .start = 7});
}

/* 64 KiB bindings: layernorm splits along samples; the attention's fc2 no longer fits one
 * binding, so it takes the multi-dispatch path (with its layernorm dispatch) */
static void split_cases(oh_env *env)
{
    layernorm(env, 5, (kw_shape){20, 20, 20}, 1e-6f, 1.0f);
    attention_ln(env, (att_desc){.n = 3, .C = 7, .H = 9, .W = 11, .hid = 16, .nlm = 36, .M = 100});
}

int main(void)
{
    filter = getenv("KWVK_TEST_FILTER");
    oh_env *env = oh_init();
    all_cases(env);
    int rc = oh_finish(env) && (ran || !filter);
    unsigned ran_before = ran;

    printf("--- storage range limited to 65536 bytes ---\n");
    setenv("KWVK_MAX_STORAGE_RANGE", "65536", 1);
    env = oh_init();
    split_cases(env);
    rc |= oh_finish(env) && (ran > ran_before || !filter);
    return rc;
}
