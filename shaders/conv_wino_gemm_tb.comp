// conv_wino_gemm_tb.comp - the Winograd GEMMs (conv_wino_gemm.glsl) reading U and V through
// RGBA32F uniform texel buffers: on lavapipe a texelFetch is one vector gather where a
// storage-buffer load is a loop over the lanes.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) uniform samplerBuffer U_t; // RGBA32 float
layout(set = 0, binding = 1) uniform samplerBuffer V_t; // RGBA32 float
layout(std430, set = 0, binding = 2) writeonly buffer Mb { vec4 m[]; };

#define LOAD_U(i) texelFetch(U_t, int(i))
#define LOAD_V(i) texelFetch(V_t, int(i))
#include "conv_wino_gemm.glsl"
