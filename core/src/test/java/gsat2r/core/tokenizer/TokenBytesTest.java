package gsat2r.core.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

import static gsat2r.core.tokenizer.TestTokenizers.BYTE_LEVEL;
import static gsat2r.core.tokenizer.TestTokenizers.SENTENCEPIECE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The bytes of single tokens, checked against the tokenizer's own decoding of whole texts. */
class TokenBytesTest {
    private static final String[] TEXTS = {
            "In the beginning God created the heaven and the earth.",
            "  two spaces,\ttab\nnew line\r\n\u00e9t\u00e9 \u4e2d\u6587 \uD83D\uDE00\uD83C\uDF0D \u00bfQu\u00e9? \uD83D\uDC4D",
            "digits 12345 and symbols <>&%$#@!~`^*()[]{}|\\/ \u00a0\u00ad\u00ff\u0100",
    };

    private static String concatenated(Tokenizer t, int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(t.tokenBytes(id));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void byteLevelTokensConcatenateToTheDecodedText() {
        try (Tokenizer byteLevel = Tokenizer.load(TestTokenizers.dir(BYTE_LEVEL))) {
            for (String text : TEXTS) {
                int[] ids = byteLevel.encodePlain(text);
                assertEquals(byteLevel.decode(ids), concatenated(byteLevel, ids), text);
                assertEquals(text, concatenated(byteLevel, ids));
            }
            int bos = byteLevel.bosId().orElseThrow();
            assertArrayEquals(byteLevel.token(bos).getBytes(StandardCharsets.UTF_8), byteLevel.tokenBytes(bos), "a special token: its content");
        }
    }

    @Test
    void sentencepieceTokensConcatenateToTheDecodedTextWithItsPrependedSpace() {
        try (Tokenizer sentencepiece = Tokenizer.load(TestTokenizers.dir(SENTENCEPIECE))) {
            for (String text : TEXTS) {
                int[] ids = sentencepiece.encodePlain(text);
                String joined = concatenated(sentencepiece, ids);
                assertEquals(' ', joined.charAt(0), "the normalizer prepends a space (\u2581): " + joined);
                assertEquals(sentencepiece.decode(ids), joined.substring(1), text);
            }
            int pieces = 0;
            for (int id : sentencepiece.encodePlain("\uD83D\uDE00")) {                // spelled as <0xF0><0x9F><0x98><0x80>
                if (!sentencepiece.isByteFallback(id)) continue;
                pieces++;
                assertArrayEquals(new byte[] {(byte) Integer.parseInt(sentencepiece.token(id).substring(3, 5), 16)}, sentencepiece.tokenBytes(id));
            }
            assertEquals(4, pieces, "the test needs the emoji spelled in bytes");
        }
    }

    @Test
    void theByteLevelAlphabetMapsEveryByteOnce() {
        Set<Integer> seen = new HashSet<>();
        int mapped = 0;
        for (char c = 0; c < 0x200; c++) {
            byte[] b = ByteLevelAlphabet.bytes(String.valueOf(c));
            if (b == null) continue;
            mapped++;
            seen.add(b[0] & 0xFF);
        }
        assertEquals(256, mapped);
        assertEquals(256, seen.size());
        assertArrayEquals(new byte[] {' ', 't', 'h', 'e'}, ByteLevelAlphabet.bytes("\u0120the"));
        assertArrayEquals(new byte[] {'\n'}, ByteLevelAlphabet.bytes("\u010A"));
        assertArrayEquals(new byte[] {(byte) 0xAD}, ByteLevelAlphabet.bytes("\u0143"));   // the last of the 68 moved bytes
        assertNull(ByteLevelAlphabet.bytes("\u0144"));
    }
}
