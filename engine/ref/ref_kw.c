/* ref_kw.c - plain-C references of the KernelWarehouse ops: the attention (docs/kw-math.md section 2)
 * and the kernel assembly (docs/kw-math.md section 3). Straight loops with double accumulation. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------------------- */
/* kw_attention                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* params: kw_attention_params (nb 0: the standard path; norm KW_ATT_NORM_LAYERNORM: a LayerNorm
 * of the hidden vector with eps)
 * tensors: 0 fc1_w [hid, C], 1 fc1_b [hid] (LayerNorm: [3, hid], fc1 bias, LN weight, LN bias),
 *          2 fc2_w [rows, hid], 3 fc2_b [rows] (standard),
 *          4 fc3_w [M - nlc, nb] (basis, absent when M == nlc), 5 basis_bias [nlm*(M+1)] */
void kw_ref_kw_attention(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                         const float *const *x, kw_shape out, float *y)
{
    const kw_attention_params *a = &op->att;
    const uint32_t C = (uint32_t)a->C, hid = (uint32_t)a->hid, nlm = (uint32_t)a->nlm;
    const uint32_t M = (uint32_t)a->M, nlc = (uint32_t)a->nlc, nb = (uint32_t)a->nb;
    const uint32_t start = (uint32_t)a->start;
    const uint64_t hw = (uint64_t)in[0].h * in[0].w;
    const uint64_t out_count = kw_shape_count(out); /* nlm * M */
    const uint32_t rows_per_mix = nb ? nlc + nb + 1 : M + 1;

    double *g = malloc(sizeof(double) * C);
    double *h = malloc(sizeof(double) * hid);
    double *zb = malloc(sizeof(double) * rows_per_mix); /* one mixture row of fc2 */
    double *z = malloc(sizeof(double) * (M + 1));       /* one rebuilt mixture row */
    if (!g || !h || !zb || !z) {
        for (uint64_t i = 0; i < (uint64_t)n * out_count; i++)
            y[i] = NAN;
        goto done;
    }

    for (uint32_t s = 0; s < n; s++) {
        const float *xs = x[0] + (uint64_t)s * C * hw;
        /* 1. global average pool */
        for (uint32_t c = 0; c < C; c++) {
            double acc = 0.0;
            for (uint64_t p = 0; p < hw; p++)
                acc += xs[(uint64_t)c * hw + p];
            g[c] = acc / (double)hw;
        }
        /* 2. fc1 (BatchNorm folded into its bias, or followed by a LayerNorm) + ReLU */
        for (uint32_t j = 0; j < hid; j++) {
            double acc = t[1]->data[j];
            for (uint32_t c = 0; c < C; c++)
                acc += (double)t[0]->data[(uint64_t)j * C + c] * g[c];
            h[j] = acc;
        }
        if (op->att.norm == KW_ATT_NORM_LAYERNORM) {
            double mean = 0.0, var = 0.0;
            for (uint32_t j = 0; j < hid; j++)
                mean += h[j];
            mean /= hid;
            for (uint32_t j = 0; j < hid; j++)
                var += (h[j] - mean) * (h[j] - mean);
            const double rstd = 1.0 / sqrt(var / hid + (double)op->att.eps);
            for (uint32_t j = 0; j < hid; j++)
                h[j] = (h[j] - mean) * rstd * t[1]->data[hid + j] + t[1]->data[2 * hid + j];
        }
        for (uint32_t j = 0; j < hid; j++)
            h[j] = h[j] > 0.0 ? h[j] : 0.0;
        for (uint32_t m = 0; m < nlm; m++) {
            /* 3./4. fc2 for this mixture row */
            for (uint32_t r = 0; r < rows_per_mix; r++) {
                const float *w = t[2]->data + ((uint64_t)m * rows_per_mix + r) * hid;
                double acc = nb ? 0.0 : t[3]->data[(uint64_t)m * rows_per_mix + r];
                for (uint32_t k = 0; k < hid; k++)
                    acc += (double)w[k] * h[k];
                zb[r] = acc;
            }
            if (nb == 0) {
                for (uint32_t j = 0; j <= M; j++)
                    z[j] = zb[j];
            } else {
                /* rebuilt row: [nonlocal[:start], local, nonlocal[start:], zero] + basis_bias */
                const double *basis = zb + nlc;
                for (uint32_t j = 0; j <= M; j++) {
                    double v;
                    if (j == M) {
                        v = zb[nlc + nb];
                    } else if (j >= start && j < start + nlc) {
                        v = zb[j - start];
                    } else {
                        uint32_t k = j < start ? j : j - nlc; /* nonlocal index */
                        const float *w3 = t[4]->data + (uint64_t)k * nb;
                        v = 0.0;
                        for (uint32_t b = 0; b < nb; b++)
                            v += (double)w3[b] * basis[b];
                    }
                    z[j] = v + t[5]->data[(uint64_t)m * (M + 1) + j];
                }
            }
            /* 5. a = z / (sum |z| + 1e-3) over all M + 1 columns; 7. drop the zero column */
            double sum = 0.0;
            for (uint32_t j = 0; j <= M; j++)
                sum += fabs(z[j]);
            float *ys = y + (uint64_t)s * out_count + (uint64_t)m * M;
            for (uint32_t j = 0; j < M; j++)
                ys[j] = (float)(z[j] / (sum + 1e-3));
        }
    }
done:
    free(g);
    free(h);
    free(zb);
    free(z);
}

/* ---------------------------------------------------------------------------------------- */
/* kw_assemble                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* params: kw_assemble_params; tensor 0 warehouse
 * [M, co, ci, ckh*ckw]. Output per sample: the kernel [O, Cg, kh, kw]. */
void kw_ref_kw_assemble(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                        const float *const *x, kw_shape out, float *y)
{
    const kw_assemble_params *a = &op->assemble;
    const uint32_t O = (uint32_t)a->O, Cg = (uint32_t)a->Cg;
    const uint32_t kh = (uint32_t)a->kh, kw = (uint32_t)a->kw;
    const uint32_t co = (uint32_t)a->co, ci = (uint32_t)a->ci;
    const uint32_t ckh = (uint32_t)a->ckh, ckw = (uint32_t)a->ckw, M = (uint32_t)a->M;
    const uint32_t GO = O / co, GI = Cg / ci, SW = kw / ckw;
    const uint64_t L = (uint64_t)co * ci * ckh * ckw; /* elements per cell */
    const uint64_t in_count = kw_shape_count(in[0]);  /* nlm * M */
    const uint64_t out_count = kw_shape_count(out);   /* O * Cg * kh * kw */
    const float *E = t[0]->data;

    for (uint32_t s = 0; s < n; s++) {
        const float *alpha = x[0] + (uint64_t)s * in_count;
        float *ys = y + (uint64_t)s * out_count;
        for (uint32_t oc = 0; oc < O; oc++)
            for (uint32_t ic = 0; ic < Cg; ic++)
                for (uint32_t ky = 0; ky < kh; ky++)
                    for (uint32_t kx = 0; kx < kw; kx++) {
                        uint32_t o = oc / co, c = oc % co, i = ic / ci, cc = ic % ci;
                        uint32_t sp = (ky / ckh) * SW + kx / ckw;
                        uint64_t r = ((uint64_t)sp * GO + o) * GI + i;
                        uint64_t l = (((uint64_t)c * ci + cc) * ckh + ky % ckh) * ckw + kx % ckw;
                        double acc = 0.0;
                        for (uint32_t m = 0; m < M; m++)
                            acc += (double)alpha[r * M + m] * E[(uint64_t)m * L + l];
                        ys[(((uint64_t)oc * Cg + ic) * kh + ky) * kw + kx] = (float)acc;
                    }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* kw_assemble in the Winograd domain                                                       */
/* ---------------------------------------------------------------------------------------- */

/* The kernels of kw_ref_kw_assemble (3x3), each transformed to U = G g G^T per (output, input)
 * channel pair, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], stored as
 * u[s][xi][Cg][Op] (xi = 4 * row + column of U; rows o >= O zero). */
void kw_ref_kw_assemble_wino(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                             const float *const *x, uint32_t Op, float *u)
{
    const kw_assemble_params *a = &op->assemble;
    const uint32_t O = (uint32_t)a->O, Cg = (uint32_t)a->Cg;
    const kw_shape ks = {O * Cg * 9, 1, 1};
    float *w = malloc((size_t)n * kw_shape_count(ks) * sizeof *w);
    if (!w) return;
    kw_ref_kw_assemble(op, t, n, in, x, ks, w);
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t o = 0; o < Op; o++)
            for (uint32_t c = 0; c < Cg; c++) {
                const float *g = o < O ? w + (((uint64_t)s * O + o) * Cg + c) * 9 : NULL;
                for (uint32_t i = 0; i < 4; i++)
                    for (uint32_t j = 0; j < 4; j++) {
                        double v = 0.0;
                        for (uint32_t ky = 0; g && ky < 3; ky++)
                            for (uint32_t kx = 0; kx < 3; kx++)
                                v += G[i][ky] * g[ky * 3 + kx] * G[j][kx];
                        u[(((uint64_t)s * 16 + i * 4 + j) * Cg + c) * Op + o] = (float)v;
                    }
            }
    free(w);
}
