package gsat2r.gpu.ops;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The host side of the deterministic embedding backward: positions grouped by id, in position order within an id. */
class SortedIdsTest {

    @Test
    void groupsPositionsByIdInOrderAndLeavesOutOfRangeIds() {
        int[] tokens = {5, 2, 5, -1, 7, 2, 9, 5};
        Embedding.SortedIds s = Embedding.SortedIds.of(tokens, 8);
        assertArrayEquals(new int[] {2, 5, 7}, s.ids());
        assertArrayEquals(new int[] {0, 2, 5, 6}, s.starts());
        assertArrayEquals(new int[] {1, 5, 0, 2, 7, 4}, s.order());
    }

    @Test
    void agreesWithAStableSortOnRandomBatches() {
        Random r = new Random(3);
        for (int trial = 0; trial < 20; trial++) {
            int vocab = 1 + r.nextInt(50), n = 1 + r.nextInt(300);
            int[] tokens = new int[n];
            for (int i = 0; i < n; i++) tokens[i] = r.nextInt(vocab);
            Embedding.SortedIds s = Embedding.SortedIds.of(tokens, vocab);
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < n; i++) order.add(i);
            order.sort((a, b) -> Integer.compare(tokens[a], tokens[b]));   // List.sort is stable
            assertArrayEquals(order.stream().mapToInt(Integer::intValue).toArray(), s.order());
            assertEquals(n, s.starts()[s.distinct()]);
            for (int u = 0; u < s.distinct(); u++) {
                for (int j = s.starts()[u]; j < s.starts()[u + 1]; j++) assertEquals(s.ids()[u], tokens[s.order()[j]]);
            }
        }
    }
}
