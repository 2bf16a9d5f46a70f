package android.hardware.camera2;

public final class CameraCharacteristics {
    public static final class Key<T> {
        private Key() {}
    }

    public static final Key<Integer> SENSOR_ORIENTATION = new Key<>();
    public static final Key<Integer> LENS_FACING = new Key<>();
    public static final int LENS_FACING_FRONT = 0;
    public static final int LENS_FACING_BACK = 1;

    private CameraCharacteristics() {}

    public <T> T get(Key<T> key) {
        throw new UnsupportedOperationException("stand-in");
    }
}
