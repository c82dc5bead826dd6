package gsat2r.finetune.plan;

import gsat2r.core.data.synthetic.Doc;
import gsat2r.core.data.synthetic.SyntheticContext;
import gsat2r.core.data.synthetic.SyntheticDocuments;
import gsat2r.core.data.synthetic.SyntheticKind;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the planner measures recall with: documents of the recipe's synthetic kinds (the first, long
 * document of window j of each kind), each scored on its answer's tokens after its prompt, teacher-forced
 * in one forward pass. Haystacks come from the validation split and the windows from a seed of their own,
 * so the probes are not training documents.
 */
public final class RecallProbes {
    private RecallProbes() {}

    /** A probe: its tokens (BOS, prompt, answer) and where the answer starts. */
    public record Probe(String kind, int[] ids, int answerStart) {
        public int answerTokens() {
            return ids.length - answerStart;
        }
    }

    /**
     * One model's recall on the probes: the mean over kinds of the mean over their probes of the answer's mean
     * log-probability per token (nats; higher is better), and the share of probes whose every answer token is the
     * most likely one (greedy would write the answer).
     */
    public record Score(double logProb, double exact, Map<String, double[]> byKind) {}

    /** {@code perKind} probes of each kind, at most {@code maxTokens} tokens each. */
    public static List<Probe> make(SyntheticContext context, List<SyntheticKind> kinds, int perKind, int maxTokens, long seed) {
        SyntheticDocuments docs = new SyntheticDocuments(context, kinds, seed);
        Tokenizer tokenizer = context.tokenizer();
        List<Probe> out = new ArrayList<>();
        for (int k = 0; k < kinds.size(); k++) {
            int made = 0;
            for (long j = 0; made < perKind && j < 20L * perKind; j++) {
                List<Doc.Encoded> d = docs.documents(k, j, maxTokens + 1);
                if (d.isEmpty()) continue;
                Probe p = probe(tokenizer, kinds.get(k).name(), d.getFirst());
                if (p.answerTokens() > 0) {
                    out.add(p);
                    made++;
                }
            }
        }
        return out;
    }

    /** The document's tokens without EOS, the answer being what follows the prompt's own tokens. */
    static Probe probe(Tokenizer tokenizer, String kind, Doc.Encoded d) {
        int[] prompt = tokenizer.encode(d.doc().prompt()), whole = tokenizer.encode(d.doc().text());
        int common = 0;
        while (common < prompt.length && common < whole.length && prompt[common] == whole[common]) common++;
        return new Probe(kind, whole, common);
    }

    public static Score score(LanguageModel model, List<Probe> probes) {
        Map<String, double[]> byKind = new LinkedHashMap<>();          // kind -> {sum of log-probs, exact, probes}
        for (Probe p : probes) {
            float[][] logits = model.forward(Arrays.copyOf(p.ids(), p.ids().length - 1));
            double logProb = 0;
            boolean exact = true;
            for (int i = p.answerStart(); i < p.ids().length; i++) {
                float[] row = logits[i - 1];
                logProb += logProb(row, p.ids()[i]);
                exact &= argmax(row) == p.ids()[i];
            }
            double[] k = byKind.computeIfAbsent(p.kind(), x -> new double[3]);
            k[0] += logProb / p.answerTokens();
            k[1] += exact ? 1 : 0;
            k[2]++;
        }
        double lp = 0, ex = 0;
        Map<String, double[]> means = new LinkedHashMap<>();
        for (var e : byKind.entrySet()) {
            double[] k = e.getValue();
            means.put(e.getKey(), new double[] {k[0] / k[2], k[1] / k[2]});
            lp += k[0] / k[2];
            ex += k[1] / k[2];
        }
        return new Score(lp / Math.max(1, byKind.size()), ex / Math.max(1, byKind.size()), means);
    }

    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    /** log softmax(row)[token], in double. */
    static double logProb(float[] row, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) max = Math.max(max, v);
        double sum = 0;
        for (float v : row) sum += Math.exp(v - max);
        return row[token] - max - Math.log(sum);
    }
}
