// img_resize_h.comp - the horizontal pass of the model's image preprocessing: each output is
// one column of the centre crop in one row of the rotated frame, resampled with Pillow's
// 8-bit fixed-point filter (weights from the host's table) from pixels converted to RGB8 on
// the fly (img_fetch.glsl), rounded and clipped to 8 bits as Pillow does between its passes.
// Mirrors preprocess_one() in engine/src/image.c; integer arithmetic, so it matches exactly.
#version 450
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, set = 0, binding = 0) readonly buffer Raw { uint raw[]; };
layout(std430, set = 0, binding = 1) readonly buffer Tab { int tab[]; }; // xmin[cw], n[cw], k[cw][kx]
layout(std430, set = 0, binding = 2) writeonly buffer Tmp { uint tmp[]; };

layout(push_constant) uniform Push {
    uint format, sw, sh, stride; // the frame as stored (stride in bytes)
    uint uv_off, uv_stride;      // NV12/NV21 chroma plane, bytes into raw
    uint raw_off;                // the frame's first byte in raw
    uint rotation, full;         // clockwise degrees; full-range YUV
    uint cw;                     // outputs per row (the crop's width)
    uint ylo, rows;              // rows ylo .. ylo + rows - 1 of the rotated frame
    uint tab_off, kx;            // the table in tab, taps per output
    uint tmp_off;                // output: tmp[tmp_off + row * cw + column], RGB8 packed
} pc;

#include "img_fetch.glsl"

void main()
{
    const uint j = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
    if (j >= pc.cw || r >= pc.rows) return;
    const uint xmin = uint(tab[pc.tab_off + j]), n = uint(tab[pc.tab_off + pc.cw + j]);
    const uint kbase = pc.tab_off + 2u * pc.cw + j * pc.kx;
    ivec3 ss = ivec3(1 << 21);
    for (uint q = 0u; q < n; q++) ss += fetch(xmin + q, pc.ylo + r) * tab[kbase + q];
    // Pillow's clip8: >= 255 << 22 -> 255, <= 0 -> 0, else >> 22
    const uvec3 v = uvec3(clamp(ss >> 22, ivec3(0), ivec3(255)));
    tmp[pc.tmp_off + r * pc.cw + j] = v.r | (v.g << 8) | (v.b << 16);
}
