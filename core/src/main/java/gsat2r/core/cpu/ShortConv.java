package gsat2r.core.cpu;

/**
 * fla's {@code ShortConvolution} before its activation: a causal depthwise convolution over time with
 * {@code K} taps per channel and no bias (fla's GSA layer builds it without one),
 * <pre>
 *   y[b, t, c] = Σ_{i<K} w[c, i] · x[b, t − K + 1 + i, c]      (x is 0 before the sequence starts)
 * </pre>
 * on rows {@code x [B·T, C]}, the weight {@code w [C, 1, K]} as fla stores it ({@code w[c, K−1]} is the
 * current token's tap). Each output is summed in double and rounded once.
 */
public final class ShortConv {
    private ShortConv() {}

    /** {@code y = conv(x)}; y must not be x. */
    public static void forward(float[] y, float[] x, float[] p, int wOff, int batch, int seqLen, int channels, int taps) {
        Parallel.forRange(batch * seqLen, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int t = r % seqLen, first = Math.max(0, taps - 1 - t);
                for (int c = 0; c < channels; c++) {
                    double acc = 0;
                    for (int i = first; i < taps; i++) acc += (double) p[wOff + c * taps + i] * x[(r - taps + 1 + i) * channels + c];
                    y[r * channels + c] = (float) acc;
                }
            }
        });
    }

    /**
     * The backward of {@link #forward}: {@code dx = convᵀ(dy)} (assigned), and {@code dw += Σ dy · x} when
     * {@code grads} is not null (at {@code wOff} of the gradient buffer).
     */
    public static void backward(float[] dx, float[] grads, int wOff, float[] dy, float[] x, float[] p, int batch, int seqLen,
                                int channels, int taps) {
        Parallel.forRange(batch * seqLen, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int s = r % seqLen;
                for (int c = 0; c < channels; c++) {
                    double acc = 0;
                    // x[s] feeds y[s + K − 1 − i] through tap i
                    for (int i = taps - 1 - Math.min(taps - 1, seqLen - 1 - s); i < taps; i++) {
                        acc += (double) p[wOff + c * taps + i] * dy[(r + taps - 1 - i) * channels + c];
                    }
                    dx[r * channels + c] = (float) acc;
                }
            }
        });
        if (grads == null) return;
        Parallel.forRange(channels, 8, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                for (int i = 0; i < taps; i++) {
                    double acc = 0;
                    for (int b = 0; b < batch; b++) {
                        for (int t = Math.max(0, taps - 1 - i); t < seqLen; t++) {
                            int r = b * seqLen + t;
                            acc += (double) dy[r * channels + c] * x[(r - taps + 1 + i) * channels + c];
                        }
                    }
                    grads[wOff + c * taps + i] += (float) acc;
                }
            }
        });
    }
}
