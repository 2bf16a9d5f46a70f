/* test_large_image - decoding of very large photos by the tools' image path
 * (tools/common/tool_util.c). When the tools are built with libpng, first PNGs written here
 * row by row by libpng:
 *   - small PNGs of every colour type and bit depth: libpng's row-by-row decoder at scale 1
 *     gives exactly stb_image's pixels (the decoder of normal-size PNGs), and at 1/3 exactly
 *     the 3 x 3 box means of them;
 *   - 200 million pixels (16320 x 12240): decoded row by row and box-filtered by 23 to
 *     709 x 532 (the largest factor keeping a shorter side >= 512), within bounded memory
 *     (peak resident size checked), and preprocessed for an ImageNet model (shorter side 256,
 *     centre crop 224) to within a few levels of the exact values of the smooth test pattern;
 *   - the same file truncated, corrupted, marked interlaced, cut after its header, or with a
 *     header saying 201.5 million pixels: refused, with the reason;
 * then JPEGs written here row by row by libjpeg:
 *   - 200 million pixels (16320 x 12240): decoded scaled down by libjpeg's DCT scaling (1/8)
 *     to 2040 x 1530, within bounded memory, and preprocessed to within a few levels of the
 *     exact pattern (the documented approximation);
 *   - 201.5 million pixels: refused with the limit in the message;
 *   - a 50-megapixel phone photo (8160 x 6120): decoded at full resolution;
 *   - a truncated JPEG: refused as truncated;
 *   - a progressive JPEG declaring 72 million pixels: refused before decoding (libjpeg would
 *     hold all its coefficients in memory);
 * and a PNM declaring 72 million pixels (header only; built without libpng, a PNG too): refused
 * before decoding, naming the limit for formats decoded whole.
 * Usage: test_large_image WORKDIR [PEAK_MIB] (default 160; more under the sanitizers) */
#include "mw.h"
#include "tool_util.h"

#include <jpeglib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef KWVK_TEST_LIBPNG
#include <png.h>
#include <zlib.h>
#endif

static int failures = 0;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

static long peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024; /* Linux: KiB */
}

/* the pattern: R rises left to right, G top to bottom, B = 128 */
static int write_jpeg_mode(const char *path, unsigned w, unsigned h, int progressive)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * 3);
    if (!row) return -1;
    while (c.next_scanline < h) {
        unsigned y = c.next_scanline;
        for (unsigned x = 0; x < w; x++) {
            row[3 * x] = (unsigned char)(255.0 * x / (w - 1) + 0.5);
            row[3 * x + 1] = (unsigned char)(255.0 * y / (h - 1) + 0.5);
            row[3 * x + 2] = 128;
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return fclose(f);
}

static int write_jpeg(const char *path, unsigned w, unsigned h) { return write_jpeg_mode(path, w, h, 0); }

/* ImageNet's geometry without normalisation (values stay in 0..255), as an identity network
 * built with the test model writer (tests/hostile/mw.c) */
static kwvk_model *imagenet(void)
{
    mw_model m;
    mw_identity(&m, 3, 224, 224);
    m.resize_short = 256;
    m.crop = 224;
    for (int c = 0; c < 3; c++) {
        m.mean[c] = 0.0f;
        m.std[c] = 1.0f / 255.0f;
    }
    mw_layout l;
    uint8_t *bytes = mw_bytes(&m, &l);
    kwvk_model *model = NULL;
    if (bytes && kwvk_model_load_memory(bytes, l.size, &model) != KWVK_OK) model = NULL;
    free(bytes);
    mw_free(&m);
    return model;
}

static uint8_t *decode_file(const char *path, int min_short, int *w, int *h, const char **err)
{
    size_t n;
    uint8_t *data = tu_read_file(path, &n);
    if (!data) {
        *err = "cannot read";
        return NULL;
    }
    uint8_t *rgb = tu_decode_rgb8_scaled(data, n, min_short, w, h, err);
    free(data);
    return rgb;
}

#ifdef KWVK_TEST_LIBPNG
/* a PNG written row by row: sample c of pixel (x, y) is fill(x, y, c) (16-bit: all 16 bits
 * used; palette: the index) */
typedef unsigned (*png_fill)(unsigned x, unsigned y, unsigned c, unsigned w, unsigned h);

static long file_kib(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n / 1024;
}

static int png_channels(int type)
{
    return type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_PALETTE ? 1
         : type == PNG_COLOR_TYPE_GRAY_ALPHA                            ? 2
         : type == PNG_COLOR_TYPE_RGB                                   ? 3
                                                                         : 4;
}

static int write_png(const char *path, unsigned w, unsigned h, int depth, int type, int trns, png_fill fill)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    int ch = png_channels(type);
    unsigned char *row = malloc((size_t)w * ch * 2);
    if (!row || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, PNG_FILTER_UP);
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        png_byte alpha[16];
        for (int i = 0; i < 16; i++) {
            pal[i].red = (png_byte)(i * 16);
            pal[i].green = (png_byte)(255 - i * 13);
            pal[i].blue = (png_byte)(i * 71);
            alpha[i] = (png_byte)(i * 17);
        }
        png_set_PLTE(png, info, pal, 16);
        if (trns) png_set_tRNS(png, info, alpha, 16, NULL);
    } else if (trns) {
        png_color_16 t = {0, 10, 20, 30, 10};
        png_set_tRNS(png, info, NULL, 0, &t);
    }
    png_write_info(png, info);
    if (depth < 8) png_set_packing(png);
    for (unsigned y = 0; y < h; y++) {
        for (unsigned x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                unsigned v = fill(x, y, (unsigned)c, w, h);
                if (depth == 16) {
                    row[(x * ch + c) * 2] = (unsigned char)(v >> 8);
                    row[(x * ch + c) * 2 + 1] = (unsigned char)v;
                } else {
                    row[x * ch + c] = (unsigned char)v;
                }
            }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(f);
}

static unsigned fill_pattern(unsigned x, unsigned y, unsigned c, unsigned w, unsigned h)
{ /* the big images' pattern, as the JPEGs' */
    return c == 0 ? (unsigned)(255.0 * x / (w - 1) + 0.5) : c == 1 ? (unsigned)(255.0 * y / (h - 1) + 0.5) : 128;
}

static int small_depth;
static unsigned fill_small(unsigned x, unsigned y, unsigned c, unsigned w, unsigned h)
{
    (void)w;
    (void)h;
    unsigned v = x * 2654435761u ^ y * 40503u ^ c * 977u;
    v ^= v >> 13;
    return v & ((1u << small_depth) - 1);
}

/* set byte `at` of a PNG chunk's data and recompute the chunk's CRC (chunk at offset `chunk`) */
static void png_patch(uint8_t *d, size_t chunk, size_t at, uint8_t v)
{
    size_t len = (size_t)d[chunk] << 24 | (size_t)d[chunk + 1] << 16 | (size_t)d[chunk + 2] << 8 | d[chunk + 3];
    d[chunk + 8 + at] = v;
    uint32_t crc = (uint32_t)crc32(0, d + chunk + 4, (uInt)(len + 4));
    for (int i = 0; i < 4; i++) d[chunk + 8 + len + i] = (uint8_t)(crc >> (24 - 8 * i));
}

static void png_tests(const char *dir, const kwvk_model *model, const kwvk_model_info *info, float *out,
                      long peak_limit)
{
    char path[4096], what[200];
    const char *err = NULL;
    int w = 0, h = 0, w2 = 0, h2 = 0;

    /* every colour type and bit depth: the row decoder vs stb_image */
    static const struct {
        int type, depth, trns;
    } kinds[] = {{PNG_COLOR_TYPE_GRAY, 1, 0},       {PNG_COLOR_TYPE_GRAY, 2, 0},
                 {PNG_COLOR_TYPE_GRAY, 4, 0},       {PNG_COLOR_TYPE_GRAY, 8, 0},
                 {PNG_COLOR_TYPE_GRAY, 16, 0},      {PNG_COLOR_TYPE_GRAY, 8, 1},
                 {PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0}, {PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0},
                 {PNG_COLOR_TYPE_PALETTE, 4, 0},    {PNG_COLOR_TYPE_PALETTE, 8, 1},
                 {PNG_COLOR_TYPE_RGB, 8, 0},        {PNG_COLOR_TYPE_RGB, 16, 0},
                 {PNG_COLOR_TYPE_RGB, 8, 1},        {PNG_COLOR_TYPE_RGB_ALPHA, 8, 0},
                 {PNG_COLOR_TYPE_RGB_ALPHA, 16, 0}};
    int same1 = 0, same3 = 0, nk = (int)(sizeof kinds / sizeof kinds[0]);
    for (int k = 0; k < nk; k++) {
        snprintf(path, sizeof path, "%s/small.png", dir);
        small_depth = kinds[k].type == PNG_COLOR_TYPE_PALETTE ? 4 : kinds[k].depth;
        if (write_png(path, 37, 23, kinds[k].depth, kinds[k].type, kinds[k].trns, fill_small) != 0) break;
        size_t n;
        uint8_t *data = tu_read_file(path, &n);
        remove(path);
        if (!data) break;
        uint8_t *ref = tu_decode_rgb8(data, n, &w, &h, &err);
        uint8_t *rows = tu_decode_png_box(data, n, 1, &w2, &h2, &err);
        int ok1 = ref && rows && w == 37 && h == 23 && w2 == 37 && h2 == 23 && !memcmp(ref, rows, 37 * 23 * 3);
        tu_free_rgb8(rows);
        rows = tu_decode_png_box(data, n, 3, &w2, &h2, &err);
        int ok3 = ref && rows && w2 == 12 && h2 == 7;
        for (int y = 0; ok3 && y < 7; y++)
            for (int x = 0; x < 12; x++)
                for (int c = 0; c < 3; c++) {
                    unsigned sum = 0;
                    for (int j = 0; j < 3; j++)
                        for (int i = 0; i < 3; i++) sum += ref[((3 * y + j) * 37 + 3 * x + i) * 3 + c];
                    ok3 &= rows[(y * 12 + x) * 3 + c] == (sum + 4) / 9;
                }
        if (!ok1 || !ok3)
            printf("     colour type %d, %d-bit%s: %s\n", kinds[k].type, kinds[k].depth, kinds[k].trns ? ", tRNS" : "",
                   !ok1 ? "differs from stb_image" : "box means differ");
        same1 += ok1;
        same3 += ok3;
        tu_free_rgb8(rows);
        tu_free_rgb8(ref);
        free(data);
    }
    snprintf(what, sizeof what, "PNG row decoder = stb_image on %d/%d colour types and bit depths", same1, nk);
    check(same1 == nk, what);
    snprintf(what, sizeof what, "... and = 3 x 3 box means of stb_image's pixels at 1/3 on %d/%d", same3, nk);
    check(same3 == nk, what);

    /* 200 million pixels */
    const unsigned W = 16320, H = 12240;
    snprintf(path, sizeof path, "%s/200mp.png", dir);
    if (write_png(path, W, H, 8, PNG_COLOR_TYPE_RGB, 0, fill_pattern) != 0) {
        check(0, "writing the 200-megapixel PNG");
        return;
    }
    long before = peak_rss_mib();
    int r = tu_load_image(path, model, out, &err);
    long used = peak_rss_mib();
    printf("     200 MP PNG (%ld KiB): %s; peak resident size %ld MiB (%ld MiB before)\n", file_kib(path),
           r ? err : "decoded", used, before);
    check(r == 0, "a 200-megapixel PNG decodes");
    snprintf(what, sizeof what, "... within bounded memory (peak resident size < %ld MiB; whole it would be 560 MiB)",
             peak_limit);
    check(used < peak_limit, what);
    if (r == 0) {
        tu_geometry g;
        if (tu_resize_geometry((int)W, (int)H, info, &g, &err) == 0) {
            double worst = 0;
            for (int y = 0; y < 224; y++)
                for (int x = 0; x < 224; x++) {
                    double sx = (x + g.x0 + 0.5) * W / g.ow - 0.5, sy = (y + g.y0 + 0.5) * H / 256.0 - 0.5;
                    double want[3] = {255.0 * sx / (W - 1), 255.0 * sy / (H - 1), 128};
                    for (int c = 0; c < 3; c++) {
                        double d = fabs(out[(c * 224 + y) * 224 + x] - want[c]);
                        if (d > worst) worst = d;
                    }
                }
            printf("     largest difference from the exact pattern: %.1f of 255\n", worst);
            check(worst <= 3.0, "... preprocessed to within 3/255 of the exact pattern");
        }
    }
    size_t n;
    uint8_t *data = tu_read_file(path, &n);
    remove(path);
    if (!data) {
        check(0, "reading the 200-megapixel PNG");
        return;
    }
    uint8_t *rgb = tu_decode_rgb8_scaled(data, n, tu_min_decode_side(info), &w, &h, &err);
    check(rgb && w == 709 && h == 532, "... at 1/23 scale (the smallest with a shorter side >= 512)");
    tu_free_rgb8(rgb);
    rgb = tu_decode_rgb8_scaled(data, n, 0, &w, &h, &err);
    check(!rgb && err && strstr(err, "at full resolution"), "... and refused where full resolution is asked for");
    tu_free_rgb8(rgb);

    /* truncated at half, and corrupt (bytes inside the compressed data changed) */
    rgb = tu_decode_rgb8_scaled(data, n / 2, 512, &w, &h, &err);
    printf("     truncated PNG: %s\n", rgb ? "decoded" : err);
    check(!rgb && err && strstr(err, "truncated"), "a truncated 200-megapixel PNG is refused as truncated");
    tu_free_rgb8(rgb);
    uint8_t *bad = malloc(n);
    if (bad) {
        memcpy(bad, data, n);
        for (size_t i = n / 3; i < n / 3 + 64; i++) bad[i] ^= 0x5A;
        rgb = tu_decode_rgb8_scaled(bad, n, 512, &w, &h, &err);
        printf("     corrupt PNG: %s\n", rgb ? "decoded" : err);
        check(!rgb && err && strstr(err, "PNG"), "a corrupt 200-megapixel PNG is refused with an error");
        tu_free_rgb8(rgb);
        /* the same file marked interlaced (IHDR byte 12; the IHDR chunk starts at offset 8) */
        memcpy(bad, data, n);
        png_patch(bad, 8, 12, 1);
        rgb = tu_decode_rgb8_scaled(bad, n, 512, &w, &h, &err);
        printf("     interlaced PNG: %s\n", rgb ? "decoded" : err);
        check(!rgb && err && strstr(err, "interlaced"), "a 200-megapixel interlaced PNG is refused, with the reason");
        tu_free_rgb8(rgb);
        /* 16384 x 12300 (IHDR width and height) */
        memcpy(bad, data, n);
        png_patch(bad, 8, 2, 16384 >> 8);
        png_patch(bad, 8, 3, 16384 & 255);
        png_patch(bad, 8, 6, 12300 >> 8);
        png_patch(bad, 8, 7, 12300 & 255);
        rgb = tu_decode_rgb8_scaled(bad, n, 512, &w, &h, &err);
        printf("     201.5 MP PNG: %s\n", rgb ? "decoded" : err);
        check(!rgb && err && strstr(err, "201.5 million") && strstr(err, "200.0 million"),
              "a 201.5-megapixel PNG is refused, naming the limit");
        tu_free_rgb8(rgb);
        /* the first 33 bytes only (signature and IHDR) */
        rgb = tu_decode_rgb8_scaled(data, 33, 512, &w, &h, &err);
        printf("     200 MP PNG header only: %s\n", rgb ? "decoded" : err);
        check(!rgb && err && strstr(err, "truncated"), "a header-only 200-megapixel PNG is refused");
        tu_free_rgb8(rgb);
        free(bad);
    }
    free(data);
}
#endif

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: test_large_image WORKDIR [PEAK_MIB]\n");
        return 2;
    }
    long peak_limit = argc == 3 ? atol(argv[2]) : 160;
    char path[4096];
    kwvk_model *model = imagenet();
    if (!model) {
        fprintf(stderr, "cannot build the model: %s\n", kwvk_last_error());
        return 1;
    }
    kwvk_model_info info;
    kwvk_model_get_info(model, &info);
    float *out = malloc(3 * 224 * 224 * sizeof *out);
    const char *err = NULL;
    int w = 0, h = 0;
    if (!out) return 1;

#ifdef KWVK_TEST_LIBPNG
    /* first: the peak resident size only grows (the 50-megapixel JPEG is decoded whole) */
    png_tests(argv[1], model, &info, out, peak_limit);
#endif

    /* 200 million pixels */
    const unsigned W = 16320, H = 12240;
    snprintf(path, sizeof path, "%s/200mp.jpg", argv[1]);
    if (write_jpeg(path, W, H) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    long before = peak_rss_mib();
    int r = tu_load_image(path, model, out, &err);
    long used = peak_rss_mib();
    printf("     200 MP: %s; peak resident size %ld MiB (%ld MiB before)\n", r ? err : "decoded", used, before);
    check(r == 0, "a 200-megapixel JPEG decodes");
    char what[160];
    snprintf(what, sizeof what, "... within bounded memory (peak resident size < %ld MiB; whole it would be 560 MiB)",
             peak_limit);
    check(used < peak_limit, what);
    if (r == 0) { /* the exact pattern at each output pixel centre vs the preprocessed values */
        tu_geometry g;
        if (tu_resize_geometry((int)W, (int)H, &info, &g, &err) != 0) return 1;
        int ow = g.ow, x0 = g.x0, y0 = g.y0;
        double worst = 0;
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++) {
                double sx = (x + x0 + 0.5) * W / ow - 0.5, sy = (y + y0 + 0.5) * H / 256.0 - 0.5;
                double want[3] = {255.0 * sx / (W - 1), 255.0 * sy / (H - 1), 128};
                for (int c = 0; c < 3; c++) {
                    double d = fabs(out[(c * 224 + y) * 224 + x] - want[c]);
                    if (d > worst) worst = d;
                }
            }
        printf("     largest difference from the exact pattern: %.1f of 255\n", worst);
        check(worst <= 3.0, "... preprocessed to within 3/255 of the exact pattern");
    }
    uint8_t *rgb = decode_file(path, tu_min_decode_side(&info), &w, &h, &err);
    check(rgb && w == (int)W / 8 && h == (int)H / 8, "... at 1/8 scale (the smallest with a shorter side >= 512)");
    tu_free_rgb8(rgb);
    rgb = decode_file(path, 0, &w, &h, &err);
    check(!rgb && err && strstr(err, "at full resolution"), "... and refused where full resolution is asked for");
    tu_free_rgb8(rgb);
    remove(path);

    /* just above the limit */
    snprintf(path, sizeof path, "%s/201mp.jpg", argv[1]);
    if (write_jpeg(path, 16384, 12300) != 0) return 1;
    r = tu_load_image(path, model, out, &err);
    printf("     201.5 MP: %s\n", r ? err : "decoded");
    check(r != 0 && strstr(err, "200.0 million"), "a 201.5-megapixel JPEG is refused, naming the limit");
    remove(path);

    /* a 50-megapixel phone photo, decoded whole */
    snprintf(path, sizeof path, "%s/50mp.jpg", argv[1]);
    if (write_jpeg(path, 8160, 6120) != 0) return 1;
    r = tu_load_image(path, model, out, &err);
    check(r == 0, "a 50-megapixel JPEG decodes");
    rgb = decode_file(path, tu_min_decode_side(&info), &w, &h, &err);
    check(rgb && w == 8160 && h == 6120, "... at full resolution");
    tu_free_rgb8(rgb);

    /* truncated */
    size_t n;
    uint8_t *data = tu_read_file(path, &n);
    remove(path);
    if (!data) return 1;
    rgb = tu_decode_rgb8(data, n / 2, &w, &h, &err);
    printf("     truncated: %s\n", rgb ? "decoded" : err);
    check(!rgb && strstr(err, "truncated"), "a truncated JPEG is refused as truncated");
    tu_free_rgb8(rgb);
    free(data);

    /* a progressive JPEG whose frame header says 9000 x 8000: refused before decoding */
    snprintf(path, sizeof path, "%s/progressive.jpg", argv[1]);
    if (write_jpeg_mode(path, 16, 16, 1) != 0) return 1;
    data = tu_read_file(path, &n);
    remove(path);
    if (!data) return 1;
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (data[i] == 0xFF && data[i + 1] == 0xC2) sof = i;
    check(sof != 0, "the progressive test file has an SOF2 frame header");
    if (sof) {
        data[sof + 5] = 8000 >> 8; /* height, then width, big-endian */
        data[sof + 6] = 8000 & 255;
        data[sof + 7] = 9000 >> 8;
        data[sof + 8] = 9000 & 255;
        rgb = tu_decode_rgb8_scaled(data, n, 512, &w, &h, &err);
        printf("     72 MP progressive JPEG: %s\n", rgb ? "decoded" : err);
        check(!rgb && strstr(err, "progressive"), "a 72-megapixel progressive JPEG is refused, with the reason");
        tu_free_rgb8(rgb);
    }
    free(data);

    /* a PNM header declaring 9000 x 8000 pixels */
    static const char pnm[] = "P6\n9000 8000\n255\n\0\0\0\0\0\0";
    rgb = tu_decode_rgb8_scaled((const uint8_t *)pnm, sizeof pnm, 512, &w, &h, &err);
    printf("     72 MP PNM: %s\n", rgb ? "decoded" : err);
    check(!rgb && strstr(err, "72.0 million") && strstr(err, "decoded whole"),
          "a 72-megapixel PNM is refused before decoding, with the reason");
    tu_free_rgb8(rgb);
#ifndef KWVK_TEST_LIBPNG
    /* without libpng: a PNG header declaring 9000 x 8000 pixels is refused the same way */
    static const uint8_t png[] = {0x89, 'P',  'N',  'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
                                  0,    0x23, 0x28, 0,   0,    0x1f, 0x40, 8,    2, 0, 0, 0,  0,   0,   0,   0};
    rgb = tu_decode_rgb8_scaled(png, sizeof png, 512, &w, &h, &err);
    printf("     72 MP PNG: %s\n", rgb ? "decoded" : err);
    check(!rgb && strstr(err, "72.0 million") && strstr(err, "decoded whole"),
          "a 72-megapixel PNG is refused before decoding, with the reason (built without libpng)");
    tu_free_rgb8(rgb);
#endif

    free(out);
    kwvk_model_destroy(model);
    printf("%d passed, %d failed\n", failures == 0, failures);
    return failures ? 1 : 0;
}
