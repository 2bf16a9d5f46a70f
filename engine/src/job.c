/* job.c - non-blocking runs (kwvk_net_start, kwvk_job_*) and result helpers (kwvk_top_k). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

kwvk_result kwvk_net_start(kwvk_net *net, const float *input, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                           kwvk_job **out)
{
    (void)net, (void)input, (void)n, (void)c, (void)h, (void)w;
    if (out) *out = NULL;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_net_start: not implemented yet");
}

kwvk_result kwvk_net_start_images(kwvk_net *net, const kwvk_image *images, uint32_t n, kwvk_job **out)
{
    (void)net, (void)images, (void)n;
    if (out) *out = NULL;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_net_start_images: not implemented yet");
}

kwvk_result kwvk_job_poll(kwvk_job *job, int *done)
{
    (void)job, (void)done;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_job_poll: not implemented yet");
}

kwvk_result kwvk_job_wait(kwvk_job *job, uint32_t timeout_ms)
{
    (void)job, (void)timeout_ms;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_job_wait: not implemented yet");
}

kwvk_result kwvk_job_output(kwvk_job *job, float *output, size_t output_count)
{
    (void)job, (void)output, (void)output_count;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_job_output: not implemented yet");
}

void kwvk_job_destroy(kwvk_job *job) { (void)job; }

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
        return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_top_k: scores = %u is neither KWVK_SCORES_LOGITS nor "
                                                    "KWVK_SCORES_SOFTMAX", scores);
    for (uint32_t i = 0; i < num_logits; i++)
        if (!isfinite(logits[i]))
            return kw_fail(KWVK_ERROR_INVALID_ARGUMENT, "kwvk_top_k: logit %u is not finite", i);
    /* softmax in double, shifted by the maximum */
    double mx = logits[0], sum = 0;
    for (uint32_t i = 1; i < num_logits; i++) mx = logits[i] > mx ? logits[i] : mx;
    if (scores == KWVK_SCORES_SOFTMAX)
        for (uint32_t i = 0; i < num_logits; i++) sum += exp((double)logits[i] - mx);
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
