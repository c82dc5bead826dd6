package gsat2r.gpumodels;

import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TrainableSet;

import java.util.ArrayList;
import java.util.List;

/**
 * What a stage trains on the GPU, as the optimizer and the state see it: whole student tensors
 * ({@link Tensors}) or LoRA adapters ({@link Adapters}), each a list of {@link DeviceDataParallel.Tensor}
 * (fp32 values, their compute copy or null, fp32 gradient).
 */
sealed interface CudaTrainable permits CudaTrainable.Tensors, CudaTrainable.Adapters, CudaTrainable.Nothing {

    List<DeviceDataParallel.Tensor> tensors();

    /** The student tensors whose gradients the student's backward computes (adapters are found through the student). */
    ParameterGroup backwardGroup();

    /** Layout offsets of the tensors, ascending, for telling the data-parallel reduction which are final; empty: all at the end. */
    long[] layoutOffsets();

    /** After the factors or weights changed outside the optimizer: compute copies must follow. */
    default void refresh() {}

    default DeviceDataParallel.Tensor find(String name) {
        for (DeviceDataParallel.Tensor t : tensors()) if (t.info().name().equals(name)) return t;
        return null;
    }

    static CudaTrainable of(TrainableSet set, GsaModel student, long seed) {
        return switch (set) {
            case TrainableSet.Lora l -> new Adapters(student, new LoraGpu(student.gpu(), student.type(), student.layout, l.rank(), l.scale(), seed));
            case TrainableSet.Gates x -> new Tensors(student, student.layout.group("gates"));
            case TrainableSet.Attention x -> new Tensors(student, student.layout.group("attention"));
            case TrainableSet.All x -> new Tensors(student, student.layout.group("all"));
        };
    }

    /** Nothing trains (before the first stage, after a LoRA merge). */
    record Nothing() implements CudaTrainable {
        @Override
        public List<DeviceDataParallel.Tensor> tensors() {
            return List.of();
        }

        @Override
        public ParameterGroup backwardGroup() {
            return new ParameterGroup("none", List.of());
        }

        @Override
        public long[] layoutOffsets() {
            return new long[0];
        }
    }

    /** Whole student tensors: their fp32 masters (made now if they had none), compute copies, gradients. */
    final class Tensors implements CudaTrainable {
        private final ParameterGroup group;
        private final List<DeviceDataParallel.Tensor> tensors = new ArrayList<>();

        Tensors(GsaModel student, ParameterGroup group) {
            this.group = group;
            StudentWeights w = student.weights;
            w.setTrainable(group.views());
            for (ParameterView v : group.views()) {
                tensors.add(new DeviceDataParallel.Tensor(new ParameterInfo(v.name(), v.shape()), w.master(v), w.computeCopyOf(v), w.gradient(v)));
            }
        }

        @Override
        public List<DeviceDataParallel.Tensor> tensors() {
            return tensors;
        }

        @Override
        public ParameterGroup backwardGroup() {
            return group;
        }

        @Override
        public long[] layoutOffsets() {
            return group.views().stream().mapToLong(ParameterView::offset).toArray();
        }
    }

    /** LoRA adapters on the student's GSA projections (the student's backward takes their gradients). */
    final class Adapters implements CudaTrainable {
        final LoraGpu lora;
        private final List<DeviceDataParallel.Tensor> tensors = new ArrayList<>();

        Adapters(GsaModel student, LoraGpu lora) {
            this.lora = lora;
            student.weights.setTrainable(List.of());
            student.lora = lora;
            for (LoraGpu.Adapter ad : lora.adapters) {
                tensors.add(new DeviceDataParallel.Tensor(ad.infoA, ad.a, ad.aw == ad.a ? null : ad.aw, ad.gradA));
                tensors.add(new DeviceDataParallel.Tensor(ad.infoB, ad.b, ad.bw == ad.b ? null : ad.bw, ad.gradB));
            }
        }

        @Override
        public List<DeviceDataParallel.Tensor> tensors() {
            return tensors;
        }

        @Override
        public ParameterGroup backwardGroup() {
            return new ParameterGroup("none", List.of());
        }

        @Override
        public long[] layoutOffsets() {
            return new long[0];
        }

        @Override
        public void refresh() {
            lora.refresh();
        }
    }
}
