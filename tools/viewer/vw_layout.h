/* vw_layout.h - where the viewer draws things in its window. The overlay shader gets these
 * numbers as push constants; the screenshot checker recomputes them to find the frame and
 * read the overlay text back. Everything is in whole pixels, origin top-left. */
#ifndef VW_LAYOUT_H
#define VW_LAYOUT_H

#define VW_TOPK 3         /* label rows with confidence bars */
#define VW_TEXT_LINES 3   /* host text lines below them: status, device, model/source */
#define VW_COLS 30        /* characters per overlay line */
#define VW_PCT_COLS 6     /* the confidence field at the end of a label line: " 97.3%" */
#define VW_LABEL_COLS (VW_COLS - VW_PCT_COLS - 1)
#define VW_LABEL_BYTES 32 /* bytes per label in the GPU label table (NUL padded) */
#define VW_LINE_BYTES 32  /* bytes per host text line */

typedef struct vw_layout {
    int win_w, win_h;
    /* the frame, scaled to fit the window (aspect kept), nearest-neighbour sampling:
     * window pixel (x, y) inside the rect shows source pixel
     * ((x - fx) * src_w / fw, (y - fy) * src_h / fh) (integer division) */
    int fx, fy, fw, fh;
    int src_w, src_h;
    /* the overlay panel */
    int px, py, pw, ph;
    int scale;   /* glyph pixel size: 1 or 2 */
    int pad;     /* panel padding */
    int topk_h;  /* height of one label row: text, gap, bar, gap */
    int line_h;  /* height of one host text line */
    int bar_dy;  /* bar offset below the top of its label row */
    int bar_h;
    int bar_w;   /* full-confidence bar length */
} vw_layout;

void vw_layout_compute(int win_w, int win_h, int src_w, int src_h, vw_layout *l);
/* Top-left corner of text line `row` (0..VW_TOPK-1: label rows, then the host lines). */
void vw_layout_text_origin(const vw_layout *l, int row, int *x, int *y);

#endif
