/* memory.c - device buffers sub-allocated from large VkDeviceMemory blocks, staging copies,
 * and the context's device-memory budget. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define KW_BLOCK_BYTES (64ull << 20)
#define KW_STAGING_CHUNK (16ull << 20)

typedef struct kw_range {
    uint64_t offset, size;
} kw_range;

struct kw_block {
    VkDeviceMemory memory;
    uint64_t size;
    uint32_t type_index;
    kw_mem_kind kind;
    void *mapped;
    kw_range *free; /* sorted by offset, coalesced */
    uint32_t n_free, cap_free;
    uint32_t live; /* buffers in this block */
    kw_block *next;
};

/* ---------------------------------------------------------------------------------------- */
/* Memory types                                                                             */
/* ---------------------------------------------------------------------------------------- */

static int find_type(const kw_ctx *ctx, uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags want)
{
    int fallback = -1;
    for (uint32_t i = 0; i < ctx->mem_props.memoryTypeCount; i++) {
        if (!(bits & (1u << i))) continue;
        VkMemoryPropertyFlags f = ctx->mem_props.memoryTypes[i].propertyFlags;
        if ((f & need) != need) continue;
        if ((f & want) == want) return (int)i;
        if (fallback < 0) fallback = (int)i;
    }
    return fallback;
}

static int type_for(const kw_ctx *ctx, uint32_t bits, kw_mem_kind kind)
{
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    switch (kind) {
    case KW_MEM_DEVICE:
        if (ctx->feat.host_visible_device_local) {
            int t = find_type(ctx, bits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | hv, 0);
            if (t >= 0) return t;
        }
        /* a device-local type that is not host-visible when one exists (discrete GPUs) */
        for (uint32_t i = 0; i < ctx->mem_props.memoryTypeCount; i++) {
            VkMemoryPropertyFlags f = ctx->mem_props.memoryTypes[i].propertyFlags;
            if ((bits & (1u << i)) && (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
                (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) || !ctx->feat.host_visible_device_local))
                return (int)i;
        }
        return find_type(ctx, bits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    case KW_MEM_UPLOAD: return find_type(ctx, bits, hv, 0);
    case KW_MEM_DOWNLOAD: return find_type(ctx, bits, hv, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Blocks and ranges                                                                        */
/* ---------------------------------------------------------------------------------------- */

static bool block_take(kw_block *b, uint64_t size, uint64_t align, uint64_t *offset)
{
    for (uint32_t i = 0; i < b->n_free; i++) {
        kw_range *r = &b->free[i];
        uint64_t start = (r->offset + align - 1) / align * align;
        if (start + size > r->offset + r->size) continue;
        uint64_t end = start + size, r_end = r->offset + r->size;
        /* split r into [r.offset, start) and [end, r_end) */
        if (start > r->offset && end < r_end) {
            if (b->n_free == b->cap_free) {
                uint32_t cap = b->cap_free ? b->cap_free * 2 : 8;
                kw_range *nr = realloc(b->free, cap * sizeof *nr);
                if (!nr) return false;
                b->free = nr;
                b->cap_free = cap;
                r = &b->free[i];
            }
            memmove(&b->free[i + 2], &b->free[i + 1], (b->n_free - i - 1) * sizeof *r);
            b->free[i + 1] = (kw_range){end, r_end - end};
            r->size = start - r->offset;
            b->n_free++;
        } else if (start > r->offset) {
            r->size = start - r->offset;
        } else if (end < r_end) {
            r->offset = end;
            r->size = r_end - end;
        } else {
            memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *r);
            b->n_free--;
        }
        *offset = start;
        return true;
    }
    return false;
}

static bool block_give(kw_block *b, uint64_t offset, uint64_t size)
{
    uint32_t i = 0;
    while (i < b->n_free && b->free[i].offset < offset) i++;
    bool merge_prev = i > 0 && b->free[i - 1].offset + b->free[i - 1].size == offset;
    bool merge_next = i < b->n_free && offset + size == b->free[i].offset;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof(kw_range));
        b->n_free--;
    } else if (merge_prev) {
        b->free[i - 1].size += size;
    } else if (merge_next) {
        b->free[i].offset = offset;
        b->free[i].size += size;
    } else {
        if (b->n_free == b->cap_free) {
            uint32_t cap = b->cap_free ? b->cap_free * 2 : 8;
            kw_range *nr = realloc(b->free, cap * sizeof *nr);
            if (!nr) return false;
            b->free = nr;
            b->cap_free = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (b->n_free - i) * sizeof(kw_range));
        b->free[i] = (kw_range){offset, size};
        b->n_free++;
    }
    return true;
}

static void block_destroy(kw_ctx *ctx, kw_block *b)
{
    if (b->mapped) vkUnmapMemory(ctx->device, b->memory);
    vkFreeMemory(ctx->device, b->memory, NULL);
    free(b->free);
    free(b);
}

static kwvk_result block_create(kw_ctx *ctx, uint64_t size, uint32_t type, kw_mem_kind kind, kw_block **out)
{
    kw_block *b = calloc(1, sizeof *b);
    if (!b) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = size,
                               .memoryTypeIndex = type};
    VkResult vr = vkAllocateMemory(ctx->device, &ai, NULL, &b->memory);
    if (vr != VK_SUCCESS) {
        free(b);
        if (vr == VK_ERROR_OUT_OF_DEVICE_MEMORY || vr == VK_ERROR_OUT_OF_HOST_MEMORY)
            return kw_fail(KWVK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory of %llu bytes failed: %s",
                           (unsigned long long)size, kw_vk_result_name(vr));
        return kw_vk_fail(vr, "vkAllocateMemory");
    }
    if (ctx->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        vr = vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
        if (vr != VK_SUCCESS) {
            vkFreeMemory(ctx->device, b->memory, NULL);
            free(b);
            return kw_vk_fail(vr, "vkMapMemory");
        }
    }
    b->size = size;
    b->type_index = type;
    b->kind = kind;
    b->free = malloc(8 * sizeof *b->free);
    if (!b->free) {
        block_destroy(ctx, b);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    b->cap_free = 8;
    b->free[0] = (kw_range){0, size};
    b->n_free = 1;
    *out = b;
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

kwvk_result kw_buffer_create(kw_ctx *ctx, uint64_t size, kw_mem_kind kind, kw_buffer *out)
{
    memset(out, 0, sizeof *out);
    if (size == 0) size = 16;
    size = (size + 15) & ~(uint64_t)15;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer buf;
    VkResult vr = vkCreateBuffer(ctx->device, &bci, NULL, &buf);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, buf, &req);
    int type = type_for(ctx, req.memoryTypeBits, kind);
    if (type < 0) {
        vkDestroyBuffer(ctx->device, buf, NULL);
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "no suitable Vulkan memory type for a %s buffer",
                       kind == KW_MEM_DEVICE ? "device" : "staging");
    }
    uint64_t align = req.alignment ? req.alignment : 16;
    if (align < ctx->props.limits.minStorageBufferOffsetAlignment) align = ctx->props.limits.minStorageBufferOffsetAlignment;

    kw_ctx_lock(ctx);
    if (ctx->budget && ctx->used + req.size > ctx->budget) {
        uint64_t used = ctx->used;
        kw_ctx_unlock(ctx);
        vkDestroyBuffer(ctx->device, buf, NULL);
        return kw_fail(KWVK_ERROR_OUT_OF_DEVICE_MEMORY,
                       "device-memory budget exceeded: %llu bytes in use, %llu requested, budget %llu",
                       (unsigned long long)used, (unsigned long long)req.size, (unsigned long long)ctx->budget);
    }
    kw_block *b = NULL;
    uint64_t offset = 0;
    for (kw_block *it = ctx->blocks; it; it = it->next)
        if (it->type_index == (uint32_t)type && it->kind == kind && block_take(it, req.size, align, &offset)) {
            b = it;
            break;
        }
    if (!b) {
        uint64_t bsize = req.size > KW_BLOCK_BYTES ? req.size : KW_BLOCK_BYTES;
        if (kind != KW_MEM_DEVICE && req.size <= KW_STAGING_CHUNK) bsize = KW_STAGING_CHUNK;
        kwvk_result r = block_create(ctx, bsize, (uint32_t)type, kind, &b);
        if (r != KWVK_OK && bsize > req.size) r = block_create(ctx, req.size, (uint32_t)type, kind, &b);
        if (r != KWVK_OK) {
            kw_ctx_unlock(ctx);
            vkDestroyBuffer(ctx->device, buf, NULL);
            return r;
        }
        b->next = ctx->blocks;
        ctx->blocks = b;
        if (!block_take(b, req.size, align, &offset)) {
            kw_ctx_unlock(ctx);
            vkDestroyBuffer(ctx->device, buf, NULL);
            return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
    }
    vr = vkBindBufferMemory(ctx->device, buf, b->memory, offset);
    if (vr != VK_SUCCESS) {
        block_give(b, offset, req.size);
        kw_ctx_unlock(ctx);
        vkDestroyBuffer(ctx->device, buf, NULL);
        return kw_vk_fail(vr, "vkBindBufferMemory");
    }
    b->live++;
    /* every kind counts: the budget covers all of the context's allocations (kwvk.h) */
    ctx->used += req.size;
    if (ctx->used > ctx->peak) ctx->peak = ctx->used;
    kw_ctx_unlock(ctx);
    out->buffer = buf;
    out->block = b;
    out->offset = offset;
    out->size = size;
    out->mapped = b->mapped ? (uint8_t *)b->mapped + offset : NULL;
    return KWVK_OK;
}

void kw_buffer_destroy(kw_ctx *ctx, kw_buffer *buf)
{
    if (!buf || !buf->buffer) return;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, buf->buffer, &req);
    vkDestroyBuffer(ctx->device, buf->buffer, NULL);
    kw_ctx_lock(ctx);
    kw_block *b = buf->block;
    block_give(b, buf->offset, req.size);
    ctx->used -= req.size;
    if (--b->live == 0) { /* give the whole block back */
        kw_block **pp = &ctx->blocks;
        while (*pp && *pp != b) pp = &(*pp)->next;
        if (*pp) *pp = b->next;
        block_destroy(ctx, b);
    }
    kw_ctx_unlock(ctx);
    memset(buf, 0, sizeof *buf);
}

void kw_memory_release_all(kw_ctx *ctx)
{
    kw_block *b = ctx->blocks;
    while (b) {
        kw_block *next = b->next;
        block_destroy(ctx, b);
        b = next;
    }
    ctx->blocks = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Transfers                                                                                */
/* ---------------------------------------------------------------------------------------- */

static kwvk_result check_range(const kw_buffer *b, uint64_t offset, uint64_t size, const char *what)
{
    if (!b || !b->buffer) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: no buffer", what);
    if (offset > b->size || size > b->size - offset)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%s: range %llu+%llu exceeds buffer of %llu bytes", what,
                       (unsigned long long)offset, (unsigned long long)size, (unsigned long long)b->size);
    return KWVK_OK;
}

static kwvk_result copy_via_staging(kw_ctx *ctx, kw_buffer *dev, uint64_t dev_offset, void *host, uint64_t size,
                                    bool upload)
{
    uint64_t chunk = size < KW_STAGING_CHUNK ? size : KW_STAGING_CHUNK;
    kw_buffer st;
    KW_TRY(kw_buffer_create(ctx, chunk, upload ? KW_MEM_UPLOAD : KW_MEM_DOWNLOAD, &st));
    kwvk_result r = KWVK_OK;
    for (uint64_t done = 0; done < size && r == KWVK_OK; done += chunk) {
        uint64_t n = size - done < chunk ? size - done : chunk;
        if (upload) memcpy(st.mapped, (const uint8_t *)host + done, n);
        VkCommandBuffer cmd;
        r = kw_begin_one_time(ctx, &cmd);
        if (r != KWVK_OK) break;
        VkBufferCopy region = {.srcOffset = upload ? 0 : dev_offset + done,
                               .dstOffset = upload ? dev_offset + done : 0,
                               .size = n};
        if (upload) vkCmdCopyBuffer(cmd, st.buffer, dev->buffer, 1, &region);
        else vkCmdCopyBuffer(cmd, dev->buffer, st.buffer, 1, &region);
        r = kw_end_one_time(ctx, cmd);
        if (r == KWVK_OK && !upload) memcpy((uint8_t *)host + done, st.mapped, n);
    }
    kw_buffer_destroy(ctx, &st);
    return r;
}

kwvk_result kw_buffer_upload(kw_ctx *ctx, kw_buffer *dst, uint64_t dst_offset, const void *src, uint64_t size)
{
    KW_TRY(check_range(dst, dst_offset, size, "upload"));
    if (size == 0) return KWVK_OK;
    /* host-visible device memory: no staging (all GPU work is synchronous), unless the
     * fallback is forced (KWVK_FORCE_FALLBACKS=host_visible): then staging, even where the
     * only memory type is host-visible (lavapipe, many integrated GPUs) */
    if (dst->mapped && (ctx->feat.host_visible_device_local || dst->block->kind != KW_MEM_DEVICE)) {
        memcpy((uint8_t *)dst->mapped + dst_offset, src, size);
        return KWVK_OK;
    }
    return copy_via_staging(ctx, dst, dst_offset, (void *)(uintptr_t)src, size, true);
}

kwvk_result kw_buffer_download(kw_ctx *ctx, kw_buffer *src, uint64_t src_offset, void *dst, uint64_t size)
{
    KW_TRY(check_range(src, src_offset, size, "download"));
    if (size == 0) return KWVK_OK;
    if (src->mapped && (ctx->feat.host_visible_device_local || src->block->kind != KW_MEM_DEVICE)) {
        memcpy(dst, (const uint8_t *)src->mapped + src_offset, size);
        return KWVK_OK;
    }
    return copy_via_staging(ctx, src, src_offset, dst, size, false);
}

/* ---------------------------------------------------------------------------------------- */
/* fp16                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* IEEE binary32 -> binary16, rounded to nearest, ties to even (as a GPU's conversion and C's
 * _Float16 do): overflow gives infinity, NaN stays NaN, tiny values become subnormal or zero. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    const int e = (int)exp - 127 + 15; /* the binary16 exponent */
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    uint32_t h, rem, half;
    if (e > 0) { /* normal: drop 13 mantissa bits (a carry may round up to the next binade) */
        h = ((uint32_t)e << 10) | (mant >> 13);
        rem = mant & 0x1fffu;
        half = 0x1000u;
    } else { /* subnormal: units of 2^-24 */
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        const uint32_t shift = (uint32_t)(14 - e);
        h = mant >> shift;
        rem = mant & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    }
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

void kw_f32_to_f16(uint16_t *dst, const float *src, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}
