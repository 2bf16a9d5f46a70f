/*
 * kwvk.h - the one public header of kwvk, a Vulkan compute inference engine for
 * KernelWarehouse (KW) dynamic-convolution networks and plain ConvNets.
 *
 * Conventions
 *   - Opaque handles with create/destroy pairs; destroy(NULL) is a no-op.
 *   - Zero-initialised desc structs mean "defaults".
 *   - Every call returns a kwvk_result. On failure, kwvk_last_error() returns a readable
 *     message for the calling thread. The library never aborts or exits.
 *   - Tensors are float32, NCHW, little-endian host order.
 *
 * Thread safety
 *   - Distinct contexts are fully independent and may be used from different threads.
 *   - One context may be shared by several threads: creating and destroying nets and running
 *     distinct nets concurrently is safe (queue submission and the pipeline cache are guarded
 *     by the context's lock).
 *   - One kwvk_net: the running calls (kwvk_net_run*, kwvk_net_start*) and the kwvk_job
 *     calls may come from several threads at once; the other calls on a net must not overlap
 *     with any call on that net (details above kwvk_net_start).
 *   - A kwvk_model is immutable after loading and may be shared by any number of nets and
 *     threads; it must outlive the nets created from it.
 */
#ifndef KWVK_H
#define KWVK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(KWVK_SHARED_BUILD)
#define KWVK_API __declspec(dllexport)
#elif defined(__GNUC__) && defined(KWVK_SHARED_BUILD)
#define KWVK_API __attribute__((visibility("default")))
#else
#define KWVK_API
#endif

#define KWVK_VERSION_MAJOR 0
#define KWVK_VERSION_MINOR 1
#define KWVK_VERSION_PATCH 0

typedef enum kwvk_result {
    KWVK_OK = 0,
    KWVK_ERROR_INVALID_ARGUMENT = 1,  /* a caller-side mistake: NULL, bad shape, ... */
    KWVK_ERROR_OUT_OF_HOST_MEMORY = 2,
    KWVK_ERROR_OUT_OF_DEVICE_MEMORY = 3,
    KWVK_ERROR_NO_DEVICE = 4,          /* no Vulkan loader, no device, or none matched */
    KWVK_ERROR_VULKAN = 5,             /* any other Vulkan failure */
    KWVK_ERROR_DEVICE_LOST = 6,        /* the context is unusable afterwards */
    KWVK_ERROR_TIMEOUT = 7,            /* a fence did not signal in time */
    KWVK_ERROR_IO = 8,                 /* a file could not be read or written */
    KWVK_ERROR_MODEL_FORMAT = 9,       /* a model file is malformed */
    KWVK_ERROR_UNSUPPORTED = 10,       /* valid, but this device or build cannot do it */
    KWVK_ERROR_BUSY = 11,              /* a net already has max_in_flight jobs (kwvk_net_start) */
} kwvk_result;

/* Static name of a result code ("KWVK_ERROR_IO"). */
KWVK_API const char *kwvk_result_name(kwvk_result r);
/* Detail message of the last failed call on this thread ("" if none). */
KWVK_API const char *kwvk_last_error(void);

typedef enum kwvk_log_level {
    KWVK_LOG_DEBUG = 0,
    KWVK_LOG_INFO = 1,
    KWVK_LOG_WARN = 2,
    KWVK_LOG_ERROR = 3,
} kwvk_log_level;

typedef void (*kwvk_log_fn)(void *user, kwvk_log_level level, const char *message);

/* ---------------------------------------------------------------------------------------- */
/* Context                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct kwvk_context kwvk_context;

typedef struct kwvk_context_desc {
    /* Device choice: a decimal index ("1") or a case-insensitive substring of the device
     * name ("llvmpipe", "NVIDIA"). NULL: the environment variable KWVK_DEVICE, else the
     * first discrete GPU, else the first integrated GPU, else device 0. */
    const char *device;
    /* Enable VK_LAYER_KHRONOS_validation (also enabled by KWVK_VALIDATION=1). Validation
     * messages go to the log callback; errors and warnings are counted (see
     * kwvk_context_validation_messages). */
    int enable_validation;
    /* Directory for the VkPipelineCache file. NULL: $KWVK_CACHE_DIR, else
     * $XDG_CACHE_HOME/kwvk, else $HOME/.cache/kwvk; "" disables the on-disk cache. */
    const char *cache_dir;
    /* Log callback (NULL: warnings and errors to stderr, unless KWVK_QUIET=1). */
    kwvk_log_fn log;
    void *log_user;
    /* Device-memory budget in bytes for all allocations of this context (0 = unlimited).
     * An allocation that would exceed it fails with KWVK_ERROR_OUT_OF_DEVICE_MEMORY. */
    uint64_t device_memory_budget;
    /* Fence wait limit in milliseconds (0 = $KWVK_TIMEOUT_MS, else 60000). */
    uint32_t timeout_ms;
    /* Extra Vulkan extensions to enable (e.g. surface and swapchain for a viewer that
     * presents with the same device). */
    const char *const *instance_extensions;
    uint32_t instance_extension_count;
    const char *const *device_extensions;
    uint32_t device_extension_count;
} kwvk_context_desc;

typedef struct kwvk_device_info {
    char name[256];
    char driver_name[256];
    char driver_info[256];
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t api_version;
    uint32_t driver_version;
    int device_type; /* VkPhysicalDeviceType */
    uint32_t subgroup_size;
    uint32_t max_compute_workgroup_invocations;
    uint32_t max_compute_workgroup_count[3];
    uint64_t max_storage_buffer_range;
    uint64_t max_texel_buffer_elements;
    uint64_t device_local_bytes;
    float timestamp_period_ns;
    int has_timestamps;
    int has_subgroup_arithmetic;
    int has_16bit_storage; /* storageBuffer16BitAccess, where the driver can compile it */
    int has_host_visible_device_local;
    int has_texel_buffers; /* R32 and R32G32B32A32 float uniform texel buffers */
    uint32_t max_storage_buffers_per_stage; /* maxPerStageDescriptorStorageBuffers */
} kwvk_device_info;

KWVK_API kwvk_result kwvk_context_create(const kwvk_context_desc *desc, kwvk_context **out);
KWVK_API void kwvk_context_destroy(kwvk_context *ctx);
KWVK_API kwvk_result kwvk_context_device_info(const kwvk_context *ctx, kwvk_device_info *out);
/* Number of validation-layer errors and warnings seen so far (0 without validation). */
KWVK_API uint32_t kwvk_context_validation_messages(const kwvk_context *ctx);
/* Device bytes currently allocated by the context, and the high-water mark. */
KWVK_API void kwvk_context_memory_usage(const kwvk_context *ctx, uint64_t *current, uint64_t *peak);

/* List the Vulkan devices (no context needed). `infos` may be NULL to query the count. */
KWVK_API kwvk_result kwvk_enumerate_devices(kwvk_device_info *infos, uint32_t *count);

/* ---------------------------------------------------------------------------------------- */
/* Model                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct kwvk_model kwvk_model;

/* How preprocessing resizes an image (Pillow's filters, antialiased when shrinking). */
typedef enum kwvk_interpolation {
    KWVK_INTERP_BILINEAR = 0,
    KWVK_INTERP_BICUBIC = 1,
} kwvk_interpolation;

typedef struct kwvk_model_info {
    const char *name;          /* architecture name, e.g. "kw_resnet18" */
    uint32_t input_channels;   /* default input shape */
    uint32_t input_height;
    uint32_t input_width;
    uint32_t num_classes;
    float mean[4];             /* per-channel normalisation: (x/255 - mean) / std */
    float std[4];
    uint32_t resize_short;     /* preprocessing: shorter side resized to this (0 = none) */
    uint32_t crop;             /* then centre crop (0 = none) */
    uint32_t num_ops;
    uint32_t num_kw_layers;
    uint64_t num_parameters;   /* float parameters stored in the file */
    uint32_t interpolation;    /* kwvk_interpolation of the resize (model file version 2) */
} kwvk_model_info;

/* Load a model file (mmap where available). Every field is validated. */
KWVK_API kwvk_result kwvk_model_load_file(const char *path, kwvk_model **out);
/* Load from memory (e.g. an Android asset). The bytes are copied. */
KWVK_API kwvk_result kwvk_model_load_memory(const void *data, size_t size, kwvk_model **out);
KWVK_API void kwvk_model_destroy(kwvk_model *model);
KWVK_API kwvk_result kwvk_model_get_info(const kwvk_model *model, kwvk_model_info *out);
/* Class label `index` ("" when the file has no labels; NULL when out of range). */
KWVK_API const char *kwvk_model_label(const kwvk_model *model, uint32_t index);

/* ---------------------------------------------------------------------------------------- */
/* Network                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct kwvk_net kwvk_net;

typedef struct kwvk_net_desc {
    /* Record timestamp queries around each layer (see kwvk_net_profile). */
    int enable_profiling;
    /* Store the static convolution weights as fp16 (half the memory; the shaders widen each
     * value to fp32 and accumulate in fp32) where the device has storageBuffer16BitAccess;
     * elsewhere (or with KWVK_FORCE_FALLBACKS=fp16) they stay fp32: see
     * kwvk_net_stats.fp16_tensors. Static 3x3 convs then take the direct path instead of
     * Winograd (whose transformed weights are fp32). KW warehouses, attention weights and
     * assembled kernels stay fp32. The effect on accuracy is measured in docs/precision.md. */
    int fp16_weights;
    /* Jobs (kwvk_net_start) of this net that may exist at once (0 = 2). Each has its own
     * input/output staging, activation memory and command buffer per input shape. */
    uint32_t max_in_flight;
} kwvk_net_desc;

/* Upload the model's weights to the device. The model must outlive the net. */
KWVK_API kwvk_result kwvk_net_create(kwvk_context *ctx, const kwvk_model *model,
                                     const kwvk_net_desc *desc, kwvk_net **out);
KWVK_API void kwvk_net_destroy(kwvk_net *net);

/* Prepare (plan memory and record the command buffer for) input shape [n, c, h, w]. Done
 * implicitly by the first kwvk_net_run with that shape; call it to move the cost earlier. */
KWVK_API kwvk_result kwvk_net_prepare(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w);

/* Run one inference. `input` holds n*c*h*w floats; `output` receives n*out_per_sample
 * floats where out_per_sample comes from kwvk_net_output_shape (output_count is checked).
 * Replays the command buffer recorded for this shape. */
KWVK_API kwvk_result kwvk_net_run(kwvk_net *net, const float *input, uint32_t n, uint32_t c,
                                  uint32_t h, uint32_t w, float *output, size_t output_count);

/* Output shape per sample [c, h, w] for input [c_in, h_in, w_in] (h = w = 1 for classifiers). */
KWVK_API kwvk_result kwvk_net_output_shape(kwvk_net *net, uint32_t c_in, uint32_t h_in,
                                           uint32_t w_in, uint32_t out_chw[3]);

typedef enum kwvk_op_kind {
    KWVK_KIND_ATTENTION = 0,
    KWVK_KIND_ASSEMBLY = 1,
    KWVK_KIND_CONVOLUTION = 2,
    KWVK_KIND_OTHER = 3,
} kwvk_op_kind;

typedef struct kwvk_layer_time {
    uint32_t op_index;
    uint32_t op_type;  /* kwvk model op type code, see docs/model-format.md */
    kwvk_op_kind kind;
    double ms;         /* GPU time of the op in the last run */
    double gmac;       /* multiply-accumulates of the op, in units of 1e9 */
} kwvk_layer_time;

typedef struct kwvk_net_stats {
    uint64_t weight_bytes;      /* device bytes of uploaded weights */
    uint64_t activation_bytes;  /* device bytes of the largest recorded plan's arena */
    uint64_t peak_device_bytes; /* high-water mark of the context while this net existed */
    double pipeline_ms;         /* host time spent creating pipelines for this net */
    double record_ms;           /* host time spent planning and recording */
    uint32_t plans;             /* recorded (shape) plans */
    uint32_t fp16_tensors;      /* weight tensors stored as fp16 (kwvk_net_desc.fp16_weights) */
    /* GPU programs (compute pipelines) this net's prepares created that the context did not
     * have yet; and whether the context started from an on-disk pipeline cache made for this
     * device and driver (0: the first run here, so the driver compiles every program; some
     * drivers, such as lavapipe, finish compiling at the first run rather than in prepare). */
    uint32_t pipelines_created;
    int pipeline_cache_loaded;
} kwvk_net_stats;

/* Per-op GPU times of the last run (needs enable_profiling and timestamp support).
 * `count` in: capacity of `times`; out: number of ops. `times` may be NULL. */
KWVK_API kwvk_result kwvk_net_profile(const kwvk_net *net, kwvk_layer_time *times, uint32_t *count);
KWVK_API kwvk_result kwvk_net_get_stats(const kwvk_net *net, kwvk_net_stats *out);

/* ---------------------------------------------------------------------------------------- */
/* Vulkan interop (for applications that render or pre-process with the same device)       */
/* Handles are passed as void* so that this header needs no Vulkan headers.                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct kwvk_vulkan_handles {
    void *instance;               /* VkInstance */
    void *physical_device;        /* VkPhysicalDevice */
    void *device;                 /* VkDevice */
    void *queue;                  /* VkQueue used by kwvk (compute; also graphics when available) */
    uint32_t queue_family;
    void *get_instance_proc_addr; /* PFN_vkGetInstanceProcAddr */
} kwvk_vulkan_handles;

KWVK_API kwvk_result kwvk_context_vulkan_handles(const kwvk_context *ctx, kwvk_vulkan_handles *out);
/* The queue needs external synchronisation: hold this lock around your own vkQueueSubmit /
 * vkQueuePresentKHR on kwvk's queue. (Recursive; kwvk takes it for its own submissions.) */
KWVK_API void kwvk_context_queue_lock(kwvk_context *ctx);
KWVK_API void kwvk_context_queue_unlock(kwvk_context *ctx);

/* The device buffers a prepared shape reads its input from and writes its output to
 * (host-visible; float32 NCHW). Write the input from the host or a GPU pass of your own. */
typedef struct kwvk_net_io {
    void *input_buffer;    /* VkBuffer */
    uint64_t input_offset, input_bytes;
    void *input_mapped;    /* host pointer to the input */
    void *output_buffer;   /* VkBuffer */
    uint64_t output_offset, output_bytes;
    const void *output_mapped;
} kwvk_net_io;

KWVK_API kwvk_result kwvk_net_get_io(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w, kwvk_net_io *io);

typedef struct kwvk_submit_sync {
    void *wait_semaphore;    /* VkSemaphore or NULL: waited at compute/transfer stages */
    void *signal_semaphore;  /* VkSemaphore or NULL */
    void *fence;             /* VkFence or NULL: signalled when the inference is complete */
} kwvk_submit_sync;

/* Submit the recorded command buffer for a prepared shape without waiting. The caller must
 * not resubmit the same net and shape before the previous submission completed (use one
 * net per frame in flight). */
KWVK_API kwvk_result kwvk_net_submit(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                                     const kwvk_submit_sync *sync);

/* ---------------------------------------------------------------------------------------- */
/* Images, non-blocking runs and results                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef enum kwvk_pixel_format {
    KWVK_PIXEL_RGBA8 = 1, /* bytes R, G, B, A per pixel */
    KWVK_PIXEL_BGRA8 = 2, /* bytes B, G, R, A per pixel */
    KWVK_PIXEL_RGB8 = 3,  /* bytes R, G, B per pixel */
    KWVK_PIXEL_GRAY8 = 4, /* one byte per pixel */
    KWVK_PIXEL_NV12 = 5,  /* Y plane, then a half-resolution plane of interleaved U, V */
    KWVK_PIXEL_NV21 = 6,  /* Y plane, then a half-resolution plane of interleaved V, U (Android) */
    KWVK_PIXEL_YUYV = 7,  /* Y0 U Y1 V per pair of pixels (YUY2; V4L2 webcams) */
} kwvk_pixel_format;

#define KWVK_IMAGE_YUV_FULL_RANGE 1u /* kwvk_image.flags: full-range BT.601 (JFIF, Android
                                        cameras); default: limited range BT.601 (video) */

/* One frame in memory. NV12/NV21 with odd sizes: the chroma plane has ceil(w/2) x ceil(h/2)
 * pairs; YUYV with an odd width: the last pair is complete in memory. */
typedef struct kwvk_image {
    uint32_t format;        /* kwvk_pixel_format */
    uint32_t width, height; /* of the frame as stored */
    uint32_t stride;        /* bytes per row of `data` (0: packed) */
    const void *data;       /* pixels; NV12/NV21: the Y plane */
    const void *uv;         /* NV12/NV21: interleaved chroma plane (NULL: right after Y, at stride*height) */
    uint32_t uv_stride;     /* bytes per row of `uv` (0: stride) */
    uint32_t rotation;      /* 0, 90, 180, 270: clockwise rotation applied to the frame first */
    uint32_t flags;         /* KWVK_IMAGE_* */
} kwvk_image;

/* CPU reference of the model's preprocessing: n images -> n x C x H x W floats, [C,H,W] being
 * the model's input size (kwvk_model_info input_channels, input_height, input_width). Each
 * image is rotated and converted to RGB8, its shorter side resized to resize_short with the
 * model's interpolation (Pillow's filters, antialiased when shrinking; rounded to 8 bits as
 * Pillow does), centre-cropped (torchvision's rounding), converted to grey for 1-channel
 * models (ITU-R 601 luma, as Pillow's "L") and normalised: (x/255 - mean) / std.
 * out_count must be n*C*H*W. */
KWVK_API kwvk_result kwvk_preprocess_images(const kwvk_model *model, const kwvk_image *images,
                                            uint32_t n, float *out, size_t out_count);
/* Blocking run on n images, preprocessed on the GPU (within 1/255 of the normalised range of
 * kwvk_preprocess_images). output_count as for kwvk_net_run with the model's input size. */
KWVK_API kwvk_result kwvk_net_run_images(kwvk_net *net, const kwvk_image *images, uint32_t n,
                                         float *output, size_t output_count);

/* Non-blocking runs ("jobs").
 *
 * kwvk_net_start copies the input, submits the work and returns: at most
 * kwvk_net_desc.max_in_flight (0 = 2) jobs of one net exist at once (from creation to
 * kwvk_job_destroy); one more fails at once with KWVK_ERROR_BUSY instead of blocking. Each
 * job slot of a net has its own staging, activation memory and command buffer, so the jobs
 * of one net run independently of each other and of kwvk_net_run.
 *
 * The first run of a shape in a slot plans and records it (as the first kwvk_net_run does):
 * start a job or two at start-up, off the UI thread, to keep that out of the first frames.
 *
 * Thread rule: kwvk_net_run, kwvk_net_run_images, kwvk_net_start, kwvk_net_start_images,
 * kwvk_net_prepare and kwvk_net_output_shape may be called on one net from several threads
 * at once (the blocking calls share one slot and take turns; planning a new shape takes the
 * net's lock). A job may be polled, waited on, read and destroyed from any thread, by one
 * thread at a time. kwvk_job_poll never blocks. kwvk_net_run holds the context's queue lock
 * while it waits for the GPU (kwvk_net_run_images and jobs wait on fences of their own), so
 * a thread that must never wait should not share its context with kwvk_net_run callers.
 * kwvk_net_destroy, kwvk_net_profile, kwvk_net_get_stats, kwvk_net_get_io and
 * kwvk_net_submit must not overlap any other call on the same net, and every job of a net
 * must be destroyed before the net. See docs/app-api.md. */
typedef struct kwvk_job kwvk_job;
/* input: n*c*h*w floats (as kwvk_net_run), copied before the call returns */
KWVK_API kwvk_result kwvk_net_start(kwvk_net *net, const float *input, uint32_t n, uint32_t c,
                                    uint32_t h, uint32_t w, kwvk_job **out);
/* images: their pixels are copied before the call returns; preprocessed on the GPU */
KWVK_API kwvk_result kwvk_net_start_images(kwvk_net *net, const kwvk_image *images, uint32_t n,
                                           kwvk_job **out);
/* *done = 1 when the job's GPU work has completed, else 0. Never blocks: it reads an event
 * the job sets after its work, not the fence. */
KWVK_API kwvk_result kwvk_job_poll(kwvk_job *job, int *done);
/* Wait up to timeout_ms: KWVK_ERROR_TIMEOUT if not done in time (the job stays valid). */
KWVK_API kwvk_result kwvk_job_wait(kwvk_job *job, uint32_t timeout_ms);
/* Copy the output (n * out_per_sample floats, checked against output_count); waits if needed
 * (up to kwvk_context_desc.timeout_ms). May be called more than once. */
KWVK_API kwvk_result kwvk_job_output(kwvk_job *job, float *output, size_t output_count);
/* Free the job and its slot; waits for the GPU if still running. NULL-safe. */
KWVK_API void kwvk_job_destroy(kwvk_job *job);

typedef struct kwvk_class_score {
    uint32_t index; /* class index */
    float score;    /* logit or probability (KWVK_SCORES_*) */
    const char *label; /* from the model ("" without labels); lives as long as the model */
} kwvk_class_score;
#define KWVK_SCORES_LOGITS 0u
#define KWVK_SCORES_SOFTMAX 1u
/* The k best classes of one sample's logits, best first (ties: lower index first); label from
 * the model ("" without labels). num_logits must equal the model's num_classes; 1 <= k <=
 * num_logits; `out` holds k entries. */
KWVK_API kwvk_result kwvk_top_k(const kwvk_model *model, const float *logits, uint32_t num_logits,
                                uint32_t k, uint32_t scores, kwvk_class_score *out);

/* Name of an op type code ("conv2d", "kw_attention", ...); "?" if unknown. */
KWVK_API const char *kwvk_op_name(uint32_t op_type);

#ifdef __cplusplus
}
#endif
#endif /* KWVK_H */
