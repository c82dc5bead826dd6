package gsat2r.gpu.nccl;

import gsat2r.gpu.cuda.CudaException;

/**
 * A failed NCCL call, or NCCL missing: one line naming the operation, the ncclResult_t and NCCL's own
 * explanation, e.g. {@code ncclCommInitRank(rank 3 of 8, device 3): ncclSystemError (unhandled system
 * error; last: socket connect to 10.0.0.1<43567> failed)}. A {@link CudaException}, so the CLI prints it
 * as one line and code that handles CUDA failures handles these too.
 */
public class NcclException extends CudaException {

    public NcclException(String message) {
        super(message);
    }

    public NcclException(String operation, String errorName, String detail) {
        super(operation, errorName, detail);
    }
}
