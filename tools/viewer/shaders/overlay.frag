#version 450
// overlay.frag - the presented image: the frame scaled to fit (nearest neighbour), and over
// it a panel with the top-3 labels, their confidence as text and bars, and three lines of
// host text (fps and inference time, device, model and source). Text uses the viewer's
// 8x8 font (vw_font.c) at `scale`; the layout numbers come from vw_layout.c.
layout(location = 0) out vec4 out_color;

layout(std430, set = 0, binding = 1) readonly buffer Frame { uint frame[]; };
layout(std430, set = 0, binding = 2) readonly buffer TopK {
    uint idx[4];
    float prob[4];
    uint count;
} res;
layout(std430, set = 0, binding = 3) readonly buffer Text { uint text[]; };
layout(std430, set = 0, binding = 4) readonly buffer Labels { uint labels[]; };
layout(std430, set = 0, binding = 5) readonly buffer Glyphs { uint glyphs[]; };

layout(push_constant) uniform PC {
    int win_w, win_h;
    int fx, fy, fw, fh, src_w, src_h;
    int px, py, pw, ph;
    int scale, pad, topk_h, line_h, bar_dy, bar_h, bar_w;
    int have_frame, srgb, n_classes;
} pc;

const int TOPK = 3, TEXT_LINES = 3, COLS = 30, PCT_COLS = 6, LABEL_COLS = COLS - PCT_COLS - 1;
const int LABEL_WORDS = 8, LINE_WORDS = 8; // 32 bytes each

uint byte_of(uint w, int i) { return (w >> uint((i & 3) * 8)) & 255u; }

uint label_char(uint cls, int col)
{
    if (cls >= uint(pc.n_classes) || col >= LABEL_WORDS * 4) return 32u;
    uint c = byte_of(labels[cls * uint(LABEL_WORDS) + uint(col / 4)], col);
    return c == 0u ? 32u : c;
}

uint text_char(int line, int col)
{
    uint c = byte_of(text[line * LINE_WORDS + col / 4], col);
    return c == 0u ? 32u : c;
}

// "%5.1f%%" of 100 * p
uint pct_char(float p, int j)
{
    uint v = uint(clamp(p, 0.0, 1.0) * 1000.0 + 0.5);
    uint h = v / 1000u, t = (v / 100u) % 10u, o = (v / 10u) % 10u, d = v % 10u;
    if (j == 0) return h > 0u ? 49u : 32u;
    if (j == 1) return (h > 0u || t > 0u) ? 48u + t : 32u;
    if (j == 2) return 48u + o;
    if (j == 3) return 46u;
    if (j == 4) return 48u + d;
    return 37u;
}

uint char_at(int row, int col)
{
    if (row < TOPK) {
        if (uint(row) >= res.count) return 32u;
        if (col < LABEL_COLS) return label_char(res.idx[row], col);
        if (col >= COLS - PCT_COLS) return pct_char(res.prob[row], col - (COLS - PCT_COLS));
        return 32u;
    }
    return text_char(row - TOPK, col);
}

bool glyph_on(uint ch, int gx, int gy)
{
    if (ch < 32u || ch > 126u) ch = 63u;
    uint w = glyphs[(ch - 32u) * 2u + uint(gy / 4)];
    return ((w >> uint((gy % 4) * 8 + gx)) & 1u) != 0u;
}

vec3 to_linear(vec3 c) // so that the sRGB encoding of the attachment gives back c
{
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), greaterThan(c, vec3(0.04045)));
}

void main()
{
    ivec2 p = ivec2(gl_FragCoord.xy);
    ivec3 c = ivec3(24);
    if (pc.have_frame != 0 && p.x >= pc.fx && p.x < pc.fx + pc.fw && p.y >= pc.fy && p.y < pc.fy + pc.fh) {
        int sx = (p.x - pc.fx) * pc.src_w / pc.fw, sy = (p.y - pc.fy) * pc.src_h / pc.fh;
        uint v = frame[sy * pc.src_w + sx];
        c = ivec3(int(v & 255u), int((v >> 8) & 255u), int((v >> 16) & 255u));
    }
    if (p.x >= pc.px && p.x < pc.px + pc.pw && p.y >= pc.py && p.y < pc.py + pc.ph) {
        c = c * 3 / 10;
        int x = p.x - pc.px - pc.pad, y = p.y - pc.py - pc.pad;
        int cell = 8 * pc.scale;
        if (x >= 0 && x < COLS * cell && y >= 0) {
            int row = -1, ry = 0;
            if (y < TOPK * pc.topk_h) {
                row = y / pc.topk_h;
                ry = y % pc.topk_h;
                if (ry >= pc.bar_dy && ry < pc.bar_dy + pc.bar_h && uint(row) < res.count) {
                    int len = int(clamp(res.prob[row], 0.0, 1.0) * float(pc.bar_w) + 0.5);
                    c = x < len ? (row == 0 ? ivec3(80, 200, 120) : ivec3(80, 150, 230)) : ivec3(70);
                }
            } else {
                int yy = y - TOPK * pc.topk_h;
                row = TOPK + yy / pc.line_h;
                ry = yy % pc.line_h;
                if (row >= TOPK + TEXT_LINES) row = -1;
            }
            if (row >= 0 && ry < cell && glyph_on(char_at(row, x / cell), (x % cell) / pc.scale, ry / pc.scale))
                c = ivec3(235);
        }
    }
    vec3 f = vec3(c) / 255.0;
    out_color = vec4(pc.srgb != 0 ? to_linear(f) : f, 1.0);
}
