package gsat2r.gpumodels;

import gsat2r.core.T2rException;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.gsa.GsaLayout;
import gsat2r.core.model.gsa.ParameterView;
import gsat2r.core.model.llama.LlamaTensor;
import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorInfo;
import gsat2r.core.safetensors.TensorSink;
import gsat2r.core.safetensors.TensorWriter;
import gsat2r.gpu.DeviceBuffer;
import gsat2r.gpu.ElementType;
import gsat2r.gpu.Gpu;
import gsat2r.gpu.ops.Convert;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GSA student's tensors on the device, one allocation each, held as lean as training allows:
 * <ul>
 * <li>a tensor no stage has trained lives only in the compute type (bf16, or fp32 in fp32 precision), read
 *     from the student's files tensor by tensor; when it holds the same values as the teacher's tensor it
 *     was converted from (embeddings, norms, MLP, head), it is the teacher's own device memory;</li>
 * <li>a tensor some stage trains gets an fp32 master, read from the files when it first trains (so its
 *     values are the stored ones, not their bf16 rounding), and keeps it; its compute copy is its own
 *     (refreshed from the master after each update), or the master itself in fp32 precision;</li>
 * <li>an fp32 gradient exists only while the tensor is trainable.</li>
 * </ul>
 * The student's files stay mapped: they are the frozen base, what a tensor that never trained is saved as.
 */
final class StudentWeights implements AutoCloseable {

    private static final class Slot {
        final ParameterView view;
        DeviceBuffer compute;
        boolean shared;
        DeviceBuffer master, grad;

        Slot(ParameterView view) {
            this.view = view;
        }
    }

    private final Gpu gpu;
    private final ElementType type;
    private final ModelDirectory dir;
    private final GsaLayout layout;
    private final SafeTensors files;
    private final Map<String, Slot> slots = new LinkedHashMap<>();

    /**
     * Loads {@code dir}'s tensors in {@code type}, sharing with {@code teacher} (may be null) every frozen
     * tensor whose values equal those of the teacher tensor it was converted from.
     */
    StudentWeights(Gpu gpu, ModelDirectory dir, GsaLayout layout, ElementType type, LlamaModel teacher) {
        this.gpu = gpu;
        this.type = type;
        this.dir = dir;
        this.layout = layout;
        this.files = dir.openWeights();
        try (SafeTensors teacherFiles = teacher == null ? null : teacher.dir().openWeights()) {
            for (ParameterView v : layout.views()) {
                TensorInfo info = files.expect(v.name(), v.shape());
                if (!info.dtype().isFloating()) {
                    throw new T2rException(info.file() + ": tensor '" + v.name() + "' is " + info.dtype() + ", expected a floating type");
                }
                Slot s = new Slot(v);
                slots.put(v.name(), s);
                DeviceBuffer same = teacherFiles == null ? null : sameAsTeacher(v, teacher, teacherFiles);
                if (same != null) {
                    s.compute = same;
                    s.shared = true;
                } else {
                    s.compute = gpu.allocate(type, v.size());
                    ComputeType.upload(s.compute, files, v.name());
                }
            }
            refuseUnexpected();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The teacher's device tensor when it holds exactly this student tensor's values in the compute type, else null. */
    private DeviceBuffer sameAsTeacher(ParameterView v, LlamaModel teacher, SafeTensors teacherFiles) {
        LlamaTensor source = LlamaTensor.sourceOf(v.kind());
        if (source == null || teacher.type() != type) return null;
        String name = source.hfName(Math.max(v.layer(), 0));
        if (!teacherFiles.has(name)) return null;
        return ComputeType.sameValues(files, v.name(), teacherFiles, name, type) ? teacher.tensor(source, v.layer()) : null;
    }

    private void refuseUnexpected() {
        for (String name : files.tensors().keySet()) {
            boolean ignorable = layout.config().tieWordEmbeddings() && name.equals("lm_head.weight");
            if (!slots.containsKey(name) && !ignorable) {
                throw new T2rException(files.info(name).file() + ": unexpected tensor '" + name + "' for this config.json ("
                        + layout.config().layerPlan() + ")");
            }
        }
    }

    private Slot slot(ParameterView v) {
        Slot s = slots.get(v.name());
        if (s == null) throw new IllegalArgumentException("no tensor " + v.name() + " in the student " + dir);
        return s;
    }

    ElementType type() {
        return type;
    }

    /** What the kernels read for {@code v}. */
    DeviceBuffer compute(ParameterView v) {
        return slot(v).compute;
    }

    /** The fp32 gradient of a trainable tensor. */
    DeviceBuffer gradient(ParameterView v) {
        DeviceBuffer g = slot(v).grad;
        if (g == null) throw new IllegalStateException(v.name() + " is not trainable now");
        return g;
    }

    /** Whether a stage has trained {@code v} (it has an fp32 master). */
    boolean changed(ParameterView v) {
        return slot(v).master != null;
    }

    /** Whether {@code v} is the teacher's memory. */
    boolean shared(ParameterView v) {
        return slot(v).shared;
    }

    /** The fp32 master of {@code v}, made from the student's files the first time. */
    DeviceBuffer master(ParameterView v) {
        Slot s = slot(v);
        if (s.master != null) return s.master;
        DeviceBuffer m = gpu.f32(v.size());
        ComputeType.upload(m, files, v.name());
        s.master = m;
        if (type == ElementType.F32) {
            if (!s.shared) s.compute.close();
            s.compute = m;
        } else if (s.shared) {
            s.compute = gpu.bf16(v.size());
            Convert.toBf16(gpu, s.compute, m, v.size());
        }
        s.shared = false;
        return m;
    }

    /** Makes {@code views} trainable (masters, zero gradients) and every other tensor frozen (no gradient). */
    void setTrainable(List<ParameterView> views) {
        for (Slot s : slots.values()) {
            if (s.grad != null) s.grad.close();
            s.grad = null;
        }
        for (ParameterView v : views) {
            master(v);
            Slot s = slot(v);
            s.grad = gpu.f32(v.size());
            s.grad.zero();
        }
    }

    /** The compute copy of {@code v} equal to its master again (after the master changed outside the optimizer). */
    void refresh(ParameterView v) {
        Slot s = slot(v);
        if (s.master != null && s.compute != s.master) Convert.toBf16(gpu, s.compute, s.master, v.size());
    }

    /** The compute copy the optimizer refreshes as it updates the master, or null when the master is what the kernels read. */
    DeviceBuffer computeCopyOf(ParameterView v) {
        Slot s = slot(v);
        return s.compute == s.master ? null : s.compute;
    }

    /** The values of {@code v} as the run has them: the master once trained, else the stored base. */
    void writeValues(ParameterView v, TensorSink sink) {
        Slot s = slot(v);
        if (s.master != null) {
            streamDevice(s.master, sink);
            return;
        }
        TensorInfo info = files.info(v.name());
        MemorySegment bytes = files.bytes(v.name());
        float[] piece = new float[(int) Math.min(ComputeType.PIECE, info.numel())];
        for (long i = 0; i < info.numel(); i += ComputeType.PIECE) {
            int count = (int) Math.min(ComputeType.PIECE, info.numel() - i);
            gsat2r.core.safetensors.Floats.decode(info.dtype(), bytes, i * info.dtype().byteSize(), piece, 0, count);
            sink.putFloats(piece, 0, count);
        }
    }

    /** Streams an fp32 device buffer into {@code sink} in pieces. */
    static void streamDevice(DeviceBuffer b, TensorSink sink) {
        for (long i = 0; i < b.length(); i += ComputeType.PIECE) {
            int count = (int) Math.min(ComputeType.PIECE, b.length() - i);
            float[] piece = b.view(i, count).toFloatArray();
            sink.putFloats(piece, 0, count);
        }
    }

    /**
     * Writes every tensor into {@code out} (a writer in layout order): a tensor never trained is copied from
     * the student's files (bytes as they are when {@code dtype} is theirs), a trained one streamed from its master.
     */
    void writeStudent(TensorWriter out, DType dtype) {
        for (ParameterView v : layout.views()) {
            Slot s = slot(v);
            if (s.master == null && files.info(v.name()).dtype() == dtype) out.write(v.name(), files.bytes(v.name()));
            else out.write(v.name(), sink -> writeValues(v, sink));
        }
    }

    /** Restores {@code v}'s master from an F32 state tensor. */
    void readMaster(ParameterView v, SafeTensors state, String name) {
        state.expect(name, v.shape());
        ComputeType.upload(master(v), state, name);
        refresh(v);
    }

    /** Device bytes this student holds of its own (the teacher's shared tensors not counted), and those it shares. */
    long[] bytes() {
        long own = 0, shared = 0;
        java.util.Set<Long> seen = new java.util.HashSet<>();
        for (Slot s : slots.values()) {
            for (DeviceBuffer b : new DeviceBuffer[] {s.shared ? null : s.compute, s.master == s.compute ? null : s.master, s.grad}) {
                if (b != null && seen.add(b.address())) own += b.byteSize();
            }
            if (s.shared) shared += s.compute.byteSize();
        }
        return new long[] {own, shared};
    }

    /** The student's files (the frozen base). */
    SafeTensors files() {
        return files;
    }

    @Override
    public void close() {
        List<DeviceBuffer> free = new ArrayList<>();
        for (Slot s : slots.values()) {
            if (s.grad != null) free.add(s.grad);
            if (s.master != null) free.add(s.master);
            if (!s.shared && s.compute != null && s.compute != s.master) free.add(s.compute);
        }
        for (DeviceBuffer b : free) b.close();
        slots.clear();
        files.close();
    }
}
