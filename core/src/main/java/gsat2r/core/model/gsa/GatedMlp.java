package gsat2r.core.model.gsa;

import gsat2r.core.cpu.Linear;
import gsat2r.core.cpu.SwiGlu;
import gsat2r.core.model.gsa.ParameterView.Kind;

import java.util.List;

/**
 * fla's {@code GatedMLP} with swish: {@code out = down(silu(gate(x)) ⊙ up(x))}, no biases, on
 * {@code x [N, d]}; {@code silu(gate)} rounded to fp32 before the product, as fla's unfused
 * {@code swiglu} does in fp32.
 */
final class GatedMlp {
    private final int d, inner;
    private final ParameterView gate, up, down;

    GatedMlp(GsaLayout layout, int layer) {
        this.d = layout.config().hiddenSize();
        this.inner = layout.config().intermediateSize();
        this.gate = layout.get(Kind.GATE_PROJ, layer);
        this.up = layout.get(Kind.UP_PROJ, layer);
        this.down = layout.get(Kind.DOWN_PROJ, layer);
    }

    List<ParameterView> views() {
        return List.of(gate, up, down);
    }

    /** The two projections, their gated product and the output. */
    record Pass(int rows, float[] x, float[] gate, float[] up, float[] h, float[] out) {}

    Pass forward(float[] p, float[] x, int rows) {
        float[] g = new float[rows * inner], u = new float[rows * inner], h = new float[rows * inner];
        Linear.forward(g, 0, x, 0, p, gate.arrayOffset(), null, 0, rows, d, inner);
        Linear.forward(u, 0, x, 0, p, up.arrayOffset(), null, 0, rows, d, inner);
        SwiGlu.forward(h, 0, g, 0, u, 0, rows * inner);
        float[] out = new float[rows * d];
        Linear.forward(out, 0, h, 0, p, down.arrayOffset(), null, 0, rows, inner, d);
        return new Pass(rows, x, g, u, h, out);
    }

    /** Adds {@code dL/dx} to dx (null: not wanted) and the trainable weights' gradients to grads. */
    void backward(Pass f, float[] dOut, float[] dx, float[] p, float[] grads, ParameterGroup trainable) {
        int rows = f.rows();
        float[] dGate = GsaMixer.grad(grads, gate, trainable), dUp = GsaMixer.grad(grads, up, trainable);
        float[] dDown = GsaMixer.grad(grads, down, trainable);
        boolean below = dx != null || dGate != null || dUp != null;
        float[] dh = below ? new float[rows * inner] : null;
        if (dh == null && dDown == null) return;
        Linear.backward(dh, 0, dDown, down.arrayOffset(), null, 0, dOut, 0, f.h(), 0, p, down.arrayOffset(), rows, inner, d);
        if (!below) return;
        float[] dg = new float[rows * inner], du = new float[rows * inner];
        SwiGlu.backward(dg, 0, du, 0, dh, 0, f.gate(), 0, f.up(), 0, rows * inner);
        if (dx != null || dGate != null) {
            Linear.backward(dx, 0, dGate, gate.arrayOffset(), null, 0, dg, 0, f.x(), 0, p, gate.arrayOffset(), rows, d, inner);
        }
        if (dx != null || dUp != null) {
            Linear.backward(dx, 0, dUp, up.arrayOffset(), null, 0, du, 0, f.x(), 0, p, up.arrayOffset(), rows, d, inner);
        }
    }
}
