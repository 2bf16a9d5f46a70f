// conv_wino_in.comp - Winograd F(2x2,3x3) input transform: V = B^T d B for every 4x4 input
// patch d (stride 2, zero outside the input) of every input channel and 2x2 output tile.
//
// V layout: [16][C][Tp] floats (xi = 4 * row + column of the transformed patch), tiles t of
// the whole batch along the contiguous axis (t = sample * tps + tile) so that the GEMM
// (conv_wino_gemm*.comp) reads vec4s of 4 consecutive tiles. Tp is the tile count rounded up
// to the GEMM's tile block; the padding columns are written as zeros, so the GEMM needs no
// bounds checks.
//
// Each invocation transforms 4 consecutive tiles of one channel and writes 16 vec4s (one
// store per xi instead of four: on lavapipe every buffer access is a per-lane loop).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Vb { vec4 v[]; };

layout(push_constant) uniform Push {
    uint H, W;            // input plane
    uint ph, pw;          // padding
    uint C;               // input channels
    uint tw, tps;         // tiles per output row pair, tiles per sample
    uint T, Tp4;          // tiles of the batch, padded tile count / 4
    uint x_base, x_stride; // X view: element of sample 0, elements per sample
    uint n_inv, groups_x; // invocations (C * Tp4), workgroups along x
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint c = q / pc.Tp4;
    const uint t4 = q - c * pc.Tp4;
    float r[16][4];
    [[unroll]] for (uint j = 0; j < 4; j++) {
        const uint t = t4 * 4u + j;
        float d[4][4];
        if (t < pc.T) {
            const uint n = t / pc.tps;
            const uint tile = t - n * pc.tps;
            const uint ty = tile / pc.tw;
            const int iy0 = int(2u * ty) - int(pc.ph);
            const int ix0 = int(2u * (tile - ty * pc.tw)) - int(pc.pw);
            const uint xb = pc.x_base + n * pc.x_stride + c * pc.H * pc.W;
            [[unroll]] for (uint a = 0; a < 4; a++) {
                const int iy = iy0 + int(a);
                const bool rowok = iy >= 0 && iy < int(pc.H);
                [[unroll]] for (uint b = 0; b < 4; b++) {
                    const int ix = ix0 + int(b);
                    const bool ok = rowok && ix >= 0 && ix < int(pc.W);
                    const float val = x[ok ? xb + uint(iy * int(pc.W) + ix) : pc.x_base];
                    d[a][b] = ok ? val : 0.0;
                }
            }
        } else {
            [[unroll]] for (uint a = 0; a < 4; a++)
                [[unroll]] for (uint b = 0; b < 4; b++) d[a][b] = 0.0;
        }
        // B^T d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
        float s[4][4];
        [[unroll]] for (uint b = 0; b < 4; b++) {
            s[0][b] = d[0][b] - d[2][b];
            s[1][b] = d[1][b] + d[2][b];
            s[2][b] = d[2][b] - d[1][b];
            s[3][b] = d[1][b] - d[3][b];
        }
        // (B^T d) B: the same combination of columns
        [[unroll]] for (uint a = 0; a < 4; a++) {
            r[a * 4u + 0u][j] = s[a][0] - s[a][2];
            r[a * 4u + 1u][j] = s[a][1] + s[a][2];
            r[a * 4u + 2u][j] = s[a][2] - s[a][1];
            r[a * 4u + 3u][j] = s[a][1] - s[a][3];
        }
    }
    [[unroll]] for (uint xi = 0; xi < 16; xi++)
        v[(xi * pc.C + c) * pc.Tp4 + t4] = vec4(r[xi][0], r[xi][1], r[xi][2], r[xi][3]);
}
