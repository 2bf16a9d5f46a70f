package org.kwvk;

/** Pixel layouts a {@link Frame} can hold (the library's {@code kwvk_pixel_format}). */
public enum PixelFormat {
    /** 4 bytes per pixel: R, G, B, A (Android's {@code Bitmap.Config.ARGB_8888} in memory). */
    RGBA8(1, 4),
    /** 4 bytes per pixel: B, G, R, A. */
    BGRA8(2, 4),
    /** 3 bytes per pixel: R, G, B. */
    RGB8(3, 3),
    /** 1 byte per pixel. */
    GRAY8(4, 1),
    /** Y plane, then a half-height plane of interleaved U, V (chroma subsampled 2x2). */
    NV12(5, 1),
    /** Y plane, then a half-height plane of interleaved V, U: Android's camera NV21. */
    NV21(6, 1),
    /** Y0 U Y1 V: 2 bytes per pixel, chroma shared by each pair of pixels. */
    YUYV(7, 2);

    final int code;
    final int bytesPerPixel;

    PixelFormat(int code, int bytesPerPixel) {
        this.code = code;
        this.bytesPerPixel = bytesPerPixel;
    }

    /** The library's {@code kwvk_pixel_format} value. */
    public int code() {
        return code;
    }

    /** The format of a {@code kwvk_pixel_format} value. */
    public static PixelFormat fromCode(int code) {
        for (PixelFormat f : values())
            if (f.code == code) return f;
        throw new IllegalArgumentException("no pixel format " + code);
    }

    boolean isYuv() {
        return this == NV12 || this == NV21 || this == YUYV;
    }

    boolean isBiPlanar() {
        return this == NV12 || this == NV21;
    }
}
