/* kwvk-eval - run a Fashion-MNIST model over the whole test set on the GPU, straight from the
 * IDX files, and compare with PyTorch.
 *
 *   kwvk-eval [--model MODEL] [--data DIR] [--torch-top1 FILE] [--batch N] [--limit N]
 *             [--device NAME|INDEX] [--validation]
 *
 * Reads t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) from DIR (default
 * /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist), normalises each pixel as
 * the model's metadata says ((x/255 - mean) / std), runs batches of N (default 256; the last
 * one is padded) and prints the accuracy, the agreement of the top-1 class with PyTorch's
 * (FILE: one byte per test image, written by tools/kwvk-train; default MODEL with .kwvk
 * replaced by .torch-top1.u8) and the throughput.
 *
 * Exit status 1 when the accuracy differs from PyTorch's (computed from FILE and the labels)
 * by more than 0.05 points, when fewer than 99.9% of the images get PyTorch's top-1, or on any
 * validation-layer message. */
#include "kwvk.h"
#include "tool_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *TOOL = "kwvk-eval";

#define MAX_ACC_DIFF_POINTS 0.05
#define MIN_AGREEMENT       0.999

/* ---------------------------------------------------------------------------------------- */
/* IDX files                                                                                */
/* ---------------------------------------------------------------------------------------- */

typedef struct idx_file {
    uint8_t *bytes; /* the whole decompressed file */
    const uint8_t *data;
    uint32_t ndim, dims[3];
    size_t count;
} idx_file;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Load DIR/NAME.gz, or DIR/NAME if there is no .gz; an unsigned-byte IDX file of `ndim` dims. */
static void load_idx(const char *dir, const char *name, uint32_t ndim, idx_file *out)
{
    char path[4096];
    const char *err = NULL;
    size_t size = 0;
    if (snprintf(path, sizeof path, "%s/%s.gz", dir, name) >= (int)sizeof path) tu_die(TOOL, "--data: path too long");
    if (access(path, F_OK) != 0) path[strlen(path) - 3] = 0; /* an uncompressed copy */
    out->bytes = tu_read_file_gunzip(path, &size, &err);
    if (!out->bytes) tu_die(TOOL, "%s: %s (install Debian's dataset-fashion-mnist, or give --data DIR)", path, err);
    const uint8_t *b = out->bytes;
    if (size < 4 + 4 * (size_t)ndim || b[0] || b[1] || b[2] != 0x08 || b[3] != ndim)
        tu_die(TOOL, "%s: not an unsigned-byte IDX file with %u dimensions", path, ndim);
    out->ndim = ndim;
    out->count = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        out->dims[d] = be32(b + 4 + 4 * d);
        if (out->dims[d] == 0 || out->dims[d] > 1000000) tu_die(TOOL, "%s: bad dimension %u", path, out->dims[d]);
        out->count *= out->dims[d];
    }
    if (size - 4 - 4 * (size_t)ndim != out->count)
        tu_die(TOOL, "%s: %zu data bytes for %zu elements", path, size - 4 - 4 * (size_t)ndim, out->count);
    out->data = b + 4 + 4 * ndim;
}

/* ---------------------------------------------------------------------------------------- */
/* Main                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static uint32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0; /* first maximum, as torch.argmax */
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *data_dir = "/usr/share/datasets/fashion-mnist", *top1_path = NULL;
    const char *device = NULL;
    int batch = 256, limit = 0, validation = 0, fp16 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: kwvk-eval [--model MODEL] [--data DIR] [--torch-top1 FILE] [--batch N] [--limit N]\n"
                   "                 [--device NAME|INDEX] [--validation] [--fp16]\n"
                   "Runs the Fashion-MNIST test set (IDX files in DIR, default %s) through MODEL\n"
                   "(default %s) and compares the top-1 classes with PyTorch's (FILE, default MODEL\n"
                   "with .kwvk replaced by .torch-top1.u8). Fails when the accuracy differs from\n"
                   "PyTorch's by more than %.2f points or fewer than %.1f%% of the images agree.\n"
                   "--fp16 stores the static convolution weights as fp16 (kwvk_net_desc.fp16_weights).\n",
                   data_dir, tu_default_model(), MAX_ACC_DIFF_POINTS, 100 * MIN_AGREEMENT);
            return 0;
        }
        if (!strcmp(a, "--validation")) {
            validation = 1;
            continue;
        }
        if (!strcmp(a, "--fp16")) {
            fp16 = 1;
            continue;
        }
        if (!next) tu_die(TOOL, "%s needs a value (see --help)", a);
        if (!strcmp(a, "--model"))
            model_path = next;
        else if (!strcmp(a, "--data"))
            data_dir = next;
        else if (!strcmp(a, "--torch-top1"))
            top1_path = next;
        else if (!strcmp(a, "--device"))
            device = next;
        else if (!strcmp(a, "--batch"))
            batch = atoi(next);
        else if (!strcmp(a, "--limit"))
            limit = atoi(next);
        else
            tu_die(TOOL, "unknown argument %s (see --help)", a);
        i++;
    }
    if (batch < 1 || batch > 4096) tu_die(TOOL, "--batch must be 1..4096");
    if (limit < 0) tu_die(TOOL, "--limit must be >= 0");
    if (!model_path) model_path = tu_default_model();
    char top1_buf[4096];
    if (!top1_path) {
        size_t len = strlen(model_path);
        const char *ext = ".kwvk";
        if (len < 5 || strcmp(model_path + len - 5, ext) || len + 16 > sizeof top1_buf)
            tu_die(TOOL, "give --torch-top1 (the model name does not end in .kwvk)");
        snprintf(top1_buf, sizeof top1_buf, "%.*s.torch-top1.u8", (int)(len - 5), model_path);
        top1_path = top1_buf;
    }

    /* data */
    idx_file images, labels;
    load_idx(data_dir, "t10k-images-idx3-ubyte", 3, &images);
    load_idx(data_dir, "t10k-labels-idx1-ubyte", 1, &labels);
    uint32_t total = images.dims[0];
    if (labels.dims[0] != total) tu_die(TOOL, "%u images but %u labels", total, labels.dims[0]);
    size_t top1_size = 0;
    uint8_t *torch_top1 = tu_read_file(top1_path, &top1_size);
    if (!torch_top1) tu_die(TOOL, "%s: cannot read PyTorch's top-1 file", top1_path);
    if (top1_size != total) tu_die(TOOL, "%s: %zu entries for %u test images", top1_path, top1_size, total);
    uint32_t n_eval = limit && (uint32_t)limit < total ? (uint32_t)limit : total;

    /* model */
    kwvk_model *model;
    tu_check(TOOL, kwvk_model_load_file(model_path, &model), "loading the model");
    kwvk_model_info info;
    tu_check(TOOL, kwvk_model_get_info(model, &info), "reading the model info");
    uint32_t H = images.dims[1], W = images.dims[2], K = info.num_classes;
    if (info.input_channels != 1 || info.input_height != H || info.input_width != W)
        tu_die(TOOL, "the model takes %ux%ux%u inputs, the IDX images are 1x%ux%u", info.input_channels,
               info.input_height, info.input_width, H, W);
    for (uint32_t i = 0; i < total; i++)
        if (labels.data[i] >= K || torch_top1[i] >= K)
            tu_die(TOOL, "image %u: label %u or PyTorch class %u out of range (%u classes)", i, labels.data[i],
                   torch_top1[i], K);

    kwvk_context_desc cd = {.device = device, .enable_validation = validation};
    kwvk_context *ctx;
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    kwvk_net *net;
    kwvk_net_desc nd = {.fp16_weights = fp16};
    tu_check(TOOL, kwvk_net_create(ctx, model, &nd, &net), "creating the network");
    uint32_t B = (uint32_t)batch < n_eval ? (uint32_t)batch : n_eval;
    size_t per = (size_t)H * W;
    float *input = malloc(per * B * sizeof *input), *logits = malloc((size_t)B * K * sizeof *logits);
    if (!input || !logits) tu_die(TOOL, "out of memory");
    double t0 = tu_now_ms();
    tu_check(TOOL, kwvk_net_prepare(net, B, 1, H, W), "preparing the network");
    double prep_ms = tu_now_ms() - t0, run_ms = 0;

    /* the same float32 steps as the Python side (fmnist.normalise): x / 255, - mean, / std */
    const float mean = info.mean[0], std = info.std[0];
    uint32_t correct = 0, torch_correct = 0, agree = 0, shown = 0;
    for (uint32_t start = 0; start < n_eval; start += B) {
        uint32_t n = n_eval - start < B ? n_eval - start : B;
        for (size_t j = 0; j < per * n; j++)
            input[j] = ((float)images.data[per * start + j] / 255.0f - mean) / std;
        memset(input + per * n, 0, per * (B - n) * sizeof *input); /* pad the last batch */
        double s = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, input, B, 1, H, W, logits, (size_t)B * K), "running");
        run_ms += tu_now_ms() - s;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t img = start + j, pred = argmax(logits + (size_t)j * K, K);
            uint32_t label = labels.data[img], tp = torch_top1[img];
            correct += pred == label;
            torch_correct += tp == label;
            agree += pred == tp;
            if (pred != tp && shown++ < 20) {
                const char *lp = kwvk_model_label(model, pred), *lt = kwvk_model_label(model, tp);
                printf("  image %5u (label %u): kwvk %u %s, PyTorch %u %s\n", img, label, pred, lp ? lp : "", tp,
                       lt ? lt : "");
            }
        }
    }

    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    double acc = 100.0 * correct / n_eval, torch_acc = 100.0 * torch_correct / n_eval;
    double agreement = (double)agree / n_eval;
    printf("model %s (%s, %llu parameters) on %s\n", model_path, info.name, (unsigned long long)info.num_parameters,
           di.name);
    printf("test images: %u of %u, batch %u; prepare %.0f ms; %.1f images/s (%.2f ms per batch)\n", n_eval, total, B,
           prep_ms, n_eval / (run_ms / 1000.0), run_ms / ((n_eval + B - 1) / B));
    printf("accuracy: kwvk %.2f%% (%u), PyTorch %.2f%% (%u), difference %+.2f points\n", acc, correct, torch_acc,
           torch_correct, acc - torch_acc);
    printf("top-1 agreement with PyTorch: %.2f%% (%u of %u differ)\n", 100.0 * agreement, n_eval - agree, n_eval);

    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    free(input);
    free(logits);
    free(torch_top1);
    free(images.bytes);
    free(labels.bytes);
    int fail = 0;
    if (vmsg) {
        fprintf(stderr, "%s: FAIL: %u validation-layer message(s)\n", TOOL, vmsg);
        fail = 1;
    }
    if (fabs(acc - torch_acc) > MAX_ACC_DIFF_POINTS + 1e-9) {
        fprintf(stderr, "%s: FAIL: accuracy differs from PyTorch's by more than %.2f points\n", TOOL,
                MAX_ACC_DIFF_POINTS);
        fail = 1;
    }
    if (agreement < MIN_AGREEMENT) {
        fprintf(stderr, "%s: FAIL: top-1 agreement below %.1f%%\n", TOOL, 100 * MIN_AGREEMENT);
        fail = 1;
    }
    if (!fail) printf("PASS\n");
    return fail;
}
