/* pipeline.c - compute pipelines keyed by (shader, specialisation constants), and the
 * VkPipelineCache kept on disk so that a second start skips shader compilation. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------------------------------- */
/* On-disk cache                                                                            */
/* ---------------------------------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

static char *cache_dir_default(void)
{
    const char *env = getenv("KWVK_CACHE_DIR");
    char buf[1024];
    if (env) {
        snprintf(buf, sizeof buf, "%s", env);
    } else if (getenv("XDG_CACHE_HOME") && getenv("XDG_CACHE_HOME")[0]) {
        snprintf(buf, sizeof buf, "%s/kwvk", getenv("XDG_CACHE_HOME"));
    } else if (getenv("HOME") && getenv("HOME")[0]) {
        snprintf(buf, sizeof buf, "%s/.cache/kwvk", getenv("HOME"));
    } else {
        return NULL;
    }
    return strdup(buf);
}

/* Is `data` a pipeline cache this device would accept? (Checked before the driver sees it.) */
static bool cache_header_ok(const kw_ctx *ctx, const uint8_t *data, size_t size)
{
    if (size < 32) return false;
    uint32_t len, ver, vendor, device;
    memcpy(&len, data, 4);
    memcpy(&ver, data + 4, 4);
    memcpy(&vendor, data + 8, 4);
    memcpy(&device, data + 12, 4);
    return len >= 32 && ver == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && vendor == ctx->props.vendorID &&
           device == ctx->props.deviceID && memcmp(data + 16, ctx->props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

kwvk_result kw_pipeline_cache_open(kw_ctx *ctx, const char *dir)
{
    char *d = dir ? (dir[0] ? strdup(dir) : NULL) : cache_dir_default();
    void *data = NULL;
    size_t size = 0;
    if (d) {
        char path[1200];
        snprintf(path, sizeof path, "%s/pipelines-%08x-%08x-%08x.bin", d, ctx->props.vendorID,
                 ctx->props.deviceID, ctx->props.driverVersion);
        if (mkdir_p(d) == 0) ctx->cache_path = strdup(path);
        else kw_log(ctx, KWVK_LOG_WARN, "cannot create pipeline cache directory %s; caching disabled", d);
        FILE *f = ctx->cache_path ? fopen(ctx->cache_path, "rb") : NULL;
        if (f) {
            if (fseek(f, 0, SEEK_END) == 0) {
                long n = ftell(f);
                if (n > 0 && n < (64l << 20) && fseek(f, 0, SEEK_SET) == 0) {
                    data = malloc((size_t)n);
                    if (data && fread(data, 1, (size_t)n, f) == (size_t)n) size = (size_t)n;
                }
            }
            fclose(f);
        }
        free(d);
    }
    if (size && !cache_header_ok(ctx, data, size)) {
        kw_log(ctx, KWVK_LOG_INFO, "ignoring a pipeline cache made for another device or driver");
        size = 0;
    }
    ctx->disk_cache_loaded = size > 0;
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size,
                                    .pInitialData = size ? data : NULL};
    VkResult vr = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    if (vr != VK_SUCCESS && size) { /* a corrupt file: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        vr = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    }
    free(data);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreatePipelineCache");
    return KWVK_OK;
}

kwvk_result kw_pipeline_cache_save(kw_ctx *ctx)
{
    if (!ctx->cache_path || !ctx->pipeline_cache) return KWVK_OK;
    size_t size = 0;
    kw_ctx_lock(ctx);
    VkResult vr = vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL);
    void *data = vr == VK_SUCCESS && size ? malloc(size) : NULL;
    if (data) vr = vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data);
    kw_ctx_unlock(ctx);
    if (!data || vr != VK_SUCCESS) {
        free(data);
        return KWVK_OK; /* nothing to save */
    }
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", ctx->cache_path, (long)clock());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, size, f) == size;
    if (f) ok = (fclose(f) == 0) && ok;
    free(data);
    if (!ok || rename(tmp, ctx->cache_path) != 0) {
        remove(tmp);
        kw_log(ctx, KWVK_LOG_WARN, "could not write the pipeline cache %s", ctx->cache_path);
        return kw_fail(KWVK_ERROR_IO, "could not write the pipeline cache %s", ctx->cache_path);
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Pipelines                                                                                */
/* ---------------------------------------------------------------------------------------- */

static void pipeline_destroy(kw_ctx *ctx, kw_pipeline *p)
{
    if (p->pipeline) vkDestroyPipeline(ctx->device, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
    if (p->set_layout) vkDestroyDescriptorSetLayout(ctx->device, p->set_layout, NULL);
    free(p);
}

static kwvk_result pipeline_create(kw_ctx *ctx, const kw_shader *sh, const uint32_t *spec, uint32_t n_spec,
                                   kw_pipeline **out)
{
    kw_pipeline *p = calloc(1, sizeof *p);
    if (!p) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->shader = sh;
    p->n_spec = n_spec;
    memcpy(p->spec, spec, n_spec * sizeof *spec);

    VkDescriptorSetLayoutBinding b[KW_MAX_BINDINGS];
    for (uint32_t i = 0; i < sh->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = sh->texel_mask >> i & 1
                                                                    ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                                    : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = sh->n_bindings,
                                          .pBindings = b};
    VkResult vr = vkCreateDescriptorSetLayout(ctx->device, &dl, NULL, &p->set_layout);
    if (vr != VK_SUCCESS) goto fail;
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = KW_PUSH_BYTES};
    VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = 1,
                                     .pSetLayouts = &p->set_layout,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pr};
    vr = vkCreatePipelineLayout(ctx->device, &pl, NULL, &p->layout);
    if (vr != VK_SUCCESS) goto fail;

    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = sh->code_bytes,
                                   .pCode = sh->code};
    VkShaderModule module;
    vr = vkCreateShaderModule(ctx->device, &mi, NULL, &module);
    if (vr != VK_SUCCESS) goto fail;
    VkSpecializationMapEntry entries[KW_MAX_SPEC];
    for (uint32_t i = 0; i < n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = i * 4, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = n_spec, .pMapEntries = entries, .dataSize = n_spec * 4,
                               .pData = p->spec};
    VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                                .module = module,
                                                .pName = "main",
                                                .pSpecializationInfo = n_spec ? &si : NULL},
                                      .layout = p->layout};
    vr = vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, &p->pipeline);
    vkDestroyShaderModule(ctx->device, module, NULL);
    if (vr != VK_SUCCESS) goto fail;
    *out = p;
    return KWVK_OK;
fail:
    pipeline_destroy(ctx, p);
    return kw_fail(vr == VK_ERROR_OUT_OF_DEVICE_MEMORY ? KWVK_ERROR_OUT_OF_DEVICE_MEMORY : KWVK_ERROR_VULKAN,
                   "creating the pipeline for shader %s failed: %s", sh->name, kw_vk_result_name(vr));
}

kwvk_result kw_pipeline_get(kw_ctx *ctx, const char *name, const uint32_t *spec, uint32_t n_spec, kw_pipeline **out)
{
    if (n_spec > KW_MAX_SPEC) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "too many specialisation constants");
    const kw_shader *sh = NULL;
    if (!ctx->feat.subgroup_arithmetic) { /* the variant built without subgroup operations */
        char alt[96];
        snprintf(alt, sizeof alt, "%s_nosg", name);
        sh = kw_shader_find(alt);
    }
    if (!sh) sh = kw_shader_find(name);
    if (!sh) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "no embedded shader named %s", name);
    kw_ctx_lock(ctx);
    for (kw_pipeline *p = ctx->pipelines; p; p = p->next)
        if (p->shader == sh && p->n_spec == n_spec && memcmp(p->spec, spec, n_spec * sizeof *spec) == 0) {
            kw_ctx_unlock(ctx);
            *out = p;
            return KWVK_OK;
        }
    double t0 = now_ms();
    kw_pipeline *p = NULL;
    kwvk_result r = pipeline_create(ctx, sh, spec, n_spec, &p);
    ctx->pipeline_ms += now_ms() - t0;
    if (r == KWVK_OK) {
        ctx->pipelines_created++;
        p->next = ctx->pipelines;
        ctx->pipelines = p;
        *out = p;
    }
    kw_ctx_unlock(ctx);
    return r;
}

void kw_pipelines_release_all(kw_ctx *ctx)
{
    kw_pipeline *p = ctx->pipelines;
    while (p) {
        kw_pipeline *next = p->next;
        pipeline_destroy(ctx, p);
        p = next;
    }
    ctx->pipelines = NULL;
}
