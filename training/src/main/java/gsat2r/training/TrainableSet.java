package gsat2r.training;

/**
 * Which student parameters a stage trains (recipe field {@code stages[i].trainable}):
 * <ul>
 * <li>{@code gates}: the new GSA parameters of every GSA layer, {@code attn.f_proj} (the slot gates) and
 *     {@code attn.g_norm} (the output norm's gain);</li>
 * <li>{@code attention}: every parameter of every GSA layer: {@code attn.q_proj}, {@code k_proj},
 *     {@code v_proj}, {@code f_proj}, {@code g_norm}, {@code o_proj} (layers kept as softmax attention,
 *     the block norms, the MLPs, embeddings and head stay frozen);</li>
 * <li>{@code lora:R}: low-rank adapters of rank R on {@code q_proj}, {@code k_proj}, {@code v_proj},
 *     {@code o_proj} of every GSA layer, {@code W x + (α/R)·B(A x)} with A {@code [R, in]} drawn from
 *     N(0, 1/in) and B {@code [out, R]} zero (so training starts from the unadapted model); only the
 *     adapters train; at the end of the stage they are merged, {@code W += (α/R)·B·A}. α is the stage's
 *     {@code lora_alpha} (default 2R);</li>
 * <li>{@code all}: every parameter of the student.</li>
 * </ul>
 */
public sealed interface TrainableSet {

    /** The recipe spelling: {@code gates}, {@code attention}, {@code all}, {@code lora:8}. */
    String spelling();

    record Gates() implements TrainableSet {
        @Override
        public String spelling() {
            return "gates";
        }
    }

    record Attention() implements TrainableSet {
        @Override
        public String spelling() {
            return "attention";
        }
    }

    record All() implements TrainableSet {
        @Override
        public String spelling() {
            return "all";
        }
    }

    record Lora(int rank, double alpha) implements TrainableSet {
        public Lora {
            if (rank < 1) throw new IllegalArgumentException("LoRA rank must be >= 1");
            if (!(alpha > 0)) throw new IllegalArgumentException("lora_alpha must be > 0");
        }

        /** The factor α/R of the adapter's output. */
        public double scale() {
            return alpha / rank;
        }

        @Override
        public String spelling() {
            return "lora:" + rank;
        }
    }
}
