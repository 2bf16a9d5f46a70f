/* vw_pixconv.c - see vw_pixconv.h. */
#include "vw_pixconv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_util.h"

/* ---------------------------------------------------------------------------------------- */
/* YUYV                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static uint8_t clamp_shift(int v)
{
    /* clamp before the shift, so that no negative value is shifted (the shader does the same) */
    if (v < 0) return 0;
    v >>= 8;
    return (uint8_t)(v > 255 ? 255 : v);
}

void vw_yuv_to_rgb(int y, int u, int v, uint8_t rgb[3])
{
    int c = y - 16, d = u - 128, e = v - 128;
    rgb[0] = clamp_shift(298 * c + 409 * e + 128);
    rgb[1] = clamp_shift(298 * c - 100 * d - 208 * e + 128);
    rgb[2] = clamp_shift(298 * c + 516 * d + 128);
}

void vw_yuyv_to_rgb24(const uint8_t *src, int w, int h, size_t stride, uint8_t *rgb)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *line = src + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            const uint8_t *pair = line + (size_t)(x / 2) * 4;
            vw_yuv_to_rgb(pair[(x & 1) ? 2 : 0], pair[1], pair[3], rgb + ((size_t)y * w + x) * 3);
        }
    }
}

static void rgb_to_yuv(const uint8_t *p, int *y, int *u, int *v)
{
    int r = p[0], g = p[1], b = p[2];
    *y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    *u = (-38 * r - 74 * g + 112 * b + 32896) >> 8; /* +128 offset folded in: never negative */
    *v = (112 * r - 94 * g - 18 * b + 32896) >> 8;
}

void vw_rgb24_to_yuyv(const uint8_t *rgb, int w, int h, size_t stride, uint8_t *dst)
{
    for (int y = 0; y < h; y++) {
        uint8_t *line = dst + (size_t)y * stride;
        for (int x = 0; x < w; x += 2) {
            int y0, u0, v0, y1, u1, v1;
            const uint8_t *p0 = rgb + ((size_t)y * w + x) * 3;
            rgb_to_yuv(p0, &y0, &u0, &v0);
            if (x + 1 < w) rgb_to_yuv(p0 + 3, &y1, &u1, &v1);
            else y1 = y0, u1 = u0, v1 = v0;
            uint8_t *q = line + (size_t)(x / 2) * 4;
            q[0] = (uint8_t)y0;
            q[1] = (uint8_t)((u0 + u1 + 1) / 2);
            q[2] = (uint8_t)y1;
            q[3] = (uint8_t)((v0 + v1 + 1) / 2);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* MJPEG                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* The Huffman tables of JPEG Annex K.3 (ITU-T T.81), which a DHT-less MJPEG frame implies
 * (USB Video Class MJPEG payload specification): 16 code-length counts, then the symbols. */
static const uint8_t DC_LUMA[16 + 12] = {0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0,
                                         0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t DC_CHROMA[16 + 12] = {0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
                                           0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t AC_LUMA[16 + 162] = {
    0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d,
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa};
static const uint8_t AC_CHROMA[16 + 162] = {
    0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77,
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa};

/* Walk the marker segments up to the first scan. Returns the offset of the SOS marker (or
 * 0 if the stream is malformed) and whether a DHT came before it. */
static size_t find_sos(const uint8_t *d, size_t n, int *has_dht)
{
    *has_dht = 0;
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 0;
    size_t p = 2;
    while (p + 4 <= n) {
        if (d[p] != 0xFF) return 0;
        uint8_t m = d[p + 1];
        if (m == 0xFF) { /* fill byte */
            p++;
            continue;
        }
        if (m == 0xDA) return p;
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* no length */
            p += 2;
            continue;
        }
        if (m == 0xD9) return 0; /* EOI before any scan */
        size_t len = ((size_t)d[p + 2] << 8) | d[p + 3];
        if (len < 2 || p + 2 + len > n) return 0;
        if (m == 0xC4) *has_dht = 1;
        p += 2 + len;
    }
    return 0;
}

int vw_jpeg_has_dht(const uint8_t *data, size_t size)
{
    int has = 0;
    find_sos(data, size, &has);
    return has;
}

uint8_t *vw_mjpeg_fix(const uint8_t *data, size_t size, size_t *out_size)
{
    int has_dht;
    size_t sos = find_sos(data, size, &has_dht);
    if (!sos) return NULL;
    const struct {
        uint8_t tc_th;
        const uint8_t *t;
        size_t n;
    } tables[4] = {{0x00, DC_LUMA, sizeof DC_LUMA},
                   {0x10, AC_LUMA, sizeof AC_LUMA},
                   {0x01, DC_CHROMA, sizeof DC_CHROMA},
                   {0x11, AC_CHROMA, sizeof AC_CHROMA}};
    size_t seg = 0;
    if (!has_dht) {
        seg = 4;
        for (int i = 0; i < 4; i++) seg += 1 + tables[i].n;
    }
    uint8_t *out = malloc(size + seg);
    if (!out) return NULL;
    memcpy(out, data, sos);
    size_t p = sos;
    if (!has_dht) {
        out[p++] = 0xFF;
        out[p++] = 0xC4;
        out[p++] = (uint8_t)((seg - 2) >> 8);
        out[p++] = (uint8_t)((seg - 2) & 0xFF);
        for (int i = 0; i < 4; i++) {
            out[p++] = tables[i].tc_th;
            memcpy(out + p, tables[i].t, tables[i].n);
            p += tables[i].n;
        }
    }
    memcpy(out + p, data + sos, size - sos);
    *out_size = size + seg;
    return out;
}

uint8_t *vw_mjpeg_decode(const uint8_t *data, size_t size, int *w, int *h, const char **err)
{
    if (size > 0x7fffffff) {
        *err = "MJPEG frame too large";
        return NULL;
    }
    size_t n = 0;
    uint8_t *fixed = vw_mjpeg_fix(data, size, &n);
    if (!fixed) {
        *err = "malformed MJPEG frame (no JPEG markers before the scan)";
        return NULL;
    }
    uint8_t *rgb = tu_decode_rgb8(fixed, n, w, h, err); /* checked decode (tools/common) */
    free(fixed);
    return rgb; /* stb_image allocates with malloc (tool_util.c does not redefine STBI_MALLOC) */
}

/* ---------------------------------------------------------------------------------------- */
/* Camera modes                                                                             */
/* ---------------------------------------------------------------------------------------- */

const char *vw_fourcc_str(uint32_t f, char buf[8])
{
    for (int i = 0; i < 4; i++) {
        char c = (char)((f >> (8 * i)) & 0xFF);
        buf[i] = (c >= 32 && c < 127) ? c : '?';
    }
    buf[4] = 0;
    return buf;
}

int vw_cam_choose(const vw_cam_mode *modes, int n, int want_w, int want_h, uint32_t only_fourcc, vw_cam_mode *out,
                  char *err, size_t err_len)
{
    int best = -1;
    long long best_d = 0;
    int best_rank = 0;
    for (int i = 0; i < n; i++) {
        uint32_t f = modes[i].fourcc;
        if (f != VW_FOURCC_YUYV && f != VW_FOURCC_MJPG) continue;
        if (only_fourcc && f != only_fourcc) continue;
        if (modes[i].w < 1 || modes[i].h < 1) continue;
        long long d = llabs((long long)modes[i].w - want_w) + llabs((long long)modes[i].h - want_h);
        int big = (long long)modes[i].w * modes[i].h > 640 * 480;
        int rank = (f == VW_FOURCC_YUYV) == !big ? 0 : 1; /* 0 = the preferred format at this size */
        if (best < 0 || d < best_d || (d == best_d && rank < best_rank)) {
            best = i;
            best_d = d;
            best_rank = rank;
        }
    }
    if (best >= 0) {
        *out = modes[best];
        return 0;
    }
    /* name what the camera offers */
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; i < n && len + 8 < sizeof list; i++) {
        char b[8];
        vw_fourcc_str(modes[i].fourcc, b);
        if (strstr(list, b)) continue;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", b);
    }
    char want[8] = "";
    if (only_fourcc) vw_fourcc_str(only_fourcc, want);
    snprintf(err, err_len, "unsupported pixel format: the camera offers %s; the viewer reads %s",
             list[0] ? list : "no formats", only_fourcc ? want : "YUYV or MJPG");
    return -1;
}
