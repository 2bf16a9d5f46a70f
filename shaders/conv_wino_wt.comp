// conv_wino_wt.comp - Winograd F(2x2,3x3) weight transform on the device, for per-sample
// weights (what kw_assemble writes for a KW conv): U = G g G^T for every (output, input)
// channel pair of one sample, in the layout conv_wino_gemm reads, [16][C][Op] (Op = O
// rounded up to the GEMM's channel block; the padding rows are written as zeros). Static
// weights get the same transform once, on the host (kw_wino_transform_weights in
// ops_wino.c), which is this shader's reference.
//
// g is [O, C, 3, 3] or, with OHWI, [O, 3, 3, C] (kw_assemble_ohwi). Each invocation
// transforms 4 consecutive output channels of one input channel and writes 16 vec4s.
#version 450

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Wb { float w[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Ub { vec4 u[]; };

layout(push_constant) uniform Push {
    uint w_base;          // W view: element of (o 0, c 0)
    uint O, C, Op4;       // channels; padded output channels / 4
    uint ohwi;            // g layout: 1 = [O, 3, 3, C]
    uint n_inv, groups_x; // invocations (C * Op4), workgroups along x
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint c = q / pc.Op4;
    const uint o4 = q - c * pc.Op4;
    vec4 r[16];
    for (uint i = 0; i < 16u; i++) r[i] = vec4(0.0);
    for (uint j = 0; j < 4u; j++) {
        const uint o = o4 * 4u + j;
        if (o >= pc.O) break;
        float g[9];
        for (uint k = 0; k < 9u; k++)
            g[k] = w[pc.w_base + (pc.ohwi != 0u ? (o * 9u + k) * pc.C + c : (o * pc.C + c) * 9u + k)];
        float t[4][3]; // G g
        for (uint k = 0; k < 3u; k++) {
            t[0][k] = g[k];
            t[1][k] = 0.5 * (g[k] + g[3u + k] + g[6u + k]);
            t[2][k] = 0.5 * (g[k] - g[3u + k] + g[6u + k]);
            t[3][k] = g[6u + k];
        }
        for (uint i = 0; i < 4u; i++) { // (G g) G^T
            r[i * 4u + 0u][j] = t[i][0];
            r[i * 4u + 1u][j] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
            r[i * 4u + 2u][j] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
            r[i * 4u + 3u][j] = t[i][2];
        }
    }
    for (uint xi = 0; xi < 16u; xi++) u[(xi * pc.C + c) * pc.Op4 + o4] = r[xi];
}
