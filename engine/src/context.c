/* context.c - Vulkan through volk: instance, validation messenger, device choice, queue,
 * command pool, fence, feature detection with forced fallbacks, submission. */
#if defined(KWVK_SANITIZE_BUILD) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* dl_iterate_phdr */
#endif
#include "internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Logging and locking                                                                      */
/* ---------------------------------------------------------------------------------------- */

void kw_log(const kw_ctx *ctx, kwvk_log_level level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ctx && ctx->log) {
        ctx->log(ctx->log_user, level, buf);
        return;
    }
    const char *quiet = getenv("KWVK_QUIET");
    if (level >= KWVK_LOG_WARN && !(quiet && quiet[0] == '1'))
        fprintf(stderr, "kwvk: %s\n", buf);
}

void kw_ctx_lock(kw_ctx *ctx) { pthread_mutex_lock((pthread_mutex_t *)ctx->lock); }
void kw_ctx_unlock(kw_ctx *ctx) { pthread_mutex_unlock((pthread_mutex_t *)ctx->lock); }

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

/* An environment switch: 0 for "0", 1 for "1", else -1 (unset or anything else). */
static int env_tristate(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "0") == 0 ? 0 : v && strcmp(v, "1") == 0 ? 1 : -1;
}

/* Drivers that report 16-bit storage but cannot compile it. lavapipe outside x86 (Mesa 22.3,
 * LLVM 15, aarch64 under QEMU in CI): the first fp16 load aborts the process inside the driver
 * with "LLVM ERROR: Cannot select: v4f32 = fp_extend v4i16". The weights stay fp32 there. */
static bool fp16_broken(const kwvk_device_info *info)
{
#if defined(__x86_64__) || defined(__i386__)
    (void)info;
    return false;
#else
    return strstr(info->name, "llvmpipe") != NULL || strstr(info->driver_name, "llvmpipe") != NULL;
#endif
}

/* Is fallback `what` forced by KWVK_FORCE_FALLBACKS ("1"/"all" or a comma list)? */
static bool fallback_forced(const char *what)
{
    const char *v = getenv("KWVK_FORCE_FALLBACKS");
    if (!v || !v[0] || strcmp(v, "0") == 0) return false;
    if (strcmp(v, "1") == 0 || strcmp(v, "all") == 0) return true;
    size_t n = strlen(what);
    for (const char *p = v; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, what, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Instance                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                     VkDebugUtilsMessageTypeFlagsEXT type,
                                                     const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                     void *user)
{
    (void)type;
    kw_ctx *ctx = user;
    kwvk_log_level level = KWVK_LOG_DEBUG;
    if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) level = KWVK_LOG_ERROR;
    else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) level = KWVK_LOG_WARN;
    else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT) level = KWVK_LOG_INFO;
    if (level >= KWVK_LOG_WARN) __atomic_add_fetch(&ctx->validation_messages, 1, __ATOMIC_RELAXED);
    kw_log(ctx, level, "validation: %s", data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *props = calloc(n, sizeof *props);
    if (!props) return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].layerName, name) == 0;
    free(props);
    return found;
}

static bool has_instance_ext(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *props = calloc(n, sizeof *props);
    if (!props) return false;
    bool found = false;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
    free(props);
    return found;
}

static kwvk_result load_vulkan(void)
{
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    static int state = 0; /* 0 not tried, 1 ok, -1 failed */
    pthread_mutex_lock(&once);
    if (state == 0) state = volkInitialize() == VK_SUCCESS ? 1 : -1;
    int s = state;
    pthread_mutex_unlock(&once);
    if (s < 0) return kw_fail(KWVK_ERROR_NO_DEVICE, "the Vulkan loader (libvulkan) could not be loaded");
    return KWVK_OK;
}

/* volk keeps ONE global set of entry points. They are loaded through the loader's
 * vkGetInstanceProcAddr, so that device-level calls go through the loader's trampolines and
 * dispatch on their own device: contexts on different devices or with different layers
 * (validation on one, off on another) stay independent. Loading per device (volkLoadDevice)
 * would point every context at the last device's driver or layer. The pointers are written
 * once per process, under a lock (then only again by a context that enables instance
 * extensions of its own, e.g. surfaces for a viewer), so creating a context never rewrites
 * pointers other threads are calling through. Debug-utils entry points are per instance. */
static void load_entry_points(VkInstance instance, bool own_extensions)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static bool loaded = false;
    pthread_mutex_lock(&lock);
    if (!loaded || own_extensions) volkLoadInstance(instance);
    loaded = true;
    pthread_mutex_unlock(&lock);
}

static kwvk_result create_instance(kw_ctx *ctx, bool validation, const kwvk_context_desc *d)
{
    KW_TRY(load_vulkan());
    uint32_t api = VK_API_VERSION_1_1;
    if (vkEnumerateInstanceVersion) {
        uint32_t v = 0;
        if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v < VK_API_VERSION_1_1)
            return kw_fail(KWVK_ERROR_NO_DEVICE, "the Vulkan loader supports only Vulkan %u.%u; kwvk needs 1.1",
                           VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v));
    } else {
        return kw_fail(KWVK_ERROR_NO_DEVICE, "the Vulkan loader supports only Vulkan 1.0; kwvk needs 1.1");
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "kwvk",
                             .pEngineName = "kwvk",
                             .engineVersion = VK_MAKE_VERSION(KWVK_VERSION_MAJOR, KWVK_VERSION_MINOR,
                                                              KWVK_VERSION_PATCH),
                             .apiVersion = api};
    const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[17];
    uint32_t n_exts = 0;
    bool debug_utils = validation && has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (debug_utils) exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    if (d && d->instance_extension_count > 16)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "too many instance extensions (%u, at most 16)",
                       d->instance_extension_count);
    for (uint32_t i = 0; d && i < d->instance_extension_count; i++) {
        if (!d->instance_extensions || !d->instance_extensions[i])
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "instance extension %u is NULL", i);
        if (!has_instance_ext(d->instance_extensions[i]))
            return kw_fail(KWVK_ERROR_UNSUPPORTED, "the Vulkan instance extension %s is not available",
                           d->instance_extensions[i]);
        exts[n_exts++] = d->instance_extensions[i];
    }
    if (validation && !has_layer(layers[0]))
        return kw_fail(KWVK_ERROR_UNSUPPORTED,
                       "validation was requested but VK_LAYER_KHRONOS_validation is not installed "
                       "(Debian: vulkan-validationlayers)");
    VkValidationFeatureEnableEXT sync_enable = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT vfeat = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                     .enabledValidationFeatureCount = 1,
                                     .pEnabledValidationFeatures = &sync_enable};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app,
                                .enabledLayerCount = validation ? 1 : 0,
                                .ppEnabledLayerNames = layers,
                                .enabledExtensionCount = n_exts,
                                .ppEnabledExtensionNames = exts};
    if (validation && env_flag("KWVK_VALIDATION_SYNC")) ici.pNext = &vfeat;
    VkResult vr = vkCreateInstance(&ici, NULL, &ctx->instance);
    if (vr == VK_ERROR_INCOMPATIBLE_DRIVER)
        return kw_fail(KWVK_ERROR_NO_DEVICE, "no Vulkan driver is installed (vkCreateInstance: "
                                             "VK_ERROR_INCOMPATIBLE_DRIVER)");
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateInstance");
    load_entry_points(ctx->instance, d && d->instance_extension_count > 0);
    if (debug_utils) {
        PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance, "vkCreateDebugUtilsMessengerEXT");
        if (!create_messenger) return kw_fail(KWVK_ERROR_VULKAN, "vkCreateDebugUtilsMessengerEXT is not available");
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = debug_callback,
            .pUserData = ctx};
        vr = create_messenger(ctx->instance, &mci, NULL, &ctx->messenger);
        if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateDebugUtilsMessengerEXT");
    }
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Device information                                                                       */
/* ---------------------------------------------------------------------------------------- */

static void fill_info(VkPhysicalDevice pd, kwvk_device_info *info)
{
    memset(info, 0, sizeof *info);
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                            .pNext = &sub};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(pd, &base);
    /* VK_KHR_driver_properties is core only in 1.2: chain it only there */
    p2.pNext = base.apiVersion >= VK_API_VERSION_1_2 ? (void *)&drv : (void *)&sub;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;
    snprintf(info->name, sizeof info->name, "%s", p->deviceName);
    if (base.apiVersion >= VK_API_VERSION_1_2) {
        snprintf(info->driver_name, sizeof info->driver_name, "%s", drv.driverName);
        snprintf(info->driver_info, sizeof info->driver_info, "%s", drv.driverInfo);
    }
    info->vendor_id = p->vendorID;
    info->device_id = p->deviceID;
    info->api_version = p->apiVersion;
    info->driver_version = p->driverVersion;
    info->device_type = (int)p->deviceType;
    info->subgroup_size = sub.subgroupSize;
    info->max_compute_workgroup_invocations = p->limits.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) info->max_compute_workgroup_count[i] = p->limits.maxComputeWorkGroupCount[i];
    info->max_storage_buffer_range = p->limits.maxStorageBufferRange;
    info->max_storage_buffers_per_stage = p->limits.maxPerStageDescriptorStorageBuffers;
    info->max_texel_buffer_elements = p->limits.maxTexelBufferElements;
    info->timestamp_period_ns = p->limits.timestampPeriod;
    info->has_subgroup_arithmetic = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                    (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                    (sub.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    info->has_16bit_storage = s16.storageBuffer16BitAccess && !fp16_broken(info); /* usable */
    /* both formats are required for uniform texel buffers by the spec; checked all the same */
    VkFormatProperties f1, f4;
    vkGetPhysicalDeviceFormatProperties(pd, VK_FORMAT_R32_SFLOAT, &f1);
    vkGetPhysicalDeviceFormatProperties(pd, VK_FORMAT_R32G32B32A32_SFLOAT, &f4);
    info->has_texel_buffers = (f1.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT) &&
                              (f4.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT) &&
                              p->limits.maxTexelBufferElements >= 65536;
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) info->device_local_bytes += mp.memoryHeaps[i].size;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
            (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
            info->has_host_visible_device_local = 1;
    }
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties qf[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf);
    for (uint32_t i = 0; i < nq; i++)
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && qf[i].timestampValidBits > 0 &&
            p->limits.timestampPeriod > 0)
            info->has_timestamps = 1;
}

static kwvk_result list_devices(VkInstance inst, VkPhysicalDevice **out, uint32_t *count)
{
    uint32_t n = 0;
    VkResult vr = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkEnumeratePhysicalDevices");
    if (n == 0) return kw_fail(KWVK_ERROR_NO_DEVICE, "no Vulkan device found");
    VkPhysicalDevice *pds = calloc(n, sizeof *pds);
    if (!pds) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    vr = vkEnumeratePhysicalDevices(inst, &n, pds);
    if (vr != VK_SUCCESS && vr != VK_INCOMPLETE) {
        free(pds);
        return kw_vk_fail(vr, "vkEnumeratePhysicalDevices");
    }
    *out = pds;
    *count = n;
    return KWVK_OK;
}

static bool icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return n == 0;
}

static kwvk_result choose_device(kw_ctx *ctx, const char *want)
{
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    KW_TRY(list_devices(ctx->instance, &pds, &n));
    int pick = -1;
    if (want && want[0]) {
        char *end = NULL;
        long idx = strtol(want, &end, 10);
        if (end && *end == '\0') {
            if (idx < 0 || (uint32_t)idx >= n) {
                free(pds);
                return kw_fail(KWVK_ERROR_NO_DEVICE, "device index %ld out of range: %u device(s)", idx, n);
            }
            pick = (int)idx;
        } else {
            for (uint32_t i = 0; i < n && pick < 0; i++) {
                VkPhysicalDeviceProperties p;
                vkGetPhysicalDeviceProperties(pds[i], &p);
                if (icontains(p.deviceName, want)) pick = (int)i;
            }
            if (pick < 0) {
                free(pds);
                return kw_fail(KWVK_ERROR_NO_DEVICE, "no Vulkan device name contains \"%s\"", want);
            }
        }
    } else {
        static const VkPhysicalDeviceType order[] = {VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU,
                                                     VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU,
                                                     VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU};
        for (int t = 0; t < 3 && pick < 0; t++)
            for (uint32_t i = 0; i < n && pick < 0; i++) {
                VkPhysicalDeviceProperties p;
                vkGetPhysicalDeviceProperties(pds[i], &p);
                if (p.deviceType == order[t] && p.apiVersion >= VK_API_VERSION_1_1) pick = (int)i;
            }
        if (pick < 0) pick = 0;
    }
    ctx->phys = pds[pick];
    free(pds);
    vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
    if (ctx->props.apiVersion < VK_API_VERSION_1_1)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "device \"%s\" supports only Vulkan %u.%u; kwvk needs 1.1",
                       ctx->props.deviceName, VK_API_VERSION_MAJOR(ctx->props.apiVersion),
                       VK_API_VERSION_MINOR(ctx->props.apiVersion));
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->mem_props);
    fill_info(ctx->phys, &ctx->info);
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Device                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static kwvk_result create_device(kw_ctx *ctx, const kwvk_context_desc *d)
{
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (!qf) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, qf);
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++) /* prefer a compute queue that also does graphics */
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) fam = (int)i;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
    uint32_t ts_bits = fam >= 0 ? qf[fam].timestampValidBits : 0;
    free(qf);
    if (fam < 0) return kw_fail(KWVK_ERROR_UNSUPPORTED, "device \"%s\" has no compute queue", ctx->info.name);
    ctx->queue_family = (uint32_t)fam;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = ctx->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    /* 16-bit storage (Vulkan 1.1 core feature) for fp16 weights, where the device has it; a
     * forced fallback leaves it disabled, so the validation layer flags any fp16 shader */
    const bool fp16 = ctx->info.has_16bit_storage && !fallback_forced("fp16");
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                .storageBuffer16BitAccess = fp16 ? VK_TRUE : VK_FALSE};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &s16,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = d ? d->device_extension_count : 0,
                              .ppEnabledExtensionNames = d ? d->device_extensions : NULL};
    for (uint32_t i = 0; d && i < d->device_extension_count; i++)
        if (!d->device_extensions || !d->device_extensions[i])
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "device extension %u is NULL", i);
    VkResult vr = vkCreateDevice(ctx->phys, &dci, NULL, &ctx->device);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateDevice");
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    vr = vkCreateCommandPool(ctx->device, &pci, NULL, &ctx->cmd_pool);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateCommandPool");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    vr = vkCreateFence(ctx->device, &fci, NULL, &ctx->fence);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateFence");

    /* features, each with a forced fallback for testing */
    ctx->feat.subgroup_arithmetic = ctx->info.has_subgroup_arithmetic && !fallback_forced("subgroup");
    ctx->feat.timestamps = ts_bits > 0 && ctx->props.limits.timestampPeriod > 0 && !fallback_forced("timestamps");
    ctx->feat.host_visible_device_local = ctx->info.has_host_visible_device_local && !fallback_forced("host_visible");
    ctx->feat.texel_buffers = ctx->info.has_texel_buffers && !fallback_forced("texel");
    ctx->feat.fp16_storage = fp16;
    ctx->feat.fused_attention = ctx->info.max_storage_buffers_per_stage >= KW_FUSED_ATTENTION_BUFFERS &&
                                !fallback_forced("fused");
    ctx->subgroup_size = ctx->info.subgroup_size ? ctx->info.subgroup_size : 1;
    ctx->max_storage_range = ctx->props.limits.maxStorageBufferRange;
    const char *msr = getenv("KWVK_MAX_STORAGE_RANGE");
    if (msr && msr[0]) {
        unsigned long long v = strtoull(msr, NULL, 10);
        if (v >= 256 && v < ctx->max_storage_range) ctx->max_storage_range = v & ~(uint64_t)255;
    }
    ctx->max_texel_elements = ctx->props.limits.maxTexelBufferElements;
    const char *mte = getenv("KWVK_MAX_TEXEL_ELEMENTS"); /* tests: exercise the splitting */
    if (mte && mte[0]) {
        unsigned long long v = strtoull(mte, NULL, 10);
        if (v >= 256 && v < ctx->max_texel_elements) ctx->max_texel_elements = v;
    }
    return KWVK_OK;
}

#if defined(KWVK_SANITIZE_BUILD)
#include <dlfcn.h>
#include <link.h>
/* Sanitizer builds only: keep every library loaded so far (the Vulkan driver and layers)
 * loaded for the life of the process. The Vulkan loader unloads the driver when the instance
 * is destroyed, and LeakSanitizer then cannot name the module of the driver's own leaks at
 * exit, so tests/lsan.supp could not suppress them. */
static int pin_library(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (info->dlpi_name && info->dlpi_name[0]) dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    return 0;
}
static void pin_loaded_libraries(void) { dl_iterate_phdr(pin_library, NULL); }
#else
static void pin_loaded_libraries(void) {}
#endif

/* ---------------------------------------------------------------------------------------- */
/* Public                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void ctx_release(kw_ctx *ctx)
{
    if (ctx->device) {
        vkDeviceWaitIdle(ctx->device);
        kw_pipeline_cache_save(ctx);
        kw_pipelines_release_all(ctx);
        if (ctx->pipeline_cache) vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
        kw_memory_release_all(ctx);
        if (ctx->fence) vkDestroyFence(ctx->device, ctx->fence, NULL);
        if (ctx->cmd_pool) vkDestroyCommandPool(ctx->device, ctx->cmd_pool, NULL);
        vkDestroyDevice(ctx->device, NULL);
    }
    if (ctx->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy_messenger) destroy_messenger(ctx->instance, ctx->messenger, NULL);
    }
    if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    if (ctx->lock) {
        pthread_mutex_destroy((pthread_mutex_t *)ctx->lock);
        free(ctx->lock);
    }
    free(ctx->cache_path);
}

kwvk_result kw_pipeline_cache_open(kw_ctx *ctx, const char *dir); /* pipeline.c */

kwvk_result kwvk_context_create(const kwvk_context_desc *desc, kwvk_context **out)
{
    if (!out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_context_create: out is NULL");
    *out = NULL;
    kwvk_context_desc d = {0};
    if (desc) d = *desc;
    kwvk_context *c = calloc(1, sizeof *c);
    if (!c) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    kw_ctx *ctx = &c->c;
    ctx->log = d.log;
    ctx->log_user = d.log_user;
    ctx->budget = d.device_memory_budget;
    /* 0: $KWVK_TIMEOUT_MS, else one minute. Slow drivers need more: lavapipe under QEMU
     * compiles each shader on its first dispatch, inside the fence wait. */
    const char *tmo = getenv("KWVK_TIMEOUT_MS");
    long tmo_ms = tmo ? strtol(tmo, NULL, 10) : 0;
    ctx->timeout_ms = d.timeout_ms ? d.timeout_ms : tmo_ms > 0 && tmo_ms <= 86400000 ? (uint32_t)tmo_ms : 60000;
    /* Path switches, each 0 (never), 1 (wherever it applies) or -1 (unset: the default rule):
     * KWVK_WINOGRAD (ops_wino.c), KWVK_PW (1x1 and strided convs as a GEMM, ops_pw.c),
     * KWVK_CONV_SMALL (conv2d_small, ops_conv.c), KWVK_GPU_KERNELS (the kernel family; unset:
     * by device type, below). KWVK_KW_WINOGRAD=0: KW convs assemble plain [O, C, 3, 3]
     * kernels, never Winograd-domain ones. */
    ctx->winograd = env_tristate("KWVK_WINOGRAD");
    ctx->pw = env_tristate("KWVK_PW");
    ctx->conv_small = env_tristate("KWVK_CONV_SMALL");
    ctx->asm_small = env_tristate("KWVK_KW_ASM_SMALL");
    const int gpu_kernels = env_tristate("KWVK_GPU_KERNELS");
    ctx->kw_wino = env_tristate("KWVK_KW_WINOGRAD") != 0;
    const char *fault = getenv("KWVK_FAULT");
    ctx->fault = !fault                              ? KW_FAULT_NONE
                 : strcmp(fault, "device_lost") == 0 ? KW_FAULT_DEVICE_LOST
                 : strcmp(fault, "timeout") == 0     ? KW_FAULT_TIMEOUT
                                                     : KW_FAULT_NONE;
    ctx->lock = malloc(sizeof(pthread_mutex_t));
    if (!ctx->lock) {
        free(c);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init((pthread_mutex_t *)ctx->lock, &attr);
    pthread_mutexattr_destroy(&attr);

    const char *device = d.device ? d.device : getenv("KWVK_DEVICE");
    bool validation = d.enable_validation || env_flag("KWVK_VALIDATION");
    kwvk_result r = create_instance(ctx, validation, &d);
    if (r == KWVK_OK) r = choose_device(ctx, device);
    if (r == KWVK_OK) r = create_device(ctx, &d);
    if (r == KWVK_OK) r = kw_pipeline_cache_open(ctx, d.cache_dir);
    if (r == KWVK_OK) pin_loaded_libraries();
    if (r != KWVK_OK) {
        ctx_release(ctx);
        free(c);
        return r;
    }
    /* unset: GPU kernels where the device is not a CPU, unless KWVK_FORCE_FALLBACKS names "gpu"
     * (so the fallbacks test mode runs the lavapipe-shaped kernels on GPUs too) */
    ctx->gpu_kernels = gpu_kernels >= 0
                           ? gpu_kernels == 1
                           : ctx->info.device_type != VK_PHYSICAL_DEVICE_TYPE_CPU && !fallback_forced("gpu");
    kw_log(ctx, KWVK_LOG_INFO, "device: %s (%s), subgroup %u, max storage range %llu, %s kernels%s", ctx->info.name,
           ctx->info.driver_info, ctx->subgroup_size, (unsigned long long)ctx->max_storage_range,
           ctx->gpu_kernels ? "GPU" : "CPU-device", gpu_kernels >= 0 ? " (KWVK_GPU_KERNELS)" : "");
    *out = c;
    return KWVK_OK;
}

void kwvk_context_destroy(kwvk_context *c)
{
    if (!c) return;
    ctx_release(&c->c);
    free(c);
}

kwvk_result kwvk_context_device_info(const kwvk_context *c, kwvk_device_info *out)
{
    if (!c || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_context_device_info: NULL argument");
    *out = c->c.info;
    return KWVK_OK;
}

uint32_t kwvk_context_validation_messages(const kwvk_context *c)
{
    return c ? __atomic_load_n(&c->c.validation_messages, __ATOMIC_RELAXED) : 0;
}

void kwvk_context_memory_usage(const kwvk_context *c, uint64_t *current, uint64_t *peak)
{
    uint64_t used = 0, high = 0;
    if (c) { /* the counters change under the context's lock (memory.c) */
        kw_ctx *ctx = (kw_ctx *)(uintptr_t)&c->c;
        kw_ctx_lock(ctx);
        used = ctx->used;
        high = ctx->peak;
        kw_ctx_unlock(ctx);
    }
    if (current) *current = used;
    if (peak) *peak = high;
}

kwvk_result kwvk_enumerate_devices(kwvk_device_info *infos, uint32_t *count)
{
    if (!count) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_enumerate_devices: count is NULL");
    kw_ctx tmp = {0};
    KW_TRY(create_instance(&tmp, false, NULL));
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    kwvk_result r = list_devices(tmp.instance, &pds, &n);
    if (r == KWVK_OK) {
        if (infos) {
            uint32_t m = n < *count ? n : *count;
            for (uint32_t i = 0; i < m; i++) fill_info(pds[i], &infos[i]);
        }
        *count = n;
    } else if (r == KWVK_ERROR_NO_DEVICE) {
        *count = 0;
    }
    free(pds);
    vkDestroyInstance(tmp.instance, NULL);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Submission                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Fault injection for tests (ctx->fault, KWVK_FAULT at context creation): device_lost makes
 * every submission fail as if the device were lost; timeout makes every fence wait time out. */
static VkResult injected_fault(const kw_ctx *ctx)
{
    if (ctx->fault == KW_FAULT_DEVICE_LOST) return VK_ERROR_DEVICE_LOST;
    if (ctx->fault == KW_FAULT_TIMEOUT) return VK_TIMEOUT;
    return VK_SUCCESS;
}

kwvk_result kw_submit_wait(kw_ctx *ctx, VkCommandBuffer cmd)
{
    if (ctx->lost) return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost earlier; recreate the context");
    kw_ctx_lock(ctx);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    VkResult vr = injected_fault(ctx);
    if (vr == VK_ERROR_DEVICE_LOST) {
        ctx->lost = true;
        kw_ctx_unlock(ctx);
        return kw_fail(KWVK_ERROR_DEVICE_LOST, "vkQueueSubmit failed: VK_ERROR_DEVICE_LOST (injected by KWVK_FAULT)");
    }
    bool fake_timeout = vr == VK_TIMEOUT;
    vr = vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
    if (vr != VK_SUCCESS) {
        if (vr == VK_ERROR_DEVICE_LOST) ctx->lost = true;
        kw_ctx_unlock(ctx);
        return kw_vk_fail(vr, "vkQueueSubmit");
    }
    vr = vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, (uint64_t)ctx->timeout_ms * 1000000ull);
    if (fake_timeout && vr == VK_SUCCESS) vr = VK_TIMEOUT;
    if (vr == VK_TIMEOUT) {
        /* the fence must signal before it can be reset and reused: wait for real, once */
        vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, fake_timeout ? UINT64_MAX : 0);
        if (vkGetFenceStatus(ctx->device, ctx->fence) != VK_SUCCESS) ctx->lost = true;
        else vkResetFences(ctx->device, 1, &ctx->fence);
        kw_ctx_unlock(ctx);
        return kw_fail(KWVK_ERROR_TIMEOUT, "the GPU did not finish within %u ms", ctx->timeout_ms);
    }
    if (vr != VK_SUCCESS) {
        if (vr == VK_ERROR_DEVICE_LOST) ctx->lost = true;
        kw_ctx_unlock(ctx);
        return kw_vk_fail(vr, "vkWaitForFences");
    }
    vkResetFences(ctx->device, 1, &ctx->fence);
    kw_ctx_unlock(ctx);
    return KWVK_OK;
}

kwvk_result kw_begin_one_time(kw_ctx *ctx, VkCommandBuffer *cmd)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    /* the context's command pool is shared: hold the (recursive) lock until kw_end_one_time */
    kw_ctx_lock(ctx);
    VkResult vr = vkAllocateCommandBuffers(ctx->device, &ai, cmd);
    if (vr != VK_SUCCESS) {
        kw_ctx_unlock(ctx);
        return kw_vk_fail(vr, "vkAllocateCommandBuffers");
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vr = vkBeginCommandBuffer(*cmd, &bi);
    if (vr != VK_SUCCESS) {
        vkFreeCommandBuffers(ctx->device, ctx->cmd_pool, 1, cmd);
        kw_ctx_unlock(ctx);
        return kw_vk_fail(vr, "vkBeginCommandBuffer");
    }
    return KWVK_OK;
}

kwvk_result kw_end_one_time(kw_ctx *ctx, VkCommandBuffer cmd)
{
    VkResult vr = vkEndCommandBuffer(cmd);
    kwvk_result r = vr == VK_SUCCESS ? kw_submit_wait(ctx, cmd) : kw_vk_fail(vr, "vkEndCommandBuffer");
    vkFreeCommandBuffers(ctx->device, ctx->cmd_pool, 1, &cmd);
    kw_ctx_unlock(ctx); /* taken by kw_begin_one_time */
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Interop                                                                                  */
/* ---------------------------------------------------------------------------------------- */

kwvk_result kwvk_context_vulkan_handles(const kwvk_context *c, kwvk_vulkan_handles *out)
{
    if (!c || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_context_vulkan_handles: NULL argument");
    out->instance = (void *)c->c.instance;
    out->physical_device = (void *)c->c.phys;
    out->device = (void *)c->c.device;
    out->queue = (void *)c->c.queue;
    out->queue_family = c->c.queue_family;
    out->get_instance_proc_addr = (void *)(uintptr_t)vkGetInstanceProcAddr;
    return KWVK_OK;
}

void kwvk_context_queue_lock(kwvk_context *c)
{
    if (c) kw_ctx_lock(&c->c);
}

void kwvk_context_queue_unlock(kwvk_context *c)
{
    if (c) kw_ctx_unlock(&c->c);
}
