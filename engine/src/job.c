/* job.c - non-blocking runs (kwvk_net_start, kwvk_job_*) and result helpers (kwvk_top_k). */
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Slot 0 of a net belongs to the blocking runs (kwvk_net_run's plan, kwvk_net_run_images),
 * slots 1..max_in_flight to jobs. A slot has a fence and the GPU preprocessing of images;
 * the net (net.c) keeps a plan per shape and slot. A job slot also has an event that a
 * one-command buffer of its own sets after the job's work: kwvk_job_poll reads that event
 * (memory the driver reads without a lock) instead of the fence, whose status the driver
 * updates under a lock that its submission thread holds while it signals. */
typedef struct kw_job_slot {
    bool in_use; /* a job owns it (guarded by the net's lock) */
    bool broken; /* its fence never signalled: never reused */
    VkFence fence;
    VkEvent done;       /* job slots: set by `set_done` after the job's work */
    VkCommandPool pool; /* of set_done */
    VkCommandBuffer set_done;
    kw_img_slot img;
} kw_job_slot;

struct kw_jobs {
    uint32_t n; /* slots: 1 + max_in_flight */
    kw_job_slot slot[KW_MAX_IN_FLIGHT + 1];
};

struct kwvk_job {
    kwvk_net *net;
    uint32_t slot;
    kw_slot_plan plan;
    bool done;  /* the fence was seen signalled */
    bool ended; /* the slot's event was seen set: the GPU work is complete */
};

static kwvk_result lost(kw_ctx *ctx)
{
    kw_ctx_lock(ctx);
    ctx->lost = true;
    kw_ctx_unlock(ctx);
    return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost; recreate the context");
}

static bool ctx_lost(kw_ctx *ctx)
{
    kw_ctx_lock(ctx);
    bool l = ctx->lost;
    kw_ctx_unlock(ctx);
    return l;
}

static void release_slot(kw_ctx *ctx, kw_job_slot *s)
{
    kw_img_slot_release(ctx, &s->img);
    if (s->pool) vkDestroyCommandPool(ctx->device, s->pool, NULL); /* frees set_done */
    vkDestroyEvent(ctx->device, s->done, NULL);
    vkDestroyFence(ctx->device, s->fence, NULL);
}

/* A slot's fence and, for a job slot (job != 0), its event and the command buffer that sets it
 * once all work submitted before it has completed. */
static kwvk_result create_slot(kw_ctx *ctx, kw_job_slot *s, bool job)
{
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkResult vr = vkCreateFence(ctx->device, &fi, NULL, &s->fence);
    if (vr != VK_SUCCESS || !job) return vr == VK_SUCCESS ? KWVK_OK : kw_vk_fail(vr, "vkCreateFence");
    VkEventCreateInfo ei = {.sType = VK_STRUCTURE_TYPE_EVENT_CREATE_INFO};
    vr = vkCreateEvent(ctx->device, &ei, NULL, &s->done);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateEvent");
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = ctx->queue_family};
    vr = vkCreateCommandPool(ctx->device, &pci, NULL, &s->pool);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    vr = vkAllocateCommandBuffers(ctx->device, &ai, &s->set_done);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vr = vkBeginCommandBuffer(s->set_done, &bi);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkBeginCommandBuffer");
    /* ALL_COMMANDS: the event's first scope is every command earlier in submission order,
     * so it is set only after the job's preprocessing and net commands have completed */
    vkCmdSetEvent(s->set_done, s->done, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
    vr = vkEndCommandBuffer(s->set_done);
    return vr == VK_SUCCESS ? KWVK_OK : kw_vk_fail(vr, "vkEndCommandBuffer");
}

/* The net's slots, created at first use (call with the net's lock held). */
static kwvk_result get_jobs(kwvk_net *net, kw_jobs **out)
{
    kw_jobs **pj = kw_net_jobs(net);
    if (!*pj) {
        kw_ctx *ctx = kw_net_ctx(net);
        kw_jobs *j = calloc(1, sizeof *j);
        if (!j) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        j->n = 1 + kw_net_max_in_flight(net);
        for (uint32_t i = 0; i < j->n; i++) {
            kwvk_result r = create_slot(ctx, &j->slot[i], i > 0);
            if (r != KWVK_OK) {
                for (uint32_t k = 0; k <= i; k++)
                    release_slot(ctx, &j->slot[k]);
                free(j);
                return r;
            }
        }
        *pj = j;
    }
    *out = *pj;
    return KWVK_OK;
}

void kw_jobs_release(kwvk_net *net)
{
    kw_jobs **pj = kw_net_jobs(net);
    kw_jobs *j = *pj;
    if (!j) return;
    kw_ctx *ctx = kw_net_ctx(net);
    for (uint32_t i = 0; i < j->n; i++)
        release_slot(ctx, &j->slot[i]);
    free(j);
    *pj = NULL;
}

/* Submit [pre, plan, set_done] (those the slot and run have) with the slot's fence; fence and
 * event are reset first: the slot's previous work is done. */
static kwvk_result submit(kwvk_net *net, kw_job_slot *s, VkCommandBuffer pre, VkCommandBuffer cmd)
{
    kw_ctx *ctx = kw_net_ctx(net);
    VkCommandBuffer cmds[3];
    uint32_t n = 0;
    if (pre) cmds[n++] = pre;
    cmds[n++] = cmd;
    if (s->set_done) cmds[n++] = s->set_done;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = n, .pCommandBuffers = cmds};
    VkResult vr = vkResetFences(ctx->device, 1, &s->fence);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkResetFences");
    if (s->done && (vr = vkResetEvent(ctx->device, s->done)) != VK_SUCCESS) return kw_vk_fail(vr, "vkResetEvent");
    kw_ctx_lock(ctx);
    if (ctx->lost) {
        kw_ctx_unlock(ctx);
        return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost earlier; recreate the context");
    }
    vr = vkQueueSubmit(ctx->queue, 1, &si, s->fence);
    if (vr == VK_ERROR_DEVICE_LOST) ctx->lost = true;
    kw_ctx_unlock(ctx);
    if (vr != VK_SUCCESS) return kw_vk_fail(vr, "vkQueueSubmit");
    return KWVK_OK;
}

/* Wait for a slot's fence: KWVK_ERROR_TIMEOUT after timeout_ms (the work continues). */
static kwvk_result wait_slot(kw_ctx *ctx, kw_job_slot *s, uint32_t timeout_ms)
{
    VkResult vr = vkWaitForFences(ctx->device, 1, &s->fence, VK_TRUE, (uint64_t)timeout_ms * 1000000ull);
    if (vr == VK_SUCCESS) return KWVK_OK;
    if (vr == VK_TIMEOUT) return kw_fail(KWVK_ERROR_TIMEOUT, "the GPU did not finish within %u ms", timeout_ms);
    if (vr == VK_ERROR_DEVICE_LOST) return lost(ctx);
    return kw_vk_fail(vr, "vkWaitForFences");
}

/* Input of a run: floats or images. */
typedef struct run_input {
    const float *x;
    const kwvk_image *images;
    uint32_t n, c, h, w;
} run_input;

/* Plan, preprocessing and submission of one run in slot `slot` (owned by the caller). */
static kwvk_result launch(kwvk_net *net, kw_jobs *jobs, uint32_t slot, const run_input *in, kw_slot_plan *plan)
{
    kw_ctx *ctx = kw_net_ctx(net);
    kw_job_slot *s = &jobs->slot[slot];
    KW_TRY(kw_net_slot_plan(net, slot, in->n, in->c, in->h, in->w, plan));
    VkCommandBuffer pre = VK_NULL_HANDLE;
    if (in->images)
        KW_TRY(kw_images_prepare(ctx, kw_net_model(net), &s->img, in->images, in->n, &plan->staging_in, &pre));
    else
        memcpy(plan->staging_in.mapped, in->x, plan->in_bytes);
    return submit(net, s, pre, plan->cmd);
}

static kwvk_result check_images(kwvk_net *net, const kwvk_image *images, uint32_t n, run_input *in)
{
    const kwvk_model_info *info = &kw_net_model(net)->info;
    if (n < 1 || n > KW_MAX_IMAGES)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "%u images, 1..%u allowed", n, KW_MAX_IMAGES);
    for (uint32_t i = 0; i < n; i++) { /* before a slot is taken: a bad frame costs nothing */
        kw_img_layout l;
        kw_img_geom g;
        KW_TRY(kw_image_layout(&images[i], i, &l));
        KW_TRY(kw_image_geometry(info, &images[i], i, &g));
    }
    *in = (run_input){NULL, images, n, info->input_channels, info->input_height, info->input_width};
    return KWVK_OK;
}

static kwvk_result start(kwvk_net *net, const run_input *in, kwvk_job **out)
{
    kw_ctx *ctx = kw_net_ctx(net);
    if (ctx_lost(ctx))
        return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost earlier; recreate the context");
    kwvk_job *job = calloc(1, sizeof *job);
    if (!job) return kw_fail(KWVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    kw_jobs *jobs;
    kw_net_lock(net);
    kwvk_result r = get_jobs(net, &jobs);
    uint32_t slot = 0;
    if (r == KWVK_OK) {
        for (uint32_t i = 1; i < jobs->n && !slot; i++)
            if (!jobs->slot[i].in_use && !jobs->slot[i].broken) slot = i;
        if (slot)
            jobs->slot[slot].in_use = true;
        else
            r = kw_fail(KWVK_ERROR_BUSY, "the net already has %u jobs (kwvk_net_desc.max_in_flight); destroy one first",
                        jobs->n - 1);
    }
    kw_net_unlock(net);
    if (r == KWVK_OK) r = launch(net, jobs, slot, in, &job->plan);
    if (r != KWVK_OK) {
        if (slot) {
            kw_net_lock(net);
            jobs->slot[slot].in_use = false;
            kw_net_unlock(net);
        }
        free(job);
        return r;
    }
    job->net = net;
    job->slot = slot;
    *out = job;
    return KWVK_OK;
}

kwvk_result kwvk_net_start(kwvk_net *net, const float *input, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                           kwvk_job **out)
{
    if (out) *out = NULL;
    if (!net || !input || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_start: NULL argument");
    run_input in = {input, NULL, n, c, h, w};
    return start(net, &in, out);
}

kwvk_result kwvk_net_start_images(kwvk_net *net, const kwvk_image *images, uint32_t n, kwvk_job **out)
{
    if (out) *out = NULL;
    if (!net || !images || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_start_images: NULL argument");
    run_input in;
    KW_TRY(check_images(net, images, n, &in));
    return start(net, &in, out);
}

static kw_job_slot *job_slot(kwvk_job *job)
{
    return &(*kw_net_jobs(job->net))->slot[job->slot];
}

kwvk_result kwvk_job_poll(kwvk_job *job, int *done)
{
    if (!job || !done) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_job_poll: NULL argument");
    *done = 0;
    if (job->done || job->ended) {
        *done = 1;
        return KWVK_OK;
    }
    kw_ctx *ctx = kw_net_ctx(job->net);
    VkResult vr = vkGetEventStatus(ctx->device, job_slot(job)->done);
    if (vr == VK_EVENT_SET) {
        job->ended = true; /* the fence follows: kwvk_job_output's wait for it is brief */
        *done = 1;
        return KWVK_OK;
    }
    if (vr == VK_EVENT_RESET) return KWVK_OK;
    if (vr == VK_ERROR_DEVICE_LOST) return lost(ctx);
    return kw_vk_fail(vr, "vkGetEventStatus");
}

kwvk_result kwvk_job_wait(kwvk_job *job, uint32_t timeout_ms)
{
    if (!job) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_job_wait: job is NULL");
    if (job->done) return KWVK_OK;
    KW_TRY(wait_slot(kw_net_ctx(job->net), job_slot(job), timeout_ms));
    job->done = true;
    return KWVK_OK;
}

kwvk_result kwvk_job_output(kwvk_job *job, float *output, size_t output_count)
{
    if (!job || !output) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_job_output: NULL argument");
    if (output_count != job->plan.out_bytes / 4)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "output buffer holds %zu floats, the output has %llu", output_count,
                       (unsigned long long)(job->plan.out_bytes / 4));
    KW_TRY(kwvk_job_wait(job, kw_net_ctx(job->net)->timeout_ms));
    memcpy(output, job->plan.staging_out.mapped, job->plan.out_bytes);
    return KWVK_OK;
}

void kwvk_job_destroy(kwvk_job *job)
{
    if (!job) return;
    kw_ctx *ctx = kw_net_ctx(job->net);
    kw_job_slot *s = job_slot(job);
    bool ok = job->done || wait_slot(ctx, s, ctx->timeout_ms) == KWVK_OK ||
              vkGetFenceStatus(ctx->device, s->fence) == VK_SUCCESS;
    if (!ok) {
        /* still running after the time-out: the slot's buffers may still be in use */
        kw_log(ctx, KWVK_LOG_ERROR,
               "kwvk_job_destroy: the GPU did not finish within %u ms; the device is "
               "considered lost",
               ctx->timeout_ms);
        lost(ctx);
    }
    kw_net_lock(job->net);
    s->in_use = false;
    s->broken = !ok;
    kw_net_unlock(job->net);
    free(job);
}

/* ---------------------------------------------------------------------------------------- */
/* Blocking image runs (slot 0)                                                             */
/* ---------------------------------------------------------------------------------------- */

kwvk_result kwvk_net_run_images(kwvk_net *net, const kwvk_image *images, uint32_t n, float *output, size_t output_count)
{
    if (!net || !images || !output) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_net_run_images: NULL argument");
    run_input in;
    KW_TRY(check_images(net, images, n, &in));
    kw_ctx *ctx = kw_net_ctx(net);
    if (ctx_lost(ctx))
        return kw_fail(KWVK_ERROR_DEVICE_LOST, "the Vulkan device was lost earlier; recreate the context");
    kw_net_run_lock(net);
    kw_jobs *jobs;
    kw_net_lock(net);
    kwvk_result r = get_jobs(net, &jobs);
    kw_net_unlock(net);
    kw_slot_plan plan;
    if (r == KWVK_OK) {
        /* the output size, checked before the work */
        r = kw_net_slot_plan(net, 0, in.n, in.c, in.h, in.w, &plan);
        if (r == KWVK_OK && output_count != plan.out_bytes / 4)
            r = kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "output buffer holds %zu floats, the output has %llu",
                        output_count, (unsigned long long)(plan.out_bytes / 4));
    }
    if (r == KWVK_OK && jobs->slot[0].broken)
        r = kw_fail(KWVK_ERROR_DEVICE_LOST, "an earlier run never finished; recreate the context");
    if (r == KWVK_OK) r = launch(net, jobs, 0, &in, &plan);
    if (r == KWVK_OK) {
        r = wait_slot(ctx, &jobs->slot[0], ctx->timeout_ms);
        if (r == KWVK_ERROR_TIMEOUT) {
            jobs->slot[0].broken = true;
            lost(ctx);
            r = kw_fail(KWVK_ERROR_TIMEOUT, "the GPU did not finish within %u ms", ctx->timeout_ms);
        }
    }
    if (r == KWVK_OK) memcpy(output, plan.staging_out.mapped, plan.out_bytes);
    kw_net_run_unlock(net);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Results                                                                                  */
/* ---------------------------------------------------------------------------------------- */

kwvk_result kwvk_top_k(const kwvk_model *model, const float *logits, uint32_t num_logits, uint32_t k, uint32_t scores,
                       kwvk_class_score *out)
{
    if (!model || !logits || !out) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_top_k: NULL argument");
    if (num_logits != model->info.num_classes)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_top_k: %u logits, the model has %u classes", num_logits,
                       model->info.num_classes);
    if (k < 1 || k > num_logits)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_top_k: k = %u out of range 1..%u", k, num_logits);
    if (scores != KWVK_SCORES_LOGITS && scores != KWVK_SCORES_SOFTMAX)
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT,
                       "kwvk_top_k: scores = %u is neither KWVK_SCORES_LOGITS nor "
                       "KWVK_SCORES_SOFTMAX",
                       scores);
    for (uint32_t i = 0; i < num_logits; i++)
        if (!isfinite(logits[i])) return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_top_k: logit %u is not finite", i);
    /* softmax in double, shifted by the maximum */
    double mx = logits[0], sum = 0;
    for (uint32_t i = 1; i < num_logits; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    if (scores == KWVK_SCORES_SOFTMAX)
        for (uint32_t i = 0; i < num_logits; i++)
            sum += exp((double)logits[i] - mx);
    /* insertion into the sorted list of the k best so far: O(num_logits * k) */
    uint32_t have = 0;
    for (uint32_t i = 0; i < num_logits; i++) {
        float v = logits[i];
        if (have == k && !(v > logits[out[k - 1].index])) continue;
        uint32_t pos = have < k ? have++ : k - 1;
        while (pos > 0 && v > logits[out[pos - 1].index]) {
            out[pos] = out[pos - 1];
            pos--;
        }
        out[pos].index = i;
    }
    for (uint32_t j = 0; j < k; j++) {
        uint32_t i = out[j].index;
        out[j].score = scores == KWVK_SCORES_SOFTMAX ? (float)(exp((double)logits[i] - mx) / sum) : logits[i];
        out[j].label = kwvk_model_label(model, i);
        if (!out[j].label) out[j].label = "";
    }
    return KWVK_OK;
}
