// conv_pw.glsl - body of conv_pw.comp / conv_pw_tb.comp: 1x1, stride-1, unpadded, ungrouped
// convolution as one GEMM per sample over the flattened plane,
//     Y[n][o][p] = epilogue(sum_c W[o][c] * X[n][c][p]),
// with W [O][C] (static, or per sample: [O, C, 1, 1] and kw_assemble's [O, 1, 1, C] are the
// same for a 1x1 kernel) and X, Y NCHW, read as they are: no packing pass.
//
// Each invocation keeps a register tile of TO output channels x TT pixels (TO * TT / 4 vec4
// accumulators). Per group of 4 input channels it loads TO vec4s of W (4 channels of a row)
// and 4 x TT / 4 vec4s of X (TT pixels of each channel): TO + TT loads for 4 * TO * TT
// multiply-adds - on lavapipe the loads (per-lane loops from storage buffers, one gather from
// texel buffers) rather than the arithmetic decide the speed.
//
// Rows and planes need not start on a vec4 (C or H * W not a multiple of 4, e.g. 7x7): then
// a vec4 at element e is funnelled from the two aligned vec4s around it (shift e % 4), and
// the walk along the channels carries the upper one to the next group, so an unaligned row
// costs one load more per row, not twice the loads. PLANE4 / ROW4 (flags) say that the plane
// / the W rows are aligned, which removes the funnel. Loads past the end of a view are
// clamped to its last vec4 (their lanes are pixels or rows that are never stored).
//
// Invocations enumerate (channel block, pixel tile) pairs, tiles fastest (neighbouring lanes
// share their weight rows); rows beyond O repeat row O - 1 and are not stored.
// gl_WorkGroupID.z is the sample of the dispatch.
//
// The including .comp declares bindings 0 (X), 1 (W), 2 (scale), 3 (bias), 4 (residual, vec4)
// and 5 (Y, vec4) and defines LOAD_X(i) and LOAD_W(i) (vec4 index i).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TO = 8;    // output channels per invocation (multiple of 4)
layout(constant_id = 2) const uint TT = 16;   // pixels per invocation (multiple of 4)
// PW_PLANE4 | PW_ROW4, and KW_ACT_GELU for GELU convs. The other epilogue bits (KW_EPI_* in
// kw_flags.h) are the push constant `epi`: uniform branches that cost nothing measurable, and
// the convs of a network share one program (each costs lavapipe a compilation at first use).
layout(constant_id = 3) const uint FLAGS = 0;

const uint PW_PLANE4 = 256u; // H * W and the X / Y / residual bases are multiples of 4
const uint PW_ROW4 = 512u;   // C and the W base are multiples of 4
const bool PLANE4 = (FLAGS & PW_PLANE4) != 0u;
const bool ROW4 = (FLAGS & PW_ROW4) != 0u;
const bool GELU = EPI_ACT(FLAGS) == KW_ACT_GELU;
const uint TT4 = TT / 4u;

layout(push_constant) uniform Push {
    uint C, HW, O;          // input channels, pixels per plane, output channels
    uint ntb, n_inv;        // pixel tiles per plane; (channel block, tile) pairs
    uint groups_x;          // workgroups along x
    uint x_base, x_stride;  // X view: element of sample 0, elements per sample
    uint x_last;            // X view: last vec4
    uint w_base, w_stride;  // W view: element of row 0, elements per sample (0: static)
    uint w_last;            // W view: last vec4
    uint s_base, b_base;    // scale / bias views: element of channel 0
    uint r_base, y_base, y_stride; // residual / output views; both have y_stride per sample
    uint epi;               // KW_EPI_*: activation (not GELU), scale, bias, residual
} pc;

// The vec4 at element 4 * q + s from the aligned vec4s a (at q) and b (at q + 1).
vec4 funnel(vec4 a, vec4 b, uint s)
{
    return s == 0u ? a : s == 1u ? vec4(a.yzw, b.x) : s == 2u ? vec4(a.zw, b.xy) : vec4(a.w, b.xyz);
}

vec4 acc[TO * TT4];

// TT pixels of one channel plane from element e on.
void load_x(uint e, out vec4 xv[TT4])
{
    const uint q = e >> 2u;
    if (PLANE4) {
        [[unroll]] for (uint j = 0; j < TT4; j++) xv[j] = LOAD_X(min(q + j, pc.x_last));
    } else {
        const uint s = e & 3u;
        vec4 a = LOAD_X(min(q, pc.x_last));
        [[unroll]] for (uint j = 0; j < TT4; j++) {
            const vec4 b = LOAD_X(min(q + j + 1u, pc.x_last));
            xv[j] = funnel(a, b, s);
            a = b;
        }
    }
}

void fma_channel(float w[TO], vec4 xv[TT4])
{
    [[unroll]] for (uint i = 0; i < TO; i++)
        [[unroll]] for (uint j = 0; j < TT4; j++) acc[i * TT4 + j] += w[i] * xv[j];
}

void main()
{
    const uint q = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (q >= pc.n_inv) return;
    const uint n = gl_WorkGroupID.z;
    const uint ob = q / pc.ntb;
    const uint p0 = (q - ob * pc.ntb) * TT;
    const uint o0 = ob * TO;

    // first element of each row (clamped to row O - 1) and of the tile's pixels in channel 0
    uint we[TO];
    [[unroll]] for (uint i = 0; i < TO; i++) we[i] = pc.w_base + n * pc.w_stride + min(o0 + i, pc.O - 1u) * pc.C;
    uint xe = pc.x_base + n * pc.x_stride + p0;

    [[unroll]] for (uint i = 0; i < TO * TT4; i++) acc[i] = vec4(0.0);

    // the lower aligned vec4 of each row's next group (unaligned rows)
    vec4 wlo[TO];
    if (!ROW4) [[unroll]] for (uint i = 0; i < TO; i++) wlo[i] = LOAD_W(min(we[i] >> 2u, pc.w_last));

    const uint C4 = pc.C / 4u;
    for (uint k = 0; k < C4; k++) {
        vec4 w4[TO];
        [[unroll]] for (uint i = 0; i < TO; i++) {
            if (ROW4) {
                w4[i] = LOAD_W((we[i] >> 2u) + k);
            } else {
                const vec4 hi = LOAD_W(min((we[i] >> 2u) + k + 1u, pc.w_last));
                w4[i] = funnel(wlo[i], hi, we[i] & 3u);
                wlo[i] = hi;
            }
        }
        [[unroll]] for (uint r = 0; r < 4; r++) {
            vec4 xv[TT4];
            load_x(xe, xv);
            float w[TO];
            [[unroll]] for (uint i = 0; i < TO; i++) w[i] = w4[i][r];
            fma_channel(w, xv);
            xe += pc.HW;
        }
    }
    // the last C % 4 channels: one at a time
    for (uint c = C4 * 4u; c < pc.C; c++) {
        float w[TO];
        [[unroll]] for (uint i = 0; i < TO; i++) {
            const uint e = we[i] + c;
            w[i] = LOAD_W(min(e >> 2u, pc.w_last))[e & 3u];
        }
        vec4 xv[TT4];
        load_x(xe, xv);
        fma_channel(w, xv);
        xe += pc.HW;
    }

    const bool has_r = EPI_RES(pc.epi) != 0u;
    const uint act = EPI_ACT(pc.epi);
    const float hi = act == ACT_RELU6 ? 6.0 : uintBitsToFloat(0x7f800000u); // +inf
    [[unroll]] for (uint i = 0; i < TO; i++) {
        const uint o = o0 + i;
        if (o >= pc.O) break;
        const float sc = EPI_SCALE(pc.epi) != 0u ? scale[pc.s_base + o] : 1.0;
        const float bi = EPI_BIAS(pc.epi) != 0u ? bias[pc.b_base + o] : 0.0;
        const uint yo = n * pc.y_stride + o * pc.HW + p0; // relative to the view bases
        [[unroll]] for (uint j = 0; j < TT4; j++) {
            const uint p = p0 + j * 4u;
            if (p >= pc.HW) break;
            vec4 v = acc[i * TT4 + j] * sc + bi;
            if (PLANE4) {
                if (has_r) v += res[(pc.r_base + yo) / 4u + j];
                y[(pc.y_base + yo) / 4u + j] = GELU ? gelu4(v) : act != ACT_NONE ? clamp(v, vec4(0.0), vec4(hi)) : v;
            } else {
                [[unroll]] for (uint t = 0; t < 4; t++) {
                    if (p + t >= pc.HW) break;
                    float u = v[t];
                    if (has_r) {
                        const uint er = pc.r_base + yo + j * 4u + t;
                        u += res[er >> 2u][er & 3u];
                    }
                    const uint ey = pc.y_base + yo + j * 4u + t;
                    y[ey >> 2u][ey & 3u] = GELU ? gelu4(vec4(u)).x : act != ACT_NONE ? clamp(u, 0.0, hi) : u;
                }
            }
        }
    }
}
