package gsat2r.eval.harness;

import gsat2r.core.model.Continuations;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The harness's building blocks, each against values worked out by hand or printed by CPython. */
class HarnessRulesTest {

    @Test
    void pythonRandomDrawsWhatCPythonDraws() {
        PythonRandom r = new PythonRandom(0);                    // python3: random.Random(0).random() ×3
        assertEquals(0.8444218515250481, r.random());
        assertEquals(0.7579544029403025, r.random());
        assertEquals(0.420571580830845, r.random());
        assertArrayEquals(new int[] {3, 1, 6, 0, 5, 3, 0, 5, 0, 4}, new PythonRandom(7).choices(10));
        assertEquals(0.6414006161858726, new PythonRandom(123456789).random());
    }

    @Test
    void pythonRandomSamplesWhatCPythonSamples() {
        // python3 3.11: r = random.Random(seed); r.sample(range(n), k) twice. Small n take CPython's pool method, the
        // rest its method of redrawing picked indices (n above 21, or above 85 for k of 6 to 21).
        int[][][] expected = {
                {{1234, 3, 2}, {1, 0}, {0, 2}},
                {{1234, 8, 6}, {7, 0, 6, 5, 4, 2}, {1, 0, 2, 7, 6, 3}},
                {{1234, 40, 5}, {28, 7, 0, 5, 37}, {2, 5, 6, 22, 15}},
                {{1234, 2251, 25}, {1805, 478, 30, 371, 143, 343, 403, 1452, 969, 71, 126, 64, 1417, 1983, 1898, 608, 373, 749,
                        468, 59, 2060, 1993, 1023, 264, 2216},
                        {1908, 280, 364, 2109, 188, 1104, 258, 1238, 1970, 1455, 1091, 1020, 819, 1857, 2171, 79, 2081, 289, 23,
                                1366, 588, 1936, 1545, 684, 221}},
                {{7, 100, 11}, {41, 19, 50, 83, 6, 9, 68, 12, 46, 74, 7}, {64, 27, 4, 11, 55, 53, 8, 30, 70, 54, 7}},
                {{0, 39905, 11}, {25247, 27562, 2653, 16968, 33506, 31845, 26537, 19877, 31234, 23465, 38232},
                        {14315, 33075, 9127, 18470, 9158, 6214, 16417, 34902, 39446, 9631, 20325}},
                {{1234, 1, 1}, {0}, {0}},
        };
        for (int[][] e : expected) {
            PythonRandom r = new PythonRandom(e[0][0]);
            assertArrayEquals(e[1], r.sample(e[0][1], e[0][2]), Arrays.toString(e[0]));
            assertArrayEquals(e[2], r.sample(e[0][1], e[0][2]), Arrays.toString(e[0]) + ", the second draw");
        }
    }

    @Test
    void rollingWindowsPredictEveryTokenOnceAsTheHarnessDocstringShows() {
        // Tokens 0..9, prefix BOS, max length 4: [BOS 0 1 2]→0..3, [3 4 5 6]→4..7, [5 6 7 8]→8 9 (scored last two).
        int[] tokens = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
        List<Continuations> w = windows(tokens, 4, 1);
        assertEquals(3, w.size());
        assertArrayEquals(new int[] {1}, w.get(0).context());
        assertArrayEquals(new int[] {10, 11, 12, 13}, w.get(0).continuations().getFirst());
        assertArrayEquals(new int[] {13}, w.get(1).context());
        assertArrayEquals(new int[] {14, 15, 16, 17}, w.get(1).continuations().getFirst());
        assertArrayEquals(new int[] {15, 16, 17}, w.get(2).context());
        assertArrayEquals(new int[] {18, 19}, w.get(2).continuations().getFirst());
        assertArrayEquals(new int[] {15, 16, 17, 18}, w.get(2).input(0), "a full window of context for the last two");
    }

    /** The windows {@link HarnessEncoder#rollingWindows} makes, on tokens given directly. */
    private static List<Continuations> windows(int[] tokens, int maxLength, int prefix) {
        try (Tokenizer tok = Tokenizer.load(Path.of("..", "models", "kjv-llama"))) {
            return new HarnessEncoder(tok, HarnessEncoder.Bos.FALSE, maxLength).rollingWindowsOf(tokens, prefix);
        }
    }

    @Test
    void pairsMoveTrailingSpacesAndTruncateFromTheLeft() {
        try (Tokenizer tok = Tokenizer.load(Path.of("..", "models", "kjv-llama"))) {
            HarnessEncoder e = new HarnessEncoder(tok, HarnessEncoder.Bos.AUTO, 2048);
            int[] whole = tok.encode("And God said Let there be light");
            int[] cont = tok.encodePlain(" Let there be light");
            for (String[] p : new String[][] {{"And God said", " Let there be light"}, {"And God said ", "Let there be light"}}) {
                Continuations c = e.pair(p[0], p[1]);
                assertArrayEquals(cont, c.continuations().getFirst());
                assertArrayEquals(Arrays.copyOf(whole, whole.length - cont.length), c.context(), "BOS and the context");
            }
            HarnessEncoder short6 = new HarnessEncoder(tok, HarnessEncoder.Bos.AUTO, 6);
            Continuations cut = short6.pair("And God said", " Let there be light");
            assertEquals(6, cut.input(0).length, "(context + continuation)[-(max+1):][:-1]");
            assertArrayEquals(Arrays.copyOfRange(whole, whole.length - 7, whole.length - 1), cut.input(0));
            assertArrayEquals(tok.encodePlain("And God said"), new HarnessEncoder(tok, HarnessEncoder.Bos.FALSE, 64)
                    .pair("And God said", " x").context(), "add_bos_token=False: no BOS");
        }
    }

    /** Expected strings as scripts/eval/harness_reference.py's Python gives them. */
    @Test
    void promptRulesOfTheTasks() {
        assertEquals("Ruth: She went. The end ", Prompts.hellaswagClean("  Ruth: She went [title] The  end [step]"));
        assertEquals("Hello world", Py.capitalize("hELLO WORLD"));
        assertEquals("The Book of Ruth is the 8-th book (of 66) \"so\"; x", Prompts.wikitextDetokenize(
                "The Book of Ruth is the 8 @-@ th book ( of 66 ) \" so \" ; x"));
        assertEquals(4, Py.wordCount(" a b\nc"), "re.split keeps the empty first field");
        assertEquals(2, Py.len("é🙂"));
        assertEquals("1e-05", PythonJson.floatRepr(1e-5));
        assertEquals("0.0001", PythonJson.floatRepr(1e-4));
        assertEquals("1e+16", PythonJson.floatRepr(1e16));
        assertEquals("123.0", PythonJson.floatRepr(123));
        java.util.Map<String, Object> doc = new java.util.LinkedHashMap<>();
        doc.put("a", List.of(1L, "x\n"));
        doc.put("b", java.util.Map.of());
        assertEquals("{\n  \"a\": [\n    1,\n    \"x\\n\"\n  ],\n  \"b\": {}\n}", PythonJson.dumps(doc));
    }
}
