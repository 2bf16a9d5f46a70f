// layernorm.comp - LayerNorm over the channels of NCHW values: one invocation per pixel
// (sample s, position p) computes the mean, then the variance around it, of the C values
// x[s, :, p] and writes y[s, c, p] = act((x - mean) / sqrt(var + eps) * w[c] + b[c]).
// Neighbouring invocations read neighbouring positions of one channel plane, so every load
// of a subgroup is contiguous; a [C, 1, 1] value (a pooled vector, the KW attention's hidden
// vector) is one invocation per sample. No subgroup operations.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint ACT = 0; // ACT_NONE or ACT_RELU

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wb { float w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bb { float b[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint npix;              // pixels (samples x positions) of this dispatch
    uint hw, C;
    uint x_base, w_base, b_base, y_base;
    uint groups_x;          // workgroups along x (the grid is 2D for large counts)
    float eps;
} pc;

void main()
{
    const uint i = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * 64u + gl_LocalInvocationID.x;
    if (i >= pc.npix) return;
    const uint s = i / pc.hw, p = i - s * pc.hw;
    const uint xb = pc.x_base + s * pc.C * pc.hw + p, yb = pc.y_base + s * pc.C * pc.hw + p;
    float sum = 0.0;
    for (uint c = 0; c < pc.C; c++) sum += x[xb + c * pc.hw];
    const float mean = sum / float(pc.C);
    float sq = 0.0;
    for (uint c = 0; c < pc.C; c++) {
        const float d = x[xb + c * pc.hw] - mean;
        sq += d * d;
    }
    const float rstd = inversesqrt(sq / float(pc.C) + pc.eps);
    for (uint c = 0; c < pc.C; c++) {
        const float v = (x[xb + c * pc.hw] - mean) * rstd;
        y[yb + c * pc.hw] = apply_act(v * w[pc.w_base + c] + b[pc.b_base + c], ACT);
    }
}
