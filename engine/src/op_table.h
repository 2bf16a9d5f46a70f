/* op_table.h - the op table: everything the engine knows about an op kind, in one entry.
 *
 * The loader (model.c), the network runtime (net.c), the CPU references (engine/ref) and the
 * op test harness (tests/op_harness.c) reach op kinds only through the functions below, which
 * look the kind up in the table (op_table.c). Adding an op: a kw_op_def in the file of its op
 * family (ops_conv.c, ops_kw.c, ops_misc.c or a new ops_<family>.c), one line in op_table.c's
 * table, its shader(s), its reference and its test (docs/architecture.md, "How to add an op").
 * Nothing in net.c or model.c names an op kind. */
#ifndef KWVK_OP_TABLE_H
#define KWVK_OP_TABLE_H

#include "internal.h"

/* The geometry of a convolution kernel passed between ops as a value: [O, Cg, kh, kw], or
 * [O, kh, kw, Cg] where producer and readers agree (kw_op_value_ohwi). */
typedef struct kw_kernel_geom {
    uint32_t O, Cg, kh, kw;
} kw_kernel_geom;

/* One op kind. name, validate, infer and record are required; decode where the op has
 * parameters; the other entries left NULL take the default named in their comment. `msg`
 * arguments receive a description of what is wrong (snprintf into msg_len bytes). */
typedef struct kw_op_def {
    const char *name;  /* as in docs/model-format.md and kwvk_op_name */
    kwvk_op_kind kind; /* profiling category (kwvk_layer_time.kind) */
    /* op->p (the file's i32[24]) -> the op's named parameter struct in kw_op. Copies only:
     * validate checks the values. */
    void (*decode)(kw_op *op);
    /* Parameters, inputs and tensors against the model, at load (`index`: the op's position;
     * inputs must refer to values computed before it). */
    bool (*validate)(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len);
    /* Output shape per sample from the input shapes (in[k] zero where input k is absent). */
    bool (*infer)(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len);
    /* Multiply-accumulates for batch n (profiling). NULL: one per input element. */
    double (*macs)(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out);
    /* Device scratch bytes for this call (its op, n, shapes and derived weights are set).
     * NULL: none. */
    uint64_t (*scratch)(const kw_ctx *ctx, const kw_op_call *call);
    /* Record the op's dispatches. */
    kwvk_result (*record)(kw_rec *rec, const kw_op_call *call);

    /* Weight-use questions, asked by the net when it uploads weights and plans a shape. */
    /* May tensor `slot` be stored as fp16 (kwvk_net_desc.fp16_weights)? NULL: no. */
    bool (*tensor_f16)(const kw_op *op, uint32_t slot);
    /* Floats of weights the net derives from the op's tensors once, at creation (e.g. the
     * Winograd transform), or 0 for none; fp16: the net stores fp16 weights. NULL: none. */
    uint64_t (*derived_count)(const kw_ctx *ctx, const kw_op *op, bool fp16);
    /* Compute them: t[k] the op's tensors (NULL where absent), out derived_count floats. */
    void (*derive)(const kw_op *op, const kw_tensor *const *t, float *out);
    /* Is the op's output a convolution kernel it can also write as [O, kh, kw, Cg]? *g its
     * geometry. NULL: no. */
    bool (*kernel_out)(const kw_op *op, kw_kernel_geom *g);
    /* Does the op take input `slot` as a kernel of geometry *g in [O, kh, kw, Cg]? NULL: no. */
    bool (*kernel_in)(const kw_op *op, uint32_t slot, const kw_kernel_geom *g);
} kw_op_def;

/* The entry of an op type, or NULL for an unknown type. */
const kw_op_def *kw_op_def_of(uint32_t type);

/* The op families' entries (ops_*.c). */
extern const kw_op_def kw_op_conv2d_def;         /* ops_conv.c */
extern const kw_op_def kw_op_kw_attention_def;   /* ops_kw.c */
extern const kw_op_def kw_op_kw_assemble_def;    /* ops_kw.c */
extern const kw_op_def kw_op_maxpool2d_def;      /* ops_misc.c */
extern const kw_op_def kw_op_avgpool2d_def;      /* ops_misc.c */
extern const kw_op_def kw_op_global_avgpool_def; /* ops_misc.c */
extern const kw_op_def kw_op_add_def;            /* ops_misc.c */
extern const kw_op_def kw_op_softmax_def;        /* ops_misc.c */
extern const kw_op_def kw_op_layernorm_def;      /* ops_norm.c */

/* ---------------------------------------------------------------------------------------- */
/* Through the table                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* Decode op->p into the op's named parameters; false + msg for an unknown type. */
bool kw_op_decode(kw_op *op, char *msg, size_t msg_len);
/* Decode and validate an op of model m at position `index` (the loader and the harness). */
bool kw_op_load(const kwvk_model *m, kw_op *op, uint32_t index, char *msg, size_t msg_len);
bool kw_op_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len);
double kw_op_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out);
uint64_t kw_op_scratch(const kw_ctx *ctx, const kw_op_call *call);
kwvk_result kw_op_record(kw_rec *rec, const kw_op_call *call);
kwvk_op_kind kw_op_kind(uint32_t type);
bool kw_op_tensor_f16(const kw_op *op, uint32_t slot);
uint64_t kw_op_derived_count(const kw_ctx *ctx, const kw_op *op, bool fp16);
void kw_op_derive(const kw_op *op, const kw_tensor *const *t, float *out);

/* Where an op's operands live (the net's arena and weights, or the harness's buffers). */
typedef struct kw_op_operands {
    uint32_t n;               /* batch */
    const kw_shape *values;   /* per-sample shape of every value, by value id */
    const kw_view *vvalues;   /* device view of every value (whole batch), by value id;
                                 NULL: no views yet (planning) */
    uint32_t out;             /* value id of the output */
    const kw_tensor *tensors; /* the model's tensors, by tensor id */
    const kw_buffer *weights; /* their device copies, by tensor id (NULL: no views yet) */
    const bool *w16;          /* per tensor id: stored as fp16 (NULL: none) */
    const kw_buffer *derived; /* the op's derived weights (NULL or buffer NULL: none) */
    bool out_ohwi;            /* kw_op_call.out_ohwi */
    uint32_t in_ohwi;         /* kw_op_call.in_ohwi */
} kw_op_operands;

/* Build the call of `op` from its operands: shapes, views of its inputs, output, tensors and
 * derived weights, the kernel layouts. The scratch view is left empty (the caller places
 * kw_op_scratch(ctx, call) bytes). Used by the net and by the op test harness alike. */
void kw_op_call_make(kw_op_call *call, const kw_op *op, const kw_op_operands *o);

/* ---------------------------------------------------------------------------------------- */
/* Graph walks                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* Shapes of every value of model m (shapes[0] is set by the caller; shapes has n_ops + 1
 * entries): false with *bad_op and msg at the first op whose inputs do not fit. */
bool kw_model_shapes(const kwvk_model *m, kw_shape *shapes, uint32_t *bad_op, char *msg, size_t msg_len);
/* Is value v (the output of op v - 1) a kernel written as [O, kh, kw, Cg]? Only where its
 * producer can write it so (kernel_out) and every reader takes it so (kernel_in) with the
 * same geometry, and it is not the network's output. */
bool kw_model_value_ohwi(const kwvk_model *m, uint32_t v);

/* ---------------------------------------------------------------------------------------- */
/* Validation helpers for the entries (op_table.c)                                          */
/* ---------------------------------------------------------------------------------------- */

#define KW_BAD(...) (snprintf(msg, msg_len, __VA_ARGS__), false)

static inline bool kw_in_range(int32_t v, int32_t lo, int32_t hi)
{
    return v >= lo && v <= hi;
}
/* Tensor `slot`: present iff `required`; when present, of the element count of dims. */
bool kw_check_tensor(const kwvk_model *m, const kw_op *op, int slot, bool required, uint32_t ndim, const uint32_t *dims,
                     const char *what, char *msg, size_t msg_len);
/* No tensor in slots first.. */
bool kw_no_extra_tensors(const kw_op *op, int first, char *msg, size_t msg_len);
/* Inputs: `required` / `optional` bitmasks of slots; each refers to a value before `index`. */
bool kw_check_inputs(const kw_op *op, uint32_t index, uint32_t required, uint32_t optional, char *msg, size_t msg_len);

#endif
