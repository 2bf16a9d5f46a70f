/* kwvk-classify - classify images with a kwvk model: all images in one batch, top-5 with
 * class names, confidence and latency.
 *
 *   kwvk-classify [--model MODEL] [--device NAME|INDEX] [--top K] [--repeat R] IMAGE...
 *
 * Without --model it uses the model shipped with kwvk (models/fmnist_kw1x.kwvk). */
#include "kwvk.h"
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOOL = "kwvk-classify";

int main(int argc, char **argv)
{
    const char *model_path = NULL, *device = NULL;
    int top = 5, repeat = 1, validation = 0;
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_images = 0;
    if (!images) tu_die(TOOL, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: kwvk-classify [--model MODEL] [--device NAME|INDEX] [--top K] [--repeat R] IMAGE...\n"
                   "Classifies JPEG/PNG/BMP images in one batch; prints the top-K labels per image.\n"
                   "Default model: %s\n",
                   tu_default_model());
            return 0;
        }
        if (!strcmp(a, "--validation")) {
            validation = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (!next) tu_die(TOOL, "%s needs a value (see --help)", a);
            if (!strcmp(a, "--model")) model_path = next;
            else if (!strcmp(a, "--device")) device = next;
            else if (!strcmp(a, "--top")) top = atoi(next);
            else if (!strcmp(a, "--repeat")) repeat = atoi(next);
            else tu_die(TOOL, "unknown option %s (see --help)", a);
            i++;
            continue;
        }
        images[n_images++] = a;
    }
    if (n_images == 0) tu_die(TOOL, "no images given (see --help)");
    if (top < 1 || top > 16) tu_die(TOOL, "--top must be 1..16");
    if (repeat < 1 || repeat > 100000) tu_die(TOOL, "--repeat must be 1..100000");
    if (!model_path) model_path = tu_default_model();

    kwvk_model *model;
    tu_check(TOOL, kwvk_model_load_file(model_path, &model), "loading the model");
    kwvk_model_info info;
    kwvk_model_get_info(model, &info);
    uint32_t C = info.input_channels, H = info.input_height, W = info.input_width;
    if (info.resize_short && info.crop) H = W = info.crop;
    size_t per = (size_t)C * H * W;
    float *batch = malloc(per * (size_t)n_images * sizeof *batch);
    if (!batch) tu_die(TOOL, "out of memory for %d images", n_images);
    for (int i = 0; i < n_images; i++) {
        const char *err = NULL;
        if (tu_load_image(images[i], &info, batch + per * (size_t)i, &err) != 0)
            tu_die(TOOL, "%s: %s", images[i], err);
    }

    kwvk_context_desc cd = {.device = device, .enable_validation = validation};
    kwvk_context *ctx;
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    kwvk_net *net;
    tu_check(TOOL, kwvk_net_create(ctx, model, NULL, &net), "creating the network");
    uint32_t n = (uint32_t)n_images, K = info.num_classes;
    float *logits = malloc((size_t)n * K * sizeof *logits), *prob = malloc(K * sizeof *prob);
    if (!logits || !prob) tu_die(TOOL, "out of memory");
    double t0 = tu_now_ms();
    tu_check(TOOL, kwvk_net_prepare(net, n, C, H, W), "preparing the network");
    double prep = tu_now_ms() - t0, best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double s = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, batch, n, C, H, W, logits, (size_t)n * K), "running");
        double e = tu_now_ms() - s;
        if (e < best) best = e;
    }
    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    printf("model %s (%s, %u classes) on %s\n", model_path, info.name, K, di.name);
    printf("batch of %u: prepare %.1f ms, inference %.2f ms (%.2f ms per image)\n", n, prep, best, best / n);
    for (uint32_t s = 0; s < n; s++) {
        tu_softmax(logits + (size_t)s * K, K, prob);
        uint32_t idx[16];
        tu_topk(prob, K, (uint32_t)top, idx);
        printf("%s\n", images[s]);
        for (int j = 0; j < top && (uint32_t)j < K; j++) {
            const char *label = kwvk_model_label(model, idx[j]);
            printf("  %6.2f%%  %s%s(class %u)\n", 100.0 * prob[idx[j]], label && label[0] ? label : "",
                   label && label[0] ? "  " : "", idx[j]);
        }
    }
    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    free(batch);
    free(logits);
    free(prob);
    free(images);
    if (vmsg) tu_die(TOOL, "%u validation-layer message(s)", vmsg);
    return 0;
}
