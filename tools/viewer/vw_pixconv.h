/* vw_pixconv.h - camera pixel formats on the CPU: the YUYV reference conversion (the GPU
 * shader does the same integer arithmetic), MJPEG decoding (stb_image, with the standard
 * Huffman tables put back into the DHT-less frames many UVC cameras send), and the choice
 * among the modes a camera offers. No V4L2 headers here: this part is unit tested on
 * recorded buffers. */
#ifndef VW_PIXCONV_H
#define VW_PIXCONV_H

#include <stddef.h>
#include <stdint.h>

/* Formats of the frames the sources hand to the GPU (the values are the shader's). */
typedef enum vw_pixfmt {
    VW_PIX_RGB24 = 0, /* R, G, B bytes */
    VW_PIX_YUYV = 1,  /* Y0 U Y1 V per two pixels (V4L2_PIX_FMT_YUYV), BT.601 limited range */
} vw_pixfmt;

#define VW_FOURCC(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define VW_FOURCC_YUYV VW_FOURCC('Y', 'U', 'Y', 'V')
#define VW_FOURCC_MJPG VW_FOURCC('M', 'J', 'P', 'G')

/* BT.601 limited range, integer: one pixel. */
void vw_yuv_to_rgb(int y, int u, int v, uint8_t rgb[3]);
/* A whole YUYV frame (w even or odd: the last odd pixel uses its pair's chroma) to RGB24.
 * `stride` is the byte length of one source line (>= 2 * w rounded up to even pixels). */
void vw_yuyv_to_rgb24(const uint8_t *src, int w, int h, size_t stride, uint8_t *rgb);
/* RGB24 to YUYV (BT.601 limited range; chroma averaged over the pixel pair): for the test
 * pattern and test data. `stride` as above. */
void vw_rgb24_to_yuyv(const uint8_t *rgb, int w, int h, size_t stride, uint8_t *dst);

/* Whether a JPEG stream defines its own Huffman tables before the first scan. */
int vw_jpeg_has_dht(const uint8_t *data, size_t size);
/* A copy of an MJPEG frame with the standard tables (JPEG Annex K.3) inserted before the
 * first scan when it has none (malloc'd; *out_size set). NULL if the stream is malformed. */
uint8_t *vw_mjpeg_fix(const uint8_t *data, size_t size, size_t *out_size);
/* Decode an MJPEG frame (with or without DHT) to RGB24 (malloc'd, free() it).
 * NULL with *err set on failure. */
uint8_t *vw_mjpeg_decode(const uint8_t *data, size_t size, int *w, int *h, const char **err);

/* A mode a camera offers (pixel format and frame size). */
typedef struct vw_cam_mode {
    uint32_t fourcc;
    int w, h;
} vw_cam_mode;

/* Pick the mode to ask for: only YUYV and MJPEG count (`only_fourcc` != 0 restricts to
 * one); the size closest to want_w x want_h wins; between the two formats at one size,
 * YUYV up to 640x480 (no decoding), MJPEG above (USB bandwidth). Returns 0, or -1 with a
 * message naming the formats the camera has. */
int vw_cam_choose(const vw_cam_mode *modes, int n, int want_w, int want_h, uint32_t only_fourcc,
                  vw_cam_mode *out, char *err, size_t err_len);
/* "YUYV", "MJPG", ... (printable fourcc; buf >= 5 bytes). */
const char *vw_fourcc_str(uint32_t fourcc, char buf[8]);

#endif
