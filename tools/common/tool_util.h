/* tool_util.h - small helpers shared by the command-line tools (not part of the library). */
#ifndef KWVK_TOOL_UTIL_H
#define KWVK_TOOL_UTIL_H

#include "kwvk.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* Print "tool: message" to stderr and exit(1). Tools, unlike the library, may exit. */
void tu_die(const char *tool, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;
/* A mistake on the command line: print "tool: message (see --help)" and exit(2). */
void tu_usage_error(const char *tool, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;
/* The value of option argv[*i] (argv[*i + 1]; *i is advanced past it). A missing value, or
 * one that is itself an option ("--model --json"), is a usage error. */
const char *tu_arg_value(const char *tool, int argc, char **argv, int *i);
/* `s` as a decimal integer in lo..hi for option `opt`; anything else ("abc", "12x", "",
 * out of range) is a usage error that says what was expected. */
long tu_arg_long(const char *tool, const char *opt, const char *s, long lo, long hi);
/* "TOOL (kwvk X.Y.Z)" on stdout, for --version. */
void tu_print_version(const char *tool);
/* Is stderr a terminal (progress lines are drawn in place there)? */
int tu_stderr_is_tty(void);
/* Exit with a message if r != KWVK_OK. */
void tu_check(const char *tool, kwvk_result r, const char *what);
/* Read a whole file (malloc'd); NULL + errno on failure. */
void *tu_read_file(const char *path, size_t *size);
/* Read a whole file, decompressing it when it is gzip (RFC 1952: header parsed here, the
 * deflate data inflated by stb_image's zlib decoder, CRC-32 and length checked). Returns
 * malloc'd bytes, or NULL with *err set. */
void *tu_read_file_gunzip(const char *path, size_t *size, const char **err);
/* Parse "N,C,H,W": exactly four positive integers (at most 1,000,000 each) separated by
 * commas. Returns 0, or -1 with *err saying what is wrong. */
int tu_parse_shape(const char *s, uint32_t shape[4], const char **err);
double tu_now_ms(void);
/* After kwvk_net_prepare, before the first run: on a device without a pipeline cache yet,
 * print "TOOL: first run on DEVICE: compiling N GPU programs; later runs reuse them" to
 * stderr. Returns 1 when it did (the first run's time then includes compilation). */
int tu_first_run_notice(const char *tool, const kwvk_net *net, const kwvk_context *ctx);
/* Print a model's metadata (kwvk-run --info). */
void tu_print_model_info(FILE *f, const char *path, const kwvk_model *model);
/* Path of the default model shipped with kwvk: $KWVK_MODEL, else the source tree's
 * models/fmnist_kw1x.kwvk, else the installed copy. */
const char *tu_default_model(void);

/* Image size limits. Images are decoded whole up to TU_MAX_IMAGE_PIXELS (a 48-50 MP phone
 * photo fits). Larger baseline JPEGs and non-interlaced PNGs, up to TU_MAX_SCALED_PIXELS, are
 * decoded scaled down while decoding (JPEG: libjpeg's DCT scaling; PNG: row by row by libpng,
 * box-filtered by an integer factor; each when the tools are built with that library) to the
 * least size the model's preprocessing needs; other images above the first limit are refused. */
#ifndef TU_MAX_IMAGE_PIXELS /* the libFuzzer build lowers it (tests/fuzz/CMakeLists.txt) */
#define TU_MAX_IMAGE_PIXELS (1u << 26)     /* 67.1 million */
#endif
#define TU_MAX_SCALED_PIXELS 200000000u    /* 200 million */
#define TU_MAX_JPEG_PIXELS TU_MAX_SCALED_PIXELS
/* 1 when JPEGs are decoded by libjpeg (huge ones scaled down), 0 when by stb_image. */
int tu_have_libjpeg(void);
/* 1 when PNGs above TU_MAX_IMAGE_PIXELS are decoded scaled down by libpng, 0 when refused. */
int tu_have_libpng(void);

/* Decode an image file (JPEG via libjpeg when built with it, else stb_image; PNG/BMP/GIF/...
 * via stb_image; a JPEG above TU_MAX_IMAGE_PIXELS scaled down while decoding, see
 * tu_decode_rgb8_scaled) into float32 [c, h, w] with the model's preprocessing (the library's
 * kwvk_preprocess_images: shorter side to resize_short with the model's interpolation,
 * centre crop, grey for 1-channel models, (x/255 - mean)/std). Returns 0 or -1 with *err set
 * (valid until the next call). */
int tu_load_image(const char *path, const kwvk_model *model, float *out, const char **err);
/* The preprocessing geometry of a w x h image for a model: size after the resize (ow, oh),
 * crop size (cw, ch) and crop origin (x0, y0; torchvision's rounding). Returns 0, or -1 with
 * *err set when the crop does not fit or the resized image would be unreasonably large. */
typedef struct tu_geometry {
    int ow, oh, cw, ch, x0, y0;
} tu_geometry;
int tu_resize_geometry(int w, int h, const kwvk_model_info *info, tu_geometry *g, const char **err);
/* Decode an image held in memory to RGB8 at full resolution, refusing files that would
 * corrupt memory in Debian's stb_image or that have more than TU_MAX_IMAGE_PIXELS pixels.
 * Free with tu_free_rgb8. NULL + *err on failure. */
uint8_t *tu_decode_rgb8(const uint8_t *data, size_t size, int *w, int *h, const char **err);
/* The same for a caller that needs a shorter side of at least `min_short` pixels (0: never
 * scaled). Images within TU_MAX_IMAGE_PIXELS are always decoded at full resolution. Above it,
 * up to TU_MAX_SCALED_PIXELS: a baseline JPEG is decoded scaled down by 1/8 .. 7/8, the
 * smallest scale whose shorter side is still >= min_short; a non-interlaced PNG by 1/s, s the
 * largest integer (at least 2) whose shorter side (rounded down) is still >= min_short, with
 * tu_decode_png_box (memory: the scaled image plus one row and one row of sums). */
uint8_t *tu_decode_rgb8_scaled(const uint8_t *data, size_t size, int min_short, int *w, int *h, const char **err);
/* Decode a PNG held in memory with libpng, row by row, to RGB8 at 1/s scale: each output pixel
 * is the rounded mean of an s x s block (the last width % s columns and height % s rows are
 * dropped); s = 1 gives what tu_decode_rgb8 gives (stb_image's conversions: 16-bit samples
 * keep their high byte, grey replicated, palette looked up, alpha dropped, no gamma). Refuses
 * interlaced PNGs, and any output above TU_MAX_IMAGE_PIXELS (no other size limit:
 * callers check). Without libpng it always fails. Free with tu_free_rgb8. */
uint8_t *tu_decode_png_box(const uint8_t *data, size_t size, int s, int *w, int *h, const char **err);
/* The shorter side tu_load_image asks the decoder for: twice the model's resize target. */
int tu_min_decode_side(const kwvk_model_info *info);
void tu_free_rgb8(uint8_t *rgb);
/* Same from RGB8 pixels in memory (kwvk_preprocess_images on an RGB8 frame; used by the
 * fuzzer). */
int tu_preprocess_rgb8(const uint8_t *rgb, int w, int h, const kwvk_model *model, float *out, const char **err);
/* Index of the k largest values (k <= 16). */
/* Write `s` as a JSON string literal: quotes, backslashes and control bytes escaped; bytes that
 * are not valid UTF-8 (a file name is just bytes) become U+FFFD, so every line stays JSON. */
void tu_json_str(FILE *f, const char *s);
/* Does `name` end in an image extension the decoders read (.jpg, .png, ..., any case)? */
int tu_is_image_name(const char *name);
void tu_topk(const float *v, uint32_t n, uint32_t k, uint32_t *idx);
void tu_softmax(const float *v, uint32_t n, float *out);

#endif
