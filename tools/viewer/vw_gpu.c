/* vw_gpu.c - see vw_gpu.h. */
#include "vw_gpu.h"

#include "vw_font.h"
#include "vw_layout.h"
#include "tool_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_comp.spv.h"

#define PUSH_BYTES 128
#define MAX_SETS 16

const char *vw_vk_result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_SUBOPTIMAL_KHR: return "VK_SUBOPTIMAL_KHR";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_SURFACE_LOST_KHR: return "VK_ERROR_SURFACE_LOST_KHR";
    case VK_ERROR_NATIVE_WINDOW_IN_USE_KHR: return "VK_ERROR_NATIVE_WINDOW_IN_USE_KHR";
    case VK_ERROR_OUT_OF_DATE_KHR: return "VK_ERROR_OUT_OF_DATE_KHR";
    default: return "VkResult error";
    }
}

int vw_vk_fail(VkResult r, const char *what, char *err, size_t err_len)
{
    if (r == VK_ERROR_DEVICE_LOST) snprintf(err, err_len, "the GPU device was lost (%s)", what);
    else snprintf(err, err_len, "%s failed: %s (%d)", what, vw_vk_result_name(r), (int)r);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static int find_memory(const vw_gpu *g, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags nice)
{
    for (int pass = 0; pass < 2; pass++) {
        VkMemoryPropertyFlags need = pass == 0 ? (want | nice) : want;
        for (uint32_t i = 0; i < g->memp.memoryTypeCount; i++)
            if ((bits & (1u << i)) && (g->memp.memoryTypes[i].propertyFlags & need) == need) return (int)i;
    }
    return -1;
}

int vw_buf_create(vw_gpu *g, VkDeviceSize size, VkBufferUsageFlags usage, int host_visible, vw_buf *b, char *err,
                  size_t err_len)
{
    memset(b, 0, sizeof *b);
    size = (size + 15) & ~(VkDeviceSize)15;
    if (size == 0) size = 16;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = usage,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = g->vk.CreateBuffer(g->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateBuffer", err, err_len);
    VkMemoryRequirements req;
    g->vk.GetBufferMemoryRequirements(g->dev, b->buf, &req);
    int type = host_visible ? find_memory(g, req.memoryTypeBits,
                                          VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0)
                            : find_memory(g, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) {
        vw_buf_destroy(g, b);
        snprintf(err, err_len, "no suitable Vulkan memory type for a %s buffer", host_visible ? "host-visible" : "device");
        return -1;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    r = g->vk.AllocateMemory(g->dev, &ai, NULL, &b->mem);
    if (r == VK_SUCCESS) r = g->vk.BindBufferMemory(g->dev, b->buf, b->mem, 0);
    if (r == VK_SUCCESS && host_visible) r = g->vk.MapMemory(g->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        vw_buf_destroy(g, b);
        return vw_vk_fail(r, "allocating buffer memory", err, err_len);
    }
    b->size = size;
    return 0;
}

void vw_buf_destroy(vw_gpu *g, vw_buf *b)
{
    if (b->map) g->vk.UnmapMemory(g->dev, b->mem);
    if (b->buf) g->vk.DestroyBuffer(g->dev, b->buf, NULL);
    if (b->mem) g->vk.FreeMemory(g->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------------------------------- */
/* Device objects                                                                           */
/* ---------------------------------------------------------------------------------------- */

static int make_compute(vw_gpu *g, const uint32_t *code, size_t bytes, VkPipeline *out, char *err, size_t err_len)
{
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = bytes, .pCode = code};
    VkShaderModule mod;
    VkResult r = g->vk.CreateShaderModule(g->dev, &mi, NULL, &mod);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateShaderModule", err, err_len);
    VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                                .module = mod,
                                                .pName = "main"},
                                      .layout = g->layout};
    r = g->vk.CreateComputePipelines(g->dev, VK_NULL_HANDLE, 1, &ci, NULL, out);
    g->vk.DestroyShaderModule(g->dev, mod, NULL);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateComputePipelines", err, err_len);
    return 0;
}

int vw_gpu_init(vw_gpu *g, kwvk_context *kctx, char *err, size_t err_len)
{
    memset(g, 0, sizeof *g);
    g->kctx = kctx;
    kwvk_vulkan_handles h;
    if (kwvk_context_vulkan_handles(kctx, &h) != KWVK_OK) {
        snprintf(err, err_len, "kwvk_context_vulkan_handles: %s", kwvk_last_error());
        return -1;
    }
    if (vw_vk_load(&g->vk, &h, err, err_len)) return -1;
    /* set only with the table loaded: vw_gpu_destroy calls through it when dev is set */
    g->instance = (VkInstance)h.instance;
    g->phys = (VkPhysicalDevice)h.physical_device;
    g->dev = (VkDevice)h.device;
    g->queue = (VkQueue)h.queue;
    g->queue_family = h.queue_family;
    g->vk.GetPhysicalDeviceProperties(g->phys, &g->props);
    g->vk.GetPhysicalDeviceMemoryProperties(g->phys, &g->memp);

    VkDescriptorSetLayoutBinding b[VW_B_COUNT];
    for (uint32_t i = 0; i < VW_B_COUNT; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT | VK_SHADER_STAGE_FRAGMENT_BIT};
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = VW_B_COUNT,
                                          .pBindings = b};
    VkResult r = g->vk.CreateDescriptorSetLayout(g->dev, &li, NULL, &g->set_layout);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateDescriptorSetLayout", err, err_len);
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, .size = PUSH_BYTES};
    VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &g->set_layout,
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &pr};
    r = g->vk.CreatePipelineLayout(g->dev, &pli, NULL, &g->layout);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreatePipelineLayout", err, err_len);
    if (make_compute(g, convert_comp, sizeof convert_comp, &g->convert, err, err_len)) return -1;

    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = MAX_SETS * VW_B_COUNT};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT,
                                      .maxSets = MAX_SETS,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    r = g->vk.CreateDescriptorPool(g->dev, &dpi, NULL, &g->desc_pool);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateDescriptorPool", err, err_len);
    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = g->queue_family};
    r = g->vk.CreateCommandPool(g->dev, &cpi, NULL, &g->cmd_pool);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateCommandPool", err, err_len);

    const VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    if (vw_buf_create(g, sizeof(uint32_t) * VW_FONT_WORDS, storage, 1, &g->glyphs, err, err_len) ||
        vw_buf_create(g, 256, storage, 1, &g->dummy, err, err_len))
        return -1;
    vw_font_pack((uint32_t *)g->glyphs.map);
    memset(g->dummy.map, 0, 256);
    return 0;
}

void vw_gpu_destroy(vw_gpu *g)
{
    if (!g->dev) return;
    g->vk.DeviceWaitIdle(g->dev);
    vw_buf_destroy(g, &g->glyphs);
    vw_buf_destroy(g, &g->dummy);
    if (g->cmd_pool) g->vk.DestroyCommandPool(g->dev, g->cmd_pool, NULL);
    if (g->desc_pool) g->vk.DestroyDescriptorPool(g->dev, g->desc_pool, NULL);
    if (g->convert) g->vk.DestroyPipeline(g->dev, g->convert, NULL);
    if (g->layout) g->vk.DestroyPipelineLayout(g->dev, g->layout, NULL);
    if (g->set_layout) g->vk.DestroyDescriptorSetLayout(g->dev, g->set_layout, NULL);
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------------------------------- */
/* Models                                                                                   */
/* ---------------------------------------------------------------------------------------- */

int vw_model_load(vw_gpu *g, const char *path, vw_model *m, char *err, size_t err_len)
{
    memset(m, 0, sizeof *m);
    m->path = path;
    kwvk_result r = kwvk_model_load_file(path, &m->model);
    if (r != KWVK_OK) {
        snprintf(err, err_len, "cannot load the model %s: %s", path,
                 kwvk_last_error()[0] ? kwvk_last_error() : kwvk_result_name(r));
        return -1;
    }
    kwvk_model_get_info(m->model, &m->info);
    m->c = m->info.input_channels;
    m->h = m->info.input_height;
    m->w = m->info.input_width;
    if (m->info.resize_short && m->info.crop) m->h = m->w = m->info.crop;
    m->classes = m->info.num_classes;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(m->short_name, sizeof m->short_name, "%s", base);
    char *dot = strrchr(m->short_name, '.');
    if (dot && dot != m->short_name) *dot = 0;
    uint32_t n = m->classes ? m->classes : 1;
    if (vw_buf_create(g, (VkDeviceSize)n * VW_LABEL_BYTES, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1, &m->labels, err,
                      err_len)) {
        vw_model_release(g, m);
        return -1;
    }
    char *dst = m->labels.map;
    memset(dst, 0, (size_t)n * VW_LABEL_BYTES);
    for (uint32_t i = 0; i < m->classes; i++) {
        const char *l = kwvk_model_label(m->model, i);
        char tmp[VW_LABEL_BYTES + 1];
        if (l && l[0]) snprintf(tmp, sizeof tmp, "%s", l);
        else snprintf(tmp, sizeof tmp, "class %u", i);
        memcpy(dst + (size_t)i * VW_LABEL_BYTES, tmp, strlen(tmp)); /* NUL padded by the memset */
    }
    return 0;
}

void vw_model_release(vw_gpu *g, vw_model *m)
{
    vw_buf_destroy(g, &m->labels);
    kwvk_model_destroy(m->model);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------- */
/* Slots                                                                                    */
/* ---------------------------------------------------------------------------------------- */

int vw_slot_init(vw_gpu *g, vw_slot *s, const vw_model *m, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    s->model = m;
    if (vw_buf_create(g, sizeof(vw_topk_result), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1, &s->topk, err, err_len)) return -1;
    memset(s->topk.map, 0, sizeof(vw_topk_result));
    return 0;
}

void vw_slot_release(vw_gpu *g, vw_slot *s)
{
    vw_buf *bufs[] = {&s->raw, &s->frame, &s->topk};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vw_buf_destroy(g, bufs[i]);
    memset(s, 0, sizeof *s);
}

int vw_set_alloc(vw_gpu *g, VkDescriptorSet *set, char *err, size_t err_len)
{
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = g->desc_pool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &g->set_layout};
    VkResult r = g->vk.AllocateDescriptorSets(g->dev, &ai, set);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkAllocateDescriptorSets", err, err_len);
    return 0;
}

static int ensure_buf(vw_gpu *g, vw_buf *b, VkDeviceSize size, int host_visible, char *err, size_t err_len)
{
    if (b->buf && b->size >= size) return 0;
    vw_buf_destroy(g, b);
    return vw_buf_create(g, size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT, host_visible, b,
                         err, err_len);
}

int vw_slot_upload(vw_gpu *g, vw_slot *s, const vw_frame *f, char *err, size_t err_len)
{
    if (f->w < 1 || f->h < 1 || f->w > 16384 || f->h > 16384) {
        snprintf(err, err_len, "frame size %dx%d out of range", f->w, f->h);
        return -1;
    }
    size_t min_stride = f->fmt == VW_PIX_YUYV ? (size_t)((f->w + 1) / 2) * 4 : (size_t)f->w * 3;
    if (f->stride < min_stride) {
        snprintf(err, err_len, "frame line of %zu bytes is shorter than %zu", f->stride, min_stride);
        return -1;
    }
    size_t bytes = f->stride * (size_t)f->h;
    if (ensure_buf(g, &s->raw, bytes + 4, 1, err, err_len) ||
        ensure_buf(g, &s->frame, (VkDeviceSize)f->w * f->h * 4, 0, err, err_len))
        return -1;
    memcpy(s->raw.map, f->data, bytes);
    s->fw = f->w;
    s->fh = f->h;
    s->fmt = f->fmt;
    s->stride = f->stride;
    s->have_frame = 1;
    s->converted = 0;
    return 0;
}

void vw_write_set(vw_gpu *g, VkDescriptorSet set, const vw_slot *d, const vw_buf *text)
{
    VkDescriptorBufferInfo bi[VW_B_COUNT];
    VkWriteDescriptorSet w[VW_B_COUNT];
    const vw_buf *bufs[VW_B_COUNT] = {&d->raw, &d->frame, &d->topk, text, &d->model->labels, &g->glyphs};
    for (uint32_t i = 0; i < VW_B_COUNT; i++) {
        if (bufs[i] && bufs[i]->buf)
            bi[i] = (VkDescriptorBufferInfo){bufs[i]->buf, 0, VK_WHOLE_SIZE};
        else bi[i] = (VkDescriptorBufferInfo){g->dummy.buf, 0, VK_WHOLE_SIZE};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    g->vk.UpdateDescriptorSets(g->dev, VW_B_COUNT, w, 0, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Recording                                                                                */
/* ---------------------------------------------------------------------------------------- */

static void barrier(const vw_gpu *g, VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                    VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src_access, .dstAccessMask = dst_access};
    g->vk.CmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

static void push(vw_gpu *g, VkCommandBuffer cmd, const void *data, uint32_t bytes)
{
    g->vk.CmdPushConstants(cmd, g->layout, VK_SHADER_STAGE_COMPUTE_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, bytes, data);
}

static uint32_t groups(uint32_t n, uint32_t per) { return (n + per - 1) / per; }

void vw_record_convert(vw_gpu *g, VkCommandBuffer cmd, VkDescriptorSet set, const vw_slot *s)
{
    /* an earlier draw or copy may still read this slot's frame buffer */
    barrier(g, cmd, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT);
    g->vk.CmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, g->layout, 0, 1, &set, 0, NULL);
    struct {
        uint32_t w, h, stride, fmt;
    } pc = {(uint32_t)s->fw, (uint32_t)s->fh, (uint32_t)s->stride, (uint32_t)s->fmt};
    g->vk.CmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, g->convert);
    push(g, cmd, &pc, sizeof pc);
    g->vk.CmdDispatch(cmd, groups((uint32_t)s->fw, 16), groups((uint32_t)s->fh, 16), 1);
    barrier(g, cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
            VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);
}

/* ---------------------------------------------------------------------------------------- */
/* Inference through the library                                                            */
/* ---------------------------------------------------------------------------------------- */

kwvk_image vw_frame_image(const vw_frame *f)
{
    kwvk_image im = {0};
    im.format = f->fmt == VW_PIX_YUYV ? KWVK_PIXEL_YUYV : KWVK_PIXEL_RGB8;
    im.width = (uint32_t)f->w;
    im.height = (uint32_t)f->h;
    im.stride = (uint32_t)f->stride;
    im.data = f->data;
    return im;
}

static int kwvk_fail(kwvk_result r, const char *what, char *err, size_t err_len)
{
    const char *msg = kwvk_last_error()[0] ? kwvk_last_error() : kwvk_result_name(r);
    if (r == KWVK_ERROR_DEVICE_LOST) snprintf(err, err_len, "the GPU device was lost (%s: %s)", what, msg);
    else snprintf(err, err_len, "%s: %s", what, msg);
    return -1;
}

int vw_infer_init(vw_infer *in, kwvk_context *kctx, const vw_model *m, char *err, size_t err_len)
{
    memset(in, 0, sizeof *in);
    in->model = m;
    if (m->classes < 1) {
        snprintf(err, err_len, "%s: the model has no classes to label frames with", m->path);
        return -1;
    }
    in->logits = calloc(m->classes ? m->classes : 1, sizeof(float));
    if (!in->logits) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    kwvk_net_desc nd = {.max_in_flight = VW_JOBS};
    kwvk_result r = kwvk_net_create(kctx, m->model, &nd, &in->net);
    if (r != KWVK_OK) {
        char what[600];
        snprintf(what, sizeof what, "%s: network setup", m->path);
        vw_infer_release(in);
        return kwvk_fail(r, what, err, err_len);
    }
    return 0;
}

void vw_infer_release(vw_infer *in)
{
    for (int i = 0; i < in->n; i++) kwvk_job_destroy(in->job[i]); /* waits for the GPU */
    kwvk_net_destroy(in->net);
    free(in->logits);
    memset(in, 0, sizeof *in);
}

int vw_infer_start(vw_infer *in, const vw_frame *f, int slot, char *err, size_t err_len)
{
    if (in->n >= VW_JOBS) return 1;
    kwvk_image im = vw_frame_image(f);
    kwvk_job *job = NULL;
    kwvk_result r = kwvk_net_start_images(in->net, &im, 1, &job);
    if (r == KWVK_ERROR_BUSY) return 1;
    if (r != KWVK_OK) return kwvk_fail(r, "kwvk_net_start_images", err, err_len);
    in->job[in->n] = job;
    in->slot[in->n] = slot;
    in->t0[in->n] = tu_now_ms();
    in->n++;
    return 0;
}

int vw_infer_poll(vw_infer *in, vw_topk_result *res, int *slot, double *ms, char *err, size_t err_len)
{
    if (in->n == 0) return 0;
    int done = 0;
    kwvk_result r = kwvk_job_poll(in->job[0], &done);
    if (r != KWVK_OK) return kwvk_fail(r, "kwvk_job_poll", err, err_len);
    if (!done) return 0;
    *ms = tu_now_ms() - in->t0[0];
    *slot = in->slot[0];
    uint32_t n = in->model->classes;
    r = kwvk_job_output(in->job[0], in->logits, n);
    kwvk_job_destroy(in->job[0]);
    in->n--;
    for (int i = 0; i < in->n; i++) {
        in->job[i] = in->job[i + 1];
        in->slot[i] = in->slot[i + 1];
        in->t0[i] = in->t0[i + 1];
    }
    if (r != KWVK_OK) return kwvk_fail(r, "kwvk_job_output", err, err_len);
    kwvk_class_score top[VW_TOPK];
    uint32_t k = n < VW_TOPK ? n : VW_TOPK;
    r = kwvk_top_k(in->model->model, in->logits, n, k, KWVK_SCORES_SOFTMAX, top);
    if (r != KWVK_OK) return kwvk_fail(r, "kwvk_top_k", err, err_len);
    memset(res, 0, sizeof *res);
    for (uint32_t j = 0; j < 4; j++) res->idx[j] = j < k ? top[j].index : 0xFFFFFFFFu;
    for (uint32_t j = 0; j < k; j++) res->prob[j] = top[j].score;
    res->count = k;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* One-off submissions                                                                      */
/* ---------------------------------------------------------------------------------------- */

int vw_cmd_begin(vw_gpu *g, VkCommandBuffer *cmd, char *err, size_t err_len)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = g->cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkResult r = g->vk.AllocateCommandBuffers(g->dev, &ai, cmd);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkAllocateCommandBuffers", err, err_len);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    r = g->vk.BeginCommandBuffer(*cmd, &bi);
    if (r != VK_SUCCESS) {
        g->vk.FreeCommandBuffers(g->dev, g->cmd_pool, 1, cmd);
        return vw_vk_fail(r, "vkBeginCommandBuffer", err, err_len);
    }
    return 0;
}

int vw_cmd_submit_wait(vw_gpu *g, VkCommandBuffer cmd, char *err, size_t err_len)
{
    VkResult r = g->vk.EndCommandBuffer(cmd);
    VkFence fence = VK_NULL_HANDLE;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS) r = g->vk.CreateFence(g->dev, &fi, NULL, &fence);
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
        kwvk_context_queue_lock(g->kctx);
        r = g->vk.QueueSubmit(g->queue, 1, &si, fence);
        kwvk_context_queue_unlock(g->kctx);
    }
    if (r == VK_SUCCESS) r = g->vk.WaitForFences(g->dev, 1, &fence, VK_TRUE, 60ull * 1000000000ull);
    if (fence) g->vk.DestroyFence(g->dev, fence, NULL);
    g->vk.FreeCommandBuffers(g->dev, g->cmd_pool, 1, &cmd);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "a one-off GPU submission", err, err_len);
    return 0;
}

int vw_download(vw_gpu *g, const vw_buf *src, VkDeviceSize size, void *dst, char *err, size_t err_len)
{
    vw_buf host;
    if (vw_buf_create(g, size, VK_BUFFER_USAGE_TRANSFER_DST_BIT, 1, &host, err, err_len)) return -1;
    VkCommandBuffer cmd;
    if (vw_cmd_begin(g, &cmd, err, err_len)) {
        vw_buf_destroy(g, &host);
        return -1;
    }
    barrier(g, cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_TRANSFER_READ_BIT);
    VkBufferCopy region = {0, 0, size};
    g->vk.CmdCopyBuffer(cmd, src->buf, host.buf, 1, &region);
    barrier(g, cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT);
    int r = vw_cmd_submit_wait(g, cmd, err, err_len);
    if (r == 0) memcpy(dst, host.map, size);
    vw_buf_destroy(g, &host);
    return r;
}
