/* tool_util.h - small helpers shared by the command-line tools (not part of the library). */
#ifndef KWVK_TOOL_UTIL_H
#define KWVK_TOOL_UTIL_H

#include "kwvk.h"

#include <stddef.h>
#include <stdint.h>

/* Print "tool: message" to stderr and exit(1). Tools, unlike the library, may exit. */
void tu_die(const char *tool, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;
/* Exit with a message if r != KWVK_OK. */
void tu_check(const char *tool, kwvk_result r, const char *what);
/* Read a whole file (malloc'd); NULL + errno on failure. */
void *tu_read_file(const char *path, size_t *size);
/* Read a whole file, decompressing it when it is gzip (RFC 1952: header parsed here, the
 * deflate data inflated by stb_image's zlib decoder, CRC-32 and length checked). Returns
 * malloc'd bytes, or NULL with *err set. */
void *tu_read_file_gunzip(const char *path, size_t *size, const char **err);
/* Parse "N,C,H,W" (or "C,H,W" with n = 1). */
int tu_parse_shape(const char *s, uint32_t shape[4]);
double tu_now_ms(void);
/* Path of the default model shipped with kwvk: $KWVK_MODEL, else the source tree's
 * models/fmnist_kw1x.kwvk, else the installed copy. */
const char *tu_default_model(void);

/* Decode an image file (JPEG/PNG/BMP/... via stb_image) into float32 [c, h, w] with the
 * model's preprocessing (the library's kwvk_preprocess_images: shorter side to resize_short
 * with the model's interpolation, centre crop, grey for 1-channel models, (x/255 - mean)/std).
 * Returns 0 or -1 with *err set. */
int tu_load_image(const char *path, const kwvk_model *model, float *out, const char **err);
/* The preprocessing geometry of a w x h image for a model (the viewer's GPU copy of the
 * preprocessing plans with it): size after the resize (ow, oh),
 * crop size (cw, ch) and crop origin (x0, y0; torchvision's rounding). Returns 0, or -1 with
 * *err set when the crop does not fit or the resized image would be unreasonably large. */
typedef struct tu_geometry {
    int ow, oh, cw, ch, x0, y0;
} tu_geometry;
int tu_resize_geometry(int w, int h, const kwvk_model_info *info, tu_geometry *g, const char **err);
/* Decode an image held in memory to RGB8 (stb_image), refusing files that would corrupt
 * memory in Debian's stb_image or that declare more than 2^25 pixels. Free with
 * tu_free_rgb8. NULL + *err on failure. */
uint8_t *tu_decode_rgb8(const uint8_t *data, size_t size, int *w, int *h, const char **err);
void tu_free_rgb8(uint8_t *rgb);
/* Same from RGB8 pixels in memory (kwvk_preprocess_images on an RGB8 frame; used by the
 * viewer's test and the fuzzer). */
int tu_preprocess_rgb8(const uint8_t *rgb, int w, int h, const kwvk_model *model, float *out, const char **err);
/* Index of the k largest values (k <= 16). */
void tu_topk(const float *v, uint32_t n, uint32_t k, uint32_t *idx);
void tu_softmax(const float *v, uint32_t n, float *out);

#endif
