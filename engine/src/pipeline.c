/* pipeline.c - compute pipelines keyed by (shader, specialisation constants), and the
 * VkPipelineCache kept on disk so that a second start skips shader compilation. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static kw_pipeline *pipeline_new(const kw_shader *sh, const uint32_t *spec, uint32_t n_spec)
{
    kw_pipeline *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->shader = sh;
    p->n_spec = n_spec;
    memcpy(p->spec, spec, n_spec * sizeof *spec);
    return p;
}

/* The Vulkan objects of `p`; on failure they are destroyed and p stays allocated. Needs no
 * lock: the pipeline cache is internally synchronised. */
static VkResult pipeline_init(kw_ctx *ctx, kw_pipeline *p)
{
    const kw_shader *sh = p->shader;
    const uint32_t n_spec = p->n_spec;
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
    if (vr == VK_SUCCESS) return VK_SUCCESS;
fail:
    if (p->pipeline) vkDestroyPipeline(ctx->device, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(ctx->device, p->layout, NULL);
    if (p->set_layout) vkDestroyDescriptorSetLayout(ctx->device, p->set_layout, NULL);
    p->pipeline = VK_NULL_HANDLE;
    p->layout = VK_NULL_HANDLE;
    p->set_layout = VK_NULL_HANDLE;
    return vr;
}

static kwvk_result init_fail(const kw_pipeline *p, VkResult vr)
{
    return kw_fail(vr == VK_ERROR_OUT_OF_DEVICE_MEMORY ? KWVK_ERROR_OUT_OF_DEVICE_MEMORY : KWVK_ERROR_VULKAN,
                   "creating the pipeline for shader %s failed: %s", p->shader->name, kw_vk_result_name(vr));
}

/* A DEBUG line per created pipeline: which programs a network needs and what each costs. */
static void log_created(const kw_ctx *ctx, const kw_pipeline *p, double ms)
{
    char spec[KW_MAX_SPEC * 12 + 1] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < p->n_spec && len < sizeof spec; i++)
        len += (size_t)snprintf(spec + len, sizeof spec - len, "%s%u", i ? "," : "", p->spec[i]);
    kw_log(ctx, KWVK_LOG_DEBUG, "pipeline %s [%s] created in %.1f ms", p->shader->name, spec, ms);
}

/* Pipelines wanted while this thread collects (kw_pipeline_collect_begin): placeholders that
 * only name their shader and constants, created together by kw_pipeline_collect_end. */
typedef struct kw_collect {
    kw_pipeline **items;
    uint32_t n, cap;
    bool failed; /* out of host memory: the keys are incomplete */
} kw_collect;
static _Thread_local kw_collect *t_collect;

static bool same_key(const kw_pipeline *p, const kw_shader *sh, const uint32_t *spec, uint32_t n_spec)
{
    return p->shader == sh && p->n_spec == n_spec && memcmp(p->spec, spec, n_spec * sizeof *spec) == 0;
}

static kw_pipeline *collect_add(kw_collect *c, const kw_shader *sh, const uint32_t *spec, uint32_t n_spec)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (same_key(c->items[i], sh, spec, n_spec)) return c->items[i];
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? 2 * c->cap : 32;
        kw_pipeline **items = realloc(c->items, cap * sizeof *items);
        if (!items) return NULL;
        c->items = items;
        c->cap = cap;
    }
    kw_pipeline *p = pipeline_new(sh, spec, n_spec);
    if (p) c->items[c->n++] = p;
    return p;
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
        if (same_key(p, sh, spec, n_spec)) {
            kw_ctx_unlock(ctx);
            *out = p;
            return KWVK_OK;
        }
    if (t_collect) { /* collecting: a placeholder, created later */
        kw_ctx_unlock(ctx);
        kw_pipeline *p = collect_add(t_collect, sh, spec, n_spec);
        if (!p) {
            t_collect->failed = true;
            return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        *out = p;
        return KWVK_OK;
    }
    double t0 = now_ms();
    kw_pipeline *p = pipeline_new(sh, spec, n_spec);
    kwvk_result r = KWVK_OK;
    if (!p) {
        r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    } else {
        VkResult vr = pipeline_init(ctx, p);
        if (vr != VK_SUCCESS) {
            r = init_fail(p, vr);
            free(p);
            p = NULL;
        }
    }
    const double ms = now_ms() - t0;
    ctx->pipeline_ms += ms;
    if (r == KWVK_OK) {
        log_created(ctx, p, ms);
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

/* ---------------------------------------------------------------------------------------- */
/* Creating a recording's pipelines together                                                */
/* ---------------------------------------------------------------------------------------- */

void kw_pipeline_collect_begin(void)
{
    kw_collect *c = calloc(1, sizeof *c);
    t_collect = c; /* NULL (out of memory): pipelines are created one by one, as before */
}

typedef struct create_job {
    kw_ctx *ctx;
    kw_collect *c;
    uint32_t next; /* atomic: the next item to create */
    VkResult *vr;
    double *ms;
} create_job;

static void *create_worker(void *arg)
{
    create_job *j = arg;
    for (;;) {
        uint32_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->c->n) return NULL;
        double t0 = now_ms();
        j->vr[i] = pipeline_init(j->ctx, j->c->items[i]);
        j->ms[i] = now_ms() - t0;
    }
}

/* Ends collecting on this thread and creates the collected pipelines from up to one thread
 * per processor (drivers compile shaders at pipeline creation: lavapipe's SPIR-V -> NIR
 * takes 5-500 ms per pipeline). They join the context's set, unless another thread created
 * the same meanwhile. Failures are left to the recording that follows, which retries the
 * pipeline alone and reports the error; ctx->pipeline_ms gains the wall time. */
void kw_pipeline_collect_end(kw_ctx *ctx)
{
    kw_collect *c = t_collect;
    t_collect = NULL;
    if (!c) return;
    VkResult *vr = calloc(c->n ? c->n : 1, sizeof *vr);
    double *ms = calloc(c->n ? c->n : 1, sizeof *ms);
    if (vr && ms && !c->failed && c->n) {
        double t0 = now_ms();
        create_job job = {ctx, c, 0, vr, ms};
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        uint32_t nt = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (uint32_t)ncpu;
        if (nt > c->n) nt = c->n;
        pthread_t th[8];
        uint32_t started = 0;
        for (uint32_t t = 1; t < nt; t++) /* this thread is worker 0 */
            if (pthread_create(&th[started], NULL, create_worker, &job) == 0) started++;
        create_worker(&job);
        for (uint32_t t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        const double wall = now_ms() - t0;
        kw_ctx_lock(ctx);
        for (uint32_t i = 0; i < c->n; i++) {
            kw_pipeline *p = c->items[i];
            bool dup = false;
            for (kw_pipeline *q = ctx->pipelines; q && !dup; q = q->next)
                dup = same_key(q, p->shader, p->spec, p->n_spec);
            if (vr[i] != VK_SUCCESS || dup) {
                pipeline_destroy(ctx, p); /* NULL-handle safe */
                continue;
            }
            log_created(ctx, p, ms[i]);
            ctx->pipelines_created++;
            p->next = ctx->pipelines;
            ctx->pipelines = p;
        }
        ctx->pipeline_ms += wall;
        kw_ctx_unlock(ctx);
    } else {
        for (uint32_t i = 0; i < c->n; i++)
            free(c->items[i]);
    }
    free(vr);
    free(ms);
    free(c->items);
    free(c);
}
