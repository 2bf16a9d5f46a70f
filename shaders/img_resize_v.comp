// img_resize_v.comp - the vertical pass of the model's image preprocessing (the crop's rows,
// Pillow's 8-bit fixed-point filter over the rows img_resize_h.comp wrote), then grey
// (Pillow's "L": (19595 R + 38470 G + 7471 B + 32768) >> 16) for 1-channel models and
// (x / 255 - mean) / std, written as float32 NCHW: the net's input. Mirrors
// preprocess_one() in engine/src/image.c.
#version 450

layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, set = 0, binding = 0) readonly buffer Tmp { uint tmp[]; };
layout(std430, set = 0, binding = 1) readonly buffer Tab { int tab[]; }; // ymin[ch], n[ch], k[ch][ky]
layout(std430, set = 0, binding = 2) writeonly buffer Out { float outp[]; };

layout(push_constant) uniform Push {
    uint cw, ch, channels;
    uint tab_off, ky;
    uint tmp_off;  // tmp row 0 is the frame's row ylo (the table's ymin are relative to it)
    uint out_off;  // first float of this image in outp
    uint pad;
    vec4 mean, std_;
} pc;

void main()
{
    const uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (x >= pc.cw || y >= pc.ch) return;
    const uint ymin = uint(tab[pc.tab_off + y]), n = uint(tab[pc.tab_off + pc.ch + y]);
    const uint kbase = pc.tab_off + 2u * pc.ch + y * pc.ky;
    ivec3 ss = ivec3(1 << 21);
    for (uint q = 0u; q < n; q++) {
        const uint p = tmp[pc.tmp_off + (ymin + q) * pc.cw + x];
        ss += ivec3(int(p & 255u), int((p >> 8) & 255u), int((p >> 16) & 255u)) * tab[kbase + q];
    }
    const uvec3 rgb = uvec3(clamp(ss >> 22, ivec3(0), ivec3(255)));
    const uint plane = pc.cw * pc.ch;
    for (uint c = 0u; c < pc.channels; c++) {
        uint v;
        if (pc.channels == 1u) v = (rgb.r * 19595u + rgb.g * 38470u + rgb.b * 7471u + 32768u) >> 16;
        else v = rgb[min(c, 2u)];
        outp[pc.out_off + c * plane + y * pc.cw + x] = (float(v) / 255.0 - pc.mean[c]) / pc.std_[c];
    }
}
