package gsat2r.cputrain;

import gsat2r.training.ParameterInfo;

/**
 * A trainable tensor on the CPU: {@code values[offset, offset + size)} and its gradient at the same
 * place of {@code grad} (the student's parameter and gradient arrays, or a LoRA factor's own arrays).
 */
record CpuTensor(ParameterInfo info, float[] values, float[] grad, int offset, int size) {

    void zeroGradient() {
        java.util.Arrays.fill(grad, offset, offset + size, 0f);
    }

    /** {@code sum} plus the squares of this tensor's gradient, added one by one (one running sum over all tensors: the data-parallel engine's order). */
    double addSquaredGradient(double sum) {
        for (int i = offset; i < offset + size; i++) sum += (double) grad[i] * grad[i];
        return sum;
    }
}
