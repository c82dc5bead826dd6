package gsat2r.training;

import gsat2r.core.data.synthetic.SyntheticKind;

import java.util.Map;

/**
 * What a stage minimises, as the backend computes it on one batch. Every objective is a sum over the
 * batch's positions of a per-position loss; {@link LossSums} returns the sums, and the trainer divides
 * by the positions of the whole optimizer step (so the gradient is that of the step's mean loss,
 * whatever the split into micro-batches).
 *
 * <ul>
 * <li>{@link AttentionTransfer}: for each GSA layer l and position p,
 *     {@code mse_l(p) = mean_j (y_l(p)_j − a_l(p)_j)²}, where {@code a_l} is the teacher's self-attention
 *     output of layer l (after o_proj, what the teacher adds to its residual stream) and {@code y_l} the
 *     student's GSA layer l (q, k, v, f projections, the slot recurrence, g_norm, o_proj) applied to
 *     {@code attn_norm_l(h_l)}, {@code h_l} being the teacher's own hidden state entering layer l. Layers
 *     are independent: layer l's parameters get gradient from {@code mse_l} only, and nothing outside the
 *     GSA layers is needed. Per-position loss {@code Σ_l mse_l(p)}. Terms: {@code loss}, {@code mse.<l>}
 *     for each GSA layer l (layers kept as softmax attention have no term). With {@link HiddenStates#STUDENT},
 *     {@code h_l} is instead the student's own hidden state entering its layer l (its forward pass, every
 *     layer below as it is now) and {@code a_l} the teacher's layer-l attention on that same residual
 *     ({@code o_proj(attention(input_layernorm_T(h_l)))}): each GSA layer learns from what the student's
 *     layers below it write. The gradient still stops at each layer's input (a stop-gradient on {@code h_l}),
 *     so layer l's parameters get gradient from {@code mse_l} only, not through the layers above.</li>
 * <li>{@link Distill}: {@code (1 − w)·τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) + w·CE(z_S, target)}
 *     with the teacher's and the student's logits z_T, z_S at the position; τ the temperature, w the CE
 *     mix weight. The τ² factor keeps gradient sizes comparable across temperatures (Hinton et al.).
 *     Terms: {@code loss}, {@code kl} (at τ, without the τ² factor), {@code ce}; from
 *     {@link TrainingBackend#evaluate} also {@code top1}: the count of positions where the student's
 *     most likely token is the teacher's. With a recall weight r ≠ 1, a position whose target repeats an
 *     earlier trigram of its sequence ({@link RecallPositions}) counts r times: its loss, its terms and its
 *     gradient are multiplied by r (the sums' position count stays the number of positions); with an
 *     answer weight a ≠ 1, a position whose target is a recall target of a synthetic document (the batch's
 *     {@link TokenBatch#answers}) is multiplied by a as well (r·a where it is both), or by its kind's own
 *     answer weight where one is given. Evaluation is never weighted.</li>
 * <li>{@link LanguageModeling}: {@code CE(z_S, target)}. Terms: {@code loss}, {@code ce}.</li>
 * </ul>
 */
public sealed interface Objective {

    /** The largest recall weight a recipe may ask for. */
    double MAX_RECALL_WEIGHT = 100;

    /** The name used in recipes ({@code stages[i].type}) and metrics. */
    String type();

    record AttentionTransfer(HiddenStates states) implements Objective {
        public AttentionTransfer {
            java.util.Objects.requireNonNull(states, "states");
        }

        /** On the teacher's hidden states. */
        public AttentionTransfer() {
            this(HiddenStates.TEACHER);
        }

        @Override
        public String type() {
            return "attention-transfer";
        }

        /** Attention transfer trains GSA-layer tensors of the attn modules only: fails naming the first other tensor. */
        public static void requireMixerTensors(java.util.List<gsat2r.core.model.gsa.ParameterView> trainable, gsat2r.core.config.GsaConfig c) {
            for (gsat2r.core.model.gsa.ParameterView v : trainable) {
                if (v.layer() < 0 || !c.isGsaLayer(v.layer()) || !v.kind().isMixer()) {
                    throw new IllegalStateException("attention transfer trains GSA-layer tensors only, not " + v.name());
                }
            }
        }
    }

    /** Whose residual stream each GSA layer of attention transfer runs on (recipe field {@code hidden_states}). */
    enum HiddenStates {
        TEACHER, STUDENT;

        /** The recipe's spelling. */
        public String spelling() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /** The value {@link #spelling} spells. */
        public static HiddenStates of(String spelling) {
            for (HiddenStates h : values()) if (h.spelling().equals(spelling)) return h;
            throw new IllegalArgumentException("no hidden states \"" + spelling + "\"");
        }
    }

    /**
     * @param answerWeight  the weight of a recall target of a synthetic document
     * @param answerWeights the weights of the recall targets of the kinds named (by {@link SyntheticKind#NAMES}), in
     *                      place of {@code answerWeight}
     */
    record Distill(double temperature, double ceWeight, double recallWeight, double answerWeight, Map<String, Double> answerWeights)
            implements Objective {
        public Distill {
            if (!(temperature > 0)) throw new IllegalArgumentException("temperature must be > 0");
            if (!(ceWeight >= 0 && ceWeight <= 1)) throw new IllegalArgumentException("ce_weight must be in [0, 1]");
            if (!(recallWeight >= 0 && recallWeight <= MAX_RECALL_WEIGHT)) {
                throw new IllegalArgumentException("recall_weight must be in [0, " + (int) MAX_RECALL_WEIGHT + "]");
            }
            if (!(answerWeight >= 0 && answerWeight <= MAX_RECALL_WEIGHT)) {
                throw new IllegalArgumentException("answer_weight must be in [0, " + (int) MAX_RECALL_WEIGHT + "]");
            }
            answerWeights = Map.copyOf(answerWeights);
            for (var e : answerWeights.entrySet()) {
                if (!SyntheticKind.isName(e.getKey())) {
                    throw new IllegalArgumentException("answer_weights: no synthetic kind \"" + e.getKey() + "\"");
                }
                if (!(e.getValue() >= 0 && e.getValue() <= MAX_RECALL_WEIGHT)) {
                    throw new IllegalArgumentException("answer_weights." + e.getKey() + " must be in [0, " + (int) MAX_RECALL_WEIGHT + "]");
                }
            }
        }

        /** One answer weight for every kind. */
        public Distill(double temperature, double ceWeight, double recallWeight, double answerWeight) {
            this(temperature, ceWeight, recallWeight, answerWeight, Map.of());
        }

        /** Without answer weighting. */
        public Distill(double temperature, double ceWeight, double recallWeight) {
            this(temperature, ceWeight, recallWeight, 1);
        }

        /** Without recall or answer weighting. */
        public Distill(double temperature, double ceWeight) {
            this(temperature, ceWeight, 1);
        }

        /** The answer weight of the recall targets of kind {@code name}. */
        public double answerWeightOf(String name) {
            return answerWeights.getOrDefault(name, answerWeight);
        }

        /** Whether training batches must say which targets are recall targets ({@link TokenBatch#answers}). */
        public boolean needsAnswers() {
            return SyntheticKind.NAMES.stream().anyMatch(k -> answerWeightOf(k) != 1);
        }

        /**
         * The loss weight of each target position of a training batch, or null when every position counts once: the
         * recall weight where the target repeats an earlier trigram ({@link RecallPositions}), times the answer weight of
         * its kind where it is a recall target of a synthetic document (as the batch marks them).
         */
        public float[] positionWeights(TokenBatch batch) {
            float[] w = RecallPositions.weights(batch, recallWeight);
            if (!needsAnswers() || batch.answers() == null) return w;
            float[] byMark = new float[SyntheticKind.NAMES.size() + 1];
            byMark[0] = 1;
            for (String k : SyntheticKind.NAMES) byMark[SyntheticKind.answerMark(k)] = (float) answerWeightOf(k);
            int B = batch.sequences(), T = batch.length();
            if (w == null) {
                w = new float[B * T];
                java.util.Arrays.fill(w, 1f);
            }
            for (int s = 0; s < B; s++) {
                for (int t = 0; t < T; t++) w[s * T + t] *= byMark[batch.answerMark(s, t)];
            }
            return w;
        }

        @Override
        public String type() {
            return "distill";
        }
    }

    record LanguageModeling() implements Objective {
        @Override
        public String type() {
            return "finetune";
        }
    }

    /** Whether the teacher must run for this objective. */
    default boolean needsTeacher() {
        return !(this instanceof LanguageModeling);
    }
}
