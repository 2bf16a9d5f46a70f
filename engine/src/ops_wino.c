/* ops_wino.c - Winograd F(2x2,3x3) convolution for 3x3, stride-1, dilation-1, ungrouped convs
 * (any padding, any fused epilogue), with static or per-sample (KW) weights.
 *
 * Static weights are transformed once, at net creation (kw_wino_transform_weights: U = G g G^T,
 * 4x4 per (output, input) channel pair). Per-sample (KW) weights get U in the op's scratch on
 * every run: from the conv's kw_assemble peer's attention and warehouse directly
 * (kw_wino_kw_fused: kw_assemble_wino, a group of samples at a time), or else by transforming
 * the kernel kw_assemble wrote (conv_wino_wt, one sample at a time); each sample then runs the
 * three steps below with its own U. Each run records:
 *   1. conv_wino_in:    V[16][C][Tp] = B^T d B of every 4x4 input patch (stride 2), the
 *                       tiles of all samples of a chunk along the contiguous axis;
 *   2. conv_wino_gemm:  M[16][Op][Tp] = U[16] x V[16], 16 GEMMs with a register tile of
 *                       8 channels x 16 tiles (conv_wino_gemm_tb through texel buffers when
 *                       available, storage buffers otherwise or with KWVK_FORCE_FALLBACKS=texel);
 *   3. conv_wino_out:   Y = A^T m A per 2x2 output tile, then the conv epilogue, NCHW.
 * V and M live in the op's scratch (kw_op_scratch). Per output the GEMMs do 16 / 4 = 4
 * multiply-adds per input channel instead of 9.
 *
 * Selection (kw_wino_selected), decided per op from its channel counts only because static
 * weights are transformed before any input shape is known (per-sample weights also need an
 * output plane of at least WINO_DYN_MIN_PIXELS, see wino_dyn_plane):
 *   KWVK_WINOGRAD=0: never; KWVK_WINOGRAD=1: every eligible conv;
 *   otherwise: eligible convs with C >= 32 and O >= 32 (WINO_MIN_C / WINO_MIN_O, with the
 *   measurements behind the numbers).
 * Batches are split along samples into chunks whose V and M fit both WINO_CHUNK_BYTES (which
 * bounds the scratch) and one binding (kw_bind_limit); the chunks reuse the scratch. The
 * recorder leaves a selected conv to the direct path (which splits further) only when one
 * sample's V, M, input or output, or U, exceeds one binding. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

#define WINO_LANES 64u
#define WINO_TO    8u   /* GEMM output channels per invocation; U rows are padded to it */
#define WINO_TT    16u  /* GEMM tiles per invocation; V / M columns are padded to it */
#define WINO_ALIGN 256u /* offset of M inside the scratch: the largest storage alignment */

/* Default rule: both channel counts at least 32. Measured on lavapipe (2 cores, 256-bit,
 * medians of 7 alternated runs, per-layer profile of a chain of 3x3 pad-1 convs at 56x56,
 * direct vs Winograd): 3->8 0.29 vs 0.63 ms, 8->8 0.46 vs 1.24, 8->16 0.80 vs 1.54,
 * 16->16 1.40 vs 1.62, 16->32 2.75 vs 2.46 (a tie within the noise), 32->32 5.0 vs 4.1,
 * 32->64 9.9 vs 6.2, 64->64 18.3 vs 10.0; ResNet18's 3x3 stride-1 layers (64..512 channels,
 * 56x56..7x7) all ran 1.8-2.9x faster. With few channels the transforms, which scale with
 * C + O rather than C x O, outweigh the saved multiply-adds. */
#define WINO_MIN_C 32u
#define WINO_MIN_O 32u

static uint32_t round_up(uint32_t a, uint32_t b)
{
    return kw_div_up(a, b) * b;
}

static bool wino_eligible(const kw_op *op)
{
    const kw_conv2d_params *c = &op->conv;
    const bool weights = op->inputs[1] != KW_NONE || op->tensors[0] != KW_NONE;
    return op->type == KW_OP_CONV2D && weights && c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 && c->dh == 1 &&
           c->dw == 1 && c->G == 1;
}

bool kw_wino_selected(const kw_ctx *ctx, const kw_op *op)
{
    if (!wino_eligible(op)) return false;
    if (ctx->winograd >= 0) return ctx->winograd == 1; /* KWVK_WINOGRAD=0 / 1 */
    return (uint32_t)op->conv.C >= WINO_MIN_C && (uint32_t)op->conv.O >= WINO_MIN_O;
}

bool kw_wino_static_weights(const kw_ctx *ctx, const kw_op *op, bool fp16)
{
    /* with fp16 weights static convs stay direct (conv2d_h): fp32 transformed weights would
     * cost 3.6x the memory that fp16 saves; transformed weights beyond one binding could never
     * be bound */
    return op->type == KW_OP_CONV2D && op->tensors[0] != KW_NONE && !fp16 && kw_wino_selected(ctx, op) &&
           kw_wino_weights_count(op) * 4 <= kw_bind_limit(ctx);
}

uint64_t kw_wino_weights_count(const kw_op *op)
{
    return 16ull * (uint64_t)op->conv.C * round_up((uint32_t)op->conv.O, WINO_TO);
}

/* U[xi][c][o] = (G g G^T)[xi / 4][xi % 4] for g = w[o][c] (3x3), zero for o >= O, with
 *     G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
 * `u` holds kw_wino_weights_count(op) floats. */
void kw_wino_transform_weights(const kw_op *op, const float *w, float *u)
{
    const uint32_t O = (uint32_t)op->conv.O, C = (uint32_t)op->conv.C, Op = round_up(O, WINO_TO);
    memset(u, 0, kw_wino_weights_count(op) * sizeof *u);
    for (uint32_t o = 0; o < O; o++)
        for (uint32_t c = 0; c < C; c++) {
            const float *g = w + ((uint64_t)o * C + c) * 9;
            double t[4][3]; /* G g */
            for (int k = 0; k < 3; k++) {
                t[0][k] = g[k];
                t[1][k] = 0.5 * ((double)g[k] + g[3 + k] + g[6 + k]);
                t[2][k] = 0.5 * ((double)g[k] - g[3 + k] + g[6 + k]);
                t[3][k] = g[6 + k];
            }
            for (int i = 0; i < 4; i++) {
                const double r[4] = {t[i][0], 0.5 * (t[i][0] + t[i][1] + t[i][2]), 0.5 * (t[i][0] - t[i][1] + t[i][2]),
                                     t[i][2]};
                for (int j = 0; j < 4; j++)
                    u[((uint64_t)(i * 4 + j) * C + c) * Op + o] = (float)r[j];
            }
        }
}

/* Geometry of one chunk of `n` samples. */
typedef struct wino_geom {
    uint32_t C, O, Op, tw, tps, T, Tp;
    uint64_t v_bytes, m_off, m_bytes;
    uint64_t u_off, u_bytes; /* per-sample weights: one sample's U after V and M (else 0) */
} wino_geom;

static void geom(const kw_op *op, uint32_t n, kw_shape out, wino_geom *g)
{
    memset(g, 0, sizeof *g);
    g->C = (uint32_t)op->conv.C;
    g->O = (uint32_t)op->conv.O;
    g->Op = round_up(g->O, WINO_TO);
    g->tw = kw_div_up(out.w, 2);
    g->tps = g->tw * kw_div_up(out.h, 2);
    g->T = n * g->tps; /* callers bound n * tps (chunk_samples) */
    g->Tp = round_up(g->T, WINO_TT);
    g->v_bytes = 16ull * g->C * g->Tp * 4;
    g->m_off = (g->v_bytes + WINO_ALIGN - 1) / WINO_ALIGN * WINO_ALIGN;
    g->m_bytes = 16ull * g->Op * g->Tp * 4;
    if (op->inputs[1] != KW_NONE) {
        g->u_off = (g->m_off + g->m_bytes + WINO_ALIGN - 1) / WINO_ALIGN * WINO_ALIGN;
        g->u_bytes = 16ull * g->C * g->Op * 4;
    }
}

/* Samples per chunk: the most (up to n) whose V and M each fit `limit` bytes; 0 if one sample
 * does not. Large batches run in chunks that reuse the scratch, so it never exceeds about
 * 2 x WINO_CHUNK_BYTES whatever the batch. */
static uint32_t chunk_samples(const kw_op *op, uint32_t n, kw_shape out, uint64_t limit)
{
    wino_geom g;
    geom(op, 1, out, &g);
    const uint64_t rows = g.C > g.Op ? g.C : g.Op;
    uint64_t tiles = limit / (16ull * rows * 4) / WINO_TT * WINO_TT; /* multiple of WINO_TT */
    if (tiles > (1u << 30)) tiles = 1u << 30;
    const uint64_t k = g.tps ? tiles / g.tps : 0;
    return k < n ? (uint32_t)k : n;
}

#define WINO_CHUNK_BYTES (64ull << 20)

/* Per-sample weights are transformed on every run (16 stores per channel pair, against 5
 * multiply-adds per pair and output pixel saved), which pays only on large enough planes.
 * KW 1x ResNet18, batch 1, lavapipe, three alternated runs, the three stride-1 3x3 convs of a
 * stage, direct vs Winograd: 56x56 37.7-38.5 vs 19.6-20.9 ms, 28x28 28.5-29.4 vs 12.2-13.2,
 * 14x14 28.5-30.5 vs 16.5-19.0, 7x7 29.1-32.5 vs 39.1-48.2. */
#define WINO_DYN_MIN_PIXELS 100u

/* Winograd-domain KW assembly (kw_wino_kw_fused): the conv's kw_peer mixes the warehouse straight
 * into U (kw_assemble_wino_record: 9 taps per register tile, transformed in registers), so there is no
 * per-run weight transform and no [O, C, 3, 3] kernel pass; only cells of single taps of 3x3 kernels,
 * whose attention fits the kernel value it is copied into. With the transform gone the plane rule
 * above applies only to batches: KW 1x ResNet18 on lavapipe (224x224; per stage, assembly + conv of
 * the stride-1 3x3 layers over the unchanged layers of the same run, medians of alternated runs):
 * batch 1, 7x7: 1.08 plain -> 0.78 fused; batch 8, 7x7: 1.09 -> 1.19 (the direct conv batches the
 * samples, the Winograd GEMMs run one sample at a time); 14x14 and larger gained at both. The GEMM
 * path (ops_pw.c), recorded first, now takes KW convs on planes of up to 64 pixels (7x7). */
bool kw_wino_kw_fused(const kw_ctx *ctx, const kw_op *conv, uint32_t n, kw_shape out)
{
    const kw_op *a = conv->kw_peer;
    if (!a || conv->type != KW_OP_CONV2D || !ctx->kw_wino || !kw_wino_selected(ctx, conv)) return false;
    if (n > 1 && ctx->winograd != 1 && (uint64_t)out.h * out.w < WINO_DYN_MIN_PIXELS) return false;
    if (ctx->winograd != 1 && kw_conv_small(ctx, conv, out, false)) return false; /* see wino_dyn_plane */
    if (kw_pw_selected(ctx, conv, out)) return false; /* the GEMM path, which comes first, reads the kernel */
    const kw_assemble_params *p = &a->assemble;
    const uint64_t nlm = (uint64_t)(p->O / p->co) * (p->Cg / p->ci) * 9;
    if (!(p->kh == 3 && p->kw == 3 && p->ckh == 1 && p->ckw == 1 && p->O == conv->conv.O && p->Cg == conv->conv.C &&
          nlm * p->M <= 9ull * p->O * p->Cg && ctx->props.limits.maxComputeWorkGroupCount[2] >= 16))
        return false;
    /* what kw_wino_record needs for one sample (the kernel value holds no kernel for the direct
     * path to fall back on): U, V, M, the input (3x3, stride 1) and the output within a binding */
    const uint64_t lim = kw_bind_limit(ctx), chunk = lim < WINO_CHUNK_BYTES ? lim : WINO_CHUNK_BYTES;
    const int64_t ih = (int64_t)out.h + 2 - 2 * (int64_t)conv->conv.ph,
                  iw = (int64_t)out.w + 2 - 2 * (int64_t)conv->conv.pw;
    const uint64_t in_bytes = (uint64_t)p->Cg * (uint64_t)(ih > 1 ? ih : 1) * (uint64_t)(iw > 1 ? iw : 1) * 4;
    return kw_wino_weights_count(conv) * 4 <= lim && chunk_samples(conv, 1, out, chunk) == 1 &&
           (uint64_t)p->O * out.h * out.w * 4 <= lim && in_bytes <= lim;
}

/* Fused: samples whose U the assembly writes at once (each warehouse pass serves all of them),
 * within one binding and WINO_CHUNK_BYTES. */
static uint32_t fused_samples(const kw_ctx *ctx, const kw_op *op, uint32_t n)
{
    const uint64_t ub = kw_wino_weights_count(op) * 4, lim = kw_bind_limit(ctx);
    uint64_t k = (lim < WINO_CHUNK_BYTES ? lim : WINO_CHUNK_BYTES) / ub;
    if (k < 1) k = 1;
    return k < n ? (uint32_t)k : n;
}

static bool wino_dyn_plane(const kw_ctx *ctx, const kw_op *op, uint32_t n, kw_shape out)
{
    if (ctx->winograd == 1) return true; /* KWVK_WINOGRAD=1: every eligible conv, whatever its plane */
    /* small per-sample convs stay on conv2d_small, one program for them all: Winograd's four
     * programs cost the shipped 28x28 KW model about 1.2 s of JIT at a cold start, and such a
     * conv runs in well under a millisecond either way */
    if (op->inputs[1] != KW_NONE && kw_conv_small(ctx, op, out, false)) return false;
    if (kw_wino_kw_fused(ctx, op, n, out)) return true;
    return op->inputs[1] == KW_NONE || (uint64_t)out.h * out.w >= WINO_DYN_MIN_PIXELS;
}

uint64_t kw_wino_scratch(const kw_ctx *ctx, const kw_op *op, uint32_t n, kw_shape out)
{
    if (!kw_wino_selected(ctx, op) || !wino_dyn_plane(ctx, op, n, out)) return 0;
    uint32_t k = chunk_samples(op, n, out, WINO_CHUNK_BYTES);
    if (k == 0) return 0;
    if (op->inputs[1] != KW_NONE) k = 1; /* per-sample weights: one sample at a time */
    wino_geom g;
    geom(op, k, out, &g);
    if (g.u_bytes && kw_wino_kw_fused(ctx, op, n, out)) return g.u_off + g.u_bytes * fused_samples(ctx, op, n);
    return g.u_bytes ? g.u_off + g.u_bytes : g.m_off + g.m_bytes;
}

typedef struct in_push {
    uint32_t H, W, ph, pw, C, tw, tps, T, Tp4, x_base, x_stride, n_inv, groups_x;
} in_push;
typedef struct gemm_push {
    uint32_t C, Op4, Tp4, ntb, n_inv, groups_x;
} gemm_push;
typedef struct out_push {
    uint32_t O, Op4, Tp4, OH, OW, tw, tps, T, T4, n_inv, groups_x, s_base, b_base, r_base, y_base, epi;
} out_push;

/* Record the three dispatches for samples [s0, s0 + nb), with the transformed weights uv. */
static kwvk_result record_chunk(kw_rec *rec, const kw_op_call *call, uint32_t s0, uint32_t nb, kw_view uv, bool texel)
{
    kw_ctx *ctx = rec->ctx;
    const kw_op *op = call->op;
    wino_geom g;
    geom(op, nb, call->out, &g);
    const uint64_t xs = kw_shape_count(call->in[0]) * 4, ys = kw_shape_count(call->out) * 4;
    const uint32_t Tp4 = g.Tp / 4, ntb = g.Tp / WINO_TT, T4 = kw_div_up(g.T, 4);
    uint32_t gx[3], gy[3];
    if (!kw_grid(ctx, (uint64_t)g.C * Tp4, WINO_LANES, &gx[0], &gy[0]) ||
        !kw_grid(ctx, (uint64_t)ntb * (g.Op / WINO_TO), WINO_LANES, &gx[1], &gy[1]) ||
        !kw_grid(ctx, (uint64_t)g.O * T4, WINO_LANES, &gx[2], &gy[2]))
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "conv2d (Winograd): %u tiles exceed the dispatch limits", g.T);
    const kw_view vv = kw_view_of(call->scratch.buf, call->scratch.offset, g.v_bytes);
    const kw_view mv = kw_view_of(call->scratch.buf, call->scratch.offset + g.m_off, g.m_bytes);

    /* 1. input transform */
    {
        in_push pc = {0};
        kw_view v[2];
        KW_TRY(kw_view_sub(ctx, call->vin[0], s0 * xs, nb * xs, &v[0], &pc.x_base));
        v[1] = vv;
        pc.H = call->in[0].h;
        pc.W = call->in[0].w;
        pc.ph = (uint32_t)op->conv.ph;
        pc.pw = (uint32_t)op->conv.pw;
        pc.C = g.C;
        pc.tw = g.tw;
        pc.tps = g.tps;
        pc.T = g.T;
        pc.Tp4 = Tp4;
        pc.x_stride = (uint32_t)(xs / 4);
        pc.n_inv = g.C * Tp4;
        pc.groups_x = gx[0];
        const uint32_t spec[1] = {WINO_LANES};
        kw_pipeline *pipe;
        KW_TRY(kw_pipeline_get(ctx, "conv_wino_in", spec, 1, &pipe));
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 2, 1u << 1, &pc, sizeof pc, gx[0], gy[0], 1));
    }
    /* 2. the 16 GEMMs (gl_WorkGroupID.z = xi); on GPUs with shared-memory tiles */
    bool sm = false;
    KW_TRY(kw_wino_gemm_sm(rec, uv, vv, mv, g.C, g.Op, g.Tp, &sm));
    if (!sm) {
        gemm_push pc = {g.C, g.Op / 4, Tp4, ntb, ntb * (g.Op / WINO_TO), gx[1]};
        kw_view v[3] = {uv, vv, mv};
        if (texel) v[0].texel = v[1].texel = 16;
        const uint32_t spec[3] = {WINO_LANES, WINO_TO, WINO_TT};
        kw_pipeline *pipe;
        KW_TRY(kw_pipeline_get(ctx, texel ? "conv_wino_gemm_tb" : "conv_wino_gemm", spec, 3, &pipe));
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 3, 1u << 2, &pc, sizeof pc, gx[1], gy[1], 16));
    }
    /* 3. output transform and epilogue */
    {
        out_push pc = {0};
        kw_view v[5];
        v[0] = mv;
        KW_TRY(kw_view_sub(ctx, call->vout, s0 * ys, nb * ys, &v[4], &pc.y_base));
        /* absent optional inputs: bind a small read-only range of M (never read) */
        const kw_view dummy = kw_view_of(mv.buf, mv.offset, 16);
        v[1] = v[2] = v[3] = dummy;
        if (op->tensors[1] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vt[1], 0, g.O * 4ull, &v[1], &pc.s_base));
        if (op->tensors[2] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vt[2], 0, g.O * 4ull, &v[2], &pc.b_base));
        if (op->inputs[2] != KW_NONE) KW_TRY(kw_view_sub(ctx, call->vin[2], s0 * ys, nb * ys, &v[3], &pc.r_base));
        pc.O = g.O;
        pc.Op4 = g.Op / 4;
        pc.Tp4 = Tp4;
        pc.OH = call->out.h;
        pc.OW = call->out.w;
        pc.tw = g.tw;
        pc.tps = g.tps;
        pc.T = g.T;
        pc.T4 = T4;
        pc.n_inv = g.O * T4;
        pc.groups_x = gx[2];
        pc.epi = kw_conv_epilogue(op); /* a push constant, GELU alone a spec constant */
        const uint32_t spec[2] = {WINO_LANES, op->conv.act == KW_ACT_GELU ? KW_ACT_GELU : 0u};
        kw_pipeline *pipe;
        KW_TRY(kw_pipeline_get(ctx, "conv_wino_out", spec, 2, &pipe));
        KW_TRY(kw_rec_dispatch(rec, pipe, v, 5, 1u << 4, &pc, sizeof pc, gx[2], gy[2], 1));
    }
    return KWVK_OK;
}

kwvk_result kw_wino_record(kw_rec *rec, const kw_op_call *call, bool *done)
{
    kw_ctx *ctx = rec->ctx;
    const kw_op *op = call->op;
    const bool dyn = op->inputs[1] != KW_NONE;
    /* fused: the kernel value holds the attention, not a kernel, so the direct path is no option */
    const bool fused = dyn && kw_wino_kw_fused(ctx, op, call->n, call->out);
    *done = false;
    if (fused && (!call->vin[1].buf || !call->peer_wh.buf || !call->scratch.buf))
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT,
                       "conv2d (KW, Winograd domain): no attention, warehouse or scratch view");
    if (!(dyn ? call->vin[1].buf != NULL : call->derived.buf != NULL) || !call->scratch.buf ||
        !kw_wino_selected(ctx, op) || !wino_dyn_plane(ctx, op, call->n, call->out))
        return KWVK_OK;
    if (call->n == 0 || kw_shape_count(call->out) == 0) { /* the direct path: nothing */
        *done = fused;
        return KWVK_OK;
    }
    /* Samples per chunk: within the scratch (sized for WINO_CHUNK_BYTES) and, for V, M and
     * the chunk's input / output / residual, within one binding. A conv whose single sample
     * or U does not fit is left to the direct path, which splits further. */
    const uint64_t lim = kw_bind_limit(ctx);
    const uint64_t xs = kw_shape_count(call->in[0]) * 4, ys = kw_shape_count(call->out) * 4;
    const uint64_t ubytes = kw_wino_weights_count(op) * 4;
    const uint64_t ws = 9ull * op->conv.O * op->conv.C * 4; /* per-sample weights */
    uint64_t k = chunk_samples(op, call->n, call->out, lim < WINO_CHUNK_BYTES ? lim : WINO_CHUNK_BYTES);
    if (dyn && k > 1) k = 1;
    if (dyn && ws > lim && !fused) return KWVK_OK;
    if (xs && lim / xs < k) k = lim / xs;
    if (ys && lim / ys < k) k = lim / ys;
    const uint32_t ku = fused ? fused_samples(ctx, op, call->n) : 1; /* samples per assembly */
    wino_geom g;
    geom(op, k ? (uint32_t)k : 1, call->out, &g);
    const bool planned = call->scratch.size >= (dyn ? g.u_off + g.u_bytes * ku : g.m_off + g.m_bytes);
    if (k == 0 || ubytes > lim || ctx->props.limits.maxComputeWorkGroupCount[2] < 16 || !planned) {
        if (fused)
            return kw_fail(KWVK_ERROR_UNSUPPORTED,
                           "conv2d (KW, Winograd domain): one sample's tiles or U exceed a binding of %llu bytes "
                           "(KWVK_KW_WINOGRAD=0 assembles plain kernels)",
                           (unsigned long long)lim);
        return KWVK_OK;
    }
    kw_view uv = dyn ? kw_view_of(call->scratch.buf, call->scratch.offset + g.u_off, g.u_bytes) : call->derived;
    uv.size = ubytes;
    /* texel buffers for the GEMM's inputs where they are on, aligned and within the limit */
    const uint64_t talign = ctx->props.limits.minTexelBufferOffsetAlignment;
    const bool texel = ctx->feat.texel_buffers && call->scratch.offset % talign == 0 && uv.offset % talign == 0 &&
                       g.u_bytes % talign == 0 && g.v_bytes / 16 <= ctx->max_texel_elements &&
                       ubytes / 16 <= ctx->max_texel_elements;
    uint32_t wgx = 0, wgy = 0;
    if (dyn && !fused && !kw_grid(ctx, (uint64_t)g.C * (g.Op / 4), WINO_LANES, &wgx, &wgy)) return KWVK_OK;
    *done = true;
    for (uint32_t s0 = 0; s0 < call->n; s0 += (uint32_t)k) {
        const uint32_t nb = call->n - s0 < k ? call->n - s0 : (uint32_t)k;
        kw_view us = uv;
        if (fused) { /* every ku samples: their U straight from the attention and the warehouse */
            const uint32_t j = s0 % ku;
            if (j == 0) {
                const uint32_t na = call->n - s0 < ku ? call->n - s0 : ku;
                /* the attention, packed at the start of the kernel value (kw_assemble's copy) */
                const kw_assemble_params *ap = &op->kw_peer->assemble;
                const uint64_t as = 9ull * (ap->O / ap->co) * (ap->Cg / ap->ci) * ap->M;
                const kw_view all = kw_view_of(call->scratch.buf, uv.offset, g.u_bytes * na);
                KW_TRY(
                    kw_assemble_wino_record(rec, op->kw_peer, na, call->vin[1], s0 * as, as, call->peer_wh, all, g.Op));
            }
            us.offset += j * g.u_bytes;
        } else if (dyn) { /* this sample's U = G g G^T, into the scratch */
            struct {
                uint32_t w_base, O, C, Op4, ohwi, n_inv, groups_x;
            } pc = {0, g.O, g.C, g.Op / 4, (call->in_ohwi & 2u) ? 1u : 0u, g.C * (g.Op / 4), wgx};
            kw_view v[2];
            KW_TRY(kw_view_sub(ctx, call->vin[1], s0 * ws, ws, &v[0], &pc.w_base));
            v[1] = uv;
            const uint32_t spec[1] = {WINO_LANES};
            kw_pipeline *pipe;
            KW_TRY(kw_pipeline_get(ctx, "conv_wino_wt", spec, 1, &pipe));
            KW_TRY(kw_rec_dispatch(rec, pipe, v, 2, 1u << 1, &pc, sizeof pc, wgx, wgy, 1));
        }
        KW_TRY(record_chunk(rec, call, s0, nb, us, texel));
    }
    return KWVK_OK;
}
