import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.kwvk.Classifier;
import org.kwvk.Frame;
import org.kwvk.KwvkException;
import org.kwvk.Label;
import org.kwvk.PixelFormat;

/**
 * Desktop test of the Java binding: classifies the frames of a make_frames.py manifest
 * through org.kwvk.Classifier (from byte arrays, direct buffers and heap buffers at an
 * offset) and requires the classes, scores and logits that c_labels (the library called from
 * C on the same frames) wrote; then the binding's error paths, model loading from bytes,
 * sharing one classifier between threads, and no validation messages.
 *
 * Usage: java -Dkwvk.library=libkwvkjni.so -cp kwvk.jar:test.jar KwvkTest MODEL MANIFEST C_OUT
 * Exit 77 (skip) only when there is no Vulkan device at all.
 */
public final class KwvkTest {
    /** The binding and the C path run the same library on the same device: the numbers
     * should agree to rounding (they are printed with 9 digits). */
    static final double LOGIT_TOL = 1e-4, SCORE_TOL = 1e-5;
    static int failures = 0, checks = 0;

    static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            failures++;
            System.out.println("FAIL: " + what);
        }
    }

    static final class FrameSpec {
        String name, file;
        int format, width, height, stride, rotation, flags, expect;
        byte[] data;

        Frame frame(byte[] bytes) {
            return withLayout(Frame.of(PixelFormat.fromCode(format), bytes, width, height));
        }

        Frame frame(ByteBuffer buffer) {
            return withLayout(Frame.of(PixelFormat.fromCode(format), buffer, width, height));
        }

        Frame withLayout(Frame f) {
            return f.rowStride(stride).rotation(rotation).fullRange((flags & 1) != 0);
        }
    }

    static final class CResult {
        float[] logits;
        int[] index = new int[3];
        float[] score = new float[3];
        String[] label = new String[3];
    }

    static List<FrameSpec> readManifest(Path manifest) throws IOException {
        List<FrameSpec> frames = new ArrayList<>();
        for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
            if (line.isEmpty()) continue;
            String[] t = line.split(" ");
            FrameSpec s = new FrameSpec();
            s.name = t[0];
            s.format = Integer.parseInt(t[1]);
            s.width = Integer.parseInt(t[2]);
            s.height = Integer.parseInt(t[3]);
            s.stride = Integer.parseInt(t[4]);
            s.rotation = Integer.parseInt(t[5]);
            s.flags = Integer.parseInt(t[6]);
            s.expect = Integer.parseInt(t[7]);
            s.file = t[8];
            s.data = Files.readAllBytes(manifest.resolveSibling(s.file));
            frames.add(s);
        }
        return frames;
    }

    static Map<String, CResult> readC(Path path) throws IOException {
        Map<String, CResult> m = new HashMap<>();
        for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
            String[] t = line.split("\t");
            CResult r = new CResult();
            String[] v = t[1].split(" ");
            r.logits = new float[Integer.parseInt(v[0])];
            for (int i = 0; i < r.logits.length; i++) r.logits[i] = Float.parseFloat(v[i + 1]);
            for (int i = 0; i < 3; i++) {
                String[] k = t[2 + i].split(" ", 3);
                r.index[i] = Integer.parseInt(k[0]);
                r.score[i] = Float.parseFloat(k[1]);
                r.label[i] = k[2];
            }
            m.put(t[0], r);
        }
        return m;
    }

    static double maxDiff(float[] a, float[] b) {
        if (a.length != b.length) return Double.POSITIVE_INFINITY;
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double)a[i] - b[i]));
        return d;
    }

    static <T extends Throwable> T expectThrows(Class<T> type, String what, Runnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) return type.cast(t);
            check(false, what + ": threw " + t + ", not " + type.getSimpleName());
            return null;
        }
        check(false, what + ": no " + type.getSimpleName());
        return null;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: KwvkTest MODEL MANIFEST C_OUT");
            System.exit(2);
        }
        Path model = Paths.get(args[0]);
        List<FrameSpec> frames = readManifest(Paths.get(args[1]));
        Map<String, CResult> cpath = readC(Paths.get(args[2]));
        Classifier.Options options = new Classifier.Options().validation(true);

        Classifier c;
        try {
            c = Classifier.fromFile(args[0], options);
        } catch (KwvkException e) {
            System.out.println("KwvkTest: " + e.getMessage());
            System.exit(e.resultName().equals("KWVK_ERROR_NO_DEVICE") ? 77 : 1);
            return;
        }
        try (Classifier classifier = c) {
            System.out.println("device " + classifier.deviceName() + ", input " + classifier.inputChannels() + "x"
                               + classifier.inputHeight() + "x" + classifier.inputWidth() + ", "
                               + classifier.numClasses() + " classes");
            testFrames(classifier, frames, cpath);
            testFromBytes(classifier, model, options, frames.get(0));
            testThreads(classifier, frames);
            testErrors(classifier, frames.get(0));
            check(classifier.validationMessages() == 0, classifier.validationMessages() + " validation messages");
        }
        testClosed(frames.get(0), args[0], options);
        System.out.println("KwvkTest: " + checks + " checks, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }

    /** Every frame from a byte[], a direct buffer and a heap buffer at an offset, against the C path. */
    static void testFrames(Classifier classifier, List<FrameSpec> frames, Map<String, CResult> cpath) {
        int expected = 0, n = 0;
        for (FrameSpec s : frames) {
            CResult want = cpath.get(s.name);
            if (want == null) {
                check(false, s.name + ": not in the C path's output");
                n++;
                continue;
            }
            float[] logits = classifier.logits(s.frame(s.data));
            double d = maxDiff(logits, want.logits);
            check(d <= LOGIT_TOL, s.name + ": logits differ from the C path by " + d);

            Label[] top = classifier.topK(logits, 3, true);
            if (n % 3 == 0) { // classify() is logits() + topK(): on every third frame
                Label[] again = classifier.classify(s.frame(s.data), 3);
                for (int i = 0; i < 3; i++)
                    check(again[i].index == top[i].index && again[i].score == top[i].score,
                          s.name + ": classify() differs from topK(logits())");
            }
            check(top.length == 3, s.name + ": " + top.length + " labels, not 3");
            StringBuilder line = new StringBuilder(String.format("%-28s", s.name));
            for (int i = 0; i < top.length; i++) {
                check(top[i].index == want.index[i] && top[i].name.equals(want.label[i]),
                      s.name + ": label " + i + " is " + top[i] + ", the C path's " + want.index[i] + " (" + want.label[i]
                          + ")");
                check(Math.abs(top[i].score - want.score[i]) <= SCORE_TOL,
                      s.name + ": score " + i + " " + top[i].score + " vs C " + want.score[i]);
                line.append(String.format("  %d %s %.4f", top[i].index, top[i].name, top[i].score));
            }
            if (s.expect >= 0) {
                check(top[0].index == s.expect, s.name + ": class " + top[0].index + ", expected " + s.expect);
                expected++;
            }
            System.out.println(line);

            ByteBuffer direct = ByteBuffer.allocateDirect(s.data.length + 13);
            direct.position(13);
            direct.put(s.data);
            direct.position(13);
            check(maxDiff(classifier.logits(s.frame(direct)), logits) == 0, s.name + ": direct buffer differs");
            check(direct.position() == 13, s.name + ": the buffer's position moved");

            if (n++ % 2 == 1) continue; // a heap buffer at an offset: every other frame
            byte[] bigger = new byte[s.data.length + 7];
            System.arraycopy(s.data, 0, bigger, 5, s.data.length);
            ByteBuffer heap = ByteBuffer.wrap(bigger, 5, s.data.length);
            check(maxDiff(classifier.logits(s.frame(heap)), logits) == 0, s.name + ": heap buffer at offset 5 differs");
        }
        check(expected >= 20, "only " + expected + " frames with a known class");
        System.out.println("frames: " + frames.size() + " compared with the C path (" + expected
                           + " with a known class)");

        // top-k on raw logits, k above the class count clamped
        float[] logits = classifier.logits(frames.get(0).frame(frames.get(0).data));
        Label[] raw = classifier.topK(logits, 100, false);
        check(raw.length == classifier.numClasses(), "top-100 gave " + raw.length + " labels");
        float max = Float.NEGATIVE_INFINITY;
        for (float v : logits) max = Math.max(max, v);
        check(raw[0].score == max, "raw top-1 score " + raw[0].score + " is not the largest logit " + max);
        for (int i = 1; i < raw.length; i++) check(raw[i].score <= raw[i - 1].score, "top-k not sorted at " + i);
        for (int i = 0; i < classifier.numClasses(); i++)
            check(!classifier.label(i).isEmpty(), "class " + i + " has no label");
    }

    /** A classifier loaded from the model's bytes gives the same logits. */
    static void testFromBytes(Classifier classifier, Path model, Classifier.Options options, FrameSpec s)
        throws IOException {
        try (Classifier fromBytes = Classifier.fromBytes(Files.readAllBytes(model), options)) {
            double d = maxDiff(fromBytes.logits(s.frame(s.data)), classifier.logits(s.frame(s.data)));
            check(d == 0, "model from bytes: logits differ by " + d);
            check(fromBytes.validationMessages() == 0, "model from bytes: validation messages");
        }
    }

    /** Two threads share one classifier (its runs take turns) and get the sequential results. */
    static void testThreads(Classifier classifier, List<FrameSpec> frames) throws InterruptedException {
        int n = Math.min(frames.size(), 8);
        float[][] want = new float[n][];
        for (int i = 0; i < n; i++) want[i] = classifier.logits(frames.get(i).frame(frames.get(i).data));
        float[][][] got = new float[2][n][];
        Thread[] threads = new Thread[2];
        Throwable[] errors = new Throwable[2];
        for (int t = 0; t < 2; t++) {
            final int id = t;
            threads[t] = new Thread(() -> {
                try {
                    for (int rep = 0; rep < 2; rep++)
                        for (int i = 0; i < n; i++) {
                            int k = id == 0 ? i : n - 1 - i;
                            got[id][k] = classifier.logits(frames.get(k).frame(frames.get(k).data));
                        }
                } catch (Throwable e) {
                    errors[id] = e;
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) t.join();
        for (int t = 0; t < 2; t++) {
            check(errors[t] == null, "thread " + t + ": " + errors[t]);
            for (int i = 0; errors[t] == null && i < n; i++)
                check(maxDiff(got[t][i], want[i]) == 0, "thread " + t + ", frame " + i + ": logits differ");
        }
    }

    static void testErrors(Classifier classifier, FrameSpec s) {
        KwvkException e = expectThrows(KwvkException.class, "garbage model",
                                       () -> Classifier.fromBytes("not a model".getBytes(StandardCharsets.UTF_8)));
        if (e != null) {
            check(e.resultName().equals("KWVK_ERROR_MODEL_FORMAT") && e.result() == 9,
                  "garbage model: " + e.resultName() + " (" + e.result() + ")");
            check(e.getMessage().length() > e.resultName().length() + 4, "garbage model: no detail: " + e.getMessage());
            System.out.println("garbage model -> " + e.getMessage());
        }
        e = expectThrows(KwvkException.class, "missing file",
                         () -> Classifier.fromFile("no-such-dir/no-such-model.kwvk"));
        if (e != null) {
            check(e.resultName().equals("KWVK_ERROR_IO"), "missing file: " + e.resultName());
            check(e.getMessage().contains("no-such-model.kwvk"), "missing file: message without the path: " + e.getMessage());
            System.out.println("missing file -> " + e.getMessage());
        }
        expectThrows(IllegalArgumentException.class, "short NV21 buffer",
                     () -> classifier.logits(Frame.nv21(new byte[28 * 28], 28, 28)));
        expectThrows(IllegalArgumentException.class, "short RGBA buffer at an offset",
                     () -> classifier.logits(Frame.of(PixelFormat.RGBA8, ByteBuffer.wrap(new byte[28 * 28 * 4], 1, 28 * 28 * 4 - 1), 28, 28)));
        expectThrows(IllegalArgumentException.class, "row stride below the row",
                     () -> classifier.logits(Frame.rgba(new byte[28 * 28 * 4], 28, 28).rowStride(100)));
        expectThrows(IllegalArgumentException.class, "rotation 45", () -> Frame.rgba(new byte[16], 2, 2).rotation(45));
        expectThrows(IllegalArgumentException.class, "zero width", () -> Frame.rgba(new byte[16], 0, 2));
        expectThrows(IllegalArgumentException.class, "read-only heap buffer",
                     () -> Frame.of(PixelFormat.RGBA8, ByteBuffer.wrap(new byte[16]).asReadOnlyBuffer(), 2, 2));
        expectThrows(NullPointerException.class, "null frame", () -> classifier.logits(null));
        expectThrows(IllegalArgumentException.class, "k = 0", () -> classifier.topK(new float[10], 0, true));
        expectThrows(IndexOutOfBoundsException.class, "label -1", () -> classifier.label(-1));
        // the classifier still works after all that
        check(classifier.classify(s.frame(s.data), 1)[0].index >= 0, "classifier after errors");
    }

    static void testClosed(FrameSpec s, String model, Classifier.Options options) {
        Classifier c = Classifier.fromFile(model, options);
        c.close();
        c.close(); // idempotent
        expectThrows(IllegalStateException.class, "logits after close", () -> c.logits(s.frame(s.data)));
        expectThrows(IllegalStateException.class, "label after close", () -> c.label(0));
    }
}
