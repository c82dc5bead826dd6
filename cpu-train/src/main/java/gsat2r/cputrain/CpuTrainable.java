package gsat2r.cputrain;

import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.gsa.ParameterGroup;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.training.ParameterInfo;
import gsat2r.training.TrainableSet;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a stage trains on the CPU, as the optimizer and the state see it: whole student tensors
 * ({@link Tensors}: {@code gates}, {@code attention}, {@code all}) or LoRA adapters ({@link Adapters}).
 */
sealed interface CpuTrainable permits CpuTrainable.Tensors, CpuTrainable.Adapters, CpuTrainable.Nothing {

    /** The trainable tensors in a stable order (the optimizer's and the state's). */
    List<CpuTensor> tensors();

    /** The student tensors whose gradients the model's backward must compute. */
    ParameterGroup backwardGroup();

    /** Before a forward: the model must compute with the current adapters. */
    default void beforeForward() {}

    /** After a backward: adapters take their gradients out of the model's. */
    default void afterBackward() {}

    /** After the weights changed (an update, a restore): the model's effective weights are stale. */
    default void weightsChanged() {}

    /** The tensor by name, or null. */
    default CpuTensor find(String name) {
        for (CpuTensor t : tensors()) if (t.info().name().equals(name)) return t;
        return null;
    }

    static CpuTrainable of(TrainableSet set, GsaModel student, long seed) {
        return switch (set) {
            case TrainableSet.Lora l -> new Adapters(new LoraAdapters(student, l.rank(), l.scale(), seed));
            case TrainableSet.Gates x -> new Tensors(student, student.group("gates"));
            case TrainableSet.Attention x -> new Tensors(student, student.group("attention"));
            case TrainableSet.All x -> new Tensors(student, student.group("all"));
        };
    }

    /** Before the first stage and after a LoRA merge: nothing trains. */
    record Nothing() implements CpuTrainable {
        @Override
        public List<CpuTensor> tensors() {
            return List.of();
        }

        @Override
        public ParameterGroup backwardGroup() {
            return new ParameterGroup("none", List.of());
        }
    }

    /** Whole tensors of the student's parameter array. */
    final class Tensors implements CpuTrainable {
        private final ParameterGroup group;
        private final List<CpuTensor> tensors = new ArrayList<>();

        Tensors(GsaModel student, ParameterGroup group) {
            this.group = group;
            for (ParameterView v : group.views()) {
                tensors.add(new CpuTensor(new ParameterInfo(v.name(), v.shape()), student.parameters(), student.gradients(),
                        v.arrayOffset(), v.arraySize()));
            }
        }

        @Override
        public List<CpuTensor> tensors() {
            return tensors;
        }

        @Override
        public ParameterGroup backwardGroup() {
            return group;
        }
    }

    /** LoRA adapters, trained through the effective weights ({@link LoraAdapters}). */
    final class Adapters implements CpuTrainable {
        final LoraAdapters lora;
        private final List<CpuTensor> tensors = new ArrayList<>();

        Adapters(LoraAdapters lora) {
            this.lora = lora;
            for (LoraAdapters.Adapter ad : lora.adapters()) {
                tensors.add(new CpuTensor(ad.infoA, ad.a, ad.gradA, 0, ad.a.length));
                tensors.add(new CpuTensor(ad.infoB, ad.b, ad.gradB, 0, ad.b.length));
            }
        }

        @Override
        public List<CpuTensor> tensors() {
            return tensors;
        }

        @Override
        public ParameterGroup backwardGroup() {
            return lora.targets();
        }

        @Override
        public void beforeForward() {
            lora.materialize();
        }

        @Override
        public void afterBackward() {
            lora.collectGradients();
        }

        @Override
        public void weightsChanged() {
            lora.invalidate();
        }

        /** The factors by adapter name, for a PEFT adapter. */
        Map<String, float[]> factors() {
            Map<String, float[]> out = new LinkedHashMap<>();
            for (LoraAdapters.Adapter ad : lora.adapters()) {
                out.put(ad.infoA.name(), ad.a.clone());
                out.put(ad.infoB.name(), ad.b.clone());
            }
            return out;
        }
    }
}
