/* kwvk-viewer - label live webcam frames (or images, a slideshow, a test pattern) with a
 * kwvk model: every new frame goes to the library as pixels (kwvk_net_start_images: the
 * library converts, resizes, crops and normalises it on the GPU and runs the network; up to
 * two jobs in flight on one net), the frame loop polls the oldest job without blocking and
 * shows each frame, converted for display on the GPU, together with its top-3 labels
 * (kwvk_top_k), confidence bars, fps, inference time and the device name, drawn into the
 * presented image on kwvk's device and queue.
 *
 *   kwvk-viewer [--model M]... [--camera [DEV] | --image FILE | --dir DIR | --pattern] [options]
 *
 * Keys: q / Esc quit, space pause, s save a PNG screenshot, m next model. See --help and
 * docs/viewer.md. This file is the frame loop; the window, swapchain and presentation are in
 * vw_window.c, the GPU work on the frame and the jobs in vw_gpu.c, the command line in
 * vw_options.c. */
#include "kwvk.h"
#include "tool_util.h"
#include "vw_gpu.h"
#include "vw_layout.h"
#include "vw_options.h"
#include "vw_source.h"
#include "vw_window.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYNCS 2             /* draws in flight */
#define DATA  (VW_JOBS + 1) /* frame slots: the one on screen and one per job */

static const char *TOOL = "kwvk-viewer";

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct frame_sync {
    VkCommandBuffer cmd;
    VkFence fence;
    int pending; /* submitted, fence not yet waited */
    VkSemaphore acquire;
    VkDescriptorSet set;
    vw_buf text;   /* the overlay's host text lines of this draw */
    int data_slot; /* the slot whose frame and results the pending draw reads (-1: none) */
    int shot;      /* the pending submission copies the image for a screenshot */
    vw_buf shot_buf;
    int shot_w, shot_h;
} frame_sync;

typedef struct app {
    vw_options opt;
    vw_source *src;
    kwvk_context *kctx;
    vw_gpu g;
    vw_model models[VW_MAX_MODELS];
    int n_models, cur_model;
    vw_infer inf;          /* the current model's net and its jobs */
    vw_slot slots[DATA];   /* frames: on screen, or being labelled */
    int labelling[DATA];   /* a job of the slot is in flight */
    char names[DATA][256]; /* the source's name of each slot's frame */
    vw_slot blank;         /* drawn before the first result: no frame, no labels */
    frame_sync sync[SYNCS];
    int cur, last_data; /* sync of the next draw; slot on screen (-1: none yet) */
    vw_window w;
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
/* Window input and swapchain (the window itself: vw_window.c)                            */
/* ---------------------------------------------------------------------------------------- */

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

/* Wait for every frame in flight (and so for every use of the swapchain's images). */
static void wait_all(app *a);

/* (Re)create the swapchain; 0: ready, 1: window minimised (nothing to draw), -1: failed */
static int create_swapchain(app *a)
{
    char err[512];
    int r = vw_window_swapchain(&a->w, err, sizeof err);
    if (r < 0) fail(a, "%s", err);
    if (r == 0) {
        a->resized = 0;
        a->need_redraw = 1;
    }
    return r;
}

/* The same after waiting for every frame and presentation that may use the old swapchain. */
static int recreate_swapchain(app *a)
{
    wait_all(a);
    if (a->failed) return -1;
    /* presentation may still wait on the old images' semaphores */
    kwvk_context_queue_lock(a->kctx);
    VkResult r = a->g.vk.QueueWaitIdle(a->g.queue);
    kwvk_context_queue_unlock(a->kctx);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkQueueWaitIdle");
        return -1;
    }
    return create_swapchain(a);
}

/* ---------------------------------------------------------------------------------------- */
/* Frames in flight                                                                         */
/* ---------------------------------------------------------------------------------------- */

static int init_sync(app *a)
{
    VkDevice dev = a->g.dev;
    for (int i = 0; i < SYNCS; i++) {
        frame_sync *y = &a->sync[i];
        y->data_slot = -1;
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = a->g.cmd_pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        VkResult r = a->g.vk.AllocateCommandBuffers(dev, &ai, &y->cmd);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "vkAllocateCommandBuffers");
            return -1;
        }
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
        r = a->g.vk.CreateFence(dev, &fi, NULL, &y->fence);
        if (r == VK_SUCCESS) r = a->g.vk.CreateSemaphore(dev, &si, NULL, &y->acquire);
        if (r != VK_SUCCESS) {
            fail_vk(a, r, "creating frame synchronisation objects");
            return -1;
        }
        char err[512];
        if (vw_set_alloc(&a->g, &y->set, err, sizeof err) ||
            vw_buf_create(&a->g, VW_TEXT_LINES * VW_LINE_BYTES, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 1, &y->text, err,
                          sizeof err)) {
            fail(a, "%s", err);
            return -1;
        }
    }
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
    VkResult r = a->g.vk.WaitForFences(a->g.dev, 1, &y->fence, VK_TRUE, 60ull * 1000000000ull);
    if (r == VK_TIMEOUT) {
        fail(a, "the GPU did not finish a frame within 60 s");
        return;
    }
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkWaitForFences");
        return;
    }
    a->g.vk.ResetFences(a->g.dev, 1, &y->fence);
    y->pending = 0;
    y->data_slot = -1;
    if (y->shot) {
        y->shot = 0;
        char path[1024];
        screenshot_path(a, path, sizeof path);
        char err[512];
        if (vw_window_save_png(&a->w, &y->shot_buf, y->shot_w, y->shot_h, path, err, sizeof err)) {
            fail(a, "%s", err);
        } else {
            printf("screenshot saved: %s (%dx%d)\n", path, y->shot_w, y->shot_h);
            fflush(stdout);
            a->shots_saved++;
        }
    }
}

static void wait_all(app *a)
{
    for (int i = 0; i < SYNCS; i++) complete(a, i);
}

/* The slots and the net of model m (the previous ones released, their jobs finished). */
static int load_model(app *a, int m)
{
    char err[512];
    vw_infer_release(&a->inf);
    for (int i = 0; i < DATA; i++) vw_slot_release(&a->g, &a->slots[i]);
    vw_slot_release(&a->g, &a->blank);
    memset(a->labelling, 0, sizeof a->labelling);
    a->cur_model = m;
    a->last_data = -1;
    for (int i = 0; i < DATA; i++)
        if (vw_slot_init(&a->g, &a->slots[i], &a->models[m], err, sizeof err)) {
            fail(a, "%s", err);
            return -1;
        }
    if (vw_slot_init(&a->g, &a->blank, &a->models[m], err, sizeof err) ||
        vw_infer_init(&a->inf, a->kctx, &a->models[m], err, sizeof err)) {
        fail(a, "%s", err);
        return -1;
    }
    return 0;
}

static void switch_model(app *a)
{
    a->next_model = 0;
    if (a->n_models < 2) return;
    wait_all(a);
    if (a->failed) return;
    load_model(a, (a->cur_model + 1) % a->n_models);
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
    VkResult r = a->g.vk.ResetCommandBuffer(cmd, 0);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (r == VK_SUCCESS) r = a->g.vk.BeginCommandBuffer(cmd, &bi);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkBeginCommandBuffer");
        return -1;
    }
    return 0;
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
    VkResult r = a->g.vk.QueueSubmit(a->g.queue, 1, &si, fence);
    kwvk_context_queue_unlock(a->kctx);
    return r;
}

/* Take the oldest job's result if it is done (never blocks): its slot goes on screen. */
static int take_result(app *a)
{
    vw_topk_result res;
    int d;
    double ms;
    char err[512];
    int r = vw_infer_poll(&a->inf, &res, &d, &ms, err, sizeof err);
    if (r < 0) fail(a, "%s", err);
    if (r <= 0) return 0;
    /* no draw reads slot d: it was uploaded after the last draw that showed it completed */
    memcpy(a->slots[d].topk.map, &res, sizeof res);
    a->labelling[d] = 0;
    a->last_data = d;
    a->frame_name = a->names[d];
    a->infer_ms = a->infer_ms > 0 ? 0.8 * a->infer_ms + 0.2 * ms : ms;
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
    return 1;
}

/* Hand the next source frame, if one is there, to the library in a free slot. */
static void start_next(app *a)
{
    if (a->inf.n >= VW_JOBS) return;
    int d = -1;
    for (int i = 0; i < DATA && d < 0; i++)
        if (!a->labelling[i] && i != a->last_data) d = i;
    if (d < 0) return;
    vw_frame f;
    int r = vw_source_next(a->src, &f, a->inf.n || a->last_data >= 0 ? 2 : 20);
    if (r < 0) fail(a, "%s", a->src->err);
    if (r != 1) return;
    /* a draw still in flight may read the slot's buffers, which the upload may reallocate */
    for (int i = 0; i < SYNCS; i++)
        if (a->sync[i].pending && a->sync[i].data_slot == d) complete(a, i);
    if (a->failed) return;
    char err[512];
    if (vw_slot_upload(&a->g, &a->slots[d], &f, err, sizeof err) ||
        vw_infer_start(&a->inf, &f, d, err, sizeof err) < 0) {
        fail(a, "%s: %s", f.name, err);
        return;
    }
    snprintf(a->names[d], sizeof a->names[d], "%s", f.name ? f.name : "");
    a->labelling[d] = 1;
}

/* Draw the slot on screen (or the blank one) with the overlay and present it. Returns 1 if
 * a frame was presented. */
static int draw(app *a)
{
    int i = a->cur;
    frame_sync *y = &a->sync[i];
    complete(a, i);
    if (a->failed) return 0;
    int d = a->last_data;
    vw_slot *data = d >= 0 ? &a->slots[d] : &a->blank;
    if (a->lost_at > 0 && a->frames_done + 1 >= a->lost_at) {
        fail_vk(a, VK_ERROR_DEVICE_LOST, "vkQueueSubmit, injected by KWVK_VIEWER_FAULT");
        return 0;
    }

    uint32_t image;
    VkResult r = vw_window_acquire(&a->w, y->acquire, &image);
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
    if (a->shot_requested && !a->w.can_copy) {
        fprintf(stderr, "%s: this swapchain cannot be read back; no screenshot\n", TOOL);
        a->shot_requested = 0;
    }
    if (a->shot_requested) {
        VkDeviceSize need = (VkDeviceSize)a->w.extent.width * a->w.extent.height * 4;
        if (y->shot_buf.size < need) {
            char err[512];
            vw_buf_destroy(&a->g, &y->shot_buf);
            if (vw_buf_create(&a->g, need, VK_BUFFER_USAGE_TRANSFER_DST_BIT, 1, &y->shot_buf, err, sizeof err)) {
                fail(a, "%s", err);
                return 0;
            }
        }
        y->shot = 1;
        y->shot_w = (int)a->w.extent.width;
        y->shot_h = (int)a->w.extent.height;
        a->shot_requested = 0;
    }

    set_text(a, &y->text);
    vw_write_set(&a->g, y->set, data, &y->text);
    if (begin_cb(a, y->cmd)) return 0;
    if (data->have_frame && !data->converted) {
        vw_record_convert(&a->g, y->cmd, y->set, data);
        data->converted = 1;
    }
    vw_window_record_draw(&a->w, y->cmd, image, d >= 0 ? data : NULL, y->set, y->shot ? &y->shot_buf : NULL);
    r = a->g.vk.EndCommandBuffer(y->cmd);
    if (r == VK_SUCCESS)
        r = submit(a, y->cmd, y->acquire, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, a->w.done[image], y->fence);
    if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkQueueSubmit (draw)");
        return 0;
    }
    y->pending = 1;
    y->data_slot = d;
    r = vw_window_present(&a->w, image);
    if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) a->resized = 1;
    else if (r != VK_SUCCESS) {
        fail_vk(a, r, "vkQueuePresentKHR");
        return 0;
    }
    a->need_redraw = 0;
    a->last_draw_ms = now_ms();
    a->cur = (a->cur + 1) % SYNCS;
    return 1;
}

/* One turn of the loop: a finished result goes on screen, the next source frame goes to the
 * library, and the screen is drawn when there is something new. Never waits for inference.
 * Returns 2 if a frame with a result was presented, 1 if one without, 0 if nothing. */
static int frame(app *a)
{
    int fresh = a->paused ? 0 : take_result(a);
    if (a->failed) return 0;
    if (!a->paused) start_next(a);
    if (a->failed) return 0;
    if (!fresh && !a->need_redraw) return 0;
    int had = a->last_data >= 0;
    if (!draw(a)) return 0;
    return had ? 2 : 1;
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

/* Tear everything down; returns the validation-message count seen up to the end. */
static uint32_t cleanup(app *a)
{
    if (a->g.dev) {
        wait_all(a);
        vw_infer_release(&a->inf); /* waits for the jobs */
        kwvk_context_queue_lock(a->kctx);
        a->g.vk.DeviceWaitIdle(a->g.dev);
        kwvk_context_queue_unlock(a->kctx);
        for (int i = 0; i < SYNCS; i++) {
            frame_sync *y = &a->sync[i];
            vw_buf_destroy(&a->g, &y->shot_buf);
            vw_buf_destroy(&a->g, &y->text);
            if (y->fence) a->g.vk.DestroyFence(a->g.dev, y->fence, NULL);
            if (y->acquire) a->g.vk.DestroySemaphore(a->g.dev, y->acquire, NULL);
        }
        for (int i = 0; i < DATA; i++) vw_slot_release(&a->g, &a->slots[i]);
        vw_slot_release(&a->g, &a->blank);
        vw_window_release(&a->w); /* swapchain, pipeline, render pass, surface */
        for (int m = 0; m < a->n_models; m++) vw_model_release(&a->g, &a->models[m]);
        vw_gpu_destroy(&a->g); /* frees the command buffers and sets with their pools */
    }
    uint32_t vmsg = a->kctx ? kwvk_context_validation_messages(a->kctx) : 0;
    kwvk_context_destroy(a->kctx);
    vw_window_close(&a->w); /* the GLFW window, and GLFW */
    vw_source_close(a->src);
    return vmsg;
}

int main(int argc, char **argv)
{
    static app A;
    app *a = &A;
    vw_options_parse(argc, argv, &a->opt);
    a->last_data = -1;
    const char *fault = getenv("KWVK_VIEWER_FAULT");
    if (fault && !strncmp(fault, "device_lost@", 12)) a->lost_at = atoi(fault + 12);

    char err[768];
    a->src = vw_options_open_source(&a->opt, err, sizeof err);
    if (!a->src) tu_die(TOOL, "%s", err);

    if (vw_window_init(err, sizeof err)) {
        vw_source_close(a->src);
        tu_die(TOOL, "%s", err);
    }
    uint32_t n_ext = 0;
    const char **ext = vw_window_instance_extensions(&n_ext);
    const char *dev_ext[1] = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
    kwvk_context_desc cd = {.device = a->opt.device,
                            .enable_validation = a->opt.validation,
                            .instance_extensions = ext,
                            .instance_extension_count = n_ext,
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
    for (int m = 0; m < a->opt.n_models; m++) {
        if (vw_model_load(&a->g, a->opt.models[m], &a->models[m], err, sizeof err)) {
            fail(a, "%s", err);
            goto done;
        }
        a->n_models++;
    }
    if (load_model(a, 0)) goto done;
    if (init_sync(a)) goto done;

    char title[256];
    snprintf(title, sizeof title, "kwvk-viewer - %.200s", a->device_name);
    if (vw_window_open(&a->w, &a->g, a->opt.win_w, a->opt.win_h, title, a->device_name, a->opt.vsync, err, sizeof err)) {
        fail(a, "%s", err);
        goto done;
    }
    glfwSetWindowUserPointer(a->w.win, a);
    glfwSetKeyCallback(a->w.win, on_key);
    glfwSetFramebufferSizeCallback(a->w.win, on_resize);
    glfwSetWindowRefreshCallback(a->w.win, on_refresh);
    if (create_swapchain(a) < 0) goto done;

    a->fps_t0 = now_ms();
    a->need_redraw = 1;
    int applied[VW_MAX_KEYS] = {0};
    while (!a->failed && !a->quit && !glfwWindowShouldClose(a->w.win)) {
        glfwPollEvents();
        for (int k = 0; k < a->opt.n_keys; k++)
            if (!applied[k] && a->opt.keys[k].frame <= a->frames_done) {
                if (a->opt.keys[k].key == VW_KEY_RESIZE) glfwSetWindowSize(a->w.win, a->opt.keys[k].w, a->opt.keys[k].h);
                else press(a, a->opt.keys[k].key);
                applied[k] = 1;
            }
        if (a->quit) break;
        if (a->next_model) switch_model(a);
        if (a->failed) break;
        int fw, fh;
        glfwGetFramebufferSize(a->w.win, &fw, &fh);
        if (fw == 0 || fh == 0) { /* minimised */
            glfwWaitEventsTimeout(0.1);
            continue;
        }
        if (a->resized || !a->w.sc) {
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
        if (drew == 2) { /* frames shown before the first result do not count */
            a->frames_done++;
            if (a->opt.frames && a->frames_done >= a->opt.frames) break;
        } else if (!drew && !a->failed) {
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
