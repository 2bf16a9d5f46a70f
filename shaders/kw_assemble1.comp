#version 450
/* kw_assemble1.comp - KW kernel assembly, warehouse read as scalars (any cell size L).
 * See kw_assemble.glsl. Dispatch: (ceil(ceil(ceil(L / 4) / CV) / LS), ceil(nlm / TR),
 * ceil(ns / SB)) workgroups, x and y in parts from qg0 / rg0 where they exceed the limits. */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint SB = 1; /* samples per invocation */
layout(constant_id = 2) const uint TR = 1; /* mixture rows per invocation */
layout(constant_id = 3) const uint CV = 1; /* vec4 columns per invocation */
layout(constant_id = 4) const uint VEC4_OUT = 0; /* vec4 stores (see kw_assemble.glsl) */
layout(constant_id = 5) const uint ACCUMULATE = 0; /* add to the output (see kw_assemble.glsl) */
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Alpha { float alpha[]; };
layout(std430, set = 0, binding = 1) readonly buffer Warehouse { float E[]; };
layout(std430, set = 0, binding = 2) buffer Out { float out_w[]; };
layout(std430, set = 0, binding = 2) buffer Out4 { vec4 out_w4[]; }; /* VEC4_OUT */

#define KW_E_VEC4 0
#include "kw_assemble.glsl"
