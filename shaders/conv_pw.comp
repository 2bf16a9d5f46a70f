// conv_pw.comp - the 1x1 convolution GEMM (conv_pw.glsl) reading X and W from storage
// buffers: the path when texel buffers are off or a view exceeds their limit.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Xb { vec4 x_buf[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wb { vec4 w_buf[]; };
layout(std430, set = 0, binding = 2) readonly buffer Sb { float scale[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bb { float bias[]; };
layout(std430, set = 0, binding = 4) readonly buffer Rb { vec4 res[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Yb { vec4 y[]; };

#define LOAD_X(i) x_buf[i]
#define LOAD_W(i) w_buf[i]
#include "conv_pw.glsl"
