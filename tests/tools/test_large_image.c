/* test_large_image - decoding of very large photos by the tools' image path
 * (tools/common/tool_util.c), with JPEGs written here row by row by libjpeg:
 *   - 200 million pixels (16320 x 12240): decoded scaled down by libjpeg's DCT scaling (1/8)
 *     to 2040 x 1530, within bounded memory (peak resident size checked), and preprocessed
 *     for an ImageNet model (shorter side 256, centre crop 224) to within a few levels of the
 *     exact values of the smooth test pattern (the documented approximation);
 *   - 201.5 million pixels: refused with the limit in the message;
 *   - a 50-megapixel phone photo (8160 x 6120): decoded at full resolution;
 *   - a PNG declaring 72 million pixels (header only): refused before decoding, naming the
 *     limit for formats decoded whole;
 *   - a truncated JPEG: refused as truncated;
 *   - a progressive JPEG declaring 72 million pixels: refused before decoding (libjpeg would
 *     hold all its coefficients in memory).
 * Usage: test_large_image WORKDIR [PEAK_MIB] (default 160; more under the sanitizers) */
#include "mw.h"
#include "tool_util.h"

#include <jpeglib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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

    /* a PNG header declaring 9000 x 8000 pixels */
    static const uint8_t png[] = {0x89, 'P',  'N',  'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
                                  0,    0x23, 0x28, 0,   0,    0x1f, 0x40, 8,    2, 0, 0, 0,  0,   0,   0,   0};
    rgb = tu_decode_rgb8_scaled(png, sizeof png, 512, &w, &h, &err);
    printf("     72 MP PNG: %s\n", rgb ? "decoded" : err);
    check(!rgb && strstr(err, "72.0 million") && strstr(err, "decoded whole"),
          "a 72-megapixel PNG is refused before decoding, with the reason");
    tu_free_rgb8(rgb);

    free(out);
    kwvk_model_destroy(model);
    printf("%d passed, %d failed\n", failures == 0, failures);
    return failures ? 1 : 0;
}
