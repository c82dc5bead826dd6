package gsat2r.gpu.cuda;

import gsat2r.core.T2rException;

/**
 * A failed CUDA driver or cuBLASLt call, or CUDA missing. The message is one line naming the
 * operation and the error, e.g. {@code cuMemAlloc(1073741824 bytes): CUDA_ERROR_OUT_OF_MEMORY}.
 */
public class CudaException extends T2rException {
    private final String errorName;

    public CudaException(String message) {
        this(message, (String) null);
    }

    private CudaException(String message, String errorName) {
        super(message);
        this.errorName = errorName;
    }

    /** {@code operation: ERROR_NAME (detail)}. */
    public CudaException(String operation, String errorName, String detail) {
        this(operation + ": " + errorName + (detail == null || detail.isEmpty() ? "" : " (" + detail + ")"), errorName);
    }

    /** The same error with {@code context} appended to the message. */
    public CudaException withContext(String context) {
        CudaException e = new CudaException(getMessage() + " " + context, errorName);
        e.initCause(this);
        return e;
    }

    /** The CUDA or cuBLAS status name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}; null when not from a status code. */
    public String errorName() {
        return errorName;
    }

    public boolean isOutOfMemory() {
        return "CUDA_ERROR_OUT_OF_MEMORY".equals(errorName) || "CUBLAS_STATUS_ALLOC_FAILED".equals(errorName);
    }
}
