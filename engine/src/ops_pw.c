/* ops_pw.c - 1x1 (pointwise) convolutions as a register-tiled GEMM per sample
 * (shaders/conv_pw.glsl): no padding, one group, fp32 weights, static or per sample (KW),
 * any fused epilogue. Y[n][o][p] = sum_c W[o][c] X[n][c][p] over the flattened plane,
 * 8 output channels x 16 pixels per invocation, X and W read in place as vec4s (funnelled
 * where a row or plane does not start on a vec4, e.g. 7x7 planes), through uniform texel
 * buffers where available (conv_pw_tb) and storage buffers otherwise (conv_pw, also with
 * KWVK_FORCE_FALLBACKS=texel). No weight packing. A strided conv (the ResNet downsample)
 * first copies the input pixels it reads into the op's scratch (conv_pw_sub, a pass over a
 * quarter of the input for stride 2) and runs the same GEMM on that copy.
 *
 * Selection (KWVK_PW, ctx->pw): 0 never; 1 every eligible conv; otherwise the rule of
 * pw_selected. Batches are split along samples so that every binding stays within one
 * binding (kw_bind_limit) and, for texel views, within ctx->max_texel_elements; a conv whose
 * single sample does not fit is left to the direct path, which also splits channels. */
#include "ops.h"

#include <string.h>

#define PW_LANES 64u
#define PW_TO    8u  /* output channels per invocation */
#define PW_TT    16u /* pixels per invocation */
/* shader flags beside KW_EPI_* (conv_pw.glsl) */
#define PW_PLANE4 256u
#define PW_ROW4   512u

/* Shape-only eligibility (the planner has no views yet): 1x1, unpadded, one group. */
static bool pw_eligible(const kw_op *op)
{
    const kw_conv2d_params *c = &op->conv;
    return op->type == KW_OP_CONV2D && (op->inputs[1] != KW_NONE || op->tensors[0] != KW_NONE) && c->kh == 1 &&
           c->kw == 1 && c->ph == 0 && c->pw == 0 && c->G == 1;
}

static bool pw_selected(const kw_ctx *ctx, const kw_op *op)
{
    if (!pw_eligible(op)) return false;
    if (ctx->pw >= 0) return ctx->pw == 1; /* KWVK_PW=0 / 1 */
    return true;
}

/* Push block of conv_pw.glsl. */
typedef struct pw_push {
    uint32_t C, HW, O, ntb, n_inv, groups_x;
    uint32_t x_base, x_stride, x_last;
    uint32_t w_base, w_stride, w_last;
    uint32_t s_base, b_base, r_base, y_base, y_stride;
} pw_push;
_Static_assert(sizeof(pw_push) <= KW_PUSH_BYTES, "pw push block too large");

/* The bytes [off, off + bytes) of `whole` as a binding read as vec4s: its size rounded up to
 * 16 bytes (the shader's last vec4 may reach past the range; kw_buffer_create rounds buffers
 * to 16 bytes, and pw_views_fit checked the room); *last gets the binding's last vec4. */
static kwvk_result vec4_view(const kw_ctx *ctx, kw_view whole, uint64_t off, uint64_t bytes, kw_view *out,
                             uint32_t *elem, uint32_t *last)
{
    KW_TRY(kw_view_sub(ctx, whole, off, bytes, out, elem));
    out->size = (out->size + 15) & ~(uint64_t)15;
    if (last) *last = (uint32_t)(out->size / 16 - 1);
    return KWVK_OK;
}

/* Can the views of `whole` be rounded up to 16 bytes within its buffer? */
static bool room16(kw_view whole)
{
    const uint64_t end = whole.offset + (whole.size ? whole.size : whole.buf->size - whole.offset);
    return ((end + 15) & ~(uint64_t)15) <= whole.buf->size;
}

/* A 2D grid of PW_LANES-lane workgroups for `inv` invocations; false if over the limits. */
static bool grid(const kw_ctx *ctx, uint64_t inv, uint32_t *gx, uint32_t *gy)
{
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    const uint64_t groups = (inv + PW_LANES - 1) / PW_LANES;
    if (inv > UINT32_MAX || groups == 0) return false;
    *gx = groups < lim[0] ? (uint32_t)groups : lim[0];
    const uint64_t y = (groups + *gx - 1) / *gx;
    if (y > lim[1]) return false;
    *gy = (uint32_t)y;
    return true;
}

/* The most samples (up to k) of `per` bytes each that fit `lim` bytes. */
static uint64_t fit(uint64_t k, uint64_t per, uint64_t lim)
{
    return per && lim / per < k ? lim / per : k;
}

/* How a call runs: samples per chunk, texel or storage buffers, the GEMM's grid; from the
 * shapes and the device limits only, so that the scratch planned before any view exists
 * matches the recording. */
typedef struct pw_plan {
    uint32_t C, O, HW, ntb, gx, gy, sgx, sgy;
    uint64_t k, xs_src, xs, ys, ws, n_inv;
    bool dyn, strided, texel;
} pw_plan;

/* The subsampled input of a strided conv lives in the scratch, a chunk at a time: at most
 * PW_CHUNK_BYTES (and one sample) whatever the batch. */
#define PW_CHUNK_BYTES (64ull << 20)

static bool plan(const kw_ctx *ctx, const kw_op_call *call, pw_plan *pl)
{
    const kw_op *op = call->op;
    memset(pl, 0, sizeof *pl);
    if (!pw_selected(ctx, op) || call->n == 0 || kw_shape_count(call->out) == 0) return false;
    pl->dyn = op->inputs[1] != KW_NONE;
    pl->strided = op->conv.sh != 1 || op->conv.sw != 1;
    pl->C = (uint32_t)op->conv.C;
    pl->O = (uint32_t)op->conv.O;
    pl->HW = call->out.h * call->out.w;
    pl->xs_src = kw_shape_count(call->in[0]) * 4;
    pl->xs = (uint64_t)pl->C * pl->HW * 4;
    pl->ys = (uint64_t)pl->O * pl->HW * 4;
    pl->ws = (uint64_t)pl->O * pl->C * 4;
    /* samples per dispatch: every binding within one binding's limit (less the 16 bytes of
     * rounding), texel views within max_texel_elements */
    const uint64_t lim = kw_bind_limit(ctx) > 16 ? kw_bind_limit(ctx) - 16 : 0;
    const uint64_t talign = ctx->props.limits.minTexelBufferOffsetAlignment;
    const uint64_t tlim = ctx->max_texel_elements * 16 > talign + 16 ? ctx->max_texel_elements * 16 - talign - 16 : 0;
    pl->texel = ctx->feat.texel_buffers && pl->xs <= tlim && pl->ws <= tlim;
    const uint64_t blim = pl->texel && tlim < lim ? tlim : lim;
    uint64_t k = call->n;
    k = fit(k, pl->xs, blim);
    k = fit(k, pl->ys, lim);
    if (pl->dyn) k = fit(k, pl->ws, blim);
    if (pl->strided) {
        k = fit(k, pl->xs_src, lim);
        if (k > 1) k = fit(k, pl->xs, PW_CHUNK_BYTES);
    }
    if (k > ctx->props.limits.maxComputeWorkGroupCount[2]) k = ctx->props.limits.maxComputeWorkGroupCount[2];
    if (k == 0 || pl->ws > blim) return false; /* the direct path splits further */
    pl->k = k;
    pl->ntb = kw_div_up(pl->HW, PW_TT);
    pl->n_inv = (uint64_t)kw_div_up(pl->O, PW_TO) * pl->ntb;
    if (!grid(ctx, pl->n_inv, &pl->gx, &pl->gy)) return false;
    if (pl->strided && !grid(ctx, pl->xs / 4, &pl->sgx, &pl->sgy)) return false;
    return true;
}

uint64_t kw_pw_scratch(const kw_ctx *ctx, const kw_op_call *call)
{
    pw_plan pl;
    return plan(ctx, call, &pl) && pl.strided ? pl.k * pl.xs : 0;
}

/* Subsample samples [s0, s0 + nb) of a strided conv's input into the scratch. */
static kwvk_result record_sub(kw_rec *rec, const kw_op_call *call, const pw_plan *pl, uint32_t s0, uint32_t nb)
{
    kw_ctx *ctx = rec->ctx;
    struct {
        uint32_t H, W, OH, OW, sh, sw, x_base, x_stride, y_base, y_stride, n_inv, groups_x;
    } pc = {call->in[0].h,
            call->in[0].w,
            call->out.h,
            call->out.w,
            (uint32_t)call->op->conv.sh,
            (uint32_t)call->op->conv.sw,
            0,
            (uint32_t)(pl->xs_src / 4),
            0,
            (uint32_t)(pl->xs / 4),
            (uint32_t)(pl->xs / 4),
            pl->sgx};
    kw_view v[2];
    KW_TRY(kw_view_sub(ctx, call->vin[0], s0 * pl->xs_src, nb * pl->xs_src, &v[0], &pc.x_base));
    KW_TRY(kw_view_sub(ctx, call->scratch, 0, nb * pl->xs, &v[1], &pc.y_base));
    const uint32_t spec[1] = {PW_LANES};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "conv_pw_sub", spec, 1, &pipe));
    return kw_rec_dispatch(rec, pipe, v, 2, 1u << 1, &pc, sizeof pc, pl->sgx, pl->sgy, nb);
}

kwvk_result kw_pw_record(kw_rec *rec, const kw_op_call *call, bool *done)
{
    kw_ctx *ctx = rec->ctx;
    const kw_op *op = call->op;
    *done = false;
    pw_plan pl;
    if (!plan(ctx, call, &pl)) return KWVK_OK;
    const bool dyn = pl.dyn, res = op->inputs[2] != KW_NONE;
    const kw_view wv = dyn ? call->vin[1] : call->vt[0];
    if (!wv.buf || wv.f16) return KWVK_OK; /* fp16 weights: conv2d_h */
    /* the GEMM's input: the conv's, or its subsampled copy in the scratch */
    const kw_view xv = pl.strided ? call->scratch : call->vin[0];
    if (!xv.buf || (pl.strided && call->scratch.size < pl.k * pl.xs)) return KWVK_OK; /* not planned */
    if (!room16(xv) || !room16(wv)) return KWVK_OK;
    const uint32_t C = pl.C, O = pl.O, HW = pl.HW;
    const uint64_t xs = pl.xs, ys = pl.ys, ws = pl.ws, k = pl.k;
    *done = true;

    for (uint32_t s0 = 0; s0 < call->n; s0 += (uint32_t)k) {
        const uint32_t nb = call->n - s0 < k ? call->n - s0 : (uint32_t)k;
        pw_push pc = {0};
        kw_view v[6];
        if (pl.strided) KW_TRY(record_sub(rec, call, &pl, s0, nb));
        KW_TRY(vec4_view(ctx, xv, pl.strided ? 0 : s0 * xs, nb * xs, &v[0], &pc.x_base, &pc.x_last));
        if (dyn)
            KW_TRY(vec4_view(ctx, wv, s0 * ws, nb * ws, &v[1], &pc.w_base, &pc.w_last));
        else
            KW_TRY(vec4_view(ctx, wv, 0, ws, &v[1], &pc.w_base, &pc.w_last));
        KW_TRY(kw_view_sub(ctx, call->vout, s0 * ys, nb * ys, &v[5], &pc.y_base));
        /* absent optional inputs: bind a small read-only range of X (never read) */
        v[2] = v[3] = v[4] = kw_view_of(v[0].buf, v[0].offset, 16);
        if (op->tensors[1] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vt[1], 0, O * 4ull, &v[2], &pc.s_base));
        if (op->tensors[2] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vt[2], 0, O * 4ull, &v[3], &pc.b_base));
        if (res) KW_TRY(kw_view_sub(ctx, call->vin[2], s0 * ys, nb * ys, &v[4], &pc.r_base));
        if (pl.texel) v[0].texel = v[1].texel = 16;
        pc.C = C;
        pc.HW = HW;
        pc.O = O;
        pc.ntb = pl.ntb;
        pc.n_inv = (uint32_t)pl.n_inv;
        pc.groups_x = pl.gx;
        pc.x_stride = (uint32_t)(xs / 4);
        pc.w_stride = dyn ? (uint32_t)(ws / 4) : 0;
        pc.y_stride = (uint32_t)(ys / 4);
        const bool plane4 = HW % 4 == 0 && pc.x_base % 4 == 0 && pc.y_base % 4 == 0 && (!res || pc.r_base % 4 == 0);
        const bool row4 = C % 4 == 0 && pc.w_base % 4 == 0;
        const uint32_t spec[4] = {PW_LANES, PW_TO, PW_TT,
                                  kw_conv_epilogue(op) | (plane4 ? PW_PLANE4 : 0u) | (row4 ? PW_ROW4 : 0u)};
        kw_pipeline *pipe;
        KW_TRY(kw_pipeline_get(ctx, pl.texel ? "conv_pw_tb" : "conv_pw", spec, 4, &pipe));
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 6, 1u << 5, &pc, sizeof pc, pl.gx, pl.gy, nb));
    }
    return KWVK_OK;
}
