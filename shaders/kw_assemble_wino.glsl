/* kw_assemble_wino.glsl - body of kw_assemble_wino.comp (storage buffers, any cell size) and
 * kw_assemble_wino_tb.comp (alpha and a vec4 warehouse through uniform texel buffers).
 *
 * Winograd-domain KW assembly for 3x3 kernels of 1x1 cells (cell [co, ci]): the kernel of
 * sample s is W[s] = alpha[s] (nlm x M) times the warehouse E (M x co*ci) as in
 * kw_assemble.glsl, but instead of W this writes U[s] = G W G^T per (output, input) channel
 * pair, in conv_wino_gemm's layout [16][Cg][Op] (see kw_wino_transform_weights, which is the
 * transform's reference), so no per-run weight transform is needed. Mixture row
 * r = (t*GO + o)*GI + i holds tap t = ky*3 + kx of block (o, i): an invocation keeps the 9 taps
 * of one block b = o*GI + i (rows b + t*GO*GI) for SB samples and 4*CV cell elements in
 * registers, each warehouse vec4 it loads serving 9*SB rows, and transforms them there: the
 * transform costs a few adds per element and no pass over memory.
 *
 * Columns. VEC4_O (co and ci multiples of 4, CV = 4): column group g = (o4, cq) takes the vec4
 * columns of cell elements (4*o4 + v, 4*cq .. 4*cq + 3), v < 4, so that the 4 values of one
 * input channel and xi are 4 consecutive output channels of U: one vec4 store each. Otherwise
 * CV consecutive vec4 columns and scalar stores.
 *
 * The warehouse may be split along M (ACCUMULATE != 0, a specialisation constant as in kw_assemble.glsl, adds to U). Block bg0 + wg.y, column group
 * qg0 + wg.x * LS + local, sample block wg.z. The including file declares the spec constants
 * LS (0), SB (1), CV (2), VEC4_O (3), ACCUMULATE (4) and the bindings alpha (float; alpha_t with KW_E_TEXEL),
 * the warehouse (E: float; E_t, vec4 texels, with KW_E_TEXEL), u_w (float) and u_w4 (vec4,
 * same binding). */

layout(push_constant) uniform P {
    uint aoff, eoff, uoff; /* offsets within the views (eoff in vec4s with KW_E_TEXEL) */
    uint L, Lq, nq;        /* cell elements (co*ci), ceil(L / 4), column groups */
    uint mc, M;            /* cells in this chunk, alpha row length (all cells) */
    uint as_, us;          /* per-sample strides of alpha and U (floats) */
    uint co, ci, GO, GI, Cg, Op;
    uint ns, bg0, qg0;
} pc;

#include "kw_load.glsl"

void main()
{
    const uint b = pc.bg0 + gl_WorkGroupID.y;
    const uint g = pc.qg0 + gl_WorkGroupID.x * LS + gl_LocalInvocationID.x;
    if (g >= pc.nq) return;
    const uint s0 = gl_WorkGroupID.z * SB;
    const uint cq4 = pc.ci / 4u;

    /* the vec4 columns of this invocation (clamped past the end: computed, not stored) */
    uint qc[CV];
    [[unroll]] for (uint v = 0; v < CV; v++) {
        uint q = VEC4_O != 0 ? ((g / cq4) * 4u + v) * cq4 + g % cq4 : g * CV + v;
        qc[v] = min(q, pc.Lq - 1u);
    }
    /* alpha offsets of (sample j, tap t); samples past the end clamped likewise */
    uint abase[SB * 9];
    const uint GOI = pc.GO * pc.GI;
    [[unroll]] for (uint j = 0; j < SB; j++)
        [[unroll]] for (uint t = 0; t < 9; t++)
            abase[j * 9 + t] = pc.aoff + min(s0 + j, pc.ns - 1u) * pc.as_ + (t * GOI + b) * pc.M;

    vec4 acc[SB * 9 * CV];
    [[unroll]] for (uint i = 0; i < SB * 9 * CV; i++) acc[i] = vec4(0.0);
    for (uint m = 0; m < pc.mc; m++) {
        vec4 e[CV];
        [[unroll]] for (uint v = 0; v < CV; v++) e[v] = load_e(m, qc[v]);
        [[unroll]] for (uint i = 0; i < SB * 9; i++) {
            float a = load_alpha(abase[i] + m);
            [[unroll]] for (uint v = 0; v < CV; v++) acc[i * CV + v] += a * e[v];
        }
    }

    const uint ob = b / pc.GI, ib = b % pc.GI;
    const uint plane = pc.Cg * pc.Op; /* one xi of U */
    [[unroll]] for (uint j = 0; j < SB; j++) {
        if (s0 + j >= pc.ns) break;
        const uint ubase = pc.uoff + (s0 + j) * pc.us;
        vec4 u[CV][16];
        [[unroll]] for (uint v = 0; v < CV; v++) {
            /* U = G w G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], 4 elements at once */
            vec4 w[9];
            [[unroll]] for (uint t = 0; t < 9; t++) w[t] = acc[(j * 9 + t) * CV + v];
            vec4 h[4][3]; /* G w */
            [[unroll]] for (uint k = 0; k < 3; k++) {
                h[0][k] = w[k];
                h[1][k] = 0.5 * (w[k] + w[3 + k] + w[6 + k]);
                h[2][k] = 0.5 * (w[k] - w[3 + k] + w[6 + k]);
                h[3][k] = w[6 + k];
            }
            [[unroll]] for (uint i = 0; i < 4; i++) { /* (G w) G^T */
                u[v][i * 4 + 0] = h[i][0];
                u[v][i * 4 + 1] = 0.5 * (h[i][0] + h[i][1] + h[i][2]);
                u[v][i * 4 + 2] = 0.5 * (h[i][0] - h[i][1] + h[i][2]);
                u[v][i * 4 + 3] = h[i][2];
            }
        }
        if (VEC4_O != 0) {
            if ((g / cq4) * 4u >= pc.co) continue; /* never: nq covers exactly (co/4)*(ci/4) */
            const uint o = ob * pc.co + (g / cq4) * 4u, c0 = ib * pc.ci + (g % cq4) * 4u;
            [[unroll]] for (uint k = 0; k < 4; k++)
                [[unroll]] for (uint xi = 0; xi < 16; xi++) {
                    const uint i4 = (ubase + xi * plane + (c0 + k) * pc.Op + o) / 4u;
                    vec4 val = vec4(u[0][xi][k], u[1 % CV][xi][k], u[2 % CV][xi][k], u[3 % CV][xi][k]);
                    u_w4[i4] = ACCUMULATE != 0 ? u_w4[i4] + val : val;
                }
        } else {
            [[unroll]] for (uint v = 0; v < CV; v++) {
                const uint q = g * CV + v;
                if (q >= pc.Lq) break;
                [[unroll]] for (uint k = 0; k < 4; k++) {
                    const uint l = 4u * q + k;
                    if (l >= pc.L) break;
                    const uint o = ob * pc.co + l / pc.ci, c = ib * pc.ci + l % pc.ci;
                    [[unroll]] for (uint xi = 0; xi < 16; xi++) {
                        const uint i1 = ubase + xi * plane + c * pc.Op + o;
                        u_w[i1] = ACCUMULATE != 0 ? u_w[i1] + u[v][xi][k] : u[v][xi][k];
                    }
                }
            }
        }
    }
}
