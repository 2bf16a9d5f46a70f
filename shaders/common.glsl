// common.glsl - shared helpers of the kwvk compute shaders: activations and index helpers.
// Included by the shaders; declares no bindings (each .comp declares its own, numbered
// 0..n-1, so the build can count them).
#ifndef KWVK_COMMON_GLSL
#define KWVK_COMMON_GLSL

#extension GL_EXT_control_flow_attributes : require

// Constants shared with the C engine: activation codes, epilogue flags.
#include "kw_flags.h"

// Activation codes (docs/model-format.md).
#define ACT_NONE KW_ACT_NONE
#define ACT_RELU KW_ACT_RELU
#define ACT_RELU6 KW_ACT_RELU6

float apply_act(float v, uint act)
{
    if (act == ACT_RELU) return max(v, 0.0);
    if (act == ACT_RELU6) return clamp(v, 0.0, 6.0);
    return v;
}

vec4 apply_act4(vec4 v, uint act)
{
    if (act == ACT_RELU) return max(v, vec4(0.0));
    if (act == ACT_RELU6) return clamp(v, vec4(0.0), vec4(6.0));
    return v;
}

// Epilogue flags of the convolution shaders (a specialisation constant: a run-time branch
// around each of the unrolled stores costs lavapipe twice the JIT time):
// KW_EPI_* in kw_flags.h.
#define EPI_ACT(f) ((f) & KW_EPI_ACT_MASK)
#define EPI_SCALE(f) (((f) & KW_EPI_SCALE) != 0u ? 1u : 0u)
#define EPI_BIAS(f) (((f) & KW_EPI_BIAS) != 0u ? 1u : 0u)
#define EPI_RES(f) (((f) & KW_EPI_RES) != 0u ? 1u : 0u)

// Convolution geometry packed in one specialisation constant: stride and dilation, 8 bits each.
#define GEOM_SH(g) ((g) & 255u)
#define GEOM_SW(g) (((g) >> 8) & 255u)
#define GEOM_DH(g) (((g) >> 16) & 255u)
#define GEOM_DW(g) (((g) >> 24) & 255u)

#endif
