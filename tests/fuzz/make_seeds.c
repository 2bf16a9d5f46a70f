/* make_seeds - writes the fuzz seed corpora: valid model files (from the C writer in
 * tests/hostile/mw.c) into DIR/model and small valid images in every format stb_image reads
 * into DIR/image. Deterministic, so a corpus can always be regenerated.
 * Usage: make_seeds DIR */
#include "mw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static const char *root;
static int failures;

static void path_of(char *out, size_t n, const char *sub, const char *name)
{
    snprintf(out, n, "%s/%s/%s", root, sub, name);
}

static void model(const char *name, void (*build)(mw_model *))
{
    mw_model m;
    build(&m);
    char p[1024];
    path_of(p, sizeof p, "model", name);
    if (mw_write_file(&m, p) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", p);
        failures++;
    }
    mw_free(&m);
}

static void wide8(mw_model *m) { mw_wide(m, 8); }

static void nolabels(mw_model *m)
{
    mw_convnet(m);
    m->labels = NULL;
    m->name[0] = 0;
}

static void raw(const char *name, const void *data, size_t size)
{
    char p[1024];
    path_of(p, sizeof p, "image", name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, size, f) != size) failures++;
    if (f) fclose(f);
}

/* a colour gradient with a few hard edges */
static unsigned char *pattern(int w, int h, int comp)
{
    unsigned char *p = malloc((size_t)w * h * comp);
    if (!p) exit(1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comp; c++)
                p[((size_t)y * w + x) * comp + c] =
                    (unsigned char)(c == 3 ? 255 - 8 * x : (x * 37 + y * 11 * (c + 1) + ((x / 3 + y / 2) & 1) * 90));
    return p;
}

static void images(void)
{
    char p[1024];
    struct {
        int w, h, comp;
    } sizes[] = {{7, 5, 3}, {16, 16, 1}, {9, 9, 4}, {33, 17, 3}, {2, 40, 2}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int w = sizes[i].w, h = sizes[i].h, comp = sizes[i].comp;
        unsigned char *px = pattern(w, h, comp);
        char name[64];
        snprintf(name, sizeof name, "img%zu_%dx%dx%d.png", i, w, h, comp);
        path_of(p, sizeof p, "image", name);
        failures += !stbi_write_png(p, w, h, comp, px, w * comp);
        snprintf(name, sizeof name, "img%zu_%dx%dx%d.bmp", i, w, h, comp);
        path_of(p, sizeof p, "image", name);
        failures += !stbi_write_bmp(p, w, h, comp, px);
        snprintf(name, sizeof name, "img%zu_%dx%dx%d.tga", i, w, h, comp);
        path_of(p, sizeof p, "image", name);
        stbi_write_tga_with_rle = (int)(i & 1);
        failures += !stbi_write_tga(p, w, h, comp, px);
        snprintf(name, sizeof name, "img%zu_%dx%dx%d.jpg", i, w, h, comp);
        path_of(p, sizeof p, "image", name);
        failures += !stbi_write_jpg(p, w, h, comp, px, i & 1 ? 50 : 95);
        float *f = malloc((size_t)w * h * comp * sizeof *f);
        if (!f) exit(1);
        for (size_t k = 0; k < (size_t)w * h * comp; k++) f[k] = px[k] / 64.0f;
        snprintf(name, sizeof name, "img%zu_%dx%dx%d.hdr", i, w, h, comp);
        path_of(p, sizeof p, "image", name);
        failures += !stbi_write_hdr(p, w, h, comp, f);
        free(f);
        free(px);
    }
    /* PNM, written by hand: binary P6 (RGB) and P5 (grey) */
    {
        unsigned char buf[64 + 6 * 4 * 3];
        int n = snprintf((char *)buf, 64, "P6\n6 4\n255\n");
        unsigned char *px = pattern(6, 4, 3);
        memcpy(buf + n, px, 6 * 4 * 3);
        raw("img_6x4.ppm", buf, (size_t)n + 6 * 4 * 3);
        free(px);
        n = snprintf((char *)buf, 64, "P5\n5 3\n255\n");
        px = pattern(5, 3, 1);
        memcpy(buf + n, px, 15);
        raw("img_5x3.pgm", buf, (size_t)n + 15);
        free(px);
    }
    /* GIF: a 1x1 image (the classic 43-byte file) */
    static const unsigned char gif[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                        0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x21, 0xF9, 0x04,
                                        0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01,
                                        0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B};
    raw("img_1x1.gif", gif, sizeof gif);
}

static int make_dir(const char *sub)
{
    char p[1024];
    snprintf(p, sizeof p, "%s%s%s", root, sub[0] ? "/" : "", sub);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: cannot create %s\n", p);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    root = argv[1];
    if (make_dir("") || make_dir("model") || make_dir("image")) return 1;
    model("convnet.kwvk", mw_convnet);
    model("kwnet.kwvk", mw_kwnet);
    model("kwbasis.kwvk", mw_kwbasis);
    model("wide8.kwvk", wide8);
    model("allops.kwvk", mw_allops);
    model("nolabels.kwvk", nolabels);
    images();
    if (failures) fprintf(stderr, "make_seeds: %d file(s) failed\n", failures);
    else printf("make_seeds: corpus written to %s/{model,image}\n", root);
    return failures ? 1 : 0;
}
