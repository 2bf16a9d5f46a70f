/* ref_norm.c - plain-C reference of layernorm: LayerNorm over the channels of an NCHW value. */
#include "ref.h"

#include <math.h>

/* params: kw_layernorm_params; tensor 0 [2, C]: weight, bias. For every sample and pixel
 * y[c] = (x[c] - mean) / sqrt(var + eps) * weight[c] + bias[c], mean and (biased) variance over
 * the C channels of that pixel. */
void kw_ref_layernorm(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in, const float *const *x,
                      kw_shape out, float *y)
{
    (void)out;
    const uint32_t C = in[0].c;
    const uint64_t hw = (uint64_t)in[0].h * in[0].w;
    const double eps = op->ln.eps;
    const float *w = t[0]->data, *b = t[0]->data + C;
    for (uint32_t s = 0; s < n; s++) {
        const float *xs = x[0] + (uint64_t)s * C * hw;
        float *ys = y + (uint64_t)s * C * hw;
        for (uint64_t p = 0; p < hw; p++) {
            double mean = 0.0, var = 0.0;
            for (uint32_t c = 0; c < C; c++)
                mean += xs[c * hw + p];
            mean /= C;
            for (uint32_t c = 0; c < C; c++)
                var += (xs[c * hw + p] - mean) * (xs[c * hw + p] - mean);
            const double rstd = 1.0 / sqrt(var / C + eps);
            for (uint32_t c = 0; c < C; c++)
                ys[c * hw + p] = (float)((xs[c * hw + p] - mean) * rstd * w[c] + b[c]);
        }
    }
}
