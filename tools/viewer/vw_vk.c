/* vw_vk.c - see vw_vk.h. */
#include "vw_vk.h"

#include <stdio.h>
#include <string.h>

int vw_vk_load(vw_vk *vk, const kwvk_vulkan_handles *h, char *err, size_t err_len)
{
    memset(vk, 0, sizeof *vk);
    PFN_vkGetInstanceProcAddr gipa = NULL;
    /* kwvk hands the loader's vkGetInstanceProcAddr over as a void pointer */
    memcpy(&gipa, &h->get_instance_proc_addr, sizeof gipa);
    VkInstance instance = (VkInstance)h->instance;
    VkDevice device = (VkDevice)h->device;
    if (!gipa || !instance || !device) {
        snprintf(err, err_len, "kwvk's context has no Vulkan instance, device or vkGetInstanceProcAddr");
        return -1;
    }
    const char *missing = NULL;
#define VW_VK_LOAD_INSTANCE(name)                                                                                      \
    vk->name = (PFN_vk##name)gipa(instance, "vk" #name);                                                               \
    if (!vk->name && !missing) missing = "vk" #name;
    VW_VK_INSTANCE(VW_VK_LOAD_INSTANCE)
    if (missing) {
        snprintf(err, err_len, "the Vulkan instance function %s is missing", missing);
        return -1;
    }
    VW_VK_SURFACE(VW_VK_LOAD_INSTANCE)
    vk->has_surface = missing == NULL;
    missing = NULL;
#undef VW_VK_LOAD_INSTANCE

    PFN_vkGetDeviceProcAddr gdpa = vk->GetDeviceProcAddr;
#define VW_VK_LOAD_DEVICE(name)                                                                                        \
    vk->name = (PFN_vk##name)gdpa(device, "vk" #name);                                                                 \
    if (!vk->name && !missing) missing = "vk" #name;
    VW_VK_DEVICE(VW_VK_LOAD_DEVICE)
    if (missing) {
        snprintf(err, err_len, "the Vulkan device function %s is missing", missing);
        return -1;
    }
    VW_VK_SWAPCHAIN(VW_VK_LOAD_DEVICE)
    vk->has_swapchain = missing == NULL;
#undef VW_VK_LOAD_DEVICE
    return 0;
}
