/* kwvk-eval - accuracy of a model on a labelled data set, on the GPU.
 *
 *   kwvk-eval --model MODEL --images DIR [--reference FILE] [--batch N] [--limit N] ...
 *   kwvk-eval [--model MODEL] [--data DIR] [--torch-top1 FILE] [--batch N] [--limit N]
 *             [--device NAME|INDEX] [--validation] [--fp16]
 *
 * --images DIR: a class-per-folder data set (the torchvision ImageFolder convention): every
 * subfolder of DIR holds the images of one class and is named after the model's class label
 * (compared ignoring case, with every run of characters other than letters and digits read
 * as one '_': "T-shirt/top" matches a folder "t_shirt_top"), or is the class index ("3").
 * Images are found recursively inside each class folder by extension, decoded and
 * preprocessed as kwvk-classify does (the model's metadata), and the top-1 and top-5
 * accuracy printed. --reference FILE (optional): lines "RELATIVE/PATH INDEX", the class
 * another implementation (PyTorch) predicts for each image; the agreement is printed and
 * the run fails below 99%.
 *
 * Without --images (Fashion-MNIST mode):
 * Reads t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) from DIR (default
 * /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist), normalises each pixel as
 * the model's metadata says ((x/255 - mean) / std), runs batches of N (default 256; the last
 * one is padded) and prints the accuracy, the agreement of the top-1 class with PyTorch's
 * (FILE: one byte per test image, written by tools/kwvk-train; default MODEL with .kwvk
 * replaced by .torch-top1.u8, when that file exists) and the throughput.
 *
 * Exit status 1 when the accuracy differs from PyTorch's (computed from FILE and the labels)
 * by more than 0.05 points, when fewer than 99.9% of the images get PyTorch's top-1, or on any
 * validation-layer message. */
#include "kwvk.h"
#include "tool_util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *TOOL = "kwvk-eval";

#define MAX_ACC_DIFF_POINTS 0.05
#define MIN_AGREEMENT       0.999
#define MIN_FOLDER_AGREEMENT 0.99

/* ---------------------------------------------------------------------------------------- */
/* Progress                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* "kwvk-eval: 2048 of 10000 images, 41 s left": in place on a terminal (every 0.25 s),
 * else a line every 10 s, so that a long run is never silent. */
typedef struct progress {
    double t0, last;
    int tty, shown;
} progress;

static void progress_update(progress *p, uint32_t done, uint32_t total)
{
    double now = tu_now_ms();
    if (done >= total || now - p->last < (p->tty ? 250 : 10000) || now - p->t0 < 2000) return;
    double left = (now - p->t0) / done * (total - done) / 1000.0;
    fprintf(stderr, "%s%s: %u of %u images, about %.0f s left%s", p->tty ? "\r\033[K" : "", TOOL, done, total, left,
            p->tty ? "" : "\n");
    p->shown = p->tty;
    p->last = now;
}

static void progress_end(progress *p)
{
    if (p->shown) fputs("\r\033[K", stderr);
    p->shown = 0;
}

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

/* ---------------------------------------------------------------------------------------- */
/* Class-per-folder data sets (--images)                                                     */
/* ---------------------------------------------------------------------------------------- */

/* lower-case letters and digits, every other run of bytes one '_' (no leading/trailing) */
static void fold_name(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    int sep = 0;
    for (; *s && n + 2 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
        if (!alnum) {
            sep = n > 0;
            continue;
        }
        if (sep) out[n++] = '_';
        sep = 0;
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[n] = 0;
}

typedef struct sample {
    char *path; /* DIR/class/... */
    uint32_t label;
} sample;

typedef struct sample_list {
    sample *v;
    uint32_t n, cap;
} sample_list;

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted names in `dir` without hidden entries; NULL if it cannot be opened */
static char **list_dir(const char *dir, uint32_t *count)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    uint32_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) tu_die(TOOL, "out of memory");
            names = nn;
        }
        if (!(names[n++] = strdup(e->d_name))) tu_die(TOOL, "out of memory");
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    *count = n;
    return names ? names : calloc(1, sizeof *names);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (!p) tu_die(TOOL, "out of memory");
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void collect(const char *dir, uint32_t label, sample_list *out, int depth)
{
    uint32_t n = 0;
    char **names = list_dir(dir, &n);
    if (!names) tu_die(TOOL, "%s: cannot open the directory: %s", dir, strerror(errno));
    for (uint32_t i = 0; i < n; i++) {
        char *p = join(dir, names[i]);
        struct stat st, lst;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (depth < 32 && lstat(p, &lst) == 0 && !S_ISLNK(lst.st_mode)) collect(p, label, out, depth + 1);
            free(p);
        } else if (tu_is_image_name(names[i])) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 256;
                sample *nv = realloc(out->v, out->cap * sizeof *nv);
                if (!nv) tu_die(TOOL, "out of memory");
                out->v = nv;
            }
            out->v[out->n++] = (sample){p, label};
        } else {
            free(p);
        }
        free(names[i]);
    }
    free(names);
}

/* The class index of folder `name`: the label it names, or its decimal index. */
static uint32_t folder_class(const kwvk_model *model, uint32_t K, const char *name)
{
    char want[256], have[256];
    fold_name(name, want, sizeof want);
    uint32_t found = UINT32_MAX, matches = 0;
    for (uint32_t k = 0; k < K; k++) {
        const char *l = kwvk_model_label(model, k);
        if (!l || !l[0]) continue;
        fold_name(l, have, sizeof have);
        if (want[0] && !strcmp(want, have)) {
            if (!matches++) found = k;
        }
    }
    if (matches > 1)
        tu_die(TOOL, "folder '%s' matches %u class labels of the model (e.g. class %u); name it by the class index",
               name, matches, found);
    if (matches == 1) return found;
    char *end;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    if (end != name && !*end && !errno && v < K && name[0] >= '0' && name[0] <= '9') return (uint32_t)v;
    const char *l0 = kwvk_model_label(model, 0), *l1 = K > 1 ? kwvk_model_label(model, 1) : NULL;
    tu_die(TOOL, "folder '%s' is neither a class label of the model (%s%s%s%s...) nor a class index 0..%u", name,
           l0 && l0[0] ? "'" : "", l0 && l0[0] ? l0 : "the model has no labels", l1 && l1[0] ? "', '" : "",
           l1 && l1[0] ? l1 : "", K - 1);
}

/* --reference FILE: "RELATIVE/PATH INDEX" lines; returns the class per sample (UINT32_MAX
 * where the file has no line for it) */
static uint32_t *read_reference(const char *file, const char *root, const sample_list *s, uint32_t K)
{
    size_t size = 0;
    char *text = tu_read_file(file, &size);
    if (!text) tu_die(TOOL, "%s: cannot read the reference file: %s", file, strerror(errno));
    char *t = realloc(text, size + 1);
    if (!t) tu_die(TOOL, "out of memory");
    t[size] = 0;
    uint32_t *ref = malloc((s->n ? s->n : 1) * sizeof *ref);
    if (!ref) tu_die(TOOL, "out of memory");
    for (uint32_t i = 0; i < s->n; i++) ref[i] = UINT32_MAX;
    size_t rl = strlen(root);
    uint32_t line_no = 0;
    for (char *line = t, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        if (!line[0]) continue;
        char *sp = strrchr(line, ' ');
        char *end;
        unsigned long v = sp ? strtoul(sp + 1, &end, 10) : 0;
        if (!sp || end == sp + 1 || *end || v >= K)
            tu_die(TOOL, "%s:%u: expected 'RELATIVE/PATH INDEX' with INDEX < %u", file, line_no, K);
        *sp = 0;
        for (uint32_t i = 0; i < s->n; i++) /* linear: reference runs are small */
            if (!strcmp(s->v[i].path + rl + 1, line)) {
                ref[i] = (uint32_t)v;
                break;
            }
    }
    free(t);
    return ref;
}

static int eval_folder(const char *model_path, const char *root, const char *ref_path, const char *device,
                       int batch, int limit, int validation, int fp16)
{
    kwvk_model *model;
    tu_check(TOOL, kwvk_model_load_file(model_path, &model), "loading the model");
    kwvk_model_info info;
    tu_check(TOOL, kwvk_model_get_info(model, &info), "reading the model info");
    uint32_t K = info.num_classes, C = info.input_channels, H = info.input_height, W = info.input_width;
    if (info.resize_short && info.crop) H = W = info.crop;
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') rl--;
    char *rootc = strndup(root, rl);
    if (!rootc) tu_die(TOOL, "out of memory");

    uint32_t n_classes = 0;
    char **classes = list_dir(rootc, &n_classes);
    if (!classes) tu_die(TOOL, "%s: cannot open the directory: %s", rootc, strerror(errno));
    sample_list s = {0};
    uint32_t used_classes = 0;
    for (uint32_t i = 0; i < n_classes; i++) {
        char *p = join(rootc, classes[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            collect(p, folder_class(model, K, classes[i]), &s, 0);
            used_classes++;
        }
        free(p);
        free(classes[i]);
    }
    free(classes);
    if (!used_classes) tu_die(TOOL, "%s: no class folders (DIR/CLASS/IMAGE, as torchvision's ImageFolder)", rootc);
    if (!s.n) tu_die(TOOL, "%s: no images in the class folders", rootc);
    uint32_t n_eval = limit && (uint32_t)limit < s.n ? (uint32_t)limit : s.n;
    uint32_t *ref = ref_path ? read_reference(ref_path, rootc, &s, K) : NULL;

    kwvk_context_desc cd = {.device = device, .enable_validation = validation};
    kwvk_context *ctx;
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    kwvk_net *net;
    kwvk_net_desc nd = {.fp16_weights = fp16};
    tu_check(TOOL, kwvk_net_create(ctx, model, &nd, &net), "creating the network");
    uint32_t B = (uint32_t)batch < n_eval ? (uint32_t)batch : n_eval;
    size_t per = (size_t)C * H * W;
    float *input = malloc(per * B * sizeof *input), *logits = malloc((size_t)B * K * sizeof *logits);
    uint8_t *bad = malloc(B);
    if (!input || !logits || !bad) tu_die(TOOL, "out of memory");
    double t0 = tu_now_ms();
    tu_check(TOOL, kwvk_net_prepare(net, B, C, H, W), "preparing the network");
    double prep_ms = tu_now_ms() - t0, run_ms = 0, first_ms = 0;
    int compiling = tu_first_run_notice(TOOL, net, ctx);
    fprintf(stderr, "%s: %u images in %u class folders of %s\n", TOOL, n_eval, used_classes, rootc);

    uint32_t top1 = 0, top5 = 0, failed = 0, agree = 0, compared = 0, missing_ref = 0;
    progress pr = {.t0 = tu_now_ms(), .tty = tu_stderr_is_tty()};
    for (uint32_t start = 0; start < n_eval; start += B) {
        uint32_t n = n_eval - start < B ? n_eval - start : B;
        for (uint32_t j = 0; j < B; j++) {
            const char *err = NULL;
            bad[j] = 0;
            if (j >= n || tu_load_image(s.v[start + j].path, model, input + per * j, &err) != 0) {
                if (j < n) {
                    progress_end(&pr);
                    fprintf(stderr, "%s: %s: %s\n", TOOL, s.v[start + j].path, err);
                    bad[j] = 1;
                    failed++;
                }
                memset(input + per * j, 0, per * sizeof *input);
            }
        }
        double t = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, input, B, C, H, W, logits, (size_t)B * K), "running");
        double e = tu_now_ms() - t;
        if (start == 0) first_ms = e;
        else run_ms += e;
        for (uint32_t j = 0; j < n; j++) {
            if (bad[j]) continue;
            const float *l = logits + (size_t)j * K;
            uint32_t label = s.v[start + j].label, pred = argmax(l, K), rank = 0;
            for (uint32_t k = 0; k < K; k++) rank += l[k] > l[label] || (l[k] == l[label] && k < label);
            top1 += pred == label;
            top5 += rank < 5;
            if (ref) {
                if (ref[start + j] == UINT32_MAX) missing_ref++;
                else {
                    compared++;
                    agree += ref[start + j] == pred;
                }
            }
        }
        progress_update(&pr, start + n, n_eval);
    }
    progress_end(&pr);

    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    uint32_t good = n_eval - failed;
    printf("model %s (%s, %llu parameters) on %s\n", model_path, info.name, (unsigned long long)info.num_parameters,
           di.name);
    printf("images: %u in %u classes (%u could not be read), batch %u; prepare %.0f ms, first batch %.0f ms%s", good,
           used_classes, failed, B, prep_ms, first_ms, compiling ? " (includes compiling the GPU programs)" : "");
    if (n_eval > B) printf(", then %.1f images/s", (n_eval - B) / (run_ms / 1000.0));
    printf("\n");
    printf("accuracy: top-1 %.2f%% (%u of %u), top-5 %.2f%% (%u)\n", good ? 100.0 * top1 / good : 0.0, top1, good,
           good ? 100.0 * top5 / good : 0.0, top5);
    int fail = 0;
    if (ref) {
        printf("agreement with the reference top-1: %.2f%% (%u of %u differ; %u images without a reference line)\n",
               compared ? 100.0 * agree / compared : 0.0, compared - agree, compared, missing_ref);
        if (!compared || (double)agree / compared < MIN_FOLDER_AGREEMENT || missing_ref) {
            fprintf(stderr, "%s: FAIL: agreement below %.0f%% or images missing from %s\n", TOOL,
                    100 * MIN_FOLDER_AGREEMENT, ref_path);
            fail = 1;
        }
    }
    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    for (uint32_t i = 0; i < s.n; i++) free(s.v[i].path);
    free(s.v);
    free(ref);
    free(rootc);
    free(input);
    free(logits);
    free(bad);
    if (vmsg) {
        fprintf(stderr, "%s: FAIL: %u validation-layer message(s)\n", TOOL, vmsg);
        fail = 1;
    }
    return fail || failed ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Main                                                                                     */
/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *model_path = NULL, *data_dir = "/usr/share/datasets/fashion-mnist", *top1_path = NULL;
    const char *device = NULL, *images_dir = NULL, *ref_path = NULL;
    int batch = 0, limit = 0, validation = 0, fp16 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: kwvk-eval --model MODEL --images DIR [--reference FILE] [options]\n"
                   "       kwvk-eval [--model MODEL] [--data DIR] [--torch-top1 FILE] [options]\n"
                   "       kwvk-eval --version | --help\n"
                   "--images DIR: top-1 and top-5 accuracy on a class-per-folder data set (DIR/CLASS/IMAGE,\n"
                   "  torchvision's ImageFolder layout; CLASS is the model's class label, compared ignoring\n"
                   "  case and punctuation, or the class index). --reference FILE: lines 'RELATIVE/PATH\n"
                   "  INDEX' with another implementation's top-1; fails below %.0f%% agreement.\n"
                   "Otherwise: the Fashion-MNIST test set (IDX files in DIR, default %s) and,\n"
                   "  where FILE exists (default: MODEL with .kwvk replaced by .torch-top1.u8), PyTorch's\n"
                   "  top-1 classes: fails when the accuracy differs from PyTorch's by more than %.2f\n"
                   "  points or fewer than %.1f%% of the images agree.\n"
                   "Options:\n"
                   "  --model MODEL  default: %s\n"
                   "  --batch N      1..4096 (default 256 for Fashion-MNIST, 16 for --images)\n"
                   "  --limit N      only the first N images (default 0: all)\n"
                   "  --device D     device index or name substring (default: as kwvk-run)\n"
                   "  --validation   Vulkan validation layer; any message fails the run (default off)\n"
                   "  --fp16         static convolution weights stored as fp16 (default off)\n"
                   "Progress goes to stderr; the results to stdout.\n",
                   100 * MIN_FOLDER_AGREEMENT, data_dir, MAX_ACC_DIFF_POINTS, 100 * MIN_AGREEMENT,
                   tu_default_model());
            return 0;
        }
        if (!strcmp(a, "--version")) {
            tu_print_version(TOOL);
            return 0;
        }
        if (!strcmp(a, "--validation")) validation = 1;
        else if (!strcmp(a, "--fp16")) fp16 = 1;
        else if (!strcmp(a, "--model")) model_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--data")) data_dir = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--images")) images_dir = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--reference")) ref_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--torch-top1")) top1_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--device")) device = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--batch")) batch = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 1, 4096);
        else if (!strcmp(a, "--limit"))
            limit = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 0, 100000000);
        else if (a[0] == '-') tu_usage_error(TOOL, "unknown option %s", a);
        else tu_usage_error(TOOL, "unexpected argument '%s' (the data set is given with --images or --data)", a);
    }
    if (!model_path) model_path = tu_default_model();
    if (images_dir) {
        if (top1_path) tu_usage_error(TOOL, "--torch-top1 is for Fashion-MNIST; with --images give --reference");
        return eval_folder(model_path, images_dir, ref_path, device, batch ? batch : 16, limit, validation, fp16);
    }
    if (ref_path) tu_usage_error(TOOL, "--reference goes with --images");
    if (!batch) batch = 256;
    char top1_buf[4096];
    if (!top1_path) { /* the file tools/kwvk-train writes beside the model, if it is there */
        size_t len = strlen(model_path);
        const char *ext = ".kwvk";
        if (len >= 5 && !strcmp(model_path + len - 5, ext) && len + 16 <= sizeof top1_buf) {
            snprintf(top1_buf, sizeof top1_buf, "%.*s.torch-top1.u8", (int)(len - 5), model_path);
            if (access(top1_buf, R_OK) == 0) top1_path = top1_buf;
        }
    }

    /* data */
    idx_file images, labels;
    load_idx(data_dir, "t10k-images-idx3-ubyte", 3, &images);
    load_idx(data_dir, "t10k-labels-idx1-ubyte", 1, &labels);
    uint32_t total = images.dims[0];
    if (labels.dims[0] != total) tu_die(TOOL, "%u images but %u labels", total, labels.dims[0]);
    size_t top1_size = 0;
    uint8_t *torch_top1 = NULL;
    if (top1_path) {
        torch_top1 = tu_read_file(top1_path, &top1_size);
        if (!torch_top1) tu_die(TOOL, "%s: cannot read PyTorch's top-1 file: %s", top1_path, strerror(errno));
        if (top1_size != total) tu_die(TOOL, "%s: %zu entries for %u test images", top1_path, top1_size, total);
    }
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
        if (labels.data[i] >= K || (torch_top1 && torch_top1[i] >= K))
            tu_die(TOOL, "image %u: label %u or PyTorch class %u out of range (%u classes)", i, labels.data[i],
                   torch_top1 ? torch_top1[i] : 0, K);

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
    double prep_ms = tu_now_ms() - t0, run_ms = 0, first_ms = 0;
    int compiling = tu_first_run_notice(TOOL, net, ctx);
    progress pr = {.t0 = tu_now_ms(), .tty = tu_stderr_is_tty()};

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
        if (start == 0) first_ms = tu_now_ms() - s;
        else run_ms += tu_now_ms() - s;
        progress_update(&pr, start + n, n_eval);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t img = start + j, pred = argmax(logits + (size_t)j * K, K);
            uint32_t label = labels.data[img], tp = torch_top1 ? torch_top1[img] : pred;
            correct += pred == label;
            torch_correct += tp == label;
            agree += pred == tp;
            if (pred != tp && shown++ < 20) {
                progress_end(&pr);
                const char *lp = kwvk_model_label(model, pred), *lt = kwvk_model_label(model, tp);
                printf("  image %5u (label %u): kwvk %u %s, PyTorch %u %s\n", img, label, pred, lp ? lp : "", tp,
                       lt ? lt : "");
            }
        }
    }

    progress_end(&pr);
    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    double acc = 100.0 * correct / n_eval, torch_acc = 100.0 * torch_correct / n_eval;
    double agreement = (double)agree / n_eval;
    printf("model %s (%s, %llu parameters) on %s\n", model_path, info.name, (unsigned long long)info.num_parameters,
           di.name);
    uint32_t n_rest = n_eval > B ? n_eval - B : 0;
    printf("test images: %u of %u, batch %u; prepare %.0f ms; first batch %.0f ms%s", n_eval, total, B, prep_ms,
           first_ms, compiling ? " (includes compiling the GPU programs)" : "");
    if (n_rest) printf("; then %.1f images/s (%.2f ms per batch)", n_rest / (run_ms / 1000.0), run_ms / ((n_rest + B - 1) / B));
    printf("\n");
    if (torch_top1) {
        printf("accuracy: kwvk %.2f%% (%u), PyTorch %.2f%% (%u), difference %+.2f points\n", acc, correct, torch_acc,
               torch_correct, acc - torch_acc);
        printf("top-1 agreement with PyTorch: %.2f%% (%u of %u differ)\n", 100.0 * agreement, n_eval - agree, n_eval);
    } else {
        printf("accuracy: kwvk %.2f%% (%u of %u); no PyTorch reference (--torch-top1 FILE) to compare with\n", acc,
               correct, n_eval);
    }

    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    free(input);
    free(logits);
    int have_ref = torch_top1 != NULL;
    free(torch_top1);
    free(images.bytes);
    free(labels.bytes);
    int fail = 0;
    if (vmsg) {
        fprintf(stderr, "%s: FAIL: %u validation-layer message(s)\n", TOOL, vmsg);
        fail = 1;
    }
    if (have_ref && fabs(acc - torch_acc) > MAX_ACC_DIFF_POINTS + 1e-9) {
        fprintf(stderr, "%s: FAIL: accuracy differs from PyTorch's by more than %.2f points\n", TOOL,
                MAX_ACC_DIFF_POINTS);
        fail = 1;
    }
    if (have_ref && agreement < MIN_AGREEMENT) {
        fprintf(stderr, "%s: FAIL: top-1 agreement below %.1f%%\n", TOOL, 100 * MIN_AGREEMENT);
        fail = 1;
    }
    if (!fail && have_ref) printf("PASS\n");
    return fail;
}
