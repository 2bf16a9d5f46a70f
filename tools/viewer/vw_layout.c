/* vw_layout.c - see vw_layout.h. */
#include "vw_layout.h"

void vw_layout_compute(int win_w, int win_h, int src_w, int src_h, vw_layout *l)
{
    l->win_w = win_w;
    l->win_h = win_h;
    l->src_w = src_w > 0 ? src_w : 1;
    l->src_h = src_h > 0 ? src_h : 1;
    /* fit the frame, keeping its aspect ratio */
    long long a = (long long)l->src_w * win_h, b = (long long)l->src_h * win_w;
    if (a >= b) { /* width-limited */
        l->fw = win_w;
        l->fh = (int)((long long)l->src_h * win_w / l->src_w);
    } else {
        l->fh = win_h;
        l->fw = (int)((long long)l->src_w * win_h / l->src_h);
    }
    if (l->fw < 1) l->fw = 1;
    if (l->fh < 1) l->fh = 1;
    l->fx = (win_w - l->fw) / 2;
    l->fy = (win_h - l->fh) / 2;

    int s = (win_w >= 560 && win_h >= 360) ? 2 : 1;
    l->scale = s;
    l->pad = 4 * s;
    l->topk_h = 15 * s; /* 8 text + 1 gap + 3 bar + 3 gap */
    l->line_h = 10 * s; /* 8 text + 2 gap */
    l->bar_dy = 9 * s;
    l->bar_h = 3 * s;
    l->bar_w = VW_COLS * 8 * s;
    l->px = 4 * s;
    l->py = 4 * s;
    l->pw = 2 * l->pad + VW_COLS * 8 * s;
    l->ph = 2 * l->pad + VW_TOPK * l->topk_h + VW_TEXT_LINES * l->line_h - 2 * s;
}

void vw_layout_text_origin(const vw_layout *l, int row, int *x, int *y)
{
    *x = l->px + l->pad;
    if (row < VW_TOPK) *y = l->py + l->pad + row * l->topk_h;
    else *y = l->py + l->pad + VW_TOPK * l->topk_h + (row - VW_TOPK) * l->line_h;
}
