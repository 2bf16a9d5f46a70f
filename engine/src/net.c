/* net.c - the network runtime: upload each weight tensor once, plan activation memory by
 * liveness for an input shape, record one command buffer per shape and replay it. */
#include "bind.h"
#include "internal.h"
#include "op_table.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h" /* the slots of jobs and image runs */

#define MAX_BATCH 4096
#define MAX_SIDE 16384
#define ARENA_ALIGN 256

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct kw_plan {
    uint32_t n, c, h, w;
    uint32_t slot;       /* 0: kwvk_net_run; 1..max_in_flight: the job slots (job.c) */
    kw_shape *shapes;    /* per value */
    uint64_t *offsets;   /* per value, in the arena */
    uint64_t *scratch;   /* per op: arena offset of its scratch (KW_NONE-like UINT64_MAX: none) */
    uint64_t arena_bytes;
    kw_buffer arena, staging_in, staging_out;
    uint64_t in_bytes, out_bytes;
    kw_rec rec;
    uint32_t *ts_begin, *ts_end; /* per op timestamp query indices */
    double *macs;
    bool ran;
} kw_plan;

struct kwvk_net {
    kw_ctx *ctx;
    const kwvk_model *model;
    kwvk_net_desc desc;
    kw_buffer *weights; /* per tensor (buffer NULL if unused) */
    bool *w16;          /* per tensor: stored as fp16 (desc.fp16_weights) */
    uint32_t fp16_tensors;
    kw_buffer *derived; /* per op: transformed weights (Winograd U; buffer NULL if none) */
    uint64_t weight_bytes;
    kw_plan *plans;
    uint32_t n_plans;
    double pipeline_ms, record_ms;
    uint32_t pipelines_created;
    pthread_mutex_t lock;     /* the plan list (plans move when it grows) and `jobs` */
    pthread_mutex_t run_lock; /* slot 0: kwvk_net_run and kwvk_net_run_images */
    bool locks_made;
    kw_jobs *jobs;            /* job.c's per-slot state, or NULL */
};

/* ---------------------------------------------------------------------------------------- */
/* Weights                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static kwvk_result upload_weights(kwvk_net *net)
{
    const kwvk_model *m = net->model;
    enum { USED = 1, F16_OK = 2, OTHER = 4 }; /* how each tensor is used */
    uint8_t *use = calloc(m->n_tensors ? m->n_tensors : 1, 1);
    net->weights = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *net->weights);
    net->w16 = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *net->w16);
    if (!use || !net->weights || !net->w16) {
        free(use);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < m->n_ops; i++)
        for (int k = 0; k < KW_MAX_OP_TENSORS; k++) {
            const kw_op *op = &m->ops[i];
            if (op->tensors[k] == KW_NONE) continue;
            use[op->tensors[k]] |= USED | (kw_op_tensor_f16(op, (uint32_t)k) ? F16_OK : OTHER);
        }
    /* fp16 storage for tensors whose every use allows it (the op table's tensor_f16) */
    const bool want16 = net->desc.fp16_weights && net->ctx->feat.fp16_storage;
    kwvk_result r = KWVK_OK;
    for (uint32_t t = 0; t < m->n_tensors && r == KWVK_OK; t++) {
        if (!use[t]) continue;
        const uint64_t count = m->tensors[t].count;
        const bool h = want16 && use[t] == (USED | F16_OK);
        const uint64_t bytes = count * (h ? 2 : 4);
        const void *src = m->tensors[t].data;
        uint16_t *half = NULL;
        if (h) {
            half = malloc(bytes ? bytes : 2);
            if (!half) {
                r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            kw_f32_to_f16(half, m->tensors[t].data, count);
            src = half;
        }
        r = kw_buffer_create(net->ctx, bytes, KW_MEM_DEVICE, &net->weights[t]);
        if (r == KWVK_OK) r = kw_buffer_upload(net->ctx, &net->weights[t], 0, src, bytes);
        free(half);
        if (r != KWVK_OK) break;
        net->weight_bytes += bytes;
        net->w16[t] = h;
        net->fp16_tensors += h;
    }
    free(use);
    if (r != KWVK_OK) return r;
    /* weights derived from the op's tensors (e.g. Winograd transforms), once, here */
    net->derived = calloc(m->n_ops ? m->n_ops : 1, sizeof *net->derived);
    if (!net->derived) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < m->n_ops && r == KWVK_OK; i++) {
        const kw_op *op = &m->ops[i];
        const uint64_t count = kw_op_derived_count(net->ctx, op, want16);
        if (!count) continue;
        const uint64_t bytes = count * 4;
        float *u = malloc(bytes);
        if (!u) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        const kw_tensor *t[KW_MAX_OP_TENSORS] = {NULL};
        for (int k = 0; k < KW_MAX_OP_TENSORS; k++)
            if (op->tensors[k] != KW_NONE) t[k] = &m->tensors[op->tensors[k]];
        kw_op_derive(op, t, u);
        r = kw_buffer_create(net->ctx, bytes, KW_MEM_DEVICE, &net->derived[i]);
        if (r == KWVK_OK) r = kw_buffer_upload(net->ctx, &net->derived[i], 0, u, bytes);
        if (r == KWVK_OK) net->weight_bytes += bytes;
        free(u);
    }
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Planning                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static void plan_release(kw_ctx *ctx, kw_plan *p)
{
    kw_rec_release(&p->rec);
    kw_buffer_destroy(ctx, &p->arena);
    kw_buffer_destroy(ctx, &p->staging_in);
    kw_buffer_destroy(ctx, &p->staging_out);
    free(p->shapes);
    free(p->offsets);
    free(p->scratch);
    free(p->ts_begin);
    free(p->ts_end);
    free(p->macs);
    memset(p, 0, sizeof *p);
}

typedef struct interval {
    uint32_t first, last; /* op steps during which the block is live (inclusive) */
    uint64_t bytes;
    uint64_t *offset; /* where to store the placement */
} interval;

static int by_size_desc(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Greedy placement: largest first, each at the lowest offset that does not collide with a
 * placed block whose lifetime overlaps. */
static kwvk_result place(interval *iv, uint32_t n, uint64_t align, uint64_t *total)
{
    qsort(iv, n, sizeof *iv, by_size_desc);
    uint64_t top = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (uint32_t j = 0; j < i; j++) {
                if (iv[j].last < iv[i].first || iv[i].last < iv[j].first) continue;
                uint64_t o = *iv[j].offset;
                if (off < o + iv[j].bytes && o < off + iv[i].bytes) {
                    off = (o + iv[j].bytes + align - 1) / align * align;
                    moved = true;
                }
            }
        }
        *iv[i].offset = off;
        if (off + iv[i].bytes > top) top = off + iv[i].bytes;
    }
    *total = top;
    return KWVK_OK;
}

static kwvk_result plan_shapes(kwvk_net *net, kw_plan *p)
{
    const kwvk_model *m = net->model;
    uint32_t nv = m->n_ops + 1;
    p->shapes = calloc(nv, sizeof *p->shapes);
    p->offsets = calloc(nv, sizeof *p->offsets);
    p->scratch = calloc(m->n_ops, sizeof *p->scratch);
    p->macs = calloc(m->n_ops, sizeof *p->macs);
    uint32_t *last_use = calloc(nv, sizeof *last_use);
    uint64_t *scratch_bytes = calloc(m->n_ops, sizeof *scratch_bytes);
    interval *iv = calloc(nv + m->n_ops, sizeof *iv);
    kwvk_result r = KWVK_OK;
    if (!p->shapes || !p->offsets || !p->scratch || !p->macs || !last_use || !scratch_bytes || !iv) {
        r = kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    p->shapes[0] = (kw_shape){p->c, p->h, p->w};
    char msg[256];
    uint32_t bad = m->n_ops;
    const bool fits = kw_model_shapes(m, p->shapes, &bad, msg, sizeof msg);
    for (uint32_t i = 0; i < bad; i++) { /* outputs before the op that does not fit */
        uint64_t elems;
        if (!kw_mul_u64(kw_shape_count(p->shapes[i + 1]), p->n, &elems) || elems > (1ull << 31)) {
            r = kw_fail(KWVK_ERROR_UNSUPPORTED, "op %u (%s): output of %ux%ux%ux%u is too large", i,
                        kwvk_op_name(m->ops[i].type), p->n, p->shapes[i + 1].c, p->shapes[i + 1].h,
                        p->shapes[i + 1].w);
            goto done;
        }
    }
    if (!fits) {
        r = kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "input %ux%ux%ux%u does not fit the network: op %u (%s): %s", p->n,
                    p->c, p->h, p->w, bad, kwvk_op_name(m->ops[bad].type), msg);
        goto done;
    }
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const kw_op *op = &m->ops[i];
        for (int k = 0; k < KW_MAX_OP_INPUTS; k++)
            if (op->inputs[k] != KW_NONE) last_use[op->inputs[k]] = i;
        kw_op_call call;
        kw_op_call_make(&call, op, &(kw_op_operands){.n = p->n, .values = p->shapes, .out = i + 1,
                                                     .tensors = m->tensors, .derived = &net->derived[i]});
        scratch_bytes[i] = kw_op_scratch(net->ctx, &call);
        p->macs[i] = kw_op_macs(op, p->n, call.in, call.out);
    }
    last_use[m->n_ops] = m->n_ops; /* the output lives to the end */
    /* value v (v >= 1) is produced at step v-1 and dies after its last reader */
    uint32_t k = 0;
    for (uint32_t v = 0; v < nv; v++) {
        uint32_t first = v == 0 ? 0 : v - 1;
        uint32_t last = last_use[v] < first ? first : last_use[v];
        iv[k++] = (interval){first, last, kw_shape_count(p->shapes[v]) * p->n * 4, &p->offsets[v]};
    }
    for (uint32_t i = 0; i < m->n_ops; i++) {
        p->scratch[i] = UINT64_MAX;
        if (scratch_bytes[i]) iv[k++] = (interval){i, i, scratch_bytes[i], &p->scratch[i]};
    }
    uint64_t align = kw_bind_align(net->ctx);
    if (align < ARENA_ALIGN) align = ARENA_ALIGN;
    r = place(iv, k, align, &p->arena_bytes);
done:
    free(last_use);
    free(scratch_bytes);
    free(iv);
    return r;
}

/* The call of op i of plan p; `views`: every value's place in the arena. */
static void make_call(kwvk_net *net, const kw_plan *p, const kw_view *views, uint32_t i, kw_op_call *call)
{
    const kwvk_model *m = net->model;
    const kw_op *op = &m->ops[i];
    kw_op_operands o = {.n = p->n,
                        .values = p->shapes,
                        .vvalues = views,
                        .out = i + 1,
                        .tensors = m->tensors,
                        .weights = net->weights,
                        .w16 = net->w16,
                        .derived = &net->derived[i],
                        .out_ohwi = kw_model_value_ohwi(m, i + 1)};
    for (uint32_t k = 0; k < KW_MAX_OP_INPUTS; k++)
        if (op->inputs[k] != KW_NONE && kw_model_value_ohwi(m, op->inputs[k])) o.in_ohwi |= 1u << k;
    kw_op_call_make(call, op, &o);
    if (p->scratch[i] != UINT64_MAX)
        call->scratch = kw_view_of(&p->arena, p->scratch[i], kw_op_scratch(net->ctx, call));
}

static kwvk_result plan_record(kwvk_net *net, kw_plan *p)
{
    kw_ctx *ctx = net->ctx;
    const kwvk_model *m = net->model;
    p->in_bytes = kw_shape_count(p->shapes[0]) * p->n * 4;
    p->out_bytes = kw_shape_count(p->shapes[m->n_ops]) * p->n * 4;
    KW_TRY(kw_buffer_create(ctx, p->arena_bytes, KW_MEM_DEVICE, &p->arena));
    KW_TRY(kw_buffer_create(ctx, p->in_bytes, KW_MEM_UPLOAD, &p->staging_in));
    KW_TRY(kw_buffer_create(ctx, p->out_bytes, KW_MEM_DOWNLOAD, &p->staging_out));
    bool prof = net->desc.enable_profiling && ctx->feat.timestamps;
    p->ts_begin = calloc(m->n_ops, sizeof *p->ts_begin);
    p->ts_end = calloc(m->n_ops, sizeof *p->ts_end);
    if (!p->ts_begin || !p->ts_end) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    kw_view *views = calloc(m->n_ops + 1, sizeof *views); /* every value's place in the arena */
    if (!views) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t v = 0; v <= m->n_ops; v++)
        views[v] = kw_view_of(&p->arena, p->offsets[v], kw_shape_count(p->shapes[v]) * p->n * 4);
    /* First a pass that records nothing and collects the pipelines the ops want, to create them
     * together from several threads; its errors are left to the recording, which reports them. */
    kw_pipeline_collect_begin();
    kw_rec dry = {.ctx = ctx, .dry = true};
    for (uint32_t i = 0; i < m->n_ops; i++) {
        kw_op_call call;
        make_call(net, p, views, i, &call);
        (void)kw_op_record(&dry, &call);
    }
    kw_pipeline_collect_end(ctx);
    kwvk_result r = kw_rec_begin(ctx, &p->rec, prof ? 2 * m->n_ops : 0);
    kw_rec *rec = &p->rec;
    if (r == KWVK_OK)
        r = kw_rec_copy(rec, kw_view_of(&p->staging_in, 0, p->in_bytes),
                        kw_view_of(&p->arena, p->offsets[0], p->in_bytes), p->in_bytes);
    for (uint32_t i = 0; i < m->n_ops && r == KWVK_OK; i++) {
        const kw_op *op = &m->ops[i];
        kw_op_call call;
        make_call(net, p, views, i, &call);
        if (prof) {
            kw_rec_barrier(rec);
            kw_rec_timestamp(rec, &p->ts_begin[i]);
        }
        r = kw_op_record(rec, &call);
        if (r != KWVK_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", kwvk_last_error());
            r = kw_fail(r, "op %u (%s): %s", i, kwvk_op_name(op->type), msg);
        }
        if (prof && r == KWVK_OK) {
            kw_rec_barrier(rec);
            kw_rec_timestamp(rec, &p->ts_end[i]);
        }
    }
    free(views);
    if (r != KWVK_OK) return r;
    KW_TRY(kw_rec_copy(rec, kw_view_of(&p->arena, p->offsets[m->n_ops], p->out_bytes),
                       kw_view_of(&p->staging_out, 0, p->out_bytes), p->out_bytes));
    return kw_rec_end(rec);
}

static kwvk_result check_shape(const kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w)
{
    if (n < 1 || n > MAX_BATCH) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "batch %u out of range 1..%u", n, MAX_BATCH);
    if (c != net->model->info.input_channels)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "the model takes %u input channels, got %u",
                       net->model->info.input_channels, c);
    if (h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "input size %ux%u out of range 1..%u", h, w, MAX_SIDE);
    return KWVK_OK;
}

static kwvk_result get_plan_slot(kwvk_net *net, uint32_t slot, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                                 kw_plan **out)
{
    KW_TRY(check_shape(net, n, c, h, w));
    for (uint32_t i = 0; i < net->n_plans; i++) {
        kw_plan *p = &net->plans[i];
        if (p->n == n && p->c == c && p->h == h && p->w == w && p->slot == slot) {
            *out = p;
            return KWVK_OK;
        }
    }
    kw_plan *plans = realloc(net->plans, (net->n_plans + 1) * sizeof *plans);
    if (!plans) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    net->plans = plans;
    kw_plan *p = &net->plans[net->n_plans];
    memset(p, 0, sizeof *p);
    p->n = n;
    p->c = c;
    p->h = h;
    p->w = w;
    p->slot = slot;
    /* ctx->pipeline_ms changes under the context's lock (pipeline.c); with other threads
     * creating pipelines on the same context, their time is counted here too */
    kw_ctx_lock(net->ctx);
    double t0 = now_ms(), pipe0 = net->ctx->pipeline_ms;
    uint32_t created0 = net->ctx->pipelines_created;
    kw_ctx_unlock(net->ctx);
    kwvk_result r = plan_shapes(net, p);
    if (r == KWVK_OK) r = plan_record(net, p);
    kw_ctx_lock(net->ctx);
    double pipe = net->ctx->pipeline_ms - pipe0;
    net->pipelines_created += net->ctx->pipelines_created - created0;
    kw_ctx_unlock(net->ctx);
    net->pipeline_ms += pipe;
    net->record_ms += now_ms() - t0 - pipe;
    if (r != KWVK_OK) {
        plan_release(net->ctx, p);
        return r;
    }
    net->n_plans++;
    kw_pipeline_cache_save(net->ctx);
    *out = p;
    return KWVK_OK;
}

static kwvk_result get_plan(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w, kw_plan **out)
{
    return get_plan_slot(net, 0, n, c, h, w, out);
}

/* For job.c and image.c: the net's context, model and job slot count, and the resources of
 * the plan of one shape in one slot (copied: plans move in the list, their buffers and
 * command buffers do not, and live until kwvk_net_destroy). Takes the net's lock. */
kw_ctx *kw_net_ctx(const kwvk_net *net) { return net->ctx; }
const kwvk_model *kw_net_model(const kwvk_net *net) { return net->model; }
uint32_t kw_net_max_in_flight(const kwvk_net *net) { return net->desc.max_in_flight ? net->desc.max_in_flight : 2; }
kw_jobs **kw_net_jobs(kwvk_net *net) { return &net->jobs; }
void kw_net_lock(kwvk_net *net) { pthread_mutex_lock(&net->lock); }
void kw_net_unlock(kwvk_net *net) { pthread_mutex_unlock(&net->lock); }
void kw_net_run_lock(kwvk_net *net) { pthread_mutex_lock(&net->run_lock); }
void kw_net_run_unlock(kwvk_net *net) { pthread_mutex_unlock(&net->run_lock); }

kwvk_result kw_net_slot_plan(kwvk_net *net, uint32_t slot, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                             kw_slot_plan *out)
{
    kw_plan *p;
    pthread_mutex_lock(&net->lock);
    kwvk_result r = get_plan_slot(net, slot, n, c, h, w, &p);
    if (r == KWVK_OK) {
        out->cmd = p->rec.cmd;
        out->staging_in = p->staging_in;
        out->staging_out = p->staging_out;
        out->in_bytes = p->in_bytes;
        out->out_bytes = p->out_bytes;
        p->ran = true;
    }
    pthread_mutex_unlock(&net->lock);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Public                                                                                   */
/* ---------------------------------------------------------------------------------------- */

kwvk_result kwvk_net_create(kwvk_context *c, const kwvk_model *model, const kwvk_net_desc *desc, kwvk_net **out)
{
    if (!c || !model || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_create: NULL argument");
    *out = NULL;
    if (c->c.lost) return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost; recreate the context");
    kwvk_net *net = calloc(1, sizeof *net);
    if (!net) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    net->ctx = &c->c;
    net->model = model;
    if (desc) net->desc = *desc;
    if (net->desc.max_in_flight > KW_MAX_IN_FLIGHT) {
        const uint32_t m = net->desc.max_in_flight;
        free(net);
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_desc.max_in_flight %u out of range 0..%u", m,
                       KW_MAX_IN_FLIGHT);
    }
    if (pthread_mutex_init(&net->lock, NULL) != 0) {
        free(net);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "cannot create a mutex");
    }
    if (pthread_mutex_init(&net->run_lock, NULL) != 0) {
        pthread_mutex_destroy(&net->lock);
        free(net);
        return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "cannot create a mutex");
    }
    net->locks_made = true;
    kwvk_result r = upload_weights(net);
    if (r != KWVK_OK) {
        kwvk_net_destroy(net);
        return r;
    }
    *out = net;
    return KWVK_OK;
}

void kwvk_net_destroy(kwvk_net *net)
{
    if (!net) return;
    if (net->ctx->device) { /* vkDeviceWaitIdle uses the queue: it needs the queue lock */
        kw_ctx_lock(net->ctx);
        vkDeviceWaitIdle(net->ctx->device);
        kw_ctx_unlock(net->ctx);
    }
    kw_jobs_release(net);
    for (uint32_t i = 0; i < net->n_plans; i++) plan_release(net->ctx, &net->plans[i]);
    free(net->plans);
    if (net->weights)
        for (uint32_t t = 0; t < net->model->n_tensors; t++) kw_buffer_destroy(net->ctx, &net->weights[t]);
    free(net->weights);
    free(net->w16);
    if (net->derived)
        for (uint32_t i = 0; i < net->model->n_ops; i++) kw_buffer_destroy(net->ctx, &net->derived[i]);
    free(net->derived);
    if (net->locks_made) {
        pthread_mutex_destroy(&net->lock);
        pthread_mutex_destroy(&net->run_lock);
    }
    free(net);
}

kwvk_result kwvk_net_prepare(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w)
{
    if (!net) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_prepare: net is NULL");
    kw_plan *p;
    pthread_mutex_lock(&net->lock);
    kwvk_result r = get_plan(net, n, c, h, w, &p);
    pthread_mutex_unlock(&net->lock);
    return r;
}

kwvk_result kwvk_net_output_shape(kwvk_net *net, uint32_t c_in, uint32_t h_in, uint32_t w_in, uint32_t out_chw[3])
{
    if (!net || !out_chw) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_output_shape: NULL argument");
    KW_TRY(check_shape(net, 1, c_in, h_in, w_in));
    const kwvk_model *m = net->model;
    kw_shape s = {c_in, h_in, w_in};
    kw_shape *shapes = calloc(m->n_ops + 1, sizeof *shapes);
    if (!shapes) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    shapes[0] = s;
    char msg[256];
    uint32_t i = 0;
    if (!kw_model_shapes(m, shapes, &i, msg, sizeof msg)) {
        free(shapes);
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "input %ux%ux%u does not fit the network: op %u (%s): %s", c_in,
                       h_in, w_in, i, kwvk_op_name(m->ops[i].type), msg);
    }
    s = shapes[m->n_ops];
    free(shapes);
    out_chw[0] = s.c;
    out_chw[1] = s.h;
    out_chw[2] = s.w;
    return KWVK_OK;
}

kwvk_result kwvk_net_run(kwvk_net *net, const float *input, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                         float *output, size_t output_count)
{
    if (!net || !input || !output) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_run: NULL argument");
    /* slot 0 is this call's (and kwvk_net_run_images'); the net's lock guards the plan list
     * only while looking up, so that jobs of other threads are not held up by the run */
    pthread_mutex_lock(&net->run_lock);
    kw_slot_plan sp;
    kwvk_result r = kw_net_slot_plan(net, 0, n, c, h, w, &sp);
    if (r == KWVK_OK && output_count != sp.out_bytes / 4)
        r = kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "output buffer holds %zu floats, the output has %llu", output_count,
                    (unsigned long long)(sp.out_bytes / 4));
    if (r == KWVK_OK) {
        memcpy(sp.staging_in.mapped, input, sp.in_bytes);
        r = kw_submit_wait(net->ctx, sp.cmd);
    }
    if (r == KWVK_OK) {
        memcpy(output, sp.staging_out.mapped, sp.out_bytes);
        /* make this the plan kwvk_net_profile reports */
        pthread_mutex_lock(&net->lock);
        for (uint32_t i = 1; i < net->n_plans; i++) {
            kw_plan *p = &net->plans[i];
            if (p->slot == 0 && p->n == n && p->c == c && p->h == h && p->w == w) {
                kw_plan tmp = net->plans[0];
                net->plans[0] = *p;
                *p = tmp;
                break;
            }
        }
        pthread_mutex_unlock(&net->lock);
    }
    pthread_mutex_unlock(&net->run_lock);
    return r;
}

kwvk_result kwvk_net_profile(const kwvk_net *net, kwvk_layer_time *times, uint32_t *count)
{
    if (!net || !count) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_profile: NULL argument");
    const kwvk_model *m = net->model;
    if (!net->desc.enable_profiling)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "profiling was not enabled in kwvk_net_desc");
    if (!net->ctx->feat.timestamps)
        return kw_fail(KWVK_ERROR_UNSUPPORTED, "this device has no compute timestamps");
    if (net->n_plans == 0 || !net->plans[0].ran) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "no run to profile yet");
    const kw_plan *p = &net->plans[0];
    if (!times) {
        *count = m->n_ops;
        return KWVK_OK;
    }
    uint32_t nq = p->rec.n_queries;
    uint64_t *q = calloc(nq ? nq : 1, sizeof *q);
    if (!q) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    VkResult vr = vkGetQueryPoolResults(net->ctx->device, p->rec.queries, 0, nq, nq * sizeof *q, q, sizeof *q,
                                        VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (vr != VK_SUCCESS) {
        free(q);
        return kw_vk_fail(vr, "vkGetQueryPoolResults");
    }
    uint32_t n = *count < m->n_ops ? *count : m->n_ops;
    double period = net->ctx->props.limits.timestampPeriod;
    for (uint32_t i = 0; i < n; i++) {
        times[i].op_index = i;
        times[i].op_type = m->ops[i].type;
        times[i].kind = kw_op_kind(m->ops[i].type);
        times[i].gmac = p->macs[i] / 1e9;
        times[i].ms = 0;
        if (p->ts_begin[i] < nq && p->ts_end[i] < nq)
            times[i].ms = (double)(q[p->ts_end[i]] - q[p->ts_begin[i]]) * period / 1e6;
    }
    free(q);
    *count = n;
    return KWVK_OK;
}

kwvk_result kwvk_net_get_stats(const kwvk_net *net, kwvk_net_stats *out)
{
    if (!net || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_get_stats: NULL argument");
    memset(out, 0, sizeof *out);
    out->weight_bytes = net->weight_bytes;
    out->fp16_tensors = net->fp16_tensors;
    for (uint32_t i = 0; i < net->n_plans; i++)
        if (net->plans[i].arena_bytes > out->activation_bytes) out->activation_bytes = net->plans[i].arena_bytes;
    kw_ctx_lock(net->ctx);
    out->peak_device_bytes = net->ctx->peak;
    out->pipeline_cache_loaded = net->ctx->disk_cache_loaded;
    kw_ctx_unlock(net->ctx);
    out->pipelines_created = net->pipelines_created;
    out->pipeline_ms = net->pipeline_ms;
    out->record_ms = net->record_ms;
    out->plans = net->n_plans;
    return KWVK_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Interop                                                                                  */
/* ---------------------------------------------------------------------------------------- */

kwvk_result kwvk_net_get_io(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w, kwvk_net_io *io)
{
    if (!net || !io) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_get_io: NULL argument");
    kw_plan *p;
    KW_TRY(get_plan(net, n, c, h, w, &p));
    memset(io, 0, sizeof *io);
    io->input_buffer = (void *)p->staging_in.buffer;
    io->input_bytes = p->in_bytes;
    io->input_mapped = p->staging_in.mapped;
    io->output_buffer = (void *)p->staging_out.buffer;
    io->output_bytes = p->out_bytes;
    io->output_mapped = p->staging_out.mapped;
    return KWVK_OK;
}

kwvk_result kwvk_net_submit(kwvk_net *net, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                            const kwvk_submit_sync *sync)
{
    if (!net) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_submit: net is NULL");
    kw_ctx *ctx = net->ctx;
    if (ctx->lost) return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost; recreate the context");
    kw_plan *p;
    KW_TRY(get_plan(net, n, c, h, w, &p));
    VkSemaphore wait = sync ? (VkSemaphore)sync->wait_semaphore : VK_NULL_HANDLE;
    VkSemaphore signal = sync ? (VkSemaphore)sync->signal_semaphore : VK_NULL_HANDLE;
    VkPipelineStageFlags stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .waitSemaphoreCount = wait ? 1 : 0,
                       .pWaitSemaphores = &wait,
                       .pWaitDstStageMask = &stage,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &p->rec.cmd,
                       .signalSemaphoreCount = signal ? 1 : 0,
                       .pSignalSemaphores = &signal};
    kw_ctx_lock(ctx);
    VkResult vr = vkQueueSubmit(ctx->queue, 1, &si, sync ? (VkFence)sync->fence : VK_NULL_HANDLE);
    if (vr == VK_ERROR_DEVICE_LOST) ctx->lost = true;
    kw_ctx_unlock(ctx);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkQueueSubmit");
    p->ran = true;
    return KWVK_OK;
}
