/* kwvk-bench - latency, throughput, per-layer GPU time, memory and start-up cost of kwvk
 * models, as JSON (--json) and a readable table.
 *
 *   kwvk-bench [--device D] [--size S] [--batches 1,8,32] [--runs R] [--json OUT] MODEL...
 *
 * For each model: start-up (model load, weight upload, pipeline creation — cold or warm
 * depending on the caches the caller provides), latency per batch size (median of R runs
 * after one warm-up), per-op GPU times from timestamps summed into attention / assembly /
 * convolution / other, and peak device memory. Every model runs on the same context in one
 * process, and the timed runs of all models are interleaved (round after round), so ratios
 * between models in one run are comparable even when the machine's load changes. */
#include "kwvk.h"
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOOL = "kwvk-bench";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    const char *path;
    kwvk_model_info info;
    char name[128]; /* info.name points into the model, which is freed after its run */
    double load_ms, create_ms, pipeline_ms;
    uint32_t n_batches;
    uint32_t batch[8];
    double median_ms[8], min_ms[8];
    double kind_ms[4], total_gpu_ms, gmac;
    uint64_t weight_bytes, activation_bytes, peak_bytes;
    uint32_t C, H, W;
    size_t out_per;
} result;

static void parse_batches(const char *s, result *r)
{
    r->n_batches = 0;
    while (*s && r->n_batches < 8) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 4096 || (*end && *end != ','))
            tu_usage_error(TOOL, "--batches expects comma-separated integers from 1 to 4096, got '%s'", s);
        r->batch[r->n_batches++] = (uint32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    if (*s) tu_usage_error(TOOL, "--batches takes at most 8 sizes");
    if (!r->n_batches) tu_usage_error(TOOL, "--batches expects comma-separated integers from 1 to 4096");
}

int main(int argc, char **argv)
{
    const char *device = NULL, *json = NULL, *batches = "1,8,32";
    int size = 0, runs = 10;
    const char **models = calloc((size_t)argc, sizeof *models);
    int n_models = 0;
    if (!models) tu_die(TOOL, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: kwvk-bench [--device D] [--size S] [--batches 1,8,32] [--runs R] [--json OUT] MODEL...\n"
                   "       kwvk-bench --version | --help\n"
                   "  --device D     device index or name substring (default: $KWVK_DEVICE, else the first\n"
                   "                 discrete GPU, then integrated GPU, then device 0)\n"
                   "  --size S       square input size (default: the model's own input size)\n"
                   "  --batches L    comma-separated batch sizes, up to 8, each 1..4096 (default 1,8,32)\n"
                   "  --runs R       timed runs per batch size, 1..10000 (default 10); the median is reported\n"
                   "  --json OUT     also write the results as JSON to OUT (default: none)\n");
            free(models);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            tu_print_version(TOOL);
            free(models);
            return 0;
        }
        if (!strcmp(a, "--device")) device = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--json")) json = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--batches")) batches = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--size")) size = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 1, 8192);
        else if (!strcmp(a, "--runs")) runs = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 1, 10000);
        else if (a[0] == '-') tu_usage_error(TOOL, "unknown option %s", a);
        else models[n_models++] = a;
    }
    {
        result probe;
        parse_batches(batches, &probe); /* a malformed list fails before any device work */
    }
    if (n_models == 0) tu_usage_error(TOOL, "no MODEL given");

    kwvk_context_desc cd = {.device = device};
    kwvk_context *ctx;
    double t_ctx = tu_now_ms();
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    t_ctx = tu_now_ms() - t_ctx;
    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    result *res = calloc((size_t)n_models, sizeof *res);
    if (!res) tu_die(TOOL, "out of memory");

    kwvk_model **mods = calloc((size_t)n_models, sizeof *mods);
    if (!mods) tu_die(TOOL, "out of memory");
    for (int m = 0; m < n_models; m++) {
        result *r = &res[m];
        r->path = models[m];
        parse_batches(batches, r);
        double t0 = tu_now_ms();
        tu_check(TOOL, kwvk_model_load_file(models[m], &mods[m]), models[m]);
        kwvk_model *model = mods[m];
        kwvk_model_get_info(model, &r->info);
        snprintf(r->name, sizeof r->name, "%s", r->info.name ? r->info.name : "");
        r->info.name = r->name;
        r->load_ms = tu_now_ms() - t0;
        uint32_t C = r->info.input_channels, H = r->info.input_height, W = r->info.input_width;
        if (r->info.crop) H = W = r->info.crop;
        if (size > 0) H = W = (uint32_t)size;
        r->C = C;
        r->H = H;
        r->W = W;
        /* start-up: weights, pipelines, one command buffer per batch size */
        t0 = tu_now_ms();
        kwvk_net *net;
        tu_check(TOOL, kwvk_net_create(ctx, model, NULL, &net), "creating the network");
        for (uint32_t b = 0; b < r->n_batches; b++)
            tu_check(TOOL, kwvk_net_prepare(net, r->batch[b], C, H, W), "preparing");
        r->create_ms = tu_now_ms() - t0;
        kwvk_net_stats st;
        kwvk_net_get_stats(net, &st);
        r->pipeline_ms = st.pipeline_ms;
        r->weight_bytes = st.weight_bytes;
        r->activation_bytes = st.activation_bytes;
        uint32_t out_chw[3];
        tu_check(TOOL, kwvk_net_output_shape(net, C, H, W, out_chw), "output shape");
        size_t out_per = (size_t)out_chw[0] * out_chw[1] * out_chw[2];
        r->out_per = out_per;
        kwvk_net_destroy(net);

        /* per-op GPU times at batch 1 with a profiling net */
        kwvk_net_desc pd = {.enable_profiling = 1};
        tu_check(TOOL, kwvk_net_create(ctx, model, &pd, &net), "creating the profiling network");
        size_t in1 = (size_t)C * H * W;
        float *x = calloc(in1, sizeof *x), *y = malloc(out_per * sizeof *y);
        if (!x || !y) tu_die(TOOL, "out of memory");
        tu_check(TOOL, kwvk_net_run(net, x, 1, C, H, W, y, out_per), "profiling run");
        tu_check(TOOL, kwvk_net_run(net, x, 1, C, H, W, y, out_per), "profiling run");
        /* device memory of this net at batch 1: weights + activation arena (incl. transient
         * assembled kernels) */
        kwvk_net_stats st1;
        kwvk_net_get_stats(net, &st1);
        r->peak_bytes = st1.weight_bytes + st1.activation_bytes;
        uint32_t nops = 0;
        if (kwvk_net_profile(net, NULL, &nops) == KWVK_OK) {
            kwvk_layer_time *lt = calloc(nops, sizeof *lt);
            if (lt && kwvk_net_profile(net, lt, &nops) == KWVK_OK)
                for (uint32_t i = 0; i < nops; i++) {
                    r->kind_ms[lt[i].kind] += lt[i].ms;
                    r->total_gpu_ms += lt[i].ms;
                    r->gmac += lt[i].gmac;
                }
            free(lt);
        }
        free(x);
        free(y);
        kwvk_net_destroy(net);
    }

    /* Latency, interleaved: per batch size, one timing net (no profiling barriers) per model,
     * then `runs` rounds that run every model once, so that a change of machine load during
     * the benchmark shifts all models alike and the ratios between them stay fair. */
    uint32_t nb = res[0].n_batches;
    kwvk_net **nets = calloc((size_t)n_models, sizeof *nets);
    float **xs = calloc((size_t)n_models, sizeof *xs), **ys = calloc((size_t)n_models, sizeof *ys);
    double *t = malloc((size_t)n_models * (size_t)runs * sizeof *t);
    if (!nets || !xs || !ys || !t) tu_die(TOOL, "out of memory");
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t n = res[0].batch[b];
        for (int m = 0; m < n_models; m++) {
            result *r = &res[m];
            size_t in_count = (size_t)n * r->C * r->H * r->W;
            tu_check(TOOL, kwvk_net_create(ctx, mods[m], NULL, &nets[m]), "creating the network");
            xs[m] = malloc(in_count * sizeof *xs[m]);
            ys[m] = malloc(r->out_per * n * sizeof *ys[m]);
            if (!xs[m] || !ys[m]) tu_die(TOOL, "out of memory");
            for (size_t i = 0; i < in_count; i++) xs[m][i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
            tu_check(TOOL, kwvk_net_run(nets[m], xs[m], n, r->C, r->H, r->W, ys[m], r->out_per * n), "warm-up run");
        }
        for (int k = 0; k < runs; k++)
            for (int m = 0; m < n_models; m++) {
                result *r = &res[m];
                double s0 = tu_now_ms();
                tu_check(TOOL, kwvk_net_run(nets[m], xs[m], n, r->C, r->H, r->W, ys[m], r->out_per * n), "run");
                t[(size_t)m * runs + k] = tu_now_ms() - s0;
            }
        for (int m = 0; m < n_models; m++) {
            double *tm = t + (size_t)m * runs;
            qsort(tm, (size_t)runs, sizeof *tm, cmp_double);
            res[m].median_ms[b] = tm[runs / 2];
            res[m].min_ms[b] = tm[0];
            kwvk_net_destroy(nets[m]);
            free(xs[m]);
            free(ys[m]);
        }
    }
    free(nets);
    free(xs);
    free(ys);
    free(t);
    for (int m = 0; m < n_models; m++) kwvk_model_destroy(mods[m]);
    free(mods);

    printf("device: %s (%s)\n", di.name, di.driver_info);
    printf("%-28s %9s %10s", "model", "params(M)", "start(ms)");
    for (uint32_t b = 0; b < res[0].n_batches; b++) printf("   b%-3u ms  img/s", res[0].batch[b]);
    printf("  attn/asm/conv/other GPU ms (b1)  mem b1(MiB)\n");
    for (int m = 0; m < n_models; m++) {
        result *r = &res[m];
        const char *base = strrchr(r->path, '/');
        printf("%-28.28s %9.2f %10.0f", base ? base + 1 : r->path, r->info.num_parameters / 1e6,
               r->load_ms + r->create_ms);
        for (uint32_t b = 0; b < r->n_batches; b++)
            printf(" %9.2f %6.1f", r->median_ms[b], r->batch[b] * 1000.0 / r->median_ms[b]);
        printf("  %6.2f/%6.2f/%6.2f/%6.2f   %8.1f\n", r->kind_ms[0], r->kind_ms[1], r->kind_ms[2], r->kind_ms[3],
               r->peak_bytes / 1048576.0);
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) tu_die(TOOL, "cannot write %s", json);
        fprintf(f, "{\n  \"device\": ");
        tu_json_str(f, di.name);
        fprintf(f, ",\n  \"driver\": ");
        tu_json_str(f, di.driver_info);
        fprintf(f, ",\n  \"context_ms\": %.3f,\n  \"models\": [\n", t_ctx);
        for (int m = 0; m < n_models; m++) {
            result *r = &res[m];
            fprintf(f, "    {\"path\": ");
            tu_json_str(f, r->path);
            fprintf(f, ", \"name\": ");
            tu_json_str(f, r->name);
            fprintf(f,
                    ", \"params\": %llu, \"load_ms\": %.3f, \"create_ms\": %.3f, "
                    "\"pipeline_ms\": %.3f, \"weight_bytes\": %llu, \"activation_bytes\": %llu, \"peak_bytes\": %llu, "
                    "\"gmac_b1\": %.6f, \"gpu_ms_b1\": {\"attention\": %.4f, \"assembly\": %.4f, \"convolution\": %.4f, "
                    "\"other\": %.4f, \"total\": %.4f}, \"batches\": [",
                    (unsigned long long)r->info.num_parameters, r->load_ms, r->create_ms,
                    r->pipeline_ms, (unsigned long long)r->weight_bytes, (unsigned long long)r->activation_bytes,
                    (unsigned long long)r->peak_bytes, r->gmac, r->kind_ms[0], r->kind_ms[1], r->kind_ms[2],
                    r->kind_ms[3], r->total_gpu_ms);
            for (uint32_t b = 0; b < r->n_batches; b++)
                fprintf(f, "%s{\"batch\": %u, \"median_ms\": %.4f, \"min_ms\": %.4f, \"images_per_s\": %.3f}",
                        b ? ", " : "", r->batch[b], r->median_ms[b], r->min_ms[b],
                        r->batch[b] * 1000.0 / r->median_ms[b]);
            fprintf(f, "]}%s\n", m + 1 < n_models ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        fclose(f);
    }
    kwvk_context_destroy(ctx);
    free(res);
    free(models);
    return 0;
}
