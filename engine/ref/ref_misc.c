/* ref_misc.c - plain-C references of pooling, global average pooling, add and softmax
 * (PyTorch semantics, double accumulation). */
#include "ref.h"

#include <math.h>


/* PyTorch max_pool2d / avg_pool2d: window start oy*s - pad; max ignores padding; avg divides
 * by the window clipped to [0, H + pad) (count_include_pad) or to [0, H) (otherwise). */
static void ref_pool2d(const kw_op *op, uint32_t n, kw_shape in, kw_shape out, const float *x,
                       float *y, bool is_max)
{
    const kw_pool2d_params *pp = &op->pool;
    const int64_t kh = pp->kh, kw = pp->kw, sh = pp->sh, sw = pp->sw, ph = pp->ph, pw = pp->pw;
    const bool include_pad = pp->include_pad != 0;
    const int64_t H = in.h, W = in.w;
    for (uint64_t plane = 0; plane < (uint64_t)n * in.c; plane++) {
        const float *xp = x + plane * H * W;
        float *yp = y + plane * out.h * out.w;
        for (int64_t oy = 0; oy < out.h; oy++) {
            for (int64_t ox = 0; ox < out.w; ox++) {
                int64_t y0 = oy * sh - ph, x0 = ox * sw - pw;
                int64_t y1 = y0 + kh, x1 = x0 + kw;
                if (y1 > H + ph) y1 = H + ph;
                if (x1 > W + pw) x1 = W + pw;
                int64_t pool_size = (y1 - y0) * (x1 - x0);
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                if (y1 > H) y1 = H;
                if (x1 > W) x1 = W;
                double acc = is_max ? -INFINITY : 0.0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        double v = xp[iy * W + ix];
                        if (is_max) acc = v > acc ? v : acc;
                        else acc += v;
                    }
                if (!is_max) acc /= (double)(include_pad ? pool_size : (y1 - y0) * (x1 - x0));
                yp[oy * out.w + ox] = (float)acc;
            }
        }
    }
}

void kw_ref_maxpool2d(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                      const float *const *x, kw_shape out, float *y)
{
    (void)t;
    ref_pool2d(op, n, in[0], out, x[0], y, true);
}

void kw_ref_avgpool2d(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                      const float *const *x, kw_shape out, float *y)
{
    (void)t;
    ref_pool2d(op, n, in[0], out, x[0], y, false);
}

void kw_ref_global_avgpool(const kw_op *op, const kw_tensor *const *t, uint32_t n,
                           const kw_shape *in, const float *const *x, kw_shape out, float *y)
{
    (void)op, (void)t, (void)out;
    const uint64_t hw = (uint64_t)in[0].h * in[0].w;
    for (uint64_t plane = 0; plane < (uint64_t)n * in[0].c; plane++) {
        double acc = 0.0;
        for (uint64_t i = 0; i < hw; i++) acc += x[0][plane * hw + i];
        y[plane] = (float)(acc / (double)hw);
    }
}

void kw_ref_add(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                const float *const *x, kw_shape out, float *y)
{
    (void)t, (void)in;
    const uint64_t count = (uint64_t)n * kw_shape_count(out);
    for (uint64_t i = 0; i < count; i++)
        y[i] = (float)kw_ref_act((double)x[0][i] + (double)x[1][i], op->add.act);
}

void kw_ref_softmax(const kw_op *op, const kw_tensor *const *t, uint32_t n, const kw_shape *in,
                    const float *const *x, kw_shape out, float *y)
{
    (void)op, (void)t, (void)out;
    const uint32_t C = in[0].c;
    for (uint32_t s = 0; s < n; s++) {
        const float *xs = x[0] + (uint64_t)s * C;
        float *ys = y + (uint64_t)s * C;
        double mx = -INFINITY, sum = 0.0;
        for (uint32_t c = 0; c < C; c++) mx = xs[c] > mx ? xs[c] : mx;
        for (uint32_t c = 0; c < C; c++) sum += exp((double)xs[c] - mx);
        for (uint32_t c = 0; c < C; c++) ys[c] = (float)(exp((double)xs[c] - mx) / sum);
    }
}
