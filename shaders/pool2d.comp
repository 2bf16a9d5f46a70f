// pool2d.comp - max / average pooling (PyTorch semantics: ceil_mode, count_include_pad).
// One invocation per output pixel; x, y along the plane (2D for large planes), z = plane
// (sample x channel).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint KH = 3;
layout(constant_id = 1) const uint KW = 3;
layout(constant_id = 2) const uint MODE = 0; // 0 max, 1 avg excluding padding, 2 avg including padding

layout(std430, set = 0, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { float y[]; };

layout(push_constant) uniform Push {
    uint H, W, OH, OW;
    uint sh, sw, ph, pw;
    uint x_base, y_base;
    uint plane0;   // first plane of this dispatch (grid splitting), relative to the views
    uint groups_x; // workgroups along x
} pc;

void main()
{
    const uint p = (gl_WorkGroupID.y * pc.groups_x + gl_WorkGroupID.x) * 64u + gl_LocalInvocationID.x;
    if (p >= pc.OH * pc.OW) return;
    const uint plane = pc.plane0 + gl_WorkGroupID.z;
    const uint oy = p / pc.OW, ox = p - oy * pc.OW;
    const int y0 = int(oy * pc.sh) - int(pc.ph), x0 = int(ox * pc.sw) - int(pc.pw);
    const uint xb = pc.x_base + plane * pc.H * pc.W;
    float acc = MODE == 0u ? -3.402823466e38 : 0.0;
    uint count = 0;
    [[unroll]] for (uint ky = 0; ky < KH; ky++) {
        const int iy = y0 + int(ky);
        [[unroll]] for (uint kx = 0; kx < KW; kx++) {
            const int ix = x0 + int(kx);
            const bool ok = iy >= 0 && iy < int(pc.H) && ix >= 0 && ix < int(pc.W);
            const float v = x[ok ? xb + uint(iy) * pc.W + uint(ix) : xb];
            if (ok) {
                acc = MODE == 0u ? max(acc, v) : acc + v;
                count++;
            }
        }
    }
    if (MODE == 2u) {
        // the window clipped to the padded input [-pad, size + pad)
        const int y1 = min(y0 + int(KH), int(pc.H + pc.ph)), x1 = min(x0 + int(KW), int(pc.W + pc.pw));
        count = uint((y1 - y0) * (x1 - x0));
    }
    if (MODE != 0u) acc /= float(count);
    y[pc.y_base + plane * pc.OH * pc.OW + p] = acc;
}
