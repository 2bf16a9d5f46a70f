/* kwvk-classify - classify images with a kwvk model, in batches, with class names and
 * confidences.
 *
 *   kwvk-classify [--model MODEL] [--batch N] [--top K] [--json] [--device D] PATH...
 *   kwvk-classify [--model MODEL] [--device D] [--samples DIR] [--check]
 *
 * PATH: image files, and directories searched recursively for images (by extension: .jpg
 * .jpeg .png .bmp .gif .tga .psd .pgm .ppm .pnm, any case; hidden entries and symbolic links
 * to directories skipped), in sorted order. The images go through the network in batches of N
 * (default: chosen from the device's memory), and each batch's results are printed as soon as
 * it completes. A file that cannot be read or decoded is reported on stderr with its name and
 * the reason; the others are still classified, and the exit status is 1 at the end. With
 * --json, stdout holds only one JSON object per image and line:
 *   {"file": "a.jpg", "top": [{"label": "tench", "index": 0, "prob": 0.83}, ...]}
 * and everything else (timing, progress, errors) goes to stderr.
 *
 * Without --model it uses the model shipped with kwvk (models/fmnist_kw1x.kwvk). Without
 * images it classifies the sample images shipped next to the default model
 * (the PNG files in models/samples) one at a time (batch 1) and prints label, confidence and latency per
 * image; a sample named NN_... is an image of class NN, and --check fails the run unless every
 * sample gets its class. */
#include "kwvk.h"
#include "tool_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
    int compiling = tu_first_run_notice(TOOL, net, ctx);
    /* one untimed run first: some drivers (lavapipe) finish compiling on the first dispatch */
    memset(input, 0, (size_t)C * H * W * sizeof *input);
    t0 = tu_now_ms();
    tu_check(TOOL, kwvk_net_run(net, input, 1, C, H, W, logits, K), "running");
    double warm = tu_now_ms() - t0;
    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    printf("model %s (%s, %u classes) on %s\nprepare %.0f ms, first (warm-up) run %.0f ms%s; then one image at a time:\n",
           model_path, info.name, K, di.name, prep, warm, compiling ? " (includes compiling the GPU programs)" : "");
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

typedef struct file_list {
    char **paths;
    int n, cap;
} file_list;

static void list_add(file_list *l, const char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        char **np = realloc(l->paths, (size_t)l->cap * sizeof *np);
        if (!np) tu_die(TOOL, "out of memory");
        l->paths = np;
    }
    if (!(l->paths[l->n++] = strdup(path))) tu_die(TOOL, "out of memory");
}

/* Append the images under `dir` (recursively, sorted) to `l`. Unreadable directories are
 * reported and counted in *failed. */
static void walk_dir(const char *dir, file_list *l, int depth, int *failed)
{
    if (depth > 64) {
        fprintf(stderr, "%s: %s: directories nested more than 64 deep, skipped\n", TOOL, dir);
        ++*failed;
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s: cannot open the directory: %s\n", TOOL, dir, strerror(errno));
        ++*failed;
        return;
    }
    file_list names = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') list_add(&names, e->d_name);
    closedir(d);
    if (names.n) qsort(names.paths, (size_t)names.n, sizeof *names.paths, cmp_str);
    size_t dl = strlen(dir);
    for (int i = 0; i < names.n; i++) {
        size_t need = dl + strlen(names.paths[i]) + 2;
        char *path = malloc(need);
        if (!path) tu_die(TOOL, "out of memory");
        snprintf(path, need, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", names.paths[i]);
        struct stat st, lst;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (lstat(path, &lst) == 0 && !S_ISLNK(lst.st_mode)) walk_dir(path, l, depth + 1, failed);
        } else if (tu_is_image_name(names.paths[i])) {
            list_add(l, path);
        }
        free(path);
        free(names.paths[i]);
    }
    free(names.paths);
}

/* Decode and preprocess files[0..n) into `input` ([n, C, H, W] as the model's metadata
 * says). A file that fails gets why[i] = the reason (its slot is zeroed), else NULL. The one
 * place the pixels are made: to be replaced by the library's image input. */
static void decode_batch(const char *const *files, uint32_t n, const kwvk_model *model, size_t per, float *input,
                         const char **why)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *err = NULL;
        why[i] = NULL;
        if (tu_load_image(files[i], model, input + per * i, &err) != 0) {
            /* tu_load_image's message may live in a buffer the next call reuses */
            why[i] = strdup(err ? err : "cannot decode the image");
            if (!why[i]) tu_die(TOOL, "out of memory");
            memset(input + per * i, 0, per * sizeof *input);
        }
    }
}

static void print_result(const kwvk_model *model, const char *file, const float *logits, uint32_t K, int top,
                         int json, float *prob)
{
    tu_softmax(logits, K, prob);
    uint32_t idx[16];
    uint32_t k = (uint32_t)top < K ? (uint32_t)top : K;
    tu_topk(prob, K, k, idx);
    if (json) {
        fputs("{\"file\": ", stdout);
        tu_json_str(stdout, file);
        fputs(", \"top\": [", stdout);
        for (uint32_t j = 0; j < k; j++) {
            const char *label = kwvk_model_label(model, idx[j]);
            fputs(j ? ", {\"label\": " : "{\"label\": ", stdout);
            tu_json_str(stdout, label ? label : "");
            printf(", \"index\": %u, \"prob\": %.6g}", idx[j], (double)prob[idx[j]]);
        }
        fputs("]}\n", stdout);
        return;
    }
    printf("%s\n", file);
    for (uint32_t j = 0; j < k; j++) {
        const char *label = kwvk_model_label(model, idx[j]);
        printf("  %6.2f%%  %s%s(class %u)\n", 100.0 * prob[idx[j]], label && label[0] ? label : "",
               label && label[0] ? "  " : "", idx[j]);
    }
}

static void usage(void)
{
    printf("usage: kwvk-classify [--model MODEL] [--batch N] [--top K] [--json] [--device D] PATH...\n"
           "       kwvk-classify [--model MODEL] [--device D] [--samples DIR] [--check]\n"
           "       kwvk-classify --version | --help\n"
           "Classifies images (JPEG, PNG, BMP, GIF, TGA, PSD, PNM); a directory PATH is searched\n"
           "recursively for files with those extensions. Results are printed per batch as it\n"
           "completes; a file that fails is reported on stderr and the rest still classified\n"
           "(exit status 1 at the end).\n"
           "  --model MODEL  default: %s\n"
           "  --batch N      images per batch, 1..1024 (default: from the device's memory, at\n"
           "                 most 16)\n"
           "  --top K        classes per image, 1..16 (default 5)\n"
           "  --json         one JSON object per image and line on stdout:\n"
           "                 {\"file\": ..., \"top\": [{\"label\": ..., \"index\": ..., \"prob\": ...}]}\n"
           "                 (everything else on stderr)\n"
           "  --device D     device index or name substring (default: $KWVK_DEVICE, else the first\n"
           "                 discrete GPU, then integrated GPU, then device 0)\n"
           "  --validation   Vulkan validation layer; any message fails the run (default off)\n"
           "Without PATH: classifies the sample images (DIR/*.png, default: samples/ next to the\n"
           "model) one at a time with label, confidence and latency; --check fails unless a\n"
           "sample named NN_*.png gets class NN.\n",
           tu_default_model());
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *device = NULL, *samples = NULL;
    int top = 5, batch = 0, validation = 0, check = 0, json = 0;
    const char **args = calloc((size_t)argc, sizeof *args);
    int n_args = 0;
    if (!args) tu_die(TOOL, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            free(args);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            tu_print_version(TOOL);
            free(args);
            return 0;
        }
        if (!strcmp(a, "--validation")) validation = 1;
        else if (!strcmp(a, "--check")) check = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--model")) model_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--device")) device = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--samples")) samples = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--top")) top = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 1, 16);
        else if (!strcmp(a, "--batch")) batch = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 1, 1024);
        else if (!strcmp(a, "--")) {
            while (++i < argc) args[n_args++] = argv[i];
        } else if (a[0] == '-' && a[1]) tu_usage_error(TOOL, "unknown option %s", a);
        else args[n_args++] = a;
    }
    if (!model_path) model_path = tu_default_model();
    if (n_args == 0) {
        free(args);
        if (json || batch) tu_usage_error(TOOL, "--json and --batch need IMAGE or DIRECTORY arguments");
        return classify_samples(model_path, device, validation, samples, check);
    }
    if (samples || check) tu_usage_error(TOOL, "--samples and --check are for the mode without IMAGE arguments");

    /* the files: each argument a file, or a directory searched recursively */
    file_list files = {0};
    int failed = 0;
    for (int i = 0; i < n_args; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            fprintf(stderr, "%s: %s: %s\n", TOOL, args[i], strerror(errno));
            failed++;
        } else if (S_ISDIR(st.st_mode)) {
            int before = files.n;
            walk_dir(args[i], &files, 0, &failed);
            if (files.n == before) fprintf(stderr, "%s: %s: no image files in this directory\n", TOOL, args[i]);
        } else {
            list_add(&files, args[i]);
        }
    }
    free(args);
    if (files.n == 0) tu_die(TOOL, "no images to classify");

    kwvk_model *model;
    tu_check(TOOL, kwvk_model_load_file(model_path, &model), "loading the model");
    kwvk_model_info info;
    kwvk_model_get_info(model, &info);
    uint32_t C = info.input_channels, H = info.input_height, W = info.input_width, K = info.num_classes;
    if (info.resize_short && info.crop) H = W = info.crop;
    size_t per = (size_t)C * H * W;

    kwvk_context_desc cd = {.device = device, .enable_validation = validation};
    kwvk_context *ctx;
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    kwvk_net *net;
    tu_check(TOOL, kwvk_net_create(ctx, model, NULL, &net), "creating the network");
    double t0 = tu_now_ms();
    if (!batch) {
        /* default: the activation memory of one image, measured by preparing batch 1, against
         * an eighth of the device's memory; at most 16 (results keep coming, and one batch
         * stays well inside the fence timeout on a CPU driver) */
        tu_check(TOOL, kwvk_net_prepare(net, 1, C, H, W), "preparing the network");
        kwvk_net_stats st;
        kwvk_net_get_stats(net, &st);
        uint64_t one = st.activation_bytes + per * 4 + 1;
        uint64_t fit = di.device_local_bytes / 8 / one;
        batch = fit < 1 ? 1 : fit > 16 ? 16 : (int)fit;
    }
    uint32_t B = (uint32_t)batch < (uint32_t)files.n ? (uint32_t)batch : (uint32_t)files.n;
    tu_check(TOOL, kwvk_net_prepare(net, B, C, H, W), "preparing the network");
    double prep = tu_now_ms() - t0;
    int compiling = tu_first_run_notice(TOOL, net, ctx);
    fprintf(stderr, "%s: model %s (%s, %u classes) on %s; %d image(s) in batches of %u\n", TOOL, model_path, info.name,
            K, di.name, files.n, B);

    float *input = malloc(per * B * sizeof *input), *logits = malloc((size_t)B * K * sizeof *logits),
          *prob = malloc(K * sizeof *prob);
    const char **why = calloc(B, sizeof *why);
    if (!input || !logits || !prob || !why) tu_die(TOOL, "out of memory for a batch of %u", B);
    double first_ms = 0, rest_ms = 0, t_start = tu_now_ms(), last_progress = 0;
    uint32_t rest_images = 0, done = 0, n_batches = 0, ok = 0;
    int tty = tu_stderr_is_tty(), progress_shown = 0;
    for (uint32_t start = 0; start < (uint32_t)files.n; start += B) {
        uint32_t n = (uint32_t)files.n - start < B ? (uint32_t)files.n - start : B;
        const char *const *batch_files = (const char *const *)files.paths + start;
        decode_batch(batch_files, n, model, per, input, why);
        memset(input + per * n, 0, per * (B - n) * sizeof *input); /* the last batch is padded */
        double s = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, input, B, C, H, W, logits, (size_t)B * K), "running");
        double e = tu_now_ms() - s;
        if (n_batches++ == 0) first_ms = e;
        else {
            rest_ms += e;
            rest_images += n;
        }
        if (progress_shown) fputs("\r\033[K", stderr);
        progress_shown = 0;
        for (uint32_t j = 0; j < n; j++) {
            if (why[j]) {
                fprintf(stderr, "%s: %s: %s\n", TOOL, batch_files[j], why[j]);
                free((void *)why[j]);
                failed++;
            } else {
                print_result(model, batch_files[j], logits + (size_t)j * K, K, top, json, prob);
                ok++;
            }
        }
        fflush(stdout);
        done += n;
        double now = tu_now_ms();
        if (tty && done < (uint32_t)files.n && now - last_progress > 250 && now - t_start > 2000) {
            double eta = (now - t_start) / done * (files.n - done) / 1000.0;
            fprintf(stderr, "%s: %u of %d images, about %.0f s left", TOOL, done, files.n, eta);
            progress_shown = 1;
            last_progress = now;
        }
    }
    if (progress_shown) fputs("\r\033[K", stderr);
    fprintf(stderr, "%s: %u classified, %d failed; prepare %.0f ms; first batch %.0f ms%s", TOOL, ok, failed, prep,
            first_ms, compiling ? " (includes compiling the GPU programs)" : "");
    if (rest_images)
        fprintf(stderr, "; then %.2f ms per image (%.1f images/s, batch %u)", rest_ms / rest_images,
                1000.0 * rest_images / rest_ms, B);
    fputc('\n', stderr);

    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    for (int i = 0; i < files.n; i++) free(files.paths[i]);
    free(files.paths);
    free(input);
    free(logits);
    free(prob);
    free(why);
    if (vmsg) tu_die(TOOL, "%u validation-layer message(s)", vmsg);
    return failed ? 1 : 0;
}
