// common.glsl - shared helpers of the kwvk compute shaders: activations and index helpers.
// Included by the shaders; declares no bindings (each .comp declares its own, numbered
// 0..n-1, so the build can count them).
#ifndef KWVK_COMMON_GLSL
#define KWVK_COMMON_GLSL

#extension GL_EXT_control_flow_attributes : require

// Activation codes (docs/model-format.md).
#define ACT_NONE 0u
#define ACT_RELU 1u
#define ACT_RELU6 2u

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
// bits 0-1 activation, bit 2 scale, bit 3 bias, bit 4 residual.
#define EPI_ACT(f) ((f) & 3u)
#define EPI_SCALE(f) (((f) >> 2) & 1u)
#define EPI_BIAS(f) (((f) >> 3) & 1u)
#define EPI_RES(f) (((f) >> 4) & 1u)

// Convolution geometry packed in one specialisation constant: stride and dilation, 8 bits each.
#define GEOM_SH(g) ((g) & 255u)
#define GEOM_SW(g) (((g) >> 8) & 255u)
#define GEOM_DH(g) (((g) >> 16) & 255u)
#define GEOM_DW(g) (((g) >> 24) & 255u)

#endif
