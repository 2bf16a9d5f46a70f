/* job.h - what net.c shares with the job slots and image input (job.c, image.c). */
#ifndef KWVK_JOB_H
#define KWVK_JOB_H

#include "internal.h"

/* ======================================================================================== */
/* Net internals for job slots (net.c) and jobs, image input (job.c, image.c)               */
/* ======================================================================================== */

#define KW_MAX_IN_FLIGHT 16 /* upper bound of kwvk_net_desc.max_in_flight */

/* The resources of the plan of one input shape in one slot of a net: slot 0 is kwvk_net_run's,
 * 1..max_in_flight the jobs'. Each has its own staging, arena and command buffer. */
typedef struct kw_slot_plan {
    VkCommandBuffer cmd; /* copy staging_in -> arena, the ops, copy -> staging_out */
    kw_buffer staging_in, staging_out;
    uint64_t in_bytes, out_bytes;
} kw_slot_plan;

typedef struct kw_jobs kw_jobs;

kw_ctx *kw_net_ctx(const kwvk_net *net);
const kwvk_model *kw_net_model(const kwvk_net *net);
uint32_t kw_net_max_in_flight(const kwvk_net *net);
/* Find or record the plan of shape [n, c, h, w] in `slot` (takes the net's lock). */
kwvk_result kw_net_slot_plan(kwvk_net *net, uint32_t slot, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                             kw_slot_plan *out);
/* The net's lock guards its plan list and *kw_net_jobs(net); the run lock, slot 0. */
void kw_net_lock(kwvk_net *net);
void kw_net_unlock(kwvk_net *net);
void kw_net_run_lock(kwvk_net *net);
void kw_net_run_unlock(kwvk_net *net);
kw_jobs **kw_net_jobs(kwvk_net *net);
/* Free job.c's per-slot state (kwvk_net_destroy, after the device is idle). */
void kw_jobs_release(kwvk_net *net);

#endif
