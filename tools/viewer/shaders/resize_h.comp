#version 450
// resize_h.comp - the horizontal pass of Pillow-style bilinear resampling (a triangle
// filter widened by the downscale factor), only for the columns the centre crop keeps.
// Each output is rounded to 8 bits as Pillow does between its two passes.
// Table at `off`: xmin[out_w], n[out_w], then out_w rows of `ksize` weights (float bits).
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 1) readonly buffer Frame { uint frame[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Tmp { uint tmp[]; };
layout(std430, set = 0, binding = 3) readonly buffer Weights { uint tbl[]; };

layout(push_constant) uniform PC {
    uint src_w, src_h, out_w, off, ksize;
} pc;

void main()
{
    uint j = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (j >= pc.out_w || y >= pc.src_h) return;
    uint xmin = tbl[pc.off + j], n = tbl[pc.off + pc.out_w + j];
    uint wbase = pc.off + 2u * pc.out_w + j * pc.ksize;
    precise vec3 acc = vec3(0.0);
    for (uint k = 0u; k < n; k++) {
        uint p = frame[y * pc.src_w + xmin + k];
        precise vec3 px = vec3(float(p & 255u), float((p >> 8) & 255u), float((p >> 16) & 255u));
        acc += uintBitsToFloat(tbl[wbase + k]) * px;
    }
    uvec3 q = uvec3(clamp(floor(acc + 0.5), 0.0, 255.0));
    tmp[y * pc.out_w + j] = q.r | (q.g << 8) | (q.b << 16);
}
