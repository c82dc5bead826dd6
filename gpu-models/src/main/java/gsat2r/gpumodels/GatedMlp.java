package gsat2r.gpumodels;

import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.gsa.ParameterView.Kind;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Matmul;
import gsat2r.gpu.ops.SwiGlu;

import java.util.List;

/** fla's {@code GatedMLP} with swish on the GPU: {@code out = down(silu(gate(x)) ⊙ up(x))}, forward and backward. */
final class GatedMlp {
    private final StudentParams params;
    private final int d, inner;
    final ParameterView gate, up, down;

    GatedMlp(StudentParams params, GsaLayout layout, int layer) {
        this.params = params;
        this.d = layout.config().hiddenSize();
        this.inner = layout.config().intermediateSize();
        this.gate = layout.get(Kind.GATE_PROJ, layer);
        this.up = layout.get(Kind.UP_PROJ, layer);
        this.down = layout.get(Kind.DOWN_PROJ, layer);
    }

    List<ParameterView> views() {
        return List.of(gate, up, down);
    }

    /** The input, both projections, their gated product and the output. */
    record Pass(Buffers buffers, int rows, DeviceBuffer x, DeviceBuffer gate, DeviceBuffer up, DeviceBuffer h, DeviceBuffer out)
            implements AutoCloseable {
        @Override
        public void close() {
            buffers.close();
        }
    }

    Pass forward(DeviceBuffer x, int rows) {
        Gpu gpu = params.gpu();
        Buffers s = params.buffers();
        try {
            DeviceBuffer g = s.t((long) rows * inner), u = s.t((long) rows * inner), h = s.t((long) rows * inner), out = s.t((long) rows * d);
            Matmul.linearForward(gpu, g, x, params.w(gate), rows, d, inner);
            Matmul.linearForward(gpu, u, x, params.w(up), rows, d, inner);
            SwiGlu.forward(gpu, h, g, u, (long) rows * inner);
            Matmul.linearForward(gpu, out, h, params.w(down), rows, inner, d);
            return new Pass(s, rows, x, g, u, h, out);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Writes {@code dL/dx} into dx (null: not wanted) and adds the trainable weights' gradients; overwrites the pass's gate and up. */
    void backward(Pass f, DeviceBuffer dOut, DeviceBuffer dx, ParameterGroup trainable) {
        Gpu gpu = params.gpu();
        int rows = f.rows();
        if (trainable.contains(down)) Matmul.linearBackwardWeight(gpu, params.g(down), dOut, f.h(), rows, inner, d, true);
        boolean below = dx != null || trainable.contains(gate) || trainable.contains(up);
        if (!below) return;
        DeviceBuffer dh = f.h();   // h is not needed any more: its gradient takes its place
        Matmul.linearBackwardInput(gpu, dh, dOut, params.w(down), rows, inner, d, false);
        DeviceBuffer dGate = f.gate(), dUp = f.up();
        SwiGlu.backward(gpu, dGate, dUp, dh, f.gate(), f.up(), (long) rows * inner);
        if (trainable.contains(gate)) Matmul.linearBackwardWeight(gpu, params.g(gate), dGate, f.x(), rows, d, inner, true);
        if (trainable.contains(up)) Matmul.linearBackwardWeight(gpu, params.g(up), dUp, f.x(), rows, d, inner, true);
        if (dx != null) {
            Matmul.linearBackwardInput(gpu, dx, dGate, params.w(gate), rows, d, inner, false);
            Matmul.linearBackwardInput(gpu, dx, dUp, params.w(up), rows, d, inner, true);
        }
    }
}
