/* bind.c - see bind.h. */
#include "bind.h"

uint64_t kw_bind_align(const kw_ctx *ctx)
{
    uint64_t a = ctx->props.limits.minStorageBufferOffsetAlignment;
    const uint64_t t = ctx->props.limits.minTexelBufferOffsetAlignment; /* texel views too */
    if (a < t) a = t;
    return a < 16 ? 16 : a;
}

uint64_t kw_bind_limit(const kw_ctx *ctx)
{
    const uint64_t align = kw_bind_align(ctx);
    return ctx->max_storage_range > align ? ctx->max_storage_range - align : 0;
}

bool kw_bind_fits(const kw_ctx *ctx, uint64_t count)
{
    uint64_t bytes;
    if (!kw_mul_u64(count, 4, &bytes)) return false;
    return bytes + kw_bind_align(ctx) - 4 <= ctx->max_storage_range;
}

kwvk_result kw_view_sub(const kw_ctx *ctx, kw_view whole, uint64_t off, uint64_t bytes, kw_view *out, uint32_t *elem)
{
    const uint64_t align = kw_bind_align(ctx);
    const uint64_t abs = whole.offset + off;
    const uint64_t start = abs - abs % align;
    if (abs % 4) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "a tensor view is not float-aligned");
    *out = kw_view_of(whole.buf, start, bytes + (abs - start));
    *elem = (uint32_t)((abs - start) / 4);
    if (out->size > ctx->max_storage_range)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "a binding of %llu bytes exceeds the storage range limit %llu",
                       (unsigned long long)out->size, (unsigned long long)ctx->max_storage_range);
    return KWVK_OK;
}

kw_view kw_view_floats(const kw_ctx *ctx, kw_view base, uint64_t e0, uint64_t count, uint32_t *elem)
{
    const uint64_t start = base.offset + e0 * 4;
    const uint64_t aligned = start - start % kw_bind_align(ctx);
    *elem = (uint32_t)((start - aligned) / 4);
    return kw_view_of(base.buf, aligned, start - aligned + count * 4);
}
