package android.widget;

public class TextView {
    protected TextView() {}

    public final void setText(CharSequence text) {
        throw new UnsupportedOperationException("stand-in");
    }
}
