/* tool_util.c - see tool_util.h. */
#include "tool_util.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_MAX_DIMENSIONS 16384
/* Formats nobody feeds a classifier; Debian 12's stb_image 2.27 HDR decoder can loop forever
 * on a zero run length (tests/fuzz/regressions/image/hdr-rle-zero-count-hangs.hdr). */
#define STBI_NO_HDR
#define STBI_NO_PIC
#define TU_MAX_RESIZED_PIXELS (1u << 24) /* 16.7 million: 4096 x 4096 after the resize */
#define TU_MAX_IMAGE_PIXELS (1u << 25)   /* 33.5 million: a 24-megapixel photo fits */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

void tu_die(const char *tool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void tu_check(const char *tool, kwvk_result r, const char *what)
{
    if (r != KWVK_OK) tu_die(tool, "%s: %s", what, kwvk_last_error()[0] ? kwvk_last_error() : kwvk_result_name(r));
}

void *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *size = n;
    return buf;
}

static uint32_t crc32_bytes(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void *tu_read_file_gunzip(const char *path, size_t *size, const char **err)
{
    size_t n;
    uint8_t *raw = tu_read_file(path, &n);
    if (!raw) {
        *err = strerror(errno);
        return NULL;
    }
    if (n < 2 || raw[0] != 0x1f || raw[1] != 0x8b) { /* not gzip: the bytes as they are */
        *size = n;
        return raw;
    }
    /* member header: ID1 ID2 CM FLG MTIME(4) XFL OS [FEXTRA] [FNAME] [FCOMMENT] [FHCRC] */
    const char *why = "truncated or malformed gzip header";
    size_t pos = 10;
    uint8_t flg = n >= 10 ? raw[3] : 0;
    if (n < 18 || raw[2] != 8 || (flg & 0xE0)) goto fail;
    if (flg & 4) { /* FEXTRA */
        if (pos + 2 > n) goto fail;
        pos += 2 + ((size_t)raw[pos] | (size_t)raw[pos + 1] << 8);
    }
    for (int field = 8; field <= 16; field <<= 1) /* FNAME, FCOMMENT: zero-terminated */
        if (flg & field) {
            while (pos < n && raw[pos]) pos++;
            pos++;
        }
    if (flg & 2) pos += 2; /* FHCRC */
    if (pos + 8 > n || n - pos - 8 > INT32_MAX) goto fail;
    uint32_t want_crc = le32(raw + n - 8), want_len = le32(raw + n - 4);
    int got = 0;
    /* ISIZE (length mod 2^32) is the initial guess; stb grows the buffer if it is short. The
     * 8-byte trailer stays in the input: stb_image 2.27 refuses a Huffman code that ends less
     * than 2 bytes before the end of its input ("bad huffman code", seen on Debian's
     * t10k-labels-idx1-ubyte.gz); the bytes after the final block are never used. */
    char *out = stbi_zlib_decode_malloc_guesssize_headerflag((const char *)raw + pos, (int)(n - pos),
                                                             want_len ? (int)(want_len & 0x3FFFFFFF) : 1, &got, 0);
    if (!out) {
        why = "corrupt deflate data in the gzip file";
        goto fail;
    }
    if ((uint32_t)got != want_len || crc32_bytes((const uint8_t *)out, (size_t)got) != want_crc) {
        why = "gzip CRC-32 or length mismatch (corrupt or multi-member file)";
        free(out);
        goto fail;
    }
    free(raw);
    *size = (size_t)got;
    return out;
fail:
    free(raw);
    *err = why;
    return NULL;
}

int tu_parse_shape(const char *s, uint32_t shape[4])
{
    unsigned long v[4];
    int k = 0;
    const char *p = s;
    while (k < 4) {
        char *end;
        errno = 0;
        v[k] = strtoul(p, &end, 10);
        if (end == p || errno || v[k] == 0 || v[k] > 1000000) return -1;
        k++;
        if (*end == 0) break;
        if (*end != ',' && *end != 'x') return -1;
        p = end + 1;
    }
    if (k == 3) {
        shape[0] = 1;
        for (int i = 0; i < 3; i++) shape[i + 1] = (uint32_t)v[i];
        return 0;
    }
    if (k != 4) return -1;
    for (int i = 0; i < 4; i++) shape[i] = (uint32_t)v[i];
    return 0;
}

double tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *tu_default_model(void)
{
    const char *env = getenv("KWVK_MODEL");
    if (env && env[0]) return env;
    static const char *candidates[] = {KWVK_SOURCE_MODELS "/fmnist_kw1x.kwvk", KWVK_INSTALL_MODELS "/fmnist_kw1x.kwvk"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], R_OK) == 0) return candidates[i];
    return candidates[0];
}

/* ---------------------------------------------------------------------------------------- */
/* Image preprocessing                                                                      */
/* ---------------------------------------------------------------------------------------- */

/* round(d / 2) with ties to even, as Python's round() */
static int half_even(int d)
{
    int k = d / 2;
    return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

int tu_resize_geometry(int w, int h, const kwvk_model_info *info, tu_geometry *g, const char **err)
{
    int ow, oh; /* size after the resize */
    int cw = (int)info->input_width, ch = (int)info->input_height;
    if (info->resize_short) {
        int s = (int)info->resize_short;
        if (w <= h) {
            ow = s;
            oh = (int)((long long)s * h / w);
        } else {
            oh = s;
            ow = (int)((long long)s * w / h);
        }
        if (ow < 1) ow = 1;
        if (oh < 1) oh = 1;
        if (info->crop) cw = ch = (int)info->crop;
    } else {
        ow = cw;
        oh = ch;
    }
    if (cw > ow || ch > oh) {
        *err = "the crop is larger than the resized image";
        return -1;
    }
    /* A hostile image must not decide how much memory this takes: a 16384 x 1 image resized
     * to a shorter side of 256 would be 4 million x 256 pixels (12 GiB of floats). */
    if ((uint64_t)ow * oh > TU_MAX_RESIZED_PIXELS) {
        *err = "the image's aspect ratio is too extreme for this model's preprocessing";
        return -1;
    }
    /* torchvision's CenterCrop: int(round(d / 2.0)), Python rounding half to even */
    *g = (tu_geometry){ow, oh, cw, ch, half_even(ow - cw), half_even(oh - ch)};
    return 0;
}

int tu_preprocess_rgb8(const uint8_t *rgb, int w, int h, const kwvk_model *model, float *out, const char **err)
{
    kwvk_model_info info;
    if (w < 1 || h < 1) {
        *err = "empty image";
        return -1;
    }
    kwvk_model_get_info(model, &info);
    kwvk_image im = {KWVK_PIXEL_RGB8, (uint32_t)w, (uint32_t)h, 0, rgb, NULL, 0, 0, 0};
    if (kwvk_preprocess_images(model, &im, 1, out, (size_t)info.input_channels * info.input_height * info.input_width) !=
        KWVK_OK) {
        *err = kwvk_last_error(); /* this thread's, valid until its next failing kwvk call */
        return -1;
    }
    return 0;
}

/* Debian 12's stb_image 2.27 writes past its Huffman tables when a JPEG DHT segment
 * declares more than 256 codes (tests/fuzz/regressions/image/jpeg-dht-more-than-256-codes.jpg).
 * Every DHT segment is found by its FF C4 marker (entropy-coded data stuffs FF as FF 00, so
 * the pair cannot occur there) and checked before stb sees the file. */
static int jpeg_dht_ok(const uint8_t *d, size_t n)
{
    /* stb takes FF, any number of FF fill bytes, then D8 as the start of image */
    size_t soi = 1;
    while (soi < n && d[soi] == 0xFF) soi++;
    if (n < 2 || d[0] != 0xFF || soi >= n || d[soi] != 0xD8) return 1; /* not a JPEG */
    for (size_t i = soi + 1; i + 4 <= n; i++) {
        if (d[i] != 0xFF || d[i + 1] != 0xC4) continue;
        size_t len = ((size_t)d[i + 2] << 8) | d[i + 3], p = i + 4, end = i + 2 + len;
        if (len < 2 || end > n) return 0;
        while (p < end) {
            if (p + 17 > end) return 0;
            unsigned total = 0;
            for (int k = 1; k <= 16; k++) total += d[p + k];
            if (total > 256) return 0;
            p += 17 + total;
        }
    }
    return 1;
}

uint8_t *tu_decode_rgb8(const uint8_t *data, size_t size, int *w, int *h, const char **err)
{
    int comp;
    *err = NULL;
    if (size == 0 || size > INT32_MAX) {
        *err = size ? "the image file is larger than 2 GiB" : "the image file is empty";
        return NULL;
    }
    if (!jpeg_dht_ok(data, size)) {
        *err = "corrupt JPEG (bad Huffman table)";
        return NULL;
    }
    /* a few hundred bytes may declare 16384 x 16384 pixels: check before decoding */
    if (stbi_info_from_memory(data, (int)size, w, h, &comp) && (uint64_t)*w * (uint64_t)*h > TU_MAX_IMAGE_PIXELS) {
        *err = "the image has more than 33.5 million pixels";
        return NULL;
    }
    /* Decoded in the file's own channel count and expanded to RGB here: stb_image 2.27 asked
     * for 3 channels converts a 16-bit PNM with its 8-bit converter and then reads twice the
     * buffer (tests/fuzz/regressions/image/pnm-16-bit-grey-as-rgb-overflows.pgm). */
    uint8_t *px = stbi_load_from_memory(data, (int)size, w, h, &comp, 0);
    if (!px) {
        *err = stbi_failure_reason();
        if (!*err || !**err) *err = "cannot decode the image"; /* stb leaves "" for some bad GIFs */
        return NULL;
    }
    if (comp == 3) return px;
    if (comp < 1 || comp > 4) {
        stbi_image_free(px);
        *err = "unsupported channel count";
        return NULL;
    }
    size_t n = (size_t)*w * (size_t)*h;
    uint8_t *rgb = malloc(n * 3); /* freed by stbi_image_free, which is free() */
    if (!rgb) {
        stbi_image_free(px);
        *err = "out of memory decoding the image";
        return NULL;
    }
    for (size_t i = 0; i < n; i++) { /* grey (+alpha) replicated, alpha dropped: as stb does */
        const uint8_t *s = px + i * (size_t)comp;
        uint8_t *d = rgb + i * 3;
        d[0] = s[0];
        d[1] = comp >= 3 ? s[1] : s[0];
        d[2] = comp >= 3 ? s[2] : s[0];
    }
    stbi_image_free(px);
    return rgb;
}

void tu_free_rgb8(uint8_t *rgb) { stbi_image_free(rgb); }

int tu_load_image(const char *path, const kwvk_model *model, float *out, const char **err)
{
    size_t size = 0;
    uint8_t *data = tu_read_file(path, &size);
    if (!data) {
        *err = "cannot read the file";
        return -1;
    }
    int w, h;
    uint8_t *rgb = tu_decode_rgb8(data, size, &w, &h, err);
    free(data);
    if (!rgb) return -1;
    int r = tu_preprocess_rgb8(rgb, w, h, model, out, err);
    stbi_image_free(rgb);
    return r;
}

void tu_topk(const float *v, uint32_t n, uint32_t k, uint32_t *idx)
{
    if (k > n) k = n;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < n; i++) {
            bool taken = false;
            for (uint32_t q = 0; q < j; q++) taken |= idx[q] == i;
            if (!taken && (best == UINT32_MAX || v[i] > v[best])) best = i;
        }
        idx[j] = best;
    }
}

void tu_softmax(const float *v, uint32_t n, float *out)
{
    float mx = v[0];
    for (uint32_t i = 1; i < n; i++) mx = v[i] > mx ? v[i] : mx;
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += exp((double)v[i] - mx);
    for (uint32_t i = 0; i < n; i++) out[i] = (float)(exp((double)v[i] - mx) / s);
}
