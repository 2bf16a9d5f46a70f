/* ops.h - shared by the op families' files (ops_*.c): the op table, the binding helpers and
 * the Winograd convolution path (ops_wino.c), which the conv2d entry (ops_conv.c) uses. Each
 * family file defines its op table entries (kw_op_def), whose recorders record the
 * dispatches of one op into a kw_rec, choosing the shader variant (specialisation constants)
 * from the op's shape and the device, and splitting work where a binding would exceed
 * ctx->max_storage_range. */
#ifndef KWVK_OPS_H
#define KWVK_OPS_H

#include "bind.h"
#include "internal.h"
#include "op_table.h"

/* Winograd F(2x2,3x3) convs (ops_wino.c): whether a conv takes it (eligibility and the
 * KWVK_WINOGRAD rule, ctx->winograd), its transformed weights (derived once per net, passed
 * to the recorder as kw_op_call.derived), its scratch, and the recorder, which sets
 * *done = false (recording nothing) when the call must take the direct path instead. */
bool kw_wino_selected(const kw_ctx *ctx, const kw_op *op);
/* Does a net transform this op's static weights? fp16: the net stores static conv weights as
 * fp16, which keeps them direct. */
bool kw_wino_static_weights(const kw_ctx *ctx, const kw_op *op, bool fp16);
uint64_t kw_wino_weights_count(const kw_op *op);
void kw_wino_transform_weights(const kw_op *op, const float *w, float *u);
uint64_t kw_wino_scratch(const kw_ctx *ctx, const kw_op *op, uint32_t n, kw_shape out);
kwvk_result kw_wino_record(kw_rec *rec, const kw_op_call *call, bool *done);
/* Does this conv (output plane `out`, fp16 weights or not) run as conv2d_small, the one
 * program for small convs (ops_conv.c)? The GEMM path leaves such convs to it. */
bool kw_conv_small(const kw_ctx *ctx, const kw_op *op, kw_shape out, bool w16);
/* The Winograd GEMMs M = U x V (C deep, Op x Tp) with shared-memory tiles (ops_wino_sm.c):
 * records them and sets *done where ctx->gpu_kernels is set and the grid fits, else leaves
 * them to conv_wino_gemm (*done = false). */
kwvk_result kw_wino_gemm_sm(kw_rec *rec, kw_view u, kw_view v, kw_view m, uint32_t C, uint32_t Op, uint32_t Tp,
                            bool *done);
/* Does this conv2d (batch n, output shape out) assemble its KW kernel itself, in the Winograd
 * domain, from the attention that its kw_peer (a kw_assemble) copies into the kernel value and
 * that kw_assemble's warehouse? The kw_assemble asks the same question of its peer (with
 * kw_op_call.peer_out) and then records only that copy. */
bool kw_wino_kw_fused(const kw_ctx *ctx, const kw_op *conv, uint32_t n, kw_shape out);

/* Winograd-domain KW assembly (ops_kw.c): for n samples whose attention rows (as kw_assemble's
 * input) start at float a0 of `alpha`, alpha_stride floats apart, and the warehouse of `a` (a
 * kw_assemble of 3x3 kernels of 1x1 cells): U[s][16][Cg][Op] = G W G^T of each sample's kernel W
 * in conv_wino_gemm's layout (kw_wino_transform_weights), Op >= O a multiple of 4. Rows o >= O of
 * U are not written (the GEMM's rows for them are never read). */
kwvk_result kw_assemble_wino_record(kw_rec *rec, const kw_op *a, uint32_t n, kw_view alpha, uint64_t a0,
                                    uint64_t alpha_stride, kw_view warehouse, kw_view u, uint32_t Op);

/* Convs as a GEMM (ops_pw.c: pointwise and strided convs, KWVK_PW, ctx->pw): its scratch
 * (the unrolled input of a conv that is not pointwise, else 0), and the recorder, which
 * records the conv and sets *done, or records nothing and sets *done = false where the call
 * must take another path. */
uint64_t kw_pw_scratch(const kw_ctx *ctx, const kw_op_call *call);
/* Does the GEMM path's rule take this conv (before the binding limits, which may still leave
 * it to another path)? */
bool kw_pw_selected(const kw_ctx *ctx, const kw_op *op, kw_shape out);
kwvk_result kw_pw_record(kw_rec *rec, const kw_op_call *call, bool *done);

/* The epilogue bits of a conv's shader flags (KW_EPI_*: activation, scale, bias, residual)
 * (ops_conv.c). */
uint32_t kw_conv_epilogue(const kw_op *op);

/* layernorm (ops_norm.c): one LayerNorm dispatch over the channels of `n` samples of [C, hw],
 * which the KW attention's multi-dispatch path also uses for its LayerNorm hidden norm (w and
 * b: views of C floats each; act: KW_ACT_NONE or KW_ACT_RELU). */
kwvk_result kw_layernorm_dispatch(kw_rec *rec, kw_view x, kw_view w, kw_view b, kw_view y, uint32_t n,
                                  uint32_t C, uint32_t hw, float eps, uint32_t act);
/* A float32 stored as the bits of an i32 param (the eps of a LayerNorm). */
float kw_param_f32(int32_t bits);

#endif
