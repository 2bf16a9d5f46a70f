/* vw_v4l2.c - the V4L2 camera source: negotiate YUYV or MJPEG at the size closest to the
 * one asked for, stream through mmap'd buffers, decode MJPEG on the CPU. Every failure a
 * user can meet (no camera, not a camera, permission, busy, no usable pixel format,
 * unplugged) ends in a one-line message. */
#include "vw_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)

#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_BUFFERS 4
#define MAX_MODES 256
#define MAX_BAD_FRAMES 30 /* consecutive undecodable MJPEG frames before giving up */

typedef struct cam_src {
    vw_source base;
    int fd;
    char *device;
    uint32_t fourcc;
    int w, h;
    size_t stride;
    struct {
        void *p;
        size_t len;
    } bufs[N_BUFFERS];
    int n_bufs;
    int held;       /* index of the buffer handed out (YUYV), -1 if none */
    int streaming;
    uint8_t *rgb;   /* decoded MJPEG frame */
    uint64_t seq;
    int bad_frames;
} cam_src;

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

static void cam_close(vw_source *s)
{
    cam_src *c = (cam_src *)s;
    if (c->streaming) {
        enum v4l2_buf_type t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        xioctl(c->fd, VIDIOC_STREAMOFF, &t);
    }
    for (int i = 0; i < c->n_bufs; i++)
        if (c->bufs[i].p && c->bufs[i].p != MAP_FAILED) munmap(c->bufs[i].p, c->bufs[i].len);
    if (c->fd >= 0) close(c->fd);
    free(c->rgb);
    free(c->device);
    free(c);
}

static int requeue(cam_src *c)
{
    if (c->held < 0) return 0;
    struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP, .index = (uint32_t)c->held};
    c->held = -1;
    if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0) {
        snprintf(c->base.err, sizeof c->base.err, "camera %s: VIDIOC_QBUF failed: %s", c->device, strerror(errno));
        return -1;
    }
    return 0;
}

static int cam_next(vw_source *s, vw_frame *f, int timeout_ms)
{
    cam_src *c = (cam_src *)s;
    if (requeue(c) != 0) return -1;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr < 0 && errno != EINTR) {
        snprintf(s->err, sizeof s->err, "camera %s: poll failed: %s", c->device, strerror(errno));
        return -1;
    }
    if (pr <= 0) return 0;
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        snprintf(s->err, sizeof s->err, "camera %s stopped delivering frames (unplugged?)", c->device);
        return -1;
    }
    struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
    if (xioctl(c->fd, VIDIOC_DQBUF, &b) < 0) {
        if (errno == EAGAIN) return 0;
        snprintf(s->err, sizeof s->err, "camera %s: %s", c->device,
                 errno == ENODEV ? "the camera was disconnected" : strerror(errno));
        return -1;
    }
    if (b.index >= (uint32_t)c->n_bufs) {
        snprintf(s->err, sizeof s->err, "camera %s returned buffer %u of %d", c->device, b.index, c->n_bufs);
        return -1;
    }
    c->held = (int)b.index;
    const uint8_t *data = c->bufs[b.index].p;
    size_t used = b.bytesused ? b.bytesused : c->bufs[b.index].len;
    if (used > c->bufs[b.index].len) used = c->bufs[b.index].len;
    if (b.flags & V4L2_BUF_FLAG_ERROR) return 0; /* a damaged frame: wait for the next */
    if (c->fourcc == VW_FOURCC_MJPG) {
        int w, h;
        const char *why = NULL;
        uint8_t *rgb = vw_mjpeg_decode(data, used, &w, &h, &why);
        if (!rgb || w != c->w || h != c->h) {
            free(rgb);
            if (++c->bad_frames > MAX_BAD_FRAMES) {
                snprintf(s->err, sizeof s->err, "camera %s: %d MJPEG frames in a row could not be decoded (%s)",
                         c->device, c->bad_frames, why ? why : "wrong size");
                return -1;
            }
            return 0;
        }
        c->bad_frames = 0;
        free(c->rgb);
        c->rgb = rgb;
        if (requeue(c) != 0) return -1; /* decoded: the buffer can go back at once */
        *f = (vw_frame){VW_PIX_RGB24, w, h, (size_t)w * 3, c->rgb, ++c->seq, c->device};
        return 1;
    }
    if (used < c->stride * (size_t)c->h) return 0; /* short frame */
    *f = (vw_frame){VW_PIX_YUYV, c->w, c->h, c->stride, data, ++c->seq, c->device};
    return 1;
}

static const vw_source_ops CAM_OPS = {cam_next, cam_close};

/* Collect the (format, size) modes the camera offers. */
static int list_modes(int fd, int want_w, int want_h, vw_cam_mode *modes, int cap)
{
    int n = 0;
    for (uint32_t i = 0; n < cap; i++) {
        struct v4l2_fmtdesc fd_ = {.index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
        if (xioctl(fd, VIDIOC_ENUM_FMT, &fd_) < 0) break;
        int sizes = 0;
        for (uint32_t k = 0; n < cap; k++) {
            struct v4l2_frmsizeenum fs = {.index = k, .pixel_format = fd_.pixelformat};
            if (xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs) < 0) break;
            if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
                modes[n++] = (vw_cam_mode){fd_.pixelformat, (int)fs.discrete.width, (int)fs.discrete.height};
                sizes++;
            } else { /* stepwise or continuous: the wanted size clamped into the range */
                int w = want_w, h = want_h;
                if (w < (int)fs.stepwise.min_width) w = (int)fs.stepwise.min_width;
                if (w > (int)fs.stepwise.max_width) w = (int)fs.stepwise.max_width;
                if (h < (int)fs.stepwise.min_height) h = (int)fs.stepwise.min_height;
                if (h > (int)fs.stepwise.max_height) h = (int)fs.stepwise.max_height;
                modes[n++] = (vw_cam_mode){fd_.pixelformat, w, h};
                sizes++;
                break;
            }
        }
        if (sizes == 0 && n < cap) modes[n++] = (vw_cam_mode){fd_.pixelformat, want_w, want_h}; /* no size list */
    }
    return n;
}

static const char *busy_hint(int e)
{
    return e == EBUSY ? "is busy (another program is using it)" : strerror(e);
}

vw_source *vw_source_open_camera(const char *device, int want_w, int want_h, uint32_t only_fourcc, char *err,
                                 size_t err_len)
{
    cam_src *c = calloc(1, sizeof *c);
    if (!c || !(c->device = strdup(device))) {
        free(c);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->held = -1;
    c->base.ops = &CAM_OPS;
    c->base.kind = "camera";
    struct stat st;
    if (stat(device, &st) != 0) {
        if (errno == ENOENT) snprintf(err, err_len, "no camera: %s does not exist", device);
        else snprintf(err, err_len, "no camera: %s: %s", device, strerror(errno));
        goto fail;
    }
    if (!S_ISCHR(st.st_mode)) {
        snprintf(err, err_len, "%s is not a camera (not a character device)", device);
        goto fail;
    }
    c->fd = open(device, O_RDWR | O_NONBLOCK);
    if (c->fd < 0) {
        if (errno == EACCES)
            snprintf(err, err_len, "camera %s: permission denied (is your user in the 'video' group?)", device);
        else if (errno == EBUSY) snprintf(err, err_len, "camera %s is busy (another program is using it)", device);
        else snprintf(err, err_len, "cannot open camera %s: %s", device, strerror(errno));
        goto fail;
    }
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (xioctl(c->fd, VIDIOC_QUERYCAP, &cap) < 0) {
        snprintf(err, err_len, "%s is not a V4L2 camera (VIDIOC_QUERYCAP: %s)", device, strerror(errno));
        goto fail;
    }
    uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE)) {
        snprintf(err, err_len, "%s (%s) cannot capture video (a metadata or output node?)", device, (char *)cap.card);
        goto fail;
    }
    if (!(caps & V4L2_CAP_STREAMING)) {
        snprintf(err, err_len, "%s (%s) does not support streaming I/O", device, (char *)cap.card);
        goto fail;
    }

    vw_cam_mode modes[MAX_MODES], pick;
    int n = list_modes(c->fd, want_w, want_h, modes, MAX_MODES);
    char why[384];
    if (vw_cam_choose(modes, n, want_w, want_h, only_fourcc, &pick, why, sizeof why) != 0) {
        snprintf(err, err_len, "camera %s: %s", device, why);
        goto fail;
    }
    struct v4l2_format fmt;
    memset(&fmt, 0, sizeof fmt);
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    fmt.fmt.pix.width = (uint32_t)pick.w;
    fmt.fmt.pix.height = (uint32_t)pick.h;
    fmt.fmt.pix.pixelformat = pick.fourcc;
    fmt.fmt.pix.field = V4L2_FIELD_ANY;
    if (xioctl(c->fd, VIDIOC_S_FMT, &fmt) < 0) {
        snprintf(err, err_len, "camera %s: setting the format %dx%d failed: %s", device, pick.w, pick.h,
                 busy_hint(errno));
        goto fail;
    }
    char fc[8];
    if (fmt.fmt.pix.pixelformat != VW_FOURCC_YUYV && fmt.fmt.pix.pixelformat != VW_FOURCC_MJPG) {
        snprintf(err, err_len, "camera %s: unsupported pixel format %s (the viewer reads YUYV or MJPG)", device,
                 vw_fourcc_str(fmt.fmt.pix.pixelformat, fc));
        goto fail;
    }
    c->fourcc = fmt.fmt.pix.pixelformat;
    c->w = (int)fmt.fmt.pix.width;
    c->h = (int)fmt.fmt.pix.height;
    c->stride = fmt.fmt.pix.bytesperline ? fmt.fmt.pix.bytesperline : (size_t)((c->w + 1) / 2) * 4;
    if (c->w < 2 || c->h < 2 || c->w > 8192 || c->h > 8192 ||
        (c->fourcc == VW_FOURCC_YUYV && c->stride < (size_t)((c->w + 1) / 2) * 4)) {
        snprintf(err, err_len, "camera %s: the driver chose an unusable frame %dx%d (line %zu bytes)", device, c->w,
                 c->h, c->stride);
        goto fail;
    }
    struct v4l2_streamparm parm = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
    parm.parm.capture.timeperframe.numerator = 1;
    parm.parm.capture.timeperframe.denominator = 30;
    xioctl(c->fd, VIDIOC_S_PARM, &parm); /* a wish; cameras may ignore it */

    struct v4l2_requestbuffers rb = {.count = N_BUFFERS, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
    if (xioctl(c->fd, VIDIOC_REQBUFS, &rb) < 0) {
        snprintf(err, err_len, "camera %s: requesting buffers failed: %s", device, busy_hint(errno));
        goto fail;
    }
    if (rb.count < 2) {
        snprintf(err, err_len, "camera %s: the driver granted only %u buffer(s)", device, rb.count);
        goto fail;
    }
    c->n_bufs = rb.count > N_BUFFERS ? N_BUFFERS : (int)rb.count;
    for (int i = 0; i < c->n_bufs; i++) {
        struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP, .index = (uint32_t)i};
        if (xioctl(c->fd, VIDIOC_QUERYBUF, &b) < 0) {
            snprintf(err, err_len, "camera %s: VIDIOC_QUERYBUF failed: %s", device, strerror(errno));
            goto fail;
        }
        c->bufs[i].len = b.length;
        c->bufs[i].p = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, b.m.offset);
        if (c->bufs[i].p == MAP_FAILED) {
            snprintf(err, err_len, "camera %s: mmap of buffer %d failed: %s", device, i, strerror(errno));
            goto fail;
        }
        if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0) {
            snprintf(err, err_len, "camera %s: VIDIOC_QBUF failed: %s", device, strerror(errno));
            goto fail;
        }
    }
    enum v4l2_buf_type t = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(c->fd, VIDIOC_STREAMON, &t) < 0) {
        if (errno == ENOSPC)
            snprintf(err, err_len, "camera %s: not enough USB bandwidth for %dx%d %s (try a smaller --camera-size or MJPG)",
                     device, c->w, c->h, vw_fourcc_str(c->fourcc, fc));
        else snprintf(err, err_len, "camera %s: starting the stream failed: %s", device, busy_hint(errno));
        goto fail;
    }
    c->streaming = 1;
    return &c->base;
fail:
    cam_close(&c->base);
    return NULL;
}

#else /* not Linux */

vw_source *vw_source_open_camera(const char *device, int w, int h, uint32_t only_fourcc, char *err, size_t err_len)
{
    (void)w, (void)h, (void)only_fourcc;
    snprintf(err, err_len, "no camera: %s: cameras are read through V4L2, which needs Linux", device);
    return NULL;
}

#endif
