// softmax.comp - softmax over the channels of each sample ([C, 1, 1] values). One workgroup
// per sample: lanes take strided channels, then a max and a sum reduction (subgroupMax /
// subgroupAdd plus one shared slot per subgroup when SUBGROUP is 1, a shared-memory tree
// otherwise).
#version 450
#extension GL_GOOGLE_include_directive : require
#ifndef KW_NO_SUBGROUP /* the _nosg variant, for devices without subgroup arithmetic */
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint SUBGROUP = 0;

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint C;
    uint x_base, y_base;
    uint sample0; // first sample (grid splitting)
} pc;

shared float red[64];

// Workgroup-wide max (is_max) or sum of v; every lane gets the result.
float reduce(float v, bool is_max)
{
    const uint lx = gl_LocalInvocationID.x;
    barrier(); // red[] may still be read by a previous reduction
#ifndef KW_NO_SUBGROUP
    if (SUBGROUP != 0u) {
        v = is_max ? subgroupMax(v) : subgroupAdd(v);
        if (subgroupElect()) red[gl_SubgroupID] = v;
        barrier();
        float t = red[0];
        for (uint k = 1; k < gl_NumSubgroups; k++) t = is_max ? max(t, red[k]) : t + red[k];
        return t;
    }
#endif
    red[lx] = v;
    barrier();
    [[unroll]] for (uint w = 32u; w > 0u; w >>= 1) {
        if (lx < w) red[lx] = is_max ? max(red[lx], red[lx + w]) : red[lx] + red[lx + w];
        barrier();
    }
    return red[0];
}

void main()
{
    const uint n = pc.sample0 + gl_WorkGroupID.x;
    const uint lx = gl_LocalInvocationID.x;
    const uint xb = pc.x_base + n * pc.C, yb = pc.y_base + n * pc.C;
    float m = -3.402823466e38;
    for (uint c = lx; c < pc.C; c += 64u) m = max(m, x[xb + c]);
    m = reduce(m, true);
    float s = 0.0;
    for (uint c = lx; c < pc.C; c += 64u) s += exp(x[xb + c] - m);
    s = reduce(s, false);
    const float inv = 1.0 / s;
    for (uint c = lx; c < pc.C; c += 64u) y[yb + c] = exp(x[xb + c] - m) * inv;
}
