// conv2d.comp - general direct convolution (any kernel, stride, padding, dilation, groups;
// static or per-sample weights) with a fused scale / bias / residual / activation epilogue.
//
// Each invocation computes a register tile of TO output channels x TP consecutive output
// pixels of one output row. The input row segment a tile needs for one (channel, ky) is
// loaded once into registers and reused by every kx tap, so a 3x3 stride-1 tile of 8 pixels
// loads 10 input values instead of 24. The x lanes of a workgroup walk along the row tiles
// and share their output-channel block (so a subgroup reads the same weights); y lanes take
// further channel blocks, which keeps lanes busy on small planes. gl_WorkGroupID.z is the
// sample.
//
// Channels of one dispatch: [o0, o0 + n_oc), split in segments of seg_len channels that never
// cross a group boundary (seg_len = Og, or a part of one group); blocks of TO channels inside a
// segment. W / scale / bias rows are relative to o0.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in; // x: row tiles, y: channel blocks
layout(constant_id = 2) const uint TO = 8;    // output channels per invocation
layout(constant_id = 3) const uint TP = 8;    // consecutive output pixels per invocation
layout(constant_id = 4) const uint KSIZE = 0x0303u; // kernel h | w << 8
layout(constant_id = 5) const uint GEOM = 0x01010101u; // stride h, w, dilation h, w
layout(constant_id = 6) const uint FLAGS = 0; // see EPI_* in common.glsl

const uint KH = KSIZE & 255u, KW = KSIZE >> 8;

const uint SH = GEOM_SH(GEOM), SW = GEOM_SW(GEOM), DH = GEOM_DH(GEOM), DW = GEOM_DW(GEOM);
const uint SPAN = (TP - 1u) * SW + (KW - 1u) * DW + 1u; // input columns one tile row reads
const uint ACT = EPI_ACT(FLAGS);

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
    uint ntx, ntiles;       // tiles per output row, tiles per plane
    uint tile0, blk0;       // first tile / block of this dispatch (grid splitting)
    uint x_base, x_stride;  // X view: element of sample 0, elements per sample
    uint w_base, w_stride;  // W view: element of row o0, elements per sample (0: static)
    uint s_base, b_base;    // scale / bias views: element of channel o0
    uint r_base, y_base, y_stride; // residual / output views; both have y_stride per sample
} pc;

void main()
{
    const uint tile = pc.tile0 + gl_GlobalInvocationID.x;
    const uint blk = pc.blk0 + gl_GlobalInvocationID.y;
    const uint n = gl_WorkGroupID.z;
    const uint seg = blk / pc.bps;
    const uint oc_in_seg = (blk - seg * pc.bps) * TO;
    const uint oc_l = seg * pc.seg_len + oc_in_seg; // first channel of the tile, relative to o0
    if (tile >= pc.ntiles || oc_l >= pc.n_oc) return;
    const uint n_o = min(TO, pc.seg_len - oc_in_seg);
    const uint g = (pc.o0 + oc_l) / pc.Og;
    const uint oy = tile / pc.ntx;
    const uint ox0 = (tile - oy * pc.ntx) * TP;
    const int iy0 = int(oy * SH) - int(pc.ph);
    const int ix0 = int(ox0 * SW) - int(pc.pw);
    const uint K = pc.Cg * KH * KW;
    const uint HW = pc.H * pc.W;

    uint xb = pc.x_base + n * pc.x_stride + g * pc.Cg * HW;
    uint wrow[TO];
    [[unroll]] for (uint i = 0; i < TO; i++)
        wrow[i] = pc.w_base + n * pc.w_stride + (oc_l + min(i, n_o - 1u)) * K;

    // Column offsets and validity of the SPAN input columns (the same for every row).
    bool colok[SPAN];
    [[unroll]] for (uint s = 0; s < SPAN; s++) {
        int ix = ix0 + int(s);
        colok[s] = ix >= 0 && ix < int(pc.W);
    }

    float acc[TO * TP];
    [[unroll]] for (uint i = 0; i < TO * TP; i++) acc[i] = 0.0;

    for (uint c = 0; c < pc.Cg; c++) {
        [[unroll]] for (uint ky = 0; ky < KH; ky++) {
            const int iy = iy0 + int(ky * DH);
            const bool rowok = iy >= 0 && iy < int(pc.H);
            const int rbase = int(xb) + iy * int(pc.W) + ix0;
            float row[SPAN];
            [[unroll]] for (uint s = 0; s < SPAN; s++) {
                // Columns no tap reads (gaps when the stride exceeds the kernel span, e.g. a
                // 1x1 stride-2 conv) are not loaded; `used` folds to a constant once unrolled.
                bool used = false;
                [[unroll]] for (uint kx = 0; kx < KW; kx++)
                    used = used || (s >= kx * DW && (s - kx * DW) % SW == 0u);
                row[s] = 0.0;
                if (used) {
                    bool ok = rowok && colok[s];
                    float v = x[ok ? uint(rbase + int(s)) : xb];
                    row[s] = ok ? v : 0.0;
                }
            }
            // All weights of this (c, ky) first, then one block of multiply-adds.
            float wv[KW * TO];
            const uint wk0 = (c * KH + ky) * KW;
            [[unroll]] for (uint kx = 0; kx < KW; kx++)
                [[unroll]] for (uint i = 0; i < TO; i++)
                    wv[kx * TO + i] = w[wrow[i] + wk0 + kx];
            [[unroll]] for (uint kx = 0; kx < KW; kx++)
                [[unroll]] for (uint i = 0; i < TO; i++)
                    [[unroll]] for (uint j = 0; j < TP; j++)
                        acc[i * TP + j] += wv[kx * TO + i] * row[j * SW + kx * DW];
        }
        xb += HW;
    }

    const uint OHW = pc.OH * pc.OW;
    const uint ybase = n * pc.y_stride + oc_l * OHW + oy * pc.OW + ox0;
    [[unroll]] for (uint i = 0; i < TO; i++) {
        if (i >= n_o) break;
        const float sc = EPI_SCALE(FLAGS) != 0u ? scale[pc.s_base + oc_l + i] : 1.0;
        const float bi = EPI_BIAS(FLAGS) != 0u ? bias[pc.b_base + oc_l + i] : 0.0;
        [[unroll]] for (uint j = 0; j < TP; j++) {
            if (ox0 + j >= pc.OW) break;
            const uint yi = ybase + i * OHW + j;
            float v = acc[i * TP + j] * sc + bi;
            if (EPI_RES(FLAGS) != 0u) v += res[pc.r_base + yi];
            y[pc.y_base + yi] = apply_act(v, ACT);
        }
    }
}
