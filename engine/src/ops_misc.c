/* ops_misc.c - recorders of the small ops: max / average pooling, global average pooling,
 * add and softmax. Each splits its work so that every binding stays within
 * ctx->max_storage_range (along planes or elements) and every grid within
 * maxComputeWorkGroupCount. */
#include "ops.h"

#include <stdio.h>

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Units (planes, samples, element blocks) per dispatch, when one unit takes bytes_a bytes of
 * one binding and bytes_b of another: the larger times the count must fit a binding. */
static kwvk_result units_fit(const kw_ctx *ctx, const char *what, uint64_t bytes_a, uint64_t bytes_b,
                             uint32_t *units)
{
    const uint64_t lim = kw_bind_limit(ctx);
    const uint64_t big = bytes_a > bytes_b ? bytes_a : bytes_b;
    if (big > lim)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "%s: one %llu-byte slice exceeds the storage range limit %llu", what,
                       (unsigned long long)big, (unsigned long long)ctx->max_storage_range);
    uint64_t k = lim / (big ? big : 1);
    *units = k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Pooling                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct pool_push {
    uint32_t H, W, OH, OW, sh, sw, ph, pw, x_base, y_base, plane0, groups_x;
} pool_push;

static kwvk_result pool2d_record(kw_rec *rec, const kw_op_call *call, bool is_max)
{
    kw_ctx *ctx = rec->ctx;
    const kw_pool2d_params *pp = &call->op->pool;
    const uint32_t spec[3] = {(uint32_t)pp->kh, (uint32_t)pp->kw, is_max ? 0u : (pp->include_pad ? 2u : 1u)};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "pool2d", spec, 3, &pipe));

    const kw_shape in = call->in[0], out = call->out;
    const uint64_t xplane = (uint64_t)in.h * in.w * 4, yplane = (uint64_t)out.h * out.w * 4;
    const uint32_t planes = call->n * in.c;
    uint32_t per = 0;
    KW_TRY(units_fit(ctx, "pool2d", xplane, yplane, &per));
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    const uint32_t groups = kw_div_up(out.h * out.w, 64);
    const uint32_t gx = min_u32(groups, lim[0]), gy = kw_div_up(groups, gx);
    if (gy > lim[1]) return kw_fail(KWVK_ERROR_UNSUPPORTED, "pool2d: output plane of %u pixels too large", out.h * out.w);

    pool_push pc = {in.h, in.w, out.h, out.w, (uint32_t)pp->sh, (uint32_t)pp->sw, (uint32_t)pp->ph, (uint32_t)pp->pw,
                    0, 0, 0, gx};
    for (uint32_t q0 = 0; q0 < planes; q0 += per) {
        const uint32_t nq = min_u32(per, planes - q0);
        kw_view v[2];
        KW_TRY(kw_view_sub(ctx, call->vin[0], q0 * xplane, nq * xplane, &v[0], &pc.x_base));
        KW_TRY(kw_view_sub(ctx, call->vout, q0 * yplane, nq * yplane, &v[1], &pc.y_base));
        for (uint32_t z0 = 0; z0 < nq; z0 += lim[2]) {
            pc.plane0 = z0;
            KW_TRY(kw_rec_dispatch(rec, pipe, v, 2, 2u, &pc, sizeof pc, gx, gy, min_u32(lim[2], nq - z0)));
        }
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Global average pooling                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct gap_push {
    uint32_t hw, planes, x_base, y_base;
} gap_push;

/* Planes up to this size are summed by one invocation each; larger ones by a workgroup. */
#define GAP_LANE_MAX 256u

static kwvk_result global_avgpool_record(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    const uint32_t hw = call->in[0].h * call->in[0].w;
    const uint32_t mode = hw <= GAP_LANE_MAX ? 0u : 1u;
    const uint32_t spec[2] = {mode, ctx->feat.subgroup_arithmetic ? 1u : 0u};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "global_avgpool", spec, 2, &pipe));

    const uint32_t planes = call->n * call->in[0].c;
    uint32_t per = 0;
    KW_TRY(units_fit(ctx, "global_avgpool", (uint64_t)hw * 4, 4, &per));
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    for (uint32_t q0 = 0; q0 < planes; q0 += per) {
        const uint32_t nq = min_u32(per, planes - q0);
        gap_push pc = {hw, nq, 0, 0};
        kw_view v[2];
        KW_TRY(kw_view_sub(ctx, call->vin[0], (uint64_t)q0 * hw * 4, (uint64_t)nq * hw * 4, &v[0], &pc.x_base));
        KW_TRY(kw_view_sub(ctx, call->vout, (uint64_t)q0 * 4, (uint64_t)nq * 4, &v[1], &pc.y_base));
        /* workgroups: one per 64 planes (mode 0) or per plane (mode 1), on a 2D grid */
        const uint32_t groups = mode == 0 ? kw_div_up(nq, 64) : nq;
        const uint32_t gx = min_u32(groups, lim[0]);
        const uint32_t gy = kw_div_up(groups, gx);
        if (gy > lim[1]) return kw_fail(KWVK_ERROR_UNSUPPORTED, "global_avgpool: %u planes too many", nq);
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 2, 2u, &pc, sizeof pc, gx, gy, 1));
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Add                                                                                      */
/* ---------------------------------------------------------------------------------------- */

typedef struct add_push {
    uint32_t count, a_base, b_base, y_base, groups_x;
} add_push;

static kwvk_result add_record(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    const uint32_t spec[1] = {(uint32_t)call->op->add.act};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "add", spec, 1, &pipe));

    const uint64_t total = (uint64_t)call->n * kw_shape_count(call->out);
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    uint32_t per = 0;
    KW_TRY(units_fit(ctx, "add", 1024, 0, &per)); /* in blocks of 256 elements */
    uint64_t max_groups = (uint64_t)lim[0] * lim[1];
    if (per > max_groups) per = (uint32_t)max_groups;
    const uint64_t chunk = (uint64_t)per * 256;
    for (uint64_t e0 = 0; e0 < total; e0 += chunk) {
        const uint64_t ne = total - e0 < chunk ? total - e0 : chunk;
        add_push pc = {(uint32_t)ne, 0, 0, 0, 0};
        kw_view v[3];
        KW_TRY(kw_view_sub(ctx, call->vin[0], e0 * 4, ne * 4, &v[0], &pc.a_base));
        KW_TRY(kw_view_sub(ctx, call->vin[1], e0 * 4, ne * 4, &v[1], &pc.b_base));
        KW_TRY(kw_view_sub(ctx, call->vout, e0 * 4, ne * 4, &v[2], &pc.y_base));
        const uint32_t groups = (uint32_t)((ne + 255) / 256);
        pc.groups_x = min_u32(groups, lim[0]);
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 3, 4u, &pc, sizeof pc, pc.groups_x, kw_div_up(groups, pc.groups_x), 1));
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Softmax                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct softmax_push {
    uint32_t C, x_base, y_base, sample0;
} softmax_push;

static kwvk_result softmax_record(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    const uint32_t spec[1] = {ctx->feat.subgroup_arithmetic ? 1u : 0u};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "softmax", spec, 1, &pipe));

    const uint32_t C = call->in[0].c;
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    uint32_t per = 0;
    KW_TRY(units_fit(ctx, "softmax", (uint64_t)C * 4, 0, &per));
    for (uint32_t s0 = 0; s0 < call->n; s0 += per) {
        const uint32_t ns = min_u32(per, call->n - s0);
        softmax_push pc = {C, 0, 0, 0};
        kw_view v[2];
        KW_TRY(kw_view_sub(ctx, call->vin[0], (uint64_t)s0 * C * 4, (uint64_t)ns * C * 4, &v[0], &pc.x_base));
        KW_TRY(kw_view_sub(ctx, call->vout, (uint64_t)s0 * C * 4, (uint64_t)ns * C * 4, &v[1], &pc.y_base));
        for (uint32_t g0 = 0; g0 < ns; g0 += lim[0]) {
            pc.sample0 = g0;
            KW_TRY(kw_rec_dispatch(rec, pipe, v, 2, 2u, &pc, sizeof pc, min_u32(lim[0], ns - g0), 1, 1));
        }
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The op table entries                                                                     */
/* ---------------------------------------------------------------------------------------- */

#define BAD KW_BAD

/* params: 0 kh, 1 kw, 2 sh, 3 sw, 4 ph, 5 pw, 6 ceil_mode, 7 count_include_pad (average) */
static void pool2d_decode(kw_op *op)
{
    const int32_t *p = op->p;
    op->pool = (kw_pool2d_params){.kh = p[0], .kw = p[1], .sh = p[2], .sw = p[3], .ph = p[4], .pw = p[5],
                                  .ceil_mode = p[6], .include_pad = p[7]};
}

static bool pool2d_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    (void)m;
    const kw_pool2d_params *pp = &op->pool;
    if (!kw_in_range(pp->kh, 1, 15) || !kw_in_range(pp->kw, 1, 15)) return BAD("pool kernel out of range");
    if (!kw_in_range(pp->sh, 1, 15) || !kw_in_range(pp->sw, 1, 15)) return BAD("pool stride out of range");
    if (!kw_in_range(pp->ph, 0, pp->kh / 2) || !kw_in_range(pp->pw, 0, pp->kw / 2))
        return BAD("pool padding %dx%d exceeds half the kernel", pp->ph, pp->pw);
    if (!kw_in_range(pp->ceil_mode, 0, 1) || !kw_in_range(pp->include_pad, 0, 1)) return BAD("pool flags out of range");
    if (!kw_check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 0, msg, msg_len);
}

static bool pool_out(uint32_t in, int k, int s, int pad, int ceil_mode, uint32_t *out)
{
    int64_t num = (int64_t)in + 2 * pad - k;
    if (num < 0) return false;
    int64_t o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    /* PyTorch: the last window must start inside the input or the left padding */
    if (ceil_mode && (o - 1) * s >= (int64_t)in + pad) o--;
    *out = (uint32_t)o;
    return true;
}

static bool pool2d_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    const kw_pool2d_params *pp = &op->pool;
    out->c = in[0].c;
    if (!pool_out(in[0].h, pp->kh, pp->sh, pp->ph, pp->ceil_mode, &out->h) ||
        !pool_out(in[0].w, pp->kw, pp->sw, pp->pw, pp->ceil_mode, &out->w))
        return BAD("pool input %ux%u is smaller than its kernel", in[0].h, in[0].w);
    return true;
}

static kwvk_result maxpool2d_record(kw_rec *rec, const kw_op_call *call) { return pool2d_record(rec, call, true); }
static kwvk_result avgpool2d_record(kw_rec *rec, const kw_op_call *call) { return pool2d_record(rec, call, false); }

const kw_op_def kw_op_maxpool2d_def = {
    .name = "maxpool2d",
    .kind = KWVK_KIND_OTHER,
    .decode = pool2d_decode,
    .validate = pool2d_validate,
    .infer = pool2d_infer,
    .record = maxpool2d_record,
};

const kw_op_def kw_op_avgpool2d_def = {
    .name = "avgpool2d",
    .kind = KWVK_KIND_OTHER,
    .decode = pool2d_decode,
    .validate = pool2d_validate,
    .infer = pool2d_infer,
    .record = avgpool2d_record,
};

/* one input, no parameters, no tensors */
static bool unary_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    (void)m;
    if (!kw_check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 0, msg, msg_len);
}

static bool global_avgpool_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    (void)op, (void)msg, (void)msg_len;
    out->c = in[0].c;
    out->h = out->w = 1;
    return true;
}

const kw_op_def kw_op_global_avgpool_def = {
    .name = "global_avgpool",
    .kind = KWVK_KIND_OTHER,
    .validate = unary_validate,
    .infer = global_avgpool_infer,
    .record = global_avgpool_record,
};

/* params: 0 activation */
static void add_decode(kw_op *op) { op->add = (kw_add_params){.act = op->p[0]}; }

static bool add_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    (void)m;
    if (!kw_in_range(op->add.act, 0, 2)) return BAD("activation %d unknown", op->add.act);
    if (!kw_check_inputs(op, index, 3u, 0u, msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 0, msg, msg_len);
}

static bool add_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    (void)op;
    if (in[0].c != in[1].c || in[0].h != in[1].h || in[0].w != in[1].w)
        return BAD("add of shapes %ux%ux%u and %ux%ux%u", in[0].c, in[0].h, in[0].w, in[1].c, in[1].h, in[1].w);
    *out = in[0];
    return true;
}

const kw_op_def kw_op_add_def = {
    .name = "add",
    .kind = KWVK_KIND_OTHER,
    .decode = add_decode,
    .validate = add_validate,
    .infer = add_infer,
    .record = add_record,
};

static bool softmax_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    (void)op;
    if (in[0].h != 1 || in[0].w != 1)
        return BAD("softmax needs a [C,1,1] input, got %ux%ux%u", in[0].c, in[0].h, in[0].w);
    *out = in[0];
    return true;
}

const kw_op_def kw_op_softmax_def = {
    .name = "softmax",
    .kind = KWVK_KIND_OTHER,
    .validate = unary_validate,
    .infer = softmax_infer,
    .record = softmax_record,
};
