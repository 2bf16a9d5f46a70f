/* fuzz_model - libFuzzer target for the model loader (engine/src/model.c + the op checks in
 * ops.c) and, for models that load and are small, the CPU references (engine/ref).
 *
 * Contract checked on every input:
 *   - kwvk_model_load_memory never crashes, leaks or reads out of bounds (ASan/UBSan/LSan);
 *   - a refusal is KWVK_ERROR_MODEL_FORMAT (or OUT_OF_HOST_MEMORY) with a non-empty message
 *     and *out == NULL;
 *   - an accepted model answers get_info and every label query, its shapes infer at the
 *     default input, and a small one runs through the CPU references.
 * A broken contract calls __builtin_trap(), which libFuzzer (and the replay driver) report. */
#include "internal.h"
#include "ref.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX_MACS 2e6   /* run the references only on models this cheap ... */
#define REF_MAX_ELEMS 1e6  /* ... with values this small */

static void check(int ok)
{
    if (!ok) __builtin_trap();
}

/* Shapes at the default input; returns whether the model is cheap enough for the references. */
static int cheap(const kwvk_model *m)
{
    kw_shape *shapes = calloc(m->n_ops + 1, sizeof *shapes);
    if (!shapes) return 0;
    shapes[0] = (kw_shape){m->info.input_channels, m->info.input_height, m->info.input_width};
    double macs = 0;
    int ok = kw_shape_count(shapes[0]) <= REF_MAX_ELEMS;
    for (uint32_t i = 0; i < m->n_ops && ok; i++) {
        kw_shape in[KW_MAX_OP_INPUTS] = {{0, 0, 0}};
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
            if (m->ops[i].inputs[k] != KW_NONE) in[k] = shapes[m->ops[i].inputs[k]];
        char msg[256];
        /* the loader inferred these already: it must succeed again */
        check(kw_op_infer(&m->ops[i], in, &shapes[i + 1], msg, sizeof msg));
        macs += kw_op_macs(&m->ops[i], 1, in, shapes[i + 1]);
        ok = macs <= REF_MAX_MACS && kw_shape_count(shapes[i + 1]) <= REF_MAX_ELEMS;
    }
    check(!ok || shapes[m->n_ops].c == m->info.num_classes);
    free(shapes);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kwvk_model *m = (kwvk_model *)(uintptr_t)1;
    kwvk_result r = kwvk_model_load_memory(data, size, &m);
    if (r != KWVK_OK) {
        check(m == NULL);
        check(r == KWVK_ERROR_MODEL_FORMAT || r == KWVK_ERROR_OUT_OF_HOST_MEMORY);
        check(kwvk_last_error()[0] != 0);
        return 0;
    }
    check(m != NULL);
    kwvk_model_info info;
    check(kwvk_model_get_info(m, &info) == KWVK_OK);
    check(info.name != NULL && info.num_ops == m->n_ops && info.num_classes >= 1);
    for (uint32_t c = 0; c < info.num_classes && c < 4096; c++) check(kwvk_model_label(m, c) != NULL);
    check(kwvk_model_label(m, info.num_classes) == NULL);
    for (uint32_t i = 0; i < m->n_ops; i++) check(strcmp(kwvk_op_name(m->ops[i].type), "?") != 0);

    if (cheap(m)) {
        kw_shape in = {info.input_channels, info.input_height, info.input_width};
        size_t nx = kw_shape_count(in);
        float *x = malloc(nx * sizeof *x);
        check(x != NULL);
        for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
        float *y = NULL;
        kw_shape out;
        r = kw_ref_model_run(m, 1, in, x, &y, &out);
        check(r == KWVK_OK);
        check(out.c == info.num_classes && y != NULL);
        /* (no check on the values: finite weights up to 3.4e38 may legitimately overflow to
         * Inf and Inf - Inf to NaN; the references must only not crash or read out of bounds) */
        free(y);
        free(x);
    }
    kwvk_model_destroy(m);
    return 0;
}
