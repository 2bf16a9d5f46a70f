/* vw_source.h - where the viewer's frames come from: one small interface, four sources
 * (a V4L2 camera, an image file, a directory of images shown as a slideshow, a synthetic
 * test pattern). A source hands out frames in the formats the GPU path converts
 * (vw_pixfmt); MJPEG is decoded on the CPU. */
#ifndef VW_SOURCE_H
#define VW_SOURCE_H

#include "vw_pixconv.h"

#include <stddef.h>
#include <stdint.h>

typedef struct vw_frame {
    vw_pixfmt fmt;
    int w, h;
    size_t stride;       /* bytes per line */
    const uint8_t *data; /* stride * h bytes; valid until the next vw_source_next or close */
    uint64_t seq;        /* changes when the picture changes */
    const char *name;    /* file name or device, for the overlay */
} vw_frame;

typedef struct vw_source vw_source;

typedef struct vw_source_ops {
    /* 1: *f holds a frame; 0: none arrived within timeout_ms; -1: failed (see s->err). */
    int (*next)(vw_source *s, vw_frame *f, int timeout_ms);
    void (*close)(vw_source *s);
} vw_source_ops;

struct vw_source {
    const vw_source_ops *ops;
    const char *kind; /* "camera", "image", "directory", "pattern" */
    char err[512];
};

static inline int vw_source_next(vw_source *s, vw_frame *f, int timeout_ms) { return s->ops->next(s, f, timeout_ms); }
static inline void vw_source_close(vw_source *s)
{
    if (s) s->ops->close(s);
}

/* Each returns NULL with a one-line message in err on failure. */
vw_source *vw_source_open_image(const char *path, char *err, size_t err_len);
/* Images (png, jpg, jpeg, bmp, pgm, ppm, tga, gif) in `dir`, sorted by name, each shown
 * for interval_s seconds (0: a new image every frame). Files that fail to decode are
 * skipped with a warning. */
vw_source *vw_source_open_dir(const char *dir, double interval_s, char *err, size_t err_len);
/* Moving colour bars, as a camera would deliver them (YUYV, w x h). */
vw_source *vw_source_open_pattern(int w, int h, char *err, size_t err_len);
/* A V4L2 camera: `device` like /dev/video0, the size closest to w x h, `only_fourcc`
 * VW_FOURCC_YUYV / VW_FOURCC_MJPG or 0 for either (see vw_cam_choose). */
vw_source *vw_source_open_camera(const char *device, int w, int h, uint32_t only_fourcc, char *err, size_t err_len);

#endif
