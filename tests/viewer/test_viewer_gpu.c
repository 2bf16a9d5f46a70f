/* test_viewer_gpu - the viewer's GPU path, headless, against the CPU path kwvk-classify
 * takes, on lavapipe with the validation layer (any validation message fails the test):
 *   - conversion: the RGBA frame the GPU makes from RGB24 and YUYV (padded lines, odd
 *     widths) equals the CPU conversion exactly;
 *   - preprocessing: the network input the GPU writes vs tu_preprocess_rgb8 (Pillow-style
 *     antialiased bilinear, centre crop, grey, mean/std) for grey 28x28 (no resize), RGB
 *     resize + crop, RGB straight resize with aspect change, and ImageNet-style 256/224;
 *     the largest difference is reported and must stay within one 8-bit level (sums that
 *     land on .5 may round differently in float than in double), on under 5% of elements;
 *   - softmax + top-k on the GPU vs tu_softmax + tu_topk on the same output;
 *   - the top-1 class equals the one of kwvk_net_run on the CPU-preprocessed input (what
 *     kwvk-classify prints).
 *   test_viewer_gpu FIXTURE_DIR   (made by make_test_models.py) */
#include "kwvk.h"
#include "tool_util.h"
#include "vw_gpu.h"
#include "vw_layout.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static int failures;
static double worst_level; /* largest |gpu - cpu| in 8-bit levels (x 255 x std) */
static double worst_abs;
static long cases, differing, compared;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void die(const char *what, const char *err)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, err);
    exit(1);
}

static int list_pngs(const char *dir, char paths[][512], int cap)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".png")) snprintf(paths[n++], 512, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return n;
}

static void run_case(vw_gpu *g, vw_slot *s, const char *image, int yuyv)
{
    const vw_model *m = s->model;
    char err[512];
    int w, h, comp;
    uint8_t *rgb = stbi_load(image, &w, &h, &comp, 3);
    if (!rgb) die(image, stbi_failure_reason());
    /* the frame as a source would deliver it, with padded lines */
    size_t stride = yuyv ? (size_t)((w + 1) / 2) * 4 + 12 : (size_t)w * 3 + 5;
    uint8_t *raw = calloc(stride, (size_t)h);
    uint8_t *cpu_rgb = malloc((size_t)w * h * 3);
    if (yuyv) {
        vw_rgb24_to_yuyv(rgb, w, h, stride, raw);
        vw_yuyv_to_rgb24(raw, w, h, stride, cpu_rgb);
    } else {
        for (int y = 0; y < h; y++) memcpy(raw + (size_t)y * stride, rgb + (size_t)y * w * 3, (size_t)w * 3);
        memcpy(cpu_rgb, rgb, (size_t)w * h * 3);
    }
    vw_frame f = {yuyv ? VW_PIX_YUYV : VW_PIX_RGB24, w, h, stride, raw, 1, "test"};
    if (vw_slot_upload(g, s, &f, err, sizeof err)) die("vw_slot_upload", err);
    vw_write_set(g, s->set, s, &s->text);

    /* GPU: preprocess, network (kwvk_net_submit), top-k */
    VkCommandBuffer cmd;
    if (vw_cmd_begin(g, &cmd, err, sizeof err)) die("begin", err);
    vw_record_preprocess(g, cmd, s);
    if (vw_cmd_submit_wait(g, cmd, err, sizeof err)) die("preprocess", err);
    VkFence fence;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (g->vk.CreateFence(g->dev, &fi, NULL, &fence) != VK_SUCCESS) die("vkCreateFence", "");
    kwvk_submit_sync sync = {NULL, NULL, fence};
    if (kwvk_net_submit(s->net, 1, m->c, m->h, m->w, &sync) != KWVK_OK) die("kwvk_net_submit", kwvk_last_error());
    g->vk.WaitForFences(g->dev, 1, &fence, VK_TRUE, UINT64_MAX);
    g->vk.DestroyFence(g->dev, fence, NULL);
    if (vw_cmd_begin(g, &cmd, err, sizeof err)) die("begin", err);
    vw_record_topk(g, cmd, s);
    if (vw_cmd_submit_wait(g, cmd, err, sizeof err)) die("top-k", err);

    /* 1. the converted frame */
    uint32_t *frame = malloc((size_t)w * h * 4);
    if (vw_download(g, &s->frame, (VkDeviceSize)w * h * 4, frame, err, sizeof err)) die("download", err);
    long bad_px = 0;
    for (long i = 0; i < (long)w * h; i++) {
        uint32_t v = frame[i];
        const uint8_t *c = cpu_rgb + i * 3;
        if ((v & 255) != c[0] || ((v >> 8) & 255) != c[1] || ((v >> 16) & 255) != c[2] || (v >> 24) != 255) bad_px++;
    }
    CHECK(bad_px == 0, "%s (%s): %ld of %d converted pixels differ from the CPU conversion", image, yuyv ? "YUYV" : "RGB24",
          bad_px, w * h);

    /* 2. the network input */
    size_t n_in = (size_t)m->c * m->h * m->w;
    float *cpu_in = malloc(n_in * sizeof *cpu_in);
    const char *perr = NULL;
    if (tu_preprocess_rgb8(cpu_rgb, w, h, m->model, cpu_in, &perr)) die("tu_preprocess_rgb8", perr);
    const float *gpu_in = s->io.input_mapped;
    long diff = 0;
    for (size_t i = 0; i < n_in; i++) {
        uint32_t c = (uint32_t)(i / ((size_t)m->h * m->w));
        double d = fabs((double)gpu_in[i] - cpu_in[i]);
        double level = d * 255.0 * m->info.std[c];
        if (d > worst_abs) worst_abs = d;
        if (level > worst_level) worst_level = level;
        if (level > 1e-3) diff++;
        CHECK(level <= 1.001, "%s: input element %zu is %.6f on the GPU, %.6f on the CPU (%.3f levels)", image, i,
              gpu_in[i], cpu_in[i], level);
        if (level > 1.001) break;
    }
    differing += diff;
    compared += (long)n_in;
    /* float (GPU) vs double (CPU) accumulation may round a sum that sits on .5 the other
     * way: one level, on a small fraction of the elements */
    CHECK(diff * 20 <= (long)n_in, "%s: %ld of %zu input elements differ by one level", image, diff, n_in);

    /* 3. top-k of the output */
    uint32_t K = m->classes;
    const float *out = s->io.output_mapped;
    float *prob = malloc(K * sizeof *prob);
    tu_softmax(out, K, prob);
    uint32_t idx[3];
    tu_topk(prob, K, K < 3 ? K : 3, idx);
    const vw_topk_result *t = s->topk.map;
    CHECK(t->count == (K < 3 ? K : 3), "top-k count %u", t->count);
    for (uint32_t j = 0; j < t->count && j < 3; j++) {
        CHECK(t->idx[j] == idx[j], "%s: GPU top-%u is class %u, CPU says %u", image, j + 1, t->idx[j], idx[j]);
        CHECK(fabsf(t->prob[j] - prob[idx[j]]) < 1e-4f, "%s: GPU top-%u probability %.6f, CPU %.6f", image, j + 1,
              t->prob[j], prob[idx[j]]);
    }

    /* 4. what kwvk-classify would print: the CPU-preprocessed input through the same net */
    float *logits = malloc(K * sizeof *logits);
    if (kwvk_net_run(s->net, cpu_in, 1, m->c, m->h, m->w, logits, K) != KWVK_OK) die("kwvk_net_run", kwvk_last_error());
    tu_softmax(logits, K, prob);
    uint32_t top1;
    tu_topk(prob, K, 1, &top1);
    CHECK(top1 == t->idx[0], "%s (%s, %s): viewer top-1 %u, kwvk-classify top-1 %u", image, m->short_name,
          yuyv ? "YUYV" : "RGB24", t->idx[0], top1);
    printf("  %-12s %-5s %-40s %4dx%-4d top-1 %4u (%.2f%%)  input diff: %ld of %zu elements\n", m->short_name,
           yuyv ? "YUYV" : "RGB", strrchr(image, '/') + 1, w, h, t->idx[0], 100.0 * t->prob[0], diff, n_in);
    cases++;
    free(logits);
    free(prob);
    free(cpu_in);
    free(frame);
    free(raw);
    free(cpu_rgb);
    stbi_image_free(rgb);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_viewer_gpu FIXTURE_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    kwvk_context_desc cd = {.enable_validation = 1};
    kwvk_context *ctx;
    kwvk_result r = kwvk_context_create(&cd, &ctx);
    if (r == KWVK_ERROR_NO_DEVICE) {
        fprintf(stderr, "SKIP: no Vulkan device: %s\n", kwvk_last_error());
        return 77;
    }
    if (r != KWVK_OK) die("kwvk_context_create", kwvk_last_error());
    vw_gpu g;
    char err[512];
    if (vw_gpu_init(&g, ctx, err, sizeof err)) die("vw_gpu_init", err);

    static char grey[16][512], rgb[16][512];
    char sub[600];
    snprintf(sub, sizeof sub, "%s/grey", dir);
    int n_grey = list_pngs(sub, grey, 16);
    snprintf(sub, sizeof sub, "%s/rgb", dir);
    int n_rgb = list_pngs(sub, rgb, 16);
    CHECK(n_grey >= 2 && n_rgb >= 2, "fixture images missing in %s", dir);
    const char *models[] = {"grey28", "rgb_crop", "rgb_direct", "wide1000"};
    for (int mi = 0; mi < 4; mi++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s.kwvk", dir, models[mi]);
        vw_model m;
        vw_slot s;
        if (vw_model_load(&g, path, &m, err, sizeof err)) die("vw_model_load", err);
        if (vw_slot_init(&g, &s, &m, err, sizeof err)) die("vw_slot_init", err);
        for (int i = 0; i < n_grey + n_rgb; i++)
            for (int yuyv = 0; yuyv < 2; yuyv++) run_case(&g, &s, i < n_grey ? grey[i] : rgb[i - n_grey], yuyv);
        vw_slot_release(&g, &s);
        vw_model_release(&g, &m);
    }
    vw_gpu_destroy(&g);
    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_context_destroy(ctx);
    CHECK(vmsg == 0, "%u validation message(s)", vmsg);
    printf("GPU vs CPU preprocessing over %ld cases: max |diff| %.3g (%.3f 8-bit levels); %ld of %ld input elements "
           "differ at all\n",
           cases, worst_abs, worst_level, differing, compared);
    if (failures) {
        fprintf(stderr, "test_viewer_gpu: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_viewer_gpu: all passed\n");
    return 0;
}
