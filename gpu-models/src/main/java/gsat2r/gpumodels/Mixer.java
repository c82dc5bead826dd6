package gsat2r.gpumodels;

import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.gpu.DeviceBuffer;

import java.util.List;

/** A block's token mixer on the GPU: {@link GsaMixer}, or {@link AttentionMixer} in a hybrid student. */
sealed interface Mixer permits GsaMixer, AttentionMixer {

    /** What a forward pass keeps for its backward; {@link #out()} is the mixer output {@code [B·T, d]}. */
    interface Pass extends AutoCloseable {
        DeviceBuffer out();

        @Override
        void close();
    }

    /** Runs the mixer on normed inputs {@code x [B·T, d]} (kept by reference: the caller keeps x alive until the backward). */
    Pass forward(DeviceBuffer x, DeviceBatch b, boolean forBackward);

    /**
     * Given {@code dOut = dL/d(out)}, writes {@code dL/dx} into {@code dx} (overwritten; null: not wanted) and
     * adds the gradients of the mixer's tensors in {@code trainable}. Consumes the pass (its buffers may be overwritten).
     */
    void backward(Pass pass, DeviceBuffer dOut, DeviceBuffer dx, ParameterGroup trainable);

    List<ParameterView> views();
}
