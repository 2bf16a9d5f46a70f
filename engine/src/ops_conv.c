/* ops_conv.c - the conv2d recorder. One register-tiled direct-convolution shader
 * (shaders/conv2d.comp) serves every conv; the recorder picks its variant:
 *   - 1x1 stride-1 unpadded convs (and linear layers) run as a GEMM over the flattened plane,
 *     16 output channels x 14 pixels per invocation on CPU devices;
 *   - depthwise convs (one output channel per group input) get one channel and a large
 *     spatial tile per invocation;
 *   - other convs get 8 channels x about 28 pixels (3 x 8, 4 x 7, ...); kernels above 3x3
 *     loop over their rows to bound the unrolled code.
 * It splits the work so that every binding stays within ctx->max_storage_range and every
 * grid within maxComputeWorkGroupCount, three ways:
 *   - output channels: chunks [o0, o0 + m) when the weight rows or one sample's output planes
 *     do not fit one binding (chunks are whole groups, or parts of one group);
 *   - batch: as many samples per dispatch as the bindings allow;
 *   - grid: tiles and channel blocks beyond the device's group-count limits. */
#include "ops.h"

#include <stdio.h>
#include <string.h>

/* The epilogue bits of a conv's flags (kw_flags.h): activation, scale, bias, residual. */
uint32_t kw_conv_epilogue(const kw_op *op)
{
    return (uint32_t)op->conv.act | (op->tensors[1] != KW_NONE ? KW_EPI_SCALE : 0u) |
           (op->tensors[2] != KW_NONE ? KW_EPI_BIAS : 0u) | (op->inputs[2] != KW_NONE ? KW_EPI_RES : 0u);
}

/* How many samples of `stride` bytes fit one binding when each needs `part` bytes starting
 * at its own offset (part <= stride): (k - 1) * stride + part <= lim. */
static uint32_t samples_fit(uint64_t lim, uint64_t stride, uint64_t part, uint32_t n)
{
    if (part > lim) return 0;
    if (stride == 0) return n;
    uint64_t k = (lim - part) / stride + 1;
    return k < n ? (uint32_t)k : n;
}

/* ---------------------------------------------------------------------------------------- */
/* Planning                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* Mirrors the push block of shaders/conv2d.comp. */
typedef struct conv_push {
    uint32_t H, W, OH, OW;
    uint32_t Cg, Og;
    uint32_t ph, pw;
    uint32_t o0;
    uint32_t seg_len, bps;
    uint32_t n_oc;
    uint32_t ntx, ntiles;
    uint32_t blk0, n_inv;
    uint32_t groups_x;
    uint32_t x_base, x_stride;
    uint32_t w_base, w_stride;
    uint32_t s_base, b_base;
    uint32_t r_base, y_base, y_stride;
    uint32_t ksize, geom, flags; /* conv2d_small only (conv2d has them as spec constants) */
} conv_push;
_Static_assert(sizeof(conv_push) <= KW_PUSH_BYTES, "conv push block too large");

enum { SPEC_LX, SPEC_TO, SPEC_TP, SPEC_TPY, SPEC_KSIZE, SPEC_GEOM, SPEC_FLAGS, SPEC_COUNT };

#define CONV_LANES 64u /* invocations per workgroup */

typedef struct conv_plan {
    bool small; /* conv2d_small: spec {LX, TO, TP}, kernel and epilogue in push constants */
    uint32_t spec[SPEC_COUNT];
    uint32_t to; /* channels per block */
    uint32_t ntx, ntiles;
    /* plane as the shader sees it (the 1x1 path flattens H x W into one row) */
    uint32_t H, W, OH, OW;
} conv_plan;

/* Split `len` into the fewest tiles of at most `max` and return the even tile size
 * (56 with max 8 -> 8; 28 -> 7). */
static uint32_t even_tile(uint32_t len, uint32_t max)
{
    if (max < 1) max = 1;
    return kw_div_up(len, kw_div_up(len, max));
}

/* Tile sizes: TO output channels x TPY rows x TP columns per invocation.
 *
 * On CPU devices (lavapipe) every buffer load is a per-lane loop, so the tile must reuse
 * each load for many multiply-adds: about `acc` accumulators (the 1x1 GEMM path: 16 channels
 * x 14 pixels of its flat plane) - measured on ResNet18 / MobileNetV2 layers, 8 x 28 halves
 * the time of 8 x 8. The unrolled multiply-adds per input channel (accumulators x unrolled
 * taps) stay under `unroll`, which bounds the JIT time of a pipeline (~0.5 s at the limit).
 * Depthwise convs (Og = 1) get TO = 1 and spatial tiles of up to `pixels` (larger ones only
 * cost JIT time: their outputs' stores, one per-lane loop each, dominate).
 *
 * GPUs keep the whole tile in registers, so their tiles are small. Kernels above 3x3 loop
 * over their rows on every device. */
typedef struct conv_budget {
    uint32_t acc, pixels, unroll, max_to, gemm_to;
} conv_budget;
static const conv_budget cpu_budget = {224, 64, 2048, 8, 16};
static const conv_budget gpu_budget = {32, 32, 1024, 8, 8};

/* Convs with at most this many multiply-adds per sample take conv2d_small. Its one program
 * serves them all, where conv2d compiles a program per kernel size, stride, epilogue and tile
 * (0.1-0.5 s each on lavapipe, at the first dispatch); at lavapipe's 5-15 GFLOP/s such a conv
 * runs in well under a millisecond either way. The bound leaves the convs of 224x224 ResNets
 * (the smallest, a 1x1 stride-2 downsample, has 6.4 M) on conv2d, and takes every conv of
 * 28x28 ones. */
#define CONV_SMALL_MACS        (4u << 20)
#define CONV_SMALL_LINEAR_MACS (64u << 10)

bool kw_conv_small(const kw_ctx *ctx, const kw_op *op, kw_shape out, bool w16)
{
    const kw_conv2d_params *cp = &op->conv;
    if (w16 || cp->act == KW_ACT_GELU) return false; /* conv2d_small: fp32 weights, no GELU */
    if (ctx->conv_small >= 0) return ctx->conv_small == 1;
    const uint64_t macs = (uint64_t)out.h * out.w * cp->O * (cp->C / cp->G) * cp->kh * cp->kw;
    /* linear layers (a 1x1 plane) stay on conv2d's 16 x 1 GEMM tile: conv2d_small took 2x
     * the time of ResNet18's classifier (1.7 vs 0.87 ms, --profile medians); a classifier of
     * a few thousand multiply-adds (the shipped 28x28 model's) costs microseconds either way,
     * and through conv2d_small its net compiles one program less (~0.1 s of a cold start) */
    if (out.h * out.w == 1 && macs > CONV_SMALL_LINEAR_MACS) return false;
    /* depthwise and grouped convs keep conv2d's one-channel wide tiles, and stride-1 1x1 convs
     * the GEMM (ops_pw.c): MobileNetV2 at 224x224 has many such convs under the bound, and
     * conv2d_small made it 1.4x slower at batch 1 (best of 5: 54-56 vs 38-49 ms) and at batch
     * 8 (436-488 vs 313-334 ms); the ResNets' 3x3 and strided 1x1 convs of small nets stay */
    if (cp->G > 1 || (out.h * out.w > 1 && cp->kh == 1 && cp->kw == 1 && cp->sh == 1 && cp->sw == 1)) return false;
    return macs <= CONV_SMALL_MACS;
}

/* conv2d_small: TO channels (1 for depthwise convs, whose other channels belong to other
 * groups) x TP pixels of the flattened plane, the same for every conv, so that a network
 * compiles one or two programs. */
static void plan_small(const kw_op_call *call, conv_plan *pl)
{
    const kw_conv2d_params *cp = &call->op->conv;
    const uint32_t Og = cp->O / cp->G;
    const uint32_t to = Og == 1 ? 1 : 8, tp = Og == 1 ? 16 : 8;
    memset(pl, 0, sizeof *pl);
    pl->small = true;
    pl->H = call->in[0].h;
    pl->W = call->in[0].w;
    pl->OH = call->out.h;
    pl->OW = call->out.w;
    pl->to = to;
    pl->ntx = 1;
    pl->ntiles = kw_div_up(pl->OH * pl->OW, tp);
    pl->spec[SPEC_LX] = CONV_LANES;
    pl->spec[SPEC_TO] = to;
    pl->spec[SPEC_TP] = tp;
    pl->spec[SPEC_KSIZE] = (uint32_t)cp->kh | (uint32_t)cp->kw << 8;
    pl->spec[SPEC_GEOM] = (uint32_t)cp->sh | (uint32_t)cp->sw << 8 | (uint32_t)cp->dh << 16 | (uint32_t)cp->dw << 24;
    pl->spec[SPEC_FLAGS] =
        kw_conv_epilogue(call->op) | ((call->in_ohwi & 2u) && cp->kh * cp->kw > 1 ? KW_CONV_OHWI : 0u);
}

static void plan_conv(const kw_ctx *ctx, const kw_op_call *call, conv_plan *pl)
{
    const conv_budget *bu = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? &cpu_budget : &gpu_budget;
    const kw_conv2d_params *cp = &call->op->conv;
    const uint32_t O = cp->O, kh = cp->kh, kw = cp->kw, sh = cp->sh, sw = cp->sw, ph = cp->ph, pw = cp->pw;
    const uint32_t dh = cp->dh, dw = cp->dw, G = cp->G;
    const uint32_t Og = O / G;
    memset(pl, 0, sizeof *pl);
    pl->H = call->in[0].h;
    pl->W = call->in[0].w;
    pl->OH = call->out.h;
    pl->OW = call->out.w;
    const bool gemm = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
    if (gemm) { /* 1x1: a GEMM over the flattened plane, one row of H*W pixels */
        pl->W = pl->OW = pl->H * pl->W;
        pl->H = pl->OH = 1;
    }
    const bool kyloop = kh * kw > 9;

    const uint32_t max_to = gemm ? bu->gemm_to : bu->max_to;
    const uint32_t to = Og < max_to ? Og : max_to;
    const uint32_t taps = kyloop ? kw : kh * kw; /* unrolled taps per input channel */
    const uint32_t pixels = bu->acc / to < bu->pixels ? bu->acc / to : bu->pixels;
    uint32_t tp = even_tile(pl->OW, gemm || pixels < 8 ? pixels : 8);
    uint32_t tpy = even_tile(pl->OH, pixels / tp);
    while (to * tp * tpy * taps > bu->unroll && tpy > 1) tpy = even_tile(pl->OH, tpy - 1);
    while (to * tp * tpy * taps > bu->unroll && tp > 1) tp = even_tile(pl->OW, tp - 1);

    pl->to = to;
    pl->ntx = kw_div_up(pl->OW, tp);
    pl->ntiles = pl->ntx * kw_div_up(pl->OH, tpy);
    pl->spec[SPEC_LX] = CONV_LANES;
    pl->spec[SPEC_TO] = to;
    pl->spec[SPEC_TP] = tp;
    pl->spec[SPEC_TPY] = tpy;
    pl->spec[SPEC_KSIZE] = kh | kw << 8;
    pl->spec[SPEC_GEOM] = sh | sw << 8 | dh << 16 | dw << 24;
    pl->spec[SPEC_FLAGS] = kw_conv_epilogue(call->op) | (kyloop ? KW_CONV_KY_LOOP : 0u) |
                           ((call->in_ohwi & 2u) && kh * kw > 1 ? KW_CONV_OHWI : 0u);
}

/* ---------------------------------------------------------------------------------------- */
/* Recording                                                                                */
/* ---------------------------------------------------------------------------------------- */

static kwvk_result record_chunk(kw_rec *rec, const kw_op_call *call, const conv_plan *pl, const kw_pipeline *pipe,
                                uint32_t o0, uint32_t m, uint32_t seg_len, uint32_t s0, uint32_t nb)
{
    kw_ctx *ctx = rec->ctx;
    const kw_conv2d_params *cp = &call->op->conv;
    const uint32_t O = cp->O, G = cp->G, C = cp->C, Cg = C / G, Og = O / G;
    const uint64_t K = (uint64_t)Cg * cp->kh * cp->kw;
    const uint64_t xs = kw_shape_count(call->in[0]) * 4, ys = kw_shape_count(call->out) * 4;
    const uint64_t plane = (uint64_t)call->out.h * call->out.w * 4;
    const bool dyn = call->op->inputs[1] != KW_NONE;

    conv_push pc = {0};
    kw_view v[6];
    KW_TRY(kw_view_sub(ctx, call->vin[0], s0 * xs, nb * xs, &v[0], &pc.x_base));
    if (dyn)
        KW_TRY(kw_view_sub(ctx, call->vin[1], s0 * K * O * 4 + o0 * K * 4, (nb - 1) * K * O * 4 + m * K * 4, &v[1],
                           &pc.w_base));
    else if (call->vt[0].f16) { /* fp16 weights: bind from the float boundary at or below */
        const uint64_t off = o0 * K * 2, off4 = off & ~(uint64_t)3;
        KW_TRY(kw_view_sub(ctx, call->vt[0], off4, m * K * 2 + (off - off4), &v[1], &pc.w_base));
        pc.w_base = pc.w_base * 2 + (uint32_t)(off - off4) / 2;
    } else
        KW_TRY(kw_view_sub(ctx, call->vt[0], o0 * K * 4, m * K * 4, &v[1], &pc.w_base));
    const uint64_t yoff = s0 * ys + o0 * plane, ybytes = (nb - 1) * ys + m * plane;
    KW_TRY(kw_view_sub(ctx, call->vout, yoff, ybytes, &v[5], &pc.y_base));
    /* absent optional inputs: bind a small read-only range of X (never read) */
    kw_view dummy = kw_view_of(v[0].buf, v[0].offset, 4);
    v[2] = v[3] = v[4] = dummy;
    if (call->op->tensors[1] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vt[1], o0 * 4, m * 4, &v[2], &pc.s_base));
    if (call->op->tensors[2] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vt[2], o0 * 4, m * 4, &v[3], &pc.b_base));
    if (call->op->inputs[2] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vin[2], yoff, ybytes, &v[4], &pc.r_base));

    pc.H = pl->H;
    pc.W = pl->W;
    pc.OH = pl->OH;
    pc.OW = pl->OW;
    pc.Cg = Cg;
    pc.Og = Og;
    pc.ph = cp->ph;
    pc.pw = cp->pw;
    pc.o0 = o0;
    pc.seg_len = seg_len;
    pc.bps = kw_div_up(seg_len, pl->to);
    pc.n_oc = m;
    pc.ntx = pl->ntx;
    pc.ntiles = pl->ntiles;
    pc.x_stride = (uint32_t)(xs / 4);
    pc.w_stride = dyn ? (uint32_t)(K * O) : 0;
    pc.y_stride = (uint32_t)(ys / 4);
    if (pl->small) {
        pc.ksize = pl->spec[SPEC_KSIZE];
        pc.geom = pl->spec[SPEC_GEOM];
        pc.flags = pl->spec[SPEC_FLAGS];
    }

    /* invocations enumerate (block, tile) pairs; split the blocks so that each dispatch's
     * workgroups fit a 2D grid (and its pair count a uint32) */
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    const uint32_t nblk = (m / seg_len) * pc.bps;
    uint64_t max_inv = (uint64_t)lim[0] * lim[1] * CONV_LANES;
    if (max_inv > (1u << 31)) max_inv = 1u << 31;
    const uint32_t blk_step = (uint32_t)(max_inv / pl->ntiles);
    if (blk_step == 0)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "conv2d: %u tiles per plane exceed the dispatch limits", pl->ntiles);
    for (uint32_t b0 = 0; b0 < nblk; b0 += blk_step) {
        const uint32_t nb_here = nblk - b0 < blk_step ? nblk - b0 : blk_step;
        pc.blk0 = b0;
        pc.n_inv = nb_here * pl->ntiles;
        const uint32_t groups = kw_div_up(pc.n_inv, CONV_LANES);
        pc.groups_x = groups < lim[0] ? groups : lim[0];
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 6, 1u << 5, &pc, sizeof pc, pc.groups_x, kw_div_up(groups, pc.groups_x),
                               nb));
    }
    return KWVK_OK;
}

static kwvk_result record_direct(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    const kw_conv2d_params *cp = &call->op->conv;
    const uint32_t O = cp->O, G = cp->G, C = cp->C, Cg = C / G, Og = O / G;
    const uint64_t K = (uint64_t)Cg * cp->kh * cp->kw;
    const uint64_t xs = kw_shape_count(call->in[0]) * 4, ys = kw_shape_count(call->out) * 4;
    const uint64_t plane = (uint64_t)call->out.h * call->out.w * 4;
    const bool dyn = call->op->inputs[1] != KW_NONE;
    const uint64_t lim = kw_bind_limit(ctx);
    const bool w16 = !dyn && call->vt[0].f16;
    const uint64_t wsz = w16 ? 2 : 4; /* bytes per weight */
    if (call->n == 0 || ys == 0) return KWVK_OK;

    if (xs > lim)
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "conv2d: one sample's input (%llu bytes) exceeds the storage range limit %llu",
                       (unsigned long long)xs, (unsigned long long)ctx->max_storage_range);
    /* output channels per dispatch: weight rows, output planes and scale/bias must fit */
    uint64_t cap = O;
    const uint64_t wlim = w16 ? lim - 2 : lim; /* fp16: the binding may start 2 bytes early */
    if (wlim / (K * wsz) < cap) cap = wlim / (K * wsz);
    if (lim / plane < cap) cap = lim / plane;
    if (lim / 4 < cap) cap = lim / 4;
    if (cap == 0)
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "conv2d: one output channel (%llu weight bytes, %llu output bytes per sample) exceeds the "
                       "storage range limit %llu",
                       (unsigned long long)(K * wsz), (unsigned long long)plane,
                       (unsigned long long)ctx->max_storage_range);
    conv_plan pl;
    if (kw_conv_small(ctx, call->op, call->out, w16))
        plan_small(call, &pl);
    else
        plan_conv(ctx, call, &pl);
    kw_pipeline *pipe;
    if (pl.small)
        KW_TRY(kw_pipeline_get(ctx, "conv2d_small", pl.spec, 3, &pipe));
    else
        KW_TRY(kw_pipeline_get(ctx, w16 ? "conv2d_h" : "conv2d", pl.spec, SPEC_COUNT, &pipe));

    /* chunks: all channels, whole groups, or parts of one group */
    uint32_t chunk, seg_len;
    if (cap >= O) {
        chunk = O;
        seg_len = Og;
    } else if (cap >= Og) {
        chunk = (uint32_t)(cap / Og) * Og;
        seg_len = Og;
    } else {
        chunk = (uint32_t)cap;
        seg_len = 0; /* per chunk: its own length */
    }
    for (uint32_t o0 = 0; o0 < O;) {
        uint32_t m = O - o0 < chunk ? O - o0 : chunk;
        if (seg_len == 0) { /* stay inside the group of o0 */
            uint32_t group_end = (o0 / Og + 1) * Og;
            if (o0 + m > group_end) m = group_end - o0;
        }
        uint32_t sl = seg_len ? seg_len : m;
        /* samples per dispatch */
        uint32_t nb = samples_fit(lim, xs, xs, call->n);
        uint32_t k = samples_fit(lim, ys, m * plane, call->n);
        if (k < nb) nb = k;
        if (dyn) {
            k = samples_fit(lim, K * O * 4, m * K * 4, call->n);
            if (k < nb) nb = k;
        }
        if (ctx->props.limits.maxComputeWorkGroupCount[2] < nb) nb = ctx->props.limits.maxComputeWorkGroupCount[2];
        for (uint32_t s0 = 0; s0 < call->n; s0 += nb) {
            uint32_t cnt = call->n - s0 < nb ? call->n - s0 : nb;
            KW_TRY(record_chunk(rec, call, &pl, pipe, o0, m, sl, s0, cnt));
        }
        o0 += m;
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The op table entry                                                                       */
/* ---------------------------------------------------------------------------------------- */

#define BAD KW_BAD

/* params: 0 O, 1 kh, 2 kw, 3 sh, 4 sw, 5 ph, 6 pw, 7 dh, 8 dw, 9 groups, 10 act, 11 C */
static void conv_decode(kw_op *op)
{
    const int32_t *p = op->p;
    op->conv = (kw_conv2d_params){.O = p[0], .kh = p[1], .kw = p[2], .sh = p[3], .sw = p[4], .ph = p[5],
                                  .pw = p[6], .dh = p[7], .dw = p[8], .G = p[9], .act = p[10], .C = p[11]};
}

static bool conv_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    const kw_conv2d_params *c = &op->conv;
    const int32_t O = c->O, kh = c->kh, kw = c->kw, C = c->C, G = c->G;
    if (!kw_in_range(O, 1, 65536)) return BAD("out_channels %d out of range 1..65536", O);
    if (!kw_in_range(C, 1, 65536)) return BAD("in_channels %d out of range 1..65536", C);
    if (!kw_in_range(kh, 1, 15) || !kw_in_range(kw, 1, 15)) return BAD("kernel %dx%d out of range 1..15", kh, kw);
    if (!kw_in_range(c->sh, 1, 8) || !kw_in_range(c->sw, 1, 8))
        return BAD("stride %dx%d out of range 1..8", c->sh, c->sw);
    if (!kw_in_range(c->dh, 1, 8) || !kw_in_range(c->dw, 1, 8))
        return BAD("dilation %dx%d out of range 1..8", c->dh, c->dw);
    if (!kw_in_range(c->ph, 0, kh * c->dh) || !kw_in_range(c->pw, 0, kw * c->dw))
        return BAD("padding %dx%d out of range", c->ph, c->pw);
    if (!kw_in_range(G, 1, 65536) || C % G || O % G)
        return BAD("groups %d do not divide in_channels %d and out_channels %d", G, C, O);
    if (!kw_in_range(c->act, 0, KW_ACT_GELU)) return BAD("activation %d unknown", c->act);
    if (!kw_check_inputs(op, index, 1u, 6u, msg, msg_len)) return false;
    bool dyn = op->inputs[1] != KW_NONE;
    if (dyn == (op->tensors[0] != KW_NONE)) return BAD("needs exactly one of a static weight tensor and a weight input");
    uint32_t wd[4] = {(uint32_t)O, (uint32_t)(C / G), (uint32_t)kh, (uint32_t)kw};
    uint32_t od[1] = {(uint32_t)O};
    if (!dyn && !kw_check_tensor(m, op, 0, true, 4, wd, "weight", msg, msg_len)) return false;
    if (!kw_check_tensor(m, op, 1, false, 1, od, "scale", msg, msg_len)) return false;
    if (!kw_check_tensor(m, op, 2, false, 1, od, "bias", msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 3, msg, msg_len);
}

static bool conv_out(uint32_t in, int k, int s, int pad, int dil, uint32_t *out)
{
    int64_t span = (int64_t)dil * (k - 1) + 1;
    int64_t num = (int64_t)in + 2 * pad - span;
    if (num < 0) return false;
    *out = (uint32_t)(num / s + 1);
    return true;
}

static bool conv_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    const kw_conv2d_params *c = &op->conv;
    if (in[0].c != (uint32_t)c->C) return BAD("conv2d expects %d input channels, got %u", c->C, in[0].c);
    const uint64_t wcount = (uint64_t)c->O * (c->C / c->G) * c->kh * c->kw;
    if (op->inputs[1] != KW_NONE && kw_shape_count(in[1]) != wcount)
        return BAD("conv2d weight input has %llu elements per sample, expected %llu",
                   (unsigned long long)kw_shape_count(in[1]), (unsigned long long)wcount);
    out->c = (uint32_t)c->O;
    if (!conv_out(in[0].h, c->kh, c->sh, c->ph, c->dh, &out->h) || !conv_out(in[0].w, c->kw, c->sw, c->pw, c->dw, &out->w))
        return BAD("conv2d input %ux%u is smaller than its kernel", in[0].h, in[0].w);
    if (op->inputs[2] != KW_NONE && (in[2].c != out->c || in[2].h != out->h || in[2].w != out->w))
        return BAD("conv2d residual %ux%ux%u does not match output %ux%ux%u", in[2].c, in[2].h, in[2].w, out->c,
                   out->h, out->w);
    return true;
}

static double conv_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out)
{
    (void)in;
    const kw_conv2d_params *c = &op->conv;
    return (double)n * kw_shape_count(out) * (c->C / c->G) * c->kh * c->kw;
}

static uint64_t conv_scratch(const kw_ctx *ctx, const kw_op_call *call)
{
    const uint64_t pw = kw_pw_scratch(ctx, call); /* GEMM convs that unroll their input */
    if (pw) return pw;
    /* a static conv without transformed weights (fp16 weights) never takes Winograd */
    if (call->op->tensors[0] != KW_NONE && !call->derived.buf) return 0;
    return kw_wino_scratch(ctx, call->op, call->n, call->out);
}

static kwvk_result conv_record(kw_rec *rec, const kw_op_call *call)
{
    bool done = false;
    KW_TRY(kw_pw_record(rec, call, &done)); /* records nothing where the GEMM path does not apply */
    if (done) return KWVK_OK;
    KW_TRY(kw_wino_record(rec, call, &done)); /* records nothing where Winograd does not apply */
    return done ? KWVK_OK : record_direct(rec, call);
}

/* static weights only: conv2d_h reads them as fp16 */
static bool conv_tensor_f16(const kw_op *op, uint32_t slot) { return slot == 0 && op->inputs[1] == KW_NONE; }

static uint64_t conv_derived_count(const kw_ctx *ctx, const kw_op *op, bool fp16)
{
    return kw_wino_static_weights(ctx, op, fp16) ? kw_wino_weights_count(op) : 0;
}

static void conv_derive(const kw_op *op, const kw_tensor *const *t, float *out)
{
    kw_wino_transform_weights(op, t[0]->data, out);
}

/* per-sample weights (input 1) in [O, kh, kw, Cg] of the conv's own geometry */
static bool conv_kernel_in(const kw_op *op, uint32_t slot, const kw_kernel_geom *g)
{
    const kw_conv2d_params *c = &op->conv;
    return slot == 1 && (uint32_t)c->O == g->O && c->G > 0 && (uint32_t)(c->C / c->G) == g->Cg &&
           (uint32_t)c->kh == g->kh && (uint32_t)c->kw == g->kw;
}

const kw_op_def kw_op_conv2d_def = {
    .name = "conv2d",
    .kind = KWVK_KIND_CONVOLUTION,
    .decode = conv_decode,
    .validate = conv_validate,
    .infer = conv_infer,
    .macs = conv_macs,
    .scratch = conv_scratch,
    .record = conv_record,
    .tensor_f16 = conv_tensor_f16,
    .derived_count = conv_derived_count,
    .derive = conv_derive,
    .kernel_in = conv_kernel_in,
};
