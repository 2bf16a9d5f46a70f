/* dump_input IMAGE OUT.f32 [bilinear|bicubic] - the library's CPU image preprocessing
 * (kwvk_preprocess_images) with ImageNet's geometry (shorter side to 256, centre crop 224)
 * and the given interpolation, without normalisation, as float32 [3, 224, 224] in 0..255,
 * for check_pil.py to compare with Pillow + torchvision's transforms. The image is decoded
 * by the tools' decoder; the model is a 1x1 identity conv built with the test model writer. */
#include "mw.h"
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kwvk_model *imagenet_geometry_model(uint32_t interp)
{
    mw_model m;
    mw_identity(&m, 3, 224, 224);
    m.resize_short = 256;
    m.crop = 224;
    m.interpolation = interp;
    for (int c = 0; c < 3; c++) {
        m.mean[c] = 0.0f;
        m.std[c] = 1.0f / 255.0f; /* (x/255 - 0) * 255 = x */
    }
    mw_layout l;
    uint8_t *bytes = mw_bytes(&m, &l);
    kwvk_model *model = NULL;
    if (bytes && kwvk_model_load_memory(bytes, l.size, &model) != KWVK_OK) model = NULL;
    free(bytes);
    mw_free(&m);
    return model;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "bilinear") && strcmp(argv[3], "bicubic"))) {
        fprintf(stderr, "usage: dump_input IMAGE OUT.f32 [bilinear|bicubic]\n");
        return 2;
    }
    kwvk_model *model =
        imagenet_geometry_model(argc == 4 && !strcmp(argv[3], "bicubic") ? KWVK_INTERP_BICUBIC : KWVK_INTERP_BILINEAR);
    if (!model) {
        fprintf(stderr, "dump_input: cannot build the model: %s\n", kwvk_last_error());
        return 1;
    }
    size_t size = 0;
    uint8_t *data = tu_read_file(argv[1], &size);
    const char *err = "cannot read the file";
    int w = 0, h = 0;
    uint8_t *rgb = data ? tu_decode_rgb8(data, size, &w, &h, &err) : NULL;
    free(data);
    float *out = malloc(3 * 224 * 224 * sizeof *out);
    if (!rgb || !out) {
        fprintf(stderr, "dump_input: %s: %s\n", argv[1], rgb ? "out of memory" : err);
        return 1;
    }
    kwvk_image im = {KWVK_PIXEL_RGB8, (uint32_t)w, (uint32_t)h, 0, rgb, NULL, 0, 0, 0};
    if (kwvk_preprocess_images(model, &im, 1, out, 3 * 224 * 224) != KWVK_OK) {
        fprintf(stderr, "dump_input: %s: %s\n", argv[1], kwvk_last_error());
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    int ok = f && fwrite(out, sizeof *out, 3 * 224 * 224, f) == 3 * 224 * 224;
    if (f) ok = (fclose(f) == 0) && ok;
    free(out);
    tu_free_rgb8(rgb);
    kwvk_model_destroy(model);
    return ok ? 0 : 1;
}
