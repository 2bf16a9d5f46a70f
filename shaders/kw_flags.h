/* kw_flags.h - constants shared by the C engine and the GLSL shaders. Only #defines with
 * unsigned literals, so the file is valid C and valid GLSL: engine/src includes it (the
 * build adds shaders/ to the include path), shaders/common.glsl #includes it. */
#ifndef KW_FLAGS_H
#define KW_FLAGS_H

/* Activation codes (docs/model-format.md): conv2d and add parameters. */
#define KW_ACT_NONE 0u
#define KW_ACT_RELU 1u
#define KW_ACT_RELU6 2u
#define KW_ACT_GELU 3u /* conv2d only */

/* Epilogue flags of the convolution shaders (conv2d, conv_wino_out), a specialisation
 * constant: bits 0-1 the activation code, then one bit per optional epilogue input. */
#define KW_EPI_ACT_MASK 3u
#define KW_EPI_SCALE 4u /* multiply by scale[o] */
#define KW_EPI_BIAS 8u  /* add bias[o] */
#define KW_EPI_RES 16u  /* add the residual input */
/* conv2d only: */
#define KW_CONV_KY_LOOP 32u /* loop over kernel rows instead of unrolling them (large kernels) */
#define KW_CONV_OHWI 64u    /* weights in [O, kh, kw, Cg] (kw_assemble's layout) */

#endif
