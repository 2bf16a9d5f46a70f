/* vw_gpu.h - the viewer's GPU work on kwvk's own device and queue, and its inference:
 *   - display: the frame as the source gave it (RGB24 or YUYV) is uploaded and converted to
 *     RGBA8 on the GPU for the overlay pass (vw_window.c) to draw;
 *   - inference: ONE kwvk_net per model; every new frame is handed to the library as pixels
 *     (kwvk_net_start_images: the library converts, resizes with the model's interpolation,
 *     crops and normalises on the GPU), the job is polled from the frame loop without
 *     blocking (kwvk_job_poll), and its logits go through kwvk_top_k on the CPU into the
 *     slot's result, which the overlay reads.
 * No window here: kwvk-viewer adds the swapchain and overlay, and the viewer's GPU test
 * drives this part headless. */
#ifndef VW_GPU_H
#define VW_GPU_H

#include "kwvk.h"
#include "vw_source.h"
#include "vw_vk.h"

/* Descriptor bindings, shared by every viewer pipeline (one set layout). */
enum {
    VW_B_RAW = 0,    /* the frame as the source gave it (host-visible) */
    VW_B_FRAME = 1,  /* RGBA8 pixels of the frame (for display) */
    VW_B_TOPK = 2,   /* vw_topk_result (host-visible, written by the CPU) */
    VW_B_TEXT = 3,   /* host text lines for the overlay */
    VW_B_LABELS = 4, /* class labels, VW_LABEL_BYTES each */
    VW_B_GLYPHS = 5, /* the font */
    VW_B_COUNT = 6
};

typedef struct vw_buf {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* host pointer for host-visible buffers */
} vw_buf;

typedef struct vw_gpu {
    kwvk_context *kctx;
    vw_vk vk; /* Vulkan entry points for the handles below */
    VkInstance instance;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memp;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout; /* every viewer pipeline; push constants: 128 bytes, compute + fragment */
    VkPipeline convert;
    VkDescriptorPool desc_pool;
    VkCommandPool cmd_pool;
    vw_buf glyphs;
    vw_buf dummy; /* bound where a slot has nothing yet */
} vw_gpu;

/* A loaded model with what the viewer needs. */
typedef struct vw_model {
    const char *path;
    kwvk_model *model;
    kwvk_model_info info;
    uint32_t c, h, w; /* network input */
    uint32_t classes; /* outputs per sample */
    char short_name[64];
    vw_buf labels;
} vw_model;

/* Matches the overlay shader's TopK block. */
typedef struct vw_topk_result {
    uint32_t idx[4];
    float prob[4];
    uint32_t count;
    uint32_t pad[3];
} vw_topk_result;

/* One frame: its pixels (raw and converted for display) and, once its job is done, its
 * labels. */
typedef struct vw_slot {
    const vw_model *model;
    vw_buf raw, frame, topk;
    /* the frame in `raw` */
    int fw, fh;
    vw_pixfmt fmt;
    size_t stride;
    int have_frame;
    int converted; /* `frame` holds the RGBA8 conversion of `raw` (recorded and submitted) */
} vw_slot;

/* Jobs of the viewer's one net in flight at once (kwvk_net_desc.max_in_flight). */
#define VW_JOBS 2

/* The inference of one model: one kwvk_net, its jobs in start order. */
typedef struct vw_infer {
    const vw_model *model;
    kwvk_net *net;
    int n;                  /* jobs in flight */
    kwvk_job *job[VW_JOBS]; /* oldest first */
    int slot[VW_JOBS];      /* the caller's slot index of each job */
    double t0[VW_JOBS];     /* host time of kwvk_net_start_images, ms */
    float *logits;          /* of the last finished job (model->classes) */
} vw_infer;

/* All return 0, or -1 with a one-line message in err. */
int vw_gpu_init(vw_gpu *g, kwvk_context *kctx, char *err, size_t err_len);
void vw_gpu_destroy(vw_gpu *g);

int vw_buf_create(vw_gpu *g, VkDeviceSize size, VkBufferUsageFlags usage, int host_visible, vw_buf *b, char *err,
                  size_t err_len);
void vw_buf_destroy(vw_gpu *g, vw_buf *b);

int vw_model_load(vw_gpu *g, const char *path, vw_model *m, char *err, size_t err_len);
void vw_model_release(vw_gpu *g, vw_model *m);

/* An empty slot for frames of `m` (its result buffer allocated). */
int vw_slot_init(vw_gpu *g, vw_slot *s, const vw_model *m, char *err, size_t err_len);
void vw_slot_release(vw_gpu *g, vw_slot *s);
/* Copy a frame into the slot for display (no GPU work of the slot's buffers may be pending;
 * the conversion is recorded later with vw_record_convert). */
int vw_slot_upload(vw_gpu *g, vw_slot *s, const vw_frame *f, char *err, size_t err_len);
/* A descriptor set of the viewer's layout (freed with the pool). */
int vw_set_alloc(vw_gpu *g, VkDescriptorSet *set, char *err, size_t err_len);
/* Point `set` at the frame, result and labels of `data` and at `text`. */
void vw_write_set(vw_gpu *g, VkDescriptorSet set, const vw_slot *data, const vw_buf *text);
/* Record the conversion of the slot's raw frame into its RGBA8 frame through `set` (written
 * for this slot), ending in a barrier that makes it visible to the overlay's fragment shader
 * and to transfers. */
void vw_record_convert(vw_gpu *g, VkCommandBuffer cmd, VkDescriptorSet set, const vw_slot *s);

/* The library's view of a source frame (RGB24 -> KWVK_PIXEL_RGB8, YUYV -> KWVK_PIXEL_YUYV,
 * limited-range BT.601 as V4L2 cameras deliver it). */
kwvk_image vw_frame_image(const vw_frame *f);
/* Create the model's net (max_in_flight VW_JOBS). */
int vw_infer_init(vw_infer *in, kwvk_context *kctx, const vw_model *m, char *err, size_t err_len);
/* Wait for and destroy every job, then the net. */
void vw_infer_release(vw_infer *in);
/* Start a job on the frame's pixels (copied before this returns) for the caller's slot.
 * 0 started; 1 VW_JOBS already in flight (nothing started); -1 failed (err). */
int vw_infer_start(vw_infer *in, const vw_frame *f, int slot, char *err, size_t err_len);
/* Poll the oldest job without blocking: 1 it is done, its top-k (softmax, up to VW_TOPK)
 * is in *res, its logits in in->logits, its slot in *slot and the host time from start to
 * this poll in *ms; 0 nothing finished (or no job); -1 failed (err). */
int vw_infer_poll(vw_infer *in, vw_topk_result *res, int *slot, double *ms, char *err, size_t err_len);

/* Helpers for one-off work (the GPU test; screenshots): allocate + begin, then
 * end + submit (under kwvk's queue lock) + wait. */
int vw_cmd_begin(vw_gpu *g, VkCommandBuffer *cmd, char *err, size_t err_len);
int vw_cmd_submit_wait(vw_gpu *g, VkCommandBuffer cmd, char *err, size_t err_len);
/* Copy `size` bytes of a device buffer to host memory (blocking). */
int vw_download(vw_gpu *g, const vw_buf *src, VkDeviceSize size, void *dst, char *err, size_t err_len);

/* Name of a VkResult. */
const char *vw_vk_result_name(VkResult r);
/* Write "WHAT failed: VK_..." (or that the device was lost) into err; returns -1. */
int vw_vk_fail(VkResult r, const char *what, char *err, size_t err_len);

#endif
