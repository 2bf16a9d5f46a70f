/* recorder.c - one checked dispatch helper: binds a pipeline with its buffers and push
 * constants, checks group counts and binding ranges, and inserts a barrier only where a
 * read-after-write, write-after-write or write-after-read hazard exists. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define SETS_PER_POOL 128

static kwvk_result add_pool(kw_rec *rec)
{
    VkDescriptorPool *pools = realloc(rec->pools, (rec->n_pools + 1) * sizeof *pools);
    if (!pools) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    rec->pools = pools;
    VkDescriptorPoolSize sizes[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * KW_MAX_BINDINGS},
                                     {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * KW_MAX_BINDINGS}};
    VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = SETS_PER_POOL,
                                     .poolSizeCount = 2,
                                     .pPoolSizes = sizes};
    VkResult vr = vkCreateDescriptorPool(rec->ctx->device, &ci, NULL, &rec->pools[rec->n_pools]);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateDescriptorPool");
    rec->n_pools++;
    rec->pool_used = 0;
    return KWVK_OK;
}

kwvk_result kw_rec_begin(kw_ctx *ctx, kw_rec *rec, uint32_t max_timestamps)
{
    memset(rec, 0, sizeof *rec);
    rec->ctx = ctx;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = ctx->queue_family};
    VkResult vr = vkCreateCommandPool(ctx->device, &pci, NULL, &rec->pool);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = rec->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    vr = vkAllocateCommandBuffers(ctx->device, &ai, &rec->cmd);
    if (vr != VK_SUCCESS) {
        kw_rec_release(rec);
        return kw_vk_fail(vr, "vkAllocateCommandBuffers");
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vr = vkBeginCommandBuffer(rec->cmd, &bi);
    if (vr != VK_SUCCESS) {
        kw_rec_release(rec);
        return kw_vk_fail(vr, "vkBeginCommandBuffer");
    }
    if (max_timestamps && ctx->feat.timestamps) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = max_timestamps};
        vr = vkCreateQueryPool(ctx->device, &qi, NULL, &rec->queries);
        if (vr != VK_SUCCESS) {
            kw_rec_release(rec);
            return kw_vk_fail(vr, "vkCreateQueryPool");
        }
        rec->cap_queries = max_timestamps;
        vkCmdResetQueryPool(rec->cmd, rec->queries, 0, max_timestamps);
    }
    kwvk_result r = add_pool(rec);
    if (r != KWVK_OK) kw_rec_release(rec);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Hazard tracking                                                                          */
/* ---------------------------------------------------------------------------------------- */

static bool overlaps(const kw_range_list *l, VkBuffer b, uint64_t off, uint64_t size)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const kw_written *w = &l->items[i];
        if (w->buffer == b && off < w->offset + w->size && w->offset < off + size) return true;
    }
    return false;
}

static kwvk_result push_range(kw_range_list *l, VkBuffer b, uint64_t off, uint64_t size)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 32;
        kw_written *items = realloc(l->items, cap * sizeof *items);
        if (!items) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (kw_written){b, off, size};
    return KWVK_OK;
}

void kw_rec_barrier(kw_rec *rec)
{
    if (rec->dry) return;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(rec->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    rec->written.n = 0;
    rec->read.n = 0;
    rec->n_barriers++;
}

/* Before an access of `n` ranges (bit i of `writes` set: range i is written), insert a
 * barrier if any range conflicts with what is pending, then record the ranges as pending. */
static kwvk_result track(kw_rec *rec, const VkBuffer *bufs, const uint64_t *offs, const uint64_t *sizes, uint32_t n,
                         uint32_t writes)
{
    bool hazard = false;
    for (uint32_t i = 0; i < n && !hazard; i++) {
        bool w = (writes >> i) & 1;
        hazard = overlaps(&rec->written, bufs[i], offs[i], sizes[i]) ||
                 (w && overlaps(&rec->read, bufs[i], offs[i], sizes[i]));
    }
    if (hazard) kw_rec_barrier(rec);
    for (uint32_t i = 0; i < n; i++)
        KW_TRY(push_range((writes >> i) & 1 ? &rec->written : &rec->read, bufs[i], offs[i], sizes[i]));
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch and copy                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* A uniform texel buffer binding: a VkBufferView of the view (R32 or RGBA32 float), kept by
 * the recording until kw_rec_release, and its descriptor write. */
static kwvk_result texel_write(kw_rec *rec, const char *name, uint32_t i, const kw_view *v, uint64_t size,
                               VkBufferView *view, VkWriteDescriptorSet *wr)
{
    kw_ctx *ctx = rec->ctx;
    if (!ctx->feat.texel_buffers)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "%s: binding %u needs texel buffers, which are off", name, i);
    if (v->texel != 4 && v->texel != 16)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: binding %u is a texel buffer; the view has no texel size",
                       name, i);
    if (size % v->texel || v->offset % ctx->props.limits.minTexelBufferOffsetAlignment)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: texel binding %u (%llu+%llu) is not aligned", name, i,
                       (unsigned long long)v->offset, (unsigned long long)size);
    if (size / v->texel > ctx->max_texel_elements)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "%s: binding %u has %llu texels, above the limit %llu", name, i,
                       (unsigned long long)(size / v->texel), (unsigned long long)ctx->max_texel_elements);
    if (rec->n_buffer_views == rec->cap_buffer_views) {
        uint32_t cap = rec->cap_buffer_views ? 2 * rec->cap_buffer_views : 64;
        VkBufferView *a = realloc(rec->buffer_views, cap * sizeof *a);
        if (!a) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        rec->buffer_views = a;
        rec->cap_buffer_views = cap;
    }
    VkBufferViewCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                                 .buffer = v->buf->buffer,
                                 .format = v->texel == 16 ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32_SFLOAT,
                                 .offset = v->offset,
                                 .range = size};
    VkResult vr = vkCreateBufferView(ctx->device, &ci, NULL, view);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateBufferView");
    rec->buffer_views[rec->n_buffer_views++] = *view;
    *wr = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                 .dstBinding = i,
                                 .descriptorCount = 1,
                                 .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                                 .pTexelBufferView = view};
    return KWVK_OK;
}

bool kw_grid(const kw_ctx *ctx, uint64_t inv, uint32_t lanes, uint32_t *gx, uint32_t *gy)
{
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    const uint64_t groups = (inv + lanes - 1) / lanes;
    if (inv > UINT32_MAX || groups == 0) return false;
    *gx = groups < lim[0] ? (uint32_t)groups : lim[0];
    const uint64_t y = (groups + *gx - 1) / *gx;
    if (y > lim[1]) return false;
    *gy = (uint32_t)y;
    return true;
}

kwvk_result kw_rec_dispatch(kw_rec *rec, const kw_pipeline *pipe, const kw_view *views, uint32_t n_views,
                            uint32_t writes, const void *push, uint32_t push_bytes, uint32_t gx, uint32_t gy,
                            uint32_t gz)
{
    kw_ctx *ctx = rec->ctx;
    const char *name = pipe->shader->name;
    if (n_views != pipe->shader->n_bindings)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: %u bindings given, the shader declares %u", name, n_views,
                       pipe->shader->n_bindings);
    if (push_bytes > KW_PUSH_BYTES)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: %u bytes of push constants", name, push_bytes);
    if (rec->dry) return KWVK_OK;
    const uint32_t *lim = ctx->props.limits.maxComputeWorkGroupCount;
    if (gx == 0 || gy == 0 || gz == 0) return KWVK_OK; /* nothing to do */
    if (gx > lim[0] || gy > lim[1] || gz > lim[2])
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "%s: %u x %u x %u workgroups exceed the device limit %u x %u x %u",
                       name, gx, gy, gz, lim[0], lim[1], lim[2]);

    VkBuffer bufs[KW_MAX_BINDINGS];
    uint64_t offs[KW_MAX_BINDINGS], sizes[KW_MAX_BINDINGS];
    VkDescriptorBufferInfo infos[KW_MAX_BINDINGS];
    VkBufferView texel_views[KW_MAX_BINDINGS];
    VkWriteDescriptorSet wr[KW_MAX_BINDINGS];
    for (uint32_t i = 0; i < n_views; i++) {
        const kw_view *v = &views[i];
        if (!v->buf || !v->buf->buffer)
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: binding %u has no buffer", name, i);
        uint64_t size = v->size ? v->size : v->buf->size - v->offset;
        if (v->offset > v->buf->size || size > v->buf->size - v->offset)
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: binding %u range %llu+%llu exceeds its buffer (%llu)",
                           name, i, (unsigned long long)v->offset, (unsigned long long)size,
                           (unsigned long long)v->buf->size);
        bufs[i] = v->buf->buffer;
        offs[i] = v->offset;
        sizes[i] = size;
        if (pipe->shader->texel_mask >> i & 1) {
            KW_TRY(texel_write(rec, name, i, v, size, &texel_views[i], &wr[i]));
            continue;
        }
        if (v->texel)
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: binding %u is a storage buffer, given a texel view", name, i);
        if (size > ctx->max_storage_range)
            return kw_fail(KWVK_ERROR_UNSUPPORTED, "%s: binding %u is %llu bytes, above the storage range limit %llu",
                           name, i, (unsigned long long)size, (unsigned long long)ctx->max_storage_range);
        if (v->offset % ctx->props.limits.minStorageBufferOffsetAlignment)
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: binding %u offset %llu is not aligned to %llu", name, i,
                           (unsigned long long)v->offset,
                           (unsigned long long)ctx->props.limits.minStorageBufferOffsetAlignment);
        infos[i] = (VkDescriptorBufferInfo){v->buf->buffer, v->offset, size};
        wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                       .dstBinding = i,
                                       .descriptorCount = 1,
                                       .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       .pBufferInfo = &infos[i]};
    }
    if (rec->pool_used == SETS_PER_POOL) KW_TRY(add_pool(rec));
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = rec->pools[rec->n_pools - 1],
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &pipe->set_layout};
    VkDescriptorSet set;
    VkResult vr = vkAllocateDescriptorSets(ctx->device, &ai, &set);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkAllocateDescriptorSets");
    rec->pool_used++;
    for (uint32_t i = 0; i < n_views; i++) wr[i].dstSet = set;
    vkUpdateDescriptorSets(ctx->device, n_views, wr, 0, NULL);

    KW_TRY(track(rec, bufs, offs, sizes, n_views, writes));
    vkCmdBindPipeline(rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe->pipeline);
    vkCmdBindDescriptorSets(rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe->layout, 0, 1, &set, 0, NULL);
    uint8_t pc[KW_PUSH_BYTES] = {0};
    if (push_bytes) memcpy(pc, push, push_bytes);
    vkCmdPushConstants(rec->cmd, pipe->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, KW_PUSH_BYTES, pc);
    vkCmdDispatch(rec->cmd, gx, gy, gz);
    rec->n_dispatches++;
    return KWVK_OK;
}

kwvk_result kw_rec_copy(kw_rec *rec, kw_view src, kw_view dst, uint64_t size)
{
    if (!src.buf || !dst.buf || src.offset + size > src.buf->size || dst.offset + size > dst.buf->size)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "copy of %llu bytes out of range", (unsigned long long)size);
    if (size == 0 || rec->dry) return KWVK_OK;
    VkBuffer bufs[2] = {src.buf->buffer, dst.buf->buffer};
    uint64_t offs[2] = {src.offset, dst.offset}, sizes[2] = {size, size};
    KW_TRY(track(rec, bufs, offs, sizes, 2, 2u));
    VkBufferCopy region = {src.offset, dst.offset, size};
    vkCmdCopyBuffer(rec->cmd, src.buf->buffer, dst.buf->buffer, 1, &region);
    return KWVK_OK;
}

void kw_rec_timestamp(kw_rec *rec, uint32_t *index)
{
    if (rec->dry || !rec->queries || rec->n_queries >= rec->cap_queries) {
        if (index) *index = KW_NONE;
        return;
    }
    vkCmdWriteTimestamp(rec->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, rec->queries, rec->n_queries);
    if (index) *index = rec->n_queries;
    rec->n_queries++;
}

kwvk_result kw_rec_end(kw_rec *rec)
{
    /* make the results visible to the host after the fence */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(rec->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult vr = vkEndCommandBuffer(rec->cmd);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkEndCommandBuffer");
    free(rec->written.items);
    free(rec->read.items);
    memset(&rec->written, 0, sizeof rec->written);
    memset(&rec->read, 0, sizeof rec->read);
    return KWVK_OK;
}

void kw_rec_release(kw_rec *rec)
{
    if (!rec || !rec->ctx) return;
    VkDevice dev = rec->ctx->device;
    /* after a fence time-out the GPU may still be executing this command buffer: let it
     * finish (or the driver report the device lost) before its pools are destroyed */
    if (rec->ctx->lost) vkDeviceWaitIdle(dev);
    for (uint32_t i = 0; i < rec->n_pools; i++) vkDestroyDescriptorPool(dev, rec->pools[i], NULL);
    free(rec->pools);
    for (uint32_t i = 0; i < rec->n_buffer_views; i++) vkDestroyBufferView(dev, rec->buffer_views[i], NULL);
    free(rec->buffer_views);
    if (rec->queries) vkDestroyQueryPool(dev, rec->queries, NULL);
    if (rec->pool) vkDestroyCommandPool(dev, rec->pool, NULL); /* frees rec->cmd */
    free(rec->written.items);
    free(rec->read.items);
    memset(rec, 0, sizeof *rec);
}
