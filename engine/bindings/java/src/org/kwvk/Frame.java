package org.kwvk;

import java.nio.ByteBuffer;

/**
 * The pixels of one camera frame or picture, as stored: format, size, row stride, the
 * clockwise rotation that turns it upright, and for YUV formats the value range.
 *
 * <p>A frame only describes memory the caller owns; nothing is copied until a
 * {@link Classifier} runs on it. The setters return {@code this}:
 * <pre>{@code
 * Frame f = Frame.nv21(bytes, 640, 480).rotation(90);
 * }</pre>
 *
 * <p>Memory layout: row {@code y} of the (first) plane starts at byte {@code y * rowStride};
 * for NV12/NV21 the interleaved chroma plane follows the Y plane at {@code rowStride * height}
 * and has the same row stride and {@code (height + 1) / 2} rows. A row stride of 0 means packed
 * rows. The last row of a plane need not be padded to the full stride.
 */
public final class Frame {
    final PixelFormat format;
    final byte[] array;       // heap data, or null
    final ByteBuffer direct;  // direct buffer, or null
    final int offset;         // first byte in array or direct
    final int available;      // bytes from offset to the end of the data
    final int width, height;
    int rowStride;
    int rotation;
    boolean fullRange = true;

    private Frame(PixelFormat format, byte[] array, ByteBuffer direct, int offset, int available, int width,
                  int height) {
        if (format == null) throw new NullPointerException("format");
        if (width <= 0 || height <= 0)
            throw new IllegalArgumentException("frame size " + width + "x" + height + " is not positive");
        this.format = format;
        this.array = array;
        this.direct = direct;
        this.offset = offset;
        this.available = available;
        this.width = width;
        this.height = height;
    }

    /** Pixels in a byte array, from its first byte. */
    public static Frame of(PixelFormat format, byte[] data, int width, int height) {
        if (data == null) throw new NullPointerException("data");
        return new Frame(format, data, null, 0, data.length, width, height);
    }

    /**
     * Pixels in a buffer, from its position to its limit. A direct buffer is read in place; a
     * heap buffer must be backed by an accessible array. The position is not changed.
     */
    public static Frame of(PixelFormat format, ByteBuffer data, int width, int height) {
        if (data == null) throw new NullPointerException("data");
        if (data.isDirect()) return new Frame(format, null, data, data.position(), data.remaining(), width, height);
        if (!data.hasArray())
            throw new IllegalArgumentException("a heap ByteBuffer without an accessible array (read-only?)");
        return new Frame(format, data.array(), null, data.arrayOffset() + data.position(), data.remaining(), width,
                         height);
    }

    /** NV21 (Android's camera format: Y plane, then interleaved V, U), full range. */
    public static Frame nv21(byte[] data, int width, int height) {
        return of(PixelFormat.NV21, data, width, height);
    }

    /** RGBA, 4 bytes per pixel (alpha is ignored). */
    public static Frame rgba(byte[] data, int width, int height) {
        return of(PixelFormat.RGBA8, data, width, height);
    }

    /** Bytes from the start of one row to the next (0: packed rows, the default). */
    public Frame rowStride(int bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative row stride " + bytes);
        rowStride = bytes;
        return this;
    }

    /** Clockwise rotation, in degrees, that turns the stored frame upright: 0, 90, 180 or 270. */
    public Frame rotation(int degrees) {
        if (degrees != 0 && degrees != 90 && degrees != 180 && degrees != 270)
            throw new IllegalArgumentException("rotation " + degrees + " is not 0, 90, 180 or 270");
        rotation = degrees;
        return this;
    }

    /**
     * YUV formats: true (the default) for full-range BT.601 (JPEG/JFIF, Android's camera),
     * false for limited-range BT.601 (video, Y in 16..235). Ignored for RGB and grey formats.
     */
    public Frame fullRange(boolean full) {
        fullRange = full;
        return this;
    }

    public PixelFormat format() { return format; }
    public int width() { return width; }
    public int height() { return height; }
    public int rowStride() { return rowStride; }
    public int rotation() { return rotation; }
    public boolean isFullRange() { return fullRange; }

    /** Bytes of one packed row of the (first) plane. */
    long packedRowBytes() {
        if (format == PixelFormat.YUYV) return ((width + 1L) / 2) * 4;
        return (long)width * format.bytesPerPixel;
    }

    /** Row stride used (the packed row length when 0), checked against the row length. */
    long stride() {
        long packed = packedRowBytes();
        if (format.isBiPlanar()) packed = Math.max(packed, ((width + 1L) / 2) * 2); // chroma rows
        if (rowStride == 0) return packed;
        if (rowStride < packed)
            throw new IllegalArgumentException("row stride " + rowStride + " is less than a row of " + format + " at width "
                                               + width + " (" + packed + " bytes)");
        return rowStride;
    }

    /** Bytes the frame spans from its first byte (the last row of each plane unpadded). */
    long requiredBytes() {
        long stride = stride();
        long bytes = stride * (height - 1) + packedRowBytes();
        if (format.isBiPlanar()) bytes = stride * height + stride * ((height + 1) / 2 - 1) + ((width + 1L) / 2) * 2;
        return bytes;
    }

    /** Throws unless the data holds the whole frame. */
    void check() {
        long need = requiredBytes();
        if (need > available)
            throw new IllegalArgumentException(format + " frame " + width + "x" + height + " with row stride " + stride()
                                               + " needs " + need + " bytes, the data has " + available);
    }
}
