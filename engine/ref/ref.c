/* ref.c - the references by op type, and a whole-model CPU run (for tests). This library
 * (kwvk_ref) is linked by tests only; libkwvk carries no reference code. */
#include "ref.h"

#include <stdlib.h>
#include <string.h>

static kw_ref_fn *const refs[KW_OP_COUNT] = {
    [KW_OP_CONV2D] = kw_ref_conv2d,
    [KW_OP_KW_ATTENTION] = kw_ref_kw_attention,
    [KW_OP_KW_ASSEMBLE] = kw_ref_kw_assemble,
    [KW_OP_MAXPOOL2D] = kw_ref_maxpool2d,
    [KW_OP_AVGPOOL2D] = kw_ref_avgpool2d,
    [KW_OP_GLOBAL_AVGPOOL] = kw_ref_global_avgpool,
    [KW_OP_ADD] = kw_ref_add,
    [KW_OP_SOFTMAX] = kw_ref_softmax,
    [KW_OP_LAYERNORM] = kw_ref_layernorm,
};

bool kw_ref_op(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in, const float *const *x,
               kw_shape out, float *y)
{
    kw_ref_fn *fn = op->type < KW_OP_COUNT ? refs[op->type] : NULL;
    if (!fn) return false;
    fn(op, t, n, in, x, out, y);
    return true;
}

kwvk_result kw_ref_model_run(const kwvk_model *m, uint32_t n, kw_shape in, const float *x, float **y, kw_shape *out)
{
    uint32_t nv = m->n_ops + 1;
    kw_shape *shapes = calloc(nv, sizeof *shapes);
    float **vals = calloc(nv, sizeof *vals);
    uint32_t *last_use = calloc(nv, sizeof *last_use);
    kwvk_result r = KWVK_OK;
    if (!shapes || !vals || !last_use) {
        r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (uint32_t i = 0; i < m->n_ops; i++)
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
            if (m->ops[i].inputs[k] != KW_NONE) last_use[m->ops[i].inputs[k]] = i;
    shapes[0] = in;
    vals[0] = (float *)(uintptr_t)x; /* never freed or written */
    char msg[256];
    uint32_t bad = 0;
    if (!kw_model_shapes(m, shapes, &bad, msg, sizeof msg)) {
        r = kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "op %u (%s): %s", bad, kwvk_op_name(m->ops[bad].type), msg);
        goto done;
    }
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const kw_op *op = &m->ops[i];
        kw_shape sin[KW_MAX_OP_INPUTS] = {{0, 0, 0}};
        const float *xin[KW_MAX_OP_INPUTS] = {NULL, NULL, NULL};
        const kw_tensor *t[KW_MAX_OP_TENSORS] = {NULL};
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
            if (op->inputs[k] != KW_NONE) {
                sin[k] = shapes[op->inputs[k]];
                xin[k] = vals[op->inputs[k]];
            }
        for (int k = 0; k < KW_MAX_OP_TENSORS; k++)
            if (op->tensors[k] != KW_NONE) t[k] = &m->tensors[op->tensors[k]];
        vals[i + 1] = malloc(kw_shape_count(shapes[i + 1]) * n * sizeof(float));
        if (!vals[i + 1]) {
            r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            goto done;
        }
        kw_ref_op(op, t, n, sin, xin, shapes[i + 1], vals[i + 1]);
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++) {
            uint32_t v = op->inputs[k];
            if (v != KW_NONE && v != 0 && last_use[v] == i) {
                free(vals[v]);
                vals[v] = NULL;
            }
        }
    }
    *y = vals[m->n_ops];
    *out = shapes[m->n_ops];
    vals[m->n_ops] = NULL;
done:
    if (vals)
        for (uint32_t v = 1; v < nv; v++) free(vals[v]);
    free(vals);
    free(shapes);
    free(last_use);
    return r;
}
