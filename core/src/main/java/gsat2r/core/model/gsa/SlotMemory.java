package gsat2r.core.model.gsa;

import gsat2r.core.config.GsaConfig;
import gsat2r.core.cpu.Linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How long each GSA layer's slots keep what a token writes, measured from its gates on windows of text.
 *
 * <p>Slot m of kv head κ after token t is a mix of the tokens' writes: token p's write has weight
 * {@code s_p · Π_{u=p+1..t} α_u} in it, with {@code α = exp(g)}, {@code g = logsigmoid(f)/τ}, {@code s = 1 − α}
 * and f the gate logit {@code f_proj · attn_norm(h)} of that slot (docs/gsa-math.md). The weights of all tokens
 * sum to at most 1, so each is the share of the slot a token still holds. Per layer:
 * <ul>
 * <li>each slot's half-life, {@code ln 2 / (−mean_t g)} tokens: after that many tokens of this text, a write keeps
 *     half its weight (the geometric mean of the slot's retention);</li>
 * <li>slots written per token: {@code mean_t Σ_m s} per kv head, from 0 (nothing written) to M (every slot replaced);</li>
 * <li>the reach at distance D: the median over tokens p of {@code max_{κ,m} s_p · exp(Σ_{u=p+1..p+D} g_u)}, the
 *     largest share of any slot that token p still holds D tokens later. A fact that must be recalled D tokens on
 *     cannot be read back from a slot of which it holds a vanishing share.</li>
 * </ul>
 * Layers kept as softmax attention have no slots and are left out.
 */
public final class SlotMemory {
    private SlotMemory() {}

    /** The distances the reach is measured at (those shorter than the windows). */
    public static final int[] DISTANCES = {1, 16, 64, 256, 512, 1024, 2048, 4096};

    /** One GSA layer: its slots' half-lives (min, median, max over the layer's slots, in tokens), writes and reach. */
    public record Layer(int layer, double halfLifeMin, double halfLifeMedian, double halfLifeMax, double slotsWrittenPerToken,
                        double[] reach) {}

    /** The measurement: windows of {@code tokens} tokens each, the distances of {@link Layer#reach()}, every GSA layer. */
    public record Report(int windows, int tokens, int slots, double gateNormalizer, int[] distances, List<Layer> layers) {}

    /** Measures {@code model}'s GSA layers on {@code windows} (token ids, all of the same length, at least 2). */
    public static Report measure(GsaModel model, List<int[]> windows) {
        if (windows.isEmpty()) throw new IllegalArgumentException("no windows to measure");
        int T = windows.getFirst().length;
        if (T < 2) throw new IllegalArgumentException("windows of " + T + " tokens are too short to measure a memory");
        for (int[] w : windows) if (w.length != T) throw new IllegalArgumentException("windows of different lengths");
        GsaConfig c = model.config();
        int[] distances = Arrays.stream(DISTANCES).filter(D -> D < T).toArray();
        List<Accumulator> layers = new ArrayList<>();
        for (int l = 0; l < c.numHiddenLayers(); l++) if (c.isGsaLayer(l)) layers.add(new Accumulator(model, l, distances.length));
        for (int[] ids : windows) {
            float[][] residuals = model.residuals(ids, 1, T);
            for (Accumulator a : layers) a.add(logRetention(model, a.layer, residuals[a.layer], T), distances);
        }
        return new Report(windows.size(), T, c.numSlots(), c.gateLogitNormalizer(), distances,
                layers.stream().map(Accumulator::layer).toList());
    }

    /**
     * {@code g[t][j] = logsigmoid(f)/τ} of layer {@code l}'s Hkv·M slots at each token, from the residual entering it:
     * the gate logits {@code f} projected as the layer's forward pass projects them.
     */
    static double[][] logRetention(GsaModel model, int l, float[] residual, int T) {
        int d = model.config().hiddenSize();
        float[] x = model.attnNorm(l, residual, T);
        ParameterView w = model.layout().get(ParameterView.Kind.F_PROJ, l);
        int slots = (int) w.shape()[0];
        float[] f = new float[T * slots];
        Linear.forward(f, 0, x, 0, model.parameters(), w.arrayOffset(), null, 0, T, d, slots);
        double tau = model.config().gateLogitNormalizer();
        double[][] g = new double[T][slots];
        for (int t = 0; t < T; t++) for (int j = 0; j < slots; j++) g[t][j] = GsaMixer.logSigmoid(f[t * slots + j]) / tau;
        return g;
    }

    /** One layer's sums over the windows. */
    private static final class Accumulator {
        final int layer, slots, kvHeads;
        final double[] sumG;
        double written;
        long tokens;
        final List<List<Double>> shares = new ArrayList<>();

        Accumulator(GsaModel model, int layer, int distances) {
            this.layer = layer;
            this.kvHeads = model.config().numKvHeads();
            this.slots = kvHeads * model.config().numSlots();
            this.sumG = new double[slots];
            for (int i = 0; i < distances; i++) shares.add(new ArrayList<>());
        }

        void add(double[][] g, int[] distances) {
            int T = g.length;
            double[][] prefix = new double[T][slots];               // prefix[t][j] = Σ_{u≤t} g[u][j]
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < slots; j++) {
                    prefix[t][j] = (t == 0 ? 0 : prefix[t - 1][j]) + g[t][j];
                    sumG[j] += g[t][j];
                    written += -Math.expm1(g[t][j]);
                }
            }
            tokens += T;
            for (int i = 0; i < distances.length; i++) {
                int D = distances[i];
                for (int p = 0; p + D < T; p++) {
                    double best = 0;
                    for (int j = 0; j < slots; j++) {
                        best = Math.max(best, -Math.expm1(g[p][j]) * Math.exp(prefix[p + D][j] - prefix[p][j]));
                    }
                    shares.get(i).add(best);
                }
            }
        }

        Layer layer() {
            double[] halfLives = new double[slots];
            for (int j = 0; j < slots; j++) halfLives[j] = Math.log(2) / (-sumG[j] / tokens);
            Arrays.sort(halfLives);
            double[] reach = shares.stream().mapToDouble(SlotMemory::median).toArray();
            return new Layer(layer, halfLives[0], median(halfLives), halfLives[slots - 1], written / tokens / kvHeads, reach);
        }
    }

    static double median(List<Double> values) {
        return median(values.stream().mapToDouble(Double::doubleValue).sorted().toArray());
    }

    /** The median of sorted values (the mean of the middle two for an even count). */
    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
