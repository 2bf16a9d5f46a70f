/* vw_font.h - the viewer's 8x8 bitmap font (printable ASCII 32..126), drawn by hand for kwvk.
 *
 * Each glyph is 8 rows of 8 pixels; bit x of row y is column x (bit 0 = leftmost). Capitals
 * and digits sit on rows 0..6, lower case on rows 2..6, descenders reach row 7. The overlay
 * shader draws from the packed table; the screenshot checker reads text back with it. */
#ifndef VW_FONT_H
#define VW_FONT_H

#include <stdint.h>

#define VW_FONT_FIRST 32
#define VW_FONT_LAST 126
#define VW_FONT_COUNT (VW_FONT_LAST - VW_FONT_FIRST + 1)
#define VW_FONT_WORDS (VW_FONT_COUNT * 2) /* two uint32 per glyph */

/* Row bits of glyph `ch` (characters outside 32..126 draw as '?'). */
void vw_font_rows(int ch, uint8_t rows[8]);
/* Whether pixel (x, y) of glyph `ch` is set. */
int vw_font_pixel(int ch, int x, int y);
/* The whole table packed for the GPU: glyph g (= ch - 32) in words 2g (rows 0..3) and
 * 2g+1 (rows 4..7), row r of a word in bits 8*(r%4) .. 8*(r%4)+7. */
void vw_font_pack(uint32_t out[VW_FONT_WORDS]);

#endif
