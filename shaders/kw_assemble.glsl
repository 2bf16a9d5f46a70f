/* kw_assemble.glsl - body of kw_assemble.comp (vec4 warehouse) and kw_assemble1.comp (scalar
 * warehouse, for cells whose size L is not a multiple of 4).
 *
 * The kernel of sample s is Wm[s] = alpha[s] (nlm x M) times the warehouse E (M x L), written
 * straight into conv2d's weight layout [O, Cg, kh, kw]. One invocation owns 4 consecutive
 * cell elements l (a vec4 of E's columns) of one mixture row r for SB samples, so each
 * warehouse value it loads serves SB samples from registers. Mixture row r = (s*GO + o)*GI + i
 * and cell element l = ((c*ci + c')*ckh + y)*ckw + x land on kernel element
 * (o*co + c, i*ci + c', sy*ckh + y, sx*ckw + x) with s = sy*SW + sx.
 *
 * The warehouse may be split along M into chunks (accumulate != 0 adds to the output).
 * Flat invocation index (r, q) = flat0 + (wg.y * numwg.x + wg.x) * LS + local; wg.z: sample block.
 * The including file declares LS (constant_id 0), SB (constant_id 1), the bindings
 * alpha (float), the warehouse (E4: vec4 when KW_E_VEC4, else E: float) and out (float). */

layout(push_constant) uniform P {
    uint aoff, eoff, ooff; /* offsets within the views (eoff in vec4 units when KW_E_VEC4) */
    uint L, Lq;            /* cell elements, ceil(L / 4) */
    uint mc;               /* cells in this chunk */
    uint M;                /* alpha row length (all cells) */
    uint as_, os;          /* per-sample strides of alpha (nlm*M) and out (O*Cg*kh*kw) */
    uint co, ci, ckh, ckw;
    uint GO, GI, SW;
    uint Cg, kh, kw;
    uint nlm, ns, flat0, accumulate;
} pc;

vec4 load_e(uint m, uint q)
{
#if KW_E_VEC4
    return E4[pc.eoff + m * pc.Lq + q];
#else
    uint base = pc.eoff + m * pc.L;
    uint l = 4 * q, last = pc.L - 1;
    return vec4(E[base + min(l, last)], E[base + min(l + 1, last)], E[base + min(l + 2, last)],
                E[base + min(l + 3, last)]);
#endif
}

void main()
{
    uint flat_idx = pc.flat0 + (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * LS +
                    gl_LocalInvocationID.x;
    uint r = flat_idx / pc.Lq, q = flat_idx % pc.Lq;
    if (r >= pc.nlm) return;
    uint s0 = gl_WorkGroupID.z * SB;

    /* alpha offsets of this row for each sample of the block (clamped: extra lanes compute
     * a duplicate and do not store) */
    uint abase[SB];
    for (uint j = 0; j < SB; j++) abase[j] = pc.aoff + min(s0 + j, pc.ns - 1) * pc.as_ + r * pc.M;

    vec4 acc[SB];
    for (uint j = 0; j < SB; j++) acc[j] = vec4(0.0);
    for (uint m = 0; m < pc.mc; m++) {
        vec4 e = load_e(m, q);
        for (uint j = 0; j < SB; j++) acc[j] += alpha[abase[j] + m] * e;
    }

    /* kernel element of each of the 4 cell elements */
    uint sp = r / (pc.GO * pc.GI), o = (r / pc.GI) % pc.GO, i = r % pc.GI;
    uint sy = sp / pc.SW, sx = sp % pc.SW;
    uint cA = pc.ckh * pc.ckw;
    uint dst[4];
    for (uint k = 0; k < 4; k++) {
        uint l = 4 * q + k;
        uint c = l / (pc.ci * cA), cc = (l / cA) % pc.ci, a = l % cA;
        uint oc = o * pc.co + c, ic = i * pc.ci + cc;
        uint ky = sy * pc.ckh + a / pc.ckw, kx = sx * pc.ckw + a % pc.ckw;
        dst[k] = ((oc * pc.Cg + ic) * pc.kh + ky) * pc.kw + kx;
    }
    uint nk = min(4u, pc.L - 4 * q);
    for (uint j = 0; j < SB; j++) {
        if (s0 + j >= pc.ns) break;
        uint obase = pc.ooff + (s0 + j) * pc.os;
        for (uint k = 0; k < nk; k++) {
            uint oi = obase + dst[k];
            out_w[oi] = pc.accumulate != 0 ? out_w[oi] + acc[j][k] : acc[j][k];
        }
    }
}
