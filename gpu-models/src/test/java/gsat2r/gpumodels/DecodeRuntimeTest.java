package gsat2r.gpumodels;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The row buckets of the batched decode step: exact up to 16 rows, then few sizes that each cover the batch. */
class DecodeRuntimeTest {

    @Test
    void bucketsCoverTheBatchAndStayFew() {
        for (int n = 1; n <= 16; n++) assertEquals(n, DecodeRuntime.bucket(n));
        assertEquals(24, DecodeRuntime.bucket(17));
        assertEquals(64, DecodeRuntime.bucket(64));
        assertEquals(96, DecodeRuntime.bucket(65));
        assertEquals(256, DecodeRuntime.bucket(256));
        assertEquals(320, DecodeRuntime.bucket(257));
        java.util.Set<Integer> sizes = new java.util.TreeSet<>();
        for (int n = 1; n <= DecodeRuntime.MAX_ROWS; n++) {
            int b = DecodeRuntime.bucket(n);
            assertTrue(b >= n && b <= n + 31, n + " rows in a bucket of " + b);
            sizes.add(b);
        }
        assertTrue(sizes.size() <= 32, "buckets up to 256 rows: " + sizes);
    }
}
