/* ops.h - the recorders of each op family. Each records the dispatches of one op into a
 * kw_rec, choosing the shader variant (specialisation constants) from the op's shape and the
 * device, and splitting work where a binding would exceed ctx->max_storage_range. */
#ifndef KWVK_OPS_H
#define KWVK_OPS_H

#include "internal.h"

kwvk_result kw_conv2d_record(kw_rec *rec, const kw_op_call *call);         /* ops_conv.c */
kwvk_result kw_pool2d_record(kw_rec *rec, const kw_op_call *call);         /* ops_misc.c */
kwvk_result kw_global_avgpool_record(kw_rec *rec, const kw_op_call *call); /* ops_misc.c */
kwvk_result kw_add_record(kw_rec *rec, const kw_op_call *call);            /* ops_misc.c */
kwvk_result kw_softmax_record(kw_rec *rec, const kw_op_call *call);        /* ops_misc.c */
kwvk_result kw_attention_record(kw_rec *rec, const kw_op_call *call);      /* ops_kw.c */
kwvk_result kw_assemble_record(kw_rec *rec, const kw_op_call *call);       /* ops_kw.c */
uint64_t kw_attention_scratch(const kw_op *op, uint32_t n, const kw_shape *in); /* ops_kw.c */
/* Can this kw_assemble write [O, kh, kw, Cg] (conv2d's OHWI weights) instead of [O, Cg, kh, kw]?
 * (cells of single taps; the net also checks its readers and sets kw_op_call.w_ohwi) (ops_kw.c) */
bool kw_assemble_ohwi(const kw_op *op);

/* Winograd F(2x2,3x3) convs (ops_wino.c): whether a conv takes it (eligibility and the
 * KWVK_WINOGRAD rule), its transformed weights (computed once per net, passed to the
 * recorder as kw_op_call.derived), its scratch, and the recorder, which sets *done = false
 * (recording nothing) when the call must take the direct path instead. */
bool kw_wino_selected(const kw_op *op);
/* Does a net transform this op's static weights (kwvk_net_create; the op harness does the same)?
 * fp16: the net stores static conv weights as fp16, which keeps them direct. */
bool kw_wino_static_weights(const kw_ctx *ctx, const kw_op *op, bool fp16);
uint64_t kw_wino_weights_count(const kw_op *op);
void kw_wino_transform_weights(const kw_op *op, const float *w, float *u);
uint64_t kw_wino_scratch(const kw_op *op, uint32_t n, kw_shape out);
kwvk_result kw_wino_record(kw_rec *rec, const kw_op_call *call, bool *done);

/* Binding helpers (ops_conv.c): the largest range one binding may cover, and a sub-view of
 * `whole` at byte offset `off` whose start is rounded down to the offset alignment; *elem
 * receives the float index of `off` within the returned view. */
uint64_t kw_bind_limit(const kw_ctx *ctx);
kwvk_result kw_view_sub(const kw_ctx *ctx, kw_view whole, uint64_t off, uint64_t bytes, kw_view *out,
                        uint32_t *elem);

/* layernorm (ops_norm.c): validation and shape inference called from ops.c, the recorder, and
 * one LayerNorm dispatch over the channels of `n` samples of [C, hw] that the KW attention's
 * multi-dispatch path also uses (w and b: views of C floats each; act: KW_ACT_NONE or _RELU). */
bool kw_layernorm_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len);
bool kw_layernorm_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len);
kwvk_result kw_layernorm_record(kw_rec *rec, const kw_op_call *call);
kwvk_result kw_layernorm_dispatch(kw_rec *rec, kw_view x, kw_view w, kw_view b, kw_view y, uint32_t n,
                                  uint32_t C, uint32_t hw, float eps, uint32_t act);
/* The eps of a layernorm / a LayerNorm attention: a param holding float32 bits. */
float kw_param_f32(int32_t bits);

#endif
