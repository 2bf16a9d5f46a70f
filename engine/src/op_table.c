/* op_table.c - the op table (one entry per op type, defined beside each op family's recorder
 * in ops_*.c), the functions that reach an op kind through it, and the graph walks that the
 * loader, the net and the CPU references share. */
#include "op_table.h"

#include <stdio.h>
#include <string.h>

static const kw_op_def *const table[KW_OP_COUNT] = {
    [KW_OP_CONV2D] = &kw_op_conv2d_def,
    [KW_OP_KW_ATTENTION] = &kw_op_kw_attention_def,
    [KW_OP_KW_ASSEMBLE] = &kw_op_kw_assemble_def,
    [KW_OP_MAXPOOL2D] = &kw_op_maxpool2d_def,
    [KW_OP_AVGPOOL2D] = &kw_op_avgpool2d_def,
    [KW_OP_GLOBAL_AVGPOOL] = &kw_op_global_avgpool_def,
    [KW_OP_ADD] = &kw_op_add_def,
    [KW_OP_SOFTMAX] = &kw_op_softmax_def,
    [KW_OP_LAYERNORM] = &kw_op_layernorm_def,
};

const kw_op_def *kw_op_def_of(uint32_t type)
{
    return type < KW_OP_COUNT ? table[type] : NULL;
}

const char *kwvk_op_name(uint32_t type)
{
    const kw_op_def *d = kw_op_def_of(type);
    return d ? d->name : "?";
}

kwvk_op_kind kw_op_kind(uint32_t type)
{
    const kw_op_def *d = kw_op_def_of(type);
    return d ? d->kind : KWVK_KIND_OTHER;
}

/* ---------------------------------------------------------------------------------------- */
/* Through the table                                                                        */
/* ---------------------------------------------------------------------------------------- */

bool kw_op_decode(kw_op *op, char *msg, size_t msg_len)
{
    const kw_op_def *d = kw_op_def_of(op->type);
    if (!d) return KW_BAD("unknown op type %u", op->type);
    if (d->decode) d->decode(op);
    return true;
}

/* Pair a kw_assemble with its reader where that is one conv2d taking it as its kernel (kw_op.kw_peer);
 * a second reader, any other use or the value being the network's output unpairs it for good. */
static void link_kw_peers(const kwvk_model *m, kw_op *op, uint32_t index)
{
    for (uint32_t k = 0; k < KW_MAX_OP_INPUTS; k++) {
        const uint32_t v = op->inputs[k];
        if (v == KW_NONE || v == 0 || v > index || !m->ops) continue;
        kw_op *a = &m->ops[v - 1];
        if (a->type != KW_OP_KW_ASSEMBLE) continue;
        if (a->kw_peer) ((kw_op *)a->kw_peer)->kw_peer = NULL;
        a->kw_peer = NULL;
        if (++a->kw_readers == 1 && op->type == KW_OP_CONV2D && k == 1 && v < m->n_ops) {
            a->kw_peer = op;
            op->kw_peer = a;
        }
    }
}

bool kw_op_load(const kwvk_model *m, kw_op *op, uint32_t index, char *msg, size_t msg_len)
{
    if (!kw_op_decode(op, msg, msg_len)) return false;
    if (!kw_op_def_of(op->type)->validate(m, op, index, msg, msg_len)) return false;
    link_kw_peers(m, op, index);
    return true;
}

bool kw_op_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len)
{
    const kw_op_def *d = kw_op_def_of(op->type);
    if (!d) return KW_BAD("unknown op type %u", op->type);
    return d->infer(op, in, out, msg, msg_len);
}

double kw_op_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out)
{
    const kw_op_def *d = kw_op_def_of(op->type);
    if (d && d->macs) return d->macs(op, n, in, out);
    return (double)n * (double)kw_shape_count(in[0]);
}

uint64_t kw_op_scratch(const kw_ctx *ctx, const kw_op_call *call)
{
    const kw_op_def *d = kw_op_def_of(call->op->type);
    return d && d->scratch ? d->scratch(ctx, call) : 0;
}

kwvk_result kw_op_record(kw_rec *rec, const kw_op_call *call)
{
    const kw_op_def *d = kw_op_def_of(call->op->type);
    if (!d) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "unknown op type %u", call->op->type);
    return d->record(rec, call);
}

bool kw_op_tensor_f16(const kw_op *op, uint32_t slot)
{
    const kw_op_def *d = kw_op_def_of(op->type);
    return d && d->tensor_f16 && d->tensor_f16(op, slot);
}

uint64_t kw_op_derived_count(const kw_ctx *ctx, const kw_op *op, bool fp16)
{
    const kw_op_def *d = kw_op_def_of(op->type);
    return d && d->derived_count && d->derive ? d->derived_count(ctx, op, fp16) : 0;
}

void kw_op_derive(const kw_op *op, const kw_tensor *const *t, float *out)
{
    const kw_op_def *d = kw_op_def_of(op->type);
    if (d && d->derive) d->derive(op, t, out);
}

void kw_op_call_make(kw_op_call *call, const kw_op *op, const kw_op_operands *o)
{
    memset(call, 0, sizeof *call);
    call->op = op;
    call->n = o->n;
    for (int k = 0; k < KW_MAX_OP_INPUTS; k++) {
        const uint32_t v = op->inputs[k];
        if (v == KW_NONE) continue;
        call->in[k] = o->values[v];
        if (o->vvalues) call->vin[k] = o->vvalues[v];
    }
    call->out = o->values[o->out];
    if (o->vvalues) call->vout = o->vvalues[o->out];
    for (int k = 0; k < KW_MAX_OP_TENSORS; k++) {
        const uint32_t t = op->tensors[k];
        if (t == KW_NONE || !o->tensors) continue;
        call->t[k] = &o->tensors[t];
        if (!o->weights) continue;
        const bool f16 = o->w16 && o->w16[t];
        call->vt[k] = kw_view_of(&o->weights[t], 0, o->tensors[t].count * (f16 ? 2 : 4));
        call->vt[k].f16 = f16;
    }
    if (o->derived && o->derived->buffer) call->derived = kw_view_of(o->derived, 0, o->derived->size);
    /* a pair's ops lie in one array (the model's), the conv's output value o->out + (kw_peer - op) */
    if (op->kw_peer && o->values)
        call->peer_out = op->type == KW_OP_CONV2D ? call->out : o->values[o->out + (op->kw_peer - op)];
    if (op->type == KW_OP_CONV2D && op->kw_peer && o->tensors && o->weights) {
        const uint32_t t = op->kw_peer->tensors[0];
        if (t != KW_NONE) call->peer_wh = kw_view_of(&o->weights[t], 0, o->tensors[t].count * 4);
    }
    call->out_ohwi = o->out_ohwi;
    call->in_ohwi = o->in_ohwi;
}

/* ---------------------------------------------------------------------------------------- */
/* Graph walks                                                                              */
/* ---------------------------------------------------------------------------------------- */

bool kw_model_shapes(const kwvk_model *m, kw_shape *shapes, uint32_t *bad_op, char *msg, size_t msg_len)
{
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const kw_op *op = &m->ops[i];
        kw_shape in[KW_MAX_OP_INPUTS] = {{0, 0, 0}};
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
            if (op->inputs[k] != KW_NONE) in[k] = shapes[op->inputs[k]];
        if (!kw_op_infer(op, in, &shapes[i + 1], msg, msg_len)) {
            *bad_op = i;
            return false;
        }
    }
    return true;
}

bool kw_model_value_ohwi(const kwvk_model *m, uint32_t v)
{
    if (v == 0 || v >= m->n_ops) return false; /* the network's input or output */
    const kw_op *a = &m->ops[v - 1];
    const kw_op_def *da = kw_op_def_of(a->type);
    kw_kernel_geom g;
    if (!da || !da->kernel_out || !da->kernel_out(a, &g)) return false;
    for (uint32_t k = v; k < m->n_ops; k++) {
        const kw_op *op = &m->ops[k];
        const kw_op_def *d = kw_op_def_of(op->type);
        for (uint32_t q = 0; q < KW_MAX_OP_INPUTS; q++) {
            if (op->inputs[q] != v) continue;
            if (!d || !d->kernel_in || !d->kernel_in(op, q, &g)) return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Validation helpers                                                                       */
/* ---------------------------------------------------------------------------------------- */

bool kw_check_tensor(const kwvk_model *m, const kw_op *op, int slot, bool required, uint32_t ndim, const uint32_t *dims,
                     const char *what, char *msg, size_t msg_len)
{
    uint32_t id = op->tensors[slot];
    if (id == KW_NONE) {
        if (required) return KW_BAD("tensor %d (%s) is missing", slot, what);
        return true;
    }
    if (id >= m->n_tensors) return KW_BAD("tensor %d (%s) refers to tensor id %u of %u", slot, what, id, m->n_tensors);
    const kw_tensor *t = &m->tensors[id];
    uint64_t want = 1;
    for (uint32_t d = 0; d < ndim; d++)
        want *= dims[d];
    if (t->count != want)
        return KW_BAD("tensor %d (%s) has %llu elements, expected %llu", slot, what, (unsigned long long)t->count,
                      (unsigned long long)want);
    return true;
}

bool kw_no_extra_tensors(const kw_op *op, int first, char *msg, size_t msg_len)
{
    for (int i = first; i < KW_MAX_OP_TENSORS; i++)
        if (op->tensors[i] != KW_NONE) return KW_BAD("unexpected tensor in slot %d", i);
    return true;
}

bool kw_check_inputs(const kw_op *op, uint32_t index, uint32_t required, uint32_t optional, char *msg, size_t msg_len)
{
    for (uint32_t i = 0; i < KW_MAX_OP_INPUTS; i++) {
        uint32_t v = op->inputs[i];
        bool want = (required >> i) & 1, may = ((required | optional) >> i) & 1;
        if (v == KW_NONE) {
            if (want) return KW_BAD("input %u is missing", i);
            continue;
        }
        if (!may) return KW_BAD("unexpected input in slot %u", i);
        if (v > index)
            return KW_BAD("input %u refers to value %u, which is not computed before it (cycle or dangling reference)",
                          i, v);
    }
    return true;
}
