/* ops_misc.c - recorders of the small ops: max / average pooling, global average pooling,
 * add and softmax. Each splits its work so that every binding stays within
 * ctx->max_storage_range (along planes or elements) and every grid within
 * maxComputeWorkGroupCount. */
#include "internal.h"
#include "ops.h"

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

kwvk_result kw_pool2d_record(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    const int32_t *p = call->op->p;
    const bool is_max = call->op->type == KW_OP_MAXPOOL2D;
    const uint32_t spec[3] = {(uint32_t)p[0], (uint32_t)p[1], is_max ? 0u : (p[7] ? 2u : 1u)};
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

    pool_push pc = {in.h, in.w, out.h, out.w, (uint32_t)p[2], (uint32_t)p[3], (uint32_t)p[4], (uint32_t)p[5], 0, 0, 0, gx};
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

kwvk_result kw_global_avgpool_record(kw_rec *rec, const kw_op_call *call)
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

kwvk_result kw_add_record(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    const uint32_t spec[1] = {(uint32_t)call->op->p[0]};
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

kwvk_result kw_softmax_record(kw_rec *rec, const kw_op_call *call)
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
