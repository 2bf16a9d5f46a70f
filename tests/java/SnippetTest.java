package com.example.kwvkdemo;

import android.media.Image;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;

import org.kwvk.Classifier;
import org.kwvk.Frame;
import org.kwvk.KwvkException;
import org.kwvk.Label;

/**
 * The Camera2 code of docs/android.md (CameraLabeler, compiled from the page against the
 * Android stand-ins) on a desktop: its YUV_420_888 to NV21 conversion is fed the packed NV21
 * frames of make_frames.py laid out as a camera might deliver them (chroma interleaved with
 * pixel stride 2, or planar with pixel stride 1; padded rows whose last row is unpadded) and
 * must give back the same bytes; the result (of the interleaved, padded layout), classified as
 * CameraLabeler classifies it, must get the C path's class.
 *
 * Usage: java -Dkwvk.library=libkwvkjni.so -cp ... com.example.kwvkdemo.SnippetTest MODEL MANIFEST C_OUT
 */
public final class SnippetTest {
    static int failures = 0, checks = 0;

    static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            failures++;
            System.out.println("FAIL: " + what);
        }
    }

    static final class Plane extends Image.Plane {
        final ByteBuffer buffer;
        final int rowStride, pixelStride;

        Plane(ByteBuffer buffer, int rowStride, int pixelStride) {
            this.buffer = buffer;
            this.rowStride = rowStride;
            this.pixelStride = pixelStride;
        }

        @Override public int getRowStride() { return rowStride; }
        @Override public int getPixelStride() { return pixelStride; }
        @Override public ByteBuffer getBuffer() { return buffer; }
    }

    static final class CameraImage extends Image {
        final int width, height;
        final Plane[] planes;

        CameraImage(int width, int height, Plane[] planes) {
            this.width = width;
            this.height = height;
            this.planes = planes;
        }

        @Override public int getFormat() { return 0x23; }
        @Override public int getWidth() { return width; }
        @Override public int getHeight() { return height; }
        @Override public Plane[] getPlanes() { return planes; }
        @Override public void close() {}
    }

    /** A direct buffer holding rows of `row` bytes at `stride`, the last row unpadded. */
    static ByteBuffer rows(byte[] src, int srcOffset, int count, int row, int stride, int pad) {
        ByteBuffer b = ByteBuffer.allocateDirect(stride * (count - 1) + row);
        for (int r = 0; r < count; r++) {
            b.position(r * stride);
            b.put(src, srcOffset + r * row, row);
            if (r < count - 1)
                for (int i = row; i < stride; i++) b.put((byte)pad);
        }
        b.position(0);
        return b;
    }

    /** The NV21 frame as a camera's YUV_420_888 image: interleaved (pixel stride 2, U and V
     * views one byte apart into the same memory) or planar (pixel stride 1). */
    static CameraImage asCamera(byte[] nv21, int w, int h, boolean interleaved, int padding) {
        int cw = (w + 1) / 2, ch = (h + 1) / 2;
        ByteBuffer y = rows(nv21, 0, h, w, w + padding, 0x11);
        if (interleaved) {
            ByteBuffer vu = rows(nv21, w * h, ch, 2 * cw, 2 * cw + padding, 0x22);
            ByteBuffer v = vu.duplicate();
            v.limit(vu.limit() - 1);
            vu.position(1);
            ByteBuffer u = vu.slice();
            Plane[] p = {new Plane(y, w + padding, 1), new Plane(u, 2 * cw + padding, 2),
                         new Plane(v.slice(), 2 * cw + padding, 2)};
            return new CameraImage(w, h, p);
        }
        byte[] u = new byte[cw * ch], v = new byte[cw * ch];
        for (int i = 0; i < cw * ch; i++) {
            v[i] = nv21[w * h + 2 * i];
            u[i] = nv21[w * h + 2 * i + 1];
        }
        Plane[] p = {new Plane(y, w + padding, 1), new Plane(rows(u, 0, ch, cw, cw + padding, 0x33), cw + padding, 1),
                     new Plane(rows(v, 0, ch, cw, cw + padding, 0x44), cw + padding, 1)};
        return new CameraImage(w, h, p);
    }

    public static void main(String[] args) throws Exception {
        Path manifest = Paths.get(args[1]);
        List<String> cLines = Files.readAllLines(Paths.get(args[2]), StandardCharsets.UTF_8);
        int tested = 0;
        try (Classifier classifier = Classifier.fromFile(args[0], new Classifier.Options().validation(true))) {
            for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
                String[] t = line.split(" ");
                // packed NV21 frames (format 6, stride 0), full range as a camera's
                if (!t[1].equals("6") || !t[4].equals("0") || !t[6].equals("1")) continue;
                String name = t[0];
                int w = Integer.parseInt(t[2]), h = Integer.parseInt(t[3]), rotation = Integer.parseInt(t[5]);
                byte[] nv21 = Files.readAllBytes(manifest.resolveSibling(t[8]));
                int wantClass = -1;
                for (String c : cLines)
                    if (c.startsWith(name + "\t")) wantClass = Integer.parseInt(c.split("\t")[2].split(" ")[0]);
                check(wantClass >= 0, name + ": not in the C path's output");
                for (boolean interleaved : new boolean[] {true, false})
                    for (int padding : new int[] {0, 13}) {
                        String what = name + (interleaved ? " interleaved" : " planar") + ", padding " + padding;
                        byte[] out = CameraLabeler.toNv21(asCamera(nv21, w, h, interleaved, padding), null);
                        check(Arrays.equals(out, nv21), what + ": toNv21 differs from the frame");
                        if (!interleaved || padding == 0) continue; // equal bytes: classified once
                        Label[] top = classifier.classify(Frame.nv21(out, w, h).rotation(rotation), 3);
                        check(top[0].index == wantClass, what + ": class " + top[0].index + ", C path " + wantClass);
                    }
                tested++;
            }
            check(tested >= 10, "only " + tested + " NV21 frames");
            check(classifier.validationMessages() == 0, "validation messages");
        } catch (KwvkException e) {
            System.out.println("SnippetTest: " + e.getMessage());
            System.exit(e.resultName().equals("KWVK_ERROR_NO_DEVICE") ? 77 : 1);
        }
        System.out.println("SnippetTest: " + tested + " frames, " + checks + " checks, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }
}
