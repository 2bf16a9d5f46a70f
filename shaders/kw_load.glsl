/* kw_load.glsl - the loads of the KW assembly shaders (kw_assemble.glsl, kw_assemble_wino.glsl):
 * alpha (float; alpha_t, R32F texels, with KW_E_TEXEL) and a vec4 of warehouse cell m at vec4
 * column q (E_t, RGBA32F texels, with KW_E_TEXEL; E4, vec4, with KW_E_VEC4; else E, float,
 * clamped to the cell's last element). Included after the push block, whose eoff (in the
 * warehouse binding's units), L (cell elements) and Lq (ceil(L / 4)) it reads. */

#ifndef KW_E_TEXEL
#define KW_E_TEXEL 0
#endif
#ifndef KW_E_VEC4
#define KW_E_VEC4 0
#endif

float load_alpha(uint i)
{
#if KW_E_TEXEL
    return texelFetch(alpha_t, int(i)).x;
#else
    return alpha[i];
#endif
}

vec4 load_e(uint m, uint q)
{
#if KW_E_TEXEL
    return texelFetch(E_t, int(pc.eoff + m * pc.Lq + q));
#elif KW_E_VEC4
    return E4[pc.eoff + m * pc.Lq + q];
#else
    uint base = pc.eoff + m * pc.L;
    uint l = 4 * q, last = pc.L - 1;
    return vec4(E[base + min(l, last)], E[base + min(l + 1, last)], E[base + min(l + 2, last)],
                E[base + min(l + 3, last)]);
#endif
}
