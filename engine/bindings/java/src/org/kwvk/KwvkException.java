package org.kwvk;

/**
 * A failed kwvk library call. The message is the library's own description of the failure
 * ({@code kwvk_last_error()}), prefixed with the result code's name.
 */
public class KwvkException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int result;
    private final String resultName;

    /** Called by the native glue. */
    KwvkException(int result, String resultName, String detail) {
        super(resultName + ": " + detail);
        this.result = result;
        this.resultName = resultName;
    }

    /** The {@code kwvk_result} code (e.g. 1 for KWVK_ERROR_INVALID_ARGUMENT, 9 for KWVK_ERROR_MODEL_FORMAT). */
    public int result() {
        return result;
    }

    /** The code's name, e.g. {@code "KWVK_ERROR_MODEL_FORMAT"}. */
    public String resultName() {
        return resultName;
    }
}
