// conv_pw_sub.comp - the input of a strided 1x1 convolution subsampled for the GEMM
// (conv_pw.glsl): Xs[n][c][oy][ox] = X[n][c][oy * sh][ox * sw], dense NCHW. One invocation
// per output value; gl_WorkGroupID.z is the sample.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint H, W, OH, OW, sh, sw;
    uint x_base, x_stride;  // X view: element of sample 0, elements per sample
    uint y_base, y_stride;  // Xs view: the same
    uint n_inv, groups_x;   // values per sample (C * OH * OW), workgroups along x
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint n = gl_WorkGroupID.z;
    const uint ohw = pc.OH * pc.OW;
    const uint c = q / ohw;
    const uint p = q - c * ohw;
    const uint oy = p / pc.OW;
    const uint ox = p - oy * pc.OW;
    y[pc.y_base + n * pc.y_stride + q] = x[pc.x_base + n * pc.x_stride + (c * pc.H + oy * pc.sh) * pc.W + ox * pc.sw];
}
