/* test_viewer_gpu - the viewer's GPU and inference path, headless, against the CPU path
 * kwvk-classify takes, on lavapipe with the validation layer (any validation message fails):
 *   - display conversion: the RGBA frame the GPU makes from RGB24 and YUYV (padded lines,
 *     odd widths) equals the CPU conversion exactly;
 *   - inference: the viewer hands each frame to the library as it came from the source
 *     (vw_frame_image, two jobs in flight on one net, a third refused, results polled in
 *     start order); its logits equal kwvk_net_run_images on the same frame, and stay close
 *     to kwvk_net_run on kwvk_preprocess_images of an independently made RGB8 copy (the
 *     CPU reference), with the same top-1 class (what kwvk-classify prints), for grey 28x28
 *     (no resize), RGB resize + crop, straight resize with aspect change, 256/224 with 1000
 *     classes, and a bicubic model;
 *   - bicubic: the bicubic model's logits are closer to the bicubic CPU reference than to
 *     the bilinear one (its bilinear twin with the same weights), which differs clearly;
 *   - top-k: the viewer's softmax top-3 (kwvk_top_k) vs tu_softmax + tu_topk of its logits.
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
#include <time.h>

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
static double worst_gpu, worst_cpu;     /* largest logit difference to run_images / the CPU reference */
static double worst_poll_ms;            /* longest vw_infer_poll */
static double bic_near, bic_far = 1e30; /* bicubic model: largest distance to the bicubic
                                         * reference, smallest to the bilinear one */
static long cases;

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

static double max_diff(const float *a, const float *b, uint32_t n)
{
    double m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    return m;
}

static double max_abs(const float *a, uint32_t n)
{
    double m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
    return m;
}

/* kwvk_net_run on the CPU reference preprocessing of packed RGB8 pixels. */
static void cpu_logits(kwvk_net *net, const vw_model *m, const uint8_t *rgb, int w, int h, float *logits)
{
    size_t n_in = (size_t)m->c * m->h * m->w;
    float *in = malloc(n_in * sizeof *in);
    kwvk_image im = {KWVK_PIXEL_RGB8, (uint32_t)w, (uint32_t)h, 0, rgb, NULL, 0, 0, 0};
    if (kwvk_preprocess_images(m->model, &im, 1, in, n_in) != KWVK_OK) die("kwvk_preprocess_images", kwvk_last_error());
    if (kwvk_net_run(net, in, 1, m->c, m->h, m->w, logits, m->classes) != KWVK_OK) die("kwvk_net_run", kwvk_last_error());
    free(in);
}

/* The conversion for display: upload, convert on the GPU, read back. */
static void check_convert(vw_gpu *g, const vw_model *m, const vw_frame *f, const uint8_t *cpu_rgb, const char *image)
{
    char err[512];
    vw_slot s;
    vw_buf text;
    VkDescriptorSet set;
    if (vw_slot_init(g, &s, m, err, sizeof err) || vw_slot_upload(g, &s, f, err, sizeof err) ||
        vw_buf_create(g, 256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1, &text, err, sizeof err) ||
        vw_set_alloc(g, &set, err, sizeof err))
        die("slot", err);
    vw_write_set(g, set, &s, &text);
    VkCommandBuffer cmd;
    if (vw_cmd_begin(g, &cmd, err, sizeof err)) die("begin", err);
    vw_record_convert(g, cmd, set, &s);
    if (vw_cmd_submit_wait(g, cmd, err, sizeof err)) die("convert", err);
    int w = f->w, h = f->h;
    uint32_t *frame = malloc((size_t)w * h * 4);
    if (vw_download(g, &s.frame, (VkDeviceSize)w * h * 4, frame, err, sizeof err)) die("download", err);
    long bad_px = 0;
    for (long i = 0; i < (long)w * h; i++) {
        uint32_t v = frame[i];
        const uint8_t *c = cpu_rgb + i * 3;
        if ((v & 255) != c[0] || ((v >> 8) & 255) != c[1] || ((v >> 16) & 255) != c[2] || (v >> 24) != 255) bad_px++;
    }
    CHECK(bad_px == 0, "%s (%s): %ld of %d converted pixels differ from the CPU conversion", image,
          f->fmt == VW_PIX_YUYV ? "YUYV" : "RGB24", bad_px, w * h);
    free(frame);
    g->vk.FreeDescriptorSets(g->dev, g->desc_pool, 1, &set);
    vw_buf_destroy(g, &text);
    vw_slot_release(g, &s);
}

/* Poll the oldest job until it is done (as the frame loop does, never blocking). */
static void poll_done(vw_infer *in, vw_topk_result *res, int *slot)
{
    char err[512];
    double ms, t0 = tu_now_ms();
    for (;;) {
        double p0 = tu_now_ms();
        int r = vw_infer_poll(in, res, slot, &ms, err, sizeof err);
        double p = tu_now_ms() - p0;
        if (p > worst_poll_ms) worst_poll_ms = p;
        if (r < 0) die("vw_infer_poll", err);
        if (r == 1) return;
        if (tu_now_ms() - t0 > 120000) die("vw_infer_poll", "no result within 120 s");
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* One image through the viewer's path as RGB24 and as YUYV (two jobs in flight), each
 * compared with the library's blocking image path and the CPU reference. `bilinear`: the
 * bilinear twin of a bicubic model (NULL otherwise). */
static void run_case(vw_gpu *g, vw_infer *in, const char *image, int check_conv, vw_infer *bilinear)
{
    const vw_model *m = in->model;
    const uint32_t K = m->classes;
    char err[512];
    int w, h, comp;
    uint8_t *rgb = stbi_load(image, &w, &h, &comp, 3);
    if (!rgb) die(image, stbi_failure_reason());
    /* the frames as a source would deliver them, with padded lines; the CPU's RGB of each */
    vw_frame f[2];
    uint8_t *raw[2], *cpu_rgb[2];
    for (int yuyv = 0; yuyv < 2; yuyv++) {
        size_t stride = yuyv ? (size_t)((w + 1) / 2) * 4 + 12 : (size_t)w * 3 + 5;
        raw[yuyv] = calloc(stride, (size_t)h);
        cpu_rgb[yuyv] = malloc((size_t)w * h * 3);
        if (yuyv) {
            vw_rgb24_to_yuyv(rgb, w, h, stride, raw[1]);
            vw_yuyv_to_rgb24(raw[1], w, h, stride, cpu_rgb[1]);
        } else {
            for (int y = 0; y < h; y++) memcpy(raw[0] + (size_t)y * stride, rgb + (size_t)y * w * 3, (size_t)w * 3);
            memcpy(cpu_rgb[0], rgb, (size_t)w * h * 3);
        }
        f[yuyv] = (vw_frame){yuyv ? VW_PIX_YUYV : VW_PIX_RGB24, w, h, stride, raw[yuyv], 1, "test"};
        if (check_conv) check_convert(g, m, &f[yuyv], cpu_rgb[yuyv], image);
    }

    /* the viewer's inference: two jobs in flight, a third refused, results in start order */
    CHECK(vw_infer_start(in, &f[0], 10, err, sizeof err) == 0, "start RGB24: %s", err);
    CHECK(vw_infer_start(in, &f[1], 11, err, sizeof err) == 0, "start YUYV: %s", err);
    CHECK(vw_infer_start(in, &f[0], 12, err, sizeof err) == 1, "a third job was not refused");
    float *logits[2], *ref = malloc(K * sizeof(float)), *bil = malloc(K * sizeof(float));
    float *prob = malloc(K * sizeof(float));
    for (int yuyv = 0; yuyv < 2; yuyv++) {
        const char *fmt = yuyv ? "YUYV" : "RGB24";
        vw_topk_result res;
        int slot = -1;
        poll_done(in, &res, &slot);
        CHECK(slot == 10 + yuyv, "%s: the %s result came back for slot %d", image, fmt, slot);
        logits[yuyv] = malloc(K * sizeof(float));
        memcpy(logits[yuyv], in->logits, K * sizeof(float));
        double scale = max_abs(logits[yuyv], K) + 1.0;

        /* the library's blocking path on the same frame: the same GPU preprocessing */
        kwvk_image im = vw_frame_image(&f[yuyv]);
        if (kwvk_net_run_images(in->net, &im, 1, ref, K) != KWVK_OK) die("kwvk_net_run_images", kwvk_last_error());
        double dg = max_diff(logits[yuyv], ref, K);
        if (dg > worst_gpu) worst_gpu = dg;
        CHECK(dg <= 1e-5 * scale, "%s (%s, %s): logits differ from kwvk_net_run_images by %.3g", image, m->short_name,
              fmt, dg);

        /* the CPU reference on an RGB8 copy made without the viewer */
        cpu_logits(in->net, m, cpu_rgb[yuyv], w, h, ref);
        double dc = max_diff(logits[yuyv], ref, K);
        if (dc > worst_cpu) worst_cpu = dc;
        CHECK(dc <= 0.05 * scale, "%s (%s, %s): logits differ from the CPU reference by %.3g (scale %.3g)", image,
              m->short_name, fmt, dc, scale);
        tu_softmax(ref, K, prob);
        uint32_t cpu_top1;
        tu_topk(prob, K, 1, &cpu_top1);
        CHECK(cpu_top1 == res.idx[0], "%s (%s, %s): viewer top-1 %u, kwvk-classify top-1 %u", image, m->short_name, fmt,
              res.idx[0], cpu_top1);
        if (bilinear) { /* closer to the bicubic reference than to the bilinear one */
            cpu_logits(bilinear->net, bilinear->model, cpu_rgb[yuyv], w, h, bil);
            double db = max_diff(logits[yuyv], bil, K);
            CHECK(db > 2 * dc && db > 1e-3 * scale, "%s (%s): %.3g from the bicubic reference, %.3g from the bilinear one",
                  image, fmt, dc, db);
            if (dc > bic_near) bic_near = dc;
            if (db < bic_far) bic_far = db;
        }

        /* top-k of the viewer's logits */
        uint32_t kk = K < VW_TOPK ? K : VW_TOPK, idx[VW_TOPK];
        tu_softmax(logits[yuyv], K, prob);
        tu_topk(prob, K, kk, idx);
        CHECK(res.count == kk, "top-k count %u, want %u", res.count, kk);
        for (uint32_t j = 0; j < res.count && j < kk; j++) {
            CHECK(res.idx[j] == idx[j], "%s: viewer top-%u is class %u, CPU says %u", image, j + 1, res.idx[j], idx[j]);
            CHECK(fabsf(res.prob[j] - prob[idx[j]]) < 1e-5f, "%s: viewer top-%u probability %.6f, CPU %.6f", image,
                  j + 1, res.prob[j], prob[idx[j]]);
        }
        printf("  %-12s %-5s %-28s %4dx%-4d top-1 %4u (%6.2f%%)  |logits - CPU ref| %.2g\n", m->short_name, fmt,
               strrchr(image, '/') + 1, w, h, res.idx[0], 100.0 * res.prob[0], dc);
        cases++;
    }
    for (int i = 0; i < 2; i++) {
        free(logits[i]);
        free(raw[i]);
        free(cpu_rgb[i]);
    }
    free(ref);
    free(bil);
    free(prob);
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
    const char *models[] = {"grey28", "rgb_crop", "rgb_direct", "wide1000", "rgb_bicubic"};
    vw_model bil_model;
    vw_infer bil;
    char path[600];
    snprintf(path, sizeof path, "%s/rgb_crop.kwvk", dir);
    if (vw_model_load(&g, path, &bil_model, err, sizeof err) || vw_infer_init(&bil, ctx, &bil_model, err, sizeof err))
        die("rgb_crop", err);
    for (int mi = 0; mi < 5; mi++) {
        snprintf(path, sizeof path, "%s/%s.kwvk", dir, models[mi]);
        vw_model m;
        vw_infer in;
        if (vw_model_load(&g, path, &m, err, sizeof err)) die("vw_model_load", err);
        if (vw_infer_init(&in, ctx, &m, err, sizeof err)) die("vw_infer_init", err);
        int bicubic = m.info.interpolation == KWVK_INTERP_BICUBIC;
        CHECK(bicubic == (mi == 4), "%s: interpolation %u", models[mi], m.info.interpolation);
        for (int i = 0; i < n_grey + n_rgb; i++)
            run_case(&g, &in, i < n_grey ? grey[i] : rgb[i - n_grey], mi == 0, bicubic ? &bil : NULL);
        vw_infer_release(&in);
        vw_model_release(&g, &m);
    }
    vw_infer_release(&bil);
    vw_model_release(&g, &bil_model);
    vw_gpu_destroy(&g);
    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_context_destroy(ctx);
    CHECK(vmsg == 0, "%u validation message(s)", vmsg);
    printf("viewer inference over %ld cases: max |logits - kwvk_net_run_images| %.3g, max |logits - CPU reference| "
           "%.3g; bicubic model: max |logits - bicubic reference| %.3g, min |logits - bilinear reference| %.3g; "
           "longest poll %.2f ms\n",
           cases, worst_gpu, worst_cpu, bic_near, bic_far, worst_poll_ms);
    if (failures) {
        fprintf(stderr, "test_viewer_gpu: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_viewer_gpu: all passed\n");
    return 0;
}
