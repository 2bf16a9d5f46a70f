/* kwvk-run - run a kwvk model on raw float32 NCHW input, write raw float32 output.
 *
 *   kwvk-run --model MODEL --input IN.f32 --shape N,C,H,W --output OUT.f32
 *            [--device NAME|INDEX] [--repeat K] [--profile] [--validation]
 *   kwvk-run --list-devices
 */
#include "kwvk.h"
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOOL = "kwvk-run";

static void usage(FILE *f)
{
    fprintf(f, "usage: kwvk-run --model MODEL --input IN.f32 --shape N,C,H,W --output OUT.f32\n"
               "                [--device NAME|INDEX] [--repeat K] [--profile] [--validation]\n"
               "       kwvk-run --list-devices\n"
               "Input: raw little-endian float32 NCHW. Output: raw float32 [N, outputs].\n");
}

static const char *type_name(int t)
{
    switch (t) {
    case 1: return "integrated GPU";
    case 2: return "discrete GPU";
    case 3: return "virtual GPU";
    case 4: return "CPU";
    default: return "other";
    }
}

static int list_devices(void)
{
    uint32_t n = 0;
    kwvk_result r = kwvk_enumerate_devices(NULL, &n);
    if (r != KWVK_OK) tu_die(TOOL, "%s", kwvk_last_error());
    kwvk_device_info *infos = calloc(n ? n : 1, sizeof *infos);
    if (!infos) tu_die(TOOL, "out of memory");
    tu_check(TOOL, kwvk_enumerate_devices(infos, &n), "listing devices");
    for (uint32_t i = 0; i < n; i++) {
        const kwvk_device_info *d = &infos[i];
        printf("device %u: %s\n", i, d->name);
        printf("  type               %s, vendor 0x%04x, device 0x%04x\n", type_name(d->device_type), d->vendor_id,
               d->device_id);
        printf("  Vulkan             %u.%u.%u, driver %s %s\n", d->api_version >> 22, (d->api_version >> 12) & 0x3ff,
               d->api_version & 0xfff, d->driver_name[0] ? d->driver_name : "?", d->driver_info);
        printf("  memory             %.1f GiB device-local%s\n", d->device_local_bytes / 1073741824.0,
               d->has_host_visible_device_local ? ", host-visible device-local available" : "");
        printf("  subgroup           size %u, arithmetic %s\n", d->subgroup_size,
               d->has_subgroup_arithmetic ? "yes" : "no");
        printf("  limits             storage range %llu B, texel elements %llu, workgroup %u invocations, "
               "groups %u x %u x %u\n",
               (unsigned long long)d->max_storage_buffer_range, (unsigned long long)d->max_texel_buffer_elements,
               d->max_compute_workgroup_invocations, d->max_compute_workgroup_count[0],
               d->max_compute_workgroup_count[1], d->max_compute_workgroup_count[2]);
        printf("  16-bit storage     %s\n", d->has_16bit_storage ? "yes" : "no");
        printf("  timestamps         %s\n", d->has_timestamps ? "yes" : "no");
        printf("  kwvk paths         reductions: %s; memory: %s; profiling: %s; buffers above %llu B split\n",
               d->has_subgroup_arithmetic ? "subgroupAdd" : "shared-memory fallback",
               d->has_host_visible_device_local ? "direct host writes" : "staging copies",
               d->has_timestamps ? "timestamps" : "unavailable", (unsigned long long)d->max_storage_buffer_range);
    }
    free(infos);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *in_path = NULL, *out_path = NULL, *shape_s = NULL, *device = NULL;
    int repeat = 1, profile = 0, validation = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--list-devices")) return list_devices();
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!strcmp(a, "--validation")) { validation = 1; continue; }
        if (!next) tu_die(TOOL, "%s needs a value (see --help)", a);
        if (!strcmp(a, "--model")) model_path = next;
        else if (!strcmp(a, "--input")) in_path = next;
        else if (!strcmp(a, "--output")) out_path = next;
        else if (!strcmp(a, "--shape")) shape_s = next;
        else if (!strcmp(a, "--device")) device = next;
        else if (!strcmp(a, "--repeat")) {
            repeat = atoi(next);
            if (repeat < 1 || repeat > 1000000) tu_die(TOOL, "--repeat must be 1..1000000");
        } else tu_die(TOOL, "unknown option %s (see --help)", a);
        i++;
    }
    if (!model_path || !in_path || !shape_s || !out_path) {
        usage(stderr);
        return 2;
    }
    uint32_t shape[4];
    if (tu_parse_shape(shape_s, shape) != 0) tu_die(TOOL, "--shape must be N,C,H,W with positive integers, got %s", shape_s);
    uint64_t in_count = (uint64_t)shape[0] * shape[1] * shape[2] * shape[3];
    size_t in_bytes = 0;
    float *input = tu_read_file(in_path, &in_bytes);
    if (!input) tu_die(TOOL, "cannot read %s", in_path);
    if (in_bytes != in_count * 4)
        tu_die(TOOL, "%s holds %zu bytes, but shape %s needs %llu float32 values (%llu bytes)", in_path, in_bytes,
               shape_s, (unsigned long long)in_count, (unsigned long long)in_count * 4);

    double t0 = tu_now_ms();
    kwvk_model *model;
    tu_check(TOOL, kwvk_model_load_file(model_path, &model), "loading the model");
    kwvk_context_desc cd = {.device = device, .enable_validation = validation};
    kwvk_context *ctx;
    tu_check(TOOL, kwvk_context_create(&cd, &ctx), "creating the Vulkan context");
    kwvk_net_desc nd = {.enable_profiling = profile};
    kwvk_net *net;
    tu_check(TOOL, kwvk_net_create(ctx, model, &nd, &net), "creating the network");
    uint32_t oshape[3];
    tu_check(TOOL, kwvk_net_output_shape(net, shape[1], shape[2], shape[3], oshape), "checking the input shape");
    size_t out_count = (size_t)shape[0] * oshape[0] * oshape[1] * oshape[2];
    float *output = malloc(out_count * sizeof *output);
    if (!output) tu_die(TOOL, "out of memory");
    tu_check(TOOL, kwvk_net_prepare(net, shape[0], shape[1], shape[2], shape[3]), "preparing the network");
    double t_ready = tu_now_ms();
    double first = 0, best = 1e30, total = 0;
    for (int k = 0; k < repeat; k++) {
        double s = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, input, shape[0], shape[1], shape[2], shape[3], output, out_count), "running");
        double e = tu_now_ms() - s;
        if (k == 0) first = e;
        if (e < best) best = e;
        total += e;
    }
    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(output, sizeof *output, out_count, f) != out_count || fclose(f) != 0)
        tu_die(TOOL, "cannot write %s", out_path);

    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    kwvk_net_stats st;
    kwvk_net_get_stats(net, &st);
    fprintf(stderr, "kwvk-run: %s on %s: output [%u, %u, %u, %u]\n", kwvk_model_label(model, 0) ? model_path : "",
            di.name, shape[0], oshape[0], oshape[1], oshape[2]);
    fprintf(stderr, "kwvk-run: start %.1f ms (pipelines %.1f ms, recording %.1f ms); run first %.2f ms, best %.2f ms, "
                    "mean %.2f ms over %d\n",
            t_ready - t0, st.pipeline_ms, st.record_ms, first, best, total / repeat, repeat);
    fprintf(stderr, "kwvk-run: device memory: weights %.2f MiB, activations %.2f MiB, peak %.2f MiB\n",
            st.weight_bytes / 1048576.0, st.activation_bytes / 1048576.0, st.peak_device_bytes / 1048576.0);
    if (profile) {
        uint32_t n = 0;
        kwvk_result r = kwvk_net_profile(net, NULL, &n);
        if (r != KWVK_OK) {
            fprintf(stderr, "kwvk-run: no profile: %s\n", kwvk_last_error());
        } else {
            kwvk_layer_time *t = calloc(n, sizeof *t);
            if (!t) tu_die(TOOL, "out of memory");
            tu_check(TOOL, kwvk_net_profile(net, t, &n), "reading the profile");
            double sum[4] = {0}, all = 0;
            fprintf(stderr, "%5s %-16s %10s %10s\n", "op", "type", "ms", "GMAC");
            for (uint32_t i = 0; i < n; i++) {
                fprintf(stderr, "%5u %-16s %10.3f %10.4f\n", t[i].op_index, kwvk_op_name(t[i].op_type), t[i].ms,
                        t[i].gmac);
                sum[t[i].kind] += t[i].ms;
                all += t[i].ms;
            }
            fprintf(stderr, "total %.3f ms: attention %.3f, assembly %.3f, convolution %.3f, other %.3f\n", all,
                    sum[0], sum[1], sum[2], sum[3]);
            free(t);
        }
    }
    uint32_t vmsg = kwvk_context_validation_messages(ctx);
    kwvk_net_destroy(net);
    kwvk_context_destroy(ctx);
    kwvk_model_destroy(model);
    free(input);
    free(output);
    if (vmsg) tu_die(TOOL, "%u validation-layer message(s)", vmsg);
    return 0;
}
