package gsat2r.cputrain;

import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.training.AdamWStep;
import gsat2r.training.StateNames;
import gsat2r.training.optim.AdamW;

import java.util.ArrayList;
import java.util.List;

/**
 * The AdamW state of the trainable tensors on the CPU and how a step updates them: {@link Local} (one
 * process: the moments of every tensor here) or {@link Sharded} (a rank of several: the gradients are
 * summed across ranks and each rank keeps the moments of its shard, {@link HostDataParallel}).
 */
sealed interface CpuOptimizer permits CpuOptimizer.Local, CpuOptimizer.Sharded {

    /** A new stage's tensors, with fresh (zero) moments. */
    void setTrainable(List<CpuTensor> tensors);

    /** The global L2 norm of the (summed) gradients. */
    double gradientNorm();

    /** One AdamW update, then the gradients are zeroed. */
    void step(AdamWStep step);

    /** Writes {@code adam_m/} and {@code adam_v/} of every tensor (collective when sharded: {@code out} null on ranks > 0). */
    void writeMoments(TensorWriter out);

    void readMoments(SafeTensors in);

    /** One process: moments beside each tensor. */
    final class Local implements CpuOptimizer {
        private List<CpuTensor> tensors = List.of();
        private final List<float[]> m = new ArrayList<>(), v = new ArrayList<>();

        @Override
        public void setTrainable(List<CpuTensor> tensors) {
            this.tensors = List.copyOf(tensors);
            m.clear();
            v.clear();
            for (CpuTensor t : tensors) {
                m.add(new float[t.size()]);
                v.add(new float[t.size()]);
            }
        }

        @Override
        public double gradientNorm() {
            double s = 0;
            for (CpuTensor t : tensors) s = t.addSquaredGradient(s);
            return Math.sqrt(s);
        }

        @Override
        public void step(AdamWStep step) {
            for (int i = 0; i < tensors.size(); i++) {
                CpuTensor t = tensors.get(i);
                AdamW.update(t.values(), t.offset(), t.grad(), t.offset(), m.get(i), v.get(i), 0, t.size(), step.of(t.info()),
                        step.weightDecayOf(t.info()));
                t.zeroGradient();
            }
        }

        @Override
        public void writeMoments(TensorWriter out) {
            for (int i = 0; i < tensors.size(); i++) {
                String name = tensors.get(i).info().name();
                out.write(StateNames.adamM(name), m.get(i));
                out.write(StateNames.adamV(name), v.get(i));
            }
        }

        @Override
        public void readMoments(SafeTensors in) {
            for (int i = 0; i < tensors.size(); i++) {
                CpuTensor t = tensors.get(i);
                CpuGsaBackend.read(in, StateNames.adamM(t.info().name()), t.info().shape(), m.get(i), 0);
                CpuGsaBackend.read(in, StateNames.adamV(t.info().name()), t.info().shape(), v.get(i), 0);
            }
        }
    }

    /** A rank of several: the sharded optimizer of {@link HostDataParallel}. */
    record Sharded(HostDataParallel dp) implements CpuOptimizer {
        @Override
        public void setTrainable(List<CpuTensor> tensors) {
            dp.setTrainable(tensors.stream().map(t -> new HostDataParallel.Tensor(t.info(), t.values(), t.grad(), t.offset())).toList());
        }

        @Override
        public double gradientNorm() {
            return dp.gradientNorm();
        }

        @Override
        public void step(AdamWStep step) {
            dp.optimizerStep(step);
        }

        @Override
        public void writeMoments(TensorWriter out) {
            dp.writeMoments(out);
        }

        @Override
        public void readMoments(SafeTensors in) {
            dp.readMoments(in);
        }
    }
}
