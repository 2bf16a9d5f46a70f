/* mw.h - a small kwvk model-file writer for tests (docs/model-format.md, version 1; version 2
 * where a model asks for bicubic interpolation).
 *
 * Written from the format page, independently of the loader and of the Python writer, so
 * that the hostile-file tests, the fuzz seed corpus and the fault/thread/long-run tests can
 * build models in C. mw_bytes() also reports where every section and tensor landed, so a
 * test can truncate a file at a section boundary or patch one field. */
#ifndef KWVK_TEST_MW_H
#define KWVK_TEST_MW_H

#include <stddef.h>
#include <stdint.h>

#define MW_NONE 0xFFFFFFFFu
#define MW_MAX_TENSORS 64
#define MW_MAX_OPS 64

enum {
    MW_CONV2D = 1,
    MW_KW_ATTENTION = 2,
    MW_KW_ASSEMBLE = 3,
    MW_MAXPOOL2D = 4,
    MW_AVGPOOL2D = 5,
    MW_GLOBAL_AVGPOOL = 6,
    MW_ADD = 7,
    MW_SOFTMAX = 8,
};

/* byte offsets of the fixed records (docs/model-format.md) */
enum {
    MW_HEADER_BYTES = 64,
    MW_META_FIXED = 64,
    MW_META_FIXED_V2 = 80,
    MW_TENSOR_REC = 48,
    MW_OP_REC = 160,
};

typedef struct mw_tensor {
    uint32_t ndim;
    uint32_t dims[4];
    float *data; /* owned */
} mw_tensor;

typedef struct mw_op {
    uint32_t type;
    uint32_t inputs[3];   /* value ids, MW_NONE = absent */
    uint32_t tensors[11]; /* tensor ids, MW_NONE = absent */
    int32_t p[24];
} mw_op;

typedef struct mw_model {
    uint32_t c, h, w, num_classes;
    float mean[4], std[4];
    uint32_t resize_short, crop;
    uint32_t interpolation; /* 0: version 1 file (bilinear); 1 (bicubic): version 2 */
    char name[64];
    const char *labels; /* "a\nb\n..." or NULL */
    uint32_t n_tensors, n_ops;
    mw_tensor t[MW_MAX_TENSORS];
    mw_op ops[MW_MAX_OPS];
    uint64_t seed;
} mw_model;

/* Where mw_bytes placed everything. */
typedef struct mw_layout {
    size_t size;
    size_t meta_off, meta_bytes;
    size_t tensors_off; /* tensor table */
    size_t ops_off;     /* op table */
    size_t data_off;    /* first tensor's data */
    size_t tensor_off[MW_MAX_TENSORS];
} mw_layout;

void mw_init(mw_model *m, uint32_t c, uint32_t h, uint32_t w, uint32_t num_classes, const char *name);
void mw_free(mw_model *m);
/* Add a tensor of `ndim` dims; data NULL = seeded random values in [-0.5, 0.5). Returns its id. */
uint32_t mw_tensor_add(mw_model *m, uint32_t ndim, const uint32_t *dims, const float *data);
/* Add an op reading values in0..in2 (MW_NONE = absent); returns the value id it produces. */
uint32_t mw_op_add(mw_model *m, uint32_t type, uint32_t in0, uint32_t in1, uint32_t in2);
/* The op added last (to fill its tensors and params). */
mw_op *mw_last(mw_model *m);

/* Serialise; returns a malloc'd image (caller frees) or NULL on allocation failure. */
uint8_t *mw_bytes(const mw_model *m, mw_layout *layout);
/* Write the image to a file; 0 on success. */
int mw_write_file(const mw_model *m, const char *path);

/* Little-endian patching helpers. */
void mw_put32(uint8_t *p, size_t off, uint32_t v);
void mw_put64(uint8_t *p, size_t off, uint64_t v);
void mw_putf(uint8_t *p, size_t off, float v);
uint32_t mw_get32(const uint8_t *p, size_t off);

/* Ready-made tiny networks (valid, small enough to run thousands of times on lavapipe).
 *   convnet: 1x8x8 input, conv3x3+ReLU, maxpool, conv3x3 with a residual, add+ReLU,
 *            global average pool, linear (1x1 conv) to 10 classes, softmax.
 *   kwnet:   2x8x8 input, kw_attention (standard path) -> kw_assemble -> conv2d with the
 *            assembled per-sample kernel, global average pool, linear to 10 classes.
 *   kwbasis: like kwnet with the attention's basis path (nb > 0).
 *   wide:    the convnet with `channels` channels in its conv layers (for memory tests).
 *   allops:  every op type with groups, dilation, strides, ceil_mode, count_include_pad. */
void mw_convnet(mw_model *m);
void mw_kwnet(mw_model *m);
void mw_kwbasis(mw_model *m);
void mw_wide(mw_model *m, uint32_t channels);
void mw_allops(mw_model *m);
/* identity: a 1x1 conv with identity weights on c <= 4 channels (num_classes = c), so the
 * output is the input: the network of the image-preprocessing tests. */
void mw_identity(mw_model *m, uint32_t c, uint32_t h, uint32_t w);

#endif
