/* ops.c - op table: parameter validation, shape inference, scratch sizes, cost, and the
 * dispatch to each op family's recorder (ops_conv.c, ops_kw.c, ops_misc.c). */
#include "internal.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

const char *kwvk_op_name(uint32_t type)
{
    switch (type) {
    case KW_OP_CONV2D: return "conv2d";
    case KW_OP_KW_ATTENTION: return "kw_attention";
    case KW_OP_KW_ASSEMBLE: return "kw_assemble";
    case KW_OP_MAXPOOL2D: return "maxpool2d";
    case KW_OP_AVGPOOL2D: return "avgpool2d";
    case KW_OP_GLOBAL_AVGPOOL: return "global_avgpool";
    case KW_OP_ADD: return "add";
    case KW_OP_SOFTMAX: return "softmax";
    case KW_OP_LAYERNORM: return "layernorm";
    default: return "?";
    }
}

kwvk_op_kind kw_op_kind(uint32_t type)
{
    switch (type) {
    case KW_OP_KW_ATTENTION: return KWVK_KIND_ATTENTION;
    case KW_OP_KW_ASSEMBLE: return KWVK_KIND_ASSEMBLY;
    case KW_OP_CONV2D: return KWVK_KIND_CONVOLUTION;
    default: return KWVK_KIND_OTHER;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Validation at load                                                                       */
/* ---------------------------------------------------------------------------------------- */

#define BAD(...) (snprintf(msg, msg_len, __VA_ARGS__), false)

static bool in_range(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

/* Check tensor `slot` of `op`: present iff `required`, and (when present) of the given
 * element count / dims. dims entries of 0 are not checked. */
static bool check_tensor(const kwvk_model *m, const kw_op *op, int slot, bool required,
                         uint32_t ndim, const uint32_t *dims, const char *what, char *msg,
                         size_t msg_len)
{
    uint32_t id = op->tensors[slot];
    if (id == KW_NONE) {
        if (required) return BAD("tensor %d (%s) is missing", slot, what);
        return true;
    }
    if (id >= m->n_tensors)
        return BAD("tensor %d (%s) refers to tensor id %u of %u", slot, what, id, m->n_tensors);
    const kw_tensor *t = &m->tensors[id];
    uint64_t want = 1;
    for (uint32_t d = 0; d < ndim; d++) want *= dims[d];
    if (t->count != want)
        return BAD("tensor %d (%s) has %llu elements, expected %llu", slot, what,
                   (unsigned long long)t->count, (unsigned long long)want);
    return true;
}

static bool no_extra_tensors(const kw_op *op, int first, char *msg, size_t msg_len)
{
    for (int i = first; i < KW_MAX_OP_TENSORS; i++)
        if (op->tensors[i] != KW_NONE) return BAD("unexpected tensor in slot %d", i);
    return true;
}

static bool check_inputs(const kw_op *op, uint32_t index, uint32_t required, uint32_t optional,
                         char *msg, size_t msg_len)
{
    /* required: bitmask of input slots that must be present; optional: may be present */
    for (uint32_t i = 0; i < KW_MAX_OP_INPUTS; i++) {
        uint32_t v = op->inputs[i];
        bool want = (required >> i) & 1, may = ((required | optional) >> i) & 1;
        if (v == KW_NONE) {
            if (want) return BAD("input %u is missing", i);
            continue;
        }
        if (!may) return BAD("unexpected input in slot %u", i);
        if (v > index)
            return BAD("input %u refers to value %u, which is not computed before it (cycle or "
                       "dangling reference)",
                       i, v);
    }
    return true;
}

bool kw_op_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    const int32_t *p = op->p;
    switch (op->type) {
    case KW_OP_CONV2D: {
        int32_t O = p[0], kh = p[1], kw = p[2], C = p[11], G = p[9];
        if (!in_range(O, 1, 65536)) return BAD("out_channels %d out of range 1..65536", O);
        if (!in_range(C, 1, 65536)) return BAD("in_channels %d out of range 1..65536", C);
        if (!in_range(kh, 1, 15) || !in_range(kw, 1, 15))
            return BAD("kernel %dx%d out of range 1..15", kh, kw);
        if (!in_range(p[3], 1, 8) || !in_range(p[4], 1, 8))
            return BAD("stride %dx%d out of range 1..8", p[3], p[4]);
        if (!in_range(p[7], 1, 8) || !in_range(p[8], 1, 8))
            return BAD("dilation %dx%d out of range 1..8", p[7], p[8]);
        if (!in_range(p[5], 0, kh * p[7]) || !in_range(p[6], 0, kw * p[8]))
            return BAD("padding %dx%d out of range", p[5], p[6]);
        if (!in_range(G, 1, 65536) || C % G || O % G)
            return BAD("groups %d do not divide in_channels %d and out_channels %d", G, C, O);
        if (!in_range(p[10], 0, KW_ACT_GELU)) return BAD("activation %d unknown", p[10]);
        if (!check_inputs(op, index, 1u, 6u, msg, msg_len)) return false;
        bool dyn = op->inputs[1] != KW_NONE;
        if (dyn == (op->tensors[0] != KW_NONE))
            return BAD("needs exactly one of a static weight tensor and a weight input");
        uint32_t wd[4] = {(uint32_t)O, (uint32_t)(C / G), (uint32_t)kh, (uint32_t)kw};
        uint32_t od[1] = {(uint32_t)O};
        if (!dyn && !check_tensor(m, op, 0, true, 4, wd, "weight", msg, msg_len)) return false;
        if (!check_tensor(m, op, 1, false, 1, od, "scale", msg, msg_len)) return false;
        if (!check_tensor(m, op, 2, false, 1, od, "bias", msg, msg_len)) return false;
        return no_extra_tensors(op, 3, msg, msg_len);
    }
    case KW_OP_KW_ATTENTION: {
        int32_t C = p[0], hid = p[1], nlm = p[2], M = p[3], nlc = p[4], nb = p[5], start = p[6];
        if (!in_range(C, 1, 65536)) return BAD("in_channels %d out of range", C);
        if (!in_range(hid, 1, 65536)) return BAD("hidden %d out of range", hid);
        if (!in_range(nlm, 1, 1 << 20)) return BAD("nlm %d out of range", nlm);
        if (!in_range(M, 1, 1 << 20)) return BAD("cells %d out of range", M);
        if ((int64_t)nlm * (M + 1) > (1 << 26)) return BAD("nlm x (cells+1) too large");
        if (!check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
        const bool ln = p[7] == KW_ATT_NORM_LAYERNORM; /* fc1_b is then [3, hid]: bias, LN weight, LN bias */
        if (!in_range(p[7], KW_ATT_NORM_FOLDED, KW_ATT_NORM_LAYERNORM)) return BAD("hidden norm %d unknown", p[7]);
        if (ln && !(kw_param_f32(p[8]) > 0.0f && kw_param_f32(p[8]) < 1.0f))
            return BAD("LayerNorm eps %g out of range (0, 1)", (double)kw_param_f32(p[8]));
        if (!ln && p[8] != 0) return BAD("eps given without a LayerNorm hidden norm");
        uint32_t d1[2] = {(uint32_t)hid, (uint32_t)C}, h1[2] = {ln ? 3u : 1u, (uint32_t)hid};
        if (!check_tensor(m, op, 0, true, 2, d1, "fc1_w", msg, msg_len)) return false;
        if (!check_tensor(m, op, 1, true, 2, h1, ln ? "fc1_b + LayerNorm" : "fc1_b", msg, msg_len)) return false;
        if (nb == 0) {
            uint32_t rows = (uint32_t)nlm * (uint32_t)(M + 1);
            uint32_t d2[2] = {rows, (uint32_t)hid}, b2[1] = {rows};
            if (nlc != 0 || start != 0) return BAD("nlc/start_cell_idx set on the standard path");
            if (!check_tensor(m, op, 2, true, 2, d2, "fc2_w", msg, msg_len)) return false;
            if (!check_tensor(m, op, 3, true, 1, b2, "fc2_b", msg, msg_len)) return false;
            return no_extra_tensors(op, 4, msg, msg_len);
        }
        if (!in_range(nb, 1, 1 << 20)) return BAD("basis count %d out of range", nb);
        if (!in_range(nlc, 0, M) || !in_range(start, 0, M - nlc))
            return BAD("local cells %d / start_cell_idx %d do not fit %d cells", nlc, start, M);
        uint32_t rows = (uint32_t)nlm * (uint32_t)(nlc + nb + 1);
        uint32_t d2[2] = {rows, (uint32_t)hid};
        uint32_t d3[2] = {(uint32_t)(M - nlc), (uint32_t)nb};
        uint32_t bb[1] = {(uint32_t)nlm * (uint32_t)(M + 1)};
        if (!check_tensor(m, op, 2, true, 2, d2, "fc2_w", msg, msg_len)) return false;
        if (op->tensors[3] != KW_NONE) return BAD("fc2_b given on the basis path");
        if (!check_tensor(m, op, 4, M - nlc > 0, 2, d3, "fc3_w", msg, msg_len)) return false;
        if (!check_tensor(m, op, 5, true, 1, bb, "basis_bias", msg, msg_len)) return false;
        return no_extra_tensors(op, 6, msg, msg_len);
    }
    case KW_OP_KW_ASSEMBLE: {
        int32_t O = p[0], Cg = p[1], kh = p[2], kw = p[3], co = p[4], ci = p[5], ckh = p[6],
                ckw = p[7], M = p[8];
        if (!in_range(O, 1, 65536) || !in_range(Cg, 1, 65536))
            return BAD("channels %d/%d out of range", O, Cg);
        if (!in_range(kh, 1, 15) || !in_range(kw, 1, 15)) return BAD("kernel out of range");
        if (!in_range(co, 1, O) || O % co) return BAD("cell out-channels %d do not divide %d", co, O);
        if (!in_range(ci, 1, Cg) || Cg % ci)
            return BAD("cell in-channels %d do not divide %d", ci, Cg);
        if (!in_range(ckh, 1, kh) || kh % ckh || !in_range(ckw, 1, kw) || kw % ckw)
            return BAD("cell kernel %dx%d does not divide kernel %dx%d", ckh, ckw, kh, kw);
        if (!in_range(M, 1, 1 << 20)) return BAD("cells %d out of range", M);
        if ((uint64_t)O * Cg * kh * kw > (1u << 29))
            return BAD("assembled kernel of %llu elements per sample is too large",
                       (unsigned long long)O * Cg * kh * kw);
        if (!check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
        uint32_t wd[4] = {(uint32_t)M, (uint32_t)co, (uint32_t)ci, (uint32_t)(ckh * ckw)};
        if (!check_tensor(m, op, 0, true, 4, wd, "warehouse", msg, msg_len)) return false;
        return no_extra_tensors(op, 1, msg, msg_len);
    }
    case KW_OP_MAXPOOL2D:
    case KW_OP_AVGPOOL2D:
        if (!in_range(p[0], 1, 15) || !in_range(p[1], 1, 15)) return BAD("pool kernel out of range");
        if (!in_range(p[2], 1, 15) || !in_range(p[3], 1, 15)) return BAD("pool stride out of range");
        if (!in_range(p[4], 0, p[0] / 2) || !in_range(p[5], 0, p[1] / 2))
            return BAD("pool padding %dx%d exceeds half the kernel", p[4], p[5]);
        if (!in_range(p[6], 0, 1) || !in_range(p[7], 0, 1)) return BAD("pool flags out of range");
        if (!check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
        return no_extra_tensors(op, 0, msg, msg_len);
    case KW_OP_GLOBAL_AVGPOOL:
    case KW_OP_SOFTMAX:
        if (!check_inputs(op, index, 1u, 0u, msg, msg_len)) return false;
        return no_extra_tensors(op, 0, msg, msg_len);
    case KW_OP_ADD:
        if (!in_range(p[0], 0, 2)) return BAD("activation %d unknown", p[0]);
        if (!check_inputs(op, index, 3u, 0u, msg, msg_len)) return false;
        return no_extra_tensors(op, 0, msg, msg_len);
    case KW_OP_LAYERNORM: return kw_layernorm_validate(m, op, index, msg, msg_len);
    default: return BAD("unknown op type %u", op->type);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Shape inference                                                                          */
/* ---------------------------------------------------------------------------------------- */

static bool conv_out(uint32_t in, int k, int s, int pad, int dil, uint32_t *out)
{
    int64_t span = (int64_t)dil * (k - 1) + 1;
    int64_t num = (int64_t)in + 2 * pad - span;
    if (num < 0) return false;
    *out = (uint32_t)(num / s + 1);
    return true;
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

bool kw_op_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    const int32_t *p = op->p;
    switch (op->type) {
    case KW_OP_CONV2D: {
        if (in[0].c != (uint32_t)p[11])
            return BAD("conv2d expects %d input channels, got %u", p[11], in[0].c);
        if (op->inputs[1] != KW_NONE &&
            kw_shape_count(in[1]) != (uint64_t)p[0] * (p[11] / p[9]) * p[1] * p[2])
            return BAD("conv2d weight input has %llu elements per sample, expected %llu",
                       (unsigned long long)kw_shape_count(in[1]),
                       (unsigned long long)p[0] * (p[11] / p[9]) * p[1] * p[2]);
        out->c = (uint32_t)p[0];
        if (!conv_out(in[0].h, p[1], p[3], p[5], p[7], &out->h) ||
            !conv_out(in[0].w, p[2], p[4], p[6], p[8], &out->w))
            return BAD("conv2d input %ux%u is smaller than its kernel", in[0].h, in[0].w);
        if (op->inputs[2] != KW_NONE &&
            (in[2].c != out->c || in[2].h != out->h || in[2].w != out->w))
            return BAD("conv2d residual %ux%ux%u does not match output %ux%ux%u", in[2].c,
                       in[2].h, in[2].w, out->c, out->h, out->w);
        return true;
    }
    case KW_OP_KW_ATTENTION:
        if (in[0].c != (uint32_t)p[0])
            return BAD("kw_attention expects %d input channels, got %u", p[0], in[0].c);
        out->c = (uint32_t)p[2] * (uint32_t)p[3];
        out->h = out->w = 1;
        return true;
    case KW_OP_KW_ASSEMBLE: {
        uint32_t O = p[0], Cg = p[1], kh = p[2], kw = p[3], co = p[4], ci = p[5], ckh = p[6],
                 ckw = p[7], M = p[8];
        uint64_t nlm = (uint64_t)(O / co) * (Cg / ci) * (kh / ckh) * (kw / ckw);
        if (kw_shape_count(in[0]) != nlm * M)
            return BAD("kw_assemble expects %llu attention values per sample, got %llu",
                       (unsigned long long)(nlm * M), (unsigned long long)kw_shape_count(in[0]));
        out->c = O * Cg * kh * kw;
        out->h = out->w = 1;
        return true;
    }
    case KW_OP_MAXPOOL2D:
    case KW_OP_AVGPOOL2D:
        out->c = in[0].c;
        if (!pool_out(in[0].h, p[0], p[2], p[4], p[6], &out->h) ||
            !pool_out(in[0].w, p[1], p[3], p[5], p[6], &out->w))
            return BAD("pool input %ux%u is smaller than its kernel", in[0].h, in[0].w);
        return true;
    case KW_OP_GLOBAL_AVGPOOL:
        out->c = in[0].c;
        out->h = out->w = 1;
        return true;
    case KW_OP_ADD:
        if (in[0].c != in[1].c || in[0].h != in[1].h || in[0].w != in[1].w)
            return BAD("add of shapes %ux%ux%u and %ux%ux%u", in[0].c, in[0].h, in[0].w, in[1].c,
                       in[1].h, in[1].w);
        *out = in[0];
        return true;
    case KW_OP_SOFTMAX:
        if (in[0].h != 1 || in[0].w != 1)
            return BAD("softmax needs a [C,1,1] input, got %ux%ux%u", in[0].c, in[0].h, in[0].w);
        *out = in[0];
        return true;
    case KW_OP_LAYERNORM: return kw_layernorm_infer(op, in, out, msg, msg_len);
    default: return BAD("unknown op type %u", op->type);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Cost, scratch and recording                                                              */
/* ---------------------------------------------------------------------------------------- */

double kw_op_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out)
{
    const int32_t *p = op->p;
    switch (op->type) {
    case KW_OP_CONV2D:
        return (double)n * kw_shape_count(out) * (p[11] / p[9]) * p[1] * p[2];
    case KW_OP_KW_ATTENTION: {
        double rows = p[5] ? (double)p[2] * (p[4] + p[5] + 1) : (double)p[2] * (p[3] + 1);
        double basis = p[5] ? (double)p[2] * (p[3] - p[4]) * p[5] : 0.0;
        return (double)n * ((double)kw_shape_count(in[0]) + (double)p[0] * p[1] + rows * p[1] + basis);
    }
    case KW_OP_KW_ASSEMBLE: return (double)n * kw_shape_count(out) * p[8];
    default: return (double)n * (double)kw_shape_count(in[0]);
    }
}

uint64_t kw_op_scratch(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out)
{
    if (op->type == KW_OP_KW_ATTENTION) return kw_attention_scratch(op, n, in);
    if (op->type == KW_OP_CONV2D) return kw_wino_scratch(op, n, out);
    return 0;
}

kwvk_result kw_op_record(kw_rec *rec, const kw_op_call *call)
{
    switch (call->op->type) {
    case KW_OP_CONV2D: {
        bool done = false;
        KW_TRY(kw_wino_record(rec, call, &done)); /* records nothing where Winograd does not apply */
        return done ? KWVK_OK : kw_conv2d_record(rec, call);
    }
    case KW_OP_KW_ATTENTION: return kw_attention_record(rec, call);
    case KW_OP_KW_ASSEMBLE: return kw_assemble_record(rec, call);
    case KW_OP_MAXPOOL2D:
    case KW_OP_AVGPOOL2D: return kw_pool2d_record(rec, call);
    case KW_OP_GLOBAL_AVGPOOL: return kw_global_avgpool_record(rec, call);
    case KW_OP_ADD: return kw_add_record(rec, call);
    case KW_OP_SOFTMAX: return kw_softmax_record(rec, call);
    case KW_OP_LAYERNORM: return kw_layernorm_record(rec, call);
    default: return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "unknown op type %u", call->op->type);
    }
}
