/* fuzz_image - libFuzzer target for the tools' image path (tools/common/tool_util.c):
 * tu_load_image (stb_image decoding of JPEG/PNG/BMP/GIF/TGA/PSD/PNM) followed by
 * the model's preprocessing (the library's kwvk_preprocess_images), and tu_preprocess_rgb8 on
 * the decoded pixels for two more preprocessing set-ups (only for images tu_load_image accepted, so that the harness never
 * decodes what the tool would refuse).
 *
 * Contract checked on every input: no crash, leak, out-of-bounds access or undefined
 * behaviour; a refusal comes with a message; an accepted image gives finite values. The
 * input is the image file itself (no prefix), so the seed corpus is plain image files. */
#define _GNU_SOURCE
#include "mw.h"
#include "tool_util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


static void check(int ok)
{
    if (!ok) __builtin_trap();
}

/* three preprocessing set-ups of real models, as identity networks (tests/hostile/mw.c),
 * built once */
static const kwvk_model *config(int k)
{
    static kwvk_model *models[3];
    if (models[k]) return models[k];
    mw_model m;
    if (k == 0) { /* Fashion-MNIST: grey 28x28, resized straight */
        mw_identity(&m, 1, 28, 28);
        m.mean[0] = 0.2860f;
        m.std[0] = 0.3530f;
    } else if (k == 1) { /* ImageNet: shorter side 256, centre crop 224, bicubic */
        mw_identity(&m, 3, 224, 224);
        m.resize_short = 256;
        m.crop = 224;
        m.interpolation = KWVK_INTERP_BICUBIC;
        for (int c = 0; c < 3; c++) {
            m.mean[c] = 0.45f;
            m.std[c] = 0.225f;
        }
    } else { /* CIFAR-like: shorter side 36, crop 32, 4 channels (alpha slot repeats blue) */
        mw_identity(&m, 4, 32, 32);
        m.resize_short = 36;
        m.crop = 32;
        for (int c = 0; c < 4; c++) {
            m.mean[c] = 0.5f;
            m.std[c] = 0.5f;
        }
    }
    mw_layout l;
    uint8_t *bytes = mw_bytes(&m, &l);
    check(bytes != NULL);
    check(kwvk_model_load_memory(bytes, l.size, &models[k]) == KWVK_OK);
    free(bytes);
    mw_free(&m);
    return models[k];
}

static int image_fd = -1;
static char image_path[64];

static void put_file(const uint8_t *data, size_t size)
{
    if (image_fd < 0) {
        image_fd = memfd_create("kwvk-fuzz-image", 0);
        check(image_fd >= 0);
        snprintf(image_path, sizeof image_path, "/proc/self/fd/%d", image_fd);
    }
    check(ftruncate(image_fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(image_fd, data + done, size - done, (off_t)done);
        check(n > 0);
        done += (size_t)n;
    }
}

static void check_values(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) check(isfinite(v[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. the tool path: decode a file and preprocess for the Fashion-MNIST set-up */
    put_file(data, size);
    float out_a[28 * 28];
    const char *err = NULL;
    if (tu_load_image(image_path, config(0), out_a, &err) != 0) {
        check(err != NULL && err[0] != 0);
        return 0; /* refused by the tool: the pixels below would never reach preprocessing */
    }
    check_values(out_a, 28 * 28);

    /* 2. the in-memory path with the two resize + crop set-ups, for images the tool accepts */
    int w = 0, h = 0;
    uint8_t *rgb = tu_decode_rgb8(data, size, &w, &h, &err);
    if (!rgb) return 0;
    for (int k = 1; k < 3; k++) {
        kwvk_model_info info;
        kwvk_model_get_info(config(k), &info);
        size_t n = (size_t)info.input_channels * info.input_height * info.input_width;
        float *out = malloc(n * sizeof *out);
        check(out != NULL);
        err = NULL;
        if (tu_preprocess_rgb8(rgb, w, h, config(k), out, &err) == 0) check_values(out, n);
        else check(err != NULL && err[0] != 0);
        free(out);
    }
    tu_free_rgb8(rgb);
    return 0;
}
