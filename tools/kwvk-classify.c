/* kwvk-classify - classify images with a kwvk model: all images in one batch, top-5 with
 * class names, confidence and latency.
 *
 *   kwvk-classify [--model MODEL] [--device NAME|INDEX] [--top K] [--repeat R] IMAGE...
 *   kwvk-classify [--model MODEL] [--device NAME|INDEX] [--samples DIR] [--check]
 *
 * Without --model it uses the model shipped with kwvk (models/fmnist_kw1x.kwvk). Without
 * images it classifies the sample images shipped next to the default model
 * (the PNG files in models/samples) one at a time (batch 1) and prints label, confidence and latency per
 * image; a sample named NN_... is an image of class NN, and --check fails the run unless every
 * sample gets its class. */
#include "kwvk.h"
#include "tool_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOOL = "kwvk-classify";

/* ---------------------------------------------------------------------------------------- */
/* Sample mode (no image arguments)                                                         */
/* ---------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted *.png names in `dir` (malloc'd array of malloc'd names); NULL if unreadable. */
static char **list_png(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 4, ".png")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, (size_t)cap * sizeof *names);
            if (!nn) tu_die(TOOL, "out of memory");
            names = nn;
        }
        if (!(names[n++] = strdup(e->d_name))) tu_die(TOOL, "out of memory");
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

/* The samples directory: `samples` if given, else samples/ next to the model, else the
 * source tree's and the installed models/samples. */
static const char *find_samples(const char *samples, const char *model_path, char *buf, size_t cap)
{
    if (samples) return samples;
    const char *slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) : 1;
    snprintf(buf, cap, "%.*s/samples", dir_len, slash ? model_path : ".");
    const char *candidates[] = {buf, KWVK_SOURCE_MODELS "/samples", KWVK_INSTALL_MODELS "/samples"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        DIR *d = opendir(candidates[i]);
        if (d) {
            closedir(d);
            return candidates[i];
        }
    }
    return buf;
}

static int classify_samples(const char *model_path, const char *device, int validation, const char *samples,
                            int check)
{
    char dir_buf[4096];
    const char *dir = find_samples(samples, model_path, dir_buf, sizeof dir_buf);
    int n_files = 0;
    char **files = list_png(dir, &n_files);
    if (!files || n_files == 0) tu_die(TOOL, "no sample images (*.png) in %s; give IMAGE arguments or --samples DIR", dir);

    kwvk_model *model;
    tu_check(TOOL, kwvk_model_load_file(model_path, &model), "loading the model");
    kwvk_model_info info;
    kwvk_model_get_info(model, &info);
    uint32_t C = info.input_channels, H = info.input_height, W = info.input_width, K = info.num_classes;
    if (info.resize_short && info.crop) H = W = info.crop;
    float *input = malloc((size_t)C * H * W * sizeof *input), *logits = malloc(K * sizeof *logits),
          *prob = malloc(K * sizeof *prob);
    if (!input || !logits || !prob) tu_die(TOOL, "out of memory");

    kwvk_context_desc cd = {.device = device, .enable_validation = validation};
    kwvk_context *ctx;
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    kwvk_net *net;
    tu_check(TOOL, kwvk_net_create(ctx, model, NULL, &net), "creating the network");
    double t0 = tu_now_ms();
    tu_check(TOOL, kwvk_net_prepare(net, 1, C, H, W), "preparing the network");
    double prep = tu_now_ms() - t0;
    /* one untimed run first: some drivers (lavapipe) finish compiling on the first dispatch */
    memset(input, 0, (size_t)C * H * W * sizeof *input);
    t0 = tu_now_ms();
    tu_check(TOOL, kwvk_net_run(net, input, 1, C, H, W, logits, K), "running");
    double warm = tu_now_ms() - t0;
    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    printf("model %s (%s, %u classes) on %s\nprepare %.0f ms, first (warm-up) run %.0f ms; then one image at a time:\n",
           model_path, info.name, K, di.name, prep, warm);
    printf("%-28s %-14s %10s %10s\n", "image", "label", "confidence", "latency");

    int wrong = 0, unchecked = 0;
    for (int i = 0; i < n_files; i++) {
        char path[4096];
        const char *err = NULL;
        if (snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= (int)sizeof path)
            tu_die(TOOL, "%s/%s: path too long", dir, files[i]);
        if (tu_load_image(path, model, input, &err) != 0) tu_die(TOOL, "%s: %s", path, err);
        double s = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, input, 1, C, H, W, logits, K), "running");
        double ms = tu_now_ms() - s;
        tu_softmax(logits, K, prob);
        uint32_t best;
        tu_topk(prob, K, 1, &best);
        const char *label = kwvk_model_label(model, best);
        char label_buf[32];
        if (!label || !label[0]) {
            snprintf(label_buf, sizeof label_buf, "class %u", best);
            label = label_buf;
        }
        /* the expected class from a name like "03_dress.png" */
        char *end;
        unsigned long want = strtoul(files[i], &end, 10);
        const char *verdict = "";
        if (end != files[i] && *end == '_' && want < K) {
            verdict = want == best ? "" : "  WRONG";
            wrong += want != best;
        } else {
            unchecked++;
        }
        printf("%-28s %-14s %9.2f%% %7.2f ms%s\n", files[i], label, 100.0 * prob[best], ms, verdict);
    }

    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    free(input);
    free(logits);
    free(prob);
    if (vmsg) tu_die(TOOL, "%u validation-layer message(s)", vmsg);
    if (check && (wrong || unchecked))
        tu_die(TOOL, "--check: %d sample(s) misclassified, %d without a class number in the name", wrong, unchecked);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Batch mode                                                                               */
/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *model_path = NULL, *device = NULL, *samples = NULL;
    int top = 5, repeat = 1, validation = 0, check = 0;
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_images = 0;
    if (!images) tu_die(TOOL, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: kwvk-classify [--model MODEL] [--device NAME|INDEX] [--top K] [--repeat R] IMAGE...\n"
                   "       kwvk-classify [--model MODEL] [--device NAME|INDEX] [--samples DIR] [--check]\n"
                   "Classifies JPEG/PNG/BMP images in one batch; prints the top-K labels per image.\n"
                   "Without images: classifies the sample images (DIR/*.png, default: samples/ next\n"
                   "to the model) one at a time with label, confidence and latency; --check fails\n"
                   "unless a sample named NN_*.png gets class NN.\n"
                   "Default model: %s\n",
                   tu_default_model());
            return 0;
        }
        if (!strcmp(a, "--validation")) {
            validation = 1;
            continue;
        }
        if (!strcmp(a, "--check")) {
            check = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (!next) tu_die(TOOL, "%s needs a value (see --help)", a);
            if (!strcmp(a, "--model")) model_path = next;
            else if (!strcmp(a, "--device")) device = next;
            else if (!strcmp(a, "--top")) top = atoi(next);
            else if (!strcmp(a, "--repeat")) repeat = atoi(next);
            else if (!strcmp(a, "--samples")) samples = next;
            else tu_die(TOOL, "unknown option %s (see --help)", a);
            i++;
            continue;
        }
        images[n_images++] = a;
    }
    if (!model_path) model_path = tu_default_model();
    if (n_images == 0) {
        free(images);
        return classify_samples(model_path, device, validation, samples, check);
    }
    if (samples || check) tu_die(TOOL, "--samples and --check are for the mode without IMAGE arguments");
    if (top < 1 || top > 16) tu_die(TOOL, "--top must be 1..16");
    if (repeat < 1 || repeat > 100000) tu_die(TOOL, "--repeat must be 1..100000");

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
        if (tu_load_image(images[i], model, batch + per * (size_t)i, &err) != 0)
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
