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
 * reduction, every index {@code j}) vectorizes. Measured on one Zen 5 core: 65 GFLOP/s for
 * {@code [512,384]·[384,1024]}, against 5 GFLOP/s for the naive dot-product loop.
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
    /** Rows per parallel task of the tiled path: large enough to amortize the tile copy. */
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
            // Few rows (decoding): the dot-product form reads B once and copies nothing.
            int grain = Math.max(1, 16384 / Math.max(1, k));
            Parallel.forRange(n, grain, (n0, n1) -> {
                for (int row = 0; row < m; row++) {
                    int ao = aOff + row * aStrideM;
                    int co = cOff + row * ldc;
                    for (int col = n0; col < n1; col++) {
                        float s = dot(a, ao, aStrideK, b, bOff + col * bStrideN, bStrideK, k);
                        c[co + col] = accumulate ? c[co + col] + s : s;
                    }
                }
            });
            return;
        }
        int blocks = (n + BLOCK_N - 1) / BLOCK_N;
        int rowChunks = Math.max(1, (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
        // Tasks ordered block-major so that consecutive tasks of one thread reuse the same tile.
        Parallel.forRange(blocks * rowChunks, 1, (t0, t1) -> {
            Scratch s = SCRATCH.get();
            float[][] tile = s.tile(k);
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
                int row = r0;
                for (; row + 4 <= r1; row += 4) {
                    kernel4(s, tile, a, aOff + row * aStrideM, aStrideM, aStrideK, k, bn);
                    store(s.acc0, c, cOff + row * ldc + n0, bn, accumulate);
                    store(s.acc1, c, cOff + (row + 1) * ldc + n0, bn, accumulate);
                    store(s.acc2, c, cOff + (row + 2) * ldc + n0, bn, accumulate);
                    store(s.acc3, c, cOff + (row + 3) * ldc + n0, bn, accumulate);
                }
                for (; row < r1; row++) {
                    kernel1(s.acc0, tile, a, aOff + row * aStrideM, aStrideK, k, bn);
                    store(s.acc0, c, cOff + row * ldc + n0, bn, accumulate);
                }
            }
        });
    }

    /** {@code Σ_k a[ao + k·as] · b[bo + k·bs]} in the same order as the tiled kernels. */
    private static float dot(float[] a, int ao, int as, float[] b, int bo, int bs, int k) {
        float s = 0f;
        int i = 0;
        for (; i + 2 <= k; i += 2) {
            s += a[ao + i * as] * b[bo + i * bs] + a[ao + (i + 1) * as] * b[bo + (i + 1) * bs];
        }
        if (i < k) s += a[ao + i * as] * b[bo + i * bs];
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

    /** Four rows of A times the tile into {@code s.acc0..acc3[0..bn)}. */
    private static void kernel4(Scratch s, float[][] tile, float[] a, int ao, int asm, int ask, int k, int bn) {
        float[] c0 = s.acc0, c1 = s.acc1, c2 = s.acc2, c3 = s.acc3;
        java.util.Arrays.fill(c0, 0, bn, 0f);
        java.util.Arrays.fill(c1, 0, bn, 0f);
        java.util.Arrays.fill(c2, 0, bn, 0f);
        java.util.Arrays.fill(c3, 0, bn, 0f);
        int a0 = ao, a1 = ao + asm, a2 = ao + 2 * asm, a3 = ao + 3 * asm;
        int kk = 0;
        for (; kk + 2 <= k; kk += 2) {
            int p = kk * ask, q = p + ask;
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
        if (kk < k) {
            int p = kk * ask;
            float x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
            float[] w = tile[kk];
            for (int j = 0; j < bn; j++) {
                float wj = w[j];
                c0[j] += x0 * wj;
                c1[j] += x1 * wj;
                c2[j] += x2 * wj;
                c3[j] += x3 * wj;
            }
        }
    }

    /** One row of A times the tile into {@code c[0..bn)}; the same arithmetic as one row of kernel4. */
    private static void kernel1(float[] c, float[][] tile, float[] a, int ao, int ask, int k, int bn) {
        java.util.Arrays.fill(c, 0, bn, 0f);
        int kk = 0;
        for (; kk + 2 <= k; kk += 2) {
            float x = a[ao + kk * ask], y = a[ao + (kk + 1) * ask];
            float[] w = tile[kk], v = tile[kk + 1];
            for (int j = 0; j < bn; j++) c[j] += x * w[j] + y * v[j];
        }
        if (kk < k) {
            float x = a[ao + kk * ask];
            float[] w = tile[kk];
            for (int j = 0; j < bn; j++) c[j] += x * w[j];
        }
    }

    private static void store(float[] acc, float[] c, int co, int bn, boolean accumulate) {
        if (accumulate) {
            for (int j = 0; j < bn; j++) c[co + j] += acc[j];
        } else {
            System.arraycopy(acc, 0, c, co, bn);
        }
    }

    /** Per-thread tile and accumulators, grown on demand and kept (pool threads are long-lived). */
    private static final class Scratch {
        float[][] tile = new float[0][];
        final float[] acc0 = new float[BLOCK_N], acc1 = new float[BLOCK_N],
                acc2 = new float[BLOCK_N], acc3 = new float[BLOCK_N];

        float[][] tile(int k) {
            if (tile.length < k) {
                float[][] grown = java.util.Arrays.copyOf(tile, k);
                for (int i = tile.length; i < k; i++) grown[i] = new float[BLOCK_N];
                tile = grown;
            }
            return tile;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
}
