// conv_wino_gemm.comp - the Winograd GEMMs (conv_wino_gemm.glsl) reading U and V from
// storage buffers: the path when texel buffers are off or a view exceeds their limit.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Ub { vec4 u_buf[]; };
layout(std430, set = 0, binding = 1) readonly buffer Vb { vec4 v_buf[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Mb { vec4 m[]; };

#define LOAD_U(i) u_buf[i]
#define LOAD_V(i) v_buf[i]
#include "conv_wino_gemm.glsl"
