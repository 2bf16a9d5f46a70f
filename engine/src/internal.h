/* internal.h - shared declarations of the kwvk engine (not installed). */
#ifndef KWVK_INTERNAL_H
#define KWVK_INTERNAL_H

#include "kwvk.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <volk.h>

#include "kw_flags.h" /* shaders/: constants shared with the shaders */

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
 * (or a comma list: "subgroup,timestamps,host_visible,texel,fused,fp16,gpu") forces the fallback
 * path ("gpu": kw_ctx.gpu_kernels off unless KWVK_GPU_KERNELS=1). */
typedef struct kw_features {
    bool subgroup_arithmetic; /* subgroupAdd/Max in compute shaders */
    bool timestamps;
    bool host_visible_device_local;
    bool texel_buffers; /* float uniform texel buffers, R32 and R32G32B32A32 */
    bool fp16_storage;    /* storageBuffer16BitAccess: fp16 weights (kwvk_net_desc.fp16_weights) */
    bool fused_attention; /* kw_attention.comp: needs KW_FUSED_ATTENTION_BUFFERS storage buffers */
} kw_features;

#define KW_FUSED_ATTENTION_BUFFERS 8u

/* Fault injection for tests (kw_ctx.fault, from KWVK_FAULT): every submission fails as if the
 * device were lost (device_lost) or every fence wait times out (timeout). */
enum { KW_FAULT_NONE = 0, KW_FAULT_DEVICE_LOST = 1, KW_FAULT_TIMEOUT = 2 };

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
    /* run-time switches, read from the environment once, at context creation */
    int winograd; /* KWVK_WINOGRAD: 0 never, 1 every eligible conv, -1 (unset) the default rule */
    int kw_wino;  /* KWVK_KW_WINOGRAD=0: no Winograd-domain KW assembly (ops_wino.c); else 1 */
    int conv_small; /* KWVK_CONV_SMALL: 0 never, 1 every fp32 conv, -1 (unset) by size (ops_conv.c) */
    int asm_small;  /* KWVK_KW_ASM_SMALL: 0 never, 1 every kw_assemble, -1 (unset) by size (ops_kw.c) */
    int pw;       /* KWVK_PW: convs as a GEMM (ops_pw.c): 0 never, 1 every eligible conv, -1 the rule */
    int fault;    /* KWVK_FAULT (tests): KW_FAULT_* injected into every submission */
    /* Kernels shaped for GPUs (shared-memory tiles, e.g. conv_wino_gemm_sm) rather than for
     * lavapipe (register tiles, texel buffers): on where the device is not a CPU and
     * KWVK_FORCE_FALLBACKS does not name "gpu"; KWVK_GPU_KERNELS=0 / 1 forces the choice
     * (the op tests force it on lavapipe). */
    bool gpu_kernels;

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
/* Between these two calls on one thread, kw_pipeline_get only collects the pipelines it does
 * not find (placeholders, for a kw_rec with `dry` set); the end creates them from several
 * threads and adds them to the context's set. */
void kw_pipeline_collect_begin(void);
void kw_pipeline_collect_end(kw_ctx *ctx);
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
    bool dry; /* records nothing: a pass that collects the pipelines (kw_pipeline_collect_begin) */
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
/* A 2D grid of workgroups of `lanes` invocations for `inv` invocations (a shader that
 * flattens gl_WorkGroupID.xy as y * gx + x): *gx up to the device's x limit, *gy the rest;
 * false if it exceeds the limits. */
bool kw_grid(const kw_ctx *ctx, uint64_t inv, uint32_t lanes, uint32_t *gx, uint32_t *gy);
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

/* Op types as stored in the model file (docs/model-format.md); each has an entry in the op
 * table (op_table.c). */
enum {
    KW_OP_CONV2D = 1,
    KW_OP_KW_ATTENTION = 2,
    KW_OP_KW_ASSEMBLE = 3,
    KW_OP_MAXPOOL2D = 4,
    KW_OP_AVGPOOL2D = 5,
    KW_OP_GLOBAL_AVGPOOL = 6,
    KW_OP_ADD = 7,
    KW_OP_SOFTMAX = 8,
    KW_OP_LAYERNORM = 9,
    KW_OP_COUNT
};

/* kw_attention param 7: how the hidden vector is normalised before its ReLU */
enum { KW_ATT_NORM_FOLDED = 0, KW_ATT_NORM_LAYERNORM = 1 };

typedef struct kw_tensor {
    uint32_t ndim;
    uint32_t dims[4];
    uint64_t count; /* elements */
    const float *data;
} kw_tensor;

/* Named parameters of each op, decoded from the file's i32[24] by the op's entry in the op
 * table (op_table.c) when the model is loaded. Signed, as stored: the op's validation checks
 * their ranges before anything else reads them. */
typedef struct kw_conv2d_params {
    int32_t O, kh, kw, sh, sw, ph, pw, dh, dw; /* out channels, kernel, stride, padding, dilation */
    int32_t G, act, C;                         /* groups, activation (KW_ACT_*), in channels */
} kw_conv2d_params;

typedef struct kw_attention_params {
    int32_t C, hid, nlm, M; /* in channels, hidden, mixture rows, cells */
    int32_t nlc, nb, start; /* local cells, basis count (0: standard path), start_cell_idx */
    int32_t norm;           /* hidden norm (KW_ATT_NORM_*) */
    float eps;              /* its eps (LayerNorm) */
    int32_t eps_bits;       /* as stored (0 without a LayerNorm) */
} kw_attention_params;

typedef struct kw_assemble_params {
    int32_t O, Cg, kh, kw;     /* the kernel [O, Cg, kh, kw] */
    int32_t co, ci, ckh, ckw;  /* one cell [co, ci, ckh, ckw] */
    int32_t M;                 /* cells */
} kw_assemble_params;

typedef struct kw_pool2d_params {
    int32_t kh, kw, sh, sw, ph, pw, ceil_mode, include_pad;
} kw_pool2d_params;

typedef struct kw_add_params {
    int32_t act;
} kw_add_params;

typedef struct kw_layernorm_params {
    int32_t C;  /* channels */
    float eps;  /* stored as float32 bits */
} kw_layernorm_params;

typedef struct kw_op {
    uint32_t type;
    uint32_t n_inputs;
    uint32_t inputs[KW_MAX_OP_INPUTS];
    uint32_t tensors[KW_MAX_OP_TENSORS];
    int32_t p[KW_MAX_OP_PARAMS]; /* as stored in the file: read only by the op's decoder */
    union {                      /* decoded (kw_op_decode): the member of op->type */
        kw_conv2d_params conv;
        kw_attention_params att;
        kw_assemble_params assemble;
        kw_pool2d_params pool;
        kw_add_params add;
        kw_layernorm_params ln;
    };
    /* Set at load (kw_op_load): a kw_assemble whose output only a conv2d reads, as its kernel
     * (input 1), and that conv point at each other, so that the conv may assemble its kernel
     * itself, in the Winograd domain (ops_wino.c); NULL otherwise. kw_readers counts the
     * assemble's readers seen so far. */
    const struct kw_op *kw_peer;
    uint32_t kw_readers;
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
    kw_view derived;               /* weights derived at net creation (kw_op_def.derive), or buf NULL */
    kw_view peer_wh;               /* conv2d with a kw_peer: that kw_assemble's warehouse */
    kw_shape peer_out;             /* an op with a kw_peer: the output shape of the conv of the pair */
    /* Kernel layout [O, kh, kw, Cg] instead of [O, Cg, kh, kw] (kw_op_value_ohwi): */
    bool out_ohwi;    /* write the output so (set where every reader takes it, kw_op_def.kernel_in) */
    uint32_t in_ohwi; /* bit k: input k comes so (from a producer with out_ohwi) */
} kw_op_call;

#endif /* KWVK_INTERNAL_H */
