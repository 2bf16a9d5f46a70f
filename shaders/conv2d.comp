#version 450
// conv2d.comp - direct convolution with fp32 weights; the body is conv2d.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define KW_W16 0
#include "conv2d.glsl"
