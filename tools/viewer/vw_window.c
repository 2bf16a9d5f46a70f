/* vw_window.c - see vw_window.h. */
#include "vw_window.h"

#include "vw_layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "overlay_frag.spv.h"
#include "overlay_vert.spv.h"

/* ---------------------------------------------------------------------------------------- */
/* GLFW                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static char glfw_error[512];

static void on_glfw_error(int code, const char *desc)
{
    (void)code;
    snprintf(glfw_error, sizeof glfw_error, "%s", desc ? desc : "unknown GLFW error");
}

int vw_window_init(char *err, size_t err_len)
{
    glfwSetErrorCallback(on_glfw_error);
    if (!glfwInit()) {
        snprintf(err, err_len, "no display: %s (run it on a desktop, or under xvfb-run)",
                 glfw_error[0] ? glfw_error : "GLFW could not initialise");
        return -1;
    }
    if (!glfwVulkanSupported()) {
        glfwTerminate();
        snprintf(err, err_len,
                 "no Vulkan loader that can present to this display (libvulkan1 and a driver with surface support)");
        return -1;
    }
    return 0;
}

const char **vw_window_instance_extensions(uint32_t *count)
{
    *count = 0;
    const char **ext = glfwGetRequiredInstanceExtensions(count);
    if (!ext) *count = 0;
    return ext;
}

/* ---------------------------------------------------------------------------------------- */
/* Surface, render pass, pipeline                                                           */
/* ---------------------------------------------------------------------------------------- */

static int pick_surface_format(vw_window *w, int vsync, char *err, size_t err_len)
{
    const vw_vk *vk = &w->g->vk;
    uint32_t n = 0;
    VkResult r = vk->GetPhysicalDeviceSurfaceFormatsKHR(w->g->phys, w->surface, &n, NULL);
    if (r != VK_SUCCESS || n == 0) {
        snprintf(err, err_len, "the window surface offers no pixel formats (%s)", vw_vk_result_name(r));
        return -1;
    }
    VkSurfaceFormatKHR *f = calloc(n, sizeof *f);
    if (!f) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    vk->GetPhysicalDeviceSurfaceFormatsKHR(w->g->phys, w->surface, &n, f);
    int pick = -1;
    static const VkFormat unorm[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM};
    for (int k = 0; k < 2 && pick < 0; k++)
        for (uint32_t i = 0; i < n && pick < 0; i++)
            if (f[i].format == unorm[k]) pick = (int)i;
    static const VkFormat srgb[] = {VK_FORMAT_B8G8R8A8_SRGB, VK_FORMAT_R8G8B8A8_SRGB};
    for (int k = 0; k < 2 && pick < 0; k++)
        for (uint32_t i = 0; i < n && pick < 0; i++)
            if (f[i].format == srgb[k]) pick = (int)i;
    if (pick < 0 && n == 1 && f[0].format == VK_FORMAT_UNDEFINED) {
        w->format = (VkSurfaceFormatKHR){VK_FORMAT_B8G8R8A8_UNORM, f[0].colorSpace};
    } else if (pick < 0) {
        snprintf(err, err_len, "the window surface offers no 8-bit RGBA/BGRA format");
        free(f);
        return -1;
    } else {
        w->format = f[pick];
    }
    free(f);
    w->srgb = w->format.format == VK_FORMAT_B8G8R8A8_SRGB || w->format.format == VK_FORMAT_R8G8B8A8_SRGB;
    /* present mode */
    w->present_mode = VK_PRESENT_MODE_FIFO_KHR;
    if (!vsync) {
        VkPresentModeKHR modes[16];
        uint32_t nm = 16;
        if (vk->GetPhysicalDeviceSurfacePresentModesKHR(w->g->phys, w->surface, &nm, modes) >= 0) {
            for (uint32_t i = 0; i < nm; i++)
                if (modes[i] == VK_PRESENT_MODE_MAILBOX_KHR) w->present_mode = modes[i];
            if (w->present_mode == VK_PRESENT_MODE_FIFO_KHR)
                for (uint32_t i = 0; i < nm; i++)
                    if (modes[i] == VK_PRESENT_MODE_IMMEDIATE_KHR) w->present_mode = modes[i];
        }
    }
    return 0;
}

static int create_render_objects(vw_window *w, char *err, size_t err_len)
{
    const vw_vk *vk = &w->g->vk;
    VkDevice dev = w->g->dev;
    VkAttachmentDescription att = {.format = w->format.format,
                                   .samples = VK_SAMPLE_COUNT_1_BIT,
                                   .loadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE, /* every pixel is drawn */
                                   .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
                                   .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
                                   .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                   .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
                                   .finalLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR};
    VkAttachmentReference ref = {0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
    VkSubpassDescription sub = {
        .pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS, .colorAttachmentCount = 1, .pColorAttachments = &ref};
    /* the acquire semaphore is waited at the colour-output stage: order the layout
     * transition after it */
    VkSubpassDependency dep = {.srcSubpass = VK_SUBPASS_EXTERNAL,
                               .dstSubpass = 0,
                               .srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                               .dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                               .srcAccessMask = 0,
                               .dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT};
    VkRenderPassCreateInfo rpi = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
                                  .attachmentCount = 1,
                                  .pAttachments = &att,
                                  .subpassCount = 1,
                                  .pSubpasses = &sub,
                                  .dependencyCount = 1,
                                  .pDependencies = &dep};
    VkResult r = vk->CreateRenderPass(dev, &rpi, NULL, &w->pass);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateRenderPass", err, err_len);
    VkShaderModule vs, fs;
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = sizeof overlay_vert, .pCode = overlay_vert};
    r = vk->CreateShaderModule(dev, &mi, NULL, &vs);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateShaderModule", err, err_len);
    mi.codeSize = sizeof overlay_frag;
    mi.pCode = overlay_frag;
    r = vk->CreateShaderModule(dev, &mi, NULL, &fs);
    if (r != VK_SUCCESS) {
        vk->DestroyShaderModule(dev, vs, NULL);
        return vw_vk_fail(r, "vkCreateShaderModule", err, err_len);
    }
    VkPipelineShaderStageCreateInfo stages[2] = {{.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                  .stage = VK_SHADER_STAGE_VERTEX_BIT,
                                                  .module = vs,
                                                  .pName = "main"},
                                                 {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                  .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
                                                  .module = fs,
                                                  .pName = "main"}};
    VkPipelineVertexInputStateCreateInfo vin = {.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
    VkPipelineInputAssemblyStateCreateInfo ia = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
                                                 .topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
    VkPipelineViewportStateCreateInfo vp = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO, .viewportCount = 1, .scissorCount = 1};
    VkPipelineRasterizationStateCreateInfo rs = {.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
                                                 .polygonMode = VK_POLYGON_MODE_FILL,
                                                 .cullMode = VK_CULL_MODE_NONE,
                                                 .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE,
                                                 .lineWidth = 1.0f};
    VkPipelineMultisampleStateCreateInfo ms = {.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
                                               .rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
    VkPipelineColorBlendAttachmentState cba = {.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                                                                 VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT};
    VkPipelineColorBlendStateCreateInfo cb = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO, .attachmentCount = 1, .pAttachments = &cba};
    VkDynamicState dyn[2] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
    VkPipelineDynamicStateCreateInfo ds = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO, .dynamicStateCount = 2, .pDynamicStates = dyn};
    VkGraphicsPipelineCreateInfo gpi = {.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO,
                                        .stageCount = 2,
                                        .pStages = stages,
                                        .pVertexInputState = &vin,
                                        .pInputAssemblyState = &ia,
                                        .pViewportState = &vp,
                                        .pRasterizationState = &rs,
                                        .pMultisampleState = &ms,
                                        .pColorBlendState = &cb,
                                        .pDynamicState = &ds,
                                        .layout = w->g->layout,
                                        .renderPass = w->pass};
    r = vk->CreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &gpi, NULL, &w->draw);
    vk->DestroyShaderModule(dev, vs, NULL);
    vk->DestroyShaderModule(dev, fs, NULL);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateGraphicsPipelines", err, err_len);
    return 0;
}

int vw_window_open(vw_window *w, vw_gpu *g, int width, int height, const char *title, const char *device_name,
                   int vsync, char *err, size_t err_len)
{
    memset(w, 0, sizeof *w);
    w->g = g;
    if (!g->vk.has_surface || !g->vk.has_swapchain) {
        snprintf(err, err_len, "the Vulkan surface and swapchain functions are missing");
        return -1;
    }
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
    w->win = glfwCreateWindow(width, height, title, NULL, NULL);
    if (!w->win) {
        snprintf(err, err_len, "cannot create a window: %s", glfw_error[0] ? glfw_error : "unknown reason");
        return -1;
    }
    VkResult vr = glfwCreateWindowSurface(g->instance, w->win, NULL, &w->surface);
    if (vr != VK_SUCCESS) {
        snprintf(err, err_len, "cannot create a Vulkan surface for the window: %s (%s)", vw_vk_result_name(vr),
                 glfw_error[0] ? glfw_error : "");
        return -1;
    }
    VkBool32 present = VK_FALSE;
    g->vk.GetPhysicalDeviceSurfaceSupportKHR(g->phys, g->queue_family, w->surface, &present);
    if (!present) {
        snprintf(err, err_len, "the device %s cannot present to this window from its compute queue (try --device)",
                 device_name);
        return -1;
    }
    if (pick_surface_format(w, vsync, err, err_len) || create_render_objects(w, err, err_len)) return -1;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Swapchain                                                                                */
/* ---------------------------------------------------------------------------------------- */

static void destroy_swapchain_views(vw_window *w)
{
    const vw_vk *vk = &w->g->vk;
    VkDevice dev = w->g->dev;
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->fbs[i]) vk->DestroyFramebuffer(dev, w->fbs[i], NULL);
        if (w->views[i]) vk->DestroyImageView(dev, w->views[i], NULL);
        if (w->done[i]) vk->DestroySemaphore(dev, w->done[i], NULL);
        w->fbs[i] = VK_NULL_HANDLE;
        w->views[i] = VK_NULL_HANDLE;
        w->done[i] = VK_NULL_HANDLE;
    }
    w->n = 0;
}

int vw_window_swapchain(vw_window *w, char *err, size_t err_len)
{
    const vw_vk *vk = &w->g->vk;
    VkDevice dev = w->g->dev;
    VkSurfaceCapabilitiesKHR caps;
    VkResult r = vk->GetPhysicalDeviceSurfaceCapabilitiesKHR(w->g->phys, w->surface, &caps);
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR", err, err_len);
    int fw, fh;
    glfwGetFramebufferSize(w->win, &fw, &fh);
    VkExtent2D ext = caps.currentExtent;
    if (ext.width == UINT32_MAX) {
        ext.width = (uint32_t)fw;
        ext.height = (uint32_t)fh;
    }
    if (ext.width < caps.minImageExtent.width) ext.width = caps.minImageExtent.width;
    if (ext.height < caps.minImageExtent.height) ext.height = caps.minImageExtent.height;
    if (ext.width > caps.maxImageExtent.width) ext.width = caps.maxImageExtent.width;
    if (ext.height > caps.maxImageExtent.height) ext.height = caps.maxImageExtent.height;
    if (ext.width == 0 || ext.height == 0) return 1; /* minimised: try later */
    uint32_t count = caps.minImageCount + 1;
    if (caps.maxImageCount && count > caps.maxImageCount) count = caps.maxImageCount;
    if (count > VW_MAX_IMAGES) count = VW_MAX_IMAGES;
    w->can_copy = (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0;
    VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
    if (!(caps.supportedCompositeAlpha & alpha)) {
        for (uint32_t b = 1; b; b <<= 1)
            if (caps.supportedCompositeAlpha & b) {
                alpha = (VkCompositeAlphaFlagBitsKHR)b;
                break;
            }
    }
    VkSwapchainKHR old = w->sc;
    VkSwapchainCreateInfoKHR ci = {.sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
                                   .surface = w->surface,
                                   .minImageCount = count,
                                   .imageFormat = w->format.format,
                                   .imageColorSpace = w->format.colorSpace,
                                   .imageExtent = ext,
                                   .imageArrayLayers = 1,
                                   .imageUsage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT |
                                                 (w->can_copy ? VK_IMAGE_USAGE_TRANSFER_SRC_BIT : 0),
                                   .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
                                   .preTransform = (caps.supportedTransforms & VK_SURFACE_TRANSFORM_IDENTITY_BIT_KHR)
                                                       ? VK_SURFACE_TRANSFORM_IDENTITY_BIT_KHR
                                                       : caps.currentTransform,
                                   .compositeAlpha = alpha,
                                   .presentMode = w->present_mode,
                                   .clipped = VK_TRUE,
                                   .oldSwapchain = old};
    VkSwapchainKHR sc;
    r = vk->CreateSwapchainKHR(dev, &ci, NULL, &sc);
    destroy_swapchain_views(w);
    if (old) vk->DestroySwapchainKHR(dev, old, NULL);
    w->sc = VK_NULL_HANDLE;
    if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateSwapchainKHR", err, err_len);
    w->sc = sc;
    w->extent = ext;
    uint32_t n = 0;
    vk->GetSwapchainImagesKHR(dev, sc, &n, NULL);
    if (n > VW_MAX_IMAGES) n = VW_MAX_IMAGES;
    r = vk->GetSwapchainImagesKHR(dev, sc, &n, w->images);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vw_vk_fail(r, "vkGetSwapchainImagesKHR", err, err_len);
    w->n = n;
    for (uint32_t i = 0; i < n; i++) {
        VkImageViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                                    .image = w->images[i],
                                    .viewType = VK_IMAGE_VIEW_TYPE_2D,
                                    .format = w->format.format,
                                    .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
        r = vk->CreateImageView(dev, &vi, NULL, &w->views[i]);
        if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateImageView", err, err_len);
        VkFramebufferCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                                      .renderPass = w->pass,
                                      .attachmentCount = 1,
                                      .pAttachments = &w->views[i],
                                      .width = ext.width,
                                      .height = ext.height,
                                      .layers = 1};
        r = vk->CreateFramebuffer(dev, &fi, NULL, &w->fbs[i]);
        if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateFramebuffer", err, err_len);
        VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
        r = vk->CreateSemaphore(dev, &si, NULL, &w->done[i]);
        if (r != VK_SUCCESS) return vw_vk_fail(r, "vkCreateSemaphore", err, err_len);
    }
    return 0;
}

void vw_window_release(vw_window *w)
{
    if (!w->g) return;
    const vw_vk *vk = &w->g->vk;
    VkDevice dev = w->g->dev;
    destroy_swapchain_views(w);
    if (w->sc) vk->DestroySwapchainKHR(dev, w->sc, NULL);
    if (w->draw) vk->DestroyPipeline(dev, w->draw, NULL);
    if (w->pass) vk->DestroyRenderPass(dev, w->pass, NULL);
    if (w->surface) vk->DestroySurfaceKHR(w->g->instance, w->surface, NULL);
    w->sc = VK_NULL_HANDLE;
    w->draw = VK_NULL_HANDLE;
    w->pass = VK_NULL_HANDLE;
    w->surface = VK_NULL_HANDLE;
}

void vw_window_close(vw_window *w)
{
    if (w->win) glfwDestroyWindow(w->win);
    w->win = NULL;
    glfwTerminate();
}

/* ---------------------------------------------------------------------------------------- */
/* Frames                                                                                   */
/* ---------------------------------------------------------------------------------------- */

VkResult vw_window_acquire(vw_window *w, VkSemaphore signal, uint32_t *image)
{
    return w->g->vk.AcquireNextImageKHR(w->g->dev, w->sc, UINT64_MAX, signal, VK_NULL_HANDLE, image);
}

VkResult vw_window_present(vw_window *w, uint32_t image)
{
    VkPresentInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                           .waitSemaphoreCount = 1,
                           .pWaitSemaphores = &w->done[image],
                           .swapchainCount = 1,
                           .pSwapchains = &w->sc,
                           .pImageIndices = &image};
    kwvk_context_queue_lock(w->g->kctx);
    VkResult r = w->g->vk.QueuePresentKHR(w->g->queue, &pi);
    kwvk_context_queue_unlock(w->g->kctx);
    return r;
}

void vw_window_record_draw(vw_window *w, VkCommandBuffer cmd, uint32_t image, const vw_slot *data, VkDescriptorSet set,
                           const vw_buf *shot)
{
    const vw_vk *vk = &w->g->vk;
    VkExtent2D ext = w->extent;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    vk->CmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT, 0, 1, &mb,
                           0, NULL, 0, NULL);
    VkRenderPassBeginInfo rb = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                                .renderPass = w->pass,
                                .framebuffer = w->fbs[image],
                                .renderArea = {{0, 0}, ext}};
    vk->CmdBeginRenderPass(cmd, &rb, VK_SUBPASS_CONTENTS_INLINE);
    VkViewport vp = {0, 0, (float)ext.width, (float)ext.height, 0, 1};
    VkRect2D sc = {{0, 0}, ext};
    vk->CmdSetViewport(cmd, 0, 1, &vp);
    vk->CmdSetScissor(cmd, 0, 1, &sc);
    vk->CmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, w->draw);
    vk->CmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, w->g->layout, 0, 1, &set, 0, NULL);
    vw_layout l;
    int have = data && data->have_frame;
    vw_layout_compute((int)ext.width, (int)ext.height, have ? data->fw : 1, have ? data->fh : 1, &l);
    int32_t pc[23] = {l.win_w,  l.win_h,
                      l.fx,     l.fy,
                      l.fw,     l.fh,
                      l.src_w,  l.src_h,
                      l.px,     l.py,
                      l.pw,     l.ph,
                      l.scale,  l.pad,
                      l.topk_h, l.line_h,
                      l.bar_dy, l.bar_h,
                      l.bar_w,  have,
                      w->srgb,  data ? (int32_t)data->model->classes : 0,
                      0};
    vk->CmdPushConstants(cmd, w->g->layout, VK_SHADER_STAGE_COMPUTE_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof pc,
                         pc);
    vk->CmdDraw(cmd, 3, 1, 0, 0);
    vk->CmdEndRenderPass(cmd);
    if (!shot) return;
    /* copy the presented image for a screenshot */
    VkImageMemoryBarrier ib = {.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
                               .oldLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                               .newLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                               .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .image = w->images[image],
                               .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    vk->CmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0,
                           NULL, 0, NULL, 1, &ib);
    VkBufferImageCopy region = {.bufferOffset = 0,
                                .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                                .imageExtent = {ext.width, ext.height, 1}};
    vk->CmdCopyImageToBuffer(cmd, w->images[image], VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, shot->buf, 1, &region);
    ib.srcAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    ib.dstAccessMask = 0;
    ib.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    ib.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
    VkBufferMemoryBarrier bb = {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
                                .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                .buffer = shot->buf,
                                .offset = 0,
                                .size = VK_WHOLE_SIZE};
    vk->CmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                           VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 0, NULL, 1, &bb, 1,
                           &ib);
}

int vw_window_save_png(const vw_window *w, const vw_buf *shot, int width, int height, const char *path, char *err,
                       size_t err_len)
{
    uint8_t *rgb = malloc((size_t)width * height * 3);
    if (!rgb) {
        snprintf(err, err_len, "out of memory for a screenshot");
        return -1;
    }
    const uint8_t *src = shot->map;
    int bgr = w->format.format == VK_FORMAT_B8G8R8A8_UNORM || w->format.format == VK_FORMAT_B8G8R8A8_SRGB;
    for (size_t i = 0; i < (size_t)width * height; i++) {
        rgb[3 * i + 0] = src[4 * i + (bgr ? 2 : 0)];
        rgb[3 * i + 1] = src[4 * i + 1];
        rgb[3 * i + 2] = src[4 * i + (bgr ? 0 : 2)];
    }
    int ok = stbi_write_png(path, width, height, 3, rgb, width * 3);
    int e = errno;
    free(rgb);
    if (!ok) {
        snprintf(err, err_len, "cannot write the screenshot %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}
