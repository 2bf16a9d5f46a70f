// conv_pw_tb.comp - the 1x1 convolution GEMM (conv_pw.glsl) reading X and W through RGBA32F
// uniform texel buffers: on lavapipe a texelFetch is one vector gather where a storage-buffer
// load is a loop over the lanes.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) uniform samplerBuffer X_t; // RGBA32 float
layout(set = 0, binding = 1) uniform samplerBuffer W_t; // RGBA32 float
layout(std430, set = 0, binding = 2) readonly buffer Sb { float scale[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bb { float bias[]; };
layout(std430, set = 0, binding = 4) readonly buffer Rb { vec4 res[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Yb { vec4 y[]; };

#define LOAD_X(i) texelFetch(X_t, int(i))
#define LOAD_W(i) texelFetch(W_t, int(i))
#include "conv_pw.glsl"
