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

/* Binding helpers (ops_conv.c): the largest range one binding may cover, and a sub-view of
 * `whole` at byte offset `off` whose start is rounded down to the offset alignment; *elem
 * receives the float index of `off` within the returned view. */
uint64_t kw_bind_limit(const kw_ctx *ctx);
kwvk_result kw_view_sub(const kw_ctx *ctx, kw_view whole, uint64_t off, uint64_t bytes, kw_view *out,
                        uint32_t *elem);

#endif
