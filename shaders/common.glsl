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
#define ACT_GELU KW_ACT_GELU

// erf, which GLSL lacks: |x| < 0.875: x * P(x^2); 0.875 <= |x| < 3.92: 1 - exp(Q(|x|)) with
// the sign of x; beyond, +-1 (erfc(3.92) < 3e-8). P and Q are least-squares fits (degree 6 in
// x^2 to erf(x)/x, degree 9 to log(erfc(x)), at Chebyshev nodes, in double, rounded to float);
// evaluated in float the result is within 1.1e-7 of the exact erf on [-6, 6] (test_ops_norm
// checks the GELU epilogue on the device against C's erf).
vec4 erf4(vec4 x)
{
    const vec4 a = abs(x);
    const vec4 s = a * a;
    vec4 p = vec4(8.737619646126404e-05);
    p = p * s - 0.0008225871715694666;
    p = p * s + 0.005208075512200594;
    p = p * s - 0.026862144470214844;
    p = p * s + 0.11283744126558304;
    p = p * s - 0.37612637877464294;
    p = p * s + 1.128379225730896;
    vec4 q = vec4(-3.113748814342898e-09);
    q = q * a + 1.691405941528501e-06;
    q = q * a - 4.639209510060027e-05;
    q = q * a + 0.000597330101300031;
    q = q * a - 0.004755912348628044;
    q = q * a + 0.0263984277844429;
    q = q * a - 0.1100231409072876;
    q = q * a - 0.6319018006324768;
    q = q * a - 1.1301811933517456;
    q = q * a + 0.00030549176153726876;
    const vec4 tail = mix(vec4(1.0) - exp(min(q, vec4(0.0))), vec4(1.0), greaterThanEqual(a, vec4(3.92)));
    return mix(x * p, sign(x) * tail, greaterThanEqual(a, vec4(0.875)));
}

// GELU, the exact (erf) form of PyTorch's nn.GELU(): 0.5 v (1 + erf(v / sqrt(2)))
vec4 gelu4(vec4 v) { return 0.5 * v * (vec4(1.0) + erf4(v * 0.70710678118654752)); }

float apply_act(float v, uint act)
{
    if (act == ACT_RELU) return max(v, 0.0);
    if (act == ACT_RELU6) return clamp(v, 0.0, 6.0);
    if (act == ACT_GELU) return gelu4(vec4(v)).x;
    return v;
}

vec4 apply_act4(vec4 v, uint act)
{
    if (act == ACT_RELU) return max(v, vec4(0.0));
    if (act == ACT_RELU6) return clamp(v, vec4(0.0), vec4(6.0));
    if (act == ACT_GELU) return gelu4(v);
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
