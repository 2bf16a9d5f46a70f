/* ops_norm.c - the layernorm op (LayerNorm over the channels of an NCHW value, layernorm.comp):
 * its op table entry (decode, validation, shape inference, recording). The KW attention's multi-dispatch path uses the
 * same dispatch for its LayerNorm hidden norm (kw_layernorm_dispatch). */
#include "internal.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

#define BAD KW_BAD

float kw_param_f32(int32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* params: 0 C, 1 eps (float32 bits, in (0, 1)); tensor 0 [2, C] (weight, bias); input [x]. */
static void layernorm_decode(kw_op *op)
{
    op->ln = (kw_layernorm_params){.C = op->p[0], .eps = kw_param_f32(op->p[1])};
}

static bool layernorm_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    const int32_t C = op->ln.C;
    const float eps = op->ln.eps;
    if (!kw_in_range(C, 1, 65536)) return BAD("channels %d out of range 1..65536", C);
    if (!(eps > 0.0f && eps < 1.0f)) return BAD("eps %g out of range (0, 1)", (double)eps);
    if (!kw_check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
    uint32_t d[2] = {2, (uint32_t)C};
    if (!kw_check_tensor(m, op, 0, true, 2, d, "weight and bias", msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 1, msg, msg_len);
}

static bool layernorm_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    if (in[0].c != (uint32_t)op->ln.C) return BAD("layernorm expects %d channels, got %u", op->ln.C, in[0].c);
    *out = in[0];
    return true;
}

typedef struct ln_push {
    uint32_t npix, hw, C, x_base, w_base, b_base, y_base, groups_x;
    float eps;
} ln_push;

kwvk_result kw_layernorm_dispatch(kw_rec *rec, kw_view x, kw_view w, kw_view b, kw_view y, uint32_t n, uint32_t C,
                                  uint32_t hw, float eps, uint32_t act)
{
    kw_ctx *ctx = rec->ctx;
    const uint32_t spec[1] = {act};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "layernorm", spec, 1, &pipe));
    /* whole samples per dispatch, as many as one binding holds */
    const uint64_t sample = (uint64_t)C * hw * 4, lim = kw_bind_limit(ctx);
    if (sample > lim)
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "layernorm: one sample of %llu bytes exceeds the storage range limit %llu",
                       (unsigned long long)sample, (unsigned long long)ctx->max_storage_range);
    const uint32_t *glim = ctx->props.limits.maxComputeWorkGroupCount;
    uint64_t per = lim / sample;
    const uint64_t max_pix = (uint64_t)glim[0] * glim[1] * 64;
    if (per * hw > max_pix) per = max_pix / hw;
    if (per == 0) return kw_fail(KWVK_ERROR_UNSUPPORTED, "layernorm: a plane of %u pixels is too large", hw);
    for (uint64_t s0 = 0; s0 < n; s0 += per) {
        const uint64_t ns = n - s0 < per ? n - s0 : per;
        ln_push pc = {(uint32_t)(ns * hw), hw, C, 0, 0, 0, 0, 0, eps};
        kw_view v[4];
        KW_TRY(kw_view_sub(ctx, x, s0 * sample, ns * sample, &v[0], &pc.x_base));
        KW_TRY(kw_view_sub(ctx, w, 0, (uint64_t)C * 4, &v[1], &pc.w_base));
        KW_TRY(kw_view_sub(ctx, b, 0, (uint64_t)C * 4, &v[2], &pc.b_base));
        KW_TRY(kw_view_sub(ctx, y, s0 * sample, ns * sample, &v[3], &pc.y_base));
        const uint32_t groups = kw_div_up(pc.npix, 64);
        pc.groups_x = groups < glim[0] ? groups : glim[0];
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 4, 8u, &pc, sizeof pc, pc.groups_x, kw_div_up(groups, pc.groups_x), 1));
    }
    return KWVK_OK;
}

static kwvk_result layernorm_record(kw_rec *rec, const kw_op_call *call)
{
    if (!call->vin[0].buf || !call->vout.buf || !call->vt[0].buf)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "layernorm: missing input, output or weight view");
    if (call->n == 0) return KWVK_OK;
    const uint32_t C = call->in[0].c;
    const kw_view wb = call->vt[0];
    const kw_view b = kw_view_of(wb.buf, wb.offset + (uint64_t)C * 4, (uint64_t)C * 4);
    return kw_layernorm_dispatch(rec, call->vin[0], wb, b, call->vout, call->n, C, call->in[0].h * call->in[0].w,
                                 call->op->ln.eps, KW_ACT_NONE);
}

const kw_op_def kw_op_layernorm_def = {
    .name = "layernorm",
    .kind = KWVK_KIND_OTHER,
    .decode = layernorm_decode,
    .validate = layernorm_validate,
    .infer = layernorm_infer,
    .record = layernorm_record,
};
