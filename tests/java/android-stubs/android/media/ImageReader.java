package android.media;

import android.os.Handler;
import android.view.Surface;

public class ImageReader implements AutoCloseable {
    public interface OnImageAvailableListener {
        void onImageAvailable(ImageReader reader);
    }

    protected ImageReader() {}

    public static ImageReader newInstance(int width, int height, int format, int maxImages) {
        throw new UnsupportedOperationException("stand-in");
    }

    public void setOnImageAvailableListener(OnImageAvailableListener listener, Handler handler) {
        throw new UnsupportedOperationException("stand-in");
    }

    public Image acquireLatestImage() {
        throw new UnsupportedOperationException("stand-in");
    }

    public Surface getSurface() {
        throw new UnsupportedOperationException("stand-in");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("stand-in");
    }
}
