#version 450
/* kw_pool.comp - KW attention step 1: g[s, c] (+)= scale * sum_p x[s, c, p0 + p], the global
 * average pool of the layer input. One workgroup per (channel, sample) reduces a row
 * (WG_MODE 1, long rows) or one invocation per channel loops over it (WG_MODE 0, short rows).
 * Dispatch: WG_MODE 1: (nch, ns, 1); WG_MODE 0: (ceil(nch / LS), ns, 1). */
#extension GL_GOOGLE_include_directive : require
#ifndef KW_NO_SUBGROUP /* the _nosg variant, for devices without subgroup arithmetic */
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint USE_SUBGROUP = 0;
layout(constant_id = 2) const uint WG_MODE = 1;
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer G { float g[]; };

layout(push_constant) uniform P {
    uint xoff, goff; /* element offsets of the first element within the views */
    uint xs, xc;     /* x strides: per sample, per channel */
    uint gs;         /* g stride per sample */
    uint nch, np, ns;/* channels, spatial elements, samples in this dispatch */
    float scale;     /* 1 / (H * W) */
    uint accumulate; /* add to g instead of overwriting (spatially split rows) */
} pc;

#include "kw.glsl"

void store(uint c, uint s, float sum)
{
    uint gi = pc.goff + s * pc.gs + c;
    float v = sum * pc.scale;
    g[gi] = pc.accumulate != 0 ? g[gi] + v : v;
}

void main()
{
    uint s = gl_WorkGroupID.y;
    if (WG_MODE != 0) {
        uint c = gl_WorkGroupID.x;
        uint base = pc.xoff + s * pc.xs + c * pc.xc;
        float acc = 0.0;
        for (uint p = gl_LocalInvocationID.x; p < pc.np; p += LS) acc += x[base + p];
        float sum = kw_wg_sum(vec4(acc, 0.0, 0.0, 0.0)).x;
        if (gl_LocalInvocationID.x == 0) store(c, s, sum);
    } else {
        uint c = gl_GlobalInvocationID.x;
        if (c >= pc.nch) return;
        uint base = pc.xoff + s * pc.xs + c * pc.xc;
        float acc = 0.0;
        for (uint p = 0; p < pc.np; p++) acc += x[base + p];
        store(c, s, acc);
    }
}
