/* test_image - image input, non-blocking runs and result helpers of kwvk.h.
 *
 *   known     the CPU reference (kwvk_preprocess_images) on frames with known content:
 *             a constant colour gives (v/255 - mean)/std exactly; a frame of the model's
 *             input size without resize gives its pixels; a resize to the same size plus a
 *             crop gives the pixels at torchvision's crop offset; RGBA8, BGRA8 and RGB8 of
 *             one picture, and GRAY8 of a grey one, agree exactly; rotation r of a frame equals
 *             the frame rotated by hand; NV12, NV21 and YUYV frames built from RGB (2x2 blocks
 *             of one colour, both YUV ranges) match the RGB frame within the 8-bit rounding;
 *   gpu       every pixel format x every rotation x odd sizes and odd strides, through
 *             kwvk_net_run_images on an identity network (a 1x1 conv with identity weights,
 *             so the output is the GPU's preprocessed input) for bilinear and bicubic models
 *             with 3 and 1 channels, shrinking and enlarging, against the CPU reference
 *             (tolerance 1/255 of the normalised range); the same through jobs;
 *   fmnist    a Fashion-MNIST test image (models/samples) as RGBA and as NV21 through the
 *             shipped model: same label, logits within 1e-4 of the float path (CPU
 *             preprocessing + kwvk_net_run);
 *   jobs      two jobs in flight on one net give kwvk_net_run's logits; a third is refused
 *             with KWVK_ERROR_BUSY; wait with a zero time-out; output copied twice;
 *   errors    bad frames, sizes, counts and arguments give clear errors;
 *   topk      kwvk_top_k on known logits: order, ties, softmax, labels.
 * Usage: test_image [SECTION...]   (default: all) */
#include "th.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KWVK_SOURCE_DIR
#define KWVK_SOURCE_DIR "."
#endif

static const uint32_t formats[] = {KWVK_PIXEL_RGBA8, KWVK_PIXEL_BGRA8, KWVK_PIXEL_RGB8, KWVK_PIXEL_GRAY8,
                                   KWVK_PIXEL_NV12,  KWVK_PIXEL_NV21,  KWVK_PIXEL_YUYV};
static const char *format_names[] = {"?", "RGBA8", "BGRA8", "RGB8", "GRAY8", "NV12", "NV21", "YUYV"};
static const uint32_t rotations[] = {0, 90, 180, 270};

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* An identity network: a 1x1 conv with identity weights, so the output is the input. */
static kwvk_model *identity_model(uint32_t c, uint32_t h, uint32_t w, uint32_t resize_short, uint32_t crop,
                                  uint32_t interp)
{
    mw_model m;
    mw_identity(&m, c, h, w);
    m.resize_short = resize_short;
    m.crop = crop;
    m.interpolation = interp;
    for (uint32_t i = 0; i < c; i++) {
        m.mean[i] = 0.25f + 0.125f * (float)i;
        m.std[i] = 0.5f - 0.0625f * (float)i;
    }
    kwvk_model *model = th_model(&m);
    mw_free(&m);
    return model;
}

/* ---------------------------------------------------------------------------------------- */
/* Frames                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A picture: RGB8, w x h, smooth gradients plus noise (or one grey channel), optionally
 * constant over 2x2 blocks (so that 4:2:0 chroma loses nothing). */
static uint8_t *picture(uint32_t w, uint32_t h, int grey, int blocks)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p) exit(1);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t bx = blocks ? x / 2 : x, by = blocks ? y / 2 : y;
            uint32_t seed = (bx * 73856093u) ^ (by * 19349663u);
            for (int c = 0; c < 3; c++) {
                int v = (int)(128 + 90 * sin(bx * 0.37 + c * 1.1) * cos(by * 0.23 - c * 0.7)) +
                        (int)((seed >> (c * 5)) % 31) - 15;
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
            if (grey) p[((size_t)y * w + x) * 3 + 1] = p[((size_t)y * w + x) * 3 + 2] = p[((size_t)y * w + x) * 3];
        }
    return p;
}

/* BT.601 RGB -> YUV (the inverse of what the library decodes), rounded. */
static void rgb_to_yuv(const uint8_t *rgb, int full, uint8_t yuv[3])
{
    double r = rgb[0], g = rgb[1], b = rgb[2];
    double y = 0.299 * r + 0.587 * g + 0.114 * b;
    double u = (b - y) / 1.772, v = (r - y) / 1.402;
    if (!full) {
        y = 16 + y * 219.0 / 255.0;
        u *= 224.0 / 255.0;
        v *= 224.0 / 255.0;
    }
    double q[3] = {y, u + 128, v + 128};
    for (int i = 0; i < 3; i++)
        yuv[i] = (uint8_t)(q[i] < 0 ? 0 : q[i] > 255 ? 255 : floor(q[i] + 0.5));
}

/* A frame of `format` holding picture `p` (w x h RGB8), rows padded by `pad` bytes. Owns
 * its memory in *mem (free it). */
static kwvk_image make_frame(uint32_t format, const uint8_t *p, uint32_t w, uint32_t h, uint32_t pad, int full,
                             uint8_t **mem)
{
    kwvk_image im;
    memset(&im, 0, sizeof im);
    im.format = format;
    im.width = w;
    im.height = h;
    im.flags = full ? KWVK_IMAGE_YUV_FULL_RANGE : 0;
    uint32_t rb = format == KWVK_PIXEL_RGBA8 || format == KWVK_PIXEL_BGRA8 ? 4 * w
                  : format == KWVK_PIXEL_RGB8                              ? 3 * w
                  : format == KWVK_PIXEL_YUYV                              ? 4 * ((w + 1) / 2)
                                                                           : w;
    im.stride = rb + pad;
    uint32_t uvw = (w + 1) / 2, uvh = (h + 1) / 2, uv_stride = 2 * uvw + pad + 1; /* odd chroma stride */
    size_t y_bytes = (size_t)im.stride * h, uv_bytes = (size_t)uv_stride * uvh;
    uint8_t *b = malloc(y_bytes + uv_bytes + 16);
    if (!b) exit(1);
    memset(b, 0xA5, y_bytes + uv_bytes + 16); /* padding: garbage that must not be read */
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *s = &p[((size_t)y * w + x) * 3];
            uint8_t *row = b + (size_t)y * im.stride;
            uint8_t yuv[3];
            rgb_to_yuv(s, full, yuv);
            switch (format) {
            case KWVK_PIXEL_RGBA8: memcpy(row + 4 * x, s, 3), row[4 * x + 3] = 255; break;
            case KWVK_PIXEL_BGRA8:
                row[4 * x] = s[2], row[4 * x + 1] = s[1], row[4 * x + 2] = s[0], row[4 * x + 3] = 7;
                break;
            case KWVK_PIXEL_RGB8: memcpy(row + 3 * x, s, 3); break;
            case KWVK_PIXEL_GRAY8: row[x] = s[0]; break;
            case KWVK_PIXEL_YUYV:
                row[(x / 2) * 4 + (x & 1 ? 2 : 0)] = yuv[0];
                if (!(x & 1) || x == w - 1) { /* chroma of the pair from its first pixel */
                    row[(x / 2) * 4 + 1] = yuv[1];
                    row[(x / 2) * 4 + 3] = yuv[2];
                }
                if (x == w - 1 && !(x & 1)) row[(x / 2) * 4 + 2] = yuv[0]; /* odd width: the pair's second Y */
                break;
            default: { /* NV12 / NV21: Y here, chroma from the top-left pixel of each 2x2 block */
                row[x] = yuv[0];
                if (!(x & 1) && !(y & 1)) {
                    uint8_t *c = b + y_bytes + (size_t)(y / 2) * uv_stride + (x / 2) * 2;
                    c[format == KWVK_PIXEL_NV12 ? 0 : 1] = yuv[1];
                    c[format == KWVK_PIXEL_NV12 ? 1 : 0] = yuv[2];
                }
            }
            }
        }
    im.data = b;
    if (format == KWVK_PIXEL_NV12 || format == KWVK_PIXEL_NV21) {
        im.uv = b + y_bytes;
        im.uv_stride = uv_stride;
    }
    *mem = b;
    return im;
}

/* picture rotated clockwise by r degrees (RGB8) */
static uint8_t *rotate(const uint8_t *p, uint32_t w, uint32_t h, uint32_t r, uint32_t *rw, uint32_t *rh)
{
    *rw = r % 180 ? h : w;
    *rh = r % 180 ? w : h;
    uint8_t *o = malloc((size_t)w * h * 3);
    if (!o) exit(1);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t dx = x, dy = y; /* where source (x, y) lands */
            if (r == 90)
                dx = h - 1 - y, dy = x;
            else if (r == 180)
                dx = w - 1 - x, dy = h - 1 - y;
            else if (r == 270)
                dx = y, dy = w - 1 - x;
            memcpy(&o[((size_t)dy * *rw + dx) * 3], &p[((size_t)y * w + x) * 3], 3);
        }
    return o;
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0;
    for (size_t i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN counts */
    }
    return d;
}

static size_t model_count(const kwvk_model *model)
{
    kwvk_model_info info;
    kwvk_model_get_info(model, &info);
    return (size_t)info.input_channels * info.input_height * info.input_width;
}

static float *cpu(const kwvk_model *model, const kwvk_image *im, uint32_t n)
{
    size_t per = model_count(model);
    float *o = malloc(per * n * sizeof *o);
    if (!o) exit(1);
    kwvk_result r = kwvk_preprocess_images(model, im, n, o, per * n);
    TH_CHECK(r == KWVK_OK, "kwvk_preprocess_images: %s", kwvk_last_error());
    if (r != KWVK_OK) memset(o, 0, per * n * sizeof *o);
    return o;
}

/* ---------------------------------------------------------------------------------------- */
/* known: the CPU reference on known content                                               */
/* ---------------------------------------------------------------------------------------- */

static void test_known(void)
{
    /* constant colour, bicubic shrink 3-channel and bilinear enlarge 1-channel */
    for (int k = 0; k < 2; k++) {
        kwvk_model *model = k ? identity_model(1, 12, 12, 13, 12, KWVK_INTERP_BILINEAR)
                              : identity_model(3, 9, 9, 11, 9, KWVK_INTERP_BICUBIC);
        kwvk_model_info info;
        kwvk_model_get_info(model, &info);
        const uint8_t col[3] = {200, 17, 99};
        uint8_t *p = malloc(41 * 29 * 3);
        if (!p) exit(1);
        for (int i = 0; i < 41 * 29; i++)
            memcpy(&p[i * 3], col, 3);
        uint8_t *mem;
        kwvk_image im = make_frame(KWVK_PIXEL_RGB8, p, k ? 7 : 41, k ? 5 : 29, 3, 0, &mem);
        float *o = cpu(model, &im, 1);
        size_t plane = (size_t)info.input_height * info.input_width;
        uint32_t grey = (col[0] * 19595u + col[1] * 38470u + col[2] * 7471u + 0x8000u) >> 16;
        for (uint32_t c = 0; c < info.input_channels; c++) {
            float want = ((float)(info.input_channels == 1 ? grey : col[c]) / 255.0f - info.mean[c]) / info.std[c];
            float d = 0;
            for (size_t i = 0; i < plane; i++)
                d = fmaxf(d, fabsf(o[c * plane + i] - want));
            TH_CHECK(d == 0.0f, "known: constant colour, model %d channel %u: off by %g", k, c, d);
        }
        free(o);
        free(mem);
        free(p);
        kwvk_model_destroy(model);
    }
    /* no resize (input = frame size): the pixels; resize to the same size + crop: the crop */
    {
        const uint32_t w = 15, h = 11;
        uint8_t *p = picture(w, h, 0, 0), *mem;
        kwvk_image im = make_frame(KWVK_PIXEL_RGB8, p, w, h, 1, 0, &mem);
        kwvk_model *same = identity_model(3, h, w, 0, 0, KWVK_INTERP_BICUBIC);
        kwvk_model *crop = identity_model(3, 6, 6, h, 6, KWVK_INTERP_BILINEAR);
        float *a = cpu(same, &im, 1), *b = cpu(crop, &im, 1);
        kwvk_model_info ia, ib;
        kwvk_model_get_info(same, &ia);
        kwvk_model_get_info(crop, &ib);
        /* torchvision: left = round((15 - 6) / 2) = round(4.5) = 4, top = round(2.5) = 2 */
        int bad_a = 0, bad_b = 0;
        for (uint32_t c = 0; c < 3; c++)
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                    float want = ((float)p[(y * w + x) * 3 + c] / 255.0f - ia.mean[c]) / ia.std[c];
                    bad_a += a[(c * h + y) * w + x] != want;
                    if (x >= 4 && x < 10 && y >= 2 && y < 8) {
                        float wb = ((float)p[(y * w + x) * 3 + c] / 255.0f - ib.mean[c]) / ib.std[c];
                        bad_b += b[(c * 6 + (y - 2)) * 6 + (x - 4)] != wb;
                    }
                }
        TH_CHECK(bad_a == 0, "known: unresized frame: %d values are not the pixels", bad_a);
        TH_CHECK(bad_b == 0, "known: same-size resize + crop: %d values are not the crop's pixels", bad_b);
        free(a);
        free(b);
        free(mem);
        free(p);
        kwvk_model_destroy(same);
        kwvk_model_destroy(crop);
    }
    kwvk_model *models[2] = {identity_model(3, 10, 10, 13, 10, KWVK_INTERP_BICUBIC),
                             identity_model(1, 9, 7, 0, 0, KWVK_INTERP_BILINEAR)};
    for (int mi = 0; mi < 2; mi++) {
        kwvk_model *model = models[mi];
        const size_t per = model_count(model);
        const uint32_t w = 23, h = 17;
        /* RGBA8, BGRA8, RGB8 of one picture agree exactly; GRAY8 of a grey picture too */
        uint8_t *p = picture(w, h, 0, 0), *pg = picture(w, h, 1, 0);
        uint8_t *m0, *m1, *m2, *m3, *m4;
        kwvk_image f[5] = {
            make_frame(KWVK_PIXEL_RGB8, p, w, h, 0, 0, &m0), make_frame(KWVK_PIXEL_RGBA8, p, w, h, 5, 0, &m1),
            make_frame(KWVK_PIXEL_BGRA8, p, w, h, 3, 0, &m2), make_frame(KWVK_PIXEL_RGB8, pg, w, h, 2, 0, &m3),
            make_frame(KWVK_PIXEL_GRAY8, pg, w, h, 1, 0, &m4)};
        float *o = cpu(model, f, 5);
        TH_CHECK(max_diff(o, o + per, per) == 0, "known: RGBA8 != RGB8 (model %d)", mi);
        TH_CHECK(max_diff(o, o + 2 * per, per) == 0, "known: BGRA8 != RGB8 (model %d)", mi);
        TH_CHECK(max_diff(o + 3 * per, o + 4 * per, per) == 0, "known: GRAY8 != grey RGB8 (model %d)", mi);
        free(o);
        free(m0), free(m1), free(m2), free(m3), free(m4);
        /* rotation r == the picture rotated by hand */
        for (int ri = 1; ri < 4; ri++) {
            uint32_t rw, rh;
            uint8_t *q = rotate(p, w, h, rotations[ri], &rw, &rh), *ma, *mb;
            kwvk_image g[2] = {make_frame(KWVK_PIXEL_RGBA8, p, w, h, 4, 0, &ma),
                               make_frame(KWVK_PIXEL_RGB8, q, rw, rh, 0, 0, &mb)};
            g[0].rotation = rotations[ri];
            float *r = cpu(model, g, 2);
            TH_CHECK(max_diff(r, r + per, per) == 0, "known: rotation %u != the picture rotated (model %d)",
                     rotations[ri], mi);
            free(r);
            free(ma), free(mb), free(q);
        }
        free(pg);
        free(p);
        /* YUV frames built from 2x2-block pictures: within the 8-bit rounding of the RGB frame */
        uint8_t *pb = picture(w, h, 0, 1);
        for (int full = 0; full < 2; full++)
            for (int fi = 4; fi < 7; fi++)
                for (int ri = 0; ri < 4; ri++) {
                    uint8_t *ma, *mb;
                    kwvk_image g[2] = {make_frame(KWVK_PIXEL_RGB8, pb, w, h, 0, 0, &ma),
                                       make_frame(formats[fi], pb, w, h, 3, full, &mb)};
                    g[0].rotation = g[1].rotation = rotations[ri];
                    float *r = cpu(model, g, 2);
                    kwvk_model_info info;
                    kwvk_model_get_info(model, &info);
                    /* YUV rounding: up to 3 levels limited range, 2 full range */
                    float tol = (full ? 2.5f : 3.5f) / 255.0f / info.std[info.input_channels - 1];
                    float d = max_diff(r, r + per, per);
                    TH_CHECK(d <= tol, "known: %s %s range rotation %u: %g from RGB8 (tolerance %g)",
                             format_names[formats[fi]], full ? "full" : "limited", rotations[ri], d, tol);
                    free(r);
                    free(ma), free(mb);
                }
        free(pb);
        kwvk_model_destroy(model);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* gpu: kwvk_net_run_images and jobs against the CPU reference                             */
/* ---------------------------------------------------------------------------------------- */

typedef struct frame_set {
    kwvk_image im[7 * 4 * 2];
    uint8_t *mem[7 * 4 * 2];
    uint8_t *pics[2];
    uint32_t n;
} frame_set;

static void frames_make(frame_set *fs)
{
    static const uint32_t sizes[2][2] = {{37, 23}, {9, 14}}; /* shrink and enlarge, odd */
    memset(fs, 0, sizeof *fs);
    fs->n = 0;
    for (int s = 0; s < 2; s++) {
        fs->pics[s] = picture(sizes[s][0], sizes[s][1], 0, 0);
        for (int fi = 0; fi < 7; fi++)
            for (int ri = 0; ri < 4; ri++) {
                uint32_t i = fs->n++;
                fs->im[i] = make_frame(formats[fi], fs->pics[s], sizes[s][0], sizes[s][1],
                                       (uint32_t)(fi + ri) % 4 * 3 + 1, (fi + ri) & 1, &fs->mem[i]);
                fs->im[i].rotation = rotations[ri];
            }
    }
}

static void frames_free(frame_set *fs)
{
    for (uint32_t i = 0; i < fs->n; i++)
        free(fs->mem[i]);
    free(fs->pics[0]);
    free(fs->pics[1]);
}

static void test_gpu(kwvk_context *ctx)
{
    frame_set fs;
    frames_make(&fs);
    kwvk_model *models[3] = {identity_model(3, 11, 11, 13, 11, KWVK_INTERP_BILINEAR),
                             identity_model(3, 12, 10, 0, 0, KWVK_INTERP_BICUBIC),
                             identity_model(1, 7, 7, 8, 7, KWVK_INTERP_BICUBIC)};
    for (int mi = 0; mi < 3; mi++) {
        kwvk_model *model = models[mi];
        kwvk_model_info info;
        kwvk_model_get_info(model, &info);
        const size_t per = model_count(model);
        float *ref = cpu(model, fs.im, fs.n);
        float *got = malloc(per * fs.n * sizeof *got);
        if (!got) exit(1);
        kwvk_net *net = NULL;
        kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
        TH_CHECK(r == KWVK_OK, "net: %s", kwvk_last_error());
        /* all frames in one batch, then twice more (the recording is reused) */
        for (int rep = 0; rep < 2 && r == KWVK_OK; rep++) {
            memset(got, 0, per * fs.n * sizeof *got);
            r = kwvk_net_run_images(net, fs.im, fs.n, got, per * fs.n);
            TH_CHECK(r == KWVK_OK, "kwvk_net_run_images: %s", kwvk_last_error());
            float worst = 0;
            for (uint32_t i = 0; i < fs.n && r == KWVK_OK; i++) {
                float tol = 1.0f / 255.0f / info.std[info.input_channels - 1];
                float d = max_diff(got + per * i, ref + per * i, per);
                worst = fmaxf(worst, d);
                TH_CHECK(d <= tol, "gpu: model %d %s %ux%u stride %u rotation %u: GPU - CPU = %g (tolerance %g)", mi,
                         format_names[fs.im[i].format], fs.im[i].width, fs.im[i].height, fs.im[i].stride,
                         fs.im[i].rotation, d, tol);
            }
            if (rep == 0)
                printf("gpu: model %d (%u channels, %s): %u frames, max |GPU - CPU| = %g\n", mi, info.input_channels,
                       info.interpolation ? "bicubic" : "bilinear", fs.n, worst);
        }
        /* one frame at a time through jobs, two in flight */
        for (uint32_t i = 0; i + 1 < fs.n && r == KWVK_OK; i += 9) {
            kwvk_job *a = NULL, *b = NULL;
            r = kwvk_net_start_images(net, &fs.im[i], 1, &a);
            TH_CHECK(r == KWVK_OK, "start_images: %s", kwvk_last_error());
            kwvk_result rb = kwvk_net_start_images(net, &fs.im[i + 1], 1, &b);
            TH_CHECK(rb == KWVK_OK, "start_images: %s", kwvk_last_error());
            float *oa = malloc(per * sizeof *oa), *ob = malloc(per * sizeof *ob);
            if (!oa || !ob) exit(1);
            if (b) TH_CHECK(kwvk_job_output(b, ob, per) == KWVK_OK, "job output: %s", kwvk_last_error());
            if (a) TH_CHECK(kwvk_job_output(a, oa, per) == KWVK_OK, "job output: %s", kwvk_last_error());
            if (a) TH_CHECK(max_diff(oa, ref + per * i, per) <= 1.0f / 255.0f / info.std[0], "job %u differs", i);
            if (b)
                TH_CHECK(max_diff(ob, ref + per * (i + 1), per) <= 1.0f / 255.0f / info.std[0], "job %u differs",
                         i + 1);
            kwvk_job_destroy(a);
            kwvk_job_destroy(b);
            free(oa);
            free(ob);
        }
        kwvk_net_destroy(net);
        free(ref);
        free(got);
        kwvk_model_destroy(model);
    }
    frames_free(&fs);
}

/* ---------------------------------------------------------------------------------------- */
/* fmnist: a test image as RGBA and NV21 through the shipped model                          */
/* ---------------------------------------------------------------------------------------- */

static int argmax(const float *v, uint32_t n)
{
    int b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = (int)i;
    return b;
}

static void test_fmnist(kwvk_context *ctx)
{
    kwvk_model *model = NULL;
    kwvk_result r = kwvk_model_load_file(KWVK_SOURCE_DIR "/models/fmnist_kw1x.kwvk", &model);
    TH_CHECK(r == KWVK_OK, "load the shipped model: %s", kwvk_last_error());
    if (r != KWVK_OK) return;
    kwvk_model_info info;
    kwvk_model_get_info(model, &info);
    kwvk_net *net = NULL;
    r = kwvk_net_create(ctx, model, NULL, &net);
    TH_CHECK(r == KWVK_OK, "net: %s", kwvk_last_error());
    static const char *samples[] = {"00_t_shirt_top.png", "05_sandal.png", "09_ankle_boot.png"};
    const uint32_t K = info.num_classes;
    for (size_t s = 0; s < sizeof samples / sizeof samples[0] && r == KWVK_OK; s++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/samples/%s", KWVK_SOURCE_DIR, samples[s]);
        int w, h, comp;
        uint8_t *rgb = stbi_load(path, &w, &h, &comp, 3);
        TH_CHECK(rgb != NULL, "cannot decode %s", path);
        if (!rgb) continue;
        /* the float path: CPU preprocessing + kwvk_net_run */
        uint8_t *m0, *m1, *m2;
        kwvk_image im_rgb = make_frame(KWVK_PIXEL_RGB8, rgb, (uint32_t)w, (uint32_t)h, 0, 1, &m0);
        float *x = cpu(model, &im_rgb, 1);
        float *y0 = malloc(K * sizeof *y0), *y1 = malloc(K * sizeof *y1), *y2 = malloc(K * sizeof *y2);
        if (!y0 || !y1 || !y2) exit(1);
        r = kwvk_net_run(net, x, 1, info.input_channels, info.input_height, info.input_width, y0, K);
        TH_CHECK(r == KWVK_OK, "float run: %s", kwvk_last_error());
        /* RGBA and NV21 (full range, as Android cameras give it) through the GPU path */
        kwvk_image im[2] = {make_frame(KWVK_PIXEL_RGBA8, rgb, (uint32_t)w, (uint32_t)h, 0, 1, &m1),
                            make_frame(KWVK_PIXEL_NV21, rgb, (uint32_t)w, (uint32_t)h, 0, 1, &m2)};
        im[1].uv = NULL; /* chroma right after Y, at stride * height: the default layout */
        im[1].uv_stride = 0;
        {
            /* rewrite the chroma plane at the default place */
            uint8_t *c = m2 + (size_t)im[1].stride * (uint32_t)h;
            for (int i = 0; i < ((w + 1) / 2) * ((h + 1) / 2); i++)
                c[2 * i] = c[2 * i + 1] = 128; /* grey: U = V = 128 */
        }
        r = kwvk_net_run_images(net, &im[0], 1, y1, K);
        TH_CHECK(r == KWVK_OK, "RGBA run: %s", kwvk_last_error());
        kwvk_job *job = NULL;
        r = kwvk_net_start_images(net, &im[1], 1, &job);
        TH_CHECK(r == KWVK_OK, "NV21 job: %s", kwvk_last_error());
        if (job) TH_CHECK(kwvk_job_output(job, y2, K) == KWVK_OK, "NV21 output: %s", kwvk_last_error());
        kwvk_job_destroy(job);
        float d1 = max_diff(y0, y1, K), d2 = max_diff(y0, y2, K);
        int l0 = argmax(y0, K), l1 = argmax(y1, K), l2 = argmax(y2, K);
        printf("fmnist: %s: label %d (%s) float, %d RGBA, %d NV21; max |logit diff| RGBA %g, NV21 %g\n", samples[s], l0,
               kwvk_model_label(model, (uint32_t)l0), l1, l2, d1, d2);
        TH_CHECK(l0 == l1 && l0 == l2, "fmnist: %s: labels %d / %d / %d", samples[s], l0, l1, l2);
        TH_CHECK(d1 <= 1e-4f && d2 <= 1e-4f, "fmnist: %s: logits differ by %g (RGBA), %g (NV21)", samples[s], d1, d2);
        TH_CHECK(l0 == atoi(samples[s]), "fmnist: %s classified as %d", samples[s], l0);
        free(x), free(y0), free(y1), free(y2);
        free(m0), free(m1), free(m2);
        stbi_image_free(rgb);
    }
    kwvk_net_destroy(net);
    kwvk_model_destroy(model);
}

/* ---------------------------------------------------------------------------------------- */
/* jobs                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static void test_jobs(kwvk_context *ctx)
{
    mw_model m;
    mw_kwnet(&m);
    kwvk_model *model = th_model(&m);
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    TH_CHECK(r == KWVK_OK, "net: %s", kwvk_last_error());
    const uint32_t n = 2, K = m.num_classes;
    const size_t nx = (size_t)n * m.c * m.h * m.w;
    float *x[2], ref[2][20], out[20];
    for (int k = 0; k < 2; k++) {
        x[k] = malloc(nx * sizeof(float));
        if (!x[k]) exit(1);
        th_fill(x[k], nx, (uint64_t)(k + 7));
        r = kwvk_net_run(net, x[k], n, m.c, m.h, m.w, ref[k], n * K);
        TH_CHECK(r == KWVK_OK, "run: %s", kwvk_last_error());
    }
    kwvk_job *a = NULL, *b = NULL, *c = NULL;
    TH_CHECK(kwvk_net_start(net, x[0], n, m.c, m.h, m.w, &a) == KWVK_OK, "start: %s", kwvk_last_error());
    TH_CHECK(kwvk_net_start(net, x[1], n, m.c, m.h, m.w, &b) == KWVK_OK, "start: %s", kwvk_last_error());
    r = kwvk_net_start(net, x[0], n, m.c, m.h, m.w, &c);
    TH_CHECK(r == KWVK_ERROR_BUSY && c == NULL, "third job: %s, want KWVK_ERROR_BUSY", kwvk_result_name(r));
    TH_CHECK(strstr(kwvk_last_error(), "max_in_flight") != NULL, "BUSY message: %s", kwvk_last_error());
    /* a blocking run meanwhile uses its own slot */
    TH_CHECK(kwvk_net_run(net, x[1], n, m.c, m.h, m.w, out, n * K) == KWVK_OK &&
                 memcmp(out, ref[1], sizeof(float) * n * K) == 0,
             "run with jobs in flight");
    r = kwvk_job_wait(a, 0);
    TH_CHECK(r == KWVK_OK || r == KWVK_ERROR_TIMEOUT, "wait(0): %s", kwvk_result_name(r));
    TH_CHECK(kwvk_job_output(b, out, n * K + 1) == KWVK_ERROR_INVALID_ARGUMENT, "output count not checked");
    for (int k = 0; k < 2; k++) { /* twice: the output stays */
        TH_CHECK(kwvk_job_output(b, out, n * K) == KWVK_OK && memcmp(out, ref[1], sizeof(float) * n * K) == 0, "job b");
        TH_CHECK(kwvk_job_output(a, out, n * K) == KWVK_OK && memcmp(out, ref[0], sizeof(float) * n * K) == 0, "job a");
    }
    int done = 0;
    TH_CHECK(kwvk_job_poll(a, &done) == KWVK_OK && done == 1, "poll after output");
    TH_CHECK(kwvk_job_wait(a, 0) == KWVK_OK, "wait after output");
    kwvk_job_destroy(a);
    r = kwvk_net_start(net, x[0], n, m.c, m.h, m.w, &c); /* a slot is free again */
    TH_CHECK(r == KWVK_OK, "start after destroy: %s", kwvk_last_error());
    kwvk_job_destroy(b);
    kwvk_job_destroy(c); /* without waiting: destroy waits */
    kwvk_job_destroy(NULL);
    kwvk_net_destroy(net);
    /* max_in_flight = 1: one job only; 17: refused */
    kwvk_net_desc d = {0};
    d.max_in_flight = 1;
    r = kwvk_net_create(ctx, model, &d, &net);
    TH_CHECK(r == KWVK_OK, "net: %s", kwvk_last_error());
    if (r == KWVK_OK) {
        TH_CHECK(kwvk_net_start(net, x[0], n, m.c, m.h, m.w, &a) == KWVK_OK, "start");
        TH_CHECK(kwvk_net_start(net, x[0], n, m.c, m.h, m.w, &b) == KWVK_ERROR_BUSY, "second job with max 1");
        kwvk_job_destroy(a);
        kwvk_net_destroy(net);
    }
    d.max_in_flight = 17;
    TH_CHECK(kwvk_net_create(ctx, model, &d, &net) == KWVK_ERROR_INVALID_ARGUMENT, "max_in_flight 17 accepted");
    free(x[0]);
    free(x[1]);
    kwvk_model_destroy(model);
    mw_free(&m);
}

/* ---------------------------------------------------------------------------------------- */
/* errors                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void expect(kwvk_result got, kwvk_result want, const char *what)
{
    TH_CHECK(got == want, "errors: %s: %s, want %s", what, kwvk_result_name(got), kwvk_result_name(want));
    if (got != KWVK_OK) TH_CHECK(kwvk_last_error()[0] != 0, "errors: %s: no message", what);
}

static void test_errors(kwvk_context *ctx)
{
    kwvk_model *model = identity_model(3, 8, 8, 9, 8, KWVK_INTERP_BILINEAR);
    uint8_t px[64 * 64 * 4] = {0};
    float out[3 * 8 * 8 * 2];
    const size_t per = 3 * 8 * 8;
    kwvk_image ok = {KWVK_PIXEL_RGBA8, 16, 12, 0, px, NULL, 0, 0, 0};
    expect(kwvk_preprocess_images(model, &ok, 1, out, per), KWVK_OK, "valid frame");
    kwvk_image im;
#define BAD(field_change, want, what)                                                                                  \
    do {                                                                                                               \
        im = ok;                                                                                                       \
        field_change;                                                                                                  \
        expect(kwvk_preprocess_images(model, &im, 1, out, per), want, what);                                           \
    } while (0)
    BAD(im.format = 0, KWVK_ERROR_INVALID_ARGUMENT, "format 0");
    BAD(im.format = 8, KWVK_ERROR_INVALID_ARGUMENT, "format 8");
    BAD(im.width = 0, KWVK_ERROR_INVALID_ARGUMENT, "width 0");
    BAD(im.height = 20000, KWVK_ERROR_INVALID_ARGUMENT, "height 20000");
    BAD(im.stride = 63, KWVK_ERROR_INVALID_ARGUMENT, "stride < row");
    BAD(im.data = NULL, KWVK_ERROR_INVALID_ARGUMENT, "data NULL");
    BAD(im.rotation = 45, KWVK_ERROR_INVALID_ARGUMENT, "rotation 45");
    BAD(im.flags = 2, KWVK_ERROR_INVALID_ARGUMENT, "unknown flag");
    BAD((im.format = KWVK_PIXEL_NV12, im.uv_stride = 15), KWVK_ERROR_INVALID_ARGUMENT, "chroma stride < row");
    BAD((im.width = 7, im.height = 7), KWVK_OK, "7x7 frame (enlarged to 9x9)");
    BAD((im.format = KWVK_PIXEL_GRAY8, im.width = im.height = 16384, im.stride = 0), KWVK_ERROR_INVALID_ARGUMENT,
        "shrinking 16384 -> 9 (too many taps)");
    BAD(im.rotation = 90, KWVK_OK, "rotation 90");
    expect(kwvk_preprocess_images(model, &ok, 1, out, per + 1), KWVK_ERROR_INVALID_ARGUMENT, "out_count");
    expect(kwvk_preprocess_images(model, &ok, 0, out, 0), KWVK_ERROR_INVALID_ARGUMENT, "n = 0");
    expect(kwvk_preprocess_images(NULL, &ok, 1, out, per), KWVK_ERROR_INVALID_ARGUMENT, "model NULL");
    kwvk_model *bad = identity_model(3, 8, 8, 6, 8, KWVK_INTERP_BILINEAR); /* crops 8 of 6 */
    expect(kwvk_preprocess_images(bad, &ok, 1, out, per), KWVK_ERROR_INVALID_ARGUMENT, "crop larger than the resize");
    kwvk_model_destroy(bad);
    kwvk_image two[2] = {ok, ok};
    two[1].rotation = 1;
    expect(kwvk_preprocess_images(model, two, 2, out, 2 * per), KWVK_ERROR_INVALID_ARGUMENT, "second frame bad");
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_net_create(ctx, model, NULL, &net);
    TH_CHECK(r == KWVK_OK, "net: %s", kwvk_last_error());
    if (r == KWVK_OK) {
        kwvk_job *job = (kwvk_job *)&r; /* must be reset to NULL on failure */
        expect(kwvk_net_run_images(net, two, 2, out, 2 * per), KWVK_ERROR_INVALID_ARGUMENT, "run: second frame bad");
        expect(kwvk_net_start_images(net, two, 2, &job), KWVK_ERROR_INVALID_ARGUMENT, "start: second frame bad");
        TH_CHECK(job == NULL, "errors: a failed start left *out set");
        expect(kwvk_net_run_images(net, &ok, 1, out, per + 1), KWVK_ERROR_INVALID_ARGUMENT, "run: output_count");
        expect(kwvk_net_start(net, out, 1, 2, 8, 8, &job), KWVK_ERROR_INVALID_ARGUMENT, "start: wrong channels");
        expect(kwvk_net_start(NULL, out, 1, 3, 8, 8, &job), KWVK_ERROR_INVALID_ARGUMENT, "start: net NULL");
        expect(kwvk_job_poll(NULL, NULL), KWVK_ERROR_INVALID_ARGUMENT, "poll NULL");
        expect(kwvk_job_wait(NULL, 0), KWVK_ERROR_INVALID_ARGUMENT, "wait NULL");
        expect(kwvk_job_output(NULL, out, per), KWVK_ERROR_INVALID_ARGUMENT, "output NULL");
        expect(kwvk_net_run_images(net, &ok, 1, out, per), KWVK_OK, "run after errors");
        kwvk_net_destroy(net);
    }
    TH_CHECK(strcmp(kwvk_result_name(KWVK_ERROR_BUSY), "KWVK_ERROR_BUSY") == 0, "result name");
    kwvk_model_destroy(model);
#undef BAD
}

/* ---------------------------------------------------------------------------------------- */
/* topk                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static void test_topk(void)
{
    mw_model m;
    mw_convnet(&m); /* 10 classes labelled zero..nine */
    kwvk_model *model = th_model(&m);
    const float logits[10] = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f, 0.0f, -7.0f, 2.5f, 1.0f, -0.5f};
    kwvk_class_score s[10];
    TH_CHECK(kwvk_top_k(model, logits, 10, 4, KWVK_SCORES_LOGITS, s) == KWVK_OK, "top_k: %s", kwvk_last_error());
    const uint32_t want[4] = {1, 3, 7, 4}; /* ties: lower index first */
    for (int i = 0; i < 4; i++)
        TH_CHECK(s[i].index == want[i] && s[i].score == logits[want[i]], "top_k[%d] = %u (%g), want %u", i, s[i].index,
                 s[i].score, want[i]);
    TH_CHECK(strcmp(s[0].label, "one") == 0 && strcmp(s[2].label, "seven") == 0, "labels %s, %s", s[0].label,
             s[2].label);
    TH_CHECK(kwvk_top_k(model, logits, 10, 10, KWVK_SCORES_SOFTMAX, s) == KWVK_OK, "softmax: %s", kwvk_last_error());
    double sum = 0, z = 0;
    for (int i = 0; i < 10; i++)
        z += exp(logits[i]);
    for (int i = 0; i < 10; i++) {
        sum += s[i].score;
        TH_CHECK(fabs(s[i].score - exp(logits[s[i].index]) / z) < 1e-6, "softmax score %d", i);
        if (i) TH_CHECK(s[i].score <= s[i - 1].score, "softmax order %d", i);
    }
    TH_CHECK(fabs(sum - 1.0) < 1e-5, "softmax sums to %g", sum);
    TH_CHECK(s[9].index == 6, "last class %u", s[9].index);
    expect(kwvk_top_k(model, logits, 9, 1, 0, s), KWVK_ERROR_INVALID_ARGUMENT, "top_k: 9 logits");
    expect(kwvk_top_k(model, logits, 10, 0, 0, s), KWVK_ERROR_INVALID_ARGUMENT, "top_k: k = 0");
    expect(kwvk_top_k(model, logits, 10, 11, 0, s), KWVK_ERROR_INVALID_ARGUMENT, "top_k: k = 11");
    expect(kwvk_top_k(model, logits, 10, 1, 2, s), KWVK_ERROR_INVALID_ARGUMENT, "top_k: scores = 2");
    float nan_logits[10];
    memcpy(nan_logits, logits, sizeof nan_logits);
    nan_logits[4] = NAN;
    expect(kwvk_top_k(model, nan_logits, 10, 1, 0, s), KWVK_ERROR_INVALID_ARGUMENT, "top_k: NaN");
    kwvk_model_destroy(model);
    mw_free(&m);
    /* a model without labels: "" */
    kwvk_model *nolab = identity_model(3, 4, 4, 0, 0, 0);
    TH_CHECK(kwvk_top_k(nolab, logits, 3, 2, 0, s) == KWVK_OK && strcmp(s[0].label, "") == 0, "no labels");
    kwvk_model_destroy(nolab);
}

static int want(int argc, char **argv, const char *name)
{
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (want(argc, argv, "topk")) test_topk();
    if (want(argc, argv, "known")) test_known();
    int gpu =
        want(argc, argv, "gpu") || want(argc, argv, "fmnist") || want(argc, argv, "jobs") || want(argc, argv, "errors");
    if (gpu) {
        kwvk_context *ctx = th_context(0);
        if (want(argc, argv, "errors")) test_errors(ctx);
        if (want(argc, argv, "jobs")) test_jobs(ctx);
        if (want(argc, argv, "gpu")) test_gpu(ctx);
        if (want(argc, argv, "fmnist")) test_fmnist(ctx);
        th_context_done(ctx, "test_image");
    }
    return th_finish("test_image");
}
