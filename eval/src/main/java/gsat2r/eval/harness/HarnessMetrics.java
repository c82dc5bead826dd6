package gsat2r.eval.harness;

import java.util.List;

/**
 * lm-evaluation-harness's aggregations and standard errors, computed as its Python computes them (sums in
 * item order, so the same inputs give the same doubles up to the last bit of {@code exp} and {@code sqrt}).
 */
final class HarnessMetrics {
    private HarnessMetrics() {}

    /** The harness's default number of bootstrap resamples for a perplexity's standard error. */
    static final int BOOTSTRAP_ITERS = 100_000;
    private static final int CHUNK = 1000;

    static double mean(double[] x) {
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    /** Sample standard deviation (n − 1 in the denominator). */
    static double sampleStddev(double[] x) {
        double mu = mean(x), s = 0;
        for (double v : x) s += (v - mu) * (v - mu);
        return Math.sqrt(s / (x.length - 1));
    }

    /** The standard error of a mean: {@code sample_stddev / sqrt(n)}; for 0/1 scores {@code sqrt(p(1−p)/(n−1))}. */
    static double meanStderr(double[] x) {
        return sampleStddev(x) / Math.sqrt(x.length);
    }

    /** {@code exp(−mean(log-likelihoods))}: LAMBADA's perplexity (per document, not per token). */
    static double perplexity(double[] logLikelihoods) {
        return Math.exp(-mean(logLikelihoods));
    }

    /** {@code Σ ll / Σ units}: log-likelihood per word or per byte over all documents. */
    static double weightedMean(double[] logLikelihoods, long[] units) {
        double a = 0, b = 0;
        for (int i = 0; i < logLikelihoods.length; i++) {
            a += logLikelihoods[i];
            b += units[i];
        }
        return a / b;
    }

    static double weightedPerplexity(double[] logLikelihoods, long[] units) {
        return Math.exp(-weightedMean(logLikelihoods, units));
    }

    static double bitsPerByte(double[] logLikelihoods, long[] bytes) {
        return -weightedMean(logLikelihoods, bytes) / Math.log(2);
    }

    /**
     * The harness's bootstrap standard error of {@link #perplexity}: {@code iters / 1000} chunks, chunk i drawing
     * 1000 resamples (with replacement, as many as there are items) from {@code random.Random(i)}; the sample
     * standard deviation of the resampled perplexities.
     */
    static double bootstrapPerplexityStderr(double[] logLikelihoods, int iters) {
        int n = logLikelihoods.length, chunks = iters / Math.min(CHUNK, iters), perChunk = Math.min(CHUNK, iters);
        double[] values = new double[chunks * perChunk];
        double[] resample = new double[n];
        int k = 0;
        for (int c = 0; c < chunks; c++) {
            PythonRandom rnd = new PythonRandom(c);
            for (int r = 0; r < perChunk; r++) {
                for (int i = 0; i < n; i++) resample[i] = logLikelihoods[(int) Math.floor(rnd.random() * n)];
                values[k++] = perplexity(resample);
            }
        }
        return sampleStddev(values);
    }

    /** A group's mean of its tasks' values, weighted by their sizes (the harness's {@code weight_by_size}). */
    static double weightedBySize(List<Double> values, List<Integer> sizes) {
        double s = 0;
        long n = 0;
        for (int i = 0; i < values.size(); i++) {
            s += values.get(i) * sizes.get(i);
            n += sizes.get(i);
        }
        return s / n;
    }

    /** The harness's pooled standard error of a size-weighted group mean. */
    static double pooledStderr(List<Double> stderrs, List<Integer> sizes) {
        double num = 0;
        long total = 0;
        for (int i = 0; i < sizes.size(); i++) {
            int size = sizes.get(i);
            num += (size - 1) * stderrs.get(i) * stderrs.get(i) * size;
            total += size;
        }
        return Math.sqrt(num / (total - sizes.size()) / total);
    }
}
