package gsat2r.gpu.cuda;

/**
 * One (batched) matrix product in ROW-MAJOR terms, the layout of every tensor in this project:
 * {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C} for each of {@code batch} matrices.
 * A is stored {@code [m,k]}, or {@code [k,m]} when {@code transA}; B is stored {@code [k,n]}, or
 * {@code [n,k]} when {@code transB}. Leading dimensions are the stored row lengths (elements between
 * consecutive rows); strides are elements between consecutive matrices of the batch.
 *
 * <p>A Linear layer {@code y = x W^T} with x {@code [N,in]} and W {@code [out,in]} is
 * {@code (transA=false, transB=true, m=N, n=out, k=in)}.
 */
public record MatmulShape(boolean transA, boolean transB, int m, int n, int k,
                          CublasLt.DataType abType, CublasLt.DataType cType, CublasLt.Compute compute,
                          long lda, long ldb, long ldc,
                          int batch, long strideA, long strideB, long strideC) {
    public MatmulShape {
        if (m < 1 || n < 1 || k < 1 || batch < 1) {
            throw new IllegalArgumentException("matmul shape m=" + m + " n=" + n + " k=" + k + " batch=" + batch);
        }
        if (lda < (transA ? m : k) || ldb < (transB ? k : n) || ldc < n) {
            throw new IllegalArgumentException("matmul leading dimensions lda=" + lda + " ldb=" + ldb + " ldc=" + ldc
                    + " too small for m=" + m + " n=" + n + " k=" + k);
        }
    }

    /** Dense row-major operands, no batch. */
    public static MatmulShape of(boolean transA, boolean transB, int m, int n, int k,
                                 CublasLt.DataType abType, CublasLt.DataType cType) {
        return new MatmulShape(transA, transB, m, n, k, abType, cType, CublasLt.Compute.F32,
                transA ? m : k, transB ? k : n, n, 1, 0, 0, 0);
    }

    /** Dense row-major operands, {@code batch} matrices packed back to back. */
    public static MatmulShape batched(boolean transA, boolean transB, int m, int n, int k,
                                      CublasLt.DataType abType, CublasLt.DataType cType, int batch) {
        return new MatmulShape(transA, transB, m, n, k, abType, cType, CublasLt.Compute.F32,
                transA ? m : k, transB ? k : n, n, batch, (long) m * k, (long) k * n, (long) m * n);
    }

    public MatmulShape withCompute(CublasLt.Compute c) {
        return new MatmulShape(transA, transB, m, n, k, abType, cType, c, lda, ldb, ldc, batch, strideA, strideB, strideC);
    }

    /** Floating-point operations of the whole product (2 m n k per matrix). */
    public double flops() {
        return 2.0 * m * n * k * batch;
    }

    /** Elements the last matrix of each operand reaches (for bounds checks). */
    public long extentA() {
        return (batch - 1L) * strideA + (long) ((transA ? k : m) - 1) * lda + (transA ? m : k);
    }

    public long extentB() {
        return (batch - 1L) * strideB + (long) ((transB ? n : k) - 1) * ldb + (transB ? k : n);
    }

    public long extentC() {
        return (batch - 1L) * strideC + (long) (m - 1) * ldc + n;
    }
}
