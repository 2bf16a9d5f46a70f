#version 450
/* kw_fc.comp - KW attention fully connected layer: y[s, r] = act(W[r, :] . v[s, :] + b[r]) for
 * rows r < nr and samples s < ns, SB samples per workgroup (the weight row is read once per
 * block). WG_MODE 1: one workgroup per (row, sample block) reduces the K-long dot product
 * (long rows, e.g. fc1); WG_MODE 0: one invocation per row (short rows, e.g. fc2).
 * Dispatch: WG_MODE 1: (nr, ceil(ns / SB), 1); WG_MODE 0: (ceil(nr / LS), ceil(ns / SB), 1). */
#extension GL_GOOGLE_include_directive : require
#ifndef KW_NO_SUBGROUP /* the _nosg variant, for devices without subgroup arithmetic */
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint USE_SUBGROUP = 0;
layout(constant_id = 2) const uint WG_MODE = 1;
layout(constant_id = 3) const uint SB = 1;       /* samples per block, 1..4 */
layout(constant_id = 4) const uint HAS_BIAS = 1;
layout(constant_id = 5) const uint RELU = 0;
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { float b[]; }; /* unused without bias */
layout(std430, set = 0, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
    uint voff, woff, boff, yoff; /* element offsets within the views */
    uint K;                      /* dot length */
    uint vs, ys;                 /* per-sample strides of v and y */
    uint nr, ns;                 /* rows and samples in this dispatch */
} pc;

#include "kw.glsl"

void store(uint r, uint s0, vec4 acc)
{
    float bias = HAS_BIAS != 0 ? b[pc.boff + r] : 0.0;
    for (uint j = 0; j < SB; j++) {
        if (s0 + j >= pc.ns) break;
        float val = acc[j] + bias;
        if (RELU != 0) val = max(val, 0.0);
        y[pc.yoff + (s0 + j) * pc.ys + r] = val;
    }
}

void main()
{
    uint s0 = gl_WorkGroupID.y * SB;
    uint vbase[SB];
    for (uint j = 0; j < SB; j++) vbase[j] = pc.voff + min(s0 + j, pc.ns - 1) * pc.vs;

    if (WG_MODE != 0) {
        uint r = gl_WorkGroupID.x;
        uint wbase = pc.woff + r * pc.K;
        vec4 acc = vec4(0.0);
        for (uint k = gl_LocalInvocationID.x; k < pc.K; k += LS) {
            float wk = w[wbase + k];
            for (uint j = 0; j < SB; j++) acc[j] += wk * v[vbase[j] + k];
        }
        acc = kw_wg_sum(acc);
        if (gl_LocalInvocationID.x == 0) store(r, s0, acc);
    } else {
        uint r = gl_GlobalInvocationID.x;
        if (r >= pc.nr) return;
        uint wbase = pc.woff + r * pc.K;
        vec4 acc = vec4(0.0);
        for (uint k = 0; k < pc.K; k++) {
            float wk = w[wbase + k];
            for (uint j = 0; j < SB; j++) acc[j] += wk * v[vbase[j] + k];
        }
        store(r, s0, acc);
    }
}
