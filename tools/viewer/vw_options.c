/* vw_options.c - see vw_options.h. */
#include "vw_options.h"

#include "tool_util.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOOL = "kwvk-viewer";

static void usage(void)
{
    printf("usage: kwvk-viewer [--model MODEL]... [SOURCE] [options]\n"
           "Labels frames with a kwvk model on the GPU and shows them with the top-3 labels.\n\n"
           "Sources (default: the sample images next to the model, models/samples, as a\n"
           "slideshow; the test pattern if there are none):\n"
           "  --camera [DEVICE]     a V4L2 webcam (default /dev/video0), YUYV or MJPEG\n"
           "  --image FILE          one image (PNG, JPEG, BMP, PPM, ...)\n"
           "  --dir DIR             the images in DIR as a slideshow\n"
           "  --pattern             a synthetic test pattern (YUYV, like a camera)\n\n"
           "Options:\n"
           "  --model MODEL         a .kwvk model; repeat to cycle with m (default %s)\n"
           "  --camera-size WxH     the camera resolution to ask for (default 640x480)\n"
           "  --camera-format F     yuyv, mjpeg or auto (default auto)\n"
           "  --interval SEC        slideshow seconds per image (default 2; 0 = every frame)\n"
           "  --size WxH            window size (default 960x600)\n"
           "  --device NAME|INDEX   Vulkan device\n"
           "  --validation          enable the Vulkan validation layer; exit 1 on any message\n"
           "  --no-vsync            present as fast as possible\n"
           "  --frames N            exit after N frames shown with labels (test mode; no vsync)\n"
           "  --version             print the version and exit\n"
           "  --screenshot FILE     PNG written after the last --frames frame, and by the s key\n"
           "  --key FRAME:KEY       act as if KEY (q, esc, space, s, m) was pressed before FRAME;\n"
           "                        KEY resize=WxH resizes the window (for tests)\n\n"
           "Keys: q/Esc quit, space pause, s screenshot, m next model.\n",
           tu_default_model());
}

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end || a < 1 || b < 1 || a > 16384 || b > 16384) return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static int key_code(const char *name)
{
    if (!strcmp(name, "q")) return GLFW_KEY_Q;
    if (!strcmp(name, "esc")) return GLFW_KEY_ESCAPE;
    if (!strcmp(name, "space")) return GLFW_KEY_SPACE;
    if (!strcmp(name, "s")) return GLFW_KEY_S;
    if (!strcmp(name, "m")) return GLFW_KEY_M;
    return -1;
}

/* The options that take a value (the others are flags). */
static int takes_value(const char *a)
{
    static const char *const names[] = {"--model", "--image",    "--dir",     "--camera-size", "--camera-format", "--interval",
                                        "--size",  "--device",   "--frames",  "--screenshot",  "--key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i])) return 1;
    return 0;
}

void vw_options_parse(int argc, char **argv, vw_options *o)
{
    memset(o, 0, sizeof *o);
    o->cam_w = 640;
    o->cam_h = 480;
    o->interval = 2.0;
    o->win_w = 960;
    o->win_h = 600;
    o->vsync = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            tu_print_version(TOOL);
            exit(0);
        }
        if (!strcmp(a, "--validation")) {
            o->validation = 1;
            continue;
        }
        if (!strcmp(a, "--no-vsync")) {
            o->vsync = 0;
            continue;
        }
        if (!strcmp(a, "--pattern")) {
            o->src = VW_SRC_PATTERN;
            continue;
        }
        if (!strcmp(a, "--camera")) {
            o->src = VW_SRC_CAMERA;
            o->src_arg = "/dev/video0";
            if (next && next[0] != '-') {
                o->src_arg = next;
                i++;
            }
            continue;
        }
        if (a[0] != '-' || a[1] != '-') tu_usage_error(TOOL, "unexpected argument %s", a);
        if (!takes_value(a)) tu_usage_error(TOOL, "unknown option %s", a);
        next = tu_arg_value(TOOL, argc, argv, &i);
        if (!strcmp(a, "--model")) {
            if (o->n_models == VW_MAX_MODELS) tu_die(TOOL, "at most %d models", VW_MAX_MODELS);
            o->models[o->n_models++] = next;
        } else if (!strcmp(a, "--image")) {
            o->src = VW_SRC_IMAGE;
            o->src_arg = next;
        } else if (!strcmp(a, "--dir")) {
            o->src = VW_SRC_DIR;
            o->src_arg = next;
        } else if (!strcmp(a, "--camera-size")) {
            if (parse_size(next, &o->cam_w, &o->cam_h)) tu_usage_error(TOOL, "--camera-size wants WxH, got %s", next);
        } else if (!strcmp(a, "--camera-format")) {
            if (!strcmp(next, "yuyv"))
                o->cam_fourcc = VW_FOURCC_YUYV;
            else if (!strcmp(next, "mjpeg") || !strcmp(next, "mjpg"))
                o->cam_fourcc = VW_FOURCC_MJPG;
            else if (!strcmp(next, "auto"))
                o->cam_fourcc = 0;
            else
                tu_usage_error(TOOL, "--camera-format wants yuyv, mjpeg or auto, got %s", next);
        } else if (!strcmp(a, "--interval")) {
            char *end;
            o->interval = strtod(next, &end);
            if (end == next || *end || o->interval < 0 || o->interval > 86400)
                tu_usage_error(TOOL, "--interval wants seconds from 0 to 86400, got %s", next);
        } else if (!strcmp(a, "--size")) {
            if (parse_size(next, &o->win_w, &o->win_h)) tu_usage_error(TOOL, "--size wants WxH, got %s", next);
        } else if (!strcmp(a, "--device")) {
            o->device = next;
        } else if (!strcmp(a, "--frames")) {
            o->frames = (int)tu_arg_long(TOOL, "--frames", next, 1, 100000000);
            o->vsync = 0;
        } else if (!strcmp(a, "--screenshot")) {
            o->screenshot = next;
        } else if (!strcmp(a, "--key")) {
            char *colon = strchr(next, ':');
            char *end;
            long f = strtol(next, &end, 10);
            int k = colon ? key_code(colon + 1) : -1, rw = 0, rh = 0;
            if (colon && !strncmp(colon + 1, "resize=", 7) && parse_size(colon + 8, &rw, &rh) == 0) k = VW_KEY_RESIZE;
            if (!colon || end != colon || f < 0 || k == -1)
                tu_usage_error(TOOL, "--key wants FRAME:KEY (q, esc, space, s, m, resize=WxH), got %s", next);
            if (o->n_keys == VW_MAX_KEYS) tu_die(TOOL, "at most %d --key options", VW_MAX_KEYS);
            o->keys[o->n_keys].frame = (int)f;
            o->keys[o->n_keys].key = k;
            o->keys[o->n_keys].w = rw;
            o->keys[o->n_keys].h = rh;
            o->n_keys++;
        } else {
            tu_usage_error(TOOL, "unknown option %s", a);
        }
    }
    if (o->n_models == 0) o->models[o->n_models++] = tu_default_model();
}

static vw_source *open_default_source(const vw_options *o, char *err, size_t n)
{
    char near[1024];
    const char *model = o->models[0], *slash = strrchr(model, '/');
    snprintf(near, sizeof near, "%.*s/samples", slash ? (int)(slash - model) : 1, slash ? model : ".");
    const char *dirs[] = {near, KWVK_SOURCE_MODELS "/samples", KWVK_INSTALL_MODELS "/samples"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        vw_source *s = vw_source_open_dir(dirs[i], o->interval, err, n);
        if (s) return s;
    }
    fprintf(stderr, "%s: no sample images in %s; showing the test pattern\n", TOOL, near);
    return vw_source_open_pattern(o->cam_w, o->cam_h, err, n);
}

vw_source *vw_options_open_source(const vw_options *o, char *err, size_t n)
{
    switch (o->src) {
    case VW_SRC_CAMERA: return vw_source_open_camera(o->src_arg, o->cam_w, o->cam_h, o->cam_fourcc, err, n);
    case VW_SRC_IMAGE: return vw_source_open_image(o->src_arg, err, n);
    case VW_SRC_DIR: return vw_source_open_dir(o->src_arg, o->interval, err, n);
    case VW_SRC_PATTERN: return vw_source_open_pattern(o->cam_w, o->cam_h, err, n);
    case VW_SRC_DEFAULT: break;
    }
    return open_default_source(o, err, n);
}
