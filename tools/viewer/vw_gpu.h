/* vw_gpu.h - the viewer's GPU path on kwvk's own device and queue: frame upload, pixel
 * format conversion, Pillow-style resize + centre crop + normalisation straight into the
 * network's input buffer, the network's recorded command buffer (kwvk_net_submit), and a
 * softmax + top-k pass over its output. No window here: kwvk-viewer adds the swapchain
 * and overlay, and the GPU preprocessing test drives this part headless. */
#ifndef VW_GPU_H
#define VW_GPU_H

#include "kwvk.h"
#include "vw_source.h"
#include "vw_vk.h"

/* Descriptor bindings, shared by every viewer pipeline (one set layout). */
enum {
    VW_B_RAW = 0,     /* the frame as the source gave it (host-visible) */
    VW_B_FRAME = 1,   /* RGBA8 pixels of the frame (for display and preprocessing) */
    VW_B_TMP = 2,     /* horizontally resampled rows */
    VW_B_WEIGHTS = 3, /* resampling tables */
    VW_B_NET_IN = 4,  /* kwvk's input buffer */
    VW_B_NET_OUT = 5, /* kwvk's output buffer */
    VW_B_TOPK = 6,    /* vw_topk_result */
    VW_B_TEXT = 7,    /* host text lines for the overlay */
    VW_B_LABELS = 8,  /* class labels, VW_LABEL_BYTES each */
    VW_B_GLYPHS = 9,  /* the font */
    VW_B_COUNT = 10
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
    uint32_t timestamp_bits; /* of the queue family; 0 = no timestamps */
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout; /* every viewer pipeline; push constants: 128 bytes, compute + fragment */
    VkPipeline convert, resize_h, resize_v, topk;
    VkDescriptorPool desc_pool;
    VkCommandPool cmd_pool;
    vw_buf glyphs;
    vw_buf dummy; /* bound where a slot has nothing yet */
} vw_gpu;

/* A loaded model with what the GPU path needs. */
typedef struct vw_model {
    const char *path;
    kwvk_model *model;
    kwvk_model_info info;
    uint32_t c, h, w; /* network input */
    uint32_t classes; /* outputs per sample */
    char short_name[64];
    vw_buf labels;
} vw_model;

/* Matches the shader's TopK block. */
typedef struct vw_topk_result {
    uint32_t idx[4];
    float prob[4];
    uint32_t count;
    uint32_t pad[3];
} vw_topk_result;

/* One frame in flight: its own network (kwvk_net, so its own I/O buffers) and buffers. */
typedef struct vw_slot {
    const vw_model *model;
    kwvk_net *net;
    kwvk_net_io io;
    vw_buf raw, frame, tmp, weights, topk, text;
    /* the frame in `raw` */
    int fw, fh;
    vw_pixfmt fmt;
    size_t stride;
    int have_frame;
    /* the resampling plan for fw x fh */
    int plan_w, plan_h;
    uint32_t cw, ch, kx, ky, hoff, voff;
    VkDescriptorSet set;
} vw_slot;

/* All return 0, or -1 with a one-line message in err. */
int vw_gpu_init(vw_gpu *g, kwvk_context *kctx, char *err, size_t err_len);
void vw_gpu_destroy(vw_gpu *g);

int vw_buf_create(vw_gpu *g, VkDeviceSize size, VkBufferUsageFlags usage, int host_visible, vw_buf *b, char *err,
                  size_t err_len);
void vw_buf_destroy(vw_gpu *g, vw_buf *b);

int vw_model_load(vw_gpu *g, const char *path, vw_model *m, char *err, size_t err_len);
void vw_model_release(vw_gpu *g, vw_model *m);

int vw_slot_init(vw_gpu *g, vw_slot *s, const vw_model *m, char *err, size_t err_len);
void vw_slot_release(vw_gpu *g, vw_slot *s);
/* Copy a frame into the slot (the slot's previous work must be complete). */
int vw_slot_upload(vw_gpu *g, vw_slot *s, const vw_frame *f, char *err, size_t err_len);
/* Point `set` at the data of `data` (frame, network I/O, top-k, labels) and at `text`. */
void vw_write_set(vw_gpu *g, VkDescriptorSet set, const vw_slot *data, const vw_buf *text);

/* Record conversion + preprocessing of the slot's frame into the network input, ending in
 * a barrier that makes the input visible to the network's command buffer. */
void vw_record_preprocess(vw_gpu *g, VkCommandBuffer cmd, const vw_slot *s);
/* Record softmax + top-k over the network output (submitted after the network). */
void vw_record_topk(vw_gpu *g, VkCommandBuffer cmd, const vw_slot *s);

/* Helpers for one-off work (the preprocessing test; screenshots): allocate + begin, then
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
