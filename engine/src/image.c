/* image.c - image input: validation and geometry of kwvk_image frames, the resampling tables
 * (Pillow's filters in Pillow's 8-bit fixed point), the CPU reference of the model's
 * preprocessing (kwvk_preprocess_images) and the recording of the same steps on the GPU
 * (img_resize_h.comp, img_resize_v.comp) for kwvk_net_run_images and kwvk_net_start_images.
 *
 * The steps, identical on both paths (integer arithmetic up to the normalisation):
 *   1. fetch: a pixel of the rotated frame -> source pixel -> RGB8 (BT.601 for YUV);
 *   2. horizontal pass: Pillow's resampling of each row to the resized width, only for the
 *      columns the centre crop keeps and the rows the vertical pass reads, rounded to 8 bits;
 *   3. vertical pass: the same for the rows of the crop, then grey (Pillow's "L") for
 *      1-channel models and (x/255 - mean) / std. */
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGE_SIDE   16384u
#define MAX_RESIZED_SIDE (1u << 24)
#define MAX_TAPS         2049u /* per output of a pass: shrinking by up to 512x (bilinear), 256x (bicubic) */
#define PRECISION_BITS   22    /* Pillow's 8-bit resampling: 32 - 8 - 2 */

/* ---------------------------------------------------------------------------------------- */
/* Frames                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static uint64_t row_bytes(uint32_t format, uint32_t w)
{
    switch (format) {
    case KWVK_PIXEL_RGBA8:
    case KWVK_PIXEL_BGRA8: return 4ull * w;
    case KWVK_PIXEL_RGB8: return 3ull * w;
    case KWVK_PIXEL_YUYV: return 4ull * ((w + 1) / 2);
    default: return w; /* GRAY8, and the Y plane of NV12/NV21 */
    }
}

static bool is_nv(uint32_t format)
{
    return format == KWVK_PIXEL_NV12 || format == KWVK_PIXEL_NV21;
}

kwvk_result kw_image_layout(const kwvk_image *im, uint32_t index, kw_img_layout *out)
{
    memset(out, 0, sizeof *out);
    if (!im->data) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: data is NULL", index);
    if (im->format < KWVK_PIXEL_RGBA8 || im->format > KWVK_PIXEL_YUYV)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: unknown pixel format %u", index, im->format);
    if (im->width < 1 || im->height < 1 || im->width > MAX_IMAGE_SIDE || im->height > MAX_IMAGE_SIDE)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: size %ux%u out of range 1..%u", index, im->width,
                       im->height, MAX_IMAGE_SIDE);
    if (im->rotation != 0 && im->rotation != 90 && im->rotation != 180 && im->rotation != 270)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: rotation %u is not 0, 90, 180 or 270", index,
                       im->rotation);
    if (im->flags & ~KWVK_IMAGE_YUV_FULL_RANGE)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: unknown flags 0x%x", index,
                       im->flags & ~KWVK_IMAGE_YUV_FULL_RANGE);
    const uint64_t rb = row_bytes(im->format, im->width);
    const uint64_t stride = im->stride ? im->stride : rb;
    if (stride < rb)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: stride %u is less than a row (%llu bytes)", index,
                       im->stride, (unsigned long long)rb);
    out->row_bytes = rb;
    out->stride = stride;
    out->bytes = stride * (im->height - 1) + rb; /* the last row may end without padding */
    out->uv = NULL;
    if (is_nv(im->format)) {
        const uint64_t uv_rb = 2ull * ((im->width + 1) / 2), uv_rows = (im->height + 1) / 2;
        const uint64_t uv_stride = im->uv_stride ? im->uv_stride : stride;
        if (uv_stride < uv_rb)
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: chroma stride %llu is less than a row (%llu bytes)",
                           index, (unsigned long long)uv_stride, (unsigned long long)uv_rb);
        out->uv = im->uv ? (const uint8_t *)im->uv : (const uint8_t *)im->data + stride * im->height;
        out->uv_row_bytes = uv_rb;
        out->uv_stride = uv_stride;
        out->uv_bytes = uv_stride * (uv_rows - 1) + uv_rb;
    }
    if (out->bytes + out->uv_bytes > (1ull << 31))
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: more than 2 GiB of pixels", index);
    return KWVK_OK;
}

/* Clamp a value in 1/256 units to 0..255 (no shift of a negative number). */
static inline uint32_t clamp_shift(int32_t v)
{
    return v < 0 ? 0u : (uint32_t)((v >> 8) > 255 ? 255 : v >> 8);
}

/* BT.601 YUV -> RGB8, in integers (the shader does the same). Limited range: Y 16..235,
 * UV 16..240; full range (JFIF): all 0..255. */
static void yuv_to_rgb(int32_t y, int32_t u, int32_t v, bool full, uint8_t rgb[3])
{
    u -= 128;
    v -= 128;
    if (full) {
        y *= 256;
        rgb[0] = (uint8_t)clamp_shift(y + 359 * v + 128);
        rgb[1] = (uint8_t)clamp_shift(y - 88 * u - 183 * v + 128);
        rgb[2] = (uint8_t)clamp_shift(y + 454 * u + 128);
    } else {
        y = 298 * (y - 16);
        rgb[0] = (uint8_t)clamp_shift(y + 409 * v + 128);
        rgb[1] = (uint8_t)clamp_shift(y - 100 * u - 208 * v + 128);
        rgb[2] = (uint8_t)clamp_shift(y + 516 * u + 128);
    }
}

/* RGB8 of pixel (x, y) of the rotated frame. */
static void fetch(const kwvk_image *im, const kw_img_layout *l, uint32_t x, uint32_t y, uint8_t rgb[3])
{
    uint32_t sx, sy;
    switch (im->rotation) {
    case 90: sx = y, sy = im->height - 1 - x; break;
    case 180: sx = im->width - 1 - x, sy = im->height - 1 - y; break;
    case 270: sx = im->width - 1 - y, sy = x; break;
    default: sx = x, sy = y; break;
    }
    const uint8_t *row = (const uint8_t *)im->data + (size_t)sy * l->stride;
    const bool full = (im->flags & KWVK_IMAGE_YUV_FULL_RANGE) != 0;
    switch (im->format) {
    case KWVK_PIXEL_RGBA8:
    case KWVK_PIXEL_RGB8: {
        const uint8_t *p = row + (size_t)sx * (im->format == KWVK_PIXEL_RGB8 ? 3 : 4);
        rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
        break;
    }
    case KWVK_PIXEL_BGRA8: {
        const uint8_t *p = row + (size_t)sx * 4;
        rgb[0] = p[2], rgb[1] = p[1], rgb[2] = p[0];
        break;
    }
    case KWVK_PIXEL_GRAY8: rgb[0] = rgb[1] = rgb[2] = row[sx]; break;
    case KWVK_PIXEL_YUYV: {
        const uint8_t *p = row + (size_t)(sx / 2) * 4;
        yuv_to_rgb(p[sx & 1 ? 2 : 0], p[1], p[3], full, rgb);
        break;
    }
    default: { /* NV12, NV21: chroma of the 2x2 block, not interpolated */
        const uint8_t *c = l->uv + (size_t)(sy / 2) * l->uv_stride + (size_t)(sx / 2) * 2;
        const bool nv12 = im->format == KWVK_PIXEL_NV12;
        yuv_to_rgb(row[sx], nv12 ? c[0] : c[1], nv12 ? c[1] : c[0], full, rgb);
        break;
    }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Geometry and resampling tables                                                           */
/* ---------------------------------------------------------------------------------------- */

/* round(d / 2) with ties to even, as Python's round() in torchvision's CenterCrop */
static uint32_t half_even(uint32_t d)
{
    uint32_t k = d / 2;
    return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

static double filter_bilinear(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double filter_bicubic(double x) /* Pillow's, a = -0.5 */
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct pass_info {
    double scale, filterscale, support;
    uint32_t ksize;
} pass_info;

static pass_info pass_of(uint32_t in, uint32_t out, uint32_t interp)
{
    pass_info p;
    p.scale = (double)in / out;
    p.filterscale = p.scale < 1.0 ? 1.0 : p.scale;
    p.support = (interp == KWVK_INTERP_BICUBIC ? 2.0 : 1.0) * p.filterscale;
    p.ksize = (uint32_t)ceil(p.support) * 2 + 1;
    return p;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for output index `o` of a pass. */
static void coeffs(const pass_info *p, uint32_t in, uint32_t interp, uint32_t o, int32_t *xmin_out, int32_t *n_out,
                   int32_t *k, double *w)
{
    double center = (o + 0.5) * p->scale, ss = 1.0 / p->filterscale, ww = 0;
    int32_t xmin = (int32_t)(center - p->support + 0.5);
    if (xmin < 0) xmin = 0;
    int32_t xmax = (int32_t)(center + p->support + 0.5);
    if (xmax > (int32_t)in) xmax = (int32_t)in;
    int32_t n = xmax - xmin;
    if (n > (int32_t)p->ksize) n = (int32_t)p->ksize;
    if (n < 0) n = 0;
    for (int32_t j = 0; j < n; j++) {
        double x = (j + xmin - center + 0.5) * ss;
        w[j] = interp == KWVK_INTERP_BICUBIC ? filter_bicubic(x) : filter_bilinear(x);
        ww += w[j];
    }
    for (int32_t j = 0; j < n; j++) {
        double v = ww != 0.0 ? w[j] / ww : w[j];
        k[j] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
    }
    for (int32_t j = n; j < (int32_t)p->ksize; j++)
        k[j] = 0;
    *xmin_out = xmin;
    *n_out = n;
}

kwvk_result kw_image_geometry(const kwvk_model_info *info, const kwvk_image *im, uint32_t index, kw_img_geom *g)
{
    memset(g, 0, sizeof *g);
    const bool turned = im->rotation == 90 || im->rotation == 270;
    g->rw = turned ? im->height : im->width;
    g->rh = turned ? im->width : im->height;
    uint64_t ow, oh;
    uint32_t cw = info->input_width, ch = info->input_height;
    if (info->resize_short) {
        const uint64_t s = info->resize_short;
        if (g->rw <= g->rh) {
            ow = s;
            oh = s * g->rh / g->rw;
        } else {
            oh = s;
            ow = s * g->rw / g->rh;
        }
        if (info->crop) cw = ch = info->crop;
    } else {
        ow = cw;
        oh = ch;
    }
    if (cw != info->input_width || ch != info->input_height)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "the model's preprocessing crops %ux%u but its input is %ux%u", cw, ch,
                       info->input_width, info->input_height);
    if (ow < 1 || oh < 1 || ow > MAX_RESIZED_SIDE || oh > MAX_RESIZED_SIDE)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: the aspect ratio of %ux%u is too extreme", index, g->rw,
                       g->rh);
    if (cw > ow || ch > oh)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT,
                       "image %u: the %ux%u crop is larger than the %llux%llu resized image", index, cw, ch,
                       (unsigned long long)ow, (unsigned long long)oh);
    g->ow = (uint32_t)ow;
    g->oh = (uint32_t)oh;
    g->cw = cw;
    g->ch = ch;
    g->x0 = half_even(g->ow - cw);
    g->y0 = half_even(g->oh - ch);
    g->interp = info->interpolation;
    pass_info ph = pass_of(g->rw, g->ow, g->interp), pv = pass_of(g->rh, g->oh, g->interp);
    if (ph.ksize > MAX_TAPS || pv.ksize > MAX_TAPS)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "image %u: shrinking %ux%u to %ux%u needs more than %u taps", index,
                       g->rw, g->rh, g->ow, g->oh, MAX_TAPS);
    g->kx = ph.ksize;
    g->ky = pv.ksize;
    g->tab_h = 2 * cw + cw * g->kx;
    g->tab_v = 2 * ch + ch * g->ky;
    return KWVK_OK;
}

bool kw_image_tables(const kw_img_geom *g, int32_t *tab, uint32_t *ylo, uint32_t *yhi)
{
    pass_info ph = pass_of(g->rw, g->ow, g->interp), pv = pass_of(g->rh, g->oh, g->interp);
    double *w = malloc((ph.ksize > pv.ksize ? ph.ksize : pv.ksize) * sizeof *w);
    if (!w) return false;
    int32_t *h = tab, *v = tab + g->tab_h;
    for (uint32_t j = 0; j < g->cw; j++)
        coeffs(&ph, g->rw, g->interp, g->x0 + j, &h[j], &h[g->cw + j], &h[2 * g->cw + j * g->kx], w);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t i = 0; i < g->ch; i++) {
        coeffs(&pv, g->rh, g->interp, g->y0 + i, &v[i], &v[g->ch + i], &v[2 * g->ch + i * g->ky], w);
        if ((uint32_t)v[i] < lo) lo = (uint32_t)v[i];
        if ((uint32_t)(v[i] + v[g->ch + i]) > hi) hi = (uint32_t)(v[i] + v[g->ch + i]);
    }
    if (hi <= lo) hi = lo + 1;
    /* the vertical pass reads rows relative to ylo */
    for (uint32_t i = 0; i < g->ch; i++)
        v[i] -= (int32_t)lo;
    *ylo = lo;
    *yhi = hi;
    free(w);
    return true;
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* ---------------------------------------------------------------------------------------- */
/* CPU reference                                                                            */
/* ---------------------------------------------------------------------------------------- */

static kwvk_result preprocess_one(const kwvk_model_info *info, const kwvk_image *im, uint32_t index, float *out)
{
    kw_img_layout l;
    kw_img_geom g;
    KW_TRY(kw_image_layout(im, index, &l));
    KW_TRY(kw_image_geometry(info, im, index, &g));
    uint32_t ylo, yhi;
    int32_t *tab = malloc(((size_t)g.tab_h + g.tab_v) * sizeof *tab);
    uint8_t *src = malloc((size_t)g.rw * 3);
    uint8_t *tmp = malloc((size_t)g.cw * 3 * (g.rh + 1));
    if (!tab || !src || !tmp || !kw_image_tables(&g, tab, &ylo, &yhi)) {
        free(tab);
        free(src);
        free(tmp);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    const int32_t *th = tab, *tv = tab + g.tab_h;
    /* horizontal: rows ylo..yhi-1 of the rotated frame, the crop's columns */
    for (uint32_t y = ylo; y < yhi; y++) {
        uint32_t lo = UINT32_MAX, hi = 0; /* the columns this row's outputs read */
        for (uint32_t j = 0; j < g.cw; j++) {
            if ((uint32_t)th[j] < lo) lo = (uint32_t)th[j];
            if ((uint32_t)(th[j] + th[g.cw + j]) > hi) hi = (uint32_t)(th[j] + th[g.cw + j]);
        }
        for (uint32_t x = lo; x < hi; x++)
            fetch(im, &l, x, y, &src[(size_t)x * 3]);
        for (uint32_t j = 0; j < g.cw; j++) {
            const int32_t *k = &th[2 * g.cw + j * g.kx];
            for (int c = 0; c < 3; c++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int32_t q = 0; q < th[g.cw + j]; q++)
                    ss += src[(size_t)(th[j] + q) * 3 + c] * k[q];
                tmp[((size_t)(y - ylo) * g.cw + j) * 3 + c] = clip8(ss);
            }
        }
    }
    /* vertical, grey, normalisation */
    const uint32_t C = info->input_channels;
    const size_t plane = (size_t)g.cw * g.ch;
    for (uint32_t i = 0; i < g.ch; i++) {
        const int32_t *k = &tv[2 * g.ch + i * g.ky];
        for (uint32_t j = 0; j < g.cw; j++) {
            uint8_t rgb[3];
            for (int c = 0; c < 3; c++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int32_t q = 0; q < tv[g.ch + i]; q++)
                    ss += tmp[((size_t)(tv[i] + q) * g.cw + j) * 3 + c] * k[q];
                rgb[c] = clip8(ss);
            }
            for (uint32_t c = 0; c < C; c++) {
                uint32_t v;
                if (C == 1)
                    v = (rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16;
                else
                    v = rgb[c < 3 ? c : 2];
                out[c * plane + (size_t)i * g.cw + j] = ((float)v / 255.0f - info->mean[c]) / info->std[c];
            }
        }
    }
    free(tab);
    free(src);
    free(tmp);
    return KWVK_OK;
}

kwvk_result kwvk_preprocess_images(const kwvk_model *model, const kwvk_image *images, uint32_t n, float *out,
                                   size_t out_count)
{
    if (!model || !images || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_preprocess_images: NULL argument");
    const kwvk_model_info *info = &model->info;
    if (n < 1 || n > KW_MAX_IMAGES)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_preprocess_images: %u images, 1..%u allowed", n,
                       KW_MAX_IMAGES);
    const uint64_t per = (uint64_t)info->input_channels * info->input_height * info->input_width;
    if (out_count != per * n)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT,
                       "kwvk_preprocess_images: out holds %zu floats, %u images of %ux%ux%u "
                       "need %llu",
                       out_count, n, info->input_channels, info->input_height, info->input_width,
                       (unsigned long long)(per * n));
    for (uint32_t i = 0; i < n; i++) { /* all checked before any work */
        kw_img_layout l;
        kw_img_geom g;
        KW_TRY(kw_image_layout(&images[i], i, &l));
        KW_TRY(kw_image_geometry(info, &images[i], i, &g));
    }
    for (uint32_t i = 0; i < n; i++)
        KW_TRY(preprocess_one(info, &images[i], i, out + per * i));
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* GPU recording                                                                            */
/* ---------------------------------------------------------------------------------------- */

typedef struct img_key { /* what a recording depends on, per image */
    uint32_t format, width, height, rotation, flags;
    uint64_t stride, uv_stride, bytes, uv_bytes;
} img_key;

static img_key key_of(const kwvk_image *im, const kw_img_layout *l)
{
    img_key k;
    memset(&k, 0, sizeof k);
    k.format = im->format;
    k.width = im->width;
    k.height = im->height;
    k.rotation = im->rotation;
    k.flags = im->flags;
    k.stride = l->stride;
    k.uv_stride = l->uv_stride;
    k.bytes = l->bytes;
    k.uv_bytes = l->uv_bytes;
    return k;
}

void kw_img_slot_release(kw_ctx *ctx, kw_img_slot *s)
{
    if (!s) return;
    kw_rec_release(&s->rec);
    kw_buffer_destroy(ctx, &s->raw);
    kw_buffer_destroy(ctx, &s->tmp);
    kw_buffer_destroy(ctx, &s->table);
    free(s->key);
    free(s->raw_off);
    memset(s, 0, sizeof *s);
}

static kwvk_result ensure(kw_ctx *ctx, kw_buffer *b, uint64_t bytes, kw_mem_kind kind, bool *changed)
{
    bytes = (bytes + 255) & ~(uint64_t)255;
    if (b->buffer && b->size >= bytes) return KWVK_OK;
    kw_buffer_destroy(ctx, b);
    *changed = true;
    return kw_buffer_create(ctx, bytes, kind, b);
}

typedef struct push_h {
    uint32_t format, sw, sh, stride, uv_off, uv_stride, raw_off, rotation, full;
    uint32_t cw, ylo, rows, tab, kx, tmp_off;
} push_h;

typedef struct push_v {
    uint32_t cw, ch, channels, tab, ky, tmp_off, out_off, pad;
    float mean[4], std[4];
} push_v;

kwvk_result kw_images_prepare(kw_ctx *ctx, const kwvk_model *model, kw_img_slot *s, const kwvk_image *images,
                              uint32_t n, const kw_buffer *input, VkCommandBuffer *cmd)
{
    const kwvk_model_info *info = &model->info;
    kw_img_layout *l = calloc(n, sizeof *l);
    img_key *key = calloc(n, sizeof *key);
    kw_img_geom *g = calloc(n, sizeof *g);
    uint64_t *raw_off = calloc(n, sizeof *raw_off);
    kwvk_result r = KWVK_OK;
    if (!l || !key || !g || !raw_off) r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint64_t raw_bytes = 0, tmp_words = 0, tab_words = 0;
    for (uint32_t i = 0; i < n && r == KWVK_OK; i++) {
        r = kw_image_layout(&images[i], i, &l[i]);
        if (r == KWVK_OK) r = kw_image_geometry(info, &images[i], i, &g[i]);
        if (r != KWVK_OK) break;
        key[i] = key_of(&images[i], &l[i]);
        raw_off[i] = raw_bytes;
        raw_bytes += (l[i].bytes + 3) & ~3ull;
        raw_bytes += (l[i].uv_bytes + 3) & ~3ull;
        tmp_words += (uint64_t)g[i].cw * (g[i].rh + 1);
        tab_words += (uint64_t)g[i].tab_h + g[i].tab_v;
    }
    if (r == KWVK_OK && (raw_bytes >= (1ull << 32) || tmp_words * 4 >= (1ull << 32) || tab_words >= (1ull << 30)))
        r = kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "the images are too large for one run (%llu bytes of pixels)",
                    (unsigned long long)raw_bytes);
    /* a recording is reused while the frames' geometry, the buffers and the input stay */
    bool same = r == KWVK_OK && s->rec.cmd && s->n_key == n && s->input == input->buffer &&
                memcmp(s->key, key, n * sizeof *key) == 0;
    bool changed = false;
    if (r == KWVK_OK) r = ensure(ctx, &s->raw, raw_bytes, KW_MEM_UPLOAD, &changed);
    if (r == KWVK_OK) r = ensure(ctx, &s->tmp, tmp_words * 4, KW_MEM_DEVICE, &changed);
    if (r == KWVK_OK) r = ensure(ctx, &s->table, tab_words * 4, KW_MEM_UPLOAD, &changed);
    if (r == KWVK_OK && (!same || changed)) {
        kw_rec_release(&s->rec);
        free(s->key);
        free(s->raw_off);
        s->key = key;
        s->raw_off = raw_off;
        s->n_key = n;
        s->input = input->buffer;
        key = NULL;
        raw_off = NULL;
        kw_pipeline *ph = NULL, *pv = NULL;
        static const uint32_t no_spec[1] = {0}; /* (no specialisation constants; not NULL for memcpy) */
        r = kw_pipeline_get(ctx, "img_resize_h", no_spec, 0, &ph);
        if (r == KWVK_OK) r = kw_pipeline_get(ctx, "img_resize_v", no_spec, 0, &pv);
        if (r == KWVK_OK) r = kw_rec_begin(ctx, &s->rec, 0);
        uint64_t tmp_at = 0, tab_at = 0;
        const uint64_t per = (uint64_t)info->input_channels * info->input_height * info->input_width;
        for (uint32_t i = 0; i < n && r == KWVK_OK; i++) {
            uint32_t ylo, yhi;
            int32_t *tab = (int32_t *)s->table.mapped + tab_at;
            if (!kw_image_tables(&g[i], tab, &ylo, &yhi)) {
                r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            const kwvk_image *im = &images[i];
            push_h a = {im->format,
                        im->width,
                        im->height,
                        (uint32_t)l[i].stride,
                        (uint32_t)(s->raw_off[i] + ((l[i].bytes + 3) & ~3ull)),
                        (uint32_t)l[i].uv_stride,
                        (uint32_t)s->raw_off[i],
                        im->rotation,
                        (im->flags & KWVK_IMAGE_YUV_FULL_RANGE) ? 1u : 0u,
                        g[i].cw,
                        ylo,
                        yhi - ylo,
                        (uint32_t)tab_at,
                        g[i].kx,
                        (uint32_t)tmp_at};
            kw_view vh[3] = {kw_view_of(&s->raw, 0, 0), kw_view_of(&s->table, 0, 0), kw_view_of(&s->tmp, 0, 0)};
            r = kw_rec_dispatch(&s->rec, ph, vh, 3, 1u << 2, &a, sizeof a, kw_div_up(g[i].cw, 8),
                                kw_div_up(yhi - ylo, 8), 1);
            if (r != KWVK_OK) break;
            push_v b = {g[i].cw,
                        g[i].ch,
                        info->input_channels,
                        (uint32_t)(tab_at + g[i].tab_h),
                        g[i].ky,
                        (uint32_t)tmp_at,
                        (uint32_t)(per * i),
                        0,
                        {0},
                        {0}};
            memcpy(b.mean, info->mean, sizeof b.mean);
            memcpy(b.std, info->std, sizeof b.std);
            kw_view vv[3] = {kw_view_of(&s->tmp, 0, 0), kw_view_of(&s->table, 0, 0), kw_view_of(input, 0, 0)};
            r = kw_rec_dispatch(&s->rec, pv, vv, 3, 1u << 2, &b, sizeof b, kw_div_up(g[i].cw, 8), kw_div_up(g[i].ch, 8),
                                1);
            tmp_at += (uint64_t)g[i].cw * (g[i].rh + 1);
            tab_at += (uint64_t)g[i].tab_h + g[i].tab_v;
        }
        if (r == KWVK_OK) {
            kw_rec_barrier(&s->rec); /* the net's command buffer copies the input next */
            r = kw_rec_end(&s->rec);
        }
        if (r != KWVK_OK) {
            kw_rec_release(&s->rec);
            s->n_key = 0;
        }
    }
    /* the pixels: every submission */
    for (uint32_t i = 0; i < n && r == KWVK_OK; i++) {
        uint8_t *dst = (uint8_t *)s->raw.mapped + s->raw_off[i];
        memcpy(dst, images[i].data, l[i].bytes);
        if (l[i].uv_bytes) memcpy(dst + ((l[i].bytes + 3) & ~3ull), l[i].uv, l[i].uv_bytes);
    }
    if (r == KWVK_OK) *cmd = s->rec.cmd;
    free(l);
    free(key);
    free(g);
    free(raw_off);
    return r;
}
