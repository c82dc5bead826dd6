package gsat2r.gpu.ops;

/**
 * The cos/sin tables of rotary embeddings, {@code [maxPositions, headDim/2]}, computed in float32
 * the way transformers' default rope does (Llama's {@code rope_type "default"}):
 * {@code inv_freq[i] = 1 / theta^(2i / D)} (exponent and power in float32),
 * {@code angle = float(p) * inv_freq[i]} in float32, then cos and sin of the float angle.
 * Hugging Face concatenates the half table with itself; the kernels index the half directly.
 */
public record RopeTables(int headDim, int maxPositions, float[] cos, float[] sin) {
    public RopeTables {
        if (headDim < 2 || headDim % 2 != 0) throw new IllegalArgumentException("rope head dim must be even, got " + headDim);
        if (cos.length != (long) maxPositions * (headDim / 2) || sin.length != cos.length) {
            throw new IllegalArgumentException("rope tables of " + cos.length + " entries for " + maxPositions + " x " + headDim / 2);
        }
    }

    public int half() {
        return headDim / 2;
    }

    public static RopeTables llama(int headDim, double theta, int maxPositions) {
        if (headDim < 2 || headDim % 2 != 0) throw new IllegalArgumentException("rope head dim must be even, got " + headDim);
        if (maxPositions < 1) throw new IllegalArgumentException("rope table needs at least one position");
        int half = headDim / 2;
        float[] invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) headDim;
            invFreq[i] = 1.0f / (float) Math.pow(theta, exponent);
        }
        float[] cos = new float[maxPositions * half], sin = new float[maxPositions * half];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        return new RopeTables(headDim, maxPositions, cos, sin);
    }
}
