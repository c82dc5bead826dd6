package gsat2r.eval.harness;

/**
 * CPython's {@code random.Random}: the Mersenne Twister MT19937 seeded as {@code Random(n)} seeds it from a
 * non-negative integer ({@code init_by_array} over the integer's 32-bit words), {@code random()} from two
 * outputs (53 bits), {@code choices(population, k=n)} without weights, and {@code sample(population, k)}.
 * lm-evaluation-harness bootstraps the standard error of a perplexity with these draws ({@code random.Random(i)}
 * per chunk of 1000 resamples) and draws its few-shot examples with {@code sample} ({@code random.Random(1234)}
 * per task), so the same draws give the same standard error and the same prompts.
 */
final class PythonRandom {
    private static final int N = 624, M = 397;
    private final int[] mt = new int[N];
    private int index;

    PythonRandom(long seed) {
        if (seed < 0) throw new IllegalArgumentException("seeded from |n| in Python; give a non-negative seed");
        int[] key = seed >>> 32 == 0 ? new int[] {(int) seed} : new int[] {(int) seed, (int) (seed >>> 32)};
        initByArray(key);
    }

    private void initGenrand(int s) {
        mt[0] = s;
        for (int i = 1; i < N; i++) mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        index = N;
    }

    private void initByArray(int[] key) {
        initGenrand(19650218);
        int i = 1, j = 0;
        for (int k = Math.max(N, key.length); k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1664525)) + key[j] + j;
            i++;
            j++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if (j >= key.length) j = 0;
        }
        for (int k = N - 1; k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1566083941)) - i;
            i++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x80000000;
    }

    /** The next 32 bits, as an unsigned value in an int. */
    int nextInt32() {
        if (index >= N) twist();
        int y = mt[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int k = 0; k < N; k++) {
            int y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
            mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? 0x9908b0df : 0);
        }
        index = 0;
    }

    /** {@code random.random()}: a double in [0, 1) with 53 random bits. */
    double random() {
        long a = (nextInt32() & 0xffffffffL) >>> 5, b = (nextInt32() & 0xffffffffL) >>> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    /** {@code getrandbits(k)} for 1 <= k <= 32: the top k bits of the next output. */
    int getrandbits(int k) {
        if (k < 1 || k > 32) throw new IllegalArgumentException("getrandbits of 1 to 32 bits, not " + k);
        return nextInt32() >>> (32 - k);
    }

    /** {@code _randbelow(n)}: draws of {@code n.bit_length()} bits until one is below n. */
    int randbelow(int n) {
        if (n < 1) throw new IllegalArgumentException("randbelow of a positive bound, not " + n);
        int k = 32 - Integer.numberOfLeadingZeros(n);
        int r = getrandbits(k);
        while (Integer.compareUnsigned(r, n) >= 0) r = getrandbits(k);
        return r;
    }

    /**
     * The indices {@code random.sample(range(n), k)} returns, in its order. CPython picks by a pool (a list it
     * swaps the last unpicked index into) when n is no larger than a set of k would be, else by redrawing indices
     * already picked; both are reproduced, since they consume the generator differently.
     */
    int[] sample(int n, int k) {
        if (k < 0 || k > n) throw new IllegalArgumentException("sample of " + k + " from " + n);
        int[] out = new int[k];
        int setsize = 21;
        if (k > 5) setsize += (int) Math.pow(4, Math.ceil(Math.log(k * 3) / Math.log(4)));
        if (n <= setsize) {
            int[] pool = new int[n];
            for (int i = 0; i < n; i++) pool[i] = i;
            for (int i = 0; i < k; i++) {
                int j = randbelow(n - i);
                out[i] = pool[j];
                pool[j] = pool[n - i - 1];
            }
        } else {
            java.util.Set<Integer> selected = new java.util.HashSet<>();
            for (int i = 0; i < k; i++) {
                int j = randbelow(n);
                while (selected.contains(j)) j = randbelow(n);
                selected.add(j);
                out[i] = j;
            }
        }
        return out;
    }

    /** The indices {@code random.choices(range(n), k=n)} draws: {@code floor(random() * n)}, n times. */
    int[] choices(int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = (int) Math.floor(random() * n);
        return out;
    }
}
