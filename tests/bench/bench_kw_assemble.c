/* bench_kw_assemble.c - times kw_assemble in the Winograd domain (kw_assemble_wino_record) on
 * the shapes of KW ResNet18's stages: wall time of R recorded repetitions in one submission,
 * best of 3. Not a test (no reference check: test_ops_kw does that); a tool for tuning.
 *   bench_kw_assemble [n] [M-scale]   n samples (default 1), warehouse cells x M-scale (1 or 4) */
#include "op_harness.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    const uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 1, scale = argc > 2 ? (uint32_t)atoi(argv[2]) : 1;
    oh_env *env = oh_init();
    kw_ctx *ctx = oh_ctx(env);
    const uint32_t C[4] = {64, 128, 256, 512}, M1[4] = {56, 47, 47, 27};
    for (int k = 0; k < 4; k++) {
        const uint32_t c = C[k], M = M1[k] * scale, R = 3;
        kw_op a;
        memset(&a, 0, sizeof a);
        a.type = KW_OP_KW_ASSEMBLE;
        a.assemble = (kw_assemble_params){.O = (int32_t)c,
                                          .Cg = (int32_t)c,
                                          .kh = 3,
                                          .kw = 3,
                                          .co = (int32_t)c,
                                          .ci = (int32_t)c,
                                          .ckh = 1,
                                          .ckw = 1,
                                          .M = (int32_t)M};
        const uint64_t as = 9ull * M, L = (uint64_t)c * c, ub = 16ull * c * c * 4 * n;
        kw_buffer b[3];
        memset(b, 0, sizeof b);
        kwvk_result r = kw_buffer_create(ctx, n * as * 4, KW_MEM_DEVICE, &b[0]);
        if (r == KWVK_OK) r = kw_buffer_create(ctx, M * L * 4, KW_MEM_DEVICE, &b[1]);
        if (r == KWVK_OK) r = kw_buffer_create(ctx, ub, KW_MEM_DEVICE, &b[2]);
        float *h = oh_random(env, M * L, 1.0f);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &b[1], 0, h, M * L * 4);
        if (r == KWVK_OK) r = kw_buffer_upload(ctx, &b[0], 0, h, n * as * 4);
        double best = 1e30;
        for (int it = 0; it < 3 && r == KWVK_OK; it++) {
            kw_rec rec;
            memset(&rec, 0, sizeof rec);
            r = kw_rec_begin(ctx, &rec, 0);
            for (uint32_t i = 0; i < R && r == KWVK_OK; i++)
                r = kw_assemble_wino_record(&rec, &a, n, kw_view_of(&b[0], 0, n * as * 4), 0, as,
                                            kw_view_of(&b[1], 0, M * L * 4), kw_view_of(&b[2], 0, ub), c);
            if (r == KWVK_OK) r = kw_rec_end(&rec);
            const double t0 = now_ms();
            if (r == KWVK_OK) r = kw_submit_wait(ctx, rec.cmd);
            const double t = (now_ms() - t0) / R;
            kw_rec_release(&rec);
            if (t < best) best = t;
        }
        const double gmac = 9.0 * M * L * n / 1e9;
        printf("C=%3u M=%3u n=%u: %8.2f ms  %.3f GMAC  %.2f GMAC/s%s%s\n", c, M, n, best, gmac, gmac / best * 1e3,
               r == KWVK_OK ? "" : "  ", r == KWVK_OK ? "" : kwvk_last_error());
        for (int i = 0; i < 3; i++)
            kw_buffer_destroy(ctx, &b[i]);
    }
    return oh_finish(env);
}
