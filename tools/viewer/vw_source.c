/* vw_source.c - the file, directory and test-pattern sources (the camera is vw_v4l2.c). */
#include "vw_source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tool_util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Decode an image file to RGB24 with a one-line reason on failure. */
static uint8_t *load_rgb(const char *path, int *w, int *h, char *err, size_t err_len)
{
    size_t size = 0;
    uint8_t *data = tu_read_file(path, &size);
    if (!data) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    const char *why = NULL;
    uint8_t *rgb = tu_decode_rgb8(data, size, w, h, &why); /* checked decode (tools/common) */
    free(data);
    if (!rgb) {
        snprintf(err, err_len, "cannot decode %s: %s", path, why ? why : "unknown image format");
        return NULL;
    }
    return rgb;
}

/* ---------------------------------------------------------------------------------------- */
/* One image file                                                                           */
/* ---------------------------------------------------------------------------------------- */

typedef struct image_src {
    vw_source base;
    uint8_t *rgb;
    int w, h;
    char *name;
} image_src;

static int image_next(vw_source *s, vw_frame *f, int timeout_ms)
{
    (void)timeout_ms;
    image_src *im = (image_src *)s;
    *f = (vw_frame){VW_PIX_RGB24, im->w, im->h, (size_t)im->w * 3, im->rgb, 1, im->name};
    return 1;
}

static void image_close(vw_source *s)
{
    image_src *im = (image_src *)s;
    tu_free_rgb8(im->rgb);
    free(im->name);
    free(im);
}

static const vw_source_ops IMAGE_OPS = {image_next, image_close};

vw_source *vw_source_open_image(const char *path, char *err, size_t err_len)
{
    image_src *im = calloc(1, sizeof *im);
    if (!im) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    im->rgb = load_rgb(path, &im->w, &im->h, err, err_len);
    im->name = strdup(base_name(path));
    if (!im->rgb || !im->name) {
        if (im->rgb && !im->name) snprintf(err, err_len, "out of memory");
        tu_free_rgb8(im->rgb);
        free(im->name);
        free(im);
        return NULL;
    }
    im->base.ops = &IMAGE_OPS;
    im->base.kind = "image";
    return &im->base;
}

/* ---------------------------------------------------------------------------------------- */
/* A directory: slideshow                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct dir_src {
    vw_source base;
    char **files; /* full paths, sorted */
    int n, cur;   /* cur: index of the image shown (-1 before the first) */
    double interval, shown_at;
    int handed_out; /* the current image has been returned once */
    uint8_t *rgb;
    int w, h;
    uint64_t seq;
} dir_src;

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    static const char *const ext[] = {"png", "jpg", "jpeg", "bmp", "pgm", "ppm", "pnm", "tga", "gif"};
    char low[8];
    size_t n = strlen(dot + 1);
    if (n >= sizeof low) return 0;
    size_t k = 0;
    for (; k < n && k < sizeof low - 1; k++) low[k] = (char)tolower((unsigned char)dot[1 + k]);
    low[k] = 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcmp(low, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Show the next decodable image after `cur` (wrapping). -1 if none decodes. */
static int dir_advance(dir_src *d)
{
    for (int tries = 0; tries < d->n; tries++) {
        int i = (d->cur + 1 + tries) % d->n;
        char err[512];
        int w, h;
        uint8_t *rgb = load_rgb(d->files[i], &w, &h, err, sizeof err);
        if (!rgb) {
            fprintf(stderr, "kwvk-viewer: skipping %s\n", err);
            continue;
        }
        tu_free_rgb8(d->rgb);
        d->rgb = rgb;
        d->w = w;
        d->h = h;
        d->cur = i;
        d->seq++;
        d->shown_at = now_s();
        return 0;
    }
    return -1;
}

static int dir_next(vw_source *s, vw_frame *f, int timeout_ms)
{
    (void)timeout_ms;
    dir_src *d = (dir_src *)s;
    /* the first image is decoded at open; move on once it has been handed out */
    if (d->handed_out && (d->interval <= 0 || now_s() - d->shown_at >= d->interval)) dir_advance(d);
    d->handed_out = 1;
    *f = (vw_frame){VW_PIX_RGB24, d->w, d->h, (size_t)d->w * 3, d->rgb, d->seq, base_name(d->files[d->cur])};
    return 1;
}

static void dir_close(vw_source *s)
{
    dir_src *d = (dir_src *)s;
    for (int i = 0; i < d->n; i++) free(d->files[i]);
    free(d->files);
    tu_free_rgb8(d->rgb);
    free(d);
}

static const vw_source_ops DIR_OPS = {dir_next, dir_close};

vw_source *vw_source_open_dir(const char *dir, double interval_s, char *err, size_t err_len)
{
    DIR *dd = opendir(dir);
    if (!dd) {
        snprintf(err, err_len, "cannot open the directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    dir_src *d = calloc(1, sizeof *d);
    if (!d) {
        closedir(dd);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) break;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (d->n == cap) {
            int nc = cap ? cap * 2 : 16;
            char **nf = realloc(d->files, (size_t)nc * sizeof *nf);
            if (!nf) {
                free(path);
                break;
            }
            d->files = nf;
            cap = nc;
        }
        d->files[d->n++] = path;
    }
    closedir(dd);
    if (d->n == 0) {
        snprintf(err, err_len, "no images (png, jpg, bmp, ppm, pgm, tga, gif) in %s", dir);
        dir_close(&d->base);
        return NULL;
    }
    qsort(d->files, (size_t)d->n, sizeof *d->files, cmp_str);
    d->cur = -1;
    d->interval = interval_s;
    if (dir_advance(d) != 0) {
        snprintf(err, err_len, "none of the %d images in %s could be decoded", d->n, dir);
        dir_close(&d->base);
        return NULL;
    }
    d->base.ops = &DIR_OPS;
    d->base.kind = "directory";
    return &d->base;
}

/* ---------------------------------------------------------------------------------------- */
/* Test pattern                                                                             */
/* ---------------------------------------------------------------------------------------- */

typedef struct pattern_src {
    vw_source base;
    int w, h;
    uint8_t *rgb, *yuyv;
    uint64_t seq;
} pattern_src;

static void pattern_draw(pattern_src *p)
{
    static const uint8_t bars[8][3] = {{235, 235, 235}, {235, 235, 16}, {16, 235, 235}, {16, 235, 16},
                                       {235, 16, 235}, {235, 16, 16}, {16, 16, 235}, {16, 16, 16}};
    int t = (int)(p->seq % 240);
    int box = p->h / 6 > 4 ? p->h / 6 : 4;
    int bx = (p->w - box) * (t < 120 ? t : 240 - t) / 120;
    int by = p->h * 2 / 3 - box / 2;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            uint8_t *px = p->rgb + ((size_t)y * p->w + x) * 3;
            if (y < p->h * 2 / 3) {
                memcpy(px, bars[x * 8 / p->w], 3);
            } else { /* a grey ramp */
                uint8_t g = (uint8_t)(x * 255 / (p->w > 1 ? p->w - 1 : 1));
                px[0] = px[1] = px[2] = g;
            }
            if (x >= bx && x < bx + box && y >= by && y < by + box) px[0] = 255, px[1] = 128, px[2] = 0;
        }
    vw_rgb24_to_yuyv(p->rgb, p->w, p->h, (size_t)((p->w + 1) / 2) * 4, p->yuyv);
}

static int pattern_next(vw_source *s, vw_frame *f, int timeout_ms)
{
    (void)timeout_ms;
    pattern_src *p = (pattern_src *)s;
    p->seq++;
    pattern_draw(p);
    *f = (vw_frame){VW_PIX_YUYV, p->w, p->h, (size_t)((p->w + 1) / 2) * 4, p->yuyv, p->seq, "test pattern"};
    return 1;
}

static void pattern_close(vw_source *s)
{
    pattern_src *p = (pattern_src *)s;
    free(p->rgb);
    free(p->yuyv);
    free(p);
}

static const vw_source_ops PATTERN_OPS = {pattern_next, pattern_close};

vw_source *vw_source_open_pattern(int w, int h, char *err, size_t err_len)
{
    if (w < 2 || h < 2 || w > 8192 || h > 8192) {
        snprintf(err, err_len, "test pattern size %dx%d out of range 2..8192", w, h);
        return NULL;
    }
    pattern_src *p = calloc(1, sizeof *p);
    if (p) {
        p->w = w;
        p->h = h;
        p->rgb = malloc((size_t)w * h * 3);
        p->yuyv = malloc((size_t)((w + 1) / 2) * 4 * h);
    }
    if (!p || !p->rgb || !p->yuyv) {
        if (p) pattern_close(&p->base);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    p->base.ops = &PATTERN_OPS;
    p->base.kind = "pattern";
    return &p->base;
}
