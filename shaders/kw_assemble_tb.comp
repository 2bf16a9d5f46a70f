#version 450
/* kw_assemble_tb.comp - KW kernel assembly reading alpha and the warehouse through uniform
 * texel buffers (cell size L % 4 == 0). See kw_assemble.glsl. On lavapipe a texel fetch is one
 * vector gather where a storage-buffer load is a loop over the lanes (~10% less assembly time
 * for KW 1x ResNet18, docs/benchmarks.md). The
 * engine takes kw_assemble.comp when texel buffers are off or a chunk exceeds their limit.
 * Dispatch as kw_assemble.comp; aoff in floats, eoff in vec4s, both within their views. */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint SB = 1; /* samples per invocation */
layout(constant_id = 2) const uint TR = 1; /* mixture rows per invocation */
layout(constant_id = 3) const uint CV = 1; /* vec4 columns per invocation */
layout(constant_id = 4) const uint VEC4_OUT = 0; /* vec4 stores (see kw_assemble.glsl) */
layout(constant_id = 5) const uint ACCUMULATE = 0; /* add to the output (see kw_assemble.glsl) */
layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) uniform samplerBuffer alpha_t; /* R32 float */
layout(set = 0, binding = 1) uniform samplerBuffer E_t;     /* RGBA32 float */
layout(std430, set = 0, binding = 2) restrict buffer Out { float out_w[]; };
layout(std430, set = 0, binding = 2) restrict buffer Out4 { vec4 out_w4[]; }; /* VEC4_OUT */

#define KW_E_TEXEL 1
#include "kw_assemble.glsl"
