package gsat2r.training;

import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.SafeTensors;
import gsat2r.core.safetensors.TensorSpec;
import gsat2r.core.safetensors.TensorWriter;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What the trainer needs from a device: a frozen teacher and a trainable GSA student, both resident on
 * the backend (CPU or CUDA), with the student's gradients, optimizer moments and LoRA adapters. The
 * trainer owns everything else (recipe, data order, schedule, accumulation, clipping decision,
 * checkpoints, metrics) and talks to the device only through this interface, so that the whole training
 * loop is tested on the CPU. A {@link Device} opens one for a {@link BackendRequest}.
 *
 * <p>One optimizer step is: {@link #forwardBackward} for each micro-batch (gradients accumulate),
 * {@link #gradientNorm}, then {@link #optimizerStep} (which also zeroes the gradients). Logits and
 * activations never leave the device; what crosses the interface is token ids in and a few sums out.
 *
 * <p>Every backend is a rank of its request's process group; a single process is a group of one. With
 * several ranks (data parallelism, docs/distributed.md) each rank runs its own micro-batches; the last
 * micro-batch of a step ({@code lastOfStep}) also starts summing the step's gradients across the ranks,
 * bucket by bucket as the backward makes them final; {@link #gradientNorm} waits for that sum (the same
 * norm on every rank); {@link #optimizerStep} updates this rank's shard of the trainable tensors with its
 * shard of the moments (ZeRO stage 1) and gathers the parameters; {@link #writeState} is collective
 * (rank 0 passes the writer, the others {@code null}) and writes the whole state under the names of a
 * single process, so that a checkpoint resumes on any number of ranks. Calls that are collective come in
 * the same order on every rank.
 *
 * <p>Contract (checked for every implementation by {@code TrainingBackendContract} in this module's
 * test jar):
 * <ul>
 * <li>Deterministic: the same calls on a freshly opened backend give the same bits (exact resume
 *     depends on it).</li>
 * <li>{@link #writeState} then, on a fresh backend, {@link #setTrainable} with the same set and
 *     {@link #readState}, restores the training state exactly: the next steps give the same bits.</li>
 * <li>{@link #evaluate} changes nothing.</li>
 * <li>Calls come from one thread.</li>
 * <li>Running out of device memory is reported as {@link BackendOutOfMemoryException}.</li>
 * </ul>
 */
public interface TrainingBackend extends AutoCloseable {

    /** For logs: device and precision, e.g. {@code "cpu (fp32, 16 threads)"}. */
    String description();

    int vocabSize();

    /** Every parameter of the student, in a stable order (fla names and shapes). */
    List<ParameterInfo> parameters();

    /**
     * Makes {@code set} the trainable parameters from now on, with zero gradients and fresh (zero)
     * AdamW moments. For {@link TrainableSet.Lora} it creates the adapters, A drawn from
     * {@code seed} (deterministically), B zero. Adapters of an earlier stage must have been merged.
     * Returns the trainable tensors (for LoRA, the adapter tensors) in a stable order.
     */
    List<ParameterInfo> setTrainable(TrainableSet set, long seed);

    /**
     * Forward and backward of {@code objective} on one micro-batch: adds
     * {@code gradScale · ∂(sum of the per-position losses)/∂θ} to the gradient of every trainable
     * parameter θ, and returns the loss sums. For {@link Objective.AttentionTransfer} only GSA-layer
     * parameters get gradient (the trainable set must not include others). {@code lastOfStep}: this is
     * the step's last micro-batch on this rank (with several ranks, its backward starts the cross-rank sum
     * of the step's gradients; alone, it changes nothing).
     */
    LossSums forwardBackward(Objective objective, TokenBatch batch, double gradScale, boolean lastOfStep);

    /** The loss sums of {@code objective} on one batch without gradients (plus {@code top1} for distill). */
    LossSums evaluate(Objective objective, TokenBatch batch);

    /** The global L2 norm of the accumulated gradients of all trainable parameters (summed in fp64). */
    double gradientNorm();

    /** Applies one AdamW update to every trainable parameter (see {@link AdamWStep}), then zeroes the gradients. */
    void optimizerStep(AdamWStep step);

    /**
     * Folds LoRA adapters into their base weights, {@code W += (α/R)·B·A}, and removes them (with their
     * gradients and moments: nothing is trainable until the next {@link #setTrainable}); no-op without adapters.
     */
    void mergeLora();

    /**
     * The running stage's LoRA adapters, their factors in fp32 ({@code <tensor stem>.lora_A.weight [R, in]},
     * {@code .lora_B.weight [out, R]}, in a stable order), for writing a PEFT adapter before
     * {@link #mergeLora}; empty without adapters.
     */
    Map<String, float[]> loraFactors();

    /**
     * The tensors of the training state, all F32, named by {@link StateNames}: the student tensors that
     * training has changed so far, the LoRA adapters, and the AdamW moments of the trainable set.
     * {@link #writeState} writes exactly these.
     */
    List<TensorSpec> stateSpecs();

    /** The state's metadata: at least {@link StateNames#BASE_FINGERPRINT}, checked by {@link #readState}. */
    Map<String, String> stateMetadata();

    /** Writes the tensors of {@link #stateSpecs} into {@code out}, in that order (the caller commits); collective, see above. */
    void writeState(TensorWriter out);

    /**
     * Restores a state written by {@link #writeState} after {@link #setTrainable} with the same set; fails
     * with one line when the state was made from another base student.
     */
    void readState(SafeTensors in);

    /**
     * Writes the student as an fla-format model directory into {@code dir} (an existing empty
     * directory): {@code config.json} with {@code model_type "gsa"} and the weights in {@code dtype}
     * (F32 or BF16), sharded as transformers shards them. The trainer adds the tokenizer files. Fails while
     * LoRA adapters are unmerged.
     */
    void saveStudent(Path dir, DType dtype);

    /** A copy of a parameter's values (row-major fp32), for tests and diagnostics. */
    float[] readParameter(String name);

    /** Overwrites a parameter's values, for tests and diagnostics. */
    void writeParameter(String name, float[] values);

    /** A copy of a trainable parameter's accumulated gradient, for tests and diagnostics. */
    float[] readGradient(String name);

    @Override
    void close();
}
