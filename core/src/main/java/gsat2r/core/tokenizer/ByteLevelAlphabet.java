package gsat2r.core.tokenizer;

/**
 * GPT-2's byte-level alphabet, which byte-level BPE tokenizers (GPT-2, Llama 3, Qwen) write their vocabulary in: the
 * printable bytes {@code !}..{@code ~}, {@code ¡}..{@code ¬} and {@code ®}..{@code ÿ} stand for themselves, and the
 * other 68 bytes, in increasing order, for the characters U+0100 onwards (so a space is {@code Ġ}, U+0120).
 */
final class ByteLevelAlphabet {
    private ByteLevelAlphabet() {}

    /** {@code BYTE_OF[c]}: the byte character c stands for, or -1; for the 324 characters below U+0144. */
    private static final int[] BYTE_OF = new int[0x144];

    static {
        java.util.Arrays.fill(BYTE_OF, -1);
        int next = 0x100;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_OF[printable ? b : next++] = b;
        }
    }

    /** The bytes a token string of this alphabet stands for; null when a character is outside it. */
    static byte[] bytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < out.length; i++) {
            char c = token.charAt(i);
            if (c >= BYTE_OF.length || BYTE_OF[c] < 0) return null;
            out[i] = (byte) BYTE_OF[c];
        }
        return out;
    }
}
