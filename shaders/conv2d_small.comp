// conv2d_small.comp - direct convolution for convs with little work (plan_conv in
// engine/src/ops_conv.c picks it). conv2d.comp unrolls every kernel tap and the epilogue into
// the program, which makes each of its variants cost 0.1-0.5 s to compile on lavapipe (a
// variant per kernel size, stride, weight layout, epilogue and tile); for a conv that runs in
// well under a millisecond that compile is nearly all of its cost. Here the kernel size,
// stride, dilation, weight layout and epilogue are push constants and the taps are a loop, so
// one small program (one per TO, TP pair) serves every such conv of a network.
//
// Each invocation computes TO output channels x TP consecutive pixels of the flattened output
// plane (any plane width, no idle columns). Invocations enumerate (channel block, tile) pairs
// exactly as in conv2d.comp, with the same push block (plus the fields at its end), so the
// recorder splits the work the same way.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TO = 8; // output channels per invocation
layout(constant_id = 2) const uint TP = 8; // output pixels per invocation

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wb { float w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Sb { float scale[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bb { float bias[]; };
layout(std430, set = 0, binding = 4) readonly buffer Rb { float res[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint H, W, OH, OW;      // input and output plane
    uint Cg, Og;            // input / output channels per group
    uint ph, pw;            // padding
    uint o0;                // first output channel of this dispatch (absolute)
    uint seg_len, bps;      // channels per segment, TO-blocks per segment
    uint n_oc;              // channels of this dispatch
    uint ntx, ntiles;       // (unused here), tiles of TP pixels per plane
    uint blk0, n_inv;       // first block; (block, tile) pairs of this dispatch
    uint groups_x;          // workgroups along x
    uint x_base, x_stride;  // X view: element of sample 0, elements per sample
    uint w_base, w_stride;  // W view: element of row o0, elements per sample (0: static)
    uint s_base, b_base;    // scale / bias views: element of channel o0
    uint r_base, y_base, y_stride; // residual / output views; both have y_stride per sample
    uint ksize;             // kernel h | w << 8
    uint geom;              // stride h, w, dilation h, w (GEOM_* in common.glsl)
    uint flags;             // KW_EPI_* (no GELU) and KW_CONV_OHWI (kw_flags.h)
} pc;

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint tile = q % pc.ntiles;
    const uint blk = pc.blk0 + q / pc.ntiles;
    const uint n = gl_WorkGroupID.z;
    const uint seg = blk / pc.bps;
    const uint oc_in_seg = (blk - seg * pc.bps) * TO;
    const uint oc_l = seg * pc.seg_len + oc_in_seg; // first channel of the tile, relative to o0
    if (oc_l >= pc.n_oc) return;
    const uint n_o = min(TO, pc.seg_len - oc_in_seg);
    const uint g = (pc.o0 + oc_l) / pc.Og;
    const uint KH = pc.ksize & 255u, KW = pc.ksize >> 8;
    const uint SH = GEOM_SH(pc.geom), SW = GEOM_SW(pc.geom), DH = GEOM_DH(pc.geom), DW = GEOM_DW(pc.geom);
    // weights [O, Cg, kh, kw], or [O, kh, kw, Cg] (kw_assemble's layout for single-tap cells)
    const bool ohwi = (pc.flags & KW_CONV_OHWI) != 0u;
    const uint w_c = ohwi ? 1u : KH * KW; // weight step per input channel
    const uint w_t = ohwi ? pc.Cg : 1u;   // weight step per kernel tap
    const uint HW = pc.H * pc.W, OHW = pc.OH * pc.OW;
    const uint p0 = tile * TP;

    uint xb = pc.x_base + n * pc.x_stride + g * pc.Cg * HW;
    uint wrow[TO];
    [[unroll]] for (uint i = 0; i < TO; i++)
        wrow[i] = pc.w_base + n * pc.w_stride + (oc_l + min(i, n_o - 1u)) * pc.Cg * KH * KW;
    // top-left input of each pixel's window (pixels past the plane repeat the last one)
    int iy0[TP], ix0[TP];
    [[unroll]] for (uint j = 0; j < TP; j++) {
        const uint p = min(p0 + j, OHW - 1u);
        const uint oy = p / pc.OW;
        iy0[j] = int(oy * SH) - int(pc.ph);
        ix0[j] = int((p - oy * pc.OW) * SW) - int(pc.pw);
    }

    float acc[TO * TP];
    [[unroll]] for (uint i = 0; i < TO * TP; i++) acc[i] = 0.0;

    for (uint c = 0; c < pc.Cg; c++) {
        for (uint ky = 0; ky < KH; ky++) {
            for (uint kx = 0; kx < KW; kx++) {
                const uint wo = c * w_c + (ky * KW + kx) * w_t;
                float wv[TO];
                [[unroll]] for (uint i = 0; i < TO; i++) wv[i] = w[wrow[i] + wo];
                [[unroll]] for (uint j = 0; j < TP; j++) {
                    const int iy = iy0[j] + int(ky * DH), ix = ix0[j] + int(kx * DW);
                    const bool ok = uint(iy) < pc.H && uint(ix) < pc.W; // negative wraps to large
                    const float v = x[ok ? xb + uint(iy) * pc.W + uint(ix) : xb];
                    const float xv = ok ? v : 0.0;
                    [[unroll]] for (uint i = 0; i < TO; i++) acc[i * TP + j] += wv[i] * xv;
                }
            }
        }
        xb += HW;
    }

    // The epilogue: absent inputs read element 0 of their (dummy) binding and the value is
    // dropped; ReLU / ReLU6 is a select. It loops over the channels (not unrolled, each
    // channel's TP accumulators picked by selects): every buffer access compiles to a per-lane
    // loop on lavapipe, and an unrolled TO x TP epilogue doubled the program's compile time.
    const bool has_s = (pc.flags & KW_EPI_SCALE) != 0u, has_b = (pc.flags & KW_EPI_BIAS) != 0u;
    const bool has_r = (pc.flags & KW_EPI_RES) != 0u;
    const uint act = pc.flags & KW_EPI_ACT_MASK;
    const float hi = act == KW_ACT_RELU6 ? 6.0 : uintBitsToFloat(0x7f800000u); // +inf
    [[dont_unroll]] for (uint i = 0; i < n_o; i++) {
        const float s = scale[has_s ? pc.s_base + oc_l + i : 0u];
        const float b = bias[has_b ? pc.b_base + oc_l + i : 0u];
        const float sc = has_s ? s : 1.0, bi = has_b ? b : 0.0;
        const uint ybase = n * pc.y_stride + (oc_l + i) * OHW + p0;
        [[unroll]] for (uint j = 0; j < TP; j++) {
            if (p0 + j >= OHW) break;
            float a = acc[j];
            [[unroll]] for (uint k = 1; k < TO; k++) a = i == k ? acc[k * TP + j] : a;
            const uint yi = ybase + j;
            const float r = res[has_r ? pc.r_base + yi : 0u];
            const float v = a * sc + bi + (has_r ? r : 0.0);
            y[pc.y_base + yi] = act != KW_ACT_NONE ? clamp(v, 0.0, hi) : v;
        }
    }
}
