/* kwvk-viewer - label live webcam frames (or images, a slideshow, a test pattern) on the
 * GPU: frame upload, pixel-format conversion, resize/crop/normalise, the network's recorded
 * command buffer and top-k all run on kwvk's device and queue; an overlay with the top-3
 * labels, confidence bars, fps, inference time and the device name is drawn into the
 * presented image. Two frames are in flight: capture and upload of frame N+1 overlap the
 * GPU work of frame N.
 *
 *   kwvk-viewer [--model M]... [--camera [DEV] | --image FILE | --dir DIR | --pattern] [options]
 *
 * Keys: q / Esc quit, space pause, s save a PNG screenshot, m next model. See --help and
 * docs/viewer.md. */
#include "kwvk.h"
#include "tool_util.h"
#include "vw_gpu.h"
#include "vw_layout.h"
#include "vw_source.h"

#include <volk.h>
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define SLOTS 2       /* frames in flight */
#define MAX_IMAGES 8  /* swapchain images */
#define MAX_MODELS 16
#define MAX_KEYS 32
#define KEY_RESIZE (-2) /* --key N:resize=WxH: resize the window (tests) */

static const char *TOOL = "kwvk-viewer";

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef enum { SRC_DEFAULT, SRC_CAMERA, SRC_IMAGE, SRC_DIR, SRC_PATTERN } src_kind;

typedef struct options {
    const char *models[MAX_MODELS];
    int n_models;
    src_kind src;
    const char *src_arg;
    int cam_w, cam_h;
    uint32_t cam_fourcc;
    double interval;
    int win_w, win_h;
    const char *device;
    int validation;
    int frames;            /* 0 = run until closed */
    const char *screenshot; /* path for --frames' final screenshot and the s key */
    int vsync;
    struct {
        int frame;
        int key; /* GLFW key, or KEY_RESIZE */
        int w, h;
    } keys[MAX_KEYS];
    int n_keys;
} options;

static void usage(void)
{
    printf("usage: kwvk-viewer [--model MODEL]... [SOURCE] [options]\n"
           "Labels frames with a kwvk model on the GPU and shows them with the top-3 labels.\n\n"
           "Sources (default: the sample images next to the model, models/samples, as a\n"
           "slideshow; the test pattern if there are none):\n"
           "  --camera [DEVICE]     a V4L2 webcam (default /dev/video0), YUYV or MJPEG\n"
           "  --image FILE          one image (PNG, JPEG, BMP, PPM, ...)\n"
           "  --dir DIR             the images in DIR as a slideshow\n"
           "  --pattern             a synthetic test pattern (YUYV, like a camera)\n\n"
           "Options:\n"
           "  --model MODEL         a .kwvk model; repeat to cycle with m (default %s)\n"
           "  --camera-size WxH     the camera resolution to ask for (default 640x480)\n"
           "  --camera-format F     yuyv, mjpeg or auto (default auto)\n"
           "  --interval SEC        slideshow seconds per image (default 2; 0 = every frame)\n"
           "  --size WxH            window size (default 960x600)\n"
           "  --device NAME|INDEX   Vulkan device\n"
           "  --validation          enable the Vulkan validation layer; exit 1 on any message\n"
           "  --no-vsync            present as fast as possible\n"
           "  --frames N            exit after N frames (test mode; implies --no-vsync)\n"
           "  --screenshot FILE     PNG written after the last --frames frame, and by the s key\n"
           "  --key FRAME:KEY       act as if KEY (q, esc, space, s, m) was pressed before FRAME;\n"
           "                        KEY resize=WxH resizes the window (for tests)\n\n"
           "Keys: q/Esc quit, space pause, s screenshot, m next model.\n",
           tu_default_model());
}

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end || a < 1 || b < 1 || a > 16384 || b > 16384) return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static int key_code(const char *name)
{
    if (!strcmp(name, "q")) return GLFW_KEY_Q;
    if (!strcmp(name, "esc")) return GLFW_KEY_ESCAPE;
    if (!strcmp(name, "space")) return GLFW_KEY_SPACE;
    if (!strcmp(name, "s")) return GLFW_KEY_S;
    if (!strcmp(name, "m")) return GLFW_KEY_M;
    return -1;
}

static void parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->cam_w = 640;
    o->cam_h = 480;
    o->interval = 2.0;
    o->win_w = 960;
    o->win_h = 600;
    o->vsync = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            exit(0);
        }
        if (!strcmp(a, "--validation")) {
            o->validation = 1;
            continue;
        }
        if (!strcmp(a, "--no-vsync")) {
            o->vsync = 0;
            continue;
        }
        if (!strcmp(a, "--pattern")) {
            o->src = SRC_PATTERN;
            continue;
        }
        if (!strcmp(a, "--camera")) {
            o->src = SRC_CAMERA;
            o->src_arg = "/dev/video0";
            if (next && next[0] != '-') {
                o->src_arg = next;
                i++;
            }
            continue;
        }
        if (a[0] != '-' || a[1] != '-') tu_die(TOOL, "unexpected argument %s (see --help)", a);
        if (!next) tu_die(TOOL, "%s needs a value (see --help)", a);
        i++;
        if (!strcmp(a, "--model")) {
            if (o->n_models == MAX_MODELS) tu_die(TOOL, "at most %d models", MAX_MODELS);
            o->models[o->n_models++] = next;
        } else if (!strcmp(a, "--image")) {
            o->src = SRC_IMAGE;
            o->src_arg = next;
        } else if (!strcmp(a, "--dir")) {
            o->src = SRC_DIR;
            o->src_arg = next;
        } else if (!strcmp(a, "--camera-size")) {
            if (parse_size(next, &o->cam_w, &o->cam_h)) tu_die(TOOL, "--camera-size wants WxH, got %s", next);
        } else if (!strcmp(a, "--camera-format")) {
            if (!strcmp(next, "yuyv")) o->cam_fourcc = VW_FOURCC_YUYV;
            else if (!strcmp(next, "mjpeg") || !strcmp(next, "mjpg")) o->cam_fourcc = VW_FOURCC_MJPG;
            else if (!strcmp(next, "auto")) o->cam_fourcc = 0;
            else tu_die(TOOL, "--camera-format wants yuyv, mjpeg or auto, got %s", next);
        } else if (!strcmp(a, "--interval")) {
            char *end;
            o->interval = strtod(next, &end);
            if (end == next || *end || o->interval < 0 || o->interval > 86400)
                tu_die(TOOL, "--interval wants seconds, got %s", next);
        } else if (!strcmp(a, "--size")) {
            if (parse_size(next, &o->win_w, &o->win_h)) tu_die(TOOL, "--size wants WxH, got %s", next);
        } else if (!strcmp(a, "--device")) {
            o->device = next;
        } else if (!strcmp(a, "--frames")) {
            char *end;
            long n = strtol(next, &end, 10);
            if (end == next || *end || n < 1 || n > 100000000) tu_die(TOOL, "--frames wants a count >= 1, got %s", next);
            o->frames = (int)n;
            o->vsync = 0;
        } else if (!strcmp(a, "--screenshot")) {
            o->screenshot = next;
        } else if (!strcmp(a, "--key")) {
            char *colon = strchr(next, ':');
            char *end;
            long f = strtol(next, &end, 10);
            int k = colon ? key_code(colon + 1) : -1, rw = 0, rh = 0;
            if (colon && !strncmp(colon + 1, "resize=", 7) && parse_size(colon + 8, &rw, &rh) == 0) k = KEY_RESIZE;
            if (!colon || end != colon || f < 0 || k == -1)
                tu_die(TOOL, "--key wants FRAME:KEY (q, esc, space, s, m, resize=WxH), got %s", next);
            if (o->n_keys == MAX_KEYS) tu_die(TOOL, "at most %d --key options", MAX_KEYS);
            o->keys[o->n_keys].frame = (int)f;
            o->keys[o->n_keys].key = k;
            o->keys[o->n_keys].w = rw;
            o->keys[o->n_keys].h = rh;
            o->n_keys++;
        } else {
            tu_die(TOOL, "unknown option %s (see --help)", a);
        }
    }
    if (o->n_models == 0) o->models[o->n_models++] = tu_default_model();
}

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct frame_sync {
    VkCommandBuffer pre, post;
    VkFence fence;
    int pending;        /* submitted, fence not yet waited */
    VkSemaphore acquire;
    VkQueryPool queries;
    int inferred;       /* the pending submission ran the network */
    int data_slot;      /* the slot whose frame and results the pending draw reads */
    double submit_ms;   /* host time of the submission (fallback latency) */
    int shot;           /* the pending submission copies the image for a screenshot */
    vw_buf shot_buf;
    int shot_w, shot_h;
} frame_sync;

typedef struct swapchain {
    VkSwapchainKHR sc;
    VkExtent2D extent;
    uint32_t n;
    VkImage images[MAX_IMAGES];
    VkImageView views[MAX_IMAGES];
    VkFramebuffer fbs[MAX_IMAGES];
    VkSemaphore done[MAX_IMAGES];
} swapchain;

typedef struct app {
    options opt;
    vw_source *src;
    kwvk_context *kctx;
    vw_gpu g;
    vw_model models[MAX_MODELS];
    int n_models, cur_model;
    vw_slot slots[SLOTS];
    frame_sync sync[SLOTS];
    int cur, last_data; /* slot of the next frame; slot holding the latest results (-1: none) */
    GLFWwindow *win;
    VkSurfaceKHR surface;
    VkSurfaceFormatKHR format;
    int srgb, can_copy;
    VkPresentModeKHR present_mode;
    VkRenderPass pass;
    VkPipeline draw;
    swapchain sc;
    int resized, need_redraw;
    /* status */
    int quit, paused, shot_requested, next_model;
    int failed;
    char err[768];
    char device_name[256];
    const char *frame_name;
    double fps, infer_ms, fps_t0;
    int fps_frames, fps_final;
    double last_draw_ms;
    long frames_done;
    int lost_at; /* KWVK_VIEWER_FAULT=device_lost@N (tests) */
    int shots_saved;
} app;

static void fail(app *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void fail(app *a, const char *fmt, ...)
{
    if (a->failed) return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    a->failed = 1;
}

static void fail_vk(app *a, VkResult r, const char *what)
{
    if (r == VK_ERROR_DEVICE_LOST) fail(a, "the GPU device was lost (%s)", what);
    else fail(a, "%s failed: %s (%d)", what, vw_vk_result_name(r), (int)r);
}

static void fail_kwvk(app *a, kwvk_result r, const char *what)
{
    const char *msg = kwvk_last_error()[0] ? kwvk_last_error() : kwvk_result_name(r);
    if (r == KWVK_ERROR_DEVICE_LOST) fail(a, "the GPU device was lost (%s: %s)", what, msg);
    else fail(a, "%s: %s", what, msg);
}

static double now_ms(void) { return tu_now_ms(); }

/* ---------------------------------------------------------------------------------------- */
/* Window and swapchain                                                                     */
/* ---------------------------------------------------------------------------------------- */

static char glfw_error[512];

static void on_glfw_error(int code, const char *desc)
{
    (void)code;
    snprintf(glfw_error, sizeof glfw_error, "%s", desc ? desc : "unknown GLFW error");
}

static void press(app *a, int key)
{
    switch (key) {
    case GLFW_KEY_Q:
    case GLFW_KEY_ESCAPE: a->quit = 1; break;
    case GLFW_KEY_SPACE:
        a->paused = !a->paused;
        a->need_redraw = 1;
        break;
    case GLFW_KEY_S: a->shot_requested = 1; break;
    case GLFW_KEY_M: a->next_model = 1; break;
    default: break;
    }
}

static void on_key(GLFWwindow *w, int key, int scancode, int action, int mods)
{
    (void)scancode, (void)mods;
    if (action == GLFW_PRESS) press(glfwGetWindowUserPointer(w), key);
}

static void on_resize(GLFWwindow *w, int width, int height)
{
    (void)width, (void)height;
    app *a = glfwGetWindowUserPointer(w);
    a->resized = 1;
    a->need_redraw = 1;
}

static void on_refresh(GLFWwindow *w)
{
    app *a = glfwGetWindowUserPointer(w);
    a->need_redraw = 1;
}

static void destroy_swapchain_views(app *a)
{
    VkDevice dev = a->g.dev;
    for (uint32_t i = 0; i < a->sc.n; i++) {
        if (a->sc.fbs[i]) vkDestroyFramebuffer(dev, a->sc.fbs[i], NULL);
        if (a->sc.views[i]) vkDestroyImageView(dev, a->sc.views[i], NULL);
        if (a->sc.done[i]) vkDestroySemaphore(dev, a->sc.done[i], NULL);
        a->sc.fbs[i] = VK_NULL_HANDLE;
        a->sc.views[i] = VK_NULL_HANDLE;
        a->sc.done[i] = VK_NULL_HANDLE;
    }
    a->sc.n = 0;
}

/* Wait for every frame in flight (and so for every use of the swapchain's images). */
static void wait_all(app *a);

static int create_swapchain(app *a)
{
    VkDevice dev = a->g.dev;
    VkSurfaceCapabilitiesKHR caps;
    VkResult r = vkGetPhysicalDeviceSurfaceCapabilitiesKHR(a->g.phys, a->surface, &caps);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
        return -1;
    }
    int fw, fh;
    glfwGetFramebufferSize(a->win, &fw, &fh);
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
    if (count > MAX_IMAGES) count = MAX_IMAGES;
    a->can_copy = (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0;
    VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
    if (!(caps.supportedCompositeAlpha & alpha)) {
        for (uint32_t b = 1; b; b <<= 1)
            if (caps.supportedCompositeAlpha & b) {
                alpha = (VkCompositeAlphaFlagBitsKHR)b;
                break;
            }
    }
    VkSwapchainKHR old = a->sc.sc;
    VkSwapchainCreateInfoKHR ci = {
        .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
        .surface = a->surface,
        .minImageCount = count,
        .imageFormat = a->format.format,
        .imageColorSpace = a->format.colorSpace,
        .imageExtent = ext,
        .imageArrayLayers = 1,
        .imageUsage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | (a->can_copy ? VK_IMAGE_USAGE_TRANSFER_SRC_BIT : 0),
        .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .preTransform = (caps.supportedTransforms & VK_SURFACE_TRANSFORM_IDENTITY_BIT_KHR)
                            ? VK_SURFACE_TRANSFORM_IDENTITY_BIT_KHR
                            : caps.currentTransform,
        .compositeAlpha = alpha,
        .presentMode = a->present_mode,
        .clipped = VK_TRUE,
        .oldSwapchain = old};
    VkSwapchainKHR sc;
    r = vkCreateSwapchainKHR(dev, &ci, NULL, &sc);
    destroy_swapchain_views(a);
    if (old) vkDestroySwapchainKHR(dev, old, NULL);
    a->sc.sc = VK_NULL_HANDLE;
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkCreateSwapchainKHR");
        return -1;
    }
    a->sc.sc = sc;
    a->sc.extent = ext;
    uint32_t n = 0;
    vkGetSwapchainImagesKHR(dev, sc, &n, NULL);
    if (n > MAX_IMAGES) n = MAX_IMAGES;
    r = vkGetSwapchainImagesKHR(dev, sc, &n, a->sc.images);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        fail_vk(a, r, "vkGetSwapchainImagesKHR");
        return -1;
    }
    a->sc.n = n;
    for (uint32_t i = 0; i < n; i++) {
        VkImageViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                                    .image = a->sc.images[i],
                                    .viewType = VK_IMAGE_VIEW_TYPE_2D,
                                    .format = a->format.format,
                                    .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
        r = vkCreateImageView(dev, &vi, NULL, &a->sc.views[i]);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "vkCreateImageView");
            return -1;
        }
        VkFramebufferCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                                      .renderPass = a->pass,
                                      .attachmentCount = 1,
                                      .pAttachments = &a->sc.views[i],
                                      .width = ext.width,
                                      .height = ext.height,
                                      .layers = 1};
        r = vkCreateFramebuffer(dev, &fi, NULL, &a->sc.fbs[i]);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "vkCreateFramebuffer");
            return -1;
        }
        VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
        r = vkCreateSemaphore(dev, &si, NULL, &a->sc.done[i]);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "vkCreateSemaphore");
            return -1;
        }
    }
    a->resized = 0;
    a->need_redraw = 1;
    return 0;
}

/* 0: ready, 1: window minimised (nothing to draw), -1: failed */
static int recreate_swapchain(app *a)
{
    wait_all(a);
    if (a->failed) return -1;
    /* presentation may still wait on the old images' semaphores */
    kwvk_context_queue_lock(a->kctx);
    VkResult r = vkQueueWaitIdle(a->g.queue);
    kwvk_context_queue_unlock(a->kctx);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkQueueWaitIdle");
        return -1;
    }
    return create_swapchain(a);
}

static int pick_surface_format(app *a)
{
    uint32_t n = 0;
    VkResult r = vkGetPhysicalDeviceSurfaceFormatsKHR(a->g.phys, a->surface, &n, NULL);
    if (r != VK_SUCCESS || n == 0) {
        fail(a, "the window surface offers no pixel formats (%s)", vw_vk_result_name(r));
        return -1;
    }
    VkSurfaceFormatKHR *f = calloc(n, sizeof *f);
    if (!f) {
        fail(a, "out of memory");
        return -1;
    }
    vkGetPhysicalDeviceSurfaceFormatsKHR(a->g.phys, a->surface, &n, f);
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
        a->format = (VkSurfaceFormatKHR){VK_FORMAT_B8G8R8A8_UNORM, f[0].colorSpace};
    } else if (pick < 0) {
        fail(a, "the window surface offers no 8-bit RGBA/BGRA format");
        free(f);
        return -1;
    } else {
        a->format = f[pick];
    }
    free(f);
    a->srgb = a->format.format == VK_FORMAT_B8G8R8A8_SRGB || a->format.format == VK_FORMAT_R8G8B8A8_SRGB;
    /* present mode */
    a->present_mode = VK_PRESENT_MODE_FIFO_KHR;
    if (!a->opt.vsync) {
        VkPresentModeKHR modes[16];
        uint32_t nm = 16;
        if (vkGetPhysicalDeviceSurfacePresentModesKHR(a->g.phys, a->surface, &nm, modes) >= 0) {
            for (uint32_t i = 0; i < nm; i++)
                if (modes[i] == VK_PRESENT_MODE_MAILBOX_KHR) a->present_mode = modes[i];
            if (a->present_mode == VK_PRESENT_MODE_FIFO_KHR)
                for (uint32_t i = 0; i < nm; i++)
                    if (modes[i] == VK_PRESENT_MODE_IMMEDIATE_KHR) a->present_mode = modes[i];
        }
    }
    return 0;
}

static int create_render_objects(app *a)
{
    VkDevice dev = a->g.dev;
    VkAttachmentDescription att = {.format = a->format.format,
                                   .samples = VK_SAMPLE_COUNT_1_BIT,
                                   .loadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE, /* every pixel is drawn */
                                   .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
                                   .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
                                   .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                   .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
                                   .finalLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR};
    VkAttachmentReference ref = {0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
    VkSubpassDescription sub = {.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
                                .colorAttachmentCount = 1,
                                .pColorAttachments = &ref};
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
    VkResult r = vkCreateRenderPass(dev, &rpi, NULL, &a->pass);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkCreateRenderPass");
        return -1;
    }
    VkShaderModule vs, fs;
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = sizeof overlay_vert,
                                   .pCode = overlay_vert};
    r = vkCreateShaderModule(dev, &mi, NULL, &vs);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkCreateShaderModule");
        return -1;
    }
    mi.codeSize = sizeof overlay_frag;
    mi.pCode = overlay_frag;
    r = vkCreateShaderModule(dev, &mi, NULL, &fs);
    if (r != VK_SUCCESS) {
        vkDestroyShaderModule(dev, vs, NULL);
        fail_vk(a, r, "vkCreateShaderModule");
        return -1;
    }
    VkPipelineShaderStageCreateInfo stages[2] = {
        {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_VERTEX_BIT, .module = vs, .pName = "main"},
        {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_FRAGMENT_BIT, .module = fs, .pName = "main"}};
    VkPipelineVertexInputStateCreateInfo vin = {.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
    VkPipelineInputAssemblyStateCreateInfo ia = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
                                                 .topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
    VkPipelineViewportStateCreateInfo vp = {.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
                                            .viewportCount = 1,
                                            .scissorCount = 1};
    VkPipelineRasterizationStateCreateInfo rs = {.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
                                                 .polygonMode = VK_POLYGON_MODE_FILL,
                                                 .cullMode = VK_CULL_MODE_NONE,
                                                 .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE,
                                                 .lineWidth = 1.0f};
    VkPipelineMultisampleStateCreateInfo ms = {.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
                                               .rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
    VkPipelineColorBlendAttachmentState cba = {.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                                                                 VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT};
    VkPipelineColorBlendStateCreateInfo cb = {.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
                                              .attachmentCount = 1,
                                              .pAttachments = &cba};
    VkDynamicState dyn[2] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
    VkPipelineDynamicStateCreateInfo ds = {.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO,
                                           .dynamicStateCount = 2,
                                           .pDynamicStates = dyn};
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
                                        .layout = a->g.layout,
                                        .renderPass = a->pass};
    r = vkCreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &gpi, NULL, &a->draw);
    vkDestroyShaderModule(dev, vs, NULL);
    vkDestroyShaderModule(dev, fs, NULL);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkCreateGraphicsPipelines");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Frames in flight                                                                         */
/* ---------------------------------------------------------------------------------------- */

static int init_sync(app *a)
{
    VkDevice dev = a->g.dev;
    for (int i = 0; i < SLOTS; i++) {
        frame_sync *y = &a->sync[i];
        VkCommandBuffer cbs[2];
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = a->g.cmd_pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 2};
        VkResult r = vkAllocateCommandBuffers(dev, &ai, cbs);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "vkAllocateCommandBuffers");
            return -1;
        }
        y->pre = cbs[0];
        y->post = cbs[1];
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
        r = vkCreateFence(dev, &fi, NULL, &y->fence);
        if (r == VK_SUCCESS) r = vkCreateSemaphore(dev, &si, NULL, &y->acquire);
        if (r == VK_SUCCESS && a->g.timestamp_bits) {
            VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                        .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                        .queryCount = 2};
            r = vkCreateQueryPool(dev, &qi, NULL, &y->queries);
        }
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "creating frame synchronisation objects");
            return -1;
        }
    }
    return 0;
}

static int write_png(app *a, const char *path, const frame_sync *y)
{
    int w = y->shot_w, h = y->shot_h;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (!rgb) {
        fail(a, "out of memory for a screenshot");
        return -1;
    }
    const uint8_t *src = y->shot_buf.map;
    int bgr = a->format.format == VK_FORMAT_B8G8R8A8_UNORM || a->format.format == VK_FORMAT_B8G8R8A8_SRGB;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        rgb[3 * i + 0] = src[4 * i + (bgr ? 2 : 0)];
        rgb[3 * i + 1] = src[4 * i + 1];
        rgb[3 * i + 2] = src[4 * i + (bgr ? 0 : 2)];
    }
    int ok = stbi_write_png(path, w, h, 3, rgb, w * 3);
    free(rgb);
    if (!ok) {
        fail(a, "cannot write the screenshot %s: %s", path, strerror(errno));
        return -1;
    }
    printf("screenshot saved: %s (%dx%d)\n", path, w, h);
    fflush(stdout);
    a->shots_saved++;
    return 0;
}

static void screenshot_path(app *a, char *buf, size_t n)
{
    if (a->opt.screenshot) {
        snprintf(buf, n, "%s", a->opt.screenshot);
        return;
    }
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, n, "kwvk-viewer-%s-%d.png", stamp, a->shots_saved + 1);
}

/* Wait for slot i's frame and collect what it produced. */
static void complete(app *a, int i)
{
    frame_sync *y = &a->sync[i];
    if (!y->pending) return;
    VkResult r = vkWaitForFences(a->g.dev, 1, &y->fence, VK_TRUE, 60ull * 1000000000ull);
    if (r == VK_TIMEOUT) {
        fail(a, "the GPU did not finish a frame within 60 s");
        return;
    }
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkWaitForFences");
        return;
    }
    vkResetFences(a->g.dev, 1, &y->fence);
    y->pending = 0;
    if (y->inferred) {
        double ms = -1;
        if (y->queries) {
            uint64_t ts[2];
            if (vkGetQueryPoolResults(a->g.dev, y->queries, 0, 2, sizeof ts, ts, sizeof ts[0], VK_QUERY_RESULT_64_BIT) ==
                VK_SUCCESS) {
                uint64_t mask = a->g.timestamp_bits >= 64 ? ~0ull : ((1ull << a->g.timestamp_bits) - 1);
                ms = (double)((ts[1] - ts[0]) & mask) * a->g.props.limits.timestampPeriod / 1e6;
            }
        }
        if (ms < 0) ms = now_ms() - y->submit_ms; /* no timestamps: submission to completion */
        a->infer_ms = a->infer_ms > 0 ? 0.8 * a->infer_ms + 0.2 * ms : ms;
        y->inferred = 0;
    }
    if (y->shot) {
        y->shot = 0;
        char path[1024];
        screenshot_path(a, path, sizeof path);
        write_png(a, path, y);
    }
}

static void wait_all(app *a)
{
    for (int i = 0; i < SLOTS; i++) complete(a, i);
}

static int load_model_slots(app *a, int m)
{
    for (int i = 0; i < SLOTS; i++) {
        char err[512];
        if (vw_slot_init(&a->g, &a->slots[i], &a->models[m], err, sizeof err)) {
            fail(a, "%s", err);
            return -1;
        }
    }
    a->cur_model = m;
    a->last_data = -1;
    return 0;
}

static void switch_model(app *a)
{
    a->next_model = 0;
    if (a->n_models < 2) return;
    wait_all(a);
    for (int i = 0; i < SLOTS; i++) vw_slot_release(&a->g, &a->slots[i]);
    load_model_slots(a, (a->cur_model + 1) % a->n_models);
    a->fps_frames = 0;
    a->fps_final = 0;
    a->fps_t0 = now_ms();
    a->infer_ms = 0;
}

static void set_text(app *a, vw_buf *text)
{
    char lines[VW_TEXT_LINES][512]; /* cut to VW_COLS below */
    char ms[32];
    if (a->infer_ms > 0) snprintf(ms, sizeof ms, "%.2f ms", a->infer_ms);
    else snprintf(ms, sizeof ms, "- ms");
    if (a->paused) snprintf(lines[0], sizeof lines[0], "PAUSED  infer %s", ms);
    else snprintf(lines[0], sizeof lines[0], "%.1f fps  infer %s", a->fps, ms);
    snprintf(lines[1], sizeof lines[1], "%s", a->device_name);
    snprintf(lines[2], sizeof lines[2], "%s  %s", a->models[a->cur_model].short_name,
             a->frame_name ? a->frame_name : "");
    char *dst = text->map;
    memset(dst, 0, VW_TEXT_LINES * VW_LINE_BYTES);
    for (int l = 0; l < VW_TEXT_LINES; l++) {
        size_t n = strlen(lines[l]);
        if (n > VW_COLS) n = VW_COLS;
        for (size_t k = 0; k < n; k++) { /* the font has printable ASCII only */
            unsigned char c = (unsigned char)lines[l][k];
            dst[l * VW_LINE_BYTES + k] = (char)(c >= 32 && c < 127 ? c : '?');
        }
    }
}

static int begin_cb(app *a, VkCommandBuffer cmd)
{
    VkResult r = vkResetCommandBuffer(cmd, 0);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (r == VK_SUCCESS) r = vkBeginCommandBuffer(cmd, &bi);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkBeginCommandBuffer");
        return -1;
    }
    return 0;
}

static void record_draw(app *a, VkCommandBuffer cmd, uint32_t image, const vw_slot *data, frame_sync *y, VkDescriptorSet set)
{
    VkExtent2D ext = a->sc.extent;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT, 0, 1, &mb, 0,
                         NULL, 0, NULL);
    VkRenderPassBeginInfo rb = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                                .renderPass = a->pass,
                                .framebuffer = a->sc.fbs[image],
                                .renderArea = {{0, 0}, ext}};
    vkCmdBeginRenderPass(cmd, &rb, VK_SUBPASS_CONTENTS_INLINE);
    VkViewport vp = {0, 0, (float)ext.width, (float)ext.height, 0, 1};
    VkRect2D sc = {{0, 0}, ext};
    vkCmdSetViewport(cmd, 0, 1, &vp);
    vkCmdSetScissor(cmd, 0, 1, &sc);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, a->draw);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, a->g.layout, 0, 1, &set, 0, NULL);
    vw_layout l;
    int have = data && data->have_frame;
    vw_layout_compute((int)ext.width, (int)ext.height, have ? data->fw : 1, have ? data->fh : 1, &l);
    int32_t pc[23] = {l.win_w, l.win_h, l.fx, l.fy, l.fw, l.fh, l.src_w, l.src_h, l.px, l.py, l.pw, l.ph,
                      l.scale, l.pad, l.topk_h, l.line_h, l.bar_dy, l.bar_h, l.bar_w, have, a->srgb,
                      data ? (int32_t)data->model->classes : 0, 0};
    vkCmdPushConstants(cmd, a->g.layout, VK_SHADER_STAGE_COMPUTE_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof pc, pc);
    vkCmdDraw(cmd, 3, 1, 0, 0);
    vkCmdEndRenderPass(cmd);
    if (!y->shot) return;
    /* copy the presented image for a screenshot */
    VkImageMemoryBarrier ib = {.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
                               .oldLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                               .newLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                               .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .image = a->sc.images[image],
                               .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 0,
                         NULL, 1, &ib);
    VkBufferImageCopy region = {.bufferOffset = 0,
                                .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                                .imageExtent = {ext.width, ext.height, 1}};
    vkCmdCopyImageToBuffer(cmd, a->sc.images[image], VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, y->shot_buf.buf, 1, &region);
    ib.srcAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    ib.dstAccessMask = 0;
    ib.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    ib.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
    VkBufferMemoryBarrier bb = {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
                                .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                .buffer = y->shot_buf.buf,
                                .offset = 0,
                                .size = VK_WHOLE_SIZE};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         0, 0, NULL, 1, &bb, 1, &ib);
}

static VkResult submit(app *a, VkCommandBuffer cmd, VkSemaphore wait, VkPipelineStageFlags wait_stage, VkSemaphore signal,
                       VkFence fence)
{
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .waitSemaphoreCount = wait ? 1 : 0,
                       .pWaitSemaphores = &wait,
                       .pWaitDstStageMask = &wait_stage,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cmd,
                       .signalSemaphoreCount = signal ? 1 : 0,
                       .pSignalSemaphores = &signal};
    kwvk_context_queue_lock(a->kctx);
    VkResult r = vkQueueSubmit(a->g.queue, 1, &si, fence);
    kwvk_context_queue_unlock(a->kctx);
    return r;
}

/* One frame: maybe a new source frame through the network, then draw and present.
 * Returns 1 if a frame was presented, 0 if there was nothing to do. */
static int frame(app *a)
{
    int i = a->cur;
    frame_sync *y = &a->sync[i];
    vw_slot *s = &a->slots[i];
    complete(a, i);
    if (a->failed) return 0;

    int infer = 0;
    if (!a->paused) {
        int busy = a->sync[i ^ 1].pending;
        vw_frame f;
        int r = vw_source_next(a->src, &f, busy ? 2 : 20);
        if (r < 0) {
            fail(a, "%s", a->src->err);
            return 0;
        }
        if (r == 1) {
            /* a redraw from the other frame in flight may still read this slot's buffers,
             * which the upload may reallocate */
            if (a->sync[i ^ 1].pending && a->sync[i ^ 1].data_slot == i) complete(a, i ^ 1);
            if (a->failed) return 0;
            char err[512];
            if (vw_slot_upload(&a->g, s, &f, err, sizeof err)) {
                fail(a, "%s: %s", f.name, err);
                return 0;
            }
            a->frame_name = f.name;
            infer = 1;
        }
    }
    if (!infer && !a->need_redraw) return 0;
    int d = infer ? i : a->last_data;
    const vw_slot *data = d >= 0 ? &a->slots[d] : NULL;
    if (a->lost_at > 0 && a->frames_done + 1 >= a->lost_at) {
        fail_vk(a, VK_ERROR_DEVICE_LOST, "vkQueueSubmit, injected by KWVK_VIEWER_FAULT");
        return 0;
    }

    uint32_t image;
    VkResult r = vkAcquireNextImageKHR(a->g.dev, a->sc.sc, UINT64_MAX, y->acquire, VK_NULL_HANDLE, &image);
    if (r == VK_ERROR_OUT_OF_DATE_KHR) {
        a->resized = 1;
        return 0;
    }
    if (r != VK_SUCCESS && r != VK_SUBOPTIMAL_KHR) {
        fail_vk(a, r, "vkAcquireNextImageKHR");
        return 0;
    }
    if (r == VK_SUBOPTIMAL_KHR) a->resized = 1;

    /* the screenshot buffer */
    if (a->shot_requested && !a->can_copy) {
        fprintf(stderr, "%s: this swapchain cannot be read back; no screenshot\n", TOOL);
        a->shot_requested = 0;
    }
    if (a->shot_requested) {
        VkDeviceSize need = (VkDeviceSize)a->sc.extent.width * a->sc.extent.height * 4;
        if (y->shot_buf.size < need) {
            char err[512];
            vw_buf_destroy(&a->g, &y->shot_buf);
            if (vw_buf_create(&a->g, need, VK_BUFFER_USAGE_TRANSFER_DST_BIT, 1, &y->shot_buf, err, sizeof err)) {
                fail(a, "%s", err);
                return 0;
            }
        }
        y->shot = 1;
        y->shot_w = (int)a->sc.extent.width;
        y->shot_h = (int)a->sc.extent.height;
        a->shot_requested = 0;
    }

    set_text(a, &s->text);
    if (data) vw_write_set(&a->g, s->set, data, &s->text);
    else vw_write_set(&a->g, s->set, s, &s->text);
    y->submit_ms = now_ms();
    if (infer) {
        if (begin_cb(a, y->pre)) return 0;
        if (y->queries) {
            vkCmdResetQueryPool(y->pre, y->queries, 0, 2);
            vkCmdWriteTimestamp(y->pre, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, y->queries, 0);
        }
        vw_record_preprocess(&a->g, y->pre, s);
        r = vkEndCommandBuffer(y->pre);
        if (r == VK_SUCCESS) r = submit(a, y->pre, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, VK_NULL_HANDLE);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "vkQueueSubmit (preprocessing)");
            return 0;
        }
        const vw_model *m = s->model;
        kwvk_result kr = kwvk_net_submit(s->net, 1, m->c, m->h, m->w, NULL);
        if (kr != KWVK_OK) {
            fail_kwvk(a, kr, "kwvk_net_submit");
            return 0;
        }
    }
    if (begin_cb(a, y->post)) return 0;
    if (infer) {
        if (y->queries) vkCmdWriteTimestamp(y->post, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, y->queries, 1);
        vw_record_topk(&a->g, y->post, s);
    }
    record_draw(a, y->post, image, data, y, s->set);
    r = vkEndCommandBuffer(y->post);
    if (r == VK_SUCCESS)
        r = submit(a, y->post, y->acquire, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, a->sc.done[image], y->fence);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkQueueSubmit (draw)");
        return 0;
    }
    y->pending = 1;
    y->inferred = infer;
    y->data_slot = d >= 0 ? d : i;
    VkPresentInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                           .waitSemaphoreCount = 1,
                           .pWaitSemaphores = &a->sc.done[image],
                           .swapchainCount = 1,
                           .pSwapchains = &a->sc.sc,
                           .pImageIndices = &image};
    kwvk_context_queue_lock(a->kctx);
    r = vkQueuePresentKHR(a->g.queue, &pi);
    kwvk_context_queue_unlock(a->kctx);
    if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) a->resized = 1;
    else if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkQueuePresentKHR");
        return 0;
    }
    if (infer) {
        a->last_data = i;
        a->fps_frames++;
        double t = now_ms();
        if (t - a->fps_t0 >= 500) { /* a new reading twice a second */
            a->fps = a->fps_frames * 1000.0 / (t - a->fps_t0);
            a->fps_frames = 0;
            a->fps_t0 = t;
            a->fps_final = 1;
        } else if (!a->fps_final && t > a->fps_t0) { /* the first half second */
            a->fps = a->fps_frames * 1000.0 / (t - a->fps_t0);
        }
    }
    a->need_redraw = 0;
    a->last_draw_ms = now_ms();
    a->cur ^= 1;
    return 1;
}

static void print_result(app *a)
{
    if (a->last_data < 0) return;
    const vw_slot *s = &a->slots[a->last_data];
    const vw_topk_result *t = s->topk.map;
    printf("%s:", a->frame_name ? a->frame_name : "frame");
    for (uint32_t j = 0; j < t->count && j < VW_TOPK; j++) {
        const char *l = t->idx[j] < s->model->classes ? kwvk_model_label(s->model->model, t->idx[j]) : NULL;
        printf("%s %.2f%% %s (class %u)", j ? "," : "", 100.0 * t->prob[j], l && l[0] ? l : "", t->idx[j]);
    }
    printf("\n");
}

/* ---------------------------------------------------------------------------------------- */
/* Main                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* The default source: the sample images next to the first model (models/samples), else the
 * source tree's or the installed ones, else the test pattern. */
static vw_source *open_default_source(const options *o, char *err, size_t n)
{
    char near[1024];
    const char *model = o->models[0], *slash = strrchr(model, '/');
    snprintf(near, sizeof near, "%.*s/samples", slash ? (int)(slash - model) : 1, slash ? model : ".");
    const char *dirs[] = {near, KWVK_SOURCE_MODELS "/samples", KWVK_INSTALL_MODELS "/samples"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        vw_source *s = vw_source_open_dir(dirs[i], o->interval, err, n);
        if (s) return s;
    }
    fprintf(stderr, "%s: no sample images in %s; showing the test pattern\n", TOOL, near);
    return vw_source_open_pattern(o->cam_w, o->cam_h, err, n);
}

static vw_source *open_source(const options *o, char *err, size_t n)
{
    switch (o->src) {
    case SRC_CAMERA: return vw_source_open_camera(o->src_arg, o->cam_w, o->cam_h, o->cam_fourcc, err, n);
    case SRC_IMAGE: return vw_source_open_image(o->src_arg, err, n);
    case SRC_DIR: return vw_source_open_dir(o->src_arg, o->interval, err, n);
    case SRC_PATTERN: return vw_source_open_pattern(o->cam_w, o->cam_h, err, n);
    case SRC_DEFAULT: break;
    }
    return open_default_source(o, err, n);
}

/* Tear everything down; returns the validation-message count seen up to the end. */
static uint32_t cleanup(app *a)
{
    VkInstance instance = a->g.instance;
    if (a->g.dev) {
        wait_all(a);
        kwvk_context_queue_lock(a->kctx);
        vkDeviceWaitIdle(a->g.dev);
        kwvk_context_queue_unlock(a->kctx);
        for (int i = 0; i < SLOTS; i++) {
            frame_sync *y = &a->sync[i];
            vw_buf_destroy(&a->g, &y->shot_buf);
            if (y->fence) vkDestroyFence(a->g.dev, y->fence, NULL);
            if (y->acquire) vkDestroySemaphore(a->g.dev, y->acquire, NULL);
            if (y->queries) vkDestroyQueryPool(a->g.dev, y->queries, NULL);
            vw_slot_release(&a->g, &a->slots[i]);
        }
        destroy_swapchain_views(a);
        if (a->sc.sc) vkDestroySwapchainKHR(a->g.dev, a->sc.sc, NULL);
        if (a->draw) vkDestroyPipeline(a->g.dev, a->draw, NULL);
        if (a->pass) vkDestroyRenderPass(a->g.dev, a->pass, NULL);
        for (int m = 0; m < a->n_models; m++) vw_model_release(&a->g, &a->models[m]);
        vw_gpu_destroy(&a->g); /* frees the command buffers with its pool */
    }
    if (a->surface) vkDestroySurfaceKHR(instance, a->surface, NULL);
    uint32_t vmsg = a->kctx ? kwvk_context_validation_messages(a->kctx) : 0;
    kwvk_context_destroy(a->kctx);
    if (a->win) glfwDestroyWindow(a->win);
    glfwTerminate();
    vw_source_close(a->src);
    return vmsg;
}

int main(int argc, char **argv)
{
    static app A;
    app *a = &A;
    parse_args(argc, argv, &a->opt);
    a->last_data = -1;
    const char *fault = getenv("KWVK_VIEWER_FAULT");
    if (fault && !strncmp(fault, "device_lost@", 12)) a->lost_at = atoi(fault + 12);

    char err[768];
    a->src = open_source(&a->opt, err, sizeof err);
    if (!a->src) tu_die(TOOL, "%s", err);

    glfwSetErrorCallback(on_glfw_error);
    if (!glfwInit()) {
        vw_source_close(a->src);
        tu_die(TOOL, "no display: %s (run it on a desktop, or under xvfb-run)",
               glfw_error[0] ? glfw_error : "GLFW could not initialise");
    }
    if (!glfwVulkanSupported()) {
        glfwTerminate();
        vw_source_close(a->src);
        tu_die(TOOL, "no Vulkan loader that can present to this display (libvulkan1 and a driver with surface support)");
    }
    uint32_t n_ext = 0;
    const char **ext = glfwGetRequiredInstanceExtensions(&n_ext);
    const char *dev_ext[1] = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
    kwvk_context_desc cd = {.device = a->opt.device,
                            .enable_validation = a->opt.validation,
                            .instance_extensions = ext,
                            .instance_extension_count = ext ? n_ext : 0,
                            .device_extensions = dev_ext,
                            .device_extension_count = 1};
    kwvk_result kr = kwvk_context_create(&cd, &a->kctx);
    if (kr != KWVK_OK) {
        fail_kwvk(a, kr, "creating the Vulkan context");
        goto done;
    }
    kwvk_device_info di;
    kwvk_context_device_info(a->kctx, &di);
    snprintf(a->device_name, sizeof a->device_name, "%s", di.name);
    if (vw_gpu_init(&a->g, a->kctx, err, sizeof err)) {
        fail(a, "%s", err);
        goto done;
    }
    if (!vkCreateSwapchainKHR || !vkAcquireNextImageKHR || !vkQueuePresentKHR || !vkGetPhysicalDeviceSurfaceSupportKHR) {
        fail(a, "the Vulkan surface and swapchain functions are missing");
        goto done;
    }
    for (int m = 0; m < a->opt.n_models; m++) {
        if (vw_model_load(&a->g, a->opt.models[m], &a->models[m], err, sizeof err)) {
            fail(a, "%s", err);
            goto done;
        }
        a->n_models++;
    }
    if (load_model_slots(a, 0)) goto done;
    if (init_sync(a)) goto done;

    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
    char title[256];
    snprintf(title, sizeof title, "kwvk-viewer - %.200s", a->device_name);
    a->win = glfwCreateWindow(a->opt.win_w, a->opt.win_h, title, NULL, NULL);
    if (!a->win) {
        fail(a, "cannot create a window: %s", glfw_error[0] ? glfw_error : "unknown reason");
        goto done;
    }
    glfwSetWindowUserPointer(a->win, a);
    glfwSetKeyCallback(a->win, on_key);
    glfwSetFramebufferSizeCallback(a->win, on_resize);
    glfwSetWindowRefreshCallback(a->win, on_refresh);
    VkResult vr = glfwCreateWindowSurface(a->g.instance, a->win, NULL, &a->surface);
    if (vr != VK_SUCCESS) {
        fail(a, "cannot create a Vulkan surface for the window: %s (%s)", vw_vk_result_name(vr),
             glfw_error[0] ? glfw_error : "");
        goto done;
    }
    VkBool32 present = VK_FALSE;
    vkGetPhysicalDeviceSurfaceSupportKHR(a->g.phys, a->g.queue_family, a->surface, &present);
    if (!present) {
        fail(a, "the device %s cannot present to this window from its compute queue (try --device)", a->device_name);
        goto done;
    }
    if (pick_surface_format(a) || create_render_objects(a)) goto done;
    if (create_swapchain(a) < 0) goto done;

    a->fps_t0 = now_ms();
    a->need_redraw = 1;
    int applied[MAX_KEYS] = {0};
    while (!a->failed && !a->quit && !glfwWindowShouldClose(a->win)) {
        glfwPollEvents();
        for (int k = 0; k < a->opt.n_keys; k++)
            if (!applied[k] && a->opt.keys[k].frame <= a->frames_done) {
                if (a->opt.keys[k].key == KEY_RESIZE) glfwSetWindowSize(a->win, a->opt.keys[k].w, a->opt.keys[k].h);
                else press(a, a->opt.keys[k].key);
                applied[k] = 1;
            }
        if (a->quit) break;
        if (a->next_model) switch_model(a);
        if (a->failed) break;
        int fw, fh;
        glfwGetFramebufferSize(a->win, &fw, &fh);
        if (fw == 0 || fh == 0) { /* minimised */
            glfwWaitEventsTimeout(0.1);
            continue;
        }
        if (a->resized || !a->sc.sc) {
            int r = recreate_swapchain(a);
            if (r < 0) break;
            if (r == 1) {
                glfwWaitEventsTimeout(0.1);
                continue;
            }
        }
        if (a->opt.frames && a->frames_done + 1 == a->opt.frames && a->opt.screenshot) a->shot_requested = 1;
        if (a->paused && now_ms() - a->last_draw_ms >= 100) a->need_redraw = 1; /* paused: 10 redraws/s */
        int drew = frame(a);
        if (drew) {
            a->frames_done++;
            if (a->opt.frames && a->frames_done >= a->opt.frames) break;
        } else if (!a->failed) {
            glfwWaitEventsTimeout(a->paused ? 0.05 : 0.002);
        }
    }
    wait_all(a);
    if (!a->failed && a->opt.frames) print_result(a);

done:;
    uint32_t vmsg = cleanup(a);
    if (a->failed) {
        fprintf(stderr, "%s: %s\n", TOOL, a->err);
        return 1;
    }
    if (vmsg) {
        fprintf(stderr, "%s: %u Vulkan validation message(s)\n", TOOL, vmsg);
        return 1;
    }
    return 0;
}
