#version 450
/* kw_mix.comp - KW attention output: one workgroup per (mixture row m, block of SB samples)
 * builds the M + 1 logits z of the row, normalises them by sum_j |z_j| + 1e-3 (the zero
 * column included) and writes the first M as alpha[s, m, :].
 *   BASIS 0 (standard path): z_j = W2[m*(M+1) + j, :] . h[s, :] + b2[m*(M+1) + j]  (K = hidden)
 *   BASIS 1: v holds fc2's output [s, m, nlc + nb + 1] = [local, basis, zero]; the row is
 *     [nonlocal[:start], local, nonlocal[start:], zero] + basis_bias[m*(M+1) + j] with
 *     nonlocal[k] = W3[k, :] . basis  (K = nb).
 * Dispatch: (nm, ceil(ns / SB), 1). */
#extension GL_GOOGLE_include_directive : require
#ifndef KW_NO_SUBGROUP /* the _nosg variant, for devices without subgroup arithmetic */
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint USE_SUBGROUP = 0;
layout(constant_id = 2) const uint SB = 1; /* samples per block, 1..4 */
layout(constant_id = 3) const uint BASIS = 0;
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 3) buffer A { float a[]; };

layout(push_constant) uniform P {
    uint voff, woff, boff, aoff; /* element offsets within the views */
    uint K;                      /* dot length: hidden (standard) or nb (basis) */
    uint M, nlc, nb, start;
    uint vs, as_;                /* per-sample strides of v and a */
    uint nm, ns;                 /* mixture rows and samples in this dispatch */
} pc;

#include "kw.glsl"

/* logit j of mixture row m for each sample of the block (vbase: v offset of each sample) */
vec4 logits(uint m, uint j, uint vbase[SB])
{
    vec4 z = vec4(0.0);
    if (BASIS == 0) {
        uint row = m * (pc.M + 1) + j;
        uint wbase = pc.woff + row * pc.K;
        for (uint k = 0; k < pc.K; k++) {
            float wk = w[wbase + k];
            for (uint i = 0; i < SB; i++) z[i] += wk * v[vbase[i] + k];
        }
        return z + b[pc.boff + row];
    }
    uint rpm = pc.nlc + pc.nb + 1;
    if (j == pc.M) {
        for (uint i = 0; i < SB; i++) z[i] = v[vbase[i] + m * rpm + pc.nlc + pc.nb];
    } else if (j >= pc.start && j < pc.start + pc.nlc) {
        for (uint i = 0; i < SB; i++) z[i] = v[vbase[i] + m * rpm + (j - pc.start)];
    } else {
        uint kk = j < pc.start ? j : j - pc.nlc; /* nonlocal index */
        uint wbase = pc.woff + kk * pc.nb;
        for (uint k = 0; k < pc.nb; k++) {
            float wk = w[wbase + k];
            for (uint i = 0; i < SB; i++) z[i] += wk * v[vbase[i] + m * rpm + pc.nlc + k];
        }
    }
    return z + b[pc.boff + m * (pc.M + 1) + j];
}

void main()
{
    uint m = gl_WorkGroupID.x;
    uint s0 = gl_WorkGroupID.y * SB;
    uint vbase[SB];
    for (uint i = 0; i < SB; i++) vbase[i] = pc.voff + min(s0 + i, pc.ns - 1) * pc.vs;

    vec4 asum = vec4(0.0);
    for (uint j = gl_LocalInvocationID.x; j <= pc.M; j += LS) {
        vec4 z = logits(m, j, vbase);
        asum += abs(z);
        if (j < pc.M) {
            for (uint i = 0; i < SB; i++) {
                if (s0 + i < pc.ns) a[pc.aoff + (s0 + i) * pc.as_ + m * pc.M + j] = z[i];
            }
        }
    }
    vec4 denom = kw_wg_sum(asum) + vec4(1e-3);
    /* each invocation rescales only what it wrote itself */
    for (uint j = gl_LocalInvocationID.x; j < pc.M; j += LS) {
        for (uint i = 0; i < SB; i++) {
            if (s0 + i < pc.ns) {
                uint ai = pc.aoff + (s0 + i) * pc.as_ + m * pc.M + j;
                a[ai] = a[ai] / denom[i];
            }
        }
    }
}
