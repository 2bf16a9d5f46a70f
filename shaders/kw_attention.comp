#version 450
/* kw_attention.comp - the whole KW attention of one layer (docs/kw-math.md section 2) in one dispatch:
 * one workgroup per sample runs the five phases below, separated by workgroup barriers. The
 * intermediate vectors live in the op's scratch (global memory, `coherent`, so that what one
 * invocation writes is visible to the others after memoryBarrierBuffer + barrier):
 *   1. g[c]  = mean of x[s, c, :, :]                     one invocation per channel
 *   2. h[r]  = ReLU(fc1_w[r] . g + fc1_b[r])             one per hidden unit
 *      (LNORM: h = ReLU(LayerNorm(fc1_w g + fc1_b)), b1 holding [fc1_b, LN weight, LN bias];
 *      every invocation computes the mean and variance of the hid values itself)
 *   3. (BASIS) f[m, k] = fc2_w[m*rpm + k] . h            one per (mixture row, fc2 output)
 *   4. z[m, j] = the M + 1 logits of mixture row m       one per (row, logit)
 *        standard: fc2_w[m*(M+1) + j] . h + fc2_b[m*(M+1) + j]
 *        BASIS: [nonlocal[:start], local, nonlocal[start:], zero] + basis_bias[m*(M+1) + j],
 *               nonlocal[k] = fc3_w[k] . basis (f holds [local, basis, zero] per row)
 *   5. d[m]  = sum_j |z[m, j]| + 1e-3 (the zero column included), then
 *      alpha[s, m, j] = z[m, j] / d[m] for j < M (the zero column dropped)
 * No subgroup operations: nothing depends on the subgroup size. The multi-dispatch path
 * (kw_pool / kw_fc / kw_mix) remains for bindings beyond the storage range and for devices
 * with fewer than 8 storage buffers per stage (KWVK_FORCE_FALLBACKS=fused forces it).
 * Dispatch: (ns, 1, 1). */
#extension GL_GOOGLE_include_directive : require

layout(constant_id = 0) const uint LS = 64;
layout(constant_id = 1) const uint BASIS = 0;
layout(constant_id = 2) const uint VEC4 = 0; /* rows of x start on vec4 boundaries, hw % 4 == 0 */
layout(constant_id = 3) const uint LNORM = 0; /* LayerNorm hidden norm */
layout(local_size_x_id = 0) in;

/* x is read as float or, with VEC4, as vec4: two declarations of one binding */
layout(std430, set = 0, binding = 0) restrict readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 0) restrict readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 1) restrict readonly buffer W1 { float w1[]; };
layout(std430, set = 0, binding = 2) restrict readonly buffer B1 { float b1[]; };
layout(std430, set = 0, binding = 3) restrict readonly buffer W2 { float w2[]; };
layout(std430, set = 0, binding = 4) restrict readonly buffer B2 { float b2[]; }; /* fc2_b or basis_bias */
layout(std430, set = 0, binding = 5) restrict readonly buffer W3 { float w3[]; }; /* fc3_w (BASIS) */
layout(std430, set = 0, binding = 6) coherent buffer S { float sc[]; };           /* scratch */
layout(std430, set = 0, binding = 7) restrict writeonly buffer A { float alpha[]; };

layout(push_constant) uniform P {
    uint xoff, w1off, b1off, w2off, b2off, w3off, soff, aoff; /* element offsets in the views */
    uint C, hid, nlm, M, nlc, nb, start, rpm;
    uint hw;                      /* spatial size of x */
    uint g_off, h_off, f_off, z_off, d_off; /* scratch sections (floats, per-sample blocks) */
    float scale;                  /* 1 / hw */
    float eps;                    /* LNORM: the LayerNorm's eps */
} pc;

/* make the scratch writes of the phase before visible to the whole workgroup */
void phase_end()
{
    memoryBarrierBuffer();
    barrier();
}

void main()
{
    const uint s = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
    const uint M1 = pc.M + 1;
    const uint g0 = pc.soff + pc.g_off + s * pc.C, h0 = pc.soff + pc.h_off + s * pc.hid;
    const uint f0 = pc.soff + pc.f_off + s * pc.nlm * pc.rpm;
    const uint z0 = pc.soff + pc.z_off + s * pc.nlm * M1, d0 = pc.soff + pc.d_off + s * pc.nlm;

    /* 1. global average pool */
    for (uint c = lid; c < pc.C; c += LS) {
        uint base = pc.xoff + (s * pc.C + c) * pc.hw;
        float acc = 0.0;
        if (VEC4 != 0) {
            vec4 a4 = vec4(0.0);
            for (uint q = base / 4, e = q + pc.hw / 4; q < e; q++) a4 += x4[q];
            acc = (a4.x + a4.y) + (a4.z + a4.w);
        } else {
            for (uint p = 0; p < pc.hw; p++) acc += x[base + p];
        }
        sc[g0 + c] = acc * pc.scale;
    }
    phase_end();

    /* 2. fc1 (BatchNorm folded) + ReLU, or fc1 + LayerNorm + ReLU */
    for (uint r = lid; r < pc.hid; r += LS) {
        uint wb = pc.w1off + r * pc.C;
        float acc = 0.0;
        for (uint c = 0; c < pc.C; c++) acc += w1[wb + c] * sc[g0 + c];
        sc[h0 + r] = LNORM != 0 ? acc + b1[pc.b1off + r] : max(acc + b1[pc.b1off + r], 0.0);
    }
    phase_end();
    if (LNORM != 0) {
        float sum = 0.0;
        for (uint r = 0; r < pc.hid; r++) sum += sc[h0 + r];
        const float mean = sum / float(pc.hid);
        float sq = 0.0;
        for (uint r = 0; r < pc.hid; r++) {
            const float d = sc[h0 + r] - mean;
            sq += d * d;
        }
        const float rstd = inversesqrt(sq / float(pc.hid) + pc.eps);
        barrier(); /* every invocation has read h before any overwrites it */
        for (uint r = lid; r < pc.hid; r += LS) {
            const float v = (sc[h0 + r] - mean) * rstd;
            sc[h0 + r] = max(v * b1[pc.b1off + pc.hid + r] + b1[pc.b1off + 2u * pc.hid + r], 0.0);
        }
        phase_end();
    }

    /* 3. basis path: fc2 (no bias) -> [local, basis, zero] per mixture row */
    if (BASIS != 0) {
        for (uint i = lid; i < pc.nlm * pc.rpm; i += LS) {
            uint wb = pc.w2off + i * pc.hid;
            float acc = 0.0;
            for (uint k = 0; k < pc.hid; k++) acc += w2[wb + k] * sc[h0 + k];
            sc[f0 + i] = acc;
        }
        phase_end();
    }

    /* 4. the M + 1 logits of every mixture row */
    for (uint i = lid; i < pc.nlm * M1; i += LS) {
        uint m = i / M1, j = i - m * M1;
        float z = 0.0;
        if (BASIS == 0) {
            uint wb = pc.w2off + i * pc.hid;
            for (uint k = 0; k < pc.hid; k++) z += w2[wb + k] * sc[h0 + k];
        } else {
            uint fr = f0 + m * pc.rpm;
            if (j == pc.M) {
                z = sc[fr + pc.nlc + pc.nb];
            } else if (j >= pc.start && j < pc.start + pc.nlc) {
                z = sc[fr + (j - pc.start)];
            } else {
                uint wb = pc.w3off + (j < pc.start ? j : j - pc.nlc) * pc.nb;
                for (uint k = 0; k < pc.nb; k++) z += w3[wb + k] * sc[fr + pc.nlc + k];
            }
        }
        sc[z0 + i] = z + b2[pc.b2off + i];
    }
    phase_end();

    /* 5. normalisation: sum |z| + 1e-3 per row, zero column dropped */
    for (uint m = lid; m < pc.nlm; m += LS) {
        float t = 0.0;
        for (uint j = 0; j < M1; j++) t += abs(sc[z0 + m * M1 + j]);
        sc[d0 + m] = t + 1e-3;
    }
    phase_end();
    for (uint i = lid; i < pc.nlm * pc.M; i += LS) {
        uint m = i / pc.M;
        alpha[pc.aoff + s * pc.nlm * pc.M + i] = sc[z0 + i + m] / sc[d0 + m];
    }
}
