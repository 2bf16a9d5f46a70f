/* check_screenshot - read a kwvk-viewer screenshot back and check it:
 *   - the frame: every window pixel inside the frame's rectangle and outside the overlay
 *     panel equals the nearest-neighbour source pixel (exactly);
 *   - the overlay: its text is read back glyph by glyph with the viewer's font; the first
 *     label must be the expected class (as kwvk-classify names it), its confidence within
 *     0.15 points of the expected one, its bar as long as that confidence says; the status,
 *     device and model lines must say what is expected.
 *
 *   vw_check_screenshot --screenshot PNG --model MODEL --class N --pct P
 *                       [--image SRC | --no-frame] [--device TEXT] [--line3 PREFIX]
 *                       [--paused]
 * Prints the text it read; exit 0 when everything matches, 1 otherwise. */
#include "kwvk.h"
#include "vw_font.h"
#include "vw_layout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image.h> /* implemented in tools/common/tool_util.c */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static int failures;

static void bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "check_screenshot: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    failures++;
}

static const uint8_t *px(const uint8_t *img, int w, int x, int y) { return img + ((size_t)y * w + x) * 3; }

/* Read text line `row` (VW_COLS characters). */
static void read_line(const uint8_t *img, int w, int h, const vw_layout *l, int row, char *out)
{
    int x0, y0;
    vw_layout_text_origin(l, row, &x0, &y0);
    int s = l->scale;
    for (int col = 0; col < VW_COLS; col++) {
        uint8_t rows[8] = {0};
        for (int gy = 0; gy < 8; gy++)
            for (int gx = 0; gx < 8; gx++) {
                int x = x0 + col * 8 * s + gx * s + s / 2, y = y0 + gy * s + s / 2;
                if (x >= w || y >= h) continue;
                const uint8_t *p = px(img, w, x, y);
                if (p[0] >= 200 && p[1] >= 200 && p[2] >= 200) rows[gy] |= (uint8_t)(1u << gx);
            }
        char ch = '?';
        for (int c = VW_FONT_FIRST; c <= VW_FONT_LAST; c++) {
            uint8_t g[8];
            vw_font_rows(c, g);
            if (!memcmp(g, rows, 8)) {
                ch = (char)c;
                break;
            }
        }
        out[col] = ch;
    }
    out[VW_COLS] = 0;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') s[--n] = 0;
}

int main(int argc, char **argv)
{
    const char *shot = NULL, *image = NULL, *model_path = NULL, *device = NULL, *line3 = NULL;
    int no_frame = 0, paused = 0;
    long cls = -1;
    double pct = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-frame")) no_frame = 1;
        else if (!strcmp(a, "--paused")) paused = 1;
        else if (!v) {
            fprintf(stderr, "check_screenshot: %s needs a value\n", a);
            return 2;
        } else {
            i++;
            if (!strcmp(a, "--screenshot")) shot = v;
            else if (!strcmp(a, "--image")) image = v;
            else if (!strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--class")) cls = strtol(v, NULL, 10);
            else if (!strcmp(a, "--pct")) pct = strtod(v, NULL);
            else if (!strcmp(a, "--device")) device = v;
            else if (!strcmp(a, "--line3")) line3 = v;
            else {
                fprintf(stderr, "check_screenshot: unknown option %s\n", a);
                return 2;
            }
        }
    }
    if (!shot || !model_path || cls < 0 || pct < 0 || (!image && !no_frame)) {
        fprintf(stderr, "usage: vw_check_screenshot --screenshot PNG --model MODEL --class N --pct P "
                        "(--image SRC | --no-frame) [--device TEXT] [--line3 PREFIX] [--paused]\n");
        return 2;
    }
    int w, h, comp;
    uint8_t *img = stbi_load(shot, &w, &h, &comp, 3);
    if (!img) {
        fprintf(stderr, "check_screenshot: cannot read %s: %s\n", shot, stbi_failure_reason());
        return 1;
    }
    int sw = 1, sh = 1;
    uint8_t *src = NULL;
    if (image) {
        src = stbi_load(image, &sw, &sh, &comp, 3);
        if (!src) {
            fprintf(stderr, "check_screenshot: cannot read %s: %s\n", image, stbi_failure_reason());
            return 1;
        }
    }
    kwvk_model *model;
    if (kwvk_model_load_file(model_path, &model) != KWVK_OK) {
        fprintf(stderr, "check_screenshot: cannot load %s: %s\n", model_path, kwvk_last_error());
        return 1;
    }
    vw_layout l;
    vw_layout_compute(w, h, sw, sh, &l);

    /* 1. the frame */
    long checked = 0, wrong = 0;
    if (src) {
        for (int y = l.fy; y < l.fy + l.fh; y++)
            for (int x = l.fx; x < l.fx + l.fw; x++) {
                if (x >= l.px && x < l.px + l.pw && y >= l.py && y < l.py + l.ph) continue;
                int sx = (x - l.fx) * sw / l.fw, sy = (y - l.fy) * sh / l.fh;
                const uint8_t *a = px(img, w, x, y), *b = px(src, sw, sx, sy);
                checked++;
                if (memcmp(a, b, 3)) {
                    if (wrong++ < 3)
                        fprintf(stderr, "frame pixel (%d,%d) is %u,%u,%u; source (%d,%d) is %u,%u,%u\n", x, y, a[0], a[1],
                                a[2], sx, sy, b[0], b[1], b[2]);
                }
            }
        printf("frame: %dx%d source shown at %d,%d size %dx%d; %ld pixels compared, %ld differ\n", sw, sh, l.fx, l.fy,
               l.fw, l.fh, checked, wrong);
        if (checked < 1000 || wrong) bad("%s%s", "the frame is not shown as expected", "");
    }

    /* 2. the overlay text */
    char lines[VW_TOPK + VW_TEXT_LINES][VW_COLS + 1];
    for (int r = 0; r < VW_TOPK + VW_TEXT_LINES; r++) {
        read_line(img, w, h, &l, r, lines[r]);
        printf("overlay line %d: \"%s\"\n", r, lines[r]);
    }
    char label[VW_LABEL_COLS + 1], want[VW_LABEL_COLS + 1], num[VW_PCT_COLS + 1];
    memcpy(label, lines[0], VW_LABEL_COLS);
    label[VW_LABEL_COLS] = 0;
    rtrim(label);
    const char *ml = kwvk_model_label(model, (uint32_t)cls);
    char full[64];
    if (ml && ml[0]) snprintf(full, sizeof full, "%s", ml);
    else snprintf(full, sizeof full, "class %ld", cls);
    size_t wn = strlen(full) < VW_LABEL_COLS ? strlen(full) : VW_LABEL_COLS;
    for (size_t k = 0; k < wn; k++) /* the overlay draws bytes outside printable ASCII as '?' */
        want[k] = (full[k] >= 32 && full[k] < 127) ? full[k] : '?';
    want[wn] = 0;
    rtrim(want);
    if (strcmp(label, want)) bad("top-1 label drawn is \"%s\", expected \"%s\"", label, want);
    memcpy(num, lines[0] + VW_COLS - VW_PCT_COLS, VW_PCT_COLS);
    num[VW_PCT_COLS] = 0;
    char *end;
    double got = strtod(num, &end);
    if (end == num || *end != '%' || fabs(got - pct) > 0.15) {
        char e[32];
        snprintf(e, sizeof e, "%.2f%%", pct);
        bad("top-1 confidence drawn is \"%s\", expected %s", num, e);
    }
    /* its bar: a run of the top-1 colour from the left */
    int bx, by;
    vw_layout_text_origin(&l, 0, &bx, &by);
    by += l.bar_dy + l.bar_h / 2;
    int len = 0;
    while (len < l.bar_w) {
        const uint8_t *p = px(img, w, bx + len, by);
        if (!(p[0] == 80 && p[1] == 200 && p[2] == 120)) break;
        len++;
    }
    int expect_len = (int)(got / 100.0 * l.bar_w + 0.5);
    printf("top-1 bar: %d px (expected %d of %d)\n", len, expect_len, l.bar_w);
    if (abs(len - expect_len) > 1) bad("%s%s", "the top-1 confidence bar has the wrong length", "");
    if (paused ? !strstr(lines[3], "PAUSED") : !strstr(lines[3], " fps"))
        bad("status line \"%s\" lacks %s", lines[3], paused ? "PAUSED" : "fps");
    if (!strstr(lines[3], "infer ") || !strstr(lines[3], " ms")) bad("status line \"%s\" lacks %s", lines[3], "infer .. ms");
    if (device) {
        char d[VW_COLS + 1];
        snprintf(d, sizeof d, "%s", device);
        char got_d[VW_COLS + 1];
        snprintf(got_d, sizeof got_d, "%s", lines[4]);
        rtrim(d);
        rtrim(got_d);
        if (strcmp(d, got_d)) bad("device line is \"%s\", expected \"%s\"", got_d, d);
    }
    size_t l3 = line3 ? strlen(line3) : 0;
    if (l3 > VW_COLS) l3 = VW_COLS; /* the overlay shows VW_COLS characters */
    if (line3 && strncmp(lines[5], line3, l3)) bad("model line is \"%s\", expected it to start with \"%s\"", lines[5], line3);

    kwvk_model_destroy(model);
    stbi_image_free(img);
    stbi_image_free(src);
    if (failures) {
        fprintf(stderr, "check_screenshot: %s: %d problem(s)\n", shot, failures);
        return 1;
    }
    printf("check_screenshot: %s OK\n", shot);
    return 0;
}
