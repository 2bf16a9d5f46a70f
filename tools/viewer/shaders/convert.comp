#version 450
// convert.comp - a source frame (RGB24 or YUYV bytes) to RGBA8 pixels, one per uint.
// YUYV uses BT.601 limited range in integer arithmetic, exactly as vw_yuv_to_rgb.
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 0) readonly buffer Raw { uint raw[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Frame { uint frame[]; };

layout(push_constant) uniform PC {
    uint w, h, stride, fmt; // fmt: 0 RGB24, 1 YUYV
} pc;

uint byte_at(uint i) { return (raw[i >> 2] >> ((i & 3u) * 8u)) & 255u; }

uint clamp_shift(int v) { return v < 0 ? 0u : uint(min(v >> 8, 255)); }

void main()
{
    uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (x >= pc.w || y >= pc.h) return;
    uint r, g, b;
    if (pc.fmt == 0u) {
        uint o = y * pc.stride + x * 3u;
        r = byte_at(o);
        g = byte_at(o + 1u);
        b = byte_at(o + 2u);
    } else {
        uint o = y * pc.stride + (x >> 1) * 4u;
        int Y = int(byte_at(o + ((x & 1u) != 0u ? 2u : 0u))) - 16;
        int U = int(byte_at(o + 1u)) - 128;
        int V = int(byte_at(o + 3u)) - 128;
        r = clamp_shift(298 * Y + 409 * V + 128);
        g = clamp_shift(298 * Y - 100 * U - 208 * V + 128);
        b = clamp_shift(298 * Y + 516 * U + 128);
    }
    frame[y * pc.w + x] = r | (g << 8) | (b << 16) | (255u << 24);
}
