/* test_viewer_pixconv - the viewer's CPU side without a camera or a GPU:
 *   - YUYV -> RGB on a recorded 64x48 buffer with padded lines, against the expected RGB
 *     computed independently (tests/viewer/make_test_data.py);
 *   - MJPEG: a frame without Huffman tables (as UVC cameras send it) decodes to exactly the
 *     same pixels as the same frame with its tables, and close to libjpeg's decoding;
 *     damaged frames fail cleanly;
 *   - the camera mode choice, the font, the layout, and the file/directory/pattern sources
 *     and the camera source's failure messages. */
#include "vw_font.h"
#include "vw_layout.h"
#include "vw_pixconv.h"
#include "vw_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static uint8_t *read_all(const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", VW_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FAIL: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void test_yuyv(void)
{
    const int w = 64, h = 48;
    const size_t stride = 160;
    size_t n_yuyv, n_rgb;
    uint8_t *yuyv = read_all("yuyv_64x48_s160.yuyv", &n_yuyv);
    uint8_t *want = read_all("yuyv_64x48_s160.rgb", &n_rgb);
    CHECK(n_yuyv == stride * h && n_rgb == (size_t)w * h * 3, "recorded buffer sizes %zu %zu", n_yuyv, n_rgb);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    vw_yuyv_to_rgb24(yuyv, w, h, stride, rgb);
    size_t diff = 0;
    for (size_t i = 0; i < n_rgb; i++) diff += rgb[i] != want[i];
    CHECK(diff == 0, "YUYV conversion: %zu of %zu bytes differ from the expected RGB", diff, n_rgb);
    /* the extremes of the limited range: black, white, saturated primaries */
    uint8_t p[3];
    vw_yuv_to_rgb(16, 128, 128, p);
    CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0, "Y=16 is not black: %u %u %u", p[0], p[1], p[2]);
    vw_yuv_to_rgb(235, 128, 128, p);
    CHECK(p[0] == 255 && p[1] == 255 && p[2] == 255, "Y=235 is not white: %u %u %u", p[0], p[1], p[2]);
    vw_yuv_to_rgb(0, 0, 255, p); /* out of range input clamps, never wraps */
    CHECK(p[0] <= 255 && p[2] == 0, "clamping");
    /* forward then back: close to the original (chroma is shared by pixel pairs) */
    const int ow = 5, oh = 3; /* odd width: the last pixel has no partner */
    uint8_t src[5 * 3 * 3], back[5 * 3 * 3], packed[12 * 3];
    for (int i = 0; i < ow * oh * 3; i++) src[i] = (uint8_t)(100 + (i * 7) % 40);
    vw_rgb24_to_yuyv(src, ow, oh, 12, packed);
    vw_yuyv_to_rgb24(packed, ow, oh, 12, back);
    int worst = 0;
    for (int i = 0; i < ow * oh * 3; i++) {
        int d = abs((int)src[i] - (int)back[i]);
        if (d > worst) worst = d;
    }
    CHECK(worst <= 24, "RGB -> YUYV -> RGB differs by %d", worst);
    free(yuyv);
    free(want);
    free(rgb);
}

static void test_mjpeg(void)
{
    size_t n_jpg, n_nodht, n_ref;
    uint8_t *jpg = read_all("mjpeg_64x48.jpg", &n_jpg);
    uint8_t *nodht = read_all("mjpeg_64x48_nodht.mjpg", &n_nodht);
    uint8_t *ref = read_all("mjpeg_64x48.rgb", &n_ref);
    CHECK(vw_jpeg_has_dht(jpg, n_jpg), "the reference JPEG has a DHT");
    CHECK(!vw_jpeg_has_dht(nodht, n_nodht), "the camera-style frame has no DHT");
    int w1, h1, w2, h2;
    const char *err = NULL;
    uint8_t *a = vw_mjpeg_decode(jpg, n_jpg, &w1, &h1, &err);
    uint8_t *b = vw_mjpeg_decode(nodht, n_nodht, &w2, &h2, &err);
    CHECK(a && b, "decoding failed: %s", err ? err : "?");
    if (a && b) {
        CHECK(w1 == 64 && h1 == 48 && w2 == 64 && h2 == 48, "sizes %dx%d %dx%d", w1, h1, w2, h2);
        CHECK(!memcmp(a, b, (size_t)w1 * h1 * 3), "the frame without DHT decodes differently from the one with it");
        /* stb_image and libjpeg differ in IDCT and chroma upsampling: close, not equal */
        long sum = 0, far = 0;
        int worst = 0;
        for (size_t i = 0; i < n_ref; i++) {
            int d = abs((int)a[i] - (int)ref[i]);
            sum += d;
            far += d > 16;
            if (d > worst) worst = d;
        }
        double mean = (double)sum / (double)n_ref;
        printf("MJPEG vs libjpeg: mean |diff| %.3f, max %d (at colour edges), %ld of %zu bytes differ by > 16\n", mean,
               worst, far, n_ref);
        CHECK(mean < 1.0 && far * 100 < (long)n_ref, "MJPEG decode too far from libjpeg: mean %.3f, %ld bytes > 16", mean,
              far);
    }
    free(a);
    free(b);
    /* the inserted tables sit before the scan, once */
    size_t fixed_n;
    uint8_t *fixed = vw_mjpeg_fix(nodht, n_nodht, &fixed_n);
    CHECK(fixed && vw_jpeg_has_dht(fixed, fixed_n) && fixed_n == n_nodht + 4 + 4 + 2 * 28 + 2 * 178, "DHT insertion");
    size_t same_n;
    uint8_t *same = vw_mjpeg_fix(jpg, n_jpg, &same_n);
    CHECK(same && same_n == n_jpg && !memcmp(same, jpg, n_jpg), "a frame with DHT is left alone");
    free(fixed);
    free(same);
    /* damaged frames: truncated, not a JPEG, empty, random corruption: an error, no crash */
    int w, h;
    CHECK(!vw_mjpeg_decode(nodht, 0, &w, &h, &err) && err, "empty frame");
    CHECK(!vw_mjpeg_decode((const uint8_t *)"not a jpeg at all", 17, &w, &h, &err) && err, "garbage");
    for (size_t cut = 2; cut < n_nodht; cut += 97) {
        uint8_t *r = vw_mjpeg_decode(nodht, cut, &w, &h, &err);
        free(r); /* stb may decode a cut frame with a grey tail; it must not crash */
    }
    uint8_t *mut = malloc(n_nodht);
    unsigned seed = 12345;
    for (int k = 0; k < 300; k++) {
        memcpy(mut, nodht, n_nodht);
        for (int j = 0; j < 4; j++) {
            seed = seed * 1103515245u + 12345u;
            mut[(seed >> 8) % n_nodht] = (uint8_t)(seed >> 20);
        }
        uint8_t *r = vw_mjpeg_decode(mut, n_nodht, &w, &h, &err);
        if (r) CHECK(w > 0 && h > 0 && w <= 65535 && h <= 65535, "corrupt frame decoded to %dx%d", w, h);
        free(r);
    }
    free(mut);
    free(jpg);
    free(nodht);
    free(ref);
}

static void test_modes(void)
{
    const uint32_t Y = VW_FOURCC_YUYV, M = VW_FOURCC_MJPG, H264 = VW_FOURCC('H', '2', '6', '4');
    vw_cam_mode modes[] = {{Y, 640, 480}, {Y, 1280, 720}, {M, 640, 480}, {M, 1280, 720}, {M, 1920, 1080}, {H264, 640, 480}};
    int n = (int)(sizeof modes / sizeof modes[0]);
    vw_cam_mode out;
    char err[256];
    CHECK(vw_cam_choose(modes, n, 640, 480, 0, &out, err, sizeof err) == 0 && out.fourcc == Y && out.w == 640,
          "640x480 should be YUYV");
    CHECK(vw_cam_choose(modes, n, 1280, 720, 0, &out, err, sizeof err) == 0 && out.fourcc == M && out.w == 1280,
          "1280x720 should be MJPEG");
    CHECK(vw_cam_choose(modes, n, 1920, 1080, Y, &out, err, sizeof err) == 0 && out.fourcc == Y && out.w == 1280,
          "YUYV only: the closest YUYV size");
    CHECK(vw_cam_choose(modes, n, 800, 600, 0, &out, err, sizeof err) == 0 && out.w == 640 && out.fourcc == Y,
          "800x600: nearest is 640x480");
    vw_cam_mode only_h264[] = {{H264, 640, 480}, {VW_FOURCC('N', 'V', '1', '2'), 640, 480}};
    CHECK(vw_cam_choose(only_h264, 2, 640, 480, 0, &out, err, sizeof err) != 0 && strstr(err, "unsupported pixel format") &&
              strstr(err, "H264") && strstr(err, "NV12"),
          "unsupported formats named: %s", err);
    CHECK(vw_cam_choose(modes, 0, 640, 480, 0, &out, err, sizeof err) != 0, "no modes");
}

static void test_font_layout(void)
{
    uint8_t a[8], b[8];
    for (int i = VW_FONT_FIRST; i <= VW_FONT_LAST; i++) {
        vw_font_rows(i, a);
        int ink = 0;
        for (int y = 0; y < 8; y++) ink += a[y] != 0;
        CHECK(i == ' ' || ink > 0, "glyph '%c' is empty", i);
        for (int j = i + 1; j <= VW_FONT_LAST; j++) {
            vw_font_rows(j, b);
            CHECK(memcmp(a, b, 8) != 0, "glyphs '%c' and '%c' are identical (the text could not be read back)", i, j);
        }
    }
    uint32_t packed[VW_FONT_WORDS];
    vw_font_pack(packed);
    for (int ch = VW_FONT_FIRST; ch <= VW_FONT_LAST; ch++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int bit = (packed[(ch - 32) * 2 + y / 4] >> ((y % 4) * 8 + x)) & 1;
                CHECK(bit == vw_font_pixel(ch, x, y), "packed glyph '%c' differs at %d,%d", ch, x, y);
            }
    const int sizes[][4] = {{800, 600, 28, 28}, {960, 600, 640, 480}, {320, 240, 1920, 1080}, {1, 1, 5, 7}, {3000, 200, 37, 53}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        vw_layout l;
        vw_layout_compute(sizes[k][0], sizes[k][1], sizes[k][2], sizes[k][3], &l);
        CHECK(l.fx >= 0 && l.fy >= 0 && l.fx + l.fw <= l.win_w && l.fy + l.fh <= l.win_h, "frame outside the window");
        CHECK(l.fw == l.win_w || l.fh == l.win_h, "the frame does not fill one side");
        double ar = (double)sizes[k][2] / sizes[k][3], got = (double)l.fw / l.fh;
        CHECK(l.fw < 8 || l.fh < 8 || (got / ar > 0.95 && got / ar < 1.05), "aspect ratio %.3f became %.3f", ar, got);
        int tx, ty;
        vw_layout_text_origin(&l, VW_TOPK + VW_TEXT_LINES - 1, &tx, &ty);
        CHECK(ty + 8 * l.scale <= l.py + l.ph, "the last text line leaves the panel");
    }
}

static void test_sources(void)
{
    char err[512];
    vw_frame f;
    vw_source *s = vw_source_open_image(VW_TEST_DATA "/mjpeg_64x48.jpg", err, sizeof err);
    CHECK(s, "image source: %s", err);
    if (s) {
        CHECK(vw_source_next(s, &f, 0) == 1 && f.w == 64 && f.h == 48 && f.fmt == VW_PIX_RGB24 && f.stride == 192,
              "image frame");
        vw_source_close(s);
    }
    CHECK(!vw_source_open_image(VW_TEST_DATA "/missing.png", err, sizeof err) && strstr(err, "missing.png"),
          "missing image: %s", err);
    CHECK(!vw_source_open_image(VW_TEST_DATA "/yuyv_64x48_s160.yuyv", err, sizeof err) && strstr(err, "cannot decode"),
          "undecodable image: %s", err);
    s = vw_source_open_dir(VW_TEST_DATA, 0, err, sizeof err); /* one .jpg among raw buffers */
    CHECK(s, "directory source: %s", err);
    if (s) {
        uint64_t seq0 = 0;
        for (int k = 0; k < 3; k++) {
            CHECK(vw_source_next(s, &f, 0) == 1 && f.w == 64 && !strcmp(f.name, "mjpeg_64x48.jpg"), "slideshow frame");
            CHECK(k == 0 || f.seq > seq0, "interval 0 shows a new image every frame");
            seq0 = f.seq;
        }
        vw_source_close(s);
    }
    CHECK(!vw_source_open_dir("/nonexistent-dir", 1, err, sizeof err) && strstr(err, "cannot open"), "missing dir: %s", err);
    s = vw_source_open_pattern(63, 31, err, sizeof err);
    CHECK(s, "pattern: %s", err);
    if (s) {
        uint64_t seq = 0;
        for (int k = 0; k < 3; k++) {
            CHECK(vw_source_next(s, &f, 0) == 1 && f.fmt == VW_PIX_YUYV && f.w == 63 && f.h == 31 && f.stride == 128 &&
                      f.seq > seq,
                  "pattern frame");
            seq = f.seq;
        }
        vw_source_close(s);
    }
    /* camera failures, each a one-line message */
    CHECK(!vw_source_open_camera("/dev/video-none", 640, 480, 0, err, sizeof err) && strstr(err, "no camera"),
          "missing camera: %s", err);
    CHECK(!vw_source_open_camera(VW_TEST_DATA "/mjpeg_64x48.jpg", 640, 480, 0, err, sizeof err) &&
              strstr(err, "not a camera"),
          "regular file: %s", err);
    CHECK(!vw_source_open_camera("/dev/null", 640, 480, 0, err, sizeof err) && strstr(err, "not a V4L2 camera"),
          "/dev/null: %s", err);
    CHECK(!strchr(err, '\n'), "messages are one line");
}

int main(void)
{
    test_yuyv();
    test_mjpeg();
    test_modes();
    test_font_layout();
    test_sources();
    if (failures) {
        fprintf(stderr, "test_viewer_pixconv: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_viewer_pixconv: all passed\n");
    return 0;
}
