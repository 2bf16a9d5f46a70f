// add.comp - y = act(a + b), elementwise; a workgroup covers 256 consecutive elements.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint ACT = 0;

layout(std430, set = 0, binding = 0) readonly buffer Ab { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint count;             // elements of this dispatch
    uint a_base, b_base, y_base;
    uint groups_x;          // workgroups along x (the grid is 2D for large counts)
} pc;

void main()
{
    const uint base = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
    [[unroll]] for (uint k = 0; k < 4u; k++) {
        const uint i = base + k * 64u;
        if (i < pc.count) y[pc.y_base + i] = apply_act(a[pc.a_base + i] + b[pc.b_base + i], ACT);
    }
}
