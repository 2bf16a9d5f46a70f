/* ops_wino_sm.c - the GPU-shaped variant of the Winograd GEMM step (ops_wino.c, step 2):
 * conv_wino_gemm_sm, 64 x 64 blocks of M staged through shared memory, chosen where
 * kw_ctx.gpu_kernels is set (a device that is not a CPU, or KWVK_GPU_KERNELS=1). It reads the
 * same U, V and writes the same M as the register-tiled conv_wino_gemm, so the transforms
 * around it do not change. */
#include "ops.h"

#define SM_BLOCK 64u /* output channels and tiles per workgroup (conv_wino_gemm_sm.comp) */
#define SM_SLICE 16u /* input channels per shared-memory stage: 2 x 4 KiB of shared memory */

kwvk_result kw_wino_gemm_sm(kw_rec *rec, kw_view u, kw_view v, kw_view m, uint32_t C, uint32_t Op, uint32_t Tp,
                            bool *done)
{
    kw_ctx *ctx = rec->ctx;
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    const uint32_t gx = kw_div_up(Tp, SM_BLOCK), gy = kw_div_up(Op, SM_BLOCK);
    *done = false;
    if (!ctx->gpu_kernels || gx > lim[0] || gy > lim[1] || lim[2] < 16) return KWVK_OK; /* register tiles */
    const struct {
        uint32_t C, Op4, Tp4;
    } pc = {C, Op / 4, Tp / 4};
    const kw_view views[3] = {u, v, m};
    const uint32_t spec[1] = {SM_SLICE};
    kw_pipeline *pipe;
    KW_TRY(kw_pipeline_get(ctx, "conv_wino_gemm_sm", spec, 1, &pipe));
    KW_TRY(kw_rec_dispatch(rec, pipe, views, 3, 1u << 2, &pc, sizeof pc, gx, gy, 16));
    *done = true;
    return KWVK_OK;
}
