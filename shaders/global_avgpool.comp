// global_avgpool.comp - mean over H x W of each plane (sample x channel).
// MODE 0: one invocation per plane (small planes). MODE 1: one workgroup per plane, each lane
// sums a strided part, then a workgroup reduction: subgroupAdd plus one shared slot per
// subgroup when SUBGROUP is 1, a shared-memory tree otherwise.
#version 450
#extension GL_GOOGLE_include_directive : require
#ifndef KW_NO_SUBGROUP /* the _nosg variant, for devices without subgroup arithmetic */
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const uint SUBGROUP = 0;

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint hw;        // elements per plane
    uint planes;    // planes of this dispatch
    uint x_base, y_base;
} pc;

shared float red[64];

void main()
{
    if (MODE == 0u) {
        const uint plane = gl_WorkGroupID.y * 64u * gl_NumWorkGroups.x + gl_GlobalInvocationID.x;
        if (plane >= pc.planes) return;
        const uint xb = pc.x_base + plane * pc.hw;
        float s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        uint i = 0;
        for (; i + 4u <= pc.hw; i += 4u) {
            s0 += x[xb + i];
            s1 += x[xb + i + 1u];
            s2 += x[xb + i + 2u];
            s3 += x[xb + i + 3u];
        }
        for (; i < pc.hw; i++) s0 += x[xb + i];
        y[pc.y_base + plane] = ((s0 + s1) + (s2 + s3)) / float(pc.hw);
        return;
    }
    const uint plane = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (plane >= pc.planes) return; // uniform across the workgroup
    const uint lx = gl_LocalInvocationID.x;
    const uint xb = pc.x_base + plane * pc.hw;
    float s = 0.0;
    for (uint i = lx; i < pc.hw; i += 64u) s += x[xb + i];
#ifndef KW_NO_SUBGROUP
    if (SUBGROUP != 0u) {
        s = subgroupAdd(s);
        if (subgroupElect()) red[gl_SubgroupID] = s;
        barrier();
        if (lx == 0u) {
            float t = 0.0;
            for (uint k = 0; k < gl_NumSubgroups; k++) t += red[k];
            y[pc.y_base + plane] = t / float(pc.hw);
        }
    } else
#endif
    {
        red[lx] = s;
        barrier();
        [[unroll]] for (uint w = 32u; w > 0u; w >>= 1) {
            if (lx < w) red[lx] += red[lx + w];
            barrier();
        }
        if (lx == 0u) y[pc.y_base + plane] = red[0] / float(pc.hw);
    }
}
