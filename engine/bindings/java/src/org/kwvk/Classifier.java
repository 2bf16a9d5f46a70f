package org.kwvk;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * An image classifier on the GPU: a kwvk model, a Vulkan context and a network, behind one
 * object. Frames go in as pixels ({@link Frame}); the library resizes, crops and normalises
 * them on the GPU the way the model was trained, runs the network and returns the logits or
 * the best classes.
 *
 * <pre>{@code
 * try (Classifier c = Classifier.fromFile("fmnist_kw1x.kwvk")) {
 *     for (Label l : c.classify(Frame.nv21(nv21, 640, 480).rotation(90), 3))
 *         System.out.println(l.name + " " + l.score);
 * }
 * }</pre>
 *
 * <p>Threads: the methods are synchronized, so a classifier may be shared, but its runs take
 * turns; run them on a worker thread, never on an app's UI thread (a run takes milliseconds
 * on a GPU, more on a CPU driver). Two classifiers are independent. Call {@link #close} when
 * done: the GPU memory is not released by the garbage collector.
 *
 * <p>Errors: the library's failures are {@link KwvkException}s carrying its message; caller
 * mistakes that Java can see (a null, a buffer too short for the frame, a closed classifier)
 * are the usual {@code NullPointerException}, {@code IllegalArgumentException} and
 * {@code IllegalStateException}.
 *
 * <p>The native glue is the library {@code kwvkjni} ({@code libkwvkjni.so}, found on
 * {@code java.library.path} or, on Android, in the APK); the system property
 * {@code kwvk.library} may name its file instead.
 */
public final class Classifier implements AutoCloseable {
    static {
        String path = System.getProperty("kwvk.library");
        if (path != null && !path.isEmpty())
            System.load(new java.io.File(path).getAbsolutePath());
        else
            System.loadLibrary("kwvkjni");
    }

    /** Where and how to run; the defaults (all fields null or false) suit most apps. */
    public static final class Options {
        String device;
        String cacheDir;
        boolean validation;

        /**
         * GPU choice: a decimal index ("1") or part of the device name ("Mali", "llvmpipe").
         * Default: the environment variable KWVK_DEVICE, else the first discrete GPU, else the
         * first integrated one, else device 0.
         */
        public Options device(String nameOrIndex) {
            device = nameOrIndex;
            return this;
        }

        /**
         * Directory for the compiled-pipeline cache, which makes later starts faster. On
         * Android pass {@code context.getCacheDir().getAbsolutePath()}: there is no default
         * there. "" disables the cache.
         */
        public Options cacheDir(String dir) {
            cacheDir = dir;
            return this;
        }

        /** Run with the Vulkan validation layer (it must be installed or packaged). */
        public Options validation(boolean on) {
            validation = on;
            return this;
        }
    }

    private long handle;
    private final int inputChannels, inputHeight, inputWidth, numClasses, numOutputs;

    private Classifier(long handle) {
        this.handle = handle;
        int[] info = nInfo(handle);
        inputChannels = info[0];
        inputHeight = info[1];
        inputWidth = info[2];
        numClasses = info[3];
        numOutputs = info[4];
    }

    /** Loads a model file (a {@code .kwvk} file written by kwvk-convert). */
    public static Classifier fromFile(String path) {
        return fromFile(path, new Options());
    }

    public static Classifier fromFile(String path, Options options) {
        if (path == null) throw new NullPointerException("path");
        return open(utf8(path), null, options);
    }

    /** Loads a model from its bytes (e.g. read from an Android asset); the bytes are copied. */
    public static Classifier fromBytes(byte[] model) {
        return fromBytes(model, new Options());
    }

    public static Classifier fromBytes(byte[] model, Options options) {
        if (model == null) throw new NullPointerException("model");
        return open(null, model, options);
    }

    private static Classifier open(byte[] path, byte[] bytes, Options o) {
        if (o == null) o = new Options();
        return new Classifier(nOpen(path, bytes, utf8(o.device), utf8(o.cacheDir), o.validation));
    }

    private static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    private void checkOpen() {
        if (handle == 0) throw new IllegalStateException("the classifier is closed");
    }

    /** The network's raw output (logits) for one frame: {@link #numClasses} floats. */
    public synchronized float[] logits(Frame frame) {
        if (frame == null) throw new NullPointerException("frame");
        checkOpen();
        frame.check();
        float[] out = new float[numOutputs];
        int flags = frame.format.isYuv() && frame.fullRange ? 1 : 0;
        nRun(handle, frame.format.code, frame.array, frame.direct, frame.offset, frame.available, frame.width,
             frame.height, (int)frame.stride(), (int)frame.chromaStride(), frame.rotation, flags, out);
        return out;
    }

    /** The k most probable classes of one frame, best first, with softmax probabilities. */
    public synchronized Label[] classify(Frame frame, int k) {
        return topK(logits(frame), k, true);
    }

    /**
     * The k best classes of a model output, best first; k above the number of classes is
     * lowered to it. Scores are softmax probabilities, or the logits themselves.
     */
    public synchronized Label[] topK(float[] logits, int k, boolean softmax) {
        if (logits == null) throw new NullPointerException("logits");
        if (k < 1) throw new IllegalArgumentException("k = " + k + " is less than 1");
        checkOpen();
        return nTopK(handle, logits, Math.min(k, logits.length), softmax);
    }

    /** Channels, height and width of the model's input (after its preprocessing). */
    public int inputChannels() { return inputChannels; }
    public int inputHeight() { return inputHeight; }
    public int inputWidth() { return inputWidth; }
    /** Number of classes (the length of {@link #logits}). */
    public int numClasses() { return numClasses; }

    /** Name of class {@code index} from the model ("" when the model has no labels). */
    public synchronized String label(int index) {
        checkOpen();
        if (index < 0 || index >= numClasses)
            throw new IndexOutOfBoundsException("class " + index + " of " + numClasses);
        return nLabel(handle, index);
    }

    /** Name of the Vulkan device the classifier runs on. */
    public synchronized String deviceName() {
        checkOpen();
        return nDeviceName(handle);
    }

    /** Validation-layer errors and warnings seen so far (0 without {@link Options#validation}). */
    public synchronized int validationMessages() {
        checkOpen();
        return nValidationMessages(handle);
    }

    /** Releases the network, the context and the model; later calls throw. Idempotent. */
    @Override
    public synchronized void close() {
        if (handle != 0) nClose(handle);
        handle = 0;
    }

    private static native long nOpen(byte[] path, byte[] bytes, byte[] device, byte[] cacheDir, boolean validation);
    private static native void nClose(long handle);
    /** {input channels, height, width, classes, outputs per sample} */
    private static native int[] nInfo(long handle);
    private static native String nLabel(long handle, int index);
    private static native String nDeviceName(long handle);
    private static native int nValidationMessages(long handle);
    private static native void nRun(long handle, int format, byte[] array, ByteBuffer direct, int offset, int available,
                                    int width, int height, int stride, int uvStride, int rotation, int flags,
                                    float[] out);
    private static native Label[] nTopK(long handle, float[] logits, int k, boolean softmax);
}
