/* tool_util.c - see tool_util.h. */
#include "tool_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

#ifdef KWVK_HAVE_LIBJPEG
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#endif
#ifdef KWVK_HAVE_LIBPNG
#include <png.h>
#include <setjmp.h>
#endif

/* messages with numbers in them (the tools decode on one thread; thread-local anyway) */
static _Thread_local char tu_msg[320];

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

void tu_usage_error(const char *tool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see %s --help)\n", tool);
    va_end(ap);
    exit(2);
}

const char *tu_arg_value(const char *tool, int argc, char **argv, int *i)
{
    const char *opt = argv[*i];
    if (*i + 1 >= argc) tu_usage_error(tool, "%s needs a value", opt);
    const char *v = argv[*i + 1];
    if (v[0] == '-' && v[1] == '-') tu_usage_error(tool, "%s needs a value, got the option %s", opt, v);
    ++*i;
    return v;
}

long tu_arg_long(const char *tool, const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        tu_usage_error(tool, "%s expects an integer from %ld to %ld, got '%s'", opt, lo, hi, s);
    return v;
}

void tu_print_version(const char *tool)
{
    printf("%s (kwvk %d.%d.%d; JPEG decoder: %s; PNGs over 67.1 MP: %s)\n", tool, KWVK_VERSION_MAJOR,
           KWVK_VERSION_MINOR, KWVK_VERSION_PATCH, tu_have_libjpeg() ? "libjpeg" : "stb_image",
           tu_have_libpng() ? "libpng, scaled down" : "refused");
}

int tu_stderr_is_tty(void) { return isatty(2); }

int tu_have_libpng(void)
{
#ifdef KWVK_HAVE_LIBPNG
    return 1;
#else
    return 0;
#endif
}

int tu_have_libjpeg(void)
{
#ifdef KWVK_HAVE_LIBJPEG
    return 1;
#else
    return 0;
#endif
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

int tu_parse_shape(const char *s, uint32_t shape[4], const char **err)
{
    const char *p = s;
    for (int k = 0; k < 4; k++) {
        char *end;
        errno = 0;
        unsigned long v = (*p >= '0' && *p <= '9') ? strtoul(p, &end, 10) : 0;
        if (v == 0 || errno || v > 1000000) {
            *err = "N,C,H,W must be integers from 1 to 1000000";
            return -1;
        }
        shape[k] = (uint32_t)v;
        if (k < 3 && *end != ',') {
            *err = *end ? "N,C,H,W must be separated by commas" : "four values N,C,H,W are needed";
            return -1;
        }
        if (k == 3 && *end) {
            *err = *end == ',' ? "more than four values (N,C,H,W)" : "N,C,H,W must be integers";
            return -1;
        }
        p = end + 1;
    }
    return 0;
}

double tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int tu_first_run_notice(const char *tool, const kwvk_net *net, const kwvk_context *ctx)
{
    kwvk_net_stats st;
    kwvk_device_info di;
    if (kwvk_net_get_stats(net, &st) != KWVK_OK || kwvk_context_device_info(ctx, &di) != KWVK_OK) return 0;
    if (st.pipeline_cache_loaded || st.pipelines_created == 0) return 0;
    fprintf(stderr, "%s: first run on %s: compiling %u GPU programs; later runs reuse them\n", tool, di.name,
            st.pipelines_created);
    return 1;
}

/* Warehouses of a model file: the distinct tensors that kw_assemble ops (type 3) read
 * (docs/model-format.md). The file was validated by kwvk_model_load_file; bounds are checked
 * again all the same. -1 when the file cannot be read. */
static long count_warehouses(const char *path, uint64_t *values)
{
    size_t n = 0;
    uint8_t *b = tu_read_file(path, &n);
    if (!b) return -1;
    long count = -1;
    *values = 0;
    if (n >= 64) {
        uint32_t n_ops = le32(b + 28), n_tensors = le32(b + 24);
        uint64_t ops = (uint64_t)le32(b + 40) | (uint64_t)le32(b + 44) << 32;
        uint64_t tens = (uint64_t)le32(b + 32) | (uint64_t)le32(b + 36) << 32;
        if (ops <= n && (uint64_t)n_ops * 160 <= n - ops && tens <= n && (uint64_t)n_tensors * 48 <= n - tens) {
            uint32_t *seen = calloc(n_tensors ? n_tensors : 1, sizeof *seen);
            if (seen) {
                count = 0;
                for (uint32_t i = 0; i < n_ops; i++) {
                    const uint8_t *op = b + ops + (size_t)i * 160;
                    uint32_t t = le32(op + 20);
                    if (le32(op) != 3 || t >= n_tensors || seen[t]) continue;
                    seen[t] = 1;
                    count++;
                    uint64_t nbytes = (uint64_t)le32(b + tens + (size_t)t * 48 + 32) |
                                      (uint64_t)le32(b + tens + (size_t)t * 48 + 36) << 32;
                    *values += nbytes / 4;
                }
                free(seen);
            }
        }
    }
    free(b);
    return count;
}

void tu_print_model_info(FILE *f, const char *path, const kwvk_model *model)
{
    kwvk_model_info in;
    if (kwvk_model_get_info(model, &in) != KWVK_OK) return;
    fprintf(f, "model          %s\n", path);
    fprintf(f, "architecture   %s\n", in.name);
    fprintf(f, "input          %u x %u x %u (channels x height x width)\n", in.input_channels, in.input_height,
            in.input_width);
    fprintf(f, "preprocessing  ");
    if (in.resize_short)
        fprintf(f, "shorter side resized to %u (%s)%s", in.resize_short,
                in.interpolation == KWVK_INTERP_BICUBIC ? "bicubic" : "bilinear", in.crop ? ", " : "");
    else
        fprintf(f, "resized to %u x %u (%s), ", in.input_width, in.input_height,
                in.interpolation == KWVK_INTERP_BICUBIC ? "bicubic" : "bilinear");
    if (in.resize_short && in.crop) fprintf(f, "centre crop %u, ", in.crop);
    fprintf(f, "(x/255 - mean) / std\n");
    for (uint32_t c = 0; c < in.input_channels && c < 4; c++)
        fprintf(f, "%s%s%.4f / %.4f", c ? ", " : "", c ? "" : "  mean / std   ", (double)in.mean[c], (double)in.std[c]);
    fprintf(f, "\n");
    fprintf(f, "parameters     %llu (float32 values in the file)\n", (unsigned long long)in.num_parameters);
    fprintf(f, "ops            %u, of which %u KernelWarehouse convolutions\n", in.num_ops, in.num_kw_layers);
    uint64_t wh_values = 0;
    long wh = count_warehouses(path, &wh_values);
    if (wh >= 0)
        fprintf(f, "warehouses     %ld (%llu parameters)\n", wh, (unsigned long long)wh_values);
    const char *l0 = kwvk_model_label(model, 0);
    fprintf(f, "classes        %u%s\n", in.num_classes, l0 && l0[0] ? ":" : " (no class names in the file)");
    if (l0 && l0[0])
        for (uint32_t k = 0; k < in.num_classes; k++) fprintf(f, "  %4u  %s\n", k, kwvk_model_label(model, k));
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

/* Debian 12's stb_image 2.27 reads the width, height and maximum value of a binary PNM (P5,
 * P6) into an int, digit by digit, with no check for overflow (signed overflow, undefined:
 * tests/fuzz/regressions/image/pnm-header-number-overflows-int.ppm). The header is scanned
 * here as stb scans it (whitespace and # comments before each number, no whitespace needed
 * after the magic) and refused if a number does not fit an int. */
static int pnm_header_ok(const uint8_t *d, size_t n)
{
    if (n < 2 || d[0] != 'P' || (d[1] != '5' && d[1] != '6')) return 1; /* not a PNM stb reads */
    size_t p = 2;
    for (int k = 0; k < 3; k++) {
        for (;;) { /* stb's stbi__pnm_skip_whitespace */
            while (p < n && (d[p] == ' ' || (d[p] >= '\t' && d[p] <= '\r'))) p++;
            if (p >= n || d[p] != '#') break;
            while (p < n && d[p] != '\n' && d[p] != '\r') p++;
        }
        int value = 0;
        for (; p < n && d[p] >= '0' && d[p] <= '9'; p++) {
            const int digit = d[p] - '0';
            if (value > (INT_MAX - digit) / 10) return 0;
            value = value * 10 + digit;
        }
    }
    return 1;
}

#ifdef KWVK_HAVE_LIBJPEG
/* libjpeg reports errors by calling error_exit, which must not return: jump back. */
typedef struct tu_jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int truncated;
} tu_jerr;

static void tu_jpeg_error_exit(j_common_ptr c)
{
    tu_jerr *e = (tu_jerr *)c->err;
    char m[JMSG_LENGTH_MAX];
    c->err->format_message(c, m);
    snprintf(tu_msg, sizeof tu_msg, "corrupt or unsupported JPEG: %s", m);
    longjmp(e->jump, 1);
}

static void tu_jpeg_emit(j_common_ptr c, int level)
{
    /* warnings: only a premature end of the data (a truncated file) fails the decode, as
     * in Pillow; libjpeg would fill the rest of the image with grey */
    if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) ((tu_jerr *)c->err)->truncated = 1;
}

/* A progressive JPEG may hold thousands of tiny scans that take minutes to decode: refuse
 * more than 1000 (libjpeg-turbo's own tools offer the same limit). */
static void tu_jpeg_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > 1000) {
        snprintf(tu_msg, sizeof tu_msg, "corrupt JPEG: more than 1000 progressive scans");
        longjmp(((tu_jerr *)c->err)->jump, 1);
    }
}

static uint8_t *decode_jpeg(const uint8_t *data, size_t size, int min_short, int *w, int *h, const char **err)
{
    struct jpeg_decompress_struct d;
    tu_jerr jerr;
    struct jpeg_progress_mgr progress = {.progress_monitor = tu_jpeg_progress};
    uint8_t *volatile out = NULL;
    memset(&jerr, 0, sizeof jerr);
    d.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = tu_jpeg_error_exit;
    jerr.pub.emit_message = tu_jpeg_emit;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&d);
        free(out);
        *err = tu_msg;
        return NULL;
    }
    jpeg_create_decompress(&d);
    d.progress = &progress;
    /* libjpeg-turbo has no backing store: past this it fails instead of allocating more
     * (progressive files keep all their coefficients in memory) */
    d.mem->max_memory_to_use = 1024l << 20;
    jpeg_mem_src(&d, data, (unsigned long)size);
    jpeg_read_header(&d, TRUE);
    uint64_t pixels = (uint64_t)d.image_width * d.image_height;
    unsigned short_side = d.image_width < d.image_height ? d.image_width : d.image_height;
    if (pixels > TU_MAX_JPEG_PIXELS || (pixels > TU_MAX_IMAGE_PIXELS && min_short <= 0)) {
        snprintf(tu_msg, sizeof tu_msg, "the JPEG has %.1f million pixels (%ux%u); the limit is %.1f million%s",
                 pixels / 1e6, d.image_width, d.image_height,
                 (min_short > 0 ? TU_MAX_JPEG_PIXELS : TU_MAX_IMAGE_PIXELS) / 1e6,
                 min_short > 0 ? "" : " at full resolution");
        jpeg_destroy_decompress(&d);
        *err = tu_msg;
        return NULL;
    }
    if (d.progressive_mode && pixels > TU_MAX_IMAGE_PIXELS) {
        /* libjpeg keeps every DCT coefficient of a progressive file in memory (2 bytes per
         * coefficient, 1.5-3 per pixel), whatever the output scale */
        snprintf(tu_msg, sizeof tu_msg,
                 "the JPEG is progressive and has %.1f million pixels; progressive JPEGs are held whole in "
                 "memory while decoding, so they are accepted up to %.1f million (baseline ones up to %.1f)",
                 pixels / 1e6, TU_MAX_IMAGE_PIXELS / 1e6, TU_MAX_JPEG_PIXELS / 1e6);
        jpeg_destroy_decompress(&d);
        *err = tu_msg;
        return NULL;
    }
    if (d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&d);
        *err = "CMYK JPEGs are not supported (convert the image to RGB)";
        return NULL;
    }
    d.out_color_space = JCS_RGB;
    d.scale_num = d.scale_denom = 8;
    if (pixels > TU_MAX_IMAGE_PIXELS) /* the smallest DCT scale n/8 keeping min_short pixels */
        for (unsigned n = 1; n < 8; n++)
            if ((uint64_t)short_side * n / 8 >= (uint64_t)min_short) {
                d.scale_num = n;
                break;
            }
    jpeg_start_decompress(&d);
    if (d.output_components != 3 || (uint64_t)d.output_width * d.output_height > TU_MAX_IMAGE_PIXELS)
        ERREXIT(&d, JERR_CONVERSION_NOTIMPL); /* cannot happen for the scales above */
    size_t stride = (size_t)d.output_width * 3;
    out = malloc(stride * d.output_height);
    if (!out) {
        snprintf(tu_msg, sizeof tu_msg, "out of memory decoding a %ux%u JPEG", d.output_width, d.output_height);
        longjmp(jerr.jump, 1);
    }
    while (d.output_scanline < d.output_height && !jerr.truncated) { /* stop at the end of the data */
        JSAMPROW row = out + stride * d.output_scanline;
        jpeg_read_scanlines(&d, &row, 1);
    }
    if (jerr.truncated) {
        snprintf(tu_msg, sizeof tu_msg, "corrupt JPEG: the file is truncated");
        longjmp(jerr.jump, 1);
    }
    jpeg_finish_decompress(&d);
    *w = (int)d.output_width;
    *h = (int)d.output_height;
    jpeg_destroy_decompress(&d);
    return out;
}
#endif

#ifdef KWVK_HAVE_LIBPNG
/* libpng reports errors by calling the error function, which must not return: the message is
 * kept and png_error's default longjmp to the setjmp in tu_decode_png_box follows. */
static void tu_png_error(png_structp png, png_const_charp m)
{
    snprintf(tu_msg, sizeof tu_msg, "corrupt or unsupported PNG: %s", m);
    png_longjmp(png, 1);
}

static void tu_png_warning(png_structp png, png_const_charp m)
{
    (void)png;
    (void)m;
}

typedef struct tu_png_src {
    const uint8_t *data;
    size_t size, pos;
} tu_png_src;

static void tu_png_read(png_structp png, png_bytep out, size_t n)
{
    tu_png_src *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) png_error(png, "the file is truncated");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}
#endif

uint8_t *tu_decode_png_box(const uint8_t *data, size_t size, int s, int *w, int *h, const char **err)
{
#ifdef KWVK_HAVE_LIBPNG
    png_structp png = NULL;
    png_infop pinfo = NULL;
    uint8_t *volatile out = NULL;
    uint8_t *volatile row = NULL;
    uint32_t *volatile acc = NULL;
    tu_png_src src = {data, size, 0};
    *err = NULL;
    if (s < 1 || s > 65535) {
        *err = "bad PNG scale factor";
        return NULL;
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, tu_png_error, tu_png_warning);
    if (png) pinfo = png_create_info_struct(png);
    if (!pinfo) {
        png_destroy_read_struct(&png, NULL, NULL);
        *err = "out of memory decoding a PNG";
        return NULL;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(out);
        free(row);
        free(acc);
        *err = tu_msg;
        return NULL;
    }
    png_set_read_fn(png, &src, tu_png_read);
    png_read_info(png, pinfo);
    png_uint_32 pw, ph;
    int depth, type, interlace;
    png_get_IHDR(png, pinfo, &pw, &ph, &depth, &type, &interlace, NULL, NULL);
    if (interlace != PNG_INTERLACE_NONE) {
        /* an interlaced (Adam7) image is complete only after its last pass: libpng's row
         * interface would need it whole */
        snprintf(tu_msg, sizeof tu_msg,
                 "the PNG is interlaced and has %.1f million pixels (%ux%u); interlaced PNGs are decoded whole, up to "
                 "%.1f million pixels (non-interlaced ones up to %.1f million)",
                 (double)pw * ph / 1e6, (unsigned)pw, (unsigned)ph, TU_MAX_IMAGE_PIXELS / 1e6,
                 TU_MAX_SCALED_PIXELS / 1e6);
        png_longjmp(png, 1);
    }
    uint32_t ow = pw / (uint32_t)s, oh = ph / (uint32_t)s;
    if (ow == 0 || oh == 0 || (uint64_t)ow * oh > TU_MAX_IMAGE_PIXELS) {
        snprintf(tu_msg, sizeof tu_msg, "the PNG (%ux%u) cannot be decoded at 1/%d scale", (unsigned)pw,
                 (unsigned)ph, s);
        png_longjmp(png, 1);
    }
    /* to 8-bit RGB as stb_image gives it: 16-bit samples keep their high byte, grey is
     * replicated, palette entries looked up, alpha (also from tRNS) dropped, gamma ignored */
    png_set_strip_16(png);
    png_set_packing(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_expand_gray_1_2_4_to_8(png);
        png_set_gray_to_rgb(png);
    }
    png_set_strip_alpha(png);
    png_read_update_info(png, pinfo);
    if (png_get_channels(png, pinfo) != 3 || png_get_bit_depth(png, pinfo) != 8 ||
        png_get_rowbytes(png, pinfo) != (size_t)pw * 3)
        png_error(png, "unexpected layout after the conversion to RGB");
    row = malloc((size_t)pw * 3);
    acc = calloc((size_t)ow * 3, sizeof *acc);
    out = malloc((size_t)ow * oh * 3);
    if (!row || !acc || !out) {
        snprintf(tu_msg, sizeof tu_msg, "out of memory decoding a %ux%u PNG", (unsigned)pw, (unsigned)ph);
        png_longjmp(png, 1);
    }
    /* the box filter: each output pixel is the rounded mean of an s x s block; the last
     * pw % s columns and ph % s rows are dropped */
    const uint32_t n = (uint32_t)s * (uint32_t)s, xs = ow * (uint32_t)s;
    for (uint32_t y = 0; y < ph; y++) {
        png_read_row(png, row, NULL);
        uint32_t oy = y / (uint32_t)s;
        if (oy >= oh) continue; /* read (checked) but not used */
        for (uint32_t x = 0; x < xs; x++) {
            uint32_t *a = acc + (size_t)(x / (uint32_t)s) * 3;
            const uint8_t *p = row + (size_t)x * 3;
            a[0] += p[0];
            a[1] += p[1];
            a[2] += p[2];
        }
        if ((y + 1) % (uint32_t)s == 0) {
            uint8_t *o = out + (size_t)oy * ow * 3;
            for (size_t i = 0; i < (size_t)ow * 3; i++) {
                o[i] = (uint8_t)((acc[i] + n / 2) / n);
                acc[i] = 0;
            }
        }
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(row);
    free(acc);
    *w = (int)ow;
    *h = (int)oh;
    return out;
#else
    (void)data;
    (void)size;
    (void)s;
    (void)w;
    (void)h;
    *err = "built without libpng";
    return NULL;
#endif
}

int tu_min_decode_side(const kwvk_model_info *info)
{
    uint32_t s = info->resize_short;
    if (!s) s = info->input_height > info->input_width ? info->input_height : info->input_width;
    return (int)(2 * s);
}

uint8_t *tu_decode_rgb8(const uint8_t *data, size_t size, int *w, int *h, const char **err)
{
    return tu_decode_rgb8_scaled(data, size, 0, w, h, err);
}

uint8_t *tu_decode_rgb8_scaled(const uint8_t *data, size_t size, int min_short, int *w, int *h, const char **err)
{
    int comp;
    *err = NULL;
    if (size == 0 || size > INT32_MAX) {
        *err = size ? "the image file is larger than 2 GiB" : "the image file is empty";
        return NULL;
    }
#ifdef KWVK_HAVE_LIBJPEG
    /* JPEG (FF D8 FF): libjpeg, the decoder Pillow uses */
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, size, min_short, w, h, err);
#else
    (void)min_short;
#endif
#ifdef KWVK_HAVE_LIBPNG
    /* a non-interlaced PNG above TU_MAX_IMAGE_PIXELS: read row by row by libpng and box-filtered
     * down by the largest integer factor keeping min_short pixels (the width and height come
     * from the IHDR chunk, which the PNG format puts first) */
    static const uint8_t png_sig[16] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    if (size >= 24 && memcmp(data, png_sig, sizeof png_sig) == 0) {
        uint32_t pw = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 | data[19];
        uint32_t ph = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 | data[23];
        uint64_t pixels = (uint64_t)pw * ph;
        if (pixels > TU_MAX_IMAGE_PIXELS) {
            if (pixels > TU_MAX_SCALED_PIXELS || min_short <= 0) {
                snprintf(tu_msg, sizeof tu_msg, "the PNG has %.1f million pixels (%ux%u); the limit is %.1f million%s",
                         pixels / 1e6, (unsigned)pw, (unsigned)ph,
                         (min_short > 0 ? TU_MAX_SCALED_PIXELS : TU_MAX_IMAGE_PIXELS) / 1e6,
                         min_short > 0 ? "" : " at full resolution");
                *err = tu_msg;
                return NULL;
            }
            uint32_t short_side = pw < ph ? pw : ph;
            uint32_t f = short_side / (uint32_t)min_short;
            return tu_decode_png_box(data, size, f < 2 ? 2 : (int)(f > 65535 ? 65535 : f), w, h, err);
        }
    }
#endif
    if (!jpeg_dht_ok(data, size)) {
        *err = "corrupt JPEG (bad Huffman table)";
        return NULL;
    }
    if (!pnm_header_ok(data, size)) {
        *err = "corrupt PNM (a header number does not fit 32 bits)";
        return NULL;
    }
    /* a few hundred bytes may declare 16384 x 16384 pixels: check before decoding */
    if (stbi_info_from_memory(data, (int)size, w, h, &comp) && (uint64_t)*w * (uint64_t)*h > TU_MAX_IMAGE_PIXELS) {
        snprintf(tu_msg, sizeof tu_msg,
                 "the image has %.1f million pixels (%dx%d); images of its format are decoded whole, up to "
                 "%.1f million pixels%s",
                 (double)*w * *h / 1e6, *w, *h, TU_MAX_IMAGE_PIXELS / 1e6,
                 tu_have_libjpeg() && tu_have_libpng()
                     ? " (larger JPEGs and PNGs are decoded scaled down)"
                 : tu_have_libjpeg() ? " (larger JPEGs are decoded scaled down)"
                 : tu_have_libpng()  ? " (larger PNGs are decoded scaled down)"
                                     : "");
        *err = tu_msg;
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
        snprintf(tu_msg, sizeof tu_msg, "cannot read the file: %s", strerror(errno));
        *err = tu_msg;
        return -1;
    }
    int w, h;
    kwvk_model_info info;
    if (kwvk_model_get_info(model, &info) != KWVK_OK) {
        free(data);
        *err = kwvk_last_error();
        return -1;
    }
    uint8_t *rgb = tu_decode_rgb8_scaled(data, size, tu_min_decode_side(&info), &w, &h, err);
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

int tu_is_image_name(const char *name)
{
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".psd", ".pgm", ".ppm", ".pnm"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (len > e && !strcasecmp(name + len - e, ext[i])) return 1;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
          : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
    return n;
}

void tu_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        int n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p++);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p++);
        } else {
            fwrite(p, 1, (size_t)n, f);
            p += n;
        }
    }
    fputc('"', f);
}
