#version 450
/* kw_assemble_wino_tb.comp - Winograd-domain KW assembly reading alpha and the warehouse
 * (cell size a multiple of 4) through uniform texel buffers. See kw_assemble_wino.glsl; the
 * engine takes kw_assemble_wino.comp when texel buffers are off or a chunk exceeds their limit.
 * Dispatch as kw_assemble_wino.comp; aoff in floats, eoff in vec4s, both within their views. */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint SB = 1;     /* samples per invocation */
layout(constant_id = 2) const uint CV = 1;     /* vec4 columns per invocation */
layout(constant_id = 3) const uint VEC4_O = 0; /* vec4 stores along the output channels */
layout(constant_id = 4) const uint ACCUMULATE = 0; /* add to U (see kw_assemble_wino.glsl) */
layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) uniform samplerBuffer alpha_t; /* R32 float */
layout(set = 0, binding = 1) uniform samplerBuffer E_t;     /* RGBA32 float */
layout(std430, set = 0, binding = 2) restrict buffer Out { float u_w[]; };
layout(std430, set = 0, binding = 2) restrict buffer Out4 { vec4 u_w4[]; }; /* VEC4_O */

#define KW_E_TEXEL 1
#include "kw_assemble_wino.glsl"
