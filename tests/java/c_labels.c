/*
 * c_labels.c - the C path of the Java binding's test: classifies the frames of a
 * make_frames.py manifest through the library's public API (kwvk_net_run_images and
 * kwvk_top_k, one frame per run, as the binding does) and writes one line per frame:
 *
 *   name <TAB> logits (count, then the values) <TAB> top-3 as "index score label" triples
 *
 * KwvkTest.java reads this file and requires the binding to give the same classes and, within
 * a tolerance, the same numbers. Usage: c_labels MODEL MANIFEST OUT. Exit 77 (skip) only
 * when there is no Vulkan device at all.
 */
#include <kwvk.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOP 3

static int fail(const char *what, kwvk_result r)
{
    fprintf(stderr, "c_labels: %s: %s: %s\n", what, kwvk_result_name(r), kwvk_last_error());
    return r == KWVK_ERROR_NO_DEVICE ? 77 : 1;
}

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) != NULL) {
            if (fread(data, 1, (size_t)n, f) != (size_t)n) {
                free(data);
                data = NULL;
            }
            *size = (size_t)n;
        }
    }
    fclose(f);
    return data;
}

/* Bytes a frame spans (each plane's last row unpadded); 0 for a stride below a row. */
static size_t frame_bytes(const kwvk_image *im)
{
    size_t w = im->width, h = im->height, row;
    switch (im->format) {
    case KWVK_PIXEL_RGBA8:
    case KWVK_PIXEL_BGRA8: row = w * 4; break;
    case KWVK_PIXEL_RGB8: row = w * 3; break;
    case KWVK_PIXEL_GRAY8: row = w; break;
    case KWVK_PIXEL_YUYV: row = (w + 1) / 2 * 4; break;
    case KWVK_PIXEL_NV12:
    case KWVK_PIXEL_NV21: {
        size_t stride = im->stride ? im->stride : w, uv_row = (w + 1) / 2 * 2;
        size_t uv_stride = im->uv_stride ? im->uv_stride : stride;
        if (stride < w || uv_stride < uv_row) return 0;
        return stride * h + uv_stride * ((h + 1) / 2 - 1) + uv_row;
    }
    default: return 0;
    }
    size_t stride = im->stride ? im->stride : row;
    return stride < row ? 0 : stride * (h - 1) + row;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: c_labels MODEL MANIFEST OUT\n");
        return 2;
    }
    kwvk_model *model = NULL;
    kwvk_context *ctx = NULL;
    kwvk_net *net = NULL;
    kwvk_result r = kwvk_model_load_file(argv[1], &model);
    if (r != KWVK_OK) return fail(argv[1], r);
    kwvk_model_info mi;
    kwvk_model_get_info(model, &mi);
    kwvk_context_desc cd = {.enable_validation = 1};
    if ((r = kwvk_context_create(&cd, &ctx)) != KWVK_OK) return fail("context", r);
    if ((r = kwvk_net_create(ctx, model, NULL, &net)) != KWVK_OK) return fail("net", r);
    uint32_t chw[3];
    if ((r = kwvk_net_output_shape(net, mi.input_channels, mi.input_height, mi.input_width, chw)) != KWVK_OK)
        return fail("output shape", r);
    uint32_t n_out = chw[0] * chw[1] * chw[2];
    float *logits = malloc(n_out * sizeof *logits);

    FILE *man = fopen(argv[2], "r"), *out = fopen(argv[3], "w");
    if (!man || !out || !logits) {
        fprintf(stderr, "c_labels: cannot open %s or %s\n", argv[2], argv[3]);
        return 1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[2]);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;

    char name[256], file[256], line[1024];
    unsigned format, width, height, stride, rotation, flags;
    int expect, frames = 0, status = 0;
    while (fgets(line, sizeof line, man)) {
        if (sscanf(line, "%255s %u %u %u %u %u %u %d %255s", name, &format, &width, &height, &stride, &rotation, &flags,
                   &expect, file) != 9) {
            fprintf(stderr, "c_labels: bad manifest line: %s", line);
            return 1;
        }
        char path[4400];
        snprintf(path, sizeof path, "%s%s", dir, file);
        size_t size = 0;
        void *pixels = read_all(path, &size);
        if (!pixels) {
            fprintf(stderr, "c_labels: cannot read %s\n", path);
            return 1;
        }
        kwvk_image image = {.format = format,
                            .width = width,
                            .height = height,
                            .stride = stride,
                            .data = pixels,
                            .rotation = rotation,
                            .flags = flags};
        if ((format == KWVK_PIXEL_NV12 || format == KWVK_PIXEL_NV21) && stride == 0) {
            /* packed as the Java binding means it: chroma rows of ceil(width/2) pairs */
            image.stride = width;
            image.uv_stride = (width + 1) / 2 * 2;
        }
        size_t need = frame_bytes(&image); /* the frame must be in the file */
        if (need == 0 || need > size) {
            fprintf(stderr, "c_labels: %s: %zu bytes, the frame needs %zu\n", path, size, need);
            return 1;
        }
        kwvk_class_score top[TOP];
        r = kwvk_net_run_images(net, &image, 1, logits, n_out);
        if (r == KWVK_OK) r = kwvk_top_k(model, logits, n_out, TOP, KWVK_SCORES_SOFTMAX, top);
        free(pixels);
        if (r != KWVK_OK) {
            status = fail(name, r);
            break;
        }
        fprintf(out, "%s\t%u", name, n_out);
        for (uint32_t i = 0; i < n_out; i++)
            fprintf(out, " %.9g", logits[i]);
        fprintf(out, "\t");
        for (int i = 0; i < TOP; i++)
            fprintf(out, "%s%u %.9g %s", i ? "\t" : "", top[i].index, top[i].score, top[i].label);
        fprintf(out, "\n");
        printf("%-28s %u (%s) %.4f\n", name, top[0].index, top[0].label, top[0].score);
        frames++;
    }
    fclose(man);
    if (fclose(out) != 0) status = 1;
    uint32_t messages = kwvk_context_validation_messages(ctx);
    if (messages) {
        fprintf(stderr, "c_labels: %u validation messages\n", messages);
        status = 1;
    }
    free(logits);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    if (status == 0) printf("c_labels: %d frames\n", frames);
    return status;
}
