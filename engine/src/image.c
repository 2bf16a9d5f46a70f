/* image.c - image input: the CPU reference of the model's preprocessing
 * (kwvk_preprocess_images) and the GPU path (kwvk_net_run_images). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

kwvk_result kwvk_preprocess_images(const kwvk_model *model, const kwvk_image *images, uint32_t n, float *out,
                                   size_t out_count)
{
    (void)model, (void)images, (void)n, (void)out, (void)out_count;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_preprocess_images: not implemented yet");
}

kwvk_result kwvk_net_run_images(kwvk_net *net, const kwvk_image *images, uint32_t n, float *output,
                                size_t output_count)
{
    (void)net, (void)images, (void)n, (void)output, (void)output_count;
    return kw_fail(KWVK_ERROR_UNSUPPORTED, "kwvk_net_run_images: not implemented yet");
}
