/* pyimage.c - image file decoding for the kwvk Python package, loaded with ctypes next to
 * libkwvk (which takes pixels, not files). Thin wrappers over tools/common/tool_util.c, the
 * command-line tools' decoder (stb_image with its checks against malformed files); every
 * call reports failure through its return value and a static message, never by exiting. */
#include "tool_util.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define KWVKPY_API __attribute__((visibility("default")))
#else
#define KWVKPY_API
#endif

/* Version of this interface; the Python side refuses a helper of another version. */
KWVKPY_API int kwvkpy_abi_version(void)
{
    return 2;
}

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
