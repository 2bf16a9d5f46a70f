/* op_harness.h - run one op on the GPU and through its C reference, and compare. */
#ifndef KWVK_OP_HARNESS_H
#define KWVK_OP_HARNESS_H

#include "internal.h"
#include "ref.h"

typedef struct oh_env oh_env;

/* A context with the validation layer on. Prints the device; exits 77 (skip) only when no
 * Vulkan device exists at all. */
oh_env *oh_init(void);
/* Frees everything; returns the process exit code (0 if every case passed and the
 * validation layer stayed silent). */
int oh_finish(oh_env *env);

typedef struct oh_case {
    const char *label;
    kw_op op;                       /* inputs[i] = i or KW_NONE; tensors[j] = j or KW_NONE */
    uint32_t n;                     /* batch */
    kw_shape in[KW_MAX_OP_INPUTS];  /* per-sample input shapes */
    kw_tensor t[KW_MAX_OP_TENSORS]; /* tensors in use: ndim, dims, count, data */
    const float *x[KW_MAX_OP_INPUTS]; /* input data; NULL = random N(0, 1) */
    double tol;                     /* pass if max|gpu - ref| <= tol * max(1, max|ref|) */
    int w16;                        /* conv2d: weights (tensor 0) stored as fp16 on the device;
                                       the reference gets the same values rounded by C's _Float16 */
    int w_ohwi;                     /* conv2d: per-sample weights (input 1) uploaded as [O, kh, kw, Cg] */
} oh_case;

void oh_run(oh_env *env, const oh_case *c);
/* Seeded N(0, scale^2) values, freed by oh_finish. */
float *oh_random(oh_env *env, uint64_t count, float scale);
void oh_set_tensor(kw_tensor *t, uint32_t ndim, const uint32_t *dims, const float *data);
/* The harness's context (for tests that need device facts). */
kw_ctx *oh_ctx(oh_env *env);

/* One conv2d call to record, not run, for the tests of which path takes a conv. */
typedef struct oh_conv_call {
    const kw_op *op;       /* conv2d; op->kw_peer may be a kw_assemble (Winograd-domain pairing) */
    uint32_t n;            /* batch */
    kw_shape in, out;      /* per sample */
    uint64_t weights;      /* weight values, per sample where dyn */
    bool dyn;              /* per-sample weights (input 1) instead of tensor 0 */
    bool scale, bias, res; /* epilogue inputs */
    bool gemm_only;        /* record through the GEMM path alone (kw_pw_record) */
} oh_conv_call;
/* Record the call as the net plans and records it (its scratch from kw_op_scratch, device
 * buffers of the sizes it needs) and return its dispatch count; 0 with gemm_only where the
 * GEMM path leaves the conv to another path; -1 on an error (printed). */
int oh_conv_dispatches(oh_env *env, const oh_conv_call *c);

#endif
