/* vw_vk.h - the viewer's own table of Vulkan entry points, loaded from the handles kwvk
 * exposes (kwvk_context_vulkan_handles: instance, device and vkGetInstanceProcAddr).
 * Instance-level functions come from vkGetInstanceProcAddr, device-level ones from
 * vkGetDeviceProcAddr (straight to the driver and the enabled layers). The viewer declares
 * no Vulkan prototypes and links no Vulkan loader: it works the same against the static and
 * the shared libkwvk, neither of which exports a Vulkan symbol.
 *
 * Calls read vk->CreateBuffer(dev, ...) for vkCreateBuffer(dev, ...). */
#ifndef VW_VK_H
#define VW_VK_H

#include "kwvk.h"

#include <stddef.h>

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

/* Instance-level core functions (required). */
#define VW_VK_INSTANCE(X)                                                                                              \
    X(GetDeviceProcAddr)                                                                                               \
    X(GetPhysicalDeviceProperties)                                                                                     \
    X(GetPhysicalDeviceMemoryProperties)                                                                               \
    X(GetPhysicalDeviceQueueFamilyProperties)

/* VK_KHR_surface (instance; present only when the instance enabled it: the window). */
#define VW_VK_SURFACE(X)                                                                                               \
    X(DestroySurfaceKHR)                                                                                               \
    X(GetPhysicalDeviceSurfaceSupportKHR)                                                                              \
    X(GetPhysicalDeviceSurfaceCapabilitiesKHR)                                                                         \
    X(GetPhysicalDeviceSurfaceFormatsKHR)                                                                              \
    X(GetPhysicalDeviceSurfacePresentModesKHR)

/* Device-level core functions (required). */
#define VW_VK_DEVICE(X)                                                                                                \
    X(AllocateCommandBuffers)                                                                                          \
    X(AllocateDescriptorSets)                                                                                          \
    X(AllocateMemory)                                                                                                  \
    X(BeginCommandBuffer)                                                                                              \
    X(BindBufferMemory)                                                                                                \
    X(CmdBeginRenderPass)                                                                                              \
    X(CmdBindDescriptorSets)                                                                                           \
    X(CmdBindPipeline)                                                                                                 \
    X(CmdCopyBuffer)                                                                                                   \
    X(CmdCopyImageToBuffer)                                                                                            \
    X(CmdDispatch)                                                                                                     \
    X(CmdDraw)                                                                                                         \
    X(CmdEndRenderPass)                                                                                                \
    X(CmdPipelineBarrier)                                                                                              \
    X(CmdPushConstants)                                                                                                \
    X(CmdResetQueryPool)                                                                                               \
    X(CmdSetScissor)                                                                                                   \
    X(CmdSetViewport)                                                                                                  \
    X(CmdWriteTimestamp)                                                                                               \
    X(CreateBuffer)                                                                                                    \
    X(CreateCommandPool)                                                                                               \
    X(CreateComputePipelines)                                                                                          \
    X(CreateDescriptorPool)                                                                                            \
    X(CreateDescriptorSetLayout)                                                                                       \
    X(CreateFence)                                                                                                     \
    X(CreateFramebuffer)                                                                                               \
    X(CreateGraphicsPipelines)                                                                                         \
    X(CreateImageView)                                                                                                 \
    X(CreatePipelineLayout)                                                                                            \
    X(CreateQueryPool)                                                                                                 \
    X(CreateRenderPass)                                                                                                \
    X(CreateSemaphore)                                                                                                 \
    X(CreateShaderModule)                                                                                              \
    X(DestroyBuffer)                                                                                                   \
    X(DestroyCommandPool)                                                                                              \
    X(DestroyDescriptorPool)                                                                                           \
    X(DestroyDescriptorSetLayout)                                                                                      \
    X(DestroyFence)                                                                                                    \
    X(DestroyFramebuffer)                                                                                              \
    X(DestroyImageView)                                                                                                \
    X(DestroyPipeline)                                                                                                 \
    X(DestroyPipelineLayout)                                                                                           \
    X(DestroyQueryPool)                                                                                                \
    X(DestroyRenderPass)                                                                                               \
    X(DestroySemaphore)                                                                                                \
    X(DestroyShaderModule)                                                                                             \
    X(DeviceWaitIdle)                                                                                                  \
    X(EndCommandBuffer)                                                                                                \
    X(FreeCommandBuffers)                                                                                              \
    X(FreeDescriptorSets)                                                                                              \
    X(FreeMemory)                                                                                                      \
    X(GetBufferMemoryRequirements)                                                                                     \
    X(GetQueryPoolResults)                                                                                             \
    X(MapMemory)                                                                                                       \
    X(QueueSubmit)                                                                                                     \
    X(QueueWaitIdle)                                                                                                   \
    X(ResetCommandBuffer)                                                                                              \
    X(ResetFences)                                                                                                     \
    X(UnmapMemory)                                                                                                     \
    X(UpdateDescriptorSets)                                                                                            \
    X(WaitForFences)

/* VK_KHR_swapchain (device; present only when the device enabled it: the window). */
#define VW_VK_SWAPCHAIN(X)                                                                                             \
    X(CreateSwapchainKHR)                                                                                              \
    X(DestroySwapchainKHR)                                                                                             \
    X(GetSwapchainImagesKHR)                                                                                           \
    X(AcquireNextImageKHR)                                                                                             \
    X(QueuePresentKHR)

#define VW_VK_MEMBER(name) PFN_vk##name name;

typedef struct vw_vk {
    VW_VK_INSTANCE(VW_VK_MEMBER)
    VW_VK_SURFACE(VW_VK_MEMBER)
    VW_VK_DEVICE(VW_VK_MEMBER)
    VW_VK_SWAPCHAIN(VW_VK_MEMBER)
    int has_surface;   /* every VW_VK_SURFACE function was found */
    int has_swapchain; /* every VW_VK_SWAPCHAIN function was found */
} vw_vk;

#undef VW_VK_MEMBER

/* Load the table for kwvk's instance and device. 0, or -1 with a one-line message in err
 * (naming the first required function that is missing). */
int vw_vk_load(vw_vk *vk, const kwvk_vulkan_handles *h, char *err, size_t err_len);

#endif
