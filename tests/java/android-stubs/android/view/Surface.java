package android.view;

public class Surface {
    protected Surface() {}
}
