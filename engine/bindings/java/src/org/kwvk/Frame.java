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
 * and has {@code (height + 1) / 2} rows of {@code (width + 1) / 2} pairs, with the same row
 * stride. A row stride of 0 means packed rows (for NV12/NV21: Y rows of {@code width} bytes,
 * chroma rows of {@code (width + 1) / 2 * 2} bytes, so a packed frame of even size has
 * {@code width * height * 3 / 2} bytes). The last row of a plane need not be padded.
 *
 * <p>A frame is a small mutable descriptor: make one per frame (or per thread) rather than
 * sharing one between threads.
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

    /** Bytes of one row of the NV12/NV21 chroma plane: ceil(width / 2) pairs. */
    long chromaRowBytes() {
        return ((width + 1L) / 2) * 2;
    }

    /** Row stride of the (first) plane: the packed row length when 0, else checked against it. */
    long stride() {
        long packed = packedRowBytes();
        if (format.isBiPlanar()) packed = Math.max(packed, chromaRowBytes());
        if (rowStride == 0) return packedRowBytes();
        if (rowStride < packed)
            throw new IllegalArgumentException("row stride " + rowStride + " is less than a row of " + format + " at width "
                                               + width + " (" + packed + " bytes)");
        return rowStride;
    }

    /** NV12/NV21: row stride of the chroma plane (packed: ceil(width / 2) pairs). */
    long chromaStride() {
        return rowStride == 0 ? chromaRowBytes() : stride();
    }

    /** Bytes the frame spans from its first byte (the last row of each plane unpadded). */
    long requiredBytes() {
        long stride = stride();
        if (format.isBiPlanar()) return stride * height + chromaStride() * ((height + 1L) / 2 - 1) + chromaRowBytes();
        return stride * (height - 1) + packedRowBytes();
    }

    /** Throws unless the data holds the whole frame. */
    void check() {
        long need = requiredBytes();
        if (need > available)
            throw new IllegalArgumentException(format + " frame " + width + "x" + height + " with row stride " + stride()
                                               + " needs " + need + " bytes, the data has " + available);
    }
}
