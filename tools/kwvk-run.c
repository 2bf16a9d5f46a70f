/* kwvk-run - run a kwvk model on raw float32 NCHW input, write raw float32 output.
 *
 *   kwvk-run --model MODEL --input IN.f32 --shape N,C,H,W --output OUT.f32
 *            [--device NAME|INDEX] [--repeat K] [--profile] [--validation]
 *   (K runs; the first is reported alone, best and mean are over the other K - 1)
 *   kwvk-run --list-devices
 *   kwvk-run --info --model MODEL   (architecture, input, preprocessing, classes, op counts)
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
               "                [--device NAME|INDEX] [--repeat K] [--profile] [--validation] [--fp16]\n"
               "       kwvk-run --info --model MODEL\n"
               "       kwvk-run --list-devices | --version | --help\n"
               "Input: raw little-endian float32 NCHW. Output: raw float32 [N, outputs].\n"
               "  --shape N,C,H,W  exactly four positive integers\n"
               "  --device D       device index or name substring (default: $KWVK_DEVICE, else the\n"
               "                   first discrete GPU, then integrated GPU, then device 0)\n"
               "  --repeat K       runs (default 1); the first is reported alone, best and mean over\n"
               "                   the other K - 1 (the first run on a device compiles GPU programs)\n"
               "  --profile        per-op GPU times (default off)\n"
               "  --validation     Vulkan validation layer; any message fails the run (default off)\n"
               "  --fp16           static convolution weights stored as fp16, fp32 arithmetic\n"
               "                   (default off)\n"
               "  --info           print the model's metadata and exit\n"
               "Timing and memory go to stderr.\n");
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

/* ---------------------------------------------------------------------------------------- */
/* Device report (--list-devices)                                                           */
/* ---------------------------------------------------------------------------------------- */

/* Is fallback `what` forced by KWVK_FORCE_FALLBACKS ("1"/"all" or a comma list)? The same
 * rule as fallback_forced() in engine/src/context.c. */
static int report_forced(const char *what)
{
    const char *v = getenv("KWVK_FORCE_FALLBACKS");
    if (!v || !v[0] || !strcmp(v, "0")) return 0;
    if (!strcmp(v, "1") || !strcmp(v, "all")) return 1;
    size_t n = strlen(what);
    for (const char *p = v; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, what, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* The largest binding kwvk makes on a device: maxStorageBufferRange, lowered by
 * KWVK_MAX_STORAGE_RANGE (as create_device() in engine/src/context.c does). */
static uint64_t report_storage_limit(const kwvk_device_info *d)
{
    uint64_t lim = d->max_storage_buffer_range;
    const char *msr = getenv("KWVK_MAX_STORAGE_RANGE");
    if (msr && msr[0]) {
        unsigned long long v = strtoull(msr, NULL, 10);
        if (v >= 256 && v < lim) lim = v & ~(uint64_t)255;
    }
    return lim;
}

/* The path kwvk takes for an optional feature: `used` when the device has it and
 * KWVK_FORCE_FALLBACKS does not name it, else `fallback` with the reason. */
static const char *report_path(int has, const char *name, const char *used, const char *fallback, const char *missing)
{
    static char buf[256];
    if (has && !report_forced(name)) return used;
    snprintf(buf, sizeof buf, "%s (fallback: %s)", fallback, has ? "forced by KWVK_FORCE_FALLBACKS" : missing);
    return buf;
}

/* The kernel family kwvk picks on a device (kw_ctx.gpu_kernels, as kwvk_context_create decides
 * it): GPU-shaped (shared-memory tiles) unless the device is a CPU, KWVK_FORCE_FALLBACKS names
 * "gpu", or KWVK_GPU_KERNELS=0 / 1 says otherwise. */
static const char *report_kernels(const kwvk_device_info *d)
{
    static char buf[256];
    const char *env = getenv("KWVK_GPU_KERNELS");
    const int forced = env && (!strcmp(env, "0") || !strcmp(env, "1"));
    const int cpu = d->device_type == 4; /* VK_PHYSICAL_DEVICE_TYPE_CPU */
    const int on = forced ? !strcmp(env, "1") : !cpu && !report_forced("gpu");
    snprintf(buf, sizeof buf, "%s (%s)",
             on ? "GPU kernels: shared-memory tiles (Winograd GEMM: conv_wino_gemm_sm)"
                : "CPU-device kernels: register tiles, texel buffers (Winograd GEMM: conv_wino_gemm)",
             forced ? (on ? "forced by KWVK_GPU_KERNELS=1" : "forced by KWVK_GPU_KERNELS=0")
             : cpu  ? "the device is a CPU"
             : on   ? "the device is not a CPU; KWVK_GPU_KERNELS=0 turns them off"
                    : "forced by KWVK_FORCE_FALLBACKS");
    return buf;
}

/* Two identical GPUs (same ids, name and driver) cannot be told apart here: the first one is
 * marked as the default choice. */
static int same_device(const kwvk_device_info *a, const kwvk_device_info *b)
{
    return a->vendor_id == b->vendor_id && a->device_id == b->device_id && !strcmp(a->name, b->name) &&
           a->driver_version == b->driver_version;
}

/* Print every Vulkan device with the features and limits kwvk uses and the code paths kwvk
 * takes on it. Each device is also opened with kwvk_context_create (the engine's own device
 * checks), and the default choice is found by opening a context without naming a device. */
static int list_devices(void)
{
    uint32_t n = 0;
    kwvk_result r = kwvk_enumerate_devices(NULL, &n);
    if (r == KWVK_ERROR_NO_DEVICE) {
        printf("no Vulkan device: %s\n", kwvk_last_error());
        return 1;
    }
    if (r != KWVK_OK) tu_die(TOOL, "listing devices: %s", kwvk_last_error());
    kwvk_device_info *infos = calloc(n ? n : 1, sizeof *infos);
    if (!infos) tu_die(TOOL, "out of memory");
    tu_check(TOOL, kwvk_enumerate_devices(infos, &n), "listing devices");

    const char *forced = getenv("KWVK_FORCE_FALLBACKS");
    const char *want = getenv("KWVK_DEVICE");
    const char *gk = getenv("KWVK_GPU_KERNELS");
    printf("kwvk %d.%d.%d: %u Vulkan device(s); KWVK_FORCE_FALLBACKS=%s; KWVK_DEVICE=%s; KWVK_GPU_KERNELS=%s\n",
           KWVK_VERSION_MAJOR, KWVK_VERSION_MINOR, KWVK_VERSION_PATCH, n, forced && forced[0] ? forced : "(unset)",
           want && want[0] ? want : "(unset)", gk && gk[0] ? gk : "(unset)");

    /* the device kwvk_context_create picks when no device is named */
    int chosen = -1;
    char choose_err[512] = "";
    kwvk_context_desc dd = {.cache_dir = ""};
    kwvk_context *ctx = NULL;
    r = kwvk_context_create(&dd, &ctx);
    if (r == KWVK_OK) {
        kwvk_device_info ci;
        kwvk_context_device_info(ctx, &ci);
        for (uint32_t i = 0; i < n && chosen < 0; i++)
            if (same_device(&ci, &infos[i])) chosen = (int)i;
        kwvk_context_destroy(ctx);
    } else {
        snprintf(choose_err, sizeof choose_err, "%s: %s", kwvk_result_name(r), kwvk_last_error());
    }

    for (uint32_t i = 0; i < n; i++) {
        const kwvk_device_info *d = &infos[i];
        printf("\ndevice %u: %s%s\n", i, d->name, (int)i == chosen ? "   [default choice]" : "");
        printf("  type               %s, vendor 0x%04x, device 0x%04x\n", type_name(d->device_type), d->vendor_id,
               d->device_id);
        printf("  Vulkan             %u.%u.%u; driver %s%s%s; driver version 0x%08x\n", d->api_version >> 22,
               (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff, d->driver_name[0] ? d->driver_name : "?",
               d->driver_info[0] ? ": " : "", d->driver_info, d->driver_version);
        printf("  memory             %.1f GiB device-local; host-visible device-local memory: %s\n",
               d->device_local_bytes / 1073741824.0, d->has_host_visible_device_local ? "yes" : "no");
        printf("  subgroups          size %u; arithmetic in compute shaders: %s\n", d->subgroup_size,
               d->has_subgroup_arithmetic ? "yes" : "no");
        printf("  timestamps         %s (period %.3g ns)\n", d->has_timestamps ? "yes" : "no",
               (double)d->timestamp_period_ns);
        printf("  limits             storage buffer range %llu B; workgroup %u invocations; groups %u x %u x %u\n",
               (unsigned long long)d->max_storage_buffer_range, d->max_compute_workgroup_invocations,
               d->max_compute_workgroup_count[0], d->max_compute_workgroup_count[1], d->max_compute_workgroup_count[2]);
        printf("  texel buffers      R32 / RGBA32 float uniform texel buffers: %s; %llu elements\n",
               d->has_texel_buffers ? "yes" : "no", (unsigned long long)d->max_texel_buffer_elements);
        printf("  16-bit storage     %s; storage buffers per stage: %u\n", d->has_16bit_storage ? "yes" : "no",
               d->max_storage_buffers_per_stage);
        printf("  not used by kwvk   push descriptors, fp16 arithmetic (fp16 weights are widened to fp32)\n");

        /* open it as kwvk would: Vulkan 1.1, a compute queue, device creation */
        char name[16];
        snprintf(name, sizeof name, "%u", i);
        kwvk_context_desc cd = {.device = name, .cache_dir = ""};
        r = kwvk_context_create(&cd, &ctx);
        if (r != KWVK_OK) {
            printf("  kwvk               CANNOT USE THIS DEVICE: %s: %s\n", kwvk_result_name(r), kwvk_last_error());
            continue;
        }
        kwvk_context_destroy(ctx);
        const uint64_t lim = report_storage_limit(d);
        printf("  kwvk paths         (a context opens on this device)\n");
        printf("    kernels          %s\n", report_kernels(d));
        printf("    reductions       %s\n",
               report_path(d->has_subgroup_arithmetic, "subgroup",
                           "subgroupAdd / subgroupMax, one shared slot per subgroup",
                           "shared-memory tree, *_nosg shaders", "no subgroup arithmetic"));
        printf("    weight upload    %s\n",
               report_path(d->has_host_visible_device_local, "host_visible",
                           "written in place (host-visible device-local memory)", "staging buffer + copy",
                           "no host-visible device-local memory"));
        printf("    KW assembly      %s\n",
               report_path(d->has_texel_buffers, "texel", "alpha and warehouse read through texel buffers",
                           "storage-buffer loads", "no float uniform texel buffers"));
        printf("    fp16 weights     %s\n",
               report_path(d->has_16bit_storage, "fp16", "available (kwvk_net_desc.fp16_weights, --fp16)",
                           "fp32 weights even when asked",
                           "no usable storageBuffer16BitAccess (lavapipe outside x86 aborts on fp16 loads)"));
        printf("    Winograd 3x3     static and per-sample weights, C and O >= 32 (KWVK_WINOGRAD=0 turns it off)\n");
        printf("    KW attention     %s\n",
               report_path(d->max_storage_buffers_per_stage >= 8, "fused",
                           "one dispatch per layer (kw_attention)", "pool, fc, mix: 3-4 dispatches per layer",
                           "fewer than 8 storage buffers per stage"));
        printf("    profiling        %s\n",
               report_path(d->has_timestamps, "timestamps", "GPU timestamps around each op",
                           "none: kwvk_net_profile returns KWVK_ERROR_UNSUPPORTED", "no timestamps"));
        printf("    large tensors    split so that no binding exceeds %llu B (%.0f MiB)%s\n", (unsigned long long)lim,
               lim / 1048576.0, lim < d->max_storage_buffer_range ? ", lowered by KWVK_MAX_STORAGE_RANGE" : "");
    }
    if (chosen < 0) printf("\ndefault choice: none%s%s\n", choose_err[0] ? ": " : "", choose_err);
    free(infos);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *in_path = NULL, *out_path = NULL, *shape_s = NULL, *device = NULL;
    int repeat = 1, profile = 0, validation = 0, fp16 = 0, info = 0, list = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            tu_print_version(TOOL);
            return 0;
        }
        if (!strcmp(a, "--list-devices")) list = 1;
        else if (!strcmp(a, "--info")) info = 1;
        else if (!strcmp(a, "--profile")) profile = 1;
        else if (!strcmp(a, "--validation")) validation = 1;
        else if (!strcmp(a, "--fp16")) fp16 = 1;
        else if (!strcmp(a, "--model")) model_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--input")) in_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--output")) out_path = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--shape")) shape_s = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--device")) device = tu_arg_value(TOOL, argc, argv, &i);
        else if (!strcmp(a, "--repeat"))
            repeat = (int)tu_arg_long(TOOL, a, tu_arg_value(TOOL, argc, argv, &i), 1, 1000000);
        else if (a[0] == '-') tu_usage_error(TOOL, "unknown option %s", a);
        else tu_usage_error(TOOL, "unexpected argument '%s' (the model, input and output are given with options)", a);
    }
    if (list) return list_devices();
    if (info) {
        if (!model_path) tu_usage_error(TOOL, "--info needs --model MODEL");
        kwvk_model *m;
        tu_check(TOOL, kwvk_model_load_file(model_path, &m), model_path);
        tu_print_model_info(stdout, model_path, m);
        kwvk_model_destroy(m);
        return 0;
    }
    if (!model_path || !in_path || !shape_s || !out_path)
        tu_usage_error(TOOL, "missing %s", !model_path ? "--model MODEL" : !in_path ? "--input IN.f32"
                                                     : !shape_s  ? "--shape N,C,H,W"
                                                                 : "--output OUT.f32");
    uint32_t shape[4];
    const char *serr = NULL;
    if (tu_parse_shape(shape_s, shape, &serr) != 0) tu_usage_error(TOOL, "--shape %s: %s", shape_s, serr);
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
    kwvk_net_desc nd = {.enable_profiling = profile, .fp16_weights = fp16};
    kwvk_net *net;
    tu_check(TOOL, kwvk_net_create(ctx, model, &nd, &net), "creating the network");
    uint32_t oshape[3];
    tu_check(TOOL, kwvk_net_output_shape(net, shape[1], shape[2], shape[3], oshape), "checking the input shape");
    size_t out_count = (size_t)shape[0] * oshape[0] * oshape[1] * oshape[2];
    float *output = malloc(out_count * sizeof *output);
    if (!output) tu_die(TOOL, "out of memory");
    tu_check(TOOL, kwvk_net_prepare(net, shape[0], shape[1], shape[2], shape[3]), "preparing the network");
    double t_ready = tu_now_ms();
    int compiling = tu_first_run_notice(TOOL, net, ctx);
    double first = 0, best = 1e30, total = 0;
    for (int k = 0; k < repeat; k++) {
        double s = tu_now_ms();
        tu_check(TOOL, kwvk_net_run(net, input, shape[0], shape[1], shape[2], shape[3], output, out_count), "running");
        double e = tu_now_ms() - s;
        if (k == 0) first = e;
        if (k > 0 || repeat == 1) { /* the first run may compile (lavapipe JITs at first use) */
            if (e < best) best = e;
            total += e;
        }
    }
    int timed = repeat > 1 ? repeat - 1 : 1;
    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(output, sizeof *output, out_count, f) != out_count || fclose(f) != 0)
        tu_die(TOOL, "cannot write %s", out_path);

    kwvk_device_info di;
    kwvk_context_device_info(ctx, &di);
    kwvk_net_stats st;
    kwvk_net_get_stats(net, &st);
    fprintf(stderr, "kwvk-run: %s on %s: output [%u, %u, %u, %u]\n", kwvk_model_label(model, 0) ? model_path : "",
            di.name, shape[0], oshape[0], oshape[1], oshape[2]);
    /* (tools/kwvk_py/bench.py reads this line) */
    fprintf(stderr, "kwvk-run: start %.1f ms (pipelines %.1f ms, recording %.1f ms); run first %.2f ms, best %.2f ms, "
                    "mean %.2f ms over %d%s\n",
            t_ready - t0, st.pipeline_ms, st.record_ms, first, best, total / timed, timed,
            repeat > 1 ? " later runs" : "");
    if (compiling)
        fprintf(stderr, "kwvk-run: the first run includes compiling the GPU programs (first use on this device)%s\n",
                repeat > 1 ? "; best and mean leave it out" : "; --repeat 2 or more times the runs after it");
    fprintf(stderr, "kwvk-run: device memory: weights %.2f MiB, activations %.2f MiB, peak %.2f MiB\n",
            st.weight_bytes / 1048576.0, st.activation_bytes / 1048576.0, st.peak_device_bytes / 1048576.0);
    fprintf(stderr, "kwvk-run: %s\n", report_kernels(&di));
    if (fp16)
        fprintf(stderr, "kwvk-run: fp16 weights: %u tensors%s\n", st.fp16_tensors,
                st.fp16_tensors ? "" : " (the device has no 16-bit storage, or KWVK_FORCE_FALLBACKS=fp16)");
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
