/* ops_pw.c - convolutions as a register-tiled GEMM per sample (shaders/conv_pw.glsl), for
 * ungrouped convs with fp32 weights, static or per sample (KW), and any fused epilogue:
 *     Y[n][o][p] = sum_r W[o][r] X[n][r][p]
 * over the flattened output plane, 8 output channels x 16 pixels per invocation, X and W read
 * in place as vec4s (funnelled where a row or plane does not start on a vec4, e.g. 7x7
 * planes), through uniform texel buffers where available (conv_pw_tb) and storage buffers
 * otherwise (conv_pw, also with KWVK_FORCE_FALLBACKS=texel). No weight packing: a weight row
 * [C, kh, kw] (or kw_assemble's [kh, kw, C]) is a GEMM row as it is.
 *   - 1x1 stride-1 unpadded convs (pointwise): X is the conv's input, r its channel;
 *   - other convs (the strided ones by default: the ResNet downsample and 3x3 stride-2
 *     convs) first unroll their input into the op's scratch (conv_pw_col: for 1x1 stride 2
 *     a copy of the quarter of the pixels it reads, for 3x3 the 9 taps of each pixel in
 *     the order of a weight row) and run the same GEMM on it.
 *
 * Selection (KWVK_PW, ctx->pw): 0 never; 1 every eligible conv; otherwise kw_pw_selected's rule.
 * Batches are split along samples so that every binding stays within one binding
 * (kw_bind_limit) and, for texel views, within ctx->max_texel_elements; a conv whose single
 * sample does not fit is left to the direct path, which also splits channels. */
#include "ops.h"

#include <string.h>

#define PW_LANES 64u
#define PW_TO    8u  /* output channels per invocation */
#define PW_TT    16u /* pixels per invocation */
/* shader flags beside KW_EPI_* (conv_pw.glsl) */
#define PW_PLANE4 256u
#define PW_ROW4   512u

/* Shape-only eligibility (the planner has no views yet): one group. */
static bool pw_eligible(const kw_op *op)
{
    return op->type == KW_OP_CONV2D && (op->inputs[1] != KW_NONE || op->tensors[0] != KW_NONE) && op->conv.G == 1;
}

static bool pointwise(const kw_conv2d_params *c)
{
    return c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0;
}

/* Default rule: pointwise convs whose output plane fills a pixel tile (PW_MIN_PIXELS), and
 * strided convs of at least PW_MIN_STRIDED_C input channels. Measured on lavapipe (2 shared
 * cores, so noisy: per-op minimum of 3 alternated profiles, direct vs GEMM, batch 1):
 * ResNet50's 1x1 stride-1 convs (0.05 GMAC each) 9.8-30.7 vs 2.9-13.1 ms, its 1x1 stride-2
 * downsamples 47-61 vs 12-20 ms, its 3x3 stride-2 convs 44-92 vs 17-21 ms, ResNet18's 3x3
 * stride-2 convs 25-49 vs 6.0-7.4 ms; but ResNet50's 7x7 stride-2 stem (3 channels, whose
 * unrolled input is 49 times the input) 34 vs 79 ms, and 1x1 convs on a 1x1 plane (the
 * classifiers of ResNet18 and MobileNetV2, which fill 1 of a tile's 16 pixels) 0.9 vs 1.4 ms
 * and 2.0 vs 2.2 ms. MobileNetV2's expansions from 16 or 24 channels were a tie (16 -> 96
 * at 112x112: 4.07 vs 4.10 ms), its projections 1.3-2.4x faster. */
#define PW_MIN_PIXELS    16u
#define PW_MIN_STRIDED_C 16u

/* Per-sample (KW) kernels larger than 1x1 on output planes of at most PW_MAX_KW_PIXELS: the
 * GEMM on the unrolled input, after a plain kw_assemble, beat both the direct conv (which
 * KW 3x3 convs on 7x7 planes took at batch > 1) and the Winograd-domain assembly + GEMM
 * (batch 1). KW 1x ResNet18 on lavapipe, stage 4's three stride-1 3x3 layers, assembly + conv
 * summed, two alternated profiles: batch 1 75-80 ms (Winograd domain) vs 70-72 (GEMM); batch
 * 8 conv alone 98-119 vs 80-86 ms per layer. On 14x14 planes the Winograd-domain assembly
 * kept the lead (batch 1 37 vs 44-48 ms, batch 8 241-331 vs 314-394 for stage 3), and on
 * larger planes the Winograd GEMM (the GEMM took 1.5-2x its time at batch 8). */
#define PW_MAX_KW_PIXELS 64u

bool kw_pw_selected(const kw_ctx *ctx, const kw_op *op, kw_shape out)
{
    if (!pw_eligible(op)) return false;
    if (ctx->pw >= 0) return ctx->pw == 1; /* KWVK_PW=0 / 1 */
    /* what conv2d_small takes stays there: one program for all small convs (the GEMM's
     * programs cost the shipped 28x28 model 8.3 instead of 4.1 s of cold start, JIT included) */
    if (kw_conv_small(ctx, op, out, false)) return false;
    const kw_conv2d_params *c = &op->conv;
    if (pointwise(c)) return out.h * out.w >= PW_MIN_PIXELS;
    if (op->inputs[1] != KW_NONE && c->kh * c->kw > 1 && out.h * out.w <= PW_MAX_KW_PIXELS) return true;
    return (c->sh > 1 || c->sw > 1) && (uint32_t)c->C >= PW_MIN_STRIDED_C;
}

/* Push block of conv_pw.glsl. */
typedef struct pw_push {
    uint32_t C, HW, O, ntb, n_inv, groups_x;
    uint32_t x_base, x_stride, x_last;
    uint32_t w_base, w_stride, w_last;
    uint32_t s_base, b_base, r_base, y_base, y_stride;
    uint32_t epi; /* KW_EPI_* but GELU, which is a specialisation constant */
} pw_push;
_Static_assert(sizeof(pw_push) <= KW_PUSH_BYTES, "pw push block too large");

/* The bytes [off, off + bytes) of `whole` as a binding read as vec4s: its size rounded up to
 * 16 bytes (the shader's last vec4 may reach past the range; kw_buffer_create rounds buffers
 * to 16 bytes, and room16 checked the room); *last gets the binding's last vec4. */
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
    bool dyn, col, texel;
} pw_plan;

/* The unrolled input of a conv that is not pointwise lives in the scratch, a chunk of samples
 * at a time: at most PW_CHUNK_BYTES whatever the batch (a conv whose one sample needs more
 * stays direct). */
#define PW_CHUNK_BYTES (64ull << 20)

static bool plan(const kw_ctx *ctx, const kw_op_call *call, pw_plan *pl)
{
    const kw_op *op = call->op;
    memset(pl, 0, sizeof *pl);
    if (!kw_pw_selected(ctx, op, call->out) || call->n == 0 || kw_shape_count(call->out) == 0) return false;
    pl->dyn = op->inputs[1] != KW_NONE;
    pl->col = !pointwise(&op->conv);
    pl->C = (uint32_t)op->conv.C * (uint32_t)op->conv.kh * (uint32_t)op->conv.kw; /* GEMM depth */
    pl->O = (uint32_t)op->conv.O;
    pl->HW = call->out.h * call->out.w;
    pl->xs_src = kw_shape_count(call->in[0]) * 4;
    pl->xs = (uint64_t)pl->C * pl->HW * 4;
    pl->ys = (uint64_t)pl->O * pl->HW * 4;
    pl->ws = (uint64_t)pl->O * pl->C * 4;
    /* samples per dispatch: every binding within one binding's limit (less the 16 bytes of
     * rounding), texel views within max_texel_elements */
    const uint64_t lim = kw_bind_limit(ctx) > 16 ? kw_bind_limit(ctx) - 16 : 0;
    const uint64_t align = kw_bind_align(ctx); /* a view may start this much early */
    const uint64_t tlim = ctx->max_texel_elements * 16 > align + 16 ? ctx->max_texel_elements * 16 - align - 16 : 0;
    pl->texel = ctx->feat.texel_buffers && pl->xs <= tlim && pl->ws <= tlim;
    const uint64_t blim = pl->texel && tlim < lim ? tlim : lim;
    uint64_t k = call->n;
    k = fit(k, pl->xs, blim);
    k = fit(k, pl->ys, lim);
    if (pl->dyn) k = fit(k, pl->ws, blim);
    if (pl->col) {
        k = fit(k, pl->xs_src, lim);
        k = fit(k, pl->xs, PW_CHUNK_BYTES);
    }
    if (k > ctx->props.limits.maxComputeWorkGroupCount[2]) k = ctx->props.limits.maxComputeWorkGroupCount[2];
    if (k == 0 || pl->ws > blim) return false; /* the direct path splits further */
    pl->k = k;
    pl->ntb = kw_div_up(pl->HW, PW_TT);
    pl->n_inv = (uint64_t)kw_div_up(pl->O, PW_TO) * pl->ntb;
    if (!kw_grid(ctx, pl->n_inv, PW_LANES, &pl->gx, &pl->gy)) return false;
    if (pl->col && !kw_grid(ctx, (uint64_t)pl->C * call->out.h, PW_LANES, &pl->sgx, &pl->sgy)) return false;
    return true;
}

uint64_t kw_pw_scratch(const kw_ctx *ctx, const kw_op_call *call)
{
    pw_plan pl;
    return plan(ctx, call, &pl) && pl.col ? pl.k * pl.xs : 0;
}

/* Unroll samples [s0, s0 + nb) of the conv's input into the scratch. */
static kwvk_result record_col(kw_rec *rec, const kw_op_call *call, const pw_plan *pl, uint32_t s0, uint32_t nb)
{
    kw_ctx *ctx = rec->ctx;
    const kw_conv2d_params *c = &call->op->conv;
    struct {
        uint32_t H, W, OH, OW, C, kh, kw, sh, sw, ph, pw, dh, dw, ohwi, x_base, x_stride, y_base, y_stride, n_inv,
            groups_x;
    } pc = {call->in[0].h,
            call->in[0].w,
            call->out.h,
            call->out.w,
            (uint32_t)c->C,
            (uint32_t)c->kh,
            (uint32_t)c->kw,
            (uint32_t)c->sh,
            (uint32_t)c->sw,
            (uint32_t)c->ph,
            (uint32_t)c->pw,
            (uint32_t)c->dh,
            (uint32_t)c->dw,
            (call->in_ohwi & 2u) && c->kh * c->kw > 1 ? 1u : 0u,
            0,
            (uint32_t)(pl->xs_src / 4),
            0,
            (uint32_t)(pl->xs / 4),
            pl->C * call->out.h,
            pl->sgx};
    kw_view v[2];
    KW_TRY(kw_view_sub(ctx, call->vin[0], s0 * pl->xs_src, nb * pl->xs_src, &v[0], &pc.x_base));
    KW_TRY(kw_view_sub(ctx, call->scratch, 0, nb * pl->xs, &v[1], &pc.y_base));
    const uint32_t spec[1] = {PW_LANES};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "conv_pw_col", spec, 1, &pipe));
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
    /* the GEMM's input: the conv's, or its unrolled copy in the scratch */
    const kw_view xv = pl.col ? call->scratch : call->vin[0];
    if (!xv.buf || (pl.col && call->scratch.size < pl.k * pl.xs)) return KWVK_OK; /* not planned */
    if (!room16(xv) || !room16(wv)) return KWVK_OK;
    const uint32_t C = pl.C, O = pl.O, HW = pl.HW;
    const uint64_t xs = pl.xs, ys = pl.ys, ws = pl.ws, k = pl.k;
    *done = true;

    for (uint32_t s0 = 0; s0 < call->n; s0 += (uint32_t)k) {
        const uint32_t nb = call->n - s0 < k ? call->n - s0 : (uint32_t)k;
        pw_push pc = {0};
        kw_view v[6];
        if (pl.col) KW_TRY(record_col(rec, call, &pl, s0, nb));
        KW_TRY(vec4_view(ctx, xv, pl.col ? 0 : s0 * xs, nb * xs, &v[0], &pc.x_base, &pc.x_last));
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
        const uint32_t epi = kw_conv_epilogue(op), gelu = (epi & KW_EPI_ACT_MASK) == KW_ACT_GELU ? KW_ACT_GELU : 0u;
        pc.epi = gelu ? epi & ~KW_EPI_ACT_MASK : epi;
        const uint32_t spec[4] = {PW_LANES, PW_TO, PW_TT, gelu | (plane4 ? PW_PLANE4 : 0u) | (row4 ? PW_ROW4 : 0u)};
        kw_pipeline *pipe;
        KW_TRY(kw_pipeline_get(ctx, pl.texel ? "conv_pw_tb" : "conv_pw", spec, 4, &pipe));
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 6, 1u << 5, &pc, sizeof pc, pl.gx, pl.gy, nb));
    }
    return KWVK_OK;
}
