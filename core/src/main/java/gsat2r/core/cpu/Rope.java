package gsat2r.core.cpu;

import gsat2r.core.config.RopeParameters;
import gsat2r.core.safetensors.DType;

/**
 * Rotary position embeddings in Hugging Face's {@code rotate_half} convention: in each head of
 * {@code headDim} values, element {@code i} pairs with {@code i + headDim/2} and the pair rotates by
 * angle {@code pos · inv_freq[i]}:
 * {@code y_i = x_i cos − x_{i+h} sin}, {@code y_{i+h} = x_{i+h} cos + x_i sin}.
 *
 * <p>The tables are built exactly as transformers builds them, in fp32: {@code inv_freq} with fp32
 * operations in the same order (including the scaling variants), and the angle as the fp32 product
 * {@code pos · inv_freq}. That product's rounding moves the angle by up to ~pos·6e-8 rad, which at
 * thousands of positions is far above fp32 noise, so reproducing it matters; cos and sin of the fp32
 * angle are then taken in double and rounded (torch's vectorized fp32 cos is within an ulp of that).
 */
public final class Rope {
    private Rope() {}

    /** {@code inv_freq[headDim/2]} as transformers' {@code ROPE_INIT_FUNCTIONS[rope_type]} returns it. */
    public static float[] inverseFrequencies(RopeParameters p, int headDim) {
        int half = headDim / 2;
        float[] inv = new float[half];
        float base = (float) p.theta();
        for (int i = 0; i < half; i++) {
            // base ** (arange(0, dim, 2).float() / dim), then 1.0 / that: each step an fp32 operation.
            float exponent = (float) (2 * i) / (float) headDim;
            float power = (float) Math.pow(base, exponent);
            inv[i] = 1.0f / power;
        }
        return switch (p.type()) {
            case DEFAULT -> inv;
            case LINEAR -> {
                float factor = (float) p.factor();
                for (int i = 0; i < half; i++) inv[i] = inv[i] / factor;
                yield inv;
            }
            case LLAMA3 -> llama3(inv, p);
        };
    }

    /**
     * Llama 3.1's frequency-dependent scaling: long wavelengths are divided by {@code factor}, short ones
     * kept, and the band between interpolated smoothly. Written as transformers' tensor expressions
     * evaluate: Python scalars are rounded to fp32, {@code scalar / tensor} is {@code reciprocal(tensor) · scalar}.
     */
    private static float[] llama3(float[] inv, RopeParameters p) {
        float factor = (float) p.factor();
        float low = (float) p.lowFreqFactor();
        float oldContext = (float) p.originalMaxPositionEmbeddings();
        float lowFreqWavelen = (float) (p.originalMaxPositionEmbeddings() / p.lowFreqFactor());
        float highFreqWavelen = (float) (p.originalMaxPositionEmbeddings() / p.highFreqFactor());
        float span = (float) (p.highFreqFactor() - p.lowFreqFactor());
        float twoPi = (float) (2 * Math.PI);
        float[] out = new float[inv.length];
        for (int i = 0; i < inv.length; i++) {
            float wavelen = (1.0f / inv[i]) * twoPi;
            float scaled = wavelen > lowFreqWavelen ? inv[i] / factor : inv[i];
            float smooth = ((1.0f / wavelen) * oldContext - low) / span;
            float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
            boolean medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            out[i] = medium ? smoothed : scaled;
        }
        return out;
    }

    /**
     * Rounds inverse frequencies to the storage type {@code type} and back (in place; returns the array):
     * what happens to transformers' {@code inv_freq} buffer when a model is loaded in bf16 or f16. F32
     * and F64 leave the values as they are.
     */
    public static float[] roundTo(float[] invFreq, DType type) {
        for (int i = 0; i < invFreq.length; i++) {
            invFreq[i] = switch (type) {
                case BF16 -> roundToBfloat16(invFreq[i]);
                case F16 -> Float.float16ToFloat(Float.floatToFloat16(invFreq[i]));
                case F32, F64 -> invFreq[i];
                default -> throw new IllegalArgumentException("inv_freq cannot be held in " + type);
            };
        }
        return invFreq;
    }

    /** fp32 → bf16 → fp32 with round-to-nearest-even, as torch converts (finite values). */
    static float roundToBfloat16(float x) {
        int bits = Float.floatToRawIntBits(x);
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(rounded & 0xffff0000);
    }

    /**
     * Fills {@code cos[r·half + i]} and {@code sin[r·half + i]} for positions {@code pos0 + r},
     * {@code r < count}, with {@code half = invFreq.length}.
     */
    public static void tables(float[] invFreq, int pos0, int count, float[] cos, float[] sin) {
        int half = invFreq.length;
        for (int r = 0; r < count; r++) {
            float pos = (float) (pos0 + r);
            for (int i = 0; i < half; i++) {
                float angle = pos * invFreq[i]; // fp32 product, as transformers' fp32 matmul gives it
                cos[r * half + i] = (float) Math.cos(angle);
                sin[r * half + i] = (float) Math.sin(angle);
            }
        }
    }

    /**
     * {@link #tables} for rows at arbitrary positions: row r of {@code cos}, {@code sin} is position
     * {@code positions[r]} (a batch of sequences, each at its own position), the same values.
     */
    public static void tablesAt(float[] invFreq, int[] positions, float[] cos, float[] sin) {
        int half = invFreq.length;
        float[] c = new float[half], s = new float[half];
        for (int r = 0; r < positions.length; r++) {
            tables(invFreq, positions[r], 1, c, s);
            System.arraycopy(c, 0, cos, r * half, half);
            System.arraycopy(s, 0, sin, r * half, half);
        }
    }

    /**
     * Rotates {@code rows} rows of {@code heads · headDim} values; row r uses table row
     * {@code tableRow0 + r}. y may be x itself (each pair is read before it is written).
     */
    public static void forward(float[] y, int yOff, float[] x, int xOff, float[] cos, float[] sin, int tableRow0,
                               int rows, int heads, int headDim) {
        int half = headDim / 2, width = heads * headDim;
        Parallel.forRange(rows, Math.max(1, 16384 / width), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int t = (tableRow0 + r) * half;
                for (int h = 0; h < heads; h++) {
                    int xo = xOff + r * width + h * headDim, yo = yOff + r * width + h * headDim;
                    for (int i = 0; i < half; i++) {
                        float c = cos[t + i], s = sin[t + i];
                        float x1 = x[xo + i], x2 = x[xo + half + i];
                        y[yo + i] = x1 * c - x2 * s;
                        y[yo + half + i] = x2 * c + x1 * s;
                    }
                }
            }
        });
    }

    /**
     * Gradient of {@link #forward}: the rotation is orthogonal, so {@code dx += Rᵀ dy}, the rotation by
     * the opposite angle. dx must not overlap dy.
     */
    public static void backward(float[] dx, int dxOff, float[] dy, int dyOff, float[] cos, float[] sin, int tableRow0,
                                int rows, int heads, int headDim) {
        int half = headDim / 2, width = heads * headDim;
        Parallel.forRange(rows, Math.max(1, 16384 / width), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int t = (tableRow0 + r) * half;
                for (int h = 0; h < heads; h++) {
                    int go = dyOff + r * width + h * headDim, xo = dxOff + r * width + h * headDim;
                    for (int i = 0; i < half; i++) {
                        float c = cos[t + i], s = sin[t + i];
                        float g1 = dy[go + i], g2 = dy[go + half + i];
                        dx[xo + i] += g1 * c + g2 * s;
                        dx[xo + half + i] += g2 * c - g1 * s;
                    }
                }
            }
        });
    }
}
