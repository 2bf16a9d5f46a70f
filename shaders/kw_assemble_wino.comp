#version 450
/* kw_assemble_wino.comp - Winograd-domain KW assembly through storage buffers (any cell size).
 * See kw_assemble_wino.glsl. Dispatch: (ceil(column groups / LS), blocks GO*GI, ceil(ns / SB))
 * workgroups, x and y in parts from qg0 / bg0 where they exceed the limits. */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint SB = 1;     /* samples per invocation */
layout(constant_id = 2) const uint CV = 1;     /* vec4 columns per invocation */
layout(constant_id = 3) const uint VEC4_O = 0; /* vec4 stores along the output channels */
layout(constant_id = 4) const uint ACCUMULATE = 0; /* add to U (see kw_assemble_wino.glsl) */
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) restrict readonly buffer Alpha { float alpha[]; };
layout(std430, set = 0, binding = 1) restrict readonly buffer Warehouse { float E[]; };
layout(std430, set = 0, binding = 2) restrict buffer Out { float u_w[]; };
layout(std430, set = 0, binding = 2) restrict buffer Out4 { vec4 u_w4[]; }; /* VEC4_O */

#define KW_E_TEXEL 0
#include "kw_assemble_wino.glsl"
