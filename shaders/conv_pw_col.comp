// conv_pw_col.comp - the input of a convolution that is not a plain 1x1 (strided, padded or
// larger kernels) unrolled for the GEMM (conv_pw.glsl), per sample a dense [K][OH * OW]
// matrix, K = C * kh * kw:
//     Xc[n][r][oy * OW + ox] = X[n][c][oy * sh - ph + ky * dh][ox * sw - pw + kx * dw]
// (zero outside the input) with r = (c * kh + ky) * kw + kx, the order of a weight row
// [O, C, kh, kw], or r = (ky * kw + kx) * C + c for kw_assemble's [O, kh, kw, C]. For a 1x1
// stride-2 conv this is the subsampled input (a quarter of it). One invocation per output row
// (r, oy): the index arithmetic (divisions, which CPU devices run lane by lane) once per row,
// not per value; gl_WorkGroupID.z is the sample.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint H, W, OH, OW, C;
    uint kh, kw, sh, sw, ph, pw, dh, dw;
    uint ohwi;              // 1: rows in [kh, kw, C] order
    uint x_base, x_stride;  // X view: element of sample 0, elements per sample
    uint y_base, y_stride;  // Xc view: the same
    uint n_inv, groups_x;   // rows per sample (K * OH), workgroups along x
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint n = gl_WorkGroupID.z;
    const uint taps = pc.kh * pc.kw;
    const uint r = q / pc.OH;
    const uint oy = q - r * pc.OH;
    const uint c = pc.ohwi != 0u ? r % pc.C : r / taps;
    const uint tap = pc.ohwi != 0u ? r / pc.C : r % taps;
    const uint ky = tap / pc.kw, kx = tap - (tap / pc.kw) * pc.kw;
    const int iy = int(oy * pc.sh + ky * pc.dh) - int(pc.ph);
    const bool rowok = iy >= 0 && iy < int(pc.H);
    const uint xrow = pc.x_base + n * pc.x_stride + (c * pc.H + uint(rowok ? iy : 0)) * pc.W;
    const uint yrow = pc.y_base + n * pc.y_stride + q * pc.OW;
    int ix = int(kx * pc.dw) - int(pc.pw);
    for (uint ox = 0; ox < pc.OW; ox++, ix += int(pc.sw)) {
        const bool ok = rowok && ix >= 0 && ix < int(pc.W);
        const float v = x[ok ? xrow + uint(ix) : xrow];
        y[yrow + ox] = ok ? v : 0.0;
    }
}
