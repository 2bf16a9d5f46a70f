/* kw.glsl - helpers shared by the KernelWarehouse shaders (kw_*.comp).
 *
 * The including shader declares, before including this file:
 *   layout(constant_id = 0) const uint LS = 64;            workgroup size (a power of two)
 *   layout(constant_id = 1) const uint USE_SUBGROUP = 0;   1: reduce with subgroupAdd
 * and enables GL_KHR_shader_subgroup_basic / GL_KHR_shader_subgroup_arithmetic unless
 * KW_NO_SUBGROUP is defined (the build compiles such shaders a second time that way, as
 * <name>_nosg, so that devices without subgroup arithmetic never see the capability). */

shared vec4 kw_red[LS];

/* Sum of `v` over the workgroup, returned to every invocation. Call in uniform control flow.
 * Four independent sums at once (one per sample of a block of up to four). */
vec4 kw_wg_sum(vec4 v)
{
#ifndef KW_NO_SUBGROUP
    if (USE_SUBGROUP != 0) {
        v = subgroupAdd(v);
        if (subgroupElect()) kw_red[gl_SubgroupID] = v;
        barrier();
        vec4 t = vec4(0.0);
        for (uint i = 0; i < gl_NumSubgroups; i++) t += kw_red[i];
        barrier();
        return t;
    }
#endif
    uint lid = gl_LocalInvocationID.x;
    kw_red[lid] = v;
    barrier();
    for (uint s = LS / 2; s > 0; s >>= 1) {
        if (lid < s) kw_red[lid] += kw_red[lid + s];
        barrier();
    }
    vec4 t = kw_red[0];
    barrier();
    return t;
}
