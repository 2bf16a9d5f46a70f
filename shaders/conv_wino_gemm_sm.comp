// conv_wino_gemm_sm.comp - the 16 batched GEMMs of Winograd F(2x2,3x3), shaped for GPUs:
//     M[xi][o][t] = sum_c U[xi][c][o] * V[xi][c][t]      (xi = gl_WorkGroupID.z)
// with U: [16][C][Op], V: [16][C][Tp], M: [16][Op][Tp] as in conv_wino_gemm.glsl (Op a multiple
// of 8, Tp of 16; all read and written as vec4s).
//
// Each workgroup computes a 64-channel x 64-tile block of M. The depth C runs in slices of BK
// channels: the workgroup stages the slice's 64 U columns and 64 V columns in shared memory
// (each invocation loads 4 vec4s of each, consecutive invocations consecutive addresses), then
// every invocation accumulates its 8 x 8 register sub-tile from shared memory. A GPU thus reads
// each U and V element from device memory once per block instead of once per invocation.
// Blocks past Op or Tp (partial blocks) and a last slice past C are zero-filled on load and
// not stored. Nothing depends on the subgroup size. lavapipe runs this slower than the
// register-tiled conv_wino_gemm (its shared-memory loads are per-lane loops), so it is chosen
// only where kw_ctx.gpu_kernels is set; the op tests force it there to keep it correct.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

const uint BM4 = 16u; // output channels per workgroup / 4
const uint BN4 = 16u; // tiles per workgroup / 4
layout(constant_id = 0) const uint BK = 16u; // input channels per shared-memory slice (multiple of 4)
const uint TM = 8u;   // output channels per invocation (BM4 * 4 / TM = 8 channel groups)
const uint TN4 = 2u;  // tiles per invocation / 4 (BN4 / TN4 = 8 tile groups; 8 x 8 = 64 lanes)
const uint LOADS = BK * BM4 / 64u; // vec4s of U (and of V) each invocation stages per slice

layout(std430, set = 0, binding = 0) readonly buffer Ub { vec4 u_buf[]; };
layout(std430, set = 0, binding = 1) readonly buffer Vb { vec4 v_buf[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Mb { vec4 m[]; };

layout(push_constant) uniform Push {
    uint C;        // input channels (GEMM depth)
    uint Op4, Tp4; // padded output channels / 4, padded tiles / 4
} pc;

shared vec4 su[BK][BM4];
shared vec4 sv[BK][BN4];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tg = lid % (BN4 / TN4); // tile group: this invocation's TN4 vec4 columns
    const uint cg = lid / (BN4 / TN4); // channel group: its TM channels
    const uint xi = gl_WorkGroupID.z;
    const uint n0 = gl_WorkGroupID.x * BN4; // the block's first tile (vec4 index)
    const uint m0 = gl_WorkGroupID.y * BM4; // the block's first output channel (vec4 index)
    const uint ub = xi * pc.C * pc.Op4, vb = xi * pc.C * pc.Tp4;

    vec4 acc[TM * TN4];
    [[unroll]] for (uint i = 0; i < TM * TN4; i++) acc[i] = vec4(0.0);

    for (uint c0 = 0; c0 < pc.C; c0 += BK) {
        [[unroll]] for (uint r = 0; r < LOADS; r++) {
            const uint e = lid + r * 64u, k = e / BM4, col = e % BM4, c = c0 + k;
            su[k][col] = c < pc.C && m0 + col < pc.Op4 ? u_buf[ub + c * pc.Op4 + m0 + col] : vec4(0.0);
            sv[k][col] = c < pc.C && n0 + col < pc.Tp4 ? v_buf[vb + c * pc.Tp4 + n0 + col] : vec4(0.0);
        }
        barrier();
        [[unroll]] for (uint k = 0; k < BK; k++) {
            vec4 a[TM / 4u], b[TN4];
            [[unroll]] for (uint i = 0; i < TM / 4u; i++) a[i] = su[k][cg * (TM / 4u) + i];
            [[unroll]] for (uint j = 0; j < TN4; j++) b[j] = sv[k][tg * TN4 + j];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN4; j++) acc[i * TN4 + j] += a[i / 4u][i % 4u] * b[j];
        }
        barrier(); // the slice is consumed before the next one overwrites it
    }

    const uint o0 = (m0 + cg * (TM / 4u)) * 4u, t0 = n0 + tg * TN4;
    [[unroll]] for (uint i = 0; i < TM; i++) {
        if (o0 + i >= pc.Op4 * 4u) break;
        const uint mi = (xi * pc.Op4 * 4u + o0 + i) * pc.Tp4 + t0;
        [[unroll]] for (uint j = 0; j < TN4; j++)
            if (t0 + j < pc.Tp4) m[mi + j] = acc[i * TN4 + j];
    }
}
