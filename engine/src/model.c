/* model.c - the kwvk model file (docs/model-format.md): load by mmap or from memory, and
 * validate every offset, size, shape and op parameter before anything uses it. */
#include "internal.h"
#include "op_table.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES 64
#define META_FIXED 64     /* version 1 */
#define META_FIXED_V2 80  /* version 2: + interpolation and 12 reserved bytes */
#define TENSOR_REC 48
#define OP_REC 160
#define MAX_TENSORS 65536
#define MAX_OPS 65536

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static float rdf(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

#define BAD(...) kw_fail(KWVK_ERROR_MODEL_FORMAT, __VA_ARGS__)

/* Does [off, off+len) lie inside a file of `size` bytes? */
static bool inside(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

static bool disjoint(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a + alen <= b || b + blen <= a;
}

static kwvk_result parse_meta(kwvk_model *m, uint32_t version, uint64_t off, uint32_t bytes)
{
    const uint8_t *p = m->bytes + off;
    kwvk_model_info *info = &m->info;
    const uint32_t fixed = version >= 2 ? META_FIXED_V2 : META_FIXED;
    if (bytes < fixed) return BAD("meta: %u bytes, version %u needs at least %u", bytes, version, fixed);
    info->input_channels = rd32(p);
    info->input_height = rd32(p + 4);
    info->input_width = rd32(p + 8);
    info->num_classes = rd32(p + 12);
    for (int i = 0; i < 4; i++) {
        info->mean[i] = rdf(p + 16 + 4 * i);
        info->std[i] = rdf(p + 32 + 4 * i);
    }
    info->resize_short = rd32(p + 48);
    info->crop = rd32(p + 52);
    uint32_t name_bytes = rd32(p + 56), labels_bytes = rd32(p + 60);
    info->interpolation = version >= 2 ? rd32(p + 64) : KWVK_INTERP_BILINEAR;
    if (info->interpolation > KWVK_INTERP_BICUBIC)
        return BAD("meta: interpolation %u unknown (0 bilinear, 1 bicubic)", info->interpolation);
    for (uint32_t r = 68; version >= 2 && r < META_FIXED_V2; r += 4)
        if (rd32(p + r) != 0) return BAD("meta: reserved bytes are not 0");
    if (info->input_channels < 1 || info->input_channels > 4)
        return BAD("meta: input channels %u out of range 1..4", info->input_channels);
    if (info->input_height < 1 || info->input_height > 16384 || info->input_width < 1 || info->input_width > 16384)
        return BAD("meta: input size %ux%u out of range", info->input_height, info->input_width);
    if (info->num_classes < 1 || info->num_classes > (1u << 24))
        return BAD("meta: num_classes %u out of range", info->num_classes);
    for (uint32_t c = 0; c < info->input_channels; c++)
        if (!isfinite(info->mean[c]) || !isfinite(info->std[c]) || !(info->std[c] > 0))
            return BAD("meta: mean/std of channel %u invalid (std must be > 0)", c);
    if (info->resize_short > 16384 || info->crop > 16384) return BAD("meta: resize/crop out of range");
    if ((uint64_t)fixed + name_bytes + labels_bytes > bytes)
        return BAD("meta: name (%u bytes) and labels (%u bytes) overrun the meta section (%u bytes)", name_bytes,
                   labels_bytes, bytes);
    m->name = malloc(name_bytes + 1);
    if (!m->name) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    memcpy(m->name, p + fixed, name_bytes);
    m->name[name_bytes] = 0;
    if (strlen(m->name) != name_bytes) return BAD("meta: the name contains a NUL byte");
    info->name = m->name;
    if (labels_bytes) {
        m->labels_blob = malloc(labels_bytes + 1);
        m->labels = calloc(info->num_classes, sizeof *m->labels);
        if (!m->labels_blob || !m->labels) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        memcpy(m->labels_blob, p + fixed + name_bytes, labels_bytes);
        m->labels_blob[labels_bytes] = 0;
        if (strlen(m->labels_blob) != labels_bytes) return BAD("meta: the labels contain a NUL byte");
        uint32_t n = 0;
        char *s = m->labels_blob;
        while (*s) {
            if (n == info->num_classes) return BAD("meta: more label lines than the %u classes", info->num_classes);
            m->labels[n++] = s;
            char *nl = strchr(s, '\n');
            if (!nl) break;
            *nl = 0;
            s = nl + 1;
        }
        if (n != info->num_classes)
            return BAD("meta: %u label lines for %u classes", n, info->num_classes);
    }
    return KWVK_OK;
}

static kwvk_result parse_tensors(kwvk_model *m, uint64_t table, uint64_t meta_off, uint32_t meta_bytes,
                                 uint64_t ops_off, uint64_t ops_bytes)
{
    m->tensors = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *m->tensors);
    if (!m->tensors) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    uint64_t table_bytes = (uint64_t)m->n_tensors * TENSOR_REC;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const uint8_t *r = m->bytes + table + (uint64_t)i * TENSOR_REC;
        kw_tensor *t = &m->tensors[i];
        uint32_t dtype = rd32(r), ndim = rd32(r + 4);
        if (dtype != 1) return BAD("tensor %u: dtype %u unknown (1 = float32)", i, dtype);
        if (ndim < 1 || ndim > 4) return BAD("tensor %u: ndim %u out of range 1..4", i, ndim);
        uint64_t count = 1;
        t->ndim = ndim;
        for (int d = 0; d < 4; d++) {
            t->dims[d] = rd32(r + 8 + 4 * d);
            if (t->dims[d] < 1) return BAD("tensor %u: dimension %d is 0", i, d);
            if ((uint32_t)d >= ndim && t->dims[d] != 1) return BAD("tensor %u: unused dimension %d is not 1", i, d);
            if (!kw_mul_u64(count, t->dims[d], &count) || count > (1ull << 29))
                return BAD("tensor %u: element count overflows (dims %u x %u x %u x %u)", i, t->dims[0], t->dims[1],
                           t->dims[2], t->dims[3]);
        }
        uint64_t off = rd64(r + 24), nbytes = rd64(r + 32);
        if (rd64(r + 40) != 0) return BAD("tensor %u: reserved bytes are not 0", i);
        if (nbytes != count * 4)
            return BAD("tensor %u: %llu bytes for %llu float32 elements", i, (unsigned long long)nbytes,
                       (unsigned long long)count);
        if (off % 64) return BAD("tensor %u: data offset %llu is not 64-byte aligned", i, (unsigned long long)off);
        if (!inside(off, nbytes, m->size))
            return BAD("tensor %u: data [%llu, +%llu) lies past the end of the file (%llu bytes)", i,
                       (unsigned long long)off, (unsigned long long)nbytes, (unsigned long long)m->size);
        if (!disjoint(off, nbytes, 0, HEADER_BYTES) || !disjoint(off, nbytes, meta_off, meta_bytes) ||
            !disjoint(off, nbytes, table, table_bytes) || !disjoint(off, nbytes, ops_off, ops_bytes))
            return BAD("tensor %u: data overlaps the header, meta or a table", i);
        t->count = count;
        t->data = (const float *)(m->bytes + off);
        for (uint64_t k = 0; k < count; k++)
            if (!isfinite(t->data[k]))
                return BAD("tensor %u: element %llu is %s (weights must be finite)", i, (unsigned long long)k,
                           isnan(t->data[k]) ? "NaN" : "Inf");
        m->info.num_parameters += count;
    }
    return KWVK_OK;
}

static kwvk_result parse_ops(kwvk_model *m, uint64_t table)
{
    m->ops = calloc(m->n_ops, sizeof *m->ops);
    if (!m->ops) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const uint8_t *r = m->bytes + table + (uint64_t)i * OP_REC;
        kw_op *op = &m->ops[i];
        op->type = rd32(r);
        op->n_inputs = rd32(r + 4);
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++) op->inputs[k] = rd32(r + 8 + 4 * k);
        for (int k = 0; k < KW_MAX_OP_TENSORS; k++) op->tensors[k] = rd32(r + 20 + 4 * k);
        for (int k = 0; k < KW_MAX_OP_PARAMS; k++) op->p[k] = (int32_t)rd32(r + 64 + 4 * k);
        uint32_t present = 0;
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++) present += op->inputs[k] != KW_NONE;
        if (op->n_inputs < 1 || op->n_inputs > KW_MAX_OP_INPUTS || op->n_inputs != present)
            return BAD("op %u (%s): n_inputs %u does not match the %u inputs given", i, kwvk_op_name(op->type),
                       op->n_inputs, present);
        char msg[256];
        if (!kw_op_load(m, op, i, msg, sizeof msg)) return BAD("op %u (%s): %s", i, kwvk_op_name(op->type), msg);
        if (kw_op_kind(op->type) == KWVK_KIND_ATTENTION) m->info.num_kw_layers++;
    }
    return KWVK_OK;
}

kwvk_result kw_model_parse(kwvk_model *m)
{
    const uint8_t *b = m->bytes;
    if (m->size < HEADER_BYTES) return BAD("file too small for a kwvk header (%zu bytes)", m->size);
    if (memcmp(b, "KWVKMODL", 8) != 0) return BAD("not a kwvk model (bad magic)");
    uint32_t version = rd32(b + 8);
    if (version != 1 && version != 2)
        return BAD("unsupported model version %u (this kwvk reads versions 1 and 2)", version);
    if (rd32(b + 12) != HEADER_BYTES) return BAD("header size %u, expected %u", rd32(b + 12), HEADER_BYTES);
    uint64_t file_bytes = rd64(b + 16);
    if (file_bytes != m->size)
        return BAD("file is %zu bytes but its header says %llu (truncated or padded)", m->size,
                   (unsigned long long)file_bytes);
    m->n_tensors = rd32(b + 24);
    m->n_ops = rd32(b + 28);
    uint64_t t_off = rd64(b + 32), o_off = rd64(b + 40), meta_off = rd64(b + 48);
    uint32_t meta_bytes = rd32(b + 56);
    if (rd32(b + 60) != 0) return BAD("reserved header field is not 0");
    if (m->n_tensors > MAX_TENSORS) return BAD("tensor count %u exceeds %u", m->n_tensors, MAX_TENSORS);
    if (m->n_ops < 1 || m->n_ops > MAX_OPS) return BAD("op count %u out of range 1..%u", m->n_ops, MAX_OPS);
    uint64_t t_bytes = (uint64_t)m->n_tensors * TENSOR_REC, o_bytes = (uint64_t)m->n_ops * OP_REC;
    if (t_off % 8 || !inside(t_off, t_bytes, m->size) || t_off < HEADER_BYTES)
        return BAD("tensor table (offset %llu, %u entries) lies outside the file", (unsigned long long)t_off,
                   m->n_tensors);
    if (o_off % 8 || !inside(o_off, o_bytes, m->size) || o_off < HEADER_BYTES)
        return BAD("op table (offset %llu, %u entries) lies outside the file", (unsigned long long)o_off, m->n_ops);
    if (meta_off % 8 || meta_bytes < META_FIXED || !inside(meta_off, meta_bytes, m->size) || meta_off < HEADER_BYTES)
        return BAD("meta section (offset %llu, %u bytes) lies outside the file", (unsigned long long)meta_off,
                   meta_bytes);
    if (!disjoint(t_off, t_bytes, o_off, o_bytes) || !disjoint(t_off, t_bytes, meta_off, meta_bytes) ||
        !disjoint(o_off, o_bytes, meta_off, meta_bytes))
        return BAD("the tensor table, op table and meta section overlap");
    KW_TRY(parse_meta(m, version, meta_off, meta_bytes));
    KW_TRY(parse_tensors(m, t_off, meta_off, meta_bytes, o_off, o_bytes));
    KW_TRY(parse_ops(m, o_off));
    m->info.num_ops = m->n_ops;

    /* the output must be [num_classes, ...]: checked for the default input shape */
    kw_shape *shapes = calloc(m->n_ops + 1, sizeof *shapes);
    if (!shapes) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    shapes[0] = (kw_shape){m->info.input_channels, m->info.input_height, m->info.input_width};
    char msg[256];
    uint32_t i = 0;
    if (!kw_model_shapes(m, shapes, &i, msg, sizeof msg)) {
        free(shapes);
        return BAD("op %u (%s) at the default input %ux%ux%u: %s", i, kwvk_op_name(m->ops[i].type),
                   m->info.input_channels, m->info.input_height, m->info.input_width, msg);
    }
    kw_shape out = shapes[m->n_ops];
    free(shapes);
    if (out.c != m->info.num_classes)
        return BAD("the network outputs %u channels but the meta says %u classes", out.c, m->info.num_classes);
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Public                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static kwvk_result finish_load(kwvk_model *m, kwvk_model **out)
{
    kwvk_result r = kw_model_parse(m);
    if (r != KWVK_OK) {
        kwvk_model_destroy(m);
        return r;
    }
    *out = m;
    return KWVK_OK;
}

kwvk_result kwvk_model_load_memory(const void *data, size_t size, kwvk_model **out)
{
    if (!out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_model_load_memory: out is NULL");
    *out = NULL;
    if (!data && size) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_model_load_memory: data is NULL");
    kwvk_model *m = calloc(1, sizeof *m);
    /* 64-byte aligned copy so that tensor data is aligned like in a mapped file */
    void *copy = NULL;
    if (!m || posix_memalign(&copy, 64, size ? size : 1) != 0) {
        free(m);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a %zu-byte model", size);
    }
    if (size) memcpy(copy, data, size);
    m->owned = copy;
    m->bytes = copy;
    m->size = size;
    return finish_load(m, out);
}

kwvk_result kwvk_model_load_file(const char *path, kwvk_model **out)
{
    if (!out || !path) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_model_load_file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return kw_fail(KWVK_ERROR_IO, "cannot open model %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kw_fail(KWVK_ERROR_IO, "model %s is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < HEADER_BYTES) {
        close(fd);
        return kw_fail(KWVK_ERROR_MODEL_FORMAT, "model %s: file too small for a kwvk header (%zu bytes)", path,
                       size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return kw_fail(KWVK_ERROR_IO, "cannot map model %s", path);
    kwvk_model *m = calloc(1, sizeof *m);
    if (!m) {
        munmap(map, size);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    m->map = map;
    m->map_bytes = size;
    m->bytes = map;
    m->size = size;
    kwvk_result r = finish_load(m, out);
    if (r != KWVK_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kwvk_last_error());
        kw_fail(r, "model %s: %s", path, msg);
    }
    return r;
}

void kwvk_model_destroy(kwvk_model *m)
{
    if (!m) return;
    if (m->map) munmap(m->map, m->map_bytes);
    free(m->owned);
    free(m->name);
    free(m->labels);
    free(m->labels_blob);
    free(m->tensors);
    free(m->ops);
    free(m);
}

kwvk_result kwvk_model_get_info(const kwvk_model *m, kwvk_model_info *out)
{
    if (!m || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_model_get_info: NULL argument");
    *out = m->info;
    return KWVK_OK;
}

const char *kwvk_model_label(const kwvk_model *m, uint32_t index)
{
    if (!m || index >= m->info.num_classes) return NULL;
    return m->labels ? m->labels[index] : "";
}
