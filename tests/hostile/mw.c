/* mw.c - see mw.h. */
#include "mw.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mw_put32(uint8_t *p, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[off + i] = (uint8_t)(v >> (8 * i));
}

void mw_put64(uint8_t *p, size_t off, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[off + i] = (uint8_t)(v >> (8 * i));
}

void mw_putf(uint8_t *p, size_t off, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    mw_put32(p, off, u);
}

uint32_t mw_get32(const uint8_t *p, size_t off)
{
    return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
}

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void mw_init(mw_model *m, uint32_t c, uint32_t h, uint32_t w, uint32_t num_classes, const char *name)
{
    memset(m, 0, sizeof *m);
    m->c = c;
    m->h = h;
    m->w = w;
    m->num_classes = num_classes;
    for (int i = 0; i < 4; i++) {
        m->mean[i] = i < (int)c ? 0.5f : 0.0f;
        m->std[i] = i < (int)c ? 0.25f : 1.0f;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    m->seed = 0x243F6A8885A308D3ull;
}

void mw_free(mw_model *m)
{
    for (uint32_t i = 0; i < m->n_tensors; i++) free(m->t[i].data);
    m->n_tensors = 0;
    m->n_ops = 0;
}

static float rnd(mw_model *m)
{
    m->seed ^= m->seed << 13;
    m->seed ^= m->seed >> 7;
    m->seed ^= m->seed << 17;
    return (float)((m->seed >> 40) * (1.0 / 16777216.0)) - 0.5f;
}

uint32_t mw_tensor_add(mw_model *m, uint32_t ndim, const uint32_t *dims, const float *data)
{
    if (m->n_tensors == MW_MAX_TENSORS) {
        fprintf(stderr, "mw: too many tensors\n");
        exit(2);
    }
    mw_tensor *t = &m->t[m->n_tensors];
    t->ndim = ndim;
    size_t count = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t->dims[d] = d < ndim ? dims[d] : 1;
        count *= t->dims[d];
    }
    t->data = malloc(count * sizeof(float));
    if (!t->data) {
        fprintf(stderr, "mw: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < count; i++) t->data[i] = data ? data[i] : rnd(m);
    return m->n_tensors++;
}

uint32_t mw_op_add(mw_model *m, uint32_t type, uint32_t in0, uint32_t in1, uint32_t in2)
{
    if (m->n_ops == MW_MAX_OPS) {
        fprintf(stderr, "mw: too many ops\n");
        exit(2);
    }
    mw_op *op = &m->ops[m->n_ops];
    memset(op, 0, sizeof *op);
    op->type = type;
    op->inputs[0] = in0;
    op->inputs[1] = in1;
    op->inputs[2] = in2;
    for (int k = 0; k < 11; k++) op->tensors[k] = MW_NONE;
    return ++m->n_ops;
}

mw_op *mw_last(mw_model *m) { return &m->ops[m->n_ops - 1]; }

static size_t tensor_count(const mw_tensor *t) { return (size_t)t->dims[0] * t->dims[1] * t->dims[2] * t->dims[3]; }

uint8_t *mw_bytes(const mw_model *m, mw_layout *lo)
{
    mw_layout l;
    memset(&l, 0, sizeof l);
    size_t name_bytes = strlen(m->name), labels_bytes = m->labels ? strlen(m->labels) : 0;
    l.meta_off = MW_HEADER_BYTES;
    /* version 2 (80-byte meta with the interpolation) only where a test asks for bicubic */
    const size_t fixed = m->interpolation ? MW_META_FIXED_V2 : MW_META_FIXED;
    l.meta_bytes = align_up(fixed + name_bytes + labels_bytes, 8);
    l.tensors_off = align_up(l.meta_off + l.meta_bytes, 8);
    l.ops_off = align_up(l.tensors_off + (size_t)m->n_tensors * MW_TENSOR_REC, 8);
    size_t pos = align_up(l.ops_off + (size_t)m->n_ops * MW_OP_REC, 64);
    l.data_off = pos;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        l.tensor_off[i] = pos;
        pos = align_up(pos + tensor_count(&m->t[i]) * 4, 64);
    }
    /* the file ends right after the last tensor (no trailing padding) */
    l.size = m->n_tensors ? l.tensor_off[m->n_tensors - 1] + tensor_count(&m->t[m->n_tensors - 1]) * 4 : pos;
    uint8_t *b = calloc(1, l.size);
    if (!b) return NULL;

    memcpy(b, "KWVKMODL", 8);
    mw_put32(b, 8, m->interpolation ? 2 : 1);
    mw_put32(b, 12, MW_HEADER_BYTES);
    mw_put64(b, 16, l.size);
    mw_put32(b, 24, m->n_tensors);
    mw_put32(b, 28, m->n_ops);
    mw_put64(b, 32, l.tensors_off);
    mw_put64(b, 40, l.ops_off);
    mw_put64(b, 48, l.meta_off);
    mw_put32(b, 56, (uint32_t)l.meta_bytes);
    mw_put32(b, 60, 0);

    uint8_t *meta = b + l.meta_off;
    mw_put32(meta, 0, m->c);
    mw_put32(meta, 4, m->h);
    mw_put32(meta, 8, m->w);
    mw_put32(meta, 12, m->num_classes);
    for (int i = 0; i < 4; i++) {
        mw_putf(meta, 16 + 4 * i, m->mean[i]);
        mw_putf(meta, 32 + 4 * i, m->std[i]);
    }
    mw_put32(meta, 48, m->resize_short);
    mw_put32(meta, 52, m->crop);
    mw_put32(meta, 56, (uint32_t)name_bytes);
    mw_put32(meta, 60, (uint32_t)labels_bytes);
    if (m->interpolation) mw_put32(meta, 64, m->interpolation); /* 65..79: reserved, zero */
    memcpy(meta + fixed, m->name, name_bytes);
    if (labels_bytes) memcpy(meta + fixed + name_bytes, m->labels, labels_bytes);

    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const mw_tensor *t = &m->t[i];
        uint8_t *r = b + l.tensors_off + (size_t)i * MW_TENSOR_REC;
        mw_put32(r, 0, 1);
        mw_put32(r, 4, t->ndim);
        for (int d = 0; d < 4; d++) mw_put32(r, 8 + 4 * d, t->dims[d]);
        mw_put64(r, 24, l.tensor_off[i]);
        mw_put64(r, 32, tensor_count(t) * 4);
        mw_put64(r, 40, 0);
        for (size_t k = 0; k < tensor_count(t); k++) mw_putf(b, l.tensor_off[i] + 4 * k, t->data[k]);
    }
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const mw_op *op = &m->ops[i];
        uint8_t *r = b + l.ops_off + (size_t)i * MW_OP_REC;
        uint32_t n_in = 0;
        for (int k = 0; k < 3; k++) n_in += op->inputs[k] != MW_NONE;
        mw_put32(r, 0, op->type);
        mw_put32(r, 4, n_in);
        for (int k = 0; k < 3; k++) mw_put32(r, 8 + 4 * k, op->inputs[k]);
        for (int k = 0; k < 11; k++) mw_put32(r, 20 + 4 * k, op->tensors[k]);
        for (int k = 0; k < 24; k++) mw_put32(r, 64 + 4 * k, (uint32_t)op->p[k]);
    }
    if (lo) *lo = l;
    return b;
}

int mw_write_file(const mw_model *m, const char *path)
{
    mw_layout l;
    uint8_t *b = mw_bytes(m, &l);
    if (!b) return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(b, 1, l.size, f) == l.size;
    if (f && fclose(f) != 0) ok = 0;
    free(b);
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Tiny networks                                                                            */
/* ---------------------------------------------------------------------------------------- */

/* conv2d params: O, kh, kw, sh, sw, ph, pw, dh, dw, groups, act, C */
static void conv_params(mw_op *op, int O, int k, int stride, int pad, int act, int C)
{
    int32_t p[12] = {O, k, k, stride, stride, pad, pad, 1, 1, 1, act, C};
    memcpy(op->p, p, sizeof p);
}

static uint32_t add_conv(mw_model *m, uint32_t x, uint32_t residual, int C, int O, int k, int pad, int act)
{
    uint32_t wd[4] = {(uint32_t)O, (uint32_t)C, (uint32_t)k, (uint32_t)k}, od[1] = {(uint32_t)O};
    uint32_t tw = mw_tensor_add(m, 4, wd, NULL);
    uint32_t ts = mw_tensor_add(m, 1, od, NULL);
    uint32_t tb = mw_tensor_add(m, 1, od, NULL);
    for (uint32_t i = 0; i < (uint32_t)O; i++) m->t[ts].data[i] += 1.0f; /* scales near 1 */
    uint32_t v = mw_op_add(m, MW_CONV2D, x, MW_NONE, residual);
    mw_op *op = mw_last(m);
    op->tensors[0] = tw;
    op->tensors[1] = ts;
    op->tensors[2] = tb;
    conv_params(op, O, k, 1, pad, act, C);
    return v;
}

static void wide_body(mw_model *m, uint32_t ch)
{
    uint32_t v1 = add_conv(m, 0, MW_NONE, (int)m->c, (int)ch, 3, 1, 1);
    uint32_t v2 = mw_op_add(m, MW_MAXPOOL2D, v1, MW_NONE, MW_NONE);
    int32_t pool[8] = {2, 2, 2, 2, 0, 0, 0, 0};
    memcpy(mw_last(m)->p, pool, sizeof pool);
    uint32_t v3 = add_conv(m, v2, v2, (int)ch, (int)ch, 3, 1, 0);
    uint32_t v4 = mw_op_add(m, MW_ADD, v3, v2, MW_NONE);
    mw_last(m)->p[0] = 1;
    uint32_t v5 = mw_op_add(m, MW_GLOBAL_AVGPOOL, v4, MW_NONE, MW_NONE);
    uint32_t v6 = add_conv(m, v5, MW_NONE, (int)ch, (int)m->num_classes, 1, 0, 0);
    mw_op_add(m, MW_SOFTMAX, v6, MW_NONE, MW_NONE);
}

void mw_convnet(mw_model *m)
{
    mw_init(m, 1, 8, 8, 10, "tiny_convnet");
    m->labels = "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n";
    wide_body(m, 4);
}

void mw_wide(mw_model *m, uint32_t channels)
{
    mw_init(m, 3, 16, 16, 10, "wide_convnet");
    m->resize_short = 18;
    m->crop = 16;
    wide_body(m, channels);
}

static void kw_body(mw_model *m, bool basis)
{
    /* conv: O = 4, Cg = 2 (C = 2, groups 1), 3x3; cells co = 2, ci = 1, 3x3 -> nlm = 2 * 2 = 4 */
    const uint32_t C = 2, hid = 4, nlm = 4, M = 3, nlc = 1, nb = 2;
    uint32_t d1[2] = {hid, C}, h1[1] = {hid};
    uint32_t fc1 = mw_tensor_add(m, 2, d1, NULL), fc1b = mw_tensor_add(m, 1, h1, NULL);
    uint32_t va = mw_op_add(m, MW_KW_ATTENTION, 0, MW_NONE, MW_NONE);
    mw_op *op = mw_last(m);
    op->tensors[0] = fc1;
    op->tensors[1] = fc1b;
    op->p[0] = (int32_t)C;
    op->p[1] = (int32_t)hid;
    op->p[2] = (int32_t)nlm;
    op->p[3] = (int32_t)M;
    if (!basis) {
        uint32_t d2[2] = {nlm * (M + 1), hid}, b2[1] = {nlm * (M + 1)};
        op->tensors[2] = mw_tensor_add(m, 2, d2, NULL);
        op->tensors[3] = mw_tensor_add(m, 1, b2, NULL);
    } else {
        uint32_t d2[2] = {nlm * (nlc + nb + 1), hid}, d3[2] = {M - nlc, nb}, bb[1] = {nlm * (M + 1)};
        op->p[4] = (int32_t)nlc;
        op->p[5] = (int32_t)nb;
        op->p[6] = 1; /* start_cell_idx */
        op->tensors[2] = mw_tensor_add(m, 2, d2, NULL);
        op->tensors[4] = mw_tensor_add(m, 2, d3, NULL);
        op->tensors[5] = mw_tensor_add(m, 1, bb, NULL);
    }
    uint32_t wh[4] = {M, 2, 1, 9};
    uint32_t twh = mw_tensor_add(m, 4, wh, NULL);
    uint32_t vk = mw_op_add(m, MW_KW_ASSEMBLE, va, MW_NONE, MW_NONE);
    op = mw_last(m);
    op->tensors[0] = twh;
    int32_t ap[9] = {4, 2, 3, 3, 2, 1, 3, 3, (int32_t)M};
    memcpy(op->p, ap, sizeof ap);
    uint32_t od[1] = {4};
    uint32_t tb = mw_tensor_add(m, 1, od, NULL);
    uint32_t vc = mw_op_add(m, MW_CONV2D, 0, vk, MW_NONE);
    op = mw_last(m);
    op->tensors[2] = tb;
    conv_params(op, 4, 3, 1, 1, 1, (int)C);
    uint32_t vg = mw_op_add(m, MW_GLOBAL_AVGPOOL, vc, MW_NONE, MW_NONE);
    add_conv(m, vg, MW_NONE, 4, (int)m->num_classes, 1, 0, 0);
}

void mw_kwnet(mw_model *m)
{
    mw_init(m, 2, 8, 8, 10, "tiny_kwnet");
    kw_body(m, false);
}

void mw_kwbasis(mw_model *m)
{
    mw_init(m, 2, 8, 8, 10, "tiny_kwbasis");
    kw_body(m, true);
}

void mw_allops(mw_model *m)
{
    /* every op type and the less common parameters: groups, dilation, stride, asymmetric
     * kernels, ceil_mode, count_include_pad, ReLU6 */
    mw_init(m, 4, 12, 10, 5, "allops");
    m->resize_short = 14;
    m->crop = 12;
    m->h = m->w = 12;
    uint32_t wd[4] = {8, 2, 3, 2}, od[1] = {8};
    uint32_t tw = mw_tensor_add(m, 4, wd, NULL), tb = mw_tensor_add(m, 1, od, NULL);
    uint32_t v1 = mw_op_add(m, MW_CONV2D, 0, MW_NONE, MW_NONE); /* 4 -> 8, groups 2, 3x2, dil 2x1 */
    mw_op *op = mw_last(m);
    op->tensors[0] = tw;
    op->tensors[2] = tb;
    int32_t cp[12] = {8, 3, 2, 2, 1, 2, 1, 2, 1, 2, 2, 4};
    memcpy(op->p, cp, sizeof cp);
    uint32_t v2 = mw_op_add(m, MW_AVGPOOL2D, v1, MW_NONE, MW_NONE);
    int32_t ap[8] = {3, 3, 2, 2, 1, 1, 1, 1};
    memcpy(mw_last(m)->p, ap, sizeof ap);
    uint32_t v3 = mw_op_add(m, MW_MAXPOOL2D, v2, MW_NONE, MW_NONE);
    int32_t mp[8] = {3, 2, 1, 1, 1, 1, 1, 0};
    memcpy(mw_last(m)->p, mp, sizeof mp);
    uint32_t v4 = add_conv(m, v3, MW_NONE, 8, 8, 1, 0, 2);
    uint32_t v5 = mw_op_add(m, MW_ADD, v4, v3, MW_NONE);
    uint32_t v6 = mw_op_add(m, MW_GLOBAL_AVGPOOL, v5, MW_NONE, MW_NONE);
    uint32_t v7 = add_conv(m, v6, MW_NONE, 8, 5, 1, 0, 0);
    mw_op_add(m, MW_SOFTMAX, v7, MW_NONE, MW_NONE);
}

void mw_identity(mw_model *m, uint32_t c, uint32_t h, uint32_t w)
{
    mw_init(m, c, h, w, c, "identity");
    float wt[16] = {0}, ones[4] = {1, 1, 1, 1}, zeros[4] = {0};
    for (uint32_t i = 0; i < c && i < 4; i++) wt[i * c + i] = 1.0f;
    uint32_t wd[4] = {c, c, 1, 1}, od[1] = {c};
    uint32_t tw = mw_tensor_add(m, 4, wd, wt), ts = mw_tensor_add(m, 1, od, ones), tb = mw_tensor_add(m, 1, od, zeros);
    mw_op_add(m, MW_CONV2D, 0, MW_NONE, MW_NONE);
    mw_op *op = mw_last(m);
    op->tensors[0] = tw;
    op->tensors[1] = ts;
    op->tensors[2] = tb;
    conv_params(op, (int)c, 1, 1, 0, 0, (int)c);
}
