package gsat2r.converter;

import gsat2r.core.T2rException;
import gsat2r.core.model.gsa.ParameterView;

import java.util.Locale;
import java.util.Random;

/**
 * How a new GSA layer's short-convolution kernels {@code [C, 1, K]} (fla's {@code q_conv1d}, {@code k_conv1d},
 * {@code v_conv1d}) start.
 *
 * <ul>
 * <li>{@link #IDENTITY}: tap K − 1 (the current token) is 1, the others 0: the layer starts as the same layer
 *     without convolutions would, up to the SiLU after the convolution. An optimizer that moves each weight by
 *     about the learning rate a step needs about 1/lr steps to grow another tap from 0 to 1.</li>
 * <li>{@link #RANDOM}: every tap U(−1/√K, 1/√K), PyTorch's default for a depthwise {@code nn.Conv1d} (fan-in K),
 *     so fla's own freshly made layers start this way: every channel starts mixing its last K tokens. The draws are
 *     {@code nextDouble()} of {@link #random(long)}'s generator, in the order of the tensors and their entries.</li>
 * </ul>
 */
public enum ShortConvInit {
    IDENTITY("identity"), RANDOM("random");

    private final String cliName;

    ShortConvInit(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    public static ShortConvInit parse(String s) {
        for (ShortConvInit i : values()) if (i.cliName.equals(s.toLowerCase(Locale.ROOT))) return i;
        throw new T2rException("--short-conv-init must be identity or random, got '" + s + "'");
    }

    /** The kernels of one tensor {@code [C, 1, K]}; {@code rnd} is drawn from by {@link #RANDOM} only. */
    public float[] kernels(ParameterView v, Random rnd) {
        return kernels((int) v.shape()[0], (int) v.shape()[2], rnd);
    }

    /** The kernels of {@code channels} channels of {@code taps} taps, {@code [channels, 1, taps]}. */
    public float[] kernels(int channels, int taps, Random rnd) {
        float[] w = new float[channels * taps];
        switch (this) {
            case IDENTITY -> {
                for (int c = 0; c < channels; c++) w[c * taps + taps - 1] = 1f;
            }
            case RANDOM -> {
                double bound = 1 / Math.sqrt(taps);
                for (int i = 0; i < w.length; i++) w[i] = (float) (bound * (2 * rnd.nextDouble() - 1));
            }
        }
        return w;
    }

    /**
     * The generator of a conversion's kernels: its own stream of the seed, so that the gates (drawn from
     * {@code Random(seed)}) are the same with and without convolutions.
     */
    public static Random random(long seed) {
        return new Random(seed ^ 0x5C0_4D1F7L);
    }
}
