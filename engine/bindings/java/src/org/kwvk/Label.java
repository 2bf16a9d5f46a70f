package org.kwvk;

/** One class of a classification result: its index, its score and its name from the model. */
public final class Label {
    /** Class index in the model's output. */
    public final int index;
    /** Softmax probability, or the raw logit (see {@link Classifier#topK}). */
    public final float score;
    /** Class name stored in the model file ("" when the model has no labels). */
    public final String name;

    /** Called by the native glue. */
    Label(int index, float score, String name) {
        this.index = index;
        this.score = score;
        this.name = name;
    }

    @Override
    public String toString() {
        return index + " (" + name + ") " + score;
    }
}
