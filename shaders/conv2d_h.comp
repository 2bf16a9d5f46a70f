#version 450
// conv2d_h.comp - direct convolution with fp16 weights (16-bit storage, fp32 arithmetic); the
// body is conv2d.glsl. Used for static weights when kwvk_net_desc.fp16_weights is set and the
// device has storageBuffer16BitAccess.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common.glsl"
#define KW_W16 1
#include "conv2d.glsl"
