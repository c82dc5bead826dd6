package gsat2r.core.cpu;

/**
 * The matrix product behind {@link Linear} and the other ops: {@code C[M,N] (+)= A[M,K] · B[K,N]},
 * fp32 storage and fp32 accumulation, where A and B are read through element strides so that
 * transposed operands ({@code W} stored {@code [out,in]} as in Hugging Face, or {@code dyᵀ}) need
 * no copy by the caller. C is row-major with leading dimension {@code ldc}.
 *
 * <p>Why it is written this way: without the incubating Vector API (whose startup warning would
 * pollute the CLI's stderr) the only SIMD a Java program gets is C2's auto-vectorization of simple
 * loops, and JDK 25's C2 vectorizes a loop that stores to one {@code float[]} and loads from another
 * only when both are indexed by the same expression (it cannot prove that different offsets do not
 * alias). So a column block of B is copied into a per-thread tile whose rows are separate arrays
 * ({@code tile[k][j] = B[k, n0 + j]}), four output rows accumulate into four separate arrays, and the
 * inner loop {@code c_r[j] += a_r,k · tile[k][j] + a_r,k+1 · tile[k+1][j]} (the "axpy" form: no
 * reduction, every index {@code j}) vectorizes. Measured on one Zen 5 core (AVX-512): 50-60 GFLOP/s
 * for {@code [512,384]·[384,1024]}, against 5 GFLOP/s for the naive dot-product loop; two cores
 * 55-70 GFLOP/s on the shapes of a small Llama.
 *
 * <p>Every output element is the same sum in the same order ({@code c + (a_k b_k + a_k+1 b_k+1)} over
 * pairs of k, then the last odd term) whichever path computes it (4-row kernel, 1-row kernel, or the
 * dot-product form used for fewer than 4 rows, as in token-by-token decoding), and work is split over
 * threads by output elements only: results do not depend on the thread count or on the number of rows.
 */
public final class Matmul {
    private Matmul() {}

    /** Width of the column block of B copied into a tile (256 floats = 1 KiB per tile row). */
    static final int BLOCK_N = 256;
    /** Fewest rows for which the tiled path (which copies B) beats the dot-product form. */
    static final int MIN_TILED_ROWS = 4;
    /** Fewest rows per parallel task of the tiled path: enough to amortize the copy of its tile. */
    static final int ROWS_PER_TASK = 32;

    /**
     * {@code C[m,n] = (accumulate ? C[m,n] : 0) + Σ_k A[m,k] B[k,n]}, where
     * {@code A[m,k] = a[aOff + m·aStrideM + k·aStrideK]}, {@code B[k,n] = b[bOff + k·bStrideK + n·bStrideN]}
     * and {@code C[m,n] = c[cOff + m·ldc + n]}. C must not overlap A or B.
     */
    public static void multiply(float[] c, int cOff, int ldc,
                                float[] a, int aOff, int aStrideM, int aStrideK,
                                float[] b, int bOff, int bStrideK, int bStrideN,
                                int m, int k, int n, boolean accumulate) {
        if (m <= 0 || n <= 0) return;
        if (m < MIN_TILED_ROWS) {
            // Few rows (decoding): the dot-product form reads B once and copies nothing. Four columns
            // at a time: four independent sums keep the core busy while each stays sequential in k.
            int grain = Math.max(4, 16384 / Math.max(1, k)) & ~3;
            int quads = n / 4;
            Parallel.forRange(quads + (n % 4 == 0 ? 0 : 1), Math.max(1, grain / 4), (q0, q1) -> {
                for (int row = 0; row < m; row++) {
                    int ao = aOff + row * aStrideM;
                    int co = cOff + row * ldc;
                    for (int quad = q0; quad < q1; quad++) {
                        int col = 4 * quad;
                        if (col + 4 <= n) {
                            dot4(c, co + col, a, ao, aStrideK, b, bOff + col * bStrideN, bStrideN, bStrideK, k, accumulate);
                        } else {
                            for (; col < n; col++) {
                                float s = dot(a, ao, aStrideK, b, bOff + col * bStrideN, bStrideK, k);
                                c[co + col] = accumulate ? c[co + col] + s : s;
                            }
                        }
                    }
                }
            });
            return;
        }
        int blocks = (n + BLOCK_N - 1) / BLOCK_N;
        // Enough row chunks for every thread to have a few tasks, each of at least ROWS_PER_TASK rows
        // (every task copies its tile of B, so more chunks than needed cost copies).
        int wanted = Math.max(1, (4 * Parallel.threads() + blocks - 1) / blocks);
        int rowChunks = Math.max(1, Math.min(wanted, m / ROWS_PER_TASK));
        // Tasks ordered block-major so that consecutive tasks of one thread reuse the same tile.
        Parallel.forRange(blocks * rowChunks, 1, (t0, t1) -> runTasks(t0, t1, rowChunks, c, cOff, ldc,
                a, aOff, aStrideM, aStrideK, b, bOff, bStrideK, bStrideN, m, k, n, accumulate));
    }

    /**
     * Tasks {@code [t0, t1)} of the tiled path. The kernel is written inline here, with its four
     * accumulators allocated here, on purpose: C2 vectorizes the inner loop at full width only when it
     * can see that the accumulators are fresh arrays that nothing else references; passed in as
     * parameters or allocated per row group, the same loop ran 2.5x slower (measured: 48 against 19
     * GFLOP/s on one core for [512,384]·[384,1024]).
     */
    private static void runTasks(int t0, int t1, int rowChunks, float[] c, int cOff, int ldc,
                                 float[] a, int aOff, int aStrideM, int aStrideK,
                                 float[] b, int bOff, int bStrideK, int bStrideN,
                                 int m, int k, int n, boolean accumulate) {
        float[][] tile = TILES.get().rows(k);
        float[] c0 = new float[BLOCK_N], c1 = new float[BLOCK_N], c2 = new float[BLOCK_N], c3 = new float[BLOCK_N];
        int tiled = -1;
        for (int task = t0; task < t1; task++) {
            int block = task / rowChunks;
            int n0 = block * BLOCK_N;
            int bn = Math.min(BLOCK_N, n - n0);
            if (block != tiled) {
                copyTile(tile, b, bOff + n0 * bStrideN, bStrideK, bStrideN, k, bn);
                tiled = block;
            }
            int chunk = task % rowChunks;
            int r0 = (int) ((long) m * chunk / rowChunks);
            int r1 = (int) ((long) m * (chunk + 1) / rowChunks);
            int groups = (r1 - r0) / 4, kPairs = k / 2;
            // Counted loops from 0 with precomputed limits: C2's partial peeling of loops that exit
            // mid-body (e.g. "for (; kk + 2 <= k; kk += 2)") cost 2.5x here, as it defeats vectorization.
            for (int g = 0; g < groups; g++) {
                int row = r0 + 4 * g;
                // Four rows of A times the tile: c_r[j] = Σ_k A[row+r, k] · tile[k][j], k in pairs.
                java.util.Arrays.fill(c0, 0f);
                java.util.Arrays.fill(c1, 0f);
                java.util.Arrays.fill(c2, 0f);
                java.util.Arrays.fill(c3, 0f);
                int a0 = aOff + row * aStrideM, a1 = a0 + aStrideM, a2 = a1 + aStrideM, a3 = a2 + aStrideM;
                for (int pair = 0; pair < kPairs; pair++) {
                    int kk = 2 * pair, p = kk * aStrideK, q = p + aStrideK;
                    float x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
                    float y0 = a[a0 + q], y1 = a[a1 + q], y2 = a[a2 + q], y3 = a[a3 + q];
                    float[] w = tile[kk], v = tile[kk + 1];
                    for (int j = 0; j < bn; j++) {
                        float wj = w[j], vj = v[j];
                        c0[j] += x0 * wj + y0 * vj;
                        c1[j] += x1 * wj + y1 * vj;
                        c2[j] += x2 * wj + y2 * vj;
                        c3[j] += x3 * wj + y3 * vj;
                    }
                }
                if ((k & 1) != 0) lastOddK(c0, c1, c2, c3, tile[k - 1], a, a0 + (k - 1) * aStrideK, aStrideM, bn);
                store(c0, c, cOff + row * ldc + n0, bn, accumulate);
                store(c1, c, cOff + (row + 1) * ldc + n0, bn, accumulate);
                store(c2, c, cOff + (row + 2) * ldc + n0, bn, accumulate);
                store(c3, c, cOff + (row + 3) * ldc + n0, bn, accumulate);
            }
            for (int row = r0 + 4 * groups; row < r1; row++) {
                oneRow(c0, tile, a, aOff + row * aStrideM, aStrideK, k, bn);
                store(c0, c, cOff + row * ldc + n0, bn, accumulate);
            }
        }
    }

    /** The last, unpaired k of four rows (odd k only). */
    private static void lastOddK(float[] c0, float[] c1, float[] c2, float[] c3, float[] w, float[] a, int ap,
                                 int aStrideM, int bn) {
        float x0 = a[ap], x1 = a[ap + aStrideM], x2 = a[ap + 2 * aStrideM], x3 = a[ap + 3 * aStrideM];
        for (int j = 0; j < bn; j++) {
            float wj = w[j];
            c0[j] += x0 * wj;
            c1[j] += x1 * wj;
            c2[j] += x2 * wj;
            c3[j] += x3 * wj;
        }
    }

    /** One row of A times the tile into {@code c}: the same arithmetic as one row of the 4-row kernel. */
    private static void oneRow(float[] c, float[][] tile, float[] a, int a0, int aStrideK, int k, int bn) {
        java.util.Arrays.fill(c, 0f);
        int kPairs = k / 2;
        for (int pair = 0; pair < kPairs; pair++) {
            int kk = 2 * pair;
            float x0 = a[a0 + kk * aStrideK], y0 = a[a0 + (kk + 1) * aStrideK];
            float[] w = tile[kk], v = tile[kk + 1];
            for (int j = 0; j < bn; j++) c[j] += x0 * w[j] + y0 * v[j];
        }
        if ((k & 1) != 0) {
            float x0 = a[a0 + (k - 1) * aStrideK];
            float[] w = tile[k - 1];
            for (int j = 0; j < bn; j++) c[j] += x0 * w[j];
        }
    }

    /**
     * Four adjacent outputs {@code c[co..co+3] (+)= Σ_k a[ao + k·as] · B[k, col+i]} where B's columns
     * are {@code bn} apart: four sums, each in the same order as {@link #dot} and the tiled kernels.
     */
    private static void dot4(float[] c, int co, float[] a, int ao, int as, float[] b, int bo, int bn, int bs, int k,
                             boolean accumulate) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int b0 = bo, b1 = bo + bn, b2 = bo + 2 * bn, b3 = bo + 3 * bn;
        int kPairs = k / 2;
        for (int pair = 0; pair < kPairs; pair++) {
            int i = 2 * pair;
            float x = a[ao + i * as], y = a[ao + (i + 1) * as];
            int p = i * bs, q = p + bs;
            s0 += x * b[b0 + p] + y * b[b0 + q];
            s1 += x * b[b1 + p] + y * b[b1 + q];
            s2 += x * b[b2 + p] + y * b[b2 + q];
            s3 += x * b[b3 + p] + y * b[b3 + q];
        }
        if ((k & 1) != 0) {
            int i = k - 1;
            float x = a[ao + i * as];
            int p = i * bs;
            s0 += x * b[b0 + p];
            s1 += x * b[b1 + p];
            s2 += x * b[b2 + p];
            s3 += x * b[b3 + p];
        }
        if (accumulate) {
            c[co] += s0;
            c[co + 1] += s1;
            c[co + 2] += s2;
            c[co + 3] += s3;
        } else {
            c[co] = s0;
            c[co + 1] = s1;
            c[co + 2] = s2;
            c[co + 3] = s3;
        }
    }

    /** {@code Σ_k a[ao + k·as] · b[bo + k·bs]} in the same order as the tiled kernels. */
    private static float dot(float[] a, int ao, int as, float[] b, int bo, int bs, int k) {
        float s = 0f;
        int kPairs = k / 2;
        for (int pair = 0; pair < kPairs; pair++) {
            int i = 2 * pair;
            s += a[ao + i * as] * b[bo + i * bs] + a[ao + (i + 1) * as] * b[bo + (i + 1) * bs];
        }
        if ((k & 1) != 0) s += a[ao + (k - 1) * as] * b[bo + (k - 1) * bs];
        return s;
    }

    private static void copyTile(float[][] tile, float[] b, int bOff, int bStrideK, int bStrideN, int k, int bn) {
        if (bStrideN == 1) {
            for (int kk = 0; kk < k; kk++) System.arraycopy(b, bOff + kk * bStrideK, tile[kk], 0, bn);
        } else {
            // B is stored transposed (e.g. W[out,in] read as Wᵀ): read each stored row contiguously.
            for (int j = 0; j < bn; j++) {
                int base = bOff + j * bStrideN;
                for (int kk = 0; kk < k; kk++) tile[kk][j] = b[base + kk * bStrideK];
            }
        }
    }

    private static void store(float[] acc, float[] c, int co, int bn, boolean accumulate) {
        if (accumulate) {
            for (int j = 0; j < bn; j++) c[co + j] += acc[j];
        } else {
            System.arraycopy(acc, 0, c, co, bn);
        }
    }

    /** Per-thread tile rows, grown on demand and kept (pool threads are long-lived). */
    private static final class Tiles {
        float[][] rows = new float[0][];

        float[][] rows(int k) {
            if (rows.length < k) {
                float[][] grown = java.util.Arrays.copyOf(rows, k);
                for (int i = rows.length; i < k; i++) grown[i] = new float[BLOCK_N];
                rows = grown;
            }
            return rows;
        }
    }

    private static final ThreadLocal<Tiles> TILES = ThreadLocal.withInitial(Tiles::new);
}
