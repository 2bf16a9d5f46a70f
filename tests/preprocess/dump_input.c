/* dump_input IMAGE OUT.f32 [bicubic] - the classifier's ImageNet preprocessing
 * (tools/common/tool_util.c: shorter side to 256, bilinear or bicubic, centre crop 224), without
 * normalisation, as float32 [3, 224, 224] in
 * 0..255, for check_pil.py to compare with Pillow + torchvision's transforms. */
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "bicubic"))) {
        fprintf(stderr, "usage: dump_input IMAGE OUT.f32 [bicubic]\n");
        return 2;
    }
    kwvk_model_info info = {0};
    info.input_channels = 3;
    info.input_height = info.input_width = 224;
    info.resize_short = 256;
    info.crop = 224;
    info.interpolation = argc == 4 ? KWVK_INTERP_BICUBIC : KWVK_INTERP_BILINEAR;
    for (int c = 0; c < 3; c++) info.std[c] = 1.0f / 255.0f; /* (x/255 - 0) * 255 = x */
    float *out = malloc(3 * 224 * 224 * sizeof *out);
    const char *err = NULL;
    if (!out) return 1;
    if (tu_load_image(argv[1], &info, out, &err) != 0) {
        fprintf(stderr, "dump_input: %s: %s\n", argv[1], err);
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    int ok = f && fwrite(out, sizeof *out, 3 * 224 * 224, f) == 3 * 224 * 224;
    if (f) ok = (fclose(f) == 0) && ok;
    free(out);
    return ok ? 0 : 1;
}
