/* ops_kw.c - recorders of the KernelWarehouse ops.
 *
 * kw_attention (docs/kw-math.md section 2): kw_attention.comp, one dispatch of one workgroup per sample
 * that runs pool, fc1, (fc2,) logits and normalisation in turn (see the shader). Where a
 * binding would exceed the storage range or the device has fewer than 8 storage buffers per
 * stage, 3 dispatches (4 on the basis path):
 *   kw_pool  g[s, c] = mean of x[s, c, :, :]                     -> scratch
 *   kw_fc    h[s, :] = ReLU(fc1_w g[s] + fc1_b)                   -> scratch
 *   kw_fc    (basis path) fc2_w h[s] = [local, basis, zero] rows  -> scratch
 *   kw_mix   one workgroup per mixture row: the M + 1 logits, / (sum |z| + 1e-3), drop the
 *            zero column -> alpha [s, nlm, M]
 * kw_assemble (docs/kw-math.md section 3): kw_assemble (vec4 warehouse) / kw_assemble1 (scalar), a
 *   GEMM alpha[s] x warehouse batched over the samples: each invocation keeps a register tile
 *   of up to 18 (sample, mixture row) pairs x 16 cell elements (small assemblies: 9 rows x 8),
 *   so a warehouse vec4 is loaded once per tile, and writes straight in conv2d's weight
 *   layout. Where its reader conv assembles in the Winograd domain (kw_wino_kw_fused),
 *   kw_assemble only copies the attention into the kernel value and the conv records
 *   kw_assemble_wino_record (kw_assemble_wino[_tb]: 9 taps x up to 2 samples x 16 cell
 *   elements per invocation, the F(2x2,3x3) weight transform applied in registers, U written
 *   in conv_wino_gemm's layout). On GPUs both take a tile of 1 sample x up to 9 rows x 4 cell
 *   elements (KW_GPU_ROWS).
 *
 * Every binding is a sub-range of the op's views, bound at an offset aligned for the device
 * (the remainder goes to the shader as an element offset). Work is split into several
 * dispatches wherever a binding would exceed ctx->max_storage_range (along the batch, along
 * weight rows, along the spatial extent for the pool and along the cells for the
 * warehouse) or a group count would exceed the device limits. */
#include "ops.h"

#include <stdio.h>

#include <string.h>

#define KW_LS 64u /* workgroup size of every KW shader */

/* ---------------------------------------------------------------------------------------- */
/* Views and splitting                                                                      */
/* ---------------------------------------------------------------------------------------- */

/* Chunk sizes of up to 3 nested loops (level 0 innermost): fit() says whether chunks of the
 * given sizes can be dispatched. Each level in turn takes the largest size that fits with the
 * inner levels already chosen and the outer ones at 1 (fit is monotone in every size). */
typedef bool (*fit_fn)(const void *u, const uint64_t chunk[3]);

static bool choose_chunks(const void *u, fit_fn fit, const uint64_t total[3], uint64_t chunk[3])
{
    chunk[0] = chunk[1] = chunk[2] = 1;
    if (!fit(u, chunk)) return false;
    for (int i = 0; i < 3; i++) {
        uint64_t lo = 1, hi = total[i] ? total[i] : 1;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2;
            chunk[i] = mid;
            if (fit(u, chunk))
                lo = mid;
            else
                hi = mid - 1;
        }
        chunk[i] = lo;
    }
    return true;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}
static uint32_t div_up64(uint64_t a, uint64_t b)
{
    return (uint32_t)((a + b - 1) / b);
}

static bool need_tensor(const kw_op_call *call, int slot, const char *what, kwvk_result *r)
{
    if (call->vt[slot].buf && call->t[slot]) return true;
    *r = kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: tensor %d (%s) has no device view", kwvk_op_name(call->op->type),
                 slot, what);
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* kw_attention                                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef struct att_geom {
    uint32_t C, hid, nlm, M, nlc, nb, start;
    uint32_t rpm;                        /* fc2 rows per mixture row: M + 1 or nlc + nb + 1 */
    uint64_t hw;                         /* spatial size of the input */
    uint64_t g_off, h_off, z_off, bytes; /* scratch sections (bytes) */
    uint64_t l_off, d_off;               /* fused path only: logits [n, nlm, M + 1], denominators [n, nlm] */
    bool ln;                             /* LayerNorm hidden norm (fc1_b holds [3, hid]: bias, LN weight, LN bias) */
    float eps;
    uint64_t ln_off; /* multi-dispatch path with ln: the normalised hidden vectors [n, hid] */
} att_geom;

static uint64_t round256(uint64_t v)
{
    return (v + 255) & ~(uint64_t)255;
}

static att_geom att_geometry(const kw_op *op, uint32_t n, const kw_shape *in)
{
    att_geom g;
    memset(&g, 0, sizeof g);
    const kw_attention_params *a = &op->att;
    g.C = (uint32_t)a->C;
    g.hid = (uint32_t)a->hid;
    g.nlm = (uint32_t)a->nlm;
    g.M = (uint32_t)a->M;
    g.nlc = (uint32_t)a->nlc;
    g.nb = (uint32_t)a->nb;
    g.start = (uint32_t)a->start;
    g.rpm = g.nb ? g.nlc + g.nb + 1 : g.M + 1;
    g.hw = (uint64_t)in[0].h * in[0].w;
    g.g_off = 0;
    g.h_off = round256((uint64_t)n * g.C * 4);
    g.z_off = g.h_off + round256((uint64_t)n * g.hid * 4);
    g.l_off = g.z_off + (g.nb ? round256((uint64_t)n * g.nlm * g.rpm * 4) : 0);
    g.d_off = g.l_off + round256((uint64_t)n * g.nlm * (g.M + 1) * 4);
    g.ln_off = g.d_off + round256((uint64_t)n * g.nlm * 4);
    g.ln = a->norm == KW_ATT_NORM_LAYERNORM;
    g.eps = g.ln ? a->eps : 0.0f;
    g.bytes = g.ln_off + (g.ln ? round256((uint64_t)n * g.hid * 4) : 0);
    return g;
}

static uint64_t attention_scratch(const kw_ctx *ctx, const kw_op_call *call)
{
    (void)ctx;
    return att_geometry(call->op, call->n, call->in).bytes;
}

/* --- kw_pool: g = mean over H*W ---------------------------------------------------------- */

typedef struct pool_job {
    const kw_ctx *ctx;
    uint64_t C, hw;
    bool wg_mode;
} pool_job;

static bool pool_fit(const void *u, const uint64_t ch[3])
{
    const pool_job *j = u; /* ch: spatial, channels, samples */
    const VkPhysicalDeviceLimits *lim = &j->ctx->props.limits;
    uint64_t gx = j->wg_mode ? ch[1] : div_up64(ch[1], KW_LS);
    if (gx > lim->maxComputeWorkGroupCount[0] || ch[2] > lim->maxComputeWorkGroupCount[1]) return false;
    return kw_bind_fits(j->ctx, (ch[2] - 1) * j->C * j->hw + (ch[1] - 1) * j->hw + ch[0]) &&
           kw_bind_fits(j->ctx, (ch[2] - 1) * j->C + ch[1]);
}

static kwvk_result record_pool(kw_rec *rec, const kw_op_call *call, const att_geom *g, kw_view gview)
{
    kw_ctx *ctx = rec->ctx;
    pool_job job = {ctx, g->C, g->hw, g->hw > 16};
    uint64_t total[3] = {g->hw, g->C, call->n}, ch[3];
    if (!choose_chunks(&job, pool_fit, total, ch))
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "kw_attention: the pooled input cannot be bound within the storage "
                       "range of %llu bytes",
                       (unsigned long long)ctx->max_storage_range);
    uint32_t spec[3] = {KW_LS, ctx->feat.subgroup_arithmetic ? 1u : 0u, job.wg_mode ? 1u : 0u};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "kw_pool", spec, 3, &pipe));
    struct {
        uint32_t xoff, goff, xs, xc, gs, nch, np, ns;
        float scale;
        uint32_t accumulate;
    } pc;
    for (uint64_t s0 = 0; s0 < call->n; s0 += ch[2])
        for (uint64_t c0 = 0; c0 < g->C; c0 += ch[1])
            for (uint64_t p0 = 0; p0 < g->hw; p0 += ch[0]) {
                uint64_t ns = min_u64(ch[2], call->n - s0), nc = min_u64(ch[1], g->C - c0);
                uint64_t np = min_u64(ch[0], g->hw - p0);
                kw_view v[2];
                v[0] = kw_view_floats(ctx, call->vin[0], (s0 * g->C + c0) * g->hw + p0,
                                      (ns - 1) * g->C * g->hw + (nc - 1) * g->hw + np, &pc.xoff);
                v[1] = kw_view_floats(ctx, gview, s0 * g->C + c0, (ns - 1) * g->C + nc, &pc.goff);
                pc.xs = (uint32_t)(g->C * g->hw);
                pc.xc = (uint32_t)g->hw;
                pc.gs = g->C;
                pc.nch = (uint32_t)nc;
                pc.np = (uint32_t)np;
                pc.ns = (uint32_t)ns;
                pc.scale = (float)(1.0 / (double)g->hw);
                pc.accumulate = p0 > 0;
                uint32_t gx = job.wg_mode ? (uint32_t)nc : div_up64(nc, KW_LS);
                KW_TRY(kw_rec_dispatch(rec, pipe, v, 2, 2u, &pc, sizeof pc, gx, (uint32_t)ns, 1));
            }
    return KWVK_OK;
}

/* --- kw_fc: y[s, r] = act(W[r] . v[s] + b[r]) ------------------------------------------- */

typedef struct fc_job {
    const kw_ctx *ctx;
    kw_view v, w, b, y; /* b.buf NULL: no bias */
    uint64_t K, rows, vs, ys;
    bool relu;
    /* derived */
    bool wg_mode;
    uint32_t sb;
} fc_job;

static bool fc_fit(const void *u, const uint64_t ch[3])
{
    const fc_job *j = u; /* ch: rows, samples */
    const VkPhysicalDeviceLimits *lim = &j->ctx->props.limits;
    uint64_t gx = j->wg_mode ? ch[0] : div_up64(ch[0], KW_LS);
    if (gx > lim->maxComputeWorkGroupCount[0] || div_up64(ch[1], j->sb) > lim->maxComputeWorkGroupCount[1])
        return false;
    return kw_bind_fits(j->ctx, ch[0] * j->K) && kw_bind_fits(j->ctx, ch[0]) &&
           kw_bind_fits(j->ctx, (ch[1] - 1) * j->vs + j->K) && kw_bind_fits(j->ctx, (ch[1] - 1) * j->ys + ch[0]);
}

static kwvk_result record_fc(kw_rec *rec, fc_job *job, uint32_t n, const char *what)
{
    kw_ctx *ctx = rec->ctx;
    job->ctx = ctx;
    job->wg_mode = job->K > 128;
    job->sb = n > 1 ? 4 : 1;
    uint64_t total[3] = {job->rows, n, 1}, ch[3];
    if (!choose_chunks(job, fc_fit, total, ch))
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "kw_attention: a row of %s (%llu values) cannot be bound within the "
                       "storage range of %llu bytes",
                       what, (unsigned long long)job->K, (unsigned long long)ctx->max_storage_range);
    bool bias = job->b.buf != NULL;
    uint32_t spec[6] = {KW_LS,
                        ctx->feat.subgroup_arithmetic ? 1u : 0u,
                        job->wg_mode ? 1u : 0u,
                        job->sb,
                        bias ? 1u : 0u,
                        job->relu ? 1u : 0u};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "kw_fc", spec, 6, &pipe));
    struct {
        uint32_t voff, woff, boff, yoff, K, vs, ys, nr, ns;
    } pc;
    for (uint64_t s0 = 0; s0 < n; s0 += ch[1])
        for (uint64_t r0 = 0; r0 < job->rows; r0 += ch[0]) {
            uint64_t ns = min_u64(ch[1], n - s0), nr = min_u64(ch[0], job->rows - r0);
            kw_view v[4];
            v[0] = kw_view_floats(ctx, job->v, s0 * job->vs, (ns - 1) * job->vs + job->K, &pc.voff);
            v[1] = kw_view_floats(ctx, job->w, r0 * job->K, nr * job->K, &pc.woff);
            /* without a bias the shader never reads binding 2: bind the weights again */
            v[2] = bias ? kw_view_floats(ctx, job->b, r0, nr, &pc.boff) : v[1];
            if (!bias) pc.boff = 0;
            v[3] = kw_view_floats(ctx, job->y, s0 * job->ys + r0, (ns - 1) * job->ys + nr, &pc.yoff);
            pc.K = (uint32_t)job->K;
            pc.vs = (uint32_t)job->vs;
            pc.ys = (uint32_t)job->ys;
            pc.nr = (uint32_t)nr;
            pc.ns = (uint32_t)ns;
            uint32_t gx = job->wg_mode ? (uint32_t)nr : div_up64(nr, KW_LS);
            KW_TRY(kw_rec_dispatch(rec, pipe, v, 4, 8u, &pc, sizeof pc, gx, div_up64(ns, job->sb), 1));
        }
    return KWVK_OK;
}

/* --- kw_mix: logits, normalisation, alpha ------------------------------------------------- */

typedef struct mix_job {
    const kw_ctx *ctx;
    const att_geom *g;
    uint64_t vs; /* per-sample stride of v (h or fc2's output) */
    uint32_t sb;
} mix_job;

static bool mix_fit(const void *u, const uint64_t ch[3])
{
    const mix_job *j = u; /* ch: mixture rows, samples */
    const att_geom *g = j->g;
    const VkPhysicalDeviceLimits *lim = &j->ctx->props.limits;
    if (ch[0] > lim->maxComputeWorkGroupCount[0] || div_up64(ch[1], j->sb) > lim->maxComputeWorkGroupCount[1])
        return false;
    uint64_t out_span = (ch[1] - 1) * g->nlm * g->M + ch[0] * g->M;
    if (!kw_bind_fits(j->ctx, out_span) || !kw_bind_fits(j->ctx, ch[0] * (g->M + 1))) return false;
    if (g->nb == 0)
        return kw_bind_fits(j->ctx, ch[0] * (g->M + 1) * g->hid) && kw_bind_fits(j->ctx, (ch[1] - 1) * j->vs + g->hid);
    return kw_bind_fits(j->ctx, (uint64_t)(g->M - g->nlc) * g->nb) &&
           kw_bind_fits(j->ctx, (ch[1] - 1) * j->vs + ch[0] * g->rpm);
}

static kwvk_result record_mix(kw_rec *rec, const kw_op_call *call, const att_geom *g, kw_view v)
{
    kw_ctx *ctx = rec->ctx;
    bool basis = g->nb != 0;
    mix_job job = {ctx, g, basis ? (uint64_t)g->nlm * g->rpm : g->hid, call->n > 1 ? 4u : 1u};
    uint64_t total[3] = {g->nlm, call->n, 1}, ch[3];
    if (!choose_chunks(&job, mix_fit, total, ch))
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "kw_attention: the weights of one mixture row (%s) cannot be bound within "
                       "the storage range of %llu bytes",
                       basis ? "fc3" : "fc2", (unsigned long long)ctx->max_storage_range);
    uint32_t spec[4] = {KW_LS, ctx->feat.subgroup_arithmetic ? 1u : 0u, job.sb, basis ? 1u : 0u};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "kw_mix", spec, 4, &pipe));
    struct {
        uint32_t voff, woff, boff, aoff, K, M, nlc, nb, start, vs, as_, nm, ns;
    } pc;
    kw_view wv = basis ? call->vt[4] : call->vt[2]; /* fc3 (may be absent) or fc2 */
    kw_view bv = basis ? call->vt[5] : call->vt[3]; /* basis_bias or fc2_b */
    bool has_w = wv.buf != NULL;
    for (uint64_t s0 = 0; s0 < call->n; s0 += ch[1])
        for (uint64_t m0 = 0; m0 < g->nlm; m0 += ch[0]) {
            uint64_t ns = min_u64(ch[1], call->n - s0), nm = min_u64(ch[0], g->nlm - m0);
            kw_view b[4];
            if (basis) {
                b[0] = kw_view_floats(ctx, v, s0 * job.vs + m0 * g->rpm, (ns - 1) * job.vs + nm * g->rpm, &pc.voff);
                if (has_w) b[1] = kw_view_floats(ctx, wv, 0, (uint64_t)(g->M - g->nlc) * g->nb, &pc.woff);
            } else {
                b[0] = kw_view_floats(ctx, v, s0 * job.vs, (ns - 1) * job.vs + g->hid, &pc.voff);
                b[1] = kw_view_floats(ctx, wv, m0 * (g->M + 1) * g->hid, nm * (g->M + 1) * g->hid, &pc.woff);
            }
            b[2] = kw_view_floats(ctx, bv, m0 * (g->M + 1), nm * (g->M + 1), &pc.boff);
            if (!has_w) { /* M == nlc: no nonlocal cells, binding 1 is never read */
                b[1] = b[2];
                pc.woff = 0;
            }
            b[3] = kw_view_floats(ctx, call->vout, s0 * g->nlm * g->M + m0 * g->M, (ns - 1) * g->nlm * g->M + nm * g->M,
                                  &pc.aoff);
            pc.K = basis ? g->nb : g->hid;
            pc.M = g->M;
            pc.nlc = g->nlc;
            pc.nb = g->nb;
            pc.start = g->start;
            pc.vs = (uint32_t)job.vs;
            pc.as_ = g->nlm * g->M;
            pc.nm = (uint32_t)nm;
            pc.ns = (uint32_t)ns;
            KW_TRY(kw_rec_dispatch(rec, pipe, b, 4, 8u, &pc, sizeof pc, (uint32_t)nm, div_up64(ns, job.sb), 1));
        }
    return KWVK_OK;
}

/* --- kw_attention.comp: everything in one dispatch --------------------------------------- */

/* The fused path binds every tensor whole, for all samples at once. */
static bool fused_fits(const kw_ctx *ctx, const kw_op_call *call, const att_geom *g)
{
    const uint64_t n = call->n;
    return ctx->feat.fused_attention && n <= ctx->props.limits.maxComputeWorkGroupCount[0] &&
           kw_bind_fits(ctx, n * g->C * g->hw) && kw_bind_fits(ctx, (uint64_t)g->hid * g->C) &&
           kw_bind_fits(ctx, (uint64_t)g->nlm * (g->nb ? g->rpm : g->M + 1) * g->hid) &&
           kw_bind_fits(ctx, (uint64_t)g->nlm * (g->M + 1)) && kw_bind_fits(ctx, (uint64_t)(g->M - g->nlc) * g->nb) &&
           kw_bind_fits(ctx, g->bytes / 4) && kw_bind_fits(ctx, n * g->nlm * g->M);
}

static kwvk_result record_fused(kw_rec *rec, const kw_op_call *call, const att_geom *g)
{
    kw_ctx *ctx = rec->ctx;
    const bool basis = g->nb != 0;
    struct {
        uint32_t xoff, w1off, b1off, w2off, b2off, w3off, soff, aoff;
        uint32_t C, hid, nlm, M, nlc, nb, start, rpm, hw;
        uint32_t g_off, h_off, f_off, z_off, d_off;
        float scale, eps;
    } pc;
    kw_view v[8];
    v[0] = kw_view_floats(ctx, call->vin[0], 0, (uint64_t)call->n * g->C * g->hw, &pc.xoff);
    v[1] = kw_view_floats(ctx, call->vt[0], 0, (uint64_t)g->hid * g->C, &pc.w1off);
    v[2] = kw_view_floats(ctx, call->vt[1], 0, (g->ln ? 3ull : 1ull) * g->hid, &pc.b1off);
    v[3] = kw_view_floats(ctx, call->vt[2], 0, (uint64_t)g->nlm * (basis ? g->rpm : g->M + 1) * g->hid, &pc.w2off);
    v[4] = kw_view_floats(ctx, basis ? call->vt[5] : call->vt[3], 0, (uint64_t)g->nlm * (g->M + 1), &pc.b2off);
    if (basis && g->M > g->nlc) {
        v[5] = kw_view_floats(ctx, call->vt[4], 0, (uint64_t)(g->M - g->nlc) * g->nb, &pc.w3off);
    } else { /* fc3 is never read: bind fc2 again */
        v[5] = v[3];
        pc.w3off = 0;
    }
    v[6] = kw_view_floats(ctx, call->scratch, 0, g->bytes / 4, &pc.soff);
    v[7] = kw_view_floats(ctx, call->vout, 0, (uint64_t)call->n * g->nlm * g->M, &pc.aoff);
    pc.C = g->C;
    pc.hid = g->hid;
    pc.nlm = g->nlm;
    pc.M = g->M;
    pc.nlc = g->nlc;
    pc.nb = g->nb;
    pc.start = g->start;
    pc.rpm = g->rpm;
    pc.hw = (uint32_t)g->hw;
    pc.g_off = (uint32_t)(g->g_off / 4);
    pc.h_off = (uint32_t)(g->h_off / 4);
    pc.f_off = (uint32_t)(g->z_off / 4);
    pc.z_off = (uint32_t)(g->l_off / 4);
    pc.d_off = (uint32_t)(g->d_off / 4);
    pc.scale = (float)(1.0 / (double)g->hw);
    pc.eps = g->eps;
    /* vec4 loads of x when every channel row starts on a vec4 boundary and the plane is large
     * enough to matter: planes up to 16x16 keep the scalar variant, so that a small net (every
     * plane of the shipped 28x28 model) compiles one attention program, not two (~60 ms of its
     * cold start on lavapipe) */
    const uint32_t vec4 = g->hw % 4 == 0 && g->hw > 256 && pc.xoff % 4 == 0;
    uint32_t spec[4] = {KW_LS, basis ? 1u : 0u, vec4, g->ln ? 1u : 0u};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "kw_attention", spec, 4, &pipe));
    return kw_rec_dispatch(rec, pipe, v, 8, (1u << 6) | (1u << 7), &pc, sizeof pc, call->n, 1, 1);
}

static kwvk_result attention_record(kw_rec *rec, const kw_op_call *call)
{
    kwvk_result r = KWVK_OK;
    att_geom g = att_geometry(call->op, call->n, call->in);
    if (!call->vin[0].buf || !call->vout.buf)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kw_attention: missing input or output view");
    if (!need_tensor(call, 0, "fc1_w", &r) || !need_tensor(call, 1, "fc1_b", &r) || !need_tensor(call, 2, "fc2_w", &r))
        return r;
    if (g.nb == 0 && !need_tensor(call, 3, "fc2_b", &r)) return r;
    if (g.nb != 0 && !need_tensor(call, 5, "basis_bias", &r)) return r;
    if (g.nb != 0 && g.M > g.nlc && !need_tensor(call, 4, "fc3_w", &r)) return r;
    if (!call->scratch.buf || (call->scratch.size && call->scratch.size < g.bytes))
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kw_attention: scratch of %llu bytes given, %llu needed",
                       (unsigned long long)call->scratch.size, (unsigned long long)g.bytes);

    if (call->n == 0) return KWVK_OK;
    if (fused_fits(rec->ctx, call, &g)) return record_fused(rec, call, &g);

    kw_view sv = call->scratch;
    kw_view gview = kw_view_of(sv.buf, sv.offset + g.g_off, (uint64_t)call->n * g.C * 4);
    kw_view hview = kw_view_of(sv.buf, sv.offset + g.h_off, (uint64_t)call->n * g.hid * 4);
    kw_view zview = kw_view_of(sv.buf, sv.offset + g.z_off, (uint64_t)call->n * g.nlm * g.rpm * 4);

    /* 1. global average pool */
    KW_TRY(record_pool(rec, call, &g, gview));
    /* 2. fc1 + ReLU (with a LayerNorm hidden norm: fc1, then LayerNorm + ReLU into its own
     * scratch section, which the later steps read as h) */
    fc_job fc1 = {.ctx = NULL};
    fc1.v = gview;
    fc1.w = call->vt[0];
    fc1.b = kw_view_of(call->vt[1].buf, call->vt[1].offset, (uint64_t)g.hid * 4);
    fc1.y = hview;
    fc1.K = g.C;
    fc1.rows = g.hid;
    fc1.vs = g.C;
    fc1.ys = g.hid;
    fc1.relu = !g.ln;
    KW_TRY(record_fc(rec, &fc1, call->n, "fc1"));
    if (g.ln) {
        const kw_view b1 = call->vt[1];
        kw_view lnview = kw_view_of(sv.buf, sv.offset + g.ln_off, (uint64_t)call->n * g.hid * 4);
        KW_TRY(kw_layernorm_dispatch(rec, hview,
                                     kw_view_of(b1.buf, b1.offset + (uint64_t)g.hid * 4, (uint64_t)g.hid * 4),
                                     kw_view_of(b1.buf, b1.offset + (uint64_t)g.hid * 8, (uint64_t)g.hid * 4), lnview,
                                     call->n, g.hid, 1, g.eps, KW_ACT_RELU));
        hview = lnview;
    }
    if (g.nb == 0) return record_mix(rec, call, &g, hview);

    /* 3. basis path: fc2 (no bias) -> [local, basis, zero] per mixture row */
    fc_job fc2 = {.ctx = NULL};
    fc2.v = hview;
    fc2.w = call->vt[2];
    fc2.y = zview;
    fc2.K = g.hid;
    fc2.rows = (uint64_t)g.nlm * g.rpm;
    fc2.vs = g.hid;
    fc2.ys = (uint64_t)g.nlm * g.rpm;
    KW_TRY(record_fc(rec, &fc2, call->n, "fc2"));
    /* 4. nonlocal cells, rebuilt rows, normalisation */
    return record_mix(rec, call, &g, zview);
}

/* ---------------------------------------------------------------------------------------- */
/* kw_assemble                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* Assemblies of at most this many multiply-adds per sample (nlm x M x L: every layer of a
 * 28x28 KW net, up to 2.14 M in the shipped model, the 1x1 downsamples of a 224x224 KW ResNet,
 * most of KW MobileNetV2's) take one small program: 9 rows x 2 vec4 columns, one sample per
 * invocation, the warehouse through storage buffers. Its columns trade run time for compile
 * time (lavapipe, shipped model, alternated runs): 1 vec4 column took 5.4-5.7 ms of assembly
 * per batch-1 run (--profile), 2 took 3.3-3.5, 4 took 2.8; whole runs took 14.7-16.6 / 10.4-12.3
 * / 9.4-12.4 ms (best of 60), and the first process on empty caches 0.54-0.63 / 0.63-0.83 /
 * 0.96-1.10 s (the store code of 4 columns, unrolled over 9 rows, is what compiles slowly).
 * Those first processes still compiled the read-modify-write of chunked warehouses into every
 * program; with that a specialisation constant (ACCUMULATE, kw_assemble.glsl), 2 columns start
 * as fast as 1 column did with it (0.73-0.86 against 0.74-0.90 s, alternated processes on a
 * loaded machine). The bound below was measured with the 1-column program. Compiling the tiled variants (up to 18
 * rows x 4 vec4 columns, one per row count) was most of a cold start: the shipped model's
 * first process took 3.3 s with them, 0.85 s with the small one (lavapipe, empty caches), and
 * the texel-buffer variants were compiled again by the next process (0.65 s there against
 * 0.12 s). Above the bound the tiles pay: with 3 M, KW MobileNetV2's 2.5 M layers (12 rows,
 * a third of the small program's 18 wasted) took its assembly from 24-30 to 30-37 ms at
 * batch 1 and from 122-124 to 166-206 ms at batch 8 (--profile, alternated); with 4 M, KW 1x
 * ResNet18's 4.1 M layers took its assembly from 16-19 to 21-22 ms. KWVK_KW_ASM_SMALL=0 / 1:
 * never / always. */
#define KW_ASM_SMALL_MACS 2200000u

typedef struct asm_job {
    const kw_ctx *ctx;
    uint64_t M, L, nlm, out; /* cells, cell size, mixture rows, kernel size per sample */
    uint32_t sb;
    bool texel; /* alpha and warehouse through uniform texel buffers (kw_assemble_tb) */
} asm_job;

/* The register tile of both assemblies on GPUs (kw_ctx.gpu_kernels): one sample x at most 9
 * mixture rows x 1 vec4 column, 36 accumulators, where lavapipe's tiles hold up to 288 (18 rows
 * x 4 vec4) or, in the Winograd domain, 144 plus the 64 of the transformed block. A GPU thread
 * that needs more registers than the hardware gives it spills to memory (NVIDIA: at most 255 a
 * thread; Arm Mali Valhall: 64 at full occupancy) or runs at low occupancy, while the assembly,
 * a few multiply-adds per warehouse value, is bound by memory there: what matters is that the
 * invocations of a subgroup read consecutive warehouse vec4s (one column each), and the GPU's
 * caches, not registers, serve the re-reads of a warehouse vec4 by other samples and rows.
 * Chosen from those limits, not measured: no GPU ran it yet. */
#define KW_GPU_ROWS 9u

/* Rows per tile for nlm mixture rows in the fewest tiles of at most `most` rows, as even as
 * they come (20 rows in tiles of at most 9: 7 + 7 + 6; of at most 18: 10 + 10). */
static uint32_t even_rows(uint64_t nlm, uint32_t most)
{
    const uint64_t groups = div_up64(nlm, most);
    return (uint32_t)div_up64(nlm, groups);
}

/* Can `count` floats starting anywhere be a texel view of `texel` bytes per texel? */
static bool texels_fit(const kw_ctx *ctx, uint64_t count, uint32_t texel)
{
    return (count * 4 + kw_bind_align(ctx)) / texel <= ctx->max_texel_elements;
}

static bool asm_fit(const void *u, const uint64_t ch[3])
{
    const asm_job *j = u; /* ch: cells, samples */
    if (div_up64(ch[1], j->sb) > j->ctx->props.limits.maxComputeWorkGroupCount[2]) return false;
    uint64_t alpha_span = (ch[1] - 1) * j->nlm * j->M + (j->nlm - 1) * j->M + ch[0];
    if (j->texel && !(texels_fit(j->ctx, ch[0] * j->L, 16) && texels_fit(j->ctx, alpha_span, 4))) return false;
    return kw_bind_fits(j->ctx, ch[0] * j->L) && kw_bind_fits(j->ctx, alpha_span) &&
           kw_bind_fits(j->ctx, ch[1] * j->out);
}

/* Can this kw_assemble write [O, kh, kw, Cg] (conv2d's OHWI weights) instead of [O, Cg, kh, kw]?
 * Cells of single taps (spatial partition on, or 1x1 kernels): their columns are input
 * channels, consecutive in [O, kh, kw, Cg] but kh*kw apart in [O, Cg, kh, kw]. The net also
 * checks the readers (kw_model_value_ohwi) and sets kw_op_call.out_ohwi. */
static bool assemble_kernel_out(const kw_op *op, kw_kernel_geom *g)
{
    const kw_assemble_params *a = &op->assemble;
    *g = (kw_kernel_geom){(uint32_t)a->O, (uint32_t)a->Cg, (uint32_t)a->kh, (uint32_t)a->kw};
    return a->ckh == 1 && a->ckw == 1;
}

static kwvk_result assemble_record(kw_rec *rec, const kw_op_call *call)
{
    kw_ctx *ctx = rec->ctx;
    kwvk_result r = KWVK_OK;
    const kw_assemble_params *ap = &call->op->assemble;
    const uint32_t O = (uint32_t)ap->O, Cg = (uint32_t)ap->Cg, kh = (uint32_t)ap->kh;
    const uint32_t kw = (uint32_t)ap->kw, co = (uint32_t)ap->co, ci = (uint32_t)ap->ci;
    const uint32_t ckh = (uint32_t)ap->ckh, ckw = (uint32_t)ap->ckw, M = (uint32_t)ap->M;
    if (!call->vin[0].buf || !call->vout.buf)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kw_assemble: missing input or output view");
    if (!need_tensor(call, 0, "warehouse", &r)) return r;
    /* the conv reading this kernel assembles it in the Winograd domain (ops_wino.c): it only
     * needs the attention, which the kernel value holds for it (the attention's own value may be
     * reused before the conv runs) */
    if (call->op->kw_peer && kw_wino_kw_fused(ctx, call->op->kw_peer, call->n, call->peer_out)) {
        const uint64_t bytes = (uint64_t)call->n * kw_shape_count(call->in[0]) * 4;
        if (bytes > call->vout.size || bytes > call->vin[0].size)
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kw_assemble: the attention does not fit the kernel value");
        return kw_rec_copy(rec, call->vin[0], call->vout, bytes);
    }

    asm_job job;
    job.ctx = ctx;
    job.M = M;
    job.L = (uint64_t)co * ci * ckh * ckw;
    job.nlm = (uint64_t)(O / co) * (Cg / ci) * (kh / ckh) * (kw / ckw);
    job.out = (uint64_t)O * Cg * kh * kw;
    /* register tile: SB samples x TR mixture rows (up to 18 (sample, row) pairs) x 4*CV cell
     * elements: each warehouse vec4 loaded serves SB*TR rows. On lavapipe (KW 1x ResNet18,
     * batch 1) up to 18 rows x 4 vec4 took 75-85 ms of assembly, 8 x 4 112 ms, 4 x 8 170 ms.
     * Small assemblies share one program, 1 x 9 x 2 (see KW_ASM_SMALL_MACS). The GPU kernels
     * (kw_ctx.gpu_kernels) take KW_GPU_ROWS x 1 instead (see there). */
    const bool small =
        !ctx->gpu_kernels && (ctx->asm_small >= 0 ? ctx->asm_small == 1 : job.nlm * M * job.L <= KW_ASM_SMALL_MACS);
    uint32_t tr = 9, cv = 2;
    job.sb = 1;
    if (ctx->gpu_kernels) {
        tr = even_rows(job.nlm, KW_GPU_ROWS);
        cv = 1;
    } else if (!small) {
        job.sb = call->n < 8 ? call->n : 8;
        /* mixture rows in nines (3x3 kernels of single-tap cells): 2 samples x 9 rows per tile
         * instead of 8 x 2 (9 rows in 2-row groups computed 10). Batch 8, lavapipe, --profile
         * assembly sums of two alternated rounds: KW 1x ResNet18 372-420 -> 297-318 ms, KW 1d4x
         * 279-318 -> 265-292, KW 4x 980-1014 -> 844-909, KW 1x MobileNetV2 155-169 -> 144-152. */
        if (call->n >= 2 && job.nlm % 9 == 0) job.sb = 2;
        tr = 18 / job.sb;
        cv = 4;
        /* 9 rows (a 3x3 kernel of 1x1 cells) as one tile of 9, 18 as one of 18, 20 as 10 + 10 */
        if (job.nlm < 64) tr = even_rows(job.nlm, tr);
    }
    uint64_t total[3] = {M, call->n, 1}, ch[3];
    /* vec4 warehouse reads when every cell row starts on a vec4 boundary; through texel
     * buffers when the device has them and one cell fits their limit */
    bool vec4 = job.L % 4 == 0 && call->vt[0].offset % 16 == 0;
    uint64_t one[3] = {1, 1, 1};
    job.texel = vec4 && ctx->feat.texel_buffers && !small;
    if (job.texel && !asm_fit(&job, one)) job.texel = false;
    if (!choose_chunks(&job, asm_fit, total, ch))
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "kw_assemble: one sample's kernel (%llu values) or one warehouse cell "
                       "(%llu values) cannot be bound within the storage range of %llu bytes",
                       (unsigned long long)job.out, (unsigned long long)job.L,
                       (unsigned long long)ctx->max_storage_range);

    /* output layout (assemble_kernel_out) and vec4 stores: runs of ci channels, vec4-aligned where
     * ci, Cg and the output's start are multiples of 4 */
    kw_kernel_geom kg;
    const bool ohwi = call->out_ohwi && assemble_kernel_out(call->op, &kg); /* the net checked the readers */
    const bool vec4_out = ohwi && ci % 4 == 0 && Cg % 4 == 0 && call->vout.offset % 16 == 0;
    const char *shader = job.texel ? "kw_assemble_tb" : vec4 ? "kw_assemble" : "kw_assemble1";
    uint32_t spec[6] = {KW_LS, job.sb, tr, cv, vec4_out, 0};
    kw_pipeline *first, *later = NULL; /* the first warehouse chunk, and those that add to it */
    KW_TRY(kw_pipeline_get(ctx, shader, spec, 6, &first));
    if (ch[0] < M) {
        spec[5] = 1;
        KW_TRY(kw_pipeline_get(ctx, shader, spec, 6, &later));
    }

    struct {
        uint32_t aoff, eoff, ooff, L, Lq, nq, mc, M, as_, os, co, ci, ckh, ckw, GO, GI, SW, so, sc, sy, sx, nlm, ns,
            rg0, qg0;
    } pc;
    pc.L = (uint32_t)job.L;
    pc.Lq = div_up64(job.L, 4);
    pc.nq = div_up64(pc.Lq, cv);
    pc.M = M;
    pc.as_ = (uint32_t)(job.nlm * M);
    pc.os = (uint32_t)job.out;
    pc.co = co;
    pc.ci = ci;
    pc.ckh = ckh;
    pc.ckw = ckw;
    pc.GO = O / co;
    pc.GI = Cg / ci;
    pc.SW = kw / ckw;
    pc.so = Cg * kh * kw;
    pc.sc = ohwi ? 1 : kh * kw;
    pc.sy = ohwi ? kw * Cg : kw;
    pc.sx = ohwi ? Cg : 1;
    pc.nlm = (uint32_t)job.nlm;

    /* workgroups: column groups of LS invocations on x, row groups on y, sample blocks on z;
     * x and y split where they exceed the device's group counts */
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    const uint64_t xg_all = div_up64(pc.nq, KW_LS), yg_all = div_up64(job.nlm, tr);

    for (uint64_t s0 = 0; s0 < call->n; s0 += ch[1])
        for (uint64_t m0 = 0; m0 < M; m0 += ch[0]) {
            uint64_t ns = min_u64(ch[1], call->n - s0), mc = min_u64(ch[0], M - m0);
            kw_view v[3];
            v[0] = kw_view_floats(ctx, call->vin[0], s0 * job.nlm * M + m0,
                                  (ns - 1) * job.nlm * M + (job.nlm - 1) * M + mc, &pc.aoff);
            v[1] = kw_view_floats(ctx, call->vt[0], m0 * job.L, mc * job.L, &pc.eoff);
            if (vec4) pc.eoff /= 4; /* a multiple of 4: aligned start, L % 4 == 0 */
            if (job.texel) {
                v[0].texel = 4;
                v[1].texel = 16;
            }
            v[2] = kw_view_floats(ctx, call->vout, s0 * job.out, ns * job.out, &pc.ooff);
            pc.mc = (uint32_t)mc;
            pc.ns = (uint32_t)ns;
            const kw_pipeline *pipe = m0 > 0 ? later : first;
            for (uint64_t y0 = 0; y0 < yg_all; y0 += lim->maxComputeWorkGroupCount[1])
                for (uint64_t x0 = 0; x0 < xg_all; x0 += lim->maxComputeWorkGroupCount[0]) {
                    uint64_t gy = min_u64(yg_all - y0, lim->maxComputeWorkGroupCount[1]);
                    uint64_t gx = min_u64(xg_all - x0, lim->maxComputeWorkGroupCount[0]);
                    pc.rg0 = (uint32_t)y0;
                    pc.qg0 = (uint32_t)(x0 * KW_LS);
                    KW_TRY(kw_rec_dispatch(rec, pipe, v, 3, 4u, &pc, sizeof pc, (uint32_t)gx, (uint32_t)gy,
                                           div_up64(ns, job.sb)));
                }
        }
    return KWVK_OK;
}

/* --- Winograd-domain assembly (kw_assemble_wino.glsl) ------------------------------------ */

typedef struct wasm_job {
    const kw_ctx *ctx;
    uint64_t M, L, nlm, as, us; /* cells, cell size, rows, per-sample strides of alpha and U */
    uint32_t sb;
    bool texel;
} wasm_job;

static bool wasm_fit(const void *u, const uint64_t ch[3])
{
    const wasm_job *j = u; /* ch: cells, samples */
    if (div_up64(ch[1], j->sb) > j->ctx->props.limits.maxComputeWorkGroupCount[2]) return false;
    const uint64_t alpha_span = (ch[1] - 1) * j->as + (j->nlm - 1) * j->M + ch[0];
    if (j->texel && !(texels_fit(j->ctx, ch[0] * j->L, 16) && texels_fit(j->ctx, alpha_span, 4))) return false;
    return kw_bind_fits(j->ctx, ch[0] * j->L) && kw_bind_fits(j->ctx, alpha_span) &&
           kw_bind_fits(j->ctx, ch[1] * j->us);
}

kwvk_result kw_assemble_wino_record(kw_rec *rec, const kw_op *a, uint32_t n, kw_view alpha, uint64_t a0,
                                    uint64_t alpha_stride, kw_view warehouse, kw_view u, uint32_t Op)
{
    kw_ctx *ctx = rec->ctx;
    const kw_assemble_params *ap = &a->assemble;
    const uint32_t O = (uint32_t)ap->O, Cg = (uint32_t)ap->Cg, co = (uint32_t)ap->co, ci = (uint32_t)ap->ci;
    const uint32_t M = (uint32_t)ap->M, GO = O / co, GI = Cg / ci;
    if (ap->kh != 3 || ap->kw != 3 || ap->ckh != 1 || ap->ckw != 1 || Op < O || Op % 4)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kw_assemble (Winograd domain): not a 3x3 kernel of 1x1 cells");
    const bool gpu = ctx->gpu_kernels; /* one sample x 9 taps x 1 vec4 column (KW_GPU_ROWS) */
    const uint32_t sb = n > 1 && !gpu ? 2u : 1u;
    wasm_job job = {ctx, M, (uint64_t)co * ci, 9ull * GO * GI, alpha_stride, 16ull * Cg * Op, sb, false};
    const bool vec4 = job.L % 4 == 0 && warehouse.offset % 16 == 0;
    const uint64_t one[3] = {1, 1, 1}, total[3] = {M, n, 1};
    job.texel = vec4 && ctx->feat.texel_buffers;
    if (job.texel && !wasm_fit(&job, one)) job.texel = false;
    uint64_t ch[3];
    if (!choose_chunks(&job, wasm_fit, total, ch))
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "kw_assemble (Winograd domain): one sample's U or one warehouse cell cannot be bound "
                       "within the storage range of %llu bytes",
                       (unsigned long long)ctx->max_storage_range);
    /* register tile: SB samples x 9 taps x 4 vec4 columns, as kw_assemble's 18 x 4 (GPUs: 1 x 9 x
     * 1, scalar stores) */
    const uint32_t cv = gpu ? 1 : 4, vec4_o = !gpu && co % 4 == 0 && ci % 4 == 0 && u.offset % 16 == 0;
    const char *shader = job.texel ? "kw_assemble_wino_tb" : "kw_assemble_wino";
    uint32_t spec[5] = {KW_LS, job.sb, cv, vec4_o, 0};
    kw_pipeline *first, *later = NULL; /* the first warehouse chunk, and those that add to it */
    KW_TRY(kw_pipeline_get(ctx, shader, spec, 5, &first));
    if (ch[0] < M) {
        spec[4] = 1;
        KW_TRY(kw_pipeline_get(ctx, shader, spec, 5, &later));
    }
    struct {
        uint32_t aoff, eoff, uoff, L, Lq, nq, mc, M, as_, us, co, ci, GO, GI, Cg, Op, ns, bg0, qg0;
    } pc;
    pc.L = (uint32_t)job.L;
    pc.Lq = div_up64(job.L, 4);
    pc.nq = vec4_o ? (co / 4) * (ci / 4) : div_up64(pc.Lq, cv);
    pc.M = M;
    pc.as_ = (uint32_t)alpha_stride;
    pc.us = (uint32_t)job.us;
    pc.co = co;
    pc.ci = ci;
    pc.GO = GO;
    pc.GI = GI;
    pc.Cg = Cg;
    pc.Op = Op;
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    const uint64_t xg_all = div_up64(pc.nq, KW_LS), yg_all = (uint64_t)GO * GI;
    for (uint64_t s0 = 0; s0 < n; s0 += ch[1])
        for (uint64_t m0 = 0; m0 < M; m0 += ch[0]) {
            const uint64_t ns = min_u64(ch[1], n - s0), mc = min_u64(ch[0], M - m0);
            kw_view v[3];
            v[0] = kw_view_floats(ctx, alpha, a0 + s0 * alpha_stride + m0,
                                  (ns - 1) * alpha_stride + (job.nlm - 1) * M + mc, &pc.aoff);
            v[1] = kw_view_floats(ctx, warehouse, m0 * job.L, mc * job.L, &pc.eoff);
            if (job.texel) {
                pc.eoff /= 4; /* a multiple of 4: aligned start, L % 4 == 0 */
                v[0].texel = 4;
                v[1].texel = 16;
            }
            v[2] = kw_view_floats(ctx, u, s0 * job.us, ns * job.us, &pc.uoff);
            pc.mc = (uint32_t)mc;
            pc.ns = (uint32_t)ns;
            const kw_pipeline *pipe = m0 > 0 ? later : first;
            for (uint64_t y0 = 0; y0 < yg_all; y0 += lim->maxComputeWorkGroupCount[1])
                for (uint64_t x0 = 0; x0 < xg_all; x0 += lim->maxComputeWorkGroupCount[0]) {
                    const uint64_t gy = min_u64(yg_all - y0, lim->maxComputeWorkGroupCount[1]);
                    const uint64_t gx = min_u64(xg_all - x0, lim->maxComputeWorkGroupCount[0]);
                    pc.bg0 = (uint32_t)y0;
                    pc.qg0 = (uint32_t)(x0 * KW_LS);
                    KW_TRY(kw_rec_dispatch(rec, pipe, v, 3, 4u, &pc, sizeof pc, (uint32_t)gx, (uint32_t)gy,
                                           div_up64(ns, job.sb)));
                }
        }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The op table entries                                                                     */
/* ---------------------------------------------------------------------------------------- */

#define BAD KW_BAD

/* params: 0 C, 1 hidden, 2 nlm, 3 M, 4 nlc, 5 nb (0 = standard path), 6 start_cell_idx,
 *         7 hidden norm (KW_ATT_NORM_*), 8 the LayerNorm's eps (float32 bits)
 * tensors: 0 fc1_w [hid, C], 1 fc1_b [hid] (LayerNorm: [3, hid]: fc1 bias, LN weight, LN bias),
 *          2 fc2_w [rows, hid], 3 fc2_b [rows] (standard),
 *          4 fc3_w [M - nlc, nb] (basis, absent when M == nlc), 5 basis_bias [nlm*(M+1)] */
static void attention_decode(kw_op *op)
{
    const int32_t *p = op->p;
    op->att = (kw_attention_params){.C = p[0],
                                    .hid = p[1],
                                    .nlm = p[2],
                                    .M = p[3],
                                    .nlc = p[4],
                                    .nb = p[5],
                                    .start = p[6],
                                    .norm = p[7],
                                    .eps = kw_param_f32(p[8]),
                                    .eps_bits = p[8]};
}

static bool attention_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    const kw_attention_params *a = &op->att;
    const int32_t C = a->C, hid = a->hid, nlm = a->nlm, M = a->M, nlc = a->nlc, nb = a->nb, start = a->start;
    if (!kw_in_range(C, 1, 65536)) return BAD("in_channels %d out of range", C);
    if (!kw_in_range(hid, 1, 65536)) return BAD("hidden %d out of range", hid);
    if (!kw_in_range(nlm, 1, 1 << 20)) return BAD("nlm %d out of range", nlm);
    if (!kw_in_range(M, 1, 1 << 20)) return BAD("cells %d out of range", M);
    if ((int64_t)nlm * (M + 1) > (1 << 26)) return BAD("nlm x (cells+1) too large");
    if (!kw_check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
    const bool ln = a->norm == KW_ATT_NORM_LAYERNORM; /* fc1_b is then [3, hid]: bias, LN weight, LN bias */
    if (!kw_in_range(a->norm, KW_ATT_NORM_FOLDED, KW_ATT_NORM_LAYERNORM)) return BAD("hidden norm %d unknown", a->norm);
    if (ln && !(a->eps > 0.0f && a->eps < 1.0f)) return BAD("LayerNorm eps %g out of range (0, 1)", (double)a->eps);
    if (!ln && a->eps_bits != 0) return BAD("eps given without a LayerNorm hidden norm");
    uint32_t d1[2] = {(uint32_t)hid, (uint32_t)C}, h1[2] = {ln ? 3u : 1u, (uint32_t)hid};
    if (!kw_check_tensor(m, op, 0, true, 2, d1, "fc1_w", msg, msg_len)) return false;
    if (!kw_check_tensor(m, op, 1, true, 2, h1, ln ? "fc1_b + LayerNorm" : "fc1_b", msg, msg_len)) return false;
    if (nb == 0) {
        uint32_t rows = (uint32_t)nlm * (uint32_t)(M + 1);
        uint32_t d2[2] = {rows, (uint32_t)hid}, b2[1] = {rows};
        if (nlc != 0 || start != 0) return BAD("nlc/start_cell_idx set on the standard path");
        if (!kw_check_tensor(m, op, 2, true, 2, d2, "fc2_w", msg, msg_len)) return false;
        if (!kw_check_tensor(m, op, 3, true, 1, b2, "fc2_b", msg, msg_len)) return false;
        return kw_no_extra_tensors(op, 4, msg, msg_len);
    }
    if (!kw_in_range(nb, 1, 1 << 20)) return BAD("basis count %d out of range", nb);
    if (!kw_in_range(nlc, 0, M) || !kw_in_range(start, 0, M - nlc))
        return BAD("local cells %d / start_cell_idx %d do not fit %d cells", nlc, start, M);
    uint32_t rows = (uint32_t)nlm * (uint32_t)(nlc + nb + 1);
    uint32_t d2[2] = {rows, (uint32_t)hid};
    uint32_t d3[2] = {(uint32_t)(M - nlc), (uint32_t)nb};
    uint32_t bb[1] = {(uint32_t)nlm * (uint32_t)(M + 1)};
    if (!kw_check_tensor(m, op, 2, true, 2, d2, "fc2_w", msg, msg_len)) return false;
    if (op->tensors[3] != KW_NONE) return BAD("fc2_b given on the basis path");
    if (!kw_check_tensor(m, op, 4, M - nlc > 0, 2, d3, "fc3_w", msg, msg_len)) return false;
    if (!kw_check_tensor(m, op, 5, true, 1, bb, "basis_bias", msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 6, msg, msg_len);
}

static bool attention_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    const kw_attention_params *a = &op->att;
    if (in[0].c != (uint32_t)a->C) return BAD("kw_attention expects %d input channels, got %u", a->C, in[0].c);
    out->c = (uint32_t)a->nlm * (uint32_t)a->M;
    out->h = out->w = 1;
    return true;
}

static double attention_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out)
{
    (void)out;
    const kw_attention_params *a = &op->att;
    double rows = a->nb ? (double)a->nlm * (a->nlc + a->nb + 1) : (double)a->nlm * (a->M + 1);
    double basis = a->nb ? (double)a->nlm * (a->M - a->nlc) * a->nb : 0.0;
    return (double)n * ((double)kw_shape_count(in[0]) + (double)a->C * a->hid + rows * a->hid + basis);
}

const kw_op_def kw_op_kw_attention_def = {
    .name = "kw_attention",
    .kind = KWVK_KIND_ATTENTION,
    .decode = attention_decode,
    .validate = attention_validate,
    .infer = attention_infer,
    .macs = attention_macs,
    .scratch = attention_scratch,
    .record = attention_record,
};

/* params: 0 O, 1 Cg, 2 kh, 3 kw, 4 co, 5 ci, 6 ckh, 7 ckw, 8 M; tensor 0 the warehouse
 * [M, co, ci, ckh*ckw] */
static void assemble_decode(kw_op *op)
{
    const int32_t *p = op->p;
    op->assemble = (kw_assemble_params){
        .O = p[0], .Cg = p[1], .kh = p[2], .kw = p[3], .co = p[4], .ci = p[5], .ckh = p[6], .ckw = p[7], .M = p[8]};
}

static bool assemble_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    const kw_assemble_params *a = &op->assemble;
    const int32_t O = a->O, Cg = a->Cg, kh = a->kh, kw = a->kw, co = a->co, ci = a->ci, ckh = a->ckh, ckw = a->ckw,
                  M = a->M;
    if (!kw_in_range(O, 1, 65536) || !kw_in_range(Cg, 1, 65536)) return BAD("channels %d/%d out of range", O, Cg);
    if (!kw_in_range(kh, 1, 15) || !kw_in_range(kw, 1, 15)) return BAD("kernel out of range");
    if (!kw_in_range(co, 1, O) || O % co) return BAD("cell out-channels %d do not divide %d", co, O);
    if (!kw_in_range(ci, 1, Cg) || Cg % ci) return BAD("cell in-channels %d do not divide %d", ci, Cg);
    if (!kw_in_range(ckh, 1, kh) || kh % ckh || !kw_in_range(ckw, 1, kw) || kw % ckw)
        return BAD("cell kernel %dx%d does not divide kernel %dx%d", ckh, ckw, kh, kw);
    if (!kw_in_range(M, 1, 1 << 20)) return BAD("cells %d out of range", M);
    if ((uint64_t)O * Cg * kh * kw > (1u << 29))
        return BAD("assembled kernel of %llu elements per sample is too large", (unsigned long long)O * Cg * kh * kw);
    if (!kw_check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
    uint32_t wd[4] = {(uint32_t)M, (uint32_t)co, (uint32_t)ci, (uint32_t)(ckh * ckw)};
    if (!kw_check_tensor(m, op, 0, true, 4, wd, "warehouse", msg, msg_len)) return false;
    return kw_no_extra_tensors(op, 1, msg, msg_len);
}

static bool assemble_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    const kw_assemble_params *a = &op->assemble;
    const uint32_t O = a->O, Cg = a->Cg, kh = a->kh, kw = a->kw, co = a->co, ci = a->ci, ckh = a->ckh, ckw = a->ckw,
                   M = a->M;
    uint64_t nlm = (uint64_t)(O / co) * (Cg / ci) * (kh / ckh) * (kw / ckw);
    if (kw_shape_count(in[0]) != nlm * M)
        return BAD("kw_assemble expects %llu attention values per sample, got %llu", (unsigned long long)(nlm * M),
                   (unsigned long long)kw_shape_count(in[0]));
    out->c = O * Cg * kh * kw;
    out->h = out->w = 1;
    return true;
}

static double assemble_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out)
{
    (void)in;
    return (double)n * kw_shape_count(out) * op->assemble.M;
}

const kw_op_def kw_op_kw_assemble_def = {
    .name = "kw_assemble",
    .kind = KWVK_KIND_ASSEMBLY,
    .decode = assemble_decode,
    .validate = assemble_validate,
    .infer = assemble_infer,
    .macs = assemble_macs,
    .record = assemble_record,
    .kernel_out = assemble_kernel_out,
};
