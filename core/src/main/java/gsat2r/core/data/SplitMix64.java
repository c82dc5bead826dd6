package gsat2r.core.data;

/**
 * SplitMix64 (Steele, Lea and Flood 2014): a tiny generator whose whole state is one {@code long}, so
 * that it can be written into a checkpoint and restored exactly. Also the mixing function that turns
 * (seed, purpose, index) into independent seeds, so that every random draw of a run is a pure function
 * of the recipe's seed and a counter.
 */
public final class SplitMix64 {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private long state;

    public SplitMix64(long state) {
        this.state = state;
    }

    /** The state: {@code new SplitMix64(s.state())} continues exactly where {@code s} is. */
    public long state() {
        return state;
    }

    public long nextLong() {
        state += GOLDEN;
        return mix(state);
    }

    /** Uniform in {@code [0, bound)}, without modulo bias (Lemire's method with rejection). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        long r = nextLong() >>> 32;                       // 32 random bits
        long m = r * bound;
        long low = m & 0xFFFFFFFFL;
        if (low < bound) {
            long threshold = (0x1_0000_0000L - bound) % bound;
            while (low < threshold) {
                r = nextLong() >>> 32;
                m = r * bound;
                low = m & 0xFFFFFFFFL;
            }
        }
        return (int) (m >>> 32);
    }

    /** Uniform in {@code [0, 1)} with 53 random bits. */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** A standard normal draw (Box–Muller with the cosine branch only: one draw per two uniforms). */
    public double nextGaussian() {
        double u1 = 1.0 - nextDouble();                  // (0, 1]
        double u2 = nextDouble();
        return StrictMath.sqrt(-2.0 * StrictMath.log(u1)) * StrictMath.cos(2.0 * StrictMath.PI * u2);
    }

    /** The SplitMix64 finaliser: a bijection of 64-bit values that scrambles every bit. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** An independent seed for {@code (seed, purpose, index)}. */
    public static long derive(long seed, long purpose, long index) {
        return mix(mix(mix(seed) + GOLDEN * (purpose + 1)) + index * GOLDEN);
    }
}
