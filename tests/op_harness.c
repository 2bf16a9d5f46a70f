/* op_harness.c - see op_harness.h. */
#include "op_harness.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64
#define GUARD_VALUE 1234.5f

struct oh_env {
    kwvk_context *ctx;
    uint64_t rng;
    void **allocs;
    uint32_t n_allocs, cap_allocs;
    uint32_t passed, failed;
};

kw_ctx *oh_ctx(oh_env *env) { return &env->ctx->c; }

static void *track(oh_env *env, void *p)
{
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    if (env->n_allocs == env->cap_allocs) {
        env->cap_allocs = env->cap_allocs ? env->cap_allocs * 2 : 64;
        env->allocs = realloc(env->allocs, env->cap_allocs * sizeof *env->allocs);
        if (!env->allocs) exit(1);
    }
    env->allocs[env->n_allocs++] = p;
    return p;
}

static double uniform(oh_env *env)
{
    env->rng ^= env->rng << 13;
    env->rng ^= env->rng >> 7;
    env->rng ^= env->rng << 17;
    return ((env->rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

float *oh_random(oh_env *env, uint64_t count, float scale)
{
    float *p = track(env, malloc((count ? count : 1) * sizeof *p));
    for (uint64_t i = 0; i < count; i++) {
        double u1 = uniform(env), u2 = uniform(env);
        p[i] = (float)(scale * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    return p;
}

void oh_set_tensor(kw_tensor *t, uint32_t ndim, const uint32_t *dims, const float *data)
{
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    t->count = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t->dims[d] = d < ndim ? dims[d] : 1;
        t->count *= t->dims[d];
    }
    t->data = data;
}

oh_env *oh_init(void)
{
    oh_env *env = calloc(1, sizeof *env);
    if (!env) exit(1);
    env->rng = 0x9E3779B97F4A7C15ull;
    setenv("KWVK_QUIET", "0", 0);
    kwvk_context_desc d = {.enable_validation = 1, .cache_dir = ""};
    kwvk_result r = kwvk_context_create(&d, &env->ctx);
    if (r == KWVK_ERROR_NO_DEVICE) {
        printf("SKIP: no Vulkan device: %s\n", kwvk_last_error());
        exit(77);
    }
    if (r != KWVK_OK) {
        printf("FAIL: context: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
        exit(1);
    }
    kwvk_device_info info;
    kwvk_context_device_info(env->ctx, &info);
    printf("device: %s, subgroup size %u, subgroup arithmetic %s, max storage range %llu\n", info.name,
           info.subgroup_size, env->ctx->c.feat.subgroup_arithmetic ? "on" : "off (fallback)",
           (unsigned long long)env->ctx->c.max_storage_range);
    return env;
}

int oh_finish(oh_env *env)
{
    uint32_t vmsg = kwvk_context_validation_messages(env->ctx);
    kwvk_context_destroy(env->ctx);
    for (uint32_t i = 0; i < env->n_allocs; i++) free(env->allocs[i]);
    free(env->allocs);
    printf("%u passed, %u failed\n", env->passed, env->failed);
    if (vmsg) printf("FAIL: %u validation-layer message(s)\n", vmsg);
    int rc = (env->failed || vmsg || env->passed == 0) ? 1 : 0;
    free(env);
    return rc;
}

static void fail(oh_env *env, const oh_case *c, const char *what, kwvk_result r)
{
    printf("FAIL %-48s %s: %s: %s\n", c->label, what, kwvk_result_name(r), kwvk_last_error());
    env->failed++;
}

/* n kernels [O, Cg, kk] -> [O, kk, Cg] (to_ohwi) or back: kw_assemble's layout for conv2d's
 * OHWI weights (kk = kh * kw) */
static void swap_layout(float *dst, const float *src, uint64_t n, uint64_t O, uint64_t Cg, uint64_t kk,
                        bool to_ohwi)
{
    for (uint64_t so = 0; so < n * O; so++)
        for (uint64_t ci = 0; ci < Cg; ci++)
            for (uint64_t q = 0; q < kk; q++) {
                const uint64_t oihw = (so * Cg + ci) * kk + q, ohwi = (so * kk + q) * Cg + ci;
                if (to_ohwi)
                    dst[ohwi] = src[oihw];
                else
                    dst[oihw] = src[ohwi];
            }
}

void oh_run(oh_env *env, const oh_case *c)
{
    kw_ctx *ctx = &env->ctx->c;
    /* a one-op model around the case's tensors */
    kwvk_model m;
    memset(&m, 0, sizeof m);
    kw_tensor tensors[KW_MAX_OP_TENSORS];
    kw_op op = c->op;
    uint32_t nt = 0;
    const kw_tensor *tp[KW_MAX_OP_TENSORS] = {NULL};
    for (int k = 0; k < KW_MAX_OP_TENSORS; k++) {
        if (op.tensors[k] == KW_NONE) continue;
        tensors[nt] = c->t[k];
        op.tensors[k] = nt;
        tp[k] = &c->t[k];
        nt++;
    }
    m.tensors = tensors;
    m.n_tensors = nt;
    /* value ids: the harness feeds every input from outside, so mark them as value 0 */
    kw_op vop = op;
    vop.n_inputs = 0;
    for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
        if (vop.inputs[k] != KW_NONE) {
            vop.inputs[k] = 0;
            vop.n_inputs++;
        }
    char msg[256];
    if (!kw_op_validate(&m, &vop, 0, msg, sizeof msg)) {
        printf("FAIL %-48s validate: %s\n", c->label, msg);
        env->failed++;
        return;
    }
    kw_shape out;
    if (!kw_op_infer(&vop, c->in, &out, msg, sizeof msg)) {
        printf("FAIL %-48s infer: %s\n", c->label, msg);
        env->failed++;
        return;
    }
    uint32_t n = c->n;
    const float *x[KW_MAX_OP_INPUTS] = {NULL, NULL, NULL};
    for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
        if (vop.inputs[k] != KW_NONE)
            x[k] = c->x[k] ? c->x[k] : oh_random(env, kw_shape_count(c->in[k]) * n, 1.0f);
    /* fp16 weights: the reference sees them rounded (by the compiler's conversion, independent
     * of the engine's kw_f32_to_f16), the device gets the engine's fp16 bits */
    kw_tensor w16t;
    const bool w16 = c->w16 && ctx->feat.fp16_storage; /* else an fp32 case, as the net makes it */
    if (w16 && tp[0]) {
        w16t = *tp[0];
        float *wr = track(env, malloc(w16t.count * sizeof *wr));
        for (uint64_t i = 0; i < w16t.count; i++) wr[i] = (float)(_Float16)tp[0]->data[i];
        w16t.data = wr;
        tp[0] = &w16t;
    }
    uint64_t out_count = kw_shape_count(out) * n;
    float *ref = track(env, malloc(out_count * sizeof *ref));
    float *gpu = track(env, malloc((out_count + GUARD) * sizeof *gpu));
    kw_ref_op(&vop, tp, n, c->in, x, out, ref);

    /* device buffers: inputs, tensors, output (+ guard), scratch */
    kw_buffer bin[KW_MAX_OP_INPUTS], bt[KW_MAX_OP_TENSORS], bout, bscratch, bderived;
    memset(bin, 0, sizeof bin);
    memset(bt, 0, sizeof bt);
    memset(&bout, 0, sizeof bout);
    memset(&bscratch, 0, sizeof bscratch);
    memset(&bderived, 0, sizeof bderived);
    kw_op_call call;
    memset(&call, 0, sizeof call);
    call.op = &vop;
    call.n = n;
    call.out = out;
    kwvk_result r = KWVK_OK;
    for (int k = 0; k < KW_MAX_OP_INPUTS && r == KWVK_OK; k++) {
        if (!x[k]) continue;
        uint64_t bytes = kw_shape_count(c->in[k]) * n * 4;
        const float *src = x[k];
        if (c->w_ohwi && k == 1 && vop.type == KW_OP_CONV2D) { /* per-sample weights as [O, kh, kw, Cg] */
            float *t = track(env, malloc(bytes));
            swap_layout(t, x[k], n, vop.p[0], vop.p[11] / vop.p[9], (uint64_t)vop.p[1] * vop.p[2], true);
            src = t;
            call.w_ohwi = true;
        }
        r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bin[k]);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bin[k], 0, src, bytes);
        call.in[k] = c->in[k];
        call.vin[k] = kw_view_of(&bin[k], 0, bytes);
    }
    for (int k = 0; k < KW_MAX_OP_TENSORS && r == KWVK_OK; k++) {
        if (!tp[k]) continue;
        if (w16 && k == 0) {
            uint64_t bytes = tp[k]->count * 2;
            uint16_t *h = track(env, malloc(bytes + 2));
            kw_f32_to_f16(h, c->t[0].data, tp[k]->count);
            r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bt[k]);
            if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bt[k], 0, h, bytes);
            call.t[k] = tp[k];
            call.vt[k] = kw_view_of(&bt[k], 0, bytes);
            call.vt[k].f16 = true;
            continue;
        }
        uint64_t bytes = tp[k]->count * 4;
        r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bt[k]);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bt[k], 0, tp[k]->data, bytes);
        call.t[k] = tp[k];
        call.vt[k] = kw_view_of(&bt[k], 0, bytes);
    }
    /* as for a net: the KW kernel in the layout for a conv reader (the harness has no reader,
     * so the layout is undone before comparing, below) */
    if (vop.type == KW_OP_KW_ASSEMBLE) call.w_ohwi = kw_assemble_ohwi(&vop);
    /* transformed weights, as kwvk_net_create makes them (Winograd convs) */
    if (r == KWVK_OK && kw_wino_static_weights(ctx, &vop, w16)) {
        uint64_t bytes = kw_wino_weights_count(&vop) * 4;
        float *u = track(env, malloc(bytes));
        kw_wino_transform_weights(&vop, tp[0]->data, u);
        r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bderived);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bderived, 0, u, bytes);
        call.derived = kw_view_of(&bderived, 0, bytes);
    }
    uint64_t scratch = kw_op_scratch(&vop, n, c->in, out);
    if (r == KWVK_OK && scratch) {
        r = kw_buffer_create(ctx, scratch, KW_MEM_DEVICE, &bscratch);
        call.scratch = kw_view_of(&bscratch, 0, scratch);
    }
    if (r == KWVK_OK) r = kw_buffer_create(ctx, (out_count + GUARD) * 4, KW_MEM_DEVICE, &bout);
    if (r == KWVK_OK) {
        for (uint64_t i = 0; i < out_count + GUARD; i++) gpu[i] = GUARD_VALUE;
        r = kw_buffer_upload(ctx, &bout, 0, gpu, (out_count + GUARD) * 4);
        call.vout = kw_view_of(&bout, 0, out_count * 4);
    }
    kw_rec rec;
    memset(&rec, 0, sizeof rec);
    if (r == KWVK_OK) r = kw_rec_begin(ctx, &rec, 0);
    if (r == KWVK_OK) r = kw_op_record(&rec, &call);
    if (r == KWVK_OK) r = kw_rec_end(&rec);
    if (r == KWVK_OK) r = kw_submit_wait(ctx, rec.cmd);
    if (r == KWVK_OK) r = kw_buffer_download(ctx, &bout, 0, gpu, (out_count + GUARD) * 4);
    kw_rec_release(&rec);
    for (int k = 0; k < KW_MAX_OP_INPUTS; k++) kw_buffer_destroy(ctx, &bin[k]);
    for (int k = 0; k < KW_MAX_OP_TENSORS; k++) kw_buffer_destroy(ctx, &bt[k]);
    kw_buffer_destroy(ctx, &bout);
    kw_buffer_destroy(ctx, &bscratch);
    kw_buffer_destroy(ctx, &bderived);
    if (r != KWVK_OK) {
        fail(env, c, "gpu", r);
        return;
    }
    /* a kw_assemble that writes [O, kh, kw, Cg]: back to the reference's [O, Cg, kh, kw] */
    if (vop.type == KW_OP_KW_ASSEMBLE && call.w_ohwi) {
        const uint64_t count = (uint64_t)n * vop.p[0] * vop.p[1] * vop.p[2] * vop.p[3];
        float *tmp = track(env, malloc(count * sizeof *tmp));
        memcpy(tmp, gpu, count * sizeof *tmp);
        swap_layout(gpu, tmp, n, vop.p[0], vop.p[1], (uint64_t)vop.p[2] * vop.p[3], false);
    }

    double max_abs = 0, max_ref = 0, max_rel = 0;
    bool finite = true;
    for (uint64_t i = 0; i < out_count; i++) {
        double d = fabs((double)gpu[i] - ref[i]);
        if (!isfinite(gpu[i])) finite = false;
        if (d > max_abs) max_abs = d;
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
        double rel = d / (fabs(ref[i]) > 1e-6 ? fabs(ref[i]) : 1e-6);
        if (rel > max_rel && fabs(ref[i]) > 1e-3) max_rel = rel;
    }
    bool guard_ok = true;
    for (uint64_t i = out_count; i < out_count + GUARD; i++) guard_ok &= gpu[i] == GUARD_VALUE;
    double bound = c->tol * (max_ref > 1 ? max_ref : 1);
    bool ok = finite && guard_ok && max_abs <= bound;
    printf("%s %-48s n=%u out=%ux%ux%u max_abs=%.3g max_rel=%.3g max|ref|=%.3g%s%s\n", ok ? "ok  " : "FAIL",
           c->label, n, out.c, out.h, out.w, max_abs, max_rel, max_ref, guard_ok ? "" : " GUARD OVERWRITTEN",
           finite ? "" : " NON-FINITE");
    if (ok) env->passed++;
    else env->failed++;
}
