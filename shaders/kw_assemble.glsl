/* kw_assemble.glsl - body of kw_assemble.comp (vec4 warehouse) and kw_assemble1.comp (scalar
 * warehouse, for cells whose size L is not a multiple of 4).
 *
 * kw_assemble_tb.comp reads alpha and the warehouse through uniform texel buffers instead.
 *
 * The kernel of sample s is Wm[s] = alpha[s] (nlm x M) times the warehouse E (M x L), written
 * straight into conv2d's weight layout: kernel element (o, c, ky, kx) at o*so + c*sc + ky*sy +
 * kx*sx, i.e. [O, Cg, kh, kw] or, for cells of 1x1 taps, [O, kh, kw, Cg] (conv2d's OHWI flag),
 * where a cell's columns are runs of ci consecutive input channels: with ci and Cg multiples of
 * 4, VEC4_OUT stores them as vec4 (on lavapipe a store is a per-lane loop: 4x fewer loops, and
 * KW 1x ResNet18's assembly took ~18% less time). One invocation owns a register tile:
 * 4*CV consecutive cell elements l (CV vec4 columns of E) x TR consecutive mixture rows r x SB
 * samples, so each warehouse vec4 it loads serves TR*SB rows. Mixture row r = (s*GO + o)*GI + i
 * and cell element l = ((c*ci + c')*ckh + y)*ckw + x land on kernel element
 * (o*co + c, i*ci + c', sy*ckh + y, sx*ckw + x) with s = sy*SW + sx; its offset is the sum of
 * a row part and a column part.
 *
 * The warehouse may be split along M into chunks: ACCUMULATE != 0 adds to the output (the
 * chunks after the first). A specialisation constant, not a push constant: the loads of the
 * read-modify-write, unrolled over the tile, were about a third of the program's compile time
 * on lavapipe, and almost every assembly is one chunk.
 * Row group rg0 + wg.y, column group qg0 + wg.x * LS + local, sample block wg.z: the rows and
 * samples of a tile, hence every alpha address, are uniform over the workgroup. The including
 * file declares the spec constants LS (0), SB (1), TR (2), CV (3), VEC4_OUT (4), ACCUMULATE (5) and the
 * bindings alpha (float), the warehouse (E4: vec4 when KW_E_VEC4, else E: float; alpha_t and
 * E_t when KW_E_TEXEL) and out_w (float), with out_w4 (vec4) on the same binding. */

layout(push_constant) uniform P {
    uint aoff, eoff, ooff; /* offsets within the views (eoff in vec4 units when KW_E_VEC4) */
    uint L, Lq, nq;        /* cell elements, ceil(L / 4), column groups ceil(Lq / CV) */
    uint mc;               /* cells in this chunk */
    uint M;                /* alpha row length (all cells) */
    uint as_, os;          /* per-sample strides of alpha (nlm*M) and out (O*Cg*kh*kw) */
    uint co, ci, ckh, ckw;
    uint GO, GI, SW;
    uint so, sc, sy, sx;   /* output strides of o, c, ky, kx (see above) */
    uint nlm, ns, rg0, qg0;
} pc;

#include "kw_load.glsl"

/* Add 1 to the mixed-radix number (d3 d2 d1 d0) whose digits d0, d1, d2 have the bases b0, b1,
 * b2 (d3 is unbounded): the kernel offsets count their digits up instead of dividing. */
void count_up(inout uint d0, inout uint d1, inout uint d2, inout uint d3, uint b0, uint b1, uint b2)
{
    if (++d0 < b0) return;
    d0 = 0;
    if (++d1 < b1) return;
    d1 = 0;
    if (++d2 < b2) return;
    d2 = 0;
    d3++;
}

void main()
{
    uint r0 = (pc.rg0 + gl_WorkGroupID.y) * TR;
    uint qg = pc.qg0 + gl_WorkGroupID.x * LS + gl_LocalInvocationID.x, q0 = qg * CV;
    if (qg >= pc.nq) return;
    uint s0 = gl_WorkGroupID.z * SB;

    /* alpha offsets of each (sample, row) of the tile; rows/samples past the end are clamped:
     * they compute a duplicate that is not stored */
    uint abase[SB * TR];
    [[unroll]] for (uint j = 0; j < SB; j++)
        [[unroll]] for (uint t = 0; t < TR; t++)
            abase[j * TR + t] = pc.aoff + min(s0 + j, pc.ns - 1) * pc.as_ +
                                min(r0 + t, pc.nlm - 1) * pc.M;
    uint qc[CV];
    [[unroll]] for (uint v = 0; v < CV; v++) qc[v] = min(q0 + v, pc.Lq - 1);

    vec4 acc[SB * TR * CV];
    [[unroll]] for (uint i = 0; i < SB * TR * CV; i++) acc[i] = vec4(0.0);
    for (uint m = 0; m < pc.mc; m++) {
        vec4 e[CV];
        [[unroll]] for (uint v = 0; v < CV; v++) e[v] = load_e(m, qc[v]);
        [[unroll]] for (uint i = 0; i < SB * TR; i++) {
            float a = load_alpha(abase[i] + m);
            [[unroll]] for (uint v = 0; v < CV; v++) acc[i * CV + v] += a * e[v];
        }
    }

    /* column part of the kernel offsets. Integer division is a scalar loop per lane on CPU
     * SIMD, so l is split into (c, c', y, x) once and the digits are then counted up. */
    uint cA = pc.ckh * pc.ckw, l0 = 4 * q0;
    uint c = l0 / (pc.ci * cA), rem = l0 % (pc.ci * cA);
    uint cc = rem / cA, ay = (rem % cA) / pc.ckw, ax = (rem % cA) % pc.ckw;
    uint ecol[4 * CV];
    [[unroll]] for (uint k = 0; k < 4 * CV; k++) {
        ecol[k] = c * pc.so + cc * pc.sc + ay * pc.sy + ax * pc.sx;
        count_up(ax, ay, cc, c, pc.ckw, pc.ckh, pc.ci);
    }
    /* row part, likewise: r = (s*GO + o)*GI + i, s = sy*SW + sx */
    uint ri = r0 % pc.GI, ro = (r0 / pc.GI) % pc.GO, sp = r0 / (pc.GO * pc.GI);
    uint sy = sp / pc.SW, sx = sp % pc.SW;
    [[unroll]] for (uint t = 0; t < TR; t++) {
        uint r = r0 + t;
        if (r >= pc.nlm) break;
        uint erow = ro * pc.co * pc.so + ri * pc.ci * pc.sc + sy * pc.ckh * pc.sy + sx * pc.ckw * pc.sx;
        count_up(ri, ro, sx, sy, pc.GI, pc.GO, pc.SW);
        [[unroll]] for (uint j = 0; j < SB; j++) {
            if (s0 + j >= pc.ns) break;
            uint obase = pc.ooff + (s0 + j) * pc.os + erow;
            [[unroll]] for (uint v = 0; v < CV; v++) {
                uint q = q0 + v;
                if (q >= pc.Lq) break;
                if (VEC4_OUT != 0) { /* the 4 elements are consecutive and vec4-aligned */
                    uint o4 = (obase + ecol[4 * v]) / 4;
                    vec4 val = acc[(j * TR + t) * CV + v];
                    out_w4[o4] = ACCUMULATE != 0 ? out_w4[o4] + val : val;
                    continue;
                }
                uint nk = min(4u, pc.L - 4 * q);
                vec4 val = acc[(j * TR + t) * CV + v];
                [[unroll]] for (uint k = 0; k < 4; k++) {
                    if (k >= nk) break;
                    uint oi = obase + ecol[4 * v + k];
                    out_w[oi] = ACCUMULATE != 0 ? out_w[oi] + val[k] : val[k];
                }
            }
        }
    }
}
