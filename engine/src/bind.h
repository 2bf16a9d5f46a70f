/* bind.h - binding sub-ranges of device buffers (bind.c). Every recorder binds tensors through
 * these, under one alignment rule: a binding starts at an offset that is a multiple of
 * kw_bind_align (the device's minStorageBufferOffsetAlignment, raised to the texel-buffer
 * offset alignment so that any binding may also be a texel view, and to 16 bytes so that vec4
 * bindings start on a vec4); the shader gets the remainder as an element offset. */
#ifndef KWVK_BIND_H
#define KWVK_BIND_H

#include "internal.h"

/* The alignment of every binding's offset. */
uint64_t kw_bind_align(const kw_ctx *ctx);
/* The largest range the planners may ask for: room is left for aligning the offset down. */
uint64_t kw_bind_limit(const kw_ctx *ctx);
/* Can a binding of `count` floats, starting anywhere, be bound within max_storage_range? */
bool kw_bind_fits(const kw_ctx *ctx, uint64_t count);
/* The byte range [off, off + bytes) of `whole` as a binding at an aligned offset; *elem gets
 * the float index at which the range starts inside the binding. Fails (kw_fail) on a range
 * that is not float-aligned or exceeds the storage range limit. */
kwvk_result kw_view_sub(const kw_ctx *ctx, kw_view whole, uint64_t off, uint64_t bytes, kw_view *out, uint32_t *elem);
/* The floats [e0, e0 + count) of `base` as a binding at an aligned offset; *elem as above.
 * For planners that have checked the size with kw_bind_fits. */
kw_view kw_view_floats(const kw_ctx *ctx, kw_view base, uint64_t e0, uint64_t count, uint32_t *elem);

#endif
