/* ref_conv.c - plain-C reference of conv2d (PyTorch semantics, double accumulation). */
#include "ref.h"

#include <math.h>

/* Activation in double (shared with ref_misc.c; the prototype belongs in ref.h). */
double kw_ref_act(double v, int32_t act)
{
    if (act == (int32_t)KW_ACT_RELU) return v > 0.0 ? v : 0.0;
    if (act == (int32_t)KW_ACT_RELU6) return v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v);
    if (act == (int32_t)KW_ACT_GELU) return 0.5 * v * (1.0 + erf(v * 0.70710678118654752440));
    return v;
}

/* y = act(scale[o] * conv(x, W)[o] + bias[o] + residual). W is the static tensor t[0] or the
 * per-sample weight value x[1] ([n, O*(C/G)*kh*kw]). */
void kw_ref_conv2d(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                   const float *const *x, kw_shape out, float *y)
{
    const kw_conv2d_params *cp = &op->conv;
    const int64_t O = cp->O, kh = cp->kh, kw = cp->kw, sh = cp->sh, sw = cp->sw, ph = cp->ph, pw = cp->pw;
    const int64_t dh = cp->dh, dw = cp->dw, G = cp->G, C = cp->C;
    const int32_t act = cp->act;
    const int64_t Cg = C / G, Og = O / G;
    const int64_t H = in[0].h, W = in[0].w, OH = out.h, OW = out.w;
    const uint64_t wcount = (uint64_t)O * Cg * kh * kw;
    const float *scale = t[1] ? t[1]->data : NULL;
    const float *bias = t[2] ? t[2]->data : NULL;
    const float *res = x[2];

    for (uint32_t s = 0; s < n; s++) {
        const float *xs = x[0] + (uint64_t)s * C * H * W;
        const float *ws = t[0] ? t[0]->data : x[1] + (uint64_t)s * wcount;
        float *ys = y + (uint64_t)s * O * OH * OW;
        const float *rs = res ? res + (uint64_t)s * O * OH * OW : NULL;
        for (int64_t o = 0; o < O; o++) {
            const int64_t g = o / Og;
            const float *wo = ws + (uint64_t)o * Cg * kh * kw;
            for (int64_t oy = 0; oy < OH; oy++) {
                for (int64_t ox = 0; ox < OW; ox++) {
                    double acc = 0.0;
                    for (int64_t c = 0; c < Cg; c++) {
                        const float *xc = xs + (uint64_t)(g * Cg + c) * H * W;
                        for (int64_t ky = 0; ky < kh; ky++) {
                            int64_t iy = oy * sh - ph + ky * dh;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < kw; kx++) {
                                int64_t ix = ox * sw - pw + kx * dw;
                                if (ix < 0 || ix >= W) continue;
                                acc += (double)xc[iy * W + ix] * wo[(c * kh + ky) * kw + kx];
                            }
                        }
                    }
                    uint64_t oi = (uint64_t)o * OH * OW + (uint64_t)oy * OW + ox;
                    double v = acc * (scale ? scale[o] : 1.0) + (bias ? bias[o] : 0.0);
                    if (rs) v += rs[oi];
                    ys[oi] = (float)kw_ref_act(v, act);
                }
            }
        }
    }
}
