/* vw_window.h - the viewer's window and presentation: a GLFW window, its Vulkan surface and
 * swapchain on kwvk's device and queue, the render pass and overlay pipeline that draw a
 * frame with its labels into a swapchain image, presentation, and the read-back of a
 * presented image for screenshots. What to draw and when is the frame loop's business
 * (kwvk-viewer.c); it also owns the input callbacks (glfwSetWindowUserPointer is free). */
#ifndef VW_WINDOW_H
#define VW_WINDOW_H

#include "vw_gpu.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#define VW_MAX_IMAGES 8 /* swapchain images */

typedef struct vw_window {
    vw_gpu *g;
    GLFWwindow *win;
    VkSurfaceKHR surface;
    VkSurfaceFormatKHR format;
    int srgb;     /* the swapchain format is sRGB (the shader then writes linear values) */
    int can_copy; /* the swapchain images can be read back (screenshots) */
    VkPresentModeKHR present_mode;
    VkRenderPass pass;
    VkPipeline draw;
    /* the swapchain (sc == VK_NULL_HANDLE: none yet, or the window is minimised) */
    VkSwapchainKHR sc;
    VkExtent2D extent;
    uint32_t n;
    VkImage images[VW_MAX_IMAGES];
    VkImageView views[VW_MAX_IMAGES];
    VkFramebuffer fbs[VW_MAX_IMAGES];
    VkSemaphore done[VW_MAX_IMAGES]; /* rendering into image i finished: present may start */
} vw_window;

/* GLFW with Vulkan support, before anything else: 0, or -1 with a one-line message (no
 * display, no Vulkan loader that can present). */
int vw_window_init(char *err, size_t err_len);
/* The instance extensions a surface needs (for kwvk_context_desc). */
const char **vw_window_instance_extensions(uint32_t *count);

/* Create the window (w x h), its surface on kwvk's instance, and the render pass and overlay
 * pipeline; check that kwvk's queue can present to it. The swapchain comes with
 * vw_window_swapchain. vsync 0 picks MAILBOX or IMMEDIATE where offered. */
int vw_window_open(vw_window *w, vw_gpu *g, int width, int height, const char *title, const char *device_name,
                   int vsync, char *err, size_t err_len);
/* (Re)create the swapchain at the window's current size; the caller makes sure no frame in
 * flight and no presentation still uses the old one. 0: ready, 1: minimised (try again
 * later), -1: failed (err). */
int vw_window_swapchain(vw_window *w, char *err, size_t err_len);
/* Destroy the Vulkan objects (device idle), then the GLFW window and GLFW itself. */
void vw_window_release(vw_window *w);
void vw_window_close(vw_window *w);

/* Acquire the next image; `signal` is signalled when it may be drawn into. */
VkResult vw_window_acquire(vw_window *w, VkSemaphore signal, uint32_t *image);
/* Record the draw of `image`: the frame and results of `data` (NULL: none yet) through
 * `set`, and with `shot` (NULL: none) a copy of the image into that host-visible buffer of at
 * least extent.width * extent.height * 4 bytes. */
void vw_window_record_draw(vw_window *w, VkCommandBuffer cmd, uint32_t image, const vw_slot *data, VkDescriptorSet set,
                           const vw_buf *shot);
/* Present `image` after its `done` semaphore (under kwvk's queue lock). */
VkResult vw_window_present(vw_window *w, uint32_t image);
/* Write a copied image (width x height, the swapchain's format) as an RGB PNG. 0, or -1 (err). */
int vw_window_save_png(const vw_window *w, const vw_buf *shot, int width, int height, const char *path, char *err,
                       size_t err_len);

#endif
