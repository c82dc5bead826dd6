package gsat2r.gpu.nccl;

/** Reduction operations with their {@code ncclRedOp_t} values (nccl.h). */
public enum NcclRedOp {
    SUM(0), PROD(1), MAX(2), MIN(3), AVG(4);

    final int code;

    NcclRedOp(int code) {
        this.code = code;
    }
}
