/* test_ops_kw.c - the KernelWarehouse ops (kw_attention, kw_assemble) on the GPU against their
 * C references (engine/ref/ref_kw.c), through the op harness.
 *
 * Phase 1 runs every case with the device's storage range. Phase 2 shrinks the storage range
 * to 64 KiB (KWVK_MAX_STORAGE_RANGE) and runs cases whose bindings exceed it, so the
 * recorders must split along the batch, weight rows, the pooled plane and the warehouse's
 * cells. Run it also with KWVK_FORCE_FALLBACKS=1 (no subgroup reductions) and with
 * LP_NATIVE_VECTOR_WIDTH=128 on lavapipe (subgroup size 4). */
#include "op_harness.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_ATT 5e-6
#define TOL_ASM 2e-5

static kw_op new_op(uint32_t type)
{
    kw_op op;
    memset(&op, 0, sizeof op);
    op.type = type;
    op.n_inputs = 1;
    op.inputs[0] = 0;
    for (int i = 1; i < KW_MAX_OP_INPUTS; i++)
        op.inputs[i] = KW_NONE;
    for (int i = 0; i < KW_MAX_OP_TENSORS; i++)
        op.tensors[i] = KW_NONE;
    return op;
}

static void set_random(oh_env *env, oh_case *c, int slot, uint32_t ndim, const uint32_t *dims, float scale)
{
    uint64_t count = 1;
    for (uint32_t d = 0; d < ndim; d++)
        count *= dims[d];
    c->op.tensors[slot] = (uint32_t)slot;
    oh_set_tensor(&c->t[slot], ndim, dims, oh_random(env, count, scale));
}

/* ---------------------------------------------------------------------------------------- */
/* kw_attention                                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef struct att_desc {
    uint32_t n, C, H, W, hid, nlm, M, nlc, nb, start;
    float fc2_scale; /* 0: 1/sqrt(hid) */
} att_desc;

static void att_case(oh_env *env, att_desc d)
{
    char label[160];
    oh_case c;
    memset(&c, 0, sizeof c);
    c.op = new_op(KW_OP_KW_ATTENTION);
    int32_t *p = c.op.p;
    p[0] = (int32_t)d.C;
    p[1] = (int32_t)d.hid;
    p[2] = (int32_t)d.nlm;
    p[3] = (int32_t)d.M;
    p[4] = (int32_t)d.nlc;
    p[5] = (int32_t)d.nb;
    p[6] = (int32_t)d.start;
    c.n = d.n;
    c.in[0] = (kw_shape){d.C, d.H, d.W};
    float s2 = d.fc2_scale > 0 ? d.fc2_scale : 1.0f / sqrtf((float)d.hid);

    uint32_t w1[2] = {d.hid, d.C}, b1[1] = {d.hid};
    set_random(env, &c, 0, 2, w1, 1.0f / sqrtf((float)d.C));
    set_random(env, &c, 1, 1, b1, 0.5f);
    if (d.nb == 0) {
        uint32_t w2[2] = {d.nlm * (d.M + 1), d.hid}, b2[1] = {d.nlm * (d.M + 1)};
        set_random(env, &c, 2, 2, w2, s2);
        set_random(env, &c, 3, 1, b2, 0.1f * s2 * sqrtf((float)d.hid));
        snprintf(label, sizeof label, "kw_attention standard n=%u C=%u %ux%u hid=%u nlm=%u M=%u%s", d.n, d.C, d.H, d.W,
                 d.hid, d.nlm, d.M, d.fc2_scale > 0 ? " (tiny logits)" : "");
    } else {
        uint32_t w2[2] = {d.nlm * (d.nlc + d.nb + 1), d.hid}, w3[2] = {d.M - d.nlc, d.nb};
        uint32_t bb[1] = {d.nlm * (d.M + 1)};
        set_random(env, &c, 2, 2, w2, s2);
        if (d.M > d.nlc) set_random(env, &c, 4, 2, w3, 1.0f / sqrtf((float)d.nb));
        set_random(env, &c, 5, 1, bb, 0.1f);
        snprintf(label, sizeof label, "kw_attention basis n=%u C=%u %ux%u hid=%u nlm=%u M=%u nlc=%u nb=%u start=%u",
                 d.n, d.C, d.H, d.W, d.hid, d.nlm, d.M, d.nlc, d.nb, d.start);
    }
    c.label = label;
    c.tol = TOL_ATT;
    oh_run(env, &c);
}

/* ---------------------------------------------------------------------------------------- */
/* kw_assemble                                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef struct asm_desc {
    uint32_t n, O, Cg, kh, kw, co, ci, ckh, ckw, M;
    const char *what;
} asm_desc;

static void asm_case(oh_env *env, asm_desc d)
{
    char label[200];
    oh_case c;
    memset(&c, 0, sizeof c);
    c.op = new_op(KW_OP_KW_ASSEMBLE);
    int32_t *p = c.op.p;
    p[0] = (int32_t)d.O;
    p[1] = (int32_t)d.Cg;
    p[2] = (int32_t)d.kh;
    p[3] = (int32_t)d.kw;
    p[4] = (int32_t)d.co;
    p[5] = (int32_t)d.ci;
    p[6] = (int32_t)d.ckh;
    p[7] = (int32_t)d.ckw;
    p[8] = (int32_t)d.M;
    uint32_t GO = d.O / d.co, GI = d.Cg / d.ci, GS = (d.kh / d.ckh) * (d.kw / d.ckw);
    uint32_t nlm = GS * GO * GI;
    c.n = d.n;
    c.in[0] = (kw_shape){nlm * d.M, 1, 1};
    /* attention-like alpha: sum |alpha| over a mixture row of about 1 */
    c.x[0] = oh_random(env, (uint64_t)d.n * nlm * d.M, 1.0f / (float)d.M);
    uint32_t wd[4] = {d.M, d.co, d.ci, d.ckh * d.ckw};
    set_random(env, &c, 0, 4, wd, 1.0f);
    snprintf(label, sizeof label, "kw_assemble %s n=%u O=%u Cg=%u k=%ux%u cell=%ux%ux%ux%u GO=%u GI=%u GS=%u M=%u",
             d.what, d.n, d.O, d.Cg, d.kh, d.kw, d.co, d.ci, d.ckh, d.ckw, GO, GI, GS, d.M);
    c.label = label;
    c.tol = TOL_ASM;
    oh_run(env, &c);
}

/* ---------------------------------------------------------------------------------------- */
/* kw_assemble in the Winograd domain (kw_assemble_wino_record, which a KW 3x3 conv records)   */
/* ---------------------------------------------------------------------------------------- */

typedef struct wasm_desc {
    uint32_t n, O, Cg, co, ci, M, Op, pad; /* pad: extra alpha floats per sample, an odd stride */
} wasm_desc;

static unsigned wasm_failed;

/* Record the assembly into U for n samples (alpha at float 3 of its buffer, strided), run
 * it, compare every written row (o < O) with kw_ref_kw_assemble_wino; rows o >= O must keep
 * the buffer's guard value. */
static void wasm_case(oh_env *env, wasm_desc d)
{
    kw_ctx *ctx = oh_ctx(env);
    kw_op a = new_op(KW_OP_KW_ASSEMBLE);
    a.assemble = (kw_assemble_params){.O = (int32_t)d.O,
                                      .Cg = (int32_t)d.Cg,
                                      .kh = 3,
                                      .kw = 3,
                                      .co = (int32_t)d.co,
                                      .ci = (int32_t)d.ci,
                                      .ckh = 1,
                                      .ckw = 1,
                                      .M = (int32_t)d.M};
    a.tensors[0] = 0;
    const uint64_t nlm = 9ull * (d.O / d.co) * (d.Cg / d.ci), stride = nlm * d.M + d.pad, L = (uint64_t)d.co * d.ci;
    const uint64_t a_count = 3 + d.n * stride, u_count = (uint64_t)d.n * 16 * d.Cg * d.Op;
    float *alpha = oh_random(env, a_count, 1.0f / (float)d.M), *E = oh_random(env, d.M * L, 1.0f);
    float *packed = oh_random(env, d.n * nlm * d.M, 1.0f), *ref = oh_random(env, u_count, 1.0f);
    float *gpu = oh_random(env, u_count, 1.0f);
    for (uint32_t s = 0; s < d.n; s++)
        memcpy(packed + s * nlm * d.M, alpha + 3 + s * stride, nlm * d.M * 4);
    kw_tensor wt;
    uint32_t wd[4] = {d.M, d.co, d.ci, 1};
    oh_set_tensor(&wt, 4, wd, E);
    const kw_tensor *tp[1] = {&wt};
    const kw_shape in[1] = {{(uint32_t)(nlm * d.M), 1, 1}};
    const float *xs[1] = {packed};
    kw_ref_kw_assemble_wino(&a, tp, d.n, in, xs, d.Op, ref);
    for (uint64_t i = 0; i < u_count; i++)
        gpu[i] = 1234.5f; /* guard: rows o >= O stay so */

    kw_buffer b[3];
    memset(b, 0, sizeof b);
    kwvk_result r = kw_buffer_create(ctx, a_count * 4, KW_MEM_DEVICE, &b[0]);
    if (r == KWVK_OK) r = kw_buffer_upload(ctx, &b[0], 0, alpha, a_count * 4);
    if (r == KWVK_OK) r = kw_buffer_create(ctx, d.M * L * 4, KW_MEM_DEVICE, &b[1]);
    if (r == KWVK_OK) r = kw_buffer_upload(ctx, &b[1], 0, E, d.M * L * 4);
    if (r == KWVK_OK) r = kw_buffer_create(ctx, u_count * 4, KW_MEM_DEVICE, &b[2]);
    if (r == KWVK_OK) r = kw_buffer_upload(ctx, &b[2], 0, gpu, u_count * 4);
    kw_rec rec;
    memset(&rec, 0, sizeof rec);
    if (r == KWVK_OK) r = kw_rec_begin(ctx, &rec, 0);
    if (r == KWVK_OK)
        r = kw_assemble_wino_record(&rec, &a, d.n, kw_view_of(&b[0], 0, a_count * 4), 3, stride,
                                    kw_view_of(&b[1], 0, d.M * L * 4), kw_view_of(&b[2], 0, u_count * 4), d.Op);
    if (r == KWVK_OK) r = kw_rec_end(&rec);
    if (r == KWVK_OK) r = kw_submit_wait(ctx, rec.cmd);
    if (r == KWVK_OK) r = kw_buffer_download(ctx, &b[2], 0, gpu, u_count * 4);
    kw_rec_release(&rec);
    for (int i = 0; i < 3; i++)
        kw_buffer_destroy(ctx, &b[i]);
    double max_err = 0, max_ref = 1;
    bool guard = true;
    for (uint64_t i = 0; i < u_count; i++) {
        if (i % d.Op >= d.O) {
            guard &= gpu[i] == 1234.5f;
            continue;
        }
        max_ref = fmax(max_ref, fabs(ref[i]));
        double e = fabs((double)gpu[i] - ref[i]);
        if (!(e <= max_err)) max_err = isnan(e) ? INFINITY : e;
    }
    const bool ok = r == KWVK_OK && guard && max_err <= TOL_ASM * max_ref;
    printf("%s kw_assemble (Winograd domain) n=%u O=%u Cg=%u cell=%ux%u M=%u Op=%u: max err %.3g (ref %.3g)%s%s%s\n",
           ok ? "ok  " : "FAIL", d.n, d.O, d.Cg, d.co, d.ci, d.M, d.Op, max_err, max_ref,
           guard ? "" : ", padding written", r == KWVK_OK ? "" : ", ", r == KWVK_OK ? "" : kwvk_last_error());
    wasm_failed += !ok;
}

static void wasm_cases(oh_env *env, bool small_range)
{
    if (small_range) {
        /* U 32 KB per sample: one sample per dispatch; warehouse 150 cells of 512 B: split along
         * the cells (accumulating) */
        wasm_case(env, (wasm_desc){3, 32, 16, 8, 16, 150, 32, 5});
        return;
    }
    /* vec4 stores along o (co, ci multiples of 4) and scalar ones, odd cells (L % 4 != 0: scalar
     * warehouse loads), GO and GI > 1, padded rows (Op > O), batch 1, 2 (one sample block) and 3
     * (a partial one), M 1..60 */
    wasm_case(env, (wasm_desc){1, 8, 8, 4, 4, 5, 8, 0});
    wasm_case(env, (wasm_desc){3, 8, 8, 4, 4, 5, 8, 1});
    wasm_case(env, (wasm_desc){2, 16, 12, 8, 4, 36, 16, 0});
    wasm_case(env, (wasm_desc){3, 12, 24, 4, 8, 7, 16, 3});
    wasm_case(env, (wasm_desc){1, 7, 5, 7, 5, 3, 8, 2});
    wasm_case(env, (wasm_desc){3, 15, 9, 5, 3, 60, 16, 0});
    wasm_case(env, (wasm_desc){3, 3, 1, 1, 1, 1, 8, 0});
    wasm_case(env, (wasm_desc){1, 64, 64, 64, 64, 27, 64, 0});
    wasm_case(env, (wasm_desc){3, 33, 36, 11, 12, 9, 40, 1});
}

/* ---------------------------------------------------------------------------------------- */

static void phase_full_range(oh_env *env)
{
    /* attention, standard path: odd C, 1x1 and 9x11 inputs, M 1..300 */
    att_case(env, (att_desc){.n = 1, .C = 1, .H = 1, .W = 1, .hid = 16, .nlm = 1, .M = 1});
    att_case(env, (att_desc){.n = 3, .C = 3, .H = 9, .W = 11, .hid = 16, .nlm = 4, .M = 5});
    att_case(env, (att_desc){.n = 3, .C = 7, .H = 1, .W = 1, .hid = 16, .nlm = 9, .M = 40});
    att_case(env, (att_desc){.n = 1, .C = 15, .H = 9, .W = 11, .hid = 16, .nlm = 2, .M = 300});
    att_case(env, (att_desc){.n = 3, .C = 200, .H = 7, .W = 7, .hid = 24, .nlm = 18, .M = 37});
    att_case(env, (att_desc){.n = 3, .C = 15, .H = 4, .W = 4, .hid = 16, .nlm = 3, .M = 2, .fc2_scale = 1e-3f});
    /* basis path: start 0 and > 0, nlc 0, no nonlocal cells (M == nlc), start at the end */
    att_case(env,
             (att_desc){.n = 3, .C = 7, .H = 9, .W = 11, .hid = 16, .nlm = 6, .M = 50, .nlc = 6, .nb = 16, .start = 0});
    att_case(env, (att_desc){
                      .n = 1, .C = 15, .H = 1, .W = 1, .hid = 16, .nlm = 8, .M = 60, .nlc = 8, .nb = 16, .start = 20});
    att_case(env,
             (att_desc){.n = 3, .C = 3, .H = 9, .W = 11, .hid = 16, .nlm = 4, .M = 30, .nlc = 0, .nb = 16, .start = 0});
    att_case(env,
             (att_desc){.n = 3, .C = 1, .H = 1, .W = 1, .hid = 16, .nlm = 4, .M = 4, .nlc = 4, .nb = 16, .start = 0});
    att_case(env,
             (att_desc){.n = 3, .C = 7, .H = 1, .W = 1, .hid = 16, .nlm = 5, .M = 40, .nlc = 5, .nb = 20, .start = 35});
    att_case(env, (att_desc){.n = 1,
                             .C = 3,
                             .H = 9,
                             .W = 11,
                             .hid = 16,
                             .nlm = 2,
                             .M = 3,
                             .nlc = 1,
                             .nb = 16,
                             .start = 1,
                             .fc2_scale = 1e-3f});

    /* assembly */
    asm_case(env, (asm_desc){1, 8, 6, 3, 3, 4, 3, 1, 1, 36, "3x3 1x1-cells x1"});
    asm_case(env, (asm_desc){3, 8, 6, 3, 3, 4, 3, 1, 1, 36, "3x3 1x1-cells x1"});
    asm_case(env, (asm_desc){9, 8, 6, 3, 3, 4, 3, 1, 1, 36, "3x3 1x1-cells x1"});
    asm_case(env, (asm_desc){3, 8, 6, 3, 3, 4, 3, 1, 1, 9, "3x3 1x1-cells x1/4"});
    asm_case(env, (asm_desc){9, 8, 6, 3, 3, 4, 3, 1, 1, 144, "3x3 1x1-cells x4"});
    asm_case(env, (asm_desc){3, 16, 8, 3, 3, 4, 2, 1, 1, 72, "cell < gcd (ratio 0.5)"});
    asm_case(env, (asm_desc){3, 16, 1, 3, 3, 8, 1, 1, 1, 20, "depthwise"});
    asm_case(env, (asm_desc){9, 15, 1, 5, 5, 3, 1, 1, 1, 30, "depthwise odd cell"});
    asm_case(env, (asm_desc){3, 8, 4, 3, 3, 4, 2, 3, 3, 5, "spatial partition off"});
    asm_case(env, (asm_desc){1, 7, 1, 7, 7, 7, 1, 7, 7, 3, "depthwise 7x7 partition off"});
    asm_case(env, (asm_desc){3, 10, 16, 1, 1, 5, 8, 1, 1, 6, "KWLinear"});
    asm_case(env, (asm_desc){3, 6, 3, 4, 6, 2, 3, 2, 3, 13, "partial partition 4x6/2x3"});
    asm_case(env, (asm_desc){9, 12, 7, 1, 1, 4, 7, 1, 1, 3, "1x1 conv"});
    asm_case(env, (asm_desc){3, 3, 5, 5, 5, 1, 5, 1, 1, 80, "5x5 odd cell"});
    asm_case(env, (asm_desc){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "1x1x1x1"});
    /* [O, kh, kw, Cg] written with vec4 stores (ci, Cg multiples of 4) */
    asm_case(env, (asm_desc){1, 8, 8, 3, 3, 4, 4, 1, 1, 36, "1x1-cells vec4 stores"});
    asm_case(env, (asm_desc){9, 16, 12, 3, 3, 8, 4, 1, 1, 27, "1x1-cells vec4 stores GI=3"});
    asm_case(env, (asm_desc){3, 32, 32, 3, 3, 32, 32, 1, 1, 20, "ResNet cells (O x Cg x 1 x 1)"});
    wasm_cases(env, false);
}

static void phase_small_range(oh_env *env)
{
    /* fc2 232 KB: split along mixture rows; batch split */
    att_case(env, (att_desc){.n = 3, .C = 7, .H = 9, .W = 11, .hid = 16, .nlm = 36, .M = 100});
    /* a 150x150 plane (88 KB) per channel: the pool splits the plane; fc1 192 KB: rows */
    att_case(env, (att_desc){.n = 2, .C = 3, .H = 150, .W = 150, .hid = 16, .nlm = 4, .M = 9});
    att_case(env, (att_desc){.n = 3, .C = 3000, .H = 3, .W = 3, .hid = 16, .nlm = 4, .M = 9});
    /* basis path: fc2 rows and fc2 output split */
    att_case(
        env,
        (att_desc){.n = 3, .C = 7, .H = 1, .W = 1, .hid = 32, .nlm = 40, .M = 120, .nlc = 40, .nb = 16, .start = 30});
    /* warehouse 77 KB and alpha 43 KB per sample: cells split in two, batch split */
    asm_case(env, (asm_desc){3, 16, 16, 3, 3, 8, 8, 1, 1, 300, "split warehouse+batch"});
    /* 3x3 cells of 16x16 (9 KB each), 10 cells: warehouse split; kernels 9 KB: batch split */
    asm_case(env, (asm_desc){9, 16, 16, 3, 3, 16, 16, 3, 3, 10, "split warehouse 3x3 cells"});
    /* odd cell size (scalar path) split */
    asm_case(env, (asm_desc){3, 15, 1, 5, 5, 5, 1, 5, 5, 200, "split warehouse odd cells"});
    wasm_cases(env, true);
}

int main(void)
{
    oh_env *env = oh_init();
    phase_full_range(env);
    int rc = oh_finish(env);

    /* texel views limited to 2048 texels (32 KB of warehouse, 8 KB of alpha): the texel
     * assembly splits the warehouse, or falls back to storage buffers where alpha rows
     * cannot fit */
    printf("--- storage range limited to 65536 bytes, texel buffers to 2048 texels ---\n");
    setenv("KWVK_MAX_STORAGE_RANGE", "65536", 1);
    setenv("KWVK_MAX_TEXEL_ELEMENTS", "2048", 1);
    env = oh_init();
    phase_small_range(env);
    int rc2 = oh_finish(env);
    if (wasm_failed) printf("FAIL: %u Winograd-domain assembly case(s)\n", wasm_failed);
    return rc ? rc : rc2 ? rc2 : wasm_failed ? 1 : 0;
}
