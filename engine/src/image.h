/* image.h - image input shared by image.c (CPU reference, GPU recording) and job.c. */
#ifndef KWVK_IMAGE_H
#define KWVK_IMAGE_H

#include "internal.h"
#include "job.h"

#define KW_MAX_IMAGES 4096u /* images per call (the net's batch limit) */

/* Where a frame's bytes are (validated by kw_image_layout). */
typedef struct kw_img_layout {
    uint64_t row_bytes, stride, bytes; /* bytes: from data to the end of the last row */
    const uint8_t *uv;                 /* NV12/NV21 chroma plane, else NULL */
    uint64_t uv_row_bytes, uv_stride, uv_bytes;
} kw_img_layout;

/* The preprocessing geometry of one frame for one model. */
typedef struct kw_img_geom {
    uint32_t rw, rh;       /* the rotated frame */
    uint32_t ow, oh;       /* after the resize */
    uint32_t cw, ch;       /* the crop (= the model's input size) */
    uint32_t x0, y0;       /* crop origin in the resized image */
    uint32_t interp;       /* kwvk_interpolation */
    uint32_t kx, ky;       /* taps per output of the horizontal / vertical pass */
    uint32_t tab_h, tab_v; /* int32 words of the two resampling tables */
} kw_img_geom;

kwvk_result kw_image_layout(const kwvk_image *im, uint32_t index, kw_img_layout *out);
kwvk_result kw_image_geometry(const kwvk_model_info *info, const kwvk_image *im, uint32_t index, kw_img_geom *g);
/* Fill the tables (tab_h + tab_v words): horizontal pass for the crop's columns
 * [xmin[cw], n[cw], weights[cw][kx]], vertical pass for its rows [ymin - ylo[ch], n[ch],
 * weights[ch][ky]], weights in Pillow's 8-bit fixed point; [ylo, yhi): rows of the rotated
 * frame the vertical pass reads. Returns false when out of host memory. */
bool kw_image_tables(const kw_img_geom *g, int32_t *tab, uint32_t *ylo, uint32_t *yhi);

/* A slot's GPU preprocessing: pixel staging, resampled rows, tables, and the recording
 * (reused while the frames' geometry and the net's input buffer stay the same). */
typedef struct kw_img_slot {
    kw_buffer raw, tmp, table;
    kw_rec rec;
    void *key; /* per image: what the recording depends on */
    uint64_t *raw_off;
    uint32_t n_key;
    VkBuffer input;
} kw_img_slot;

/* Copy the images' pixels into the slot and return the command buffer that preprocesses
 * them into `input` (the slot plan's input staging), ending in a barrier before the net's
 * own command buffer. */
kwvk_result kw_images_prepare(kw_ctx *ctx, const kwvk_model *model, kw_img_slot *s, const kwvk_image *images,
                              uint32_t n, const kw_buffer *input, VkCommandBuffer *cmd);
void kw_img_slot_release(kw_ctx *ctx, kw_img_slot *s);

#endif
