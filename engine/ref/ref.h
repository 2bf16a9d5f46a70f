/* ref.h - plain-C reference implementations of every kwvk op. They are the ground truth the
 * shaders are tested against, and they share the op description (kw_op + tensors) with the
 * GPU path, so a test can run any op both ways. Straightforward loops, double accumulation
 * where it costs nothing, no cleverness. */
#ifndef KWVK_REF_H
#define KWVK_REF_H

#include "../src/internal.h"
#include "../src/op_table.h"

/* Every reference has this signature:
 *   op   the op, decoded (kw_op_decode: its named parameters)
 *   t    its tensors (t[i] NULL where op->tensors[i] is KW_NONE)
 *   n    batch size
 *   in   per-sample shapes of the value inputs (in[i] valid where op->inputs[i] != KW_NONE)
 *   x    the value inputs, each [n, in[i]] (x[i] NULL where absent)
 *   out  the per-sample output shape (from kw_op_infer)
 *   y    the output, [n, out]                                                   */
typedef void kw_ref_fn(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                       const float *const *x, kw_shape out, float *y);

kw_ref_fn kw_ref_conv2d;         /* ref_conv.c */
kw_ref_fn kw_ref_maxpool2d;      /* ref_misc.c */
kw_ref_fn kw_ref_avgpool2d;      /* ref_misc.c */
kw_ref_fn kw_ref_global_avgpool; /* ref_misc.c */
kw_ref_fn kw_ref_add;            /* ref_misc.c */
kw_ref_fn kw_ref_softmax;        /* ref_misc.c */
kw_ref_fn kw_ref_kw_attention;   /* ref_kw.c */
kw_ref_fn kw_ref_kw_assemble;    /* ref_kw.c */
kw_ref_fn kw_ref_layernorm;      /* ref_norm.c */

/* kw_assemble of 3x3 kernels, then the Winograd F(2x2,3x3) weight transform of each kernel:
 * u gets n x [16][Cg][Op] floats (Op >= O; rows o >= O zero), the layout the engine's
 * Winograd-domain assembly writes (ref_kw.c). */
void kw_ref_kw_assemble_wino(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                             const float *const *x, uint32_t Op, float *u);


/* The activation codes of docs/model-format.md (ref_conv.c). */
double kw_ref_act(double v, int32_t act);

/* The reference of op->type from ref.c's table (one entry per op type). Returns false for an
 * unknown type. */
bool kw_ref_op(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
               const float *const *x, kw_shape out, float *y);

/* Run a whole model on the CPU for input [n, c, h, w]; *y gets a malloc'd output of
 * n * out elements (caller frees). Returns KWVK_OK or an error with kwvk_last_error(). */
kwvk_result kw_ref_model_run(const kwvk_model *m, uint32_t n, kw_shape in, const float *x,
                             float **y, kw_shape *out);

#endif
