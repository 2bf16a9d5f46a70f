// img_fetch.glsl - one RGB8 pixel of a rotated camera/window frame held as raw bytes in
// `raw` (RGBA8, BGRA8, RGB8, GRAY8, NV12, NV21, YUYV), BT.601 in integers: the same
// arithmetic as fetch() and yuv_to_rgb() in engine/src/image.c. Needs `raw` (uint words)
// and the push constants of img_resize_h.comp.

uint byte_at(uint i) { return (raw[i >> 2] >> ((i & 3u) * 8u)) & 255u; }

uint clamp_shift(int v) { return v < 0 ? 0u : uint(min(v >> 8, 255)); }

ivec3 yuv_to_rgb(int y, int u, int v)
{
    u -= 128;
    v -= 128;
    if (pc.full != 0u) {
        y *= 256;
        return ivec3(clamp_shift(y + 359 * v + 128), clamp_shift(y - 88 * u - 183 * v + 128),
                     clamp_shift(y + 454 * u + 128));
    }
    y = 298 * (y - 16);
    return ivec3(clamp_shift(y + 409 * v + 128), clamp_shift(y - 100 * u - 208 * v + 128),
                 clamp_shift(y + 516 * u + 128));
}

// formats: 1 RGBA8, 2 BGRA8, 3 RGB8, 4 GRAY8, 5 NV12, 6 NV21, 7 YUYV (kwvk_pixel_format)
ivec3 fetch(uint x, uint y)
{
    uint sx = x, sy = y;
    if (pc.rotation == 90u) {
        sx = y;
        sy = pc.sh - 1u - x;
    } else if (pc.rotation == 180u) {
        sx = pc.sw - 1u - x;
        sy = pc.sh - 1u - y;
    } else if (pc.rotation == 270u) {
        sx = pc.sw - 1u - y;
        sy = x;
    }
    const uint row = pc.raw_off + sy * pc.stride;
    const uint f = pc.format;
    if (f == 1u || f == 3u) {
        const uint o = row + sx * (f == 3u ? 3u : 4u);
        return ivec3(byte_at(o), byte_at(o + 1u), byte_at(o + 2u));
    }
    if (f == 2u) {
        const uint o = row + sx * 4u;
        return ivec3(byte_at(o + 2u), byte_at(o + 1u), byte_at(o));
    }
    if (f == 4u) return ivec3(int(byte_at(row + sx)));
    if (f == 7u) {
        const uint o = row + (sx >> 1) * 4u;
        return yuv_to_rgb(int(byte_at(o + ((sx & 1u) != 0u ? 2u : 0u))), int(byte_at(o + 1u)), int(byte_at(o + 3u)));
    }
    const uint c = pc.uv_off + (sy >> 1) * pc.uv_stride + (sx >> 1) * 2u;
    const int c0 = int(byte_at(c)), c1 = int(byte_at(c + 1u));
    const int luma = int(byte_at(row + sx));
    return f == 5u ? yuv_to_rgb(luma, c0, c1) : yuv_to_rgb(luma, c1, c0);
}
