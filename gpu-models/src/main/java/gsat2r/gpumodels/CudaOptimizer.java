package gsat2r.gpumodels;

import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.AdamW;
import gsat2r.gpu.ops.Reduce;
import gsat2r.training.AdamWStep;
import gsat2r.training.ParameterInfo;
import gsat2r.training.StateNames;

import java.util.ArrayList;
import java.util.List;

/**
 * The AdamW state of the trainable tensors on the GPU and how a step updates them: {@link Local} (one
 * process: moments beside every tensor) or {@link Sharded} (a rank of several: the gradients are summed
 * across ranks during the backward and each rank keeps the moments of its shard, {@link DeviceDataParallel}).
 */
sealed interface CudaOptimizer extends AutoCloseable permits CudaOptimizer.Local, CudaOptimizer.Sharded {

    /** A new stage's tensors, with fresh (zero) moments. */
    void setTrainable(List<DeviceDataParallel.Tensor> tensors);

    /** The global L2 norm of the (summed) gradients, fp64. */
    double gradientNorm();

    /** One AdamW update (the gradients scaled by the clip factor on the device), then zero gradients. */
    void step(AdamWStep step, DeviceBuffer clipFactor);

    void writeMoments(TensorWriter out);

    void readMoments(SafeTensors in);

    /** Device bytes of the moments this rank holds. */
    long bytes();

    @Override
    void close();

    /** The kernel's hyper-parameters for tensor {@code p} at {@code step}: its own learning rate and weight decay. */
    static AdamW.Hyper hyper(AdamWStep step, ParameterInfo p) {
        return new AdamW.Hyper((float) step.of(p).lr(), (float) step.beta1(), (float) step.beta2(), (float) step.eps(),
                (float) step.weightDecayOf(p));
    }

    /** One process: an fp32 m and v per tensor. */
    final class Local implements CudaOptimizer {
        private final Gpu gpu;
        private final DeviceBuffer norm;
        private List<DeviceDataParallel.Tensor> tensors = List.of();
        private final List<DeviceBuffer> m = new ArrayList<>(), v = new ArrayList<>();

        Local(Gpu gpu) {
            this.gpu = gpu;
            this.norm = gpu.i32(2);
        }

        @Override
        public void setTrainable(List<DeviceDataParallel.Tensor> tensors) {
            freeMoments();
            this.tensors = List.copyOf(tensors);
            for (DeviceDataParallel.Tensor t : tensors) {
                DeviceBuffer mm = gpu.f32(t.info().numel()), vv = gpu.f32(t.info().numel());
                mm.zero();
                vv.zero();
                m.add(mm);
                v.add(vv);
            }
        }

        @Override
        public double gradientNorm() {
            if (tensors.isEmpty()) return 0;
            Reduce.sumF64(gpu, norm, tensors.stream().map(DeviceDataParallel.Tensor::grad).toList(), true);
            return Math.sqrt(Reduce.readDoubles(norm)[0]);
        }

        @Override
        public void step(AdamWStep step, DeviceBuffer clipFactor) {
            for (int i = 0; i < tensors.size(); i++) {
                DeviceDataParallel.Tensor t = tensors.get(i);
                AdamW.step(gpu, hyper(step, t.info()), step.step(), t.values(), t.work(), t.grad(), m.get(i), v.get(i), clipFactor);
                t.grad().zero();
            }
        }

        @Override
        public void writeMoments(TensorWriter out) {
            for (int i = 0; i < tensors.size(); i++) {
                String name = tensors.get(i).info().name();
                DeviceBuffer mm = m.get(i), vv = v.get(i);
                out.write(StateNames.adamM(name), sink -> StudentWeights.streamDevice(mm, sink));
                out.write(StateNames.adamV(name), sink -> StudentWeights.streamDevice(vv, sink));
            }
        }

        @Override
        public void readMoments(SafeTensors in) {
            for (int i = 0; i < tensors.size(); i++) {
                DeviceDataParallel.Tensor t = tensors.get(i);
                in.expect(StateNames.adamM(t.info().name()), t.info().shape());
                in.expect(StateNames.adamV(t.info().name()), t.info().shape());
                ComputeType.upload(m.get(i), in, StateNames.adamM(t.info().name()));
                ComputeType.upload(v.get(i), in, StateNames.adamV(t.info().name()));
            }
        }

        @Override
        public long bytes() {
            long n = 0;
            for (DeviceBuffer b : m) n += 2 * b.byteSize();
            return n;
        }

        private void freeMoments() {
            for (DeviceBuffer b : m) b.close();
            for (DeviceBuffer b : v) b.close();
            m.clear();
            v.clear();
        }

        @Override
        public void close() {
            freeMoments();
            norm.close();
        }
    }

    /** A rank of several: ZeRO-1 through {@link DeviceDataParallel}. */
    final class Sharded implements CudaOptimizer {
        private final Gpu gpu;
        final DeviceDataParallel dp;
        private final DeviceBuffer norm;
        private List<DeviceDataParallel.Tensor> tensors = List.of();

        Sharded(Gpu gpu, DeviceDataParallel dp) {
            this.gpu = gpu;
            this.dp = dp;
            this.norm = gpu.i32(2);
        }

        @Override
        public void setTrainable(List<DeviceDataParallel.Tensor> tensors) {
            this.tensors = List.copyOf(tensors);
            dp.setTrainable(tensors);
        }

        @Override
        public double gradientNorm() {
            dp.awaitReduction();               // every rank now holds the summed gradients: the same norm everywhere
            if (tensors.isEmpty()) return 0;
            Reduce.sumF64(gpu, norm, tensors.stream().map(DeviceDataParallel.Tensor::grad).toList(), true);
            return Math.sqrt(Reduce.readDoubles(norm)[0]);
        }

        @Override
        public void step(AdamWStep step, DeviceBuffer clipFactor) {
            dp.awaitReduction();
            dp.optimizerStep(step, clipFactor);
            for (DeviceDataParallel.Tensor t : tensors) t.grad().zero();
        }

        @Override
        public void writeMoments(TensorWriter out) {
            dp.writeMoments(out);
        }

        @Override
        public void readMoments(SafeTensors in) {
            dp.readMoments(in);
        }

        @Override
        public long bytes() {
            return dp.momentBytes();
        }

        @Override
        public void close() {
            dp.close();
            norm.close();
        }
    }
}
