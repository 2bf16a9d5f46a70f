/* pyimage.c - image decoding and CPU preprocessing for the kwvk Python package, loaded with
 * ctypes next to libkwvk. Thin wrappers over tools/common/tool_util.c; every call reports
 * failure through its return value and a static message, never by exiting. */
#include "tool_util.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define KWVKPY_API __attribute__((visibility("default")))
#else
#define KWVKPY_API
#endif

/* Version of this interface; the Python side refuses a helper of another version. */
KWVKPY_API int kwvkpy_abi_version(void) { return 1; }

/* Decode an image file held in memory (JPEG, PNG, BMP, GIF, TGA, PNM, PSD) to RGB8. Returns
 * the pixels (free with kwvkpy_free) or NULL with *err set. */
KWVKPY_API uint8_t *kwvkpy_decode(const uint8_t *data, size_t size, int *w, int *h, const char **err)
{
    *err = NULL;
    if (!data || !w || !h) {
        *err = "kwvkpy_decode: NULL argument";
        return NULL;
    }
    return tu_decode_rgb8(data, size, w, h, err);
}

KWVKPY_API void kwvkpy_free(uint8_t *rgb)
{
    if (rgb) tu_free_rgb8(rgb);
}

/* The model's preprocessing of a packed w x h RGB8 image into out[c, h, w] (the model's input
 * size; out_count floats available). Returns 0, or -1 with *err set. */
KWVKPY_API int kwvkpy_preprocess_rgb8(const uint8_t *rgb, int w, int h, const kwvk_model_info *info, float *out,
                                      size_t out_count, const char **err)
{
    *err = NULL;
    if (!rgb || !info || !out) {
        *err = "kwvkpy_preprocess_rgb8: NULL argument";
        return -1;
    }
    if (info->input_channels < 1 || info->input_channels > 4) {
        *err = "the model's input channel count is not 1..4";
        return -1;
    }
    tu_geometry g;
    if (tu_resize_geometry(w, h, info, &g, err) != 0) return -1;
    if ((size_t)g.cw * (size_t)g.ch * info->input_channels > out_count) {
        *err = "output buffer too small for the model's input size";
        return -1;
    }
    return tu_preprocess_rgb8(rgb, w, h, info, out, err);
}
