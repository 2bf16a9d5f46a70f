/* internal.h - shared declarations of the kwvk engine (not installed). */
#ifndef KWVK_INTERNAL_H
#define KWVK_INTERNAL_H

#include "kwvk.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <volk.h>

/* ======================================================================================== */
/* Errors                                                                                   */
/* ======================================================================================== */

/* Record a formatted message as this thread's last error and return `r`. */
kwvk_result kw_fail(kwvk_result r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Map a VkResult to a kwvk_result with a message naming `what`. */
kwvk_result kw_vk_fail(VkResult vr, const char *what);
const char *kw_vk_result_name(VkResult vr);

#define KW_TRY(expr)                                                                       \
    do {                                                                                   \
        kwvk_result kw_try_r_ = (expr);                                                    \
        if (kw_try_r_ != KWVK_OK) return kw_try_r_;                                        \
    } while (0)

/* Checked size arithmetic: return false on overflow. */
static inline bool kw_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

/* ======================================================================================== */
/* Context                                                                                  */
/* ======================================================================================== */

/* Run-time feature switches. Each optional feature has a fallback; KWVK_FORCE_FALLBACKS=1
 * (or a comma list: "subgroup,timestamps,host_visible,texel,fused,fp16") forces the fallback path. */
typedef struct kw_features {
    bool subgroup_arithmetic; /* subgroupAdd/Max in compute shaders */
    bool timestamps;
    bool host_visible_device_local;
    bool texel_buffers; /* float uniform texel buffers, R32 and R32G32B32A32 */
    bool fp16_storage;    /* storageBuffer16BitAccess: fp16 weights (kwvk_net_desc.fp16_weights) */
    bool fused_attention; /* kw_attention.comp: needs KW_FUSED_ATTENTION_BUFFERS storage buffers */
} kw_features;

#define KW_FUSED_ATTENTION_BUFFERS 8u

typedef struct kw_block kw_block;
typedef struct kw_pipeline kw_pipeline;

typedef struct kw_ctx {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool cmd_pool;
    VkFence fence;
    VkPipelineCache pipeline_cache;
    char *cache_path; /* NULL: no on-disk cache */

    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    kwvk_device_info info;
    kw_features feat;
    uint32_t subgroup_size;
    uint64_t max_storage_range; /* min(maxStorageBufferRange, KWVK_MAX_STORAGE_RANGE env) */
    uint64_t max_texel_elements; /* min(maxTexelBufferElements, KWVK_MAX_TEXEL_ELEMENTS env) */
    uint32_t timeout_ms;

    kwvk_log_fn log;
    void *log_user;
    uint32_t validation_messages;

    /* memory */
    kw_block *blocks;
    uint64_t budget, used, peak;

    /* pipelines: a linked list keyed by (shader, spec constants) */
    kw_pipeline *pipelines;
    double pipeline_ms; /* host time spent creating pipelines */
    uint32_t pipelines_created; /* pipelines created (not found in the context's set) */
    bool disk_cache_loaded;     /* the on-disk pipeline cache held data for this device */

    void *lock; /* mtx_t*, guards queue submission, memory and the pipeline list */
    bool lost;  /* device lost: every later call fails */
} kw_ctx;

struct kwvk_context {
    kw_ctx c;
};

void kw_log(const kw_ctx *ctx, kwvk_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void kw_ctx_lock(kw_ctx *ctx);
void kw_ctx_unlock(kw_ctx *ctx);

/* Submit `cmd` and wait for it (fence, ctx->timeout_ms). Takes the context lock. */
kwvk_result kw_submit_wait(kw_ctx *ctx, VkCommandBuffer cmd);
/* One-off command buffer helpers (for uploads). */
kwvk_result kw_begin_one_time(kw_ctx *ctx, VkCommandBuffer *cmd);
kwvk_result kw_end_one_time(kw_ctx *ctx, VkCommandBuffer cmd);

/* ======================================================================================== */
/* Memory                                                                                   */
/* ======================================================================================== */

/* A device buffer: its own VkBuffer bound to a range of a large VkDeviceMemory block. */
typedef struct kw_buffer {
    VkBuffer buffer;
    kw_block *block;
    uint64_t offset; /* within the block */
    uint64_t size;
    void *mapped;    /* host pointer when the memory is host-visible, else NULL */
} kw_buffer;

typedef enum kw_mem_kind {
    KW_MEM_DEVICE = 0,  /* device-local storage buffer */
    KW_MEM_UPLOAD = 1,  /* host-visible, host-coherent staging for uploads */
    KW_MEM_DOWNLOAD = 2 /* host-visible (cached when possible) staging for downloads */
} kw_mem_kind;

kwvk_result kw_buffer_create(kw_ctx *ctx, uint64_t size, kw_mem_kind kind, kw_buffer *out);
void kw_buffer_destroy(kw_ctx *ctx, kw_buffer *buf); /* zeroes *buf; NULL-safe */
/* Copy host data into / out of a device buffer through staging (blocking). */
kwvk_result kw_buffer_upload(kw_ctx *ctx, kw_buffer *dst, uint64_t dst_offset, const void *src,
                             uint64_t size);
/* IEEE binary32 -> binary16, round to nearest even (memory.c): fp16 weight storage. */
void kw_f32_to_f16(uint16_t *dst, const float *src, uint64_t n);
kwvk_result kw_buffer_download(kw_ctx *ctx, kw_buffer *src, uint64_t src_offset, void *dst,
                               uint64_t size);
void kw_memory_release_all(kw_ctx *ctx);

/* ======================================================================================== */
/* Shaders and pipelines                                                                    */
/* ======================================================================================== */

/* Every compute pipeline uses one descriptor set of `n_bindings` storage buffers (binding
 * 0..n-1, in the order the shader declares them) and a push-constant block of at most
 * KW_PUSH_BYTES bytes. Specialisation constants are uint32 with ids 0..n_spec-1. */
#define KW_PUSH_BYTES 128
#define KW_MAX_BINDINGS 8
#define KW_MAX_SPEC 8

typedef struct kw_shader {
    const char *name;
    const uint32_t *code;
    size_t code_bytes;
    uint32_t n_bindings;
    uint32_t texel_mask; /* bindings declared as samplerBuffer (uniform texel buffers) */
} kw_shader;

/* The embedded shader registry (generated at build time). */
const kw_shader *kw_shader_find(const char *name);

struct kw_pipeline {
    const kw_shader *shader;
    uint32_t spec[KW_MAX_SPEC];
    uint32_t n_spec;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    kw_pipeline *next;
};

/* Get (or create) the pipeline for shader `name` with the given specialisation constants. */
kwvk_result kw_pipeline_get(kw_ctx *ctx, const char *name, const uint32_t *spec, uint32_t n_spec,
                            kw_pipeline **out);
void kw_pipelines_release_all(kw_ctx *ctx);
kwvk_result kw_pipeline_cache_save(kw_ctx *ctx);

/* ======================================================================================== */
/* Recording                                                                                */
/* ======================================================================================== */

/* A binding: a byte range of a device buffer. size 0 = to the end of the buffer. */
typedef struct kw_view {
    const kw_buffer *buf;
    uint64_t offset;
    uint64_t size;
    uint32_t texel; /* for a samplerBuffer binding: bytes per texel, 4 (R32) or 16 (RGBA32) */
    bool f16;       /* the tensor is stored as fp16 (kwvk_net_desc.fp16_weights), 2 bytes a value */
} kw_view;

static inline kw_view kw_view_of(const kw_buffer *b, uint64_t offset, uint64_t size)
{
    kw_view v = {b, offset, size, 0, false};
    return v;
}

typedef struct kw_written {
    VkBuffer buffer;
    uint64_t offset, size;
} kw_written;

typedef struct kw_range_list {
    kw_written *items;
    uint32_t n, cap;
} kw_range_list;

/* Records dispatches into one command buffer (from its own command pool, so recordings on
 * different threads never share a pool); inserts a barrier only before an access that
 * conflicts with a range written (or, for a write, read) since the last barrier. Descriptor
 * sets come from pools the recorder owns, so they live as long as the recording. */
typedef struct kw_rec {
    kw_ctx *ctx;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkDescriptorPool *pools;
    uint32_t n_pools, pool_used; /* sets used in the last pool */
    VkBufferView *buffer_views;  /* of the texel bindings, alive as long as the commands */
    uint32_t n_buffer_views, cap_buffer_views;
    kw_range_list written, read;
    uint32_t n_dispatches, n_barriers;
    /* profiling */
    VkQueryPool queries;
    uint32_t n_queries, cap_queries;
} kw_rec;

kwvk_result kw_rec_begin(kw_ctx *ctx, kw_rec *rec, uint32_t max_timestamps);
/* Record one dispatch. `views` are the shader's bindings in order (count must equal the
 * shader's n_bindings); `writes` is a bitmask of the bindings the shader writes. Group counts
 * are checked against the device limits. Views are checked against max_storage_range. */
kwvk_result kw_rec_dispatch(kw_rec *rec, const kw_pipeline *pipe, const kw_view *views,
                            uint32_t n_views, uint32_t writes, const void *push, uint32_t push_bytes,
                            uint32_t gx, uint32_t gy, uint32_t gz);
/* Record a buffer copy (hazard-tracked like a dispatch). */
kwvk_result kw_rec_copy(kw_rec *rec, kw_view src, kw_view dst, uint64_t size);
/* Write a timestamp (no-op without profiling); returns the query index via *index. */
void kw_rec_timestamp(kw_rec *rec, uint32_t *index);
/* Insert a full compute->compute/transfer barrier and forget the written set. */
void kw_rec_barrier(kw_rec *rec);
kwvk_result kw_rec_end(kw_rec *rec);
void kw_rec_release(kw_rec *rec); /* frees pools and the command buffer; NULL-safe */

static inline uint32_t kw_div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

/* ======================================================================================== */
/* Model (parsed, validated)                                                                */
/* ======================================================================================== */

#define KW_NONE 0xFFFFFFFFu
#define KW_MAX_OP_INPUTS 3
#define KW_MAX_OP_TENSORS 11
#define KW_MAX_OP_PARAMS 24

enum {
    KW_OP_CONV2D = 1,
    KW_OP_KW_ATTENTION = 2,
    KW_OP_KW_ASSEMBLE = 3,
    KW_OP_MAXPOOL2D = 4,
    KW_OP_AVGPOOL2D = 5,
    KW_OP_GLOBAL_AVGPOOL = 6,
    KW_OP_ADD = 7,
    KW_OP_SOFTMAX = 8,
    KW_OP_COUNT
};

enum { KW_ACT_NONE = 0, KW_ACT_RELU = 1, KW_ACT_RELU6 = 2 };

typedef struct kw_tensor {
    uint32_t ndim;
    uint32_t dims[4];
    uint64_t count; /* elements */
    const float *data;
} kw_tensor;

typedef struct kw_op {
    uint32_t type;
    uint32_t n_inputs;
    uint32_t inputs[KW_MAX_OP_INPUTS];
    uint32_t tensors[KW_MAX_OP_TENSORS];
    int32_t p[KW_MAX_OP_PARAMS];
} kw_op;

struct kwvk_model {
    void *owned;      /* heap copy (memory load) or NULL */
    void *map;        /* mmap base or NULL */
    size_t map_bytes;
    const uint8_t *bytes;
    size_t size;
    kwvk_model_info info;
    char *name;
    char **labels; /* num_classes pointers into labels_blob, or NULL */
    char *labels_blob;
    kw_tensor *tensors;
    uint32_t n_tensors;
    kw_op *ops;
    uint32_t n_ops;
};

/* Parse and validate a model image (bytes stay owned by the caller-provided model). */
kwvk_result kw_model_parse(kwvk_model *m);

/* ======================================================================================== */
/* Ops                                                                                      */
/* ======================================================================================== */

/* Shape of a value per sample. */
typedef struct kw_shape {
    uint32_t c, h, w;
} kw_shape;

static inline uint64_t kw_shape_count(kw_shape s) { return (uint64_t)s.c * s.h * s.w; }

/* Everything an op's recorder needs: the op, its input/output shapes, device views of its
 * value inputs / output (whole batch) and of its weight tensors. */
typedef struct kw_op_call {
    const kw_op *op;
    uint32_t n; /* batch */
    kw_shape in[KW_MAX_OP_INPUTS];
    kw_shape out;
    kw_view vin[KW_MAX_OP_INPUTS]; /* buf NULL where the input is absent */
    kw_view vout;
    kw_view vt[KW_MAX_OP_TENSORS]; /* buf NULL where the tensor is absent */
    const kw_tensor *t[KW_MAX_OP_TENSORS];
    kw_view scratch;               /* per-op temporary device memory (size from kw_op_scratch) */
    bool w_ohwi; /* conv2d: weights (input 1) in [O, kh, kw, Cg]; kw_assemble: write that layout
                    (set by the net where kw_assemble_ohwi holds and every reader is such a conv) */
    kw_view derived;               /* weights transformed at net creation (Winograd U), or buf NULL */
} kw_op_call;

/* Validate an op's parameters and tensors against the model (at load). `msg` receives a
 * description of what is wrong. */
bool kw_op_validate(const kwvk_model *m, const kw_op *op, uint32_t index, char *msg, size_t msg_len);
/* Infer the output shape from the input shapes; false + msg if they do not fit. */
bool kw_op_infer(const kw_op *op, const kw_shape *in, kw_shape *out, char *msg, size_t msg_len);
/* Scratch bytes the op needs for batch n (0 for most ops). */
uint64_t kw_op_scratch(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out);
/* Record the op's dispatches. */
kwvk_result kw_op_record(kw_rec *rec, const kw_op_call *call);
/* Multiply-accumulate count of the op (for profiling). */
double kw_op_macs(const kw_op *op, uint32_t n, const kw_shape *in, kw_shape out);
kwvk_op_kind kw_op_kind(uint32_t type);

#endif /* KWVK_INTERNAL_H */
