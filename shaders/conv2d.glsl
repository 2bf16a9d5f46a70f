// conv2d.glsl - body of conv2d.comp (fp32 weights) and conv2d_h.comp (fp16 weights, KW_W16):
// general direct convolution (any kernel, stride, padding, dilation, groups;
// static or per-sample weights) with a fused scale / bias / residual / activation epilogue.
//
// Each invocation computes a register tile of TO output channels x TPY output rows x TP
// consecutive output columns. Per input channel it loads the TO x KH x KW weights once, then
// walks the input rows the tile needs: each row segment is loaded once into registers and
// feeds every (output row, ky) pair that reads it and every kx tap, so a 3x3 stride-1 tile of
// 2 x 8 pixels loads 4 x 10 input values instead of 144. On lavapipe every buffer load costs
// a per-lane loop, so loads per multiply-add is what decides the speed.
//
// Invocations enumerate (channel block, tile) pairs, tiles fastest, so neighbouring lanes share
// their weights and small planes leave no lane idle. The grid is 2D (x, y) for large counts;
// gl_WorkGroupID.z is the sample.
//
// Channels of one dispatch: [o0, o0 + n_oc), split in segments of seg_len channels that never
// cross a group boundary (seg_len = Og, or a part of one group); blocks of TO channels inside a
// segment. W / scale / bias rows are relative to o0.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TO = 8;    // output channels per invocation
layout(constant_id = 2) const uint TP = 8;    // consecutive output columns per invocation
layout(constant_id = 3) const uint TPY = 1;   // output rows per invocation
layout(constant_id = 4) const uint KSIZE = 0x0303u; // kernel h | w << 8
layout(constant_id = 5) const uint GEOM = 0x01010101u; // stride h, w, dilation h, w
layout(constant_id = 6) const uint FLAGS = 0; // KW_EPI_* and KW_CONV_* (kw_flags.h)

const uint KH = KSIZE & 255u, KW = KSIZE >> 8;

const uint SH = GEOM_SH(GEOM), SW = GEOM_SW(GEOM), DH = GEOM_DH(GEOM), DW = GEOM_DW(GEOM);
const uint SPAN = (TP - 1u) * SW + (KW - 1u) * DW + 1u; // input columns one tile row reads
const uint ACT = EPI_ACT(FLAGS);
const bool KY_LOOP = (FLAGS & KW_CONV_KY_LOOP) != 0u; // loop over kernel rows (large kernels)
// Weights [O, kh, kw, Cg] instead of [O, Cg, kh, kw]: what kw_assemble writes for cells of
// single taps (see kw_assemble.glsl), so that its stores are contiguous.
const bool OHWI = (FLAGS & KW_CONV_OHWI) != 0u;
const uint RSPAN = (TPY - 1u) * SH + (KH - 1u) * DH + 1u; // input rows one tile reads

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
#if KW_W16
// fp16 weights (kwvk_net_desc.fp16_weights): 16-bit storage only, every value widened to fp32
// on load, so the accumulation stays fp32 and no fp16 arithmetic is needed
layout(std430, set = 0, binding = 1) readonly buffer Wb { float16_t w[]; };
#define WLOAD(i) float(w[i])
#else
layout(std430, set = 0, binding = 1) readonly buffer Wb { float w[]; };
#define WLOAD(i) w[i]
#endif
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
    uint ntx, ntiles;       // tiles per TPY output rows, tiles per plane
    uint blk0, n_inv;       // first block; (block, tile) pairs of this dispatch
    uint groups_x;          // workgroups along x
    uint x_base, x_stride;  // X view: element of sample 0, elements per sample
    uint w_base, w_stride;  // W view: element of row o0, elements per sample (0: static)
    uint s_base, b_base;    // scale / bias views: element of channel o0
    uint r_base, y_base, y_stride; // residual / output views; both have y_stride per sample
} pc;

// The SPAN input columns of row iy from column ix0 on, zero outside the input. Columns no
// tap reads (gaps when the stride exceeds the kernel span, e.g. a 1x1 stride-2 conv) are not
// loaded: `used` folds to a constant once the loops are unrolled.
void load_row(uint xb, int iy, int ix0, bool colok[SPAN], out float row[SPAN])
{
    const bool rowok = iy >= 0 && iy < int(pc.H);
    const int rbase = int(xb) + iy * int(pc.W) + ix0;
    [[unroll]] for (uint s = 0; s < SPAN; s++) {
        bool used = false;
        [[unroll]] for (uint kx = 0; kx < KW; kx++)
            used = used || (s >= kx * DW && (s - kx * DW) % SW == 0u);
        row[s] = 0.0;
        if (used) {
            const bool ok = rowok && colok[s];
            const float v = x[ok ? uint(rbase + int(s)) : xb];
            row[s] = ok ? v : 0.0;
        }
    }
}

// Does input row r of the tile (relative to its first row) feed output row
// (r - ky * DH) / SH of the tile through kernel row ky? (Constant once unrolled.)
bool row_tap(uint r, uint ky)
{
    return r >= ky * DH && (r - ky * DH) % SH == 0u && (r - ky * DH) / SH < TPY;
}

// The epilogue of one output: v * scale + bias, + residual, activation, stored at element yi.
void store_out(float v, float sc, float bi, uint yi)
{
    float r = v * sc + bi;
    if (EPI_RES(FLAGS) != 0u) r += res[pc.r_base + yi];
    y[pc.y_base + yi] = apply_act(r, ACT);
}

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
    const uint ty = tile / pc.ntx;
    const uint oy0 = ty * TPY;
    const uint ox0 = (tile - ty * pc.ntx) * TP;
    const int iy0 = int(oy0 * SH) - int(pc.ph);
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

    float acc[TO * TPY * TP];
    [[unroll]] for (uint i = 0; i < TO * TPY * TP; i++) acc[i] = 0.0;

    for (uint c = 0; c < pc.Cg; c++) {
        if (KY_LOOP) {
            // Large kernels: one kernel row at a time (less code), rows not shared.
            [[dont_unroll]] for (uint ky = 0; ky < KH; ky++) {
                float wv[TO * KW];
                [[unroll]] for (uint i = 0; i < TO; i++)
                    [[unroll]] for (uint kx = 0; kx < KW; kx++)
                        wv[i * KW + kx] = WLOAD(wrow[i] + (OHWI ? (ky * KW + kx) * pc.Cg + c : (c * KH + ky) * KW + kx));
                [[unroll]] for (uint t = 0; t < TPY; t++) {
                    float row[SPAN];
                    load_row(xb, iy0 + int(t * SH + ky * DH), ix0, colok, row);
                    [[unroll]] for (uint kx = 0; kx < KW; kx++)
                        [[unroll]] for (uint i = 0; i < TO; i++)
                            [[unroll]] for (uint j = 0; j < TP; j++)
                                acc[(i * TPY + t) * TP + j] += wv[i * KW + kx] * row[j * SW + kx * DW];
                }
            }
        } else {
            // Small kernels: all weights of the channel, then each input row the tile needs,
            // once, for every (output row t, ky) pair that reads it.
            float wv[TO * KH * KW];
            [[unroll]] for (uint i = 0; i < TO; i++)
                [[unroll]] for (uint k = 0; k < KH * KW; k++)
                    wv[i * KH * KW + k] = WLOAD(wrow[i] + (OHWI ? k * pc.Cg + c : c * KH * KW + k));
            [[unroll]] for (uint r = 0; r < RSPAN; r++) {
                // rows no tap reads (stride larger than the kernel span) fold away
                bool rused = false;
                [[unroll]] for (uint ky = 0; ky < KH; ky++) rused = rused || row_tap(r, ky);
                if (!rused) continue;
                float row[SPAN];
                load_row(xb, iy0 + int(r), ix0, colok, row);
                [[unroll]] for (uint ky = 0; ky < KH; ky++) {
                    if (!row_tap(r, ky)) continue;
                    const uint t = (r - ky * DH) / SH;
                    [[unroll]] for (uint kx = 0; kx < KW; kx++)
                        [[unroll]] for (uint i = 0; i < TO; i++)
                            [[unroll]] for (uint j = 0; j < TP; j++)
                                acc[(i * TPY + t) * TP + j] += wv[(i * KH + ky) * KW + kx] * row[j * SW + kx * DW];
                }
            }
        }
        xb += HW;
    }

    const uint OHW = pc.OH * pc.OW;
    const uint ybase = n * pc.y_stride + oc_l * OHW + oy0 * pc.OW + ox0;
    if (EPI_RES(FLAGS) != 0u) {
        // With a residual input, a loop over the channels (not unrolled; each channel's
        // accumulators picked by selects): every buffer access compiles to a per-lane loop on
        // lavapipe, and TO x TPY x TP unrolled residual loads plus stores tripled the compile
        // time (a 3x3 conv: 6.6-6.9 s -> 1.3-2.3 s). The others stay unrolled, without selects.
        [[dont_unroll]] for (uint i = 0; i < n_o; i++) {
            const float sc = EPI_SCALE(FLAGS) != 0u ? scale[pc.s_base + oc_l + i] : 1.0;
            const float bi = EPI_BIAS(FLAGS) != 0u ? bias[pc.b_base + oc_l + i] : 0.0;
            [[unroll]] for (uint t = 0; t < TPY; t++) {
                if (oy0 + t >= pc.OH) break;
                [[unroll]] for (uint j = 0; j < TP; j++) {
                    if (ox0 + j >= pc.OW) break;
                    float a = acc[t * TP + j];
                    [[unroll]] for (uint c = 1; c < TO; c++) a = i == c ? acc[(c * TPY + t) * TP + j] : a;
                    store_out(a, sc, bi, ybase + i * OHW + t * pc.OW + j);
                }
            }
        }
        return;
    }
    [[unroll]] for (uint i = 0; i < TO; i++) {
        if (i >= n_o) break;
        const float sc = EPI_SCALE(FLAGS) != 0u ? scale[pc.s_base + oc_l + i] : 1.0;
        const float bi = EPI_BIAS(FLAGS) != 0u ? bias[pc.b_base + oc_l + i] : 0.0;
        [[unroll]] for (uint t = 0; t < TPY; t++) {
            if (oy0 + t >= pc.OH) break;
            [[unroll]] for (uint j = 0; j < TP; j++) {
                if (ox0 + j >= pc.OW) break;
                store_out(acc[(i * TPY + t) * TP + j], sc, bi, ybase + i * OHW + t * pc.OW + j);
            }
        }
    }
}
