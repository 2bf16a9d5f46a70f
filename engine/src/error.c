/* error.c - result names and the per-thread last-error message. */
#include "internal.h"

#include <stdio.h>

static _Thread_local char kw_last_error_buf[1024];

const char *kwvk_last_error(void) { return kw_last_error_buf; }

kwvk_result kw_fail(kwvk_result r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kw_last_error_buf, sizeof kw_last_error_buf, fmt, ap);
    va_end(ap);
    return r;
}

const char *kwvk_result_name(kwvk_result r)
{
    switch (r) {
    case KWVK_OK: return "KWVK_OK";
    case KWVK_ERROR_INVALID_ARGUMENT: return "KWVK_ERROR_INVALID_ARGUMENT";
    case KWVK_ERROR_OUT_OF_HOST_MEMORY: return "KWVK_ERROR_OUT_OF_HOST_MEMORY";
    case KWVK_ERROR_OUT_OF_DEVICE_MEMORY: return "KWVK_ERROR_OUT_OF_DEVICE_MEMORY";
    case KWVK_ERROR_NO_DEVICE: return "KWVK_ERROR_NO_DEVICE";
    case KWVK_ERROR_VULKAN: return "KWVK_ERROR_VULKAN";
    case KWVK_ERROR_DEVICE_LOST: return "KWVK_ERROR_DEVICE_LOST";
    case KWVK_ERROR_TIMEOUT: return "KWVK_ERROR_TIMEOUT";
    case KWVK_ERROR_IO: return "KWVK_ERROR_IO";
    case KWVK_ERROR_MODEL_FORMAT: return "KWVK_ERROR_MODEL_FORMAT";
    case KWVK_ERROR_UNSUPPORTED: return "KWVK_ERROR_UNSUPPORTED";
    case KWVK_ERROR_BUSY: return "KWVK_ERROR_BUSY";
    }
    return "KWVK_ERROR_?";
}

const char *kw_vk_result_name(VkResult vr)
{
    switch (vr) {
#define C(x) case x: return #x;
        C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
        C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED)
        C(VK_ERROR_LAYER_NOT_PRESENT) C(VK_ERROR_EXTENSION_NOT_PRESENT)
        C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
        C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
        C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_UNKNOWN)
#undef C
    default: return "VkResult(?)";
    }
}

kwvk_result kw_vk_fail(VkResult vr, const char *what)
{
    kwvk_result r = KWVK_ERROR_VULKAN;
    if (vr == VK_ERROR_OUT_OF_HOST_MEMORY) r = KWVK_ERROR_OUT_OF_HOST_MEMORY;
    else if (vr == VK_ERROR_OUT_OF_DEVICE_MEMORY) r = KWVK_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (vr == VK_ERROR_DEVICE_LOST) r = KWVK_ERROR_DEVICE_LOST;
    else if (vr == VK_TIMEOUT) r = KWVK_ERROR_TIMEOUT;
    return kw_fail(r, "%s failed: %s (%d)", what, kw_vk_result_name(vr), (int)vr);
}
