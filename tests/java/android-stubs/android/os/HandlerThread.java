package android.os;

public class HandlerThread extends Thread {
    public HandlerThread(String name) {
        super(name);
    }

    public Looper getLooper() {
        throw new UnsupportedOperationException("stand-in");
    }

    public boolean quitSafely() {
        throw new UnsupportedOperationException("stand-in");
    }
}
