package gsat2r.core.tokenizer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static gsat2r.core.tokenizer.TestTokenizers.BYTE_LEVEL;
import static gsat2r.core.tokenizer.TestTokenizers.SENTENCEPIECE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StreamingDecoderTest {

    private static final String MIXED = "In the beginning \u00e9t\u00e9 \u4e2d\u6587 \uD83D\uDE00\uD83C\uDF0D God said, "
            + "Let there be light: and there was light.\n\u00bfQu\u00e9? \uD83D\uDC4D";

    private static Tokenizer byteLevel;
    private static Tokenizer sentencepiece;

    @BeforeAll
    static void load() {
        byteLevel = Tokenizer.load(TestTokenizers.dir(BYTE_LEVEL));
        sentencepiece = Tokenizer.load(TestTokenizers.dir(SENTENCEPIECE));
    }

    @AfterAll
    static void close() {
        byteLevel.close();
        sentencepiece.close();
    }

    private static Tokenizer tokenizer(String name) {
        return name.equals(BYTE_LEVEL) ? byteLevel : sentencepiece;
    }

    /** Feeds ids one by one; returns every increment (finish() last). */
    private static List<String> stream(StreamingDecoder d, int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) out.add(d.push(id));
        out.add(d.finish());
        return out;
    }

    private static void assertWholeCharacters(List<String> increments) {
        for (String s : increments) {
            assertFalse(s.indexOf('\uFFFD') >= 0, "replacement character in increment " + s);
            if (s.isEmpty()) continue;
            assertFalse(Character.isLowSurrogate(s.charAt(0)), "increment starts inside a surrogate pair");
            assertFalse(Character.isHighSurrogate(s.charAt(s.length() - 1)), "increment ends inside a surrogate pair");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void incrementsConcatenateToTheTextAndNeverSplitACharacter(String name) {
        Tokenizer t = tokenizer(name);
        int[] ids = t.encode(MIXED);
        List<String> increments = stream(new StreamingDecoder(t), ids);
        assertWholeCharacters(increments);
        assertEquals(MIXED, String.join("", increments));
        assertEquals(t.decode(ids), String.join("", increments));
        assertTrue(increments.stream().filter(s -> !s.isEmpty()).count() > 10, "text streams in many pieces");
    }

    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void emojiSpelledAsBytesComesOutWhole(String name) {
        Tokenizer t = tokenizer(name);
        int[] ids = t.encodePlain("a\uD83D\uDE00");      // a + four byte tokens (byte-level or <0xNN>)
        StreamingDecoder d = new StreamingDecoder(t);
        List<String> increments = stream(d, ids);
        assertWholeCharacters(increments);
        assertTrue(increments.contains("\uD83D\uDE00") || increments.get(increments.size() - 1).endsWith("\uD83D\uDE00"),
                increments.toString());
        assertEquals("a\uD83D\uDE00", d.text());
        assertEquals(ids.length, d.tokenCount());
    }

    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void withAPromptTheIncrementsAreItsContinuationIncludingTheLeadingSpace(String name) {
        Tokenizer t = tokenizer(name);
        int[] prompt = t.encode("And God said, Let there be");
        int[] all = t.encode("And God said, Let there be light: and there was light. \u4e2d\uD83D\uDE00");
        assertTrue(Arrays.equals(prompt, Arrays.copyOf(all, prompt.length)), "prompt tokens are a prefix here");
        int[] continuation = Arrays.copyOfRange(all, prompt.length, all.length);
        List<String> increments = stream(new StreamingDecoder(t, prompt), continuation);
        assertWholeCharacters(increments);
        assertEquals(" light: and there was light. \u4e2d\uD83D\uDE00", String.join("", increments));
    }

    /**
     * Random ids, including byte pieces that form invalid UTF-8 and special tokens: the increments
     * (with finish) are exactly the whole decoding, and no increment ends inside a character.
     */
    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void randomIdsConcatenateToTheWholeDecoding(String name) {
        Tokenizer t = tokenizer(name);
        SplittableRandom random = new SplittableRandom(42);
        int[] context = t.encode("In the beginning God");
        for (int trial = 0; trial < 300; trial++) {
            int[] ids = random.ints(1 + random.nextInt(40), 0, t.vocabSize()).toArray();
            List<String> increments = stream(new StreamingDecoder(t), ids);
            assertEquals(t.decode(ids), String.join("", increments), "ids " + Arrays.toString(ids));
            for (int i = 0; i < increments.size() - 1; i++) {
                String s = increments.get(i);
                assertFalse(!s.isEmpty() && s.charAt(s.length() - 1) == '\uFFFD', "held-back text emitted: " + s);
            }

            int[] all = concat(context, ids);
            String whole = t.decode(all);
            String prefix = t.decode(context);
            assertTrue(whole.startsWith(prefix));
            List<String> continued = stream(new StreamingDecoder(t, context), ids);
            assertEquals(whole.substring(prefix.length()), String.join("", continued), "ids " + Arrays.toString(ids));
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
