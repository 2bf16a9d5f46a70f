// conv_wino_out.comp - Winograd F(2x2,3x3) output transform Y = A^T m A of each tile's 16
// GEMM results (conv_wino_gemm*.comp), followed by the conv epilogue of conv2d.comp in the
// same order: v * scale + bias, + residual, activation. Writes NCHW; the outputs of partial
// tiles beyond an odd output height / width are dropped.
//
// Each invocation handles 4 consecutive tiles of one output channel: 16 vec4 loads.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
// KW_ACT_GELU for GELU convs, else 0. The other epilogue bits (KW_EPI_* in kw_flags.h) are
// the push constant `epi`, applied without branches, so that the convs of a network share one
// program (each costs lavapipe a compilation at its first use).
layout(constant_id = 1) const uint FLAGS = 0;
const bool GELU = EPI_ACT(FLAGS) == KW_ACT_GELU;

layout(std430, set = 0, binding = 0) readonly buffer Mb { vec4 m[]; };
layout(std430, set = 0, binding = 1) readonly buffer Sb { float scale[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bb { float bias[]; };
layout(std430, set = 0, binding = 3) readonly buffer Rb { float res[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint O, Op4, Tp4;     // output channels, padded output channels / 4, padded tiles / 4
    uint OH, OW;          // output plane
    uint tw, tps, T, T4;  // tiles per row pair, per sample, of the batch; ceil(T / 4)
    uint n_inv, groups_x; // invocations (O * T4), workgroups along x
    uint s_base, b_base, r_base, y_base; // element offsets of the views
    uint epi;             // KW_EPI_*: activation (not GELU), scale, bias, residual
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint o = q / pc.T4;
    const uint t4 = q - o * pc.T4;
    vec4 mv[16];
    [[unroll]] for (uint xi = 0; xi < 16; xi++) mv[xi] = m[(xi * pc.Op4 * 4u + o) * pc.Tp4 + t4];
    // absent inputs read element 0 of their (dummy) binding, and the value is dropped
    const bool has_s = EPI_SCALE(pc.epi) != 0u, has_b = EPI_BIAS(pc.epi) != 0u, has_r = EPI_RES(pc.epi) != 0u;
    const uint act = EPI_ACT(pc.epi);
    const float hi = act == ACT_RELU6 ? 6.0 : uintBitsToFloat(0x7f800000u); // +inf
    const float s_v = scale[has_s ? pc.s_base + o : 0u], b_v = bias[has_b ? pc.b_base + o : 0u];
    const float sc = has_s ? s_v : 1.0, bi = has_b ? b_v : 0.0;
    const uint OHW = pc.OH * pc.OW;
    [[unroll]] for (uint j = 0; j < 4; j++) {
        const uint t = t4 * 4u + j;
        if (t >= pc.T) break;
        // A^T m: rows (m0 + m1 + m2, m1 - m2 - m3)
        float s[2][4];
        [[unroll]] for (uint b = 0; b < 4; b++) {
            s[0][b] = mv[b][j] + mv[4u + b][j] + mv[8u + b][j];
            s[1][b] = mv[4u + b][j] - mv[8u + b][j] - mv[12u + b][j];
        }
        const uint n = t / pc.tps;
        const uint tile = t - n * pc.tps;
        const uint ty = tile / pc.tw;
        const uint oy0 = 2u * ty, ox0 = 2u * (tile - ty * pc.tw);
        const uint ybase = (n * pc.O + o) * OHW + oy0 * pc.OW + ox0;
        [[unroll]] for (uint a = 0; a < 2; a++) {
            if (oy0 + a >= pc.OH) break;
            // (A^T m) A: the same combination of columns
            const float r[2] = float[2](s[a][0] + s[a][1] + s[a][2], s[a][1] - s[a][2] - s[a][3]);
            [[unroll]] for (uint b = 0; b < 2; b++) {
                if (ox0 + b >= pc.OW) break;
                const uint yi = ybase + a * pc.OW + b;
                const float rv = res[has_r ? pc.r_base + yi : 0u];
                const float val = r[b] * sc + bi + (has_r ? rv : 0.0);
                y[pc.y_base + yi] = GELU ? apply_act(val, ACT_GELU) : act != ACT_NONE ? clamp(val, 0.0, hi) : val;
            }
        }
    }
}
