#version 450
// resize_v.comp - the vertical pass (rows the crop keeps), rounded to 8 bits, then grey
// (0.299 R + 0.587 G + 0.114 B, rounded) for 1-channel models and (x/255 - mean) / std,
// written as float32 NCHW into the network's input buffer. Mirrors tu_preprocess_rgb8.
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 2) readonly buffer Tmp { uint tmp[]; };
layout(std430, set = 0, binding = 3) readonly buffer Weights { uint tbl[]; };
layout(std430, set = 0, binding = 4) writeonly buffer NetIn { float net_in[]; };

layout(push_constant) uniform PC {
    uint cw, ch, channels, off, ksize;
    float mean[4];
    float std_[4];
} pc;

void main()
{
    uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (x >= pc.cw || y >= pc.ch) return;
    uint ymin = tbl[pc.off + y], n = tbl[pc.off + pc.ch + y];
    uint wbase = pc.off + 2u * pc.ch + y * pc.ksize;
    precise vec3 acc = vec3(0.0);
    for (uint k = 0u; k < n; k++) {
        uint p = tmp[(ymin + k) * pc.cw + x];
        precise vec3 px = vec3(float(p & 255u), float((p >> 8) & 255u), float((p >> 16) & 255u));
        acc += uintBitsToFloat(tbl[wbase + k]) * px;
    }
    precise vec3 rgb = clamp(floor(acc + 0.5), 0.0, 255.0);
    uint plane = pc.cw * pc.ch;
    for (uint c = 0u; c < pc.channels; c++) {
        precise float v;
        if (pc.channels == 1u) v = floor(0.299 * rgb.r + 0.587 * rgb.g + 0.114 * rgb.b + 0.5);
        else v = rgb[min(c, 2u)];
        net_in[c * plane + y * pc.cw + x] = (v / 255.0 - pc.mean[c]) / pc.std_[c];
    }
}
