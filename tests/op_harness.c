/* op_harness.c - see op_harness.h. */
#include "op_harness.h"
#include "op_table.h"
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
    /* a model around the op: its tensors, and values 0..2 (the inputs, fed from outside)
     * before it, value 3 its output */
    enum { OUT = KW_MAX_OP_INPUTS };
    kwvk_model m;
    memset(&m, 0, sizeof m);
    kw_tensor tensors[KW_MAX_OP_TENSORS];
    kw_op op = c->op;
    uint32_t nt = 0;
    for (int k = 0; k < KW_MAX_OP_TENSORS; k++) {
        if (op.tensors[k] == KW_NONE) continue;
        tensors[nt] = c->t[k];
        op.tensors[k] = nt++;
    }
    m.tensors = tensors;
    m.n_tensors = nt;
    op.n_inputs = 0;
    for (uint32_t k = 0; k < KW_MAX_OP_INPUTS; k++)
        if (op.inputs[k] != KW_NONE) {
            op.inputs[k] = k;
            op.n_inputs++;
        }
    char msg[256];
    if (!kw_op_load(&m, &op, OUT, msg, sizeof msg)) {
        printf("FAIL %-48s validate: %s\n", c->label, msg);
        env->failed++;
        return;
    }
    kw_shape shapes[OUT + 1];
    memcpy(shapes, c->in, sizeof c->in);
    if (!kw_op_infer(&op, c->in, &shapes[OUT], msg, sizeof msg)) {
        printf("FAIL %-48s infer: %s\n", c->label, msg);
        env->failed++;
        return;
    }
    const kw_shape out = shapes[OUT];
    uint32_t n = c->n;
    const float *x[KW_MAX_OP_INPUTS] = {NULL, NULL, NULL};
    for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
        if (op.inputs[k] != KW_NONE)
            x[k] = c->x[k] ? c->x[k] : oh_random(env, kw_shape_count(c->in[k]) * n, 1.0f);
    /* fp16 weights where the net would store them so (the op table's tensor_f16): the
     * reference sees them rounded (by the compiler's conversion, independent of the engine's
     * kw_f32_to_f16), the device gets the engine's fp16 bits */
    const bool want16 = c->w16 && ctx->feat.fp16_storage; /* else an fp32 case, as the net makes it */
    bool w16[KW_MAX_OP_TENSORS] = {false};
    kw_tensor rt[KW_MAX_OP_TENSORS]; /* the tensors as the reference sees them */
    const kw_tensor *tp[KW_MAX_OP_TENSORS] = {NULL};
    for (int k = 0; k < KW_MAX_OP_TENSORS; k++) {
        const uint32_t t = op.tensors[k];
        if (t == KW_NONE) continue;
        rt[t] = tensors[t];
        w16[t] = want16 && kw_op_tensor_f16(&op, (uint32_t)k);
        if (w16[t]) {
            float *wr = track(env, malloc(rt[t].count * sizeof *wr));
            for (uint64_t i = 0; i < rt[t].count; i++) wr[i] = (float)(_Float16)tensors[t].data[i];
            rt[t].data = wr;
        }
        tp[k] = &rt[t];
    }
    uint64_t out_count = kw_shape_count(out) * n;
    float *ref = track(env, malloc(out_count * sizeof *ref));
    float *gpu = track(env, malloc((out_count + GUARD) * sizeof *gpu));
    kw_ref_op(&op, tp, n, c->in, x, out, ref);

    /* device buffers: inputs, tensors, output (+ guard), scratch, derived weights */
    kw_buffer bv[OUT + 1], bt[KW_MAX_OP_TENSORS], bscratch, bderived;
    kw_view views[OUT + 1];
    memset(bv, 0, sizeof bv);
    memset(bt, 0, sizeof bt);
    memset(views, 0, sizeof views);
    memset(&bscratch, 0, sizeof bscratch);
    memset(&bderived, 0, sizeof bderived);
    /* a kernel input given as [O, kh, kw, Cg] where the case asks and the op takes it so (the
     * op table's kernel_in); a producer of kernels writes that layout where it can, as for a
     * net with such a reader (undone before comparing, below) */
    uint32_t in_ohwi = 0;
    kw_kernel_geom kg = {0, 0, 0, 0};
    const kw_op_def *def = kw_op_def_of(op.type);
    if (c->w_ohwi && op.type == KW_OP_CONV2D) { /* the kernel of this conv's geometry */
        kg = (kw_kernel_geom){(uint32_t)op.conv.O, (uint32_t)(op.conv.C / op.conv.G), (uint32_t)op.conv.kh,
                              (uint32_t)op.conv.kw};
        if (def->kernel_in && def->kernel_in(&op, 1, &kg)) in_ohwi = 2u;
    }
    kw_kernel_geom og;
    const bool out_ohwi = def->kernel_out && def->kernel_out(&op, &og);
    kwvk_result r = KWVK_OK;
    for (int k = 0; k < KW_MAX_OP_INPUTS && r == KWVK_OK; k++) {
        if (!x[k]) continue;
        uint64_t bytes = kw_shape_count(c->in[k]) * n * 4;
        const float *src = x[k];
        if (in_ohwi >> k & 1) { /* per-sample weights as [O, kh, kw, Cg] */
            float *t = track(env, malloc(bytes));
            swap_layout(t, x[k], n, kg.O, kg.Cg, (uint64_t)kg.kh * kg.kw, true);
            src = t;
        }
        r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bv[k]);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bv[k], 0, src, bytes);
        views[k] = kw_view_of(&bv[k], 0, bytes);
    }
    for (uint32_t t = 0; t < nt && r == KWVK_OK; t++) {
        if (w16[t]) {
            uint64_t bytes = tensors[t].count * 2;
            uint16_t *h = track(env, malloc(bytes + 2));
            kw_f32_to_f16(h, tensors[t].data, tensors[t].count);
            r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bt[t]);
            if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bt[t], 0, h, bytes);
            continue;
        }
        uint64_t bytes = tensors[t].count * 4;
        r = kw_buffer_create(ctx, bytes, KW_MEM_DEVICE, &bt[t]);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bt[t], 0, tensors[t].data, bytes);
    }
    /* derived weights, as kwvk_net_create makes them (e.g. Winograd convs) */
    const uint64_t derived = r == KWVK_OK ? kw_op_derived_count(ctx, &op, want16) : 0;
    if (derived) {
        float *u = track(env, malloc(derived * 4));
        kw_op_derive(&op, tp, u);
        r = kw_buffer_create(ctx, derived * 4, KW_MEM_DEVICE, &bderived);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &bderived, 0, u, derived * 4);
    }
    if (r == KWVK_OK) r = kw_buffer_create(ctx, (out_count + GUARD) * 4, KW_MEM_DEVICE, &bv[OUT]);
    if (r == KWVK_OK) {
        for (uint64_t i = 0; i < out_count + GUARD; i++) gpu[i] = GUARD_VALUE;
        r = kw_buffer_upload(ctx, &bv[OUT], 0, gpu, (out_count + GUARD) * 4);
        views[OUT] = kw_view_of(&bv[OUT], 0, out_count * 4);
    }
    /* the call, built as the net builds it */
    kw_op_call call;
    kw_op_call_make(&call, &op,
                    &(kw_op_operands){.n = n,
                                      .values = shapes,
                                      .vvalues = views,
                                      .out = OUT,
                                      .tensors = tensors,
                                      .weights = bt,
                                      .w16 = w16,
                                      .derived = &bderived,
                                      .out_ohwi = out_ohwi,
                                      .in_ohwi = in_ohwi});
    const uint64_t scratch = kw_op_scratch(ctx, &call);
    if (r == KWVK_OK && scratch) {
        r = kw_buffer_create(ctx, scratch, KW_MEM_DEVICE, &bscratch);
        call.scratch = kw_view_of(&bscratch, 0, scratch);
    }
    kw_rec rec;
    memset(&rec, 0, sizeof rec);
    if (r == KWVK_OK) r = kw_rec_begin(ctx, &rec, 0);
    if (r == KWVK_OK) r = kw_op_record(&rec, &call);
    if (r == KWVK_OK) r = kw_rec_end(&rec);
    if (r == KWVK_OK) r = kw_submit_wait(ctx, rec.cmd);
    if (r == KWVK_OK) r = kw_buffer_download(ctx, &bv[OUT], 0, gpu, (out_count + GUARD) * 4);
    kw_rec_release(&rec);
    for (int k = 0; k <= OUT; k++) kw_buffer_destroy(ctx, &bv[k]);
    for (int k = 0; k < KW_MAX_OP_TENSORS; k++) kw_buffer_destroy(ctx, &bt[k]);
    kw_buffer_destroy(ctx, &bscratch);
    kw_buffer_destroy(ctx, &bderived);
    if (r != KWVK_OK) {
        fail(env, c, "gpu", r);
        return;
    }
    /* an output written as [O, kh, kw, Cg]: back to the reference's [O, Cg, kh, kw] */
    if (out_ohwi) {
        const uint64_t count = (uint64_t)n * og.O * og.Cg * og.kh * og.kw;
        float *tmp = track(env, malloc(count * sizeof *tmp));
        memcpy(tmp, gpu, count * sizeof *tmp);
        swap_layout(gpu, tmp, n, og.O, og.Cg, (uint64_t)og.kh * og.kw, false);
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

int oh_conv_dispatches(oh_env *env, const oh_conv_call *c)
{
    kw_ctx *ctx = oh_ctx(env);
    const kw_op *op = c->op;
    const uint32_t O = (uint32_t)op->conv.O;
    kw_op_call call;
    memset(&call, 0, sizeof call);
    call.op = op;
    call.n = c->n;
    call.in[0] = c->in;
    call.out = c->out;
    if (c->res) call.in[2] = call.out;
    const uint64_t xb = kw_shape_count(c->in) * c->n * 4, yb = kw_shape_count(c->out) * c->n * 4;
    uint64_t wb = c->weights * 4 * (c->dyn ? c->n : 1), peer_wh = 0;
    if (op->kw_peer) { /* the warehouse the pairing would read: never run, so the weights' buffer */
        const kw_assemble_params *a = &op->kw_peer->assemble;
        peer_wh = (uint64_t)a->M * a->co * a->ci * a->ckh * a->ckw * 4;
        if (wb < peer_wh) wb = peer_wh;
    }
    const uint64_t ub = kw_wino_weights_count(op) * 4;
    kw_buffer b[8]; /* x, y, weights, scale, bias, residual, transformed weights, scratch */
    memset(b, 0, sizeof b);
    if (!c->gemm_only && kw_wino_static_weights(ctx, op, false)) call.derived = kw_view_of(&b[6], 0, ub);
    const uint64_t sb = kw_op_scratch(ctx, &call); /* from the shapes, as the net plans it */
    const uint64_t sizes[8] = {xb, yb, wb, 4ull * O, 4ull * O, yb, ub ? ub : 4, sb ? sb : 4};
    kwvk_result r = KWVK_OK;
    for (int i = 0; i < 8 && r == KWVK_OK; i++)
        r = kw_buffer_create(ctx, sizes[i], KW_MEM_DEVICE, &b[i]);
    call.vin[0] = kw_view_of(&b[0], 0, xb);
    call.vout = kw_view_of(&b[1], 0, yb);
    if (c->dyn) {
        call.in[1] = (kw_shape){(uint32_t)c->weights, 1, 1};
        call.vin[1] = kw_view_of(&b[2], 0, c->weights * 4 * c->n);
    } else {
        call.vt[0] = kw_view_of(&b[2], 0, c->weights * 4);
    }
    if (c->scale) call.vt[1] = kw_view_of(&b[3], 0, 4ull * O);
    if (c->bias) call.vt[2] = kw_view_of(&b[4], 0, 4ull * O);
    if (c->res) call.vin[2] = kw_view_of(&b[5], 0, yb);
    if (sb) call.scratch = kw_view_of(&b[7], 0, sb);
    if (peer_wh) call.peer_wh = kw_view_of(&b[2], 0, peer_wh);
    kw_rec rec;
    memset(&rec, 0, sizeof rec);
    if (r == KWVK_OK) r = kw_rec_begin(ctx, &rec, 0);
    bool done = true;
    if (r == KWVK_OK) r = c->gemm_only ? kw_pw_record(&rec, &call, &done) : kw_op_record(&rec, &call);
    int n = r != KWVK_OK ? -1 : done ? (int)rec.n_dispatches : 0;
    if (r != KWVK_OK) printf("record failed: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
    if (!done && rec.n_dispatches) n = -1; /* recorded something, yet left the conv */
    kw_rec_release(&rec);
    for (int i = 0; i < 8; i++)
        kw_buffer_destroy(ctx, &b[i]);
    return n;
}
