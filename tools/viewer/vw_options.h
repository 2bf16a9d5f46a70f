/* vw_options.h - kwvk-viewer's command line (see --help and docs/viewer.md) and the frame
 * source it names. */
#ifndef VW_OPTIONS_H
#define VW_OPTIONS_H

#include "vw_source.h"

#include <stdint.h>

#define VW_MAX_MODELS 16
#define VW_MAX_KEYS   32
#define VW_KEY_RESIZE (-2) /* --key N:resize=WxH: resize the window (tests) */

typedef enum { VW_SRC_DEFAULT, VW_SRC_CAMERA, VW_SRC_IMAGE, VW_SRC_DIR, VW_SRC_PATTERN } vw_src_kind;

typedef struct vw_options {
    const char *models[VW_MAX_MODELS];
    int n_models;
    vw_src_kind src;
    const char *src_arg;
    int cam_w, cam_h;
    uint32_t cam_fourcc;
    double interval;
    int win_w, win_h;
    const char *device;
    int validation;
    int frames;             /* 0 = run until closed */
    const char *screenshot; /* path for --frames' final screenshot and the s key */
    int vsync;
    struct {
        int frame;
        int key; /* GLFW key, or VW_KEY_RESIZE */
        int w, h;
    } keys[VW_MAX_KEYS];
    int n_keys;
} vw_options;

/* Parse the command line; --help prints the usage and exits 0, a bad option exits 1 with a
 * one-line message. At least one model (the default one) comes out. */
void vw_options_parse(int argc, char **argv, vw_options *o);
/* Open the source the options name (NULL + err on failure). Without one: the sample images
 * next to the first model (models/samples), else the source tree's or the installed ones,
 * else the test pattern. */
vw_source *vw_options_open_source(const vw_options *o, char *err, size_t n);

#endif
