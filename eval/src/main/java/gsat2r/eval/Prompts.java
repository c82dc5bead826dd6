package gsat2r.eval;

import gsat2r.core.tokenizer.Tokenizer;

import java.util.Arrays;

/** Token-level helpers shared by the prompt-building tasks. */
final class Prompts {
    private Prompts() {}

    /**
     * The tokens the tokenizer puts before a text's own (BOS for Llama and Mistral tokenizers; none
     * for a tokenizer without a post-processor that adds one).
     */
    static int[] startTokens(Tokenizer tokenizer) {
        String probe = " and";
        int[] full = tokenizer.encode(probe), plain = tokenizer.encodePlain(probe);
        for (int p = 0; p + plain.length <= full.length; p++) {
            if (Arrays.equals(Arrays.copyOfRange(full, p, p + plain.length), plain)) return Arrays.copyOf(full, p);
        }
        return new int[0];
    }

    /**
     * Splits {@code encode(prompt + answer)} into the prompt's tokens and the answer's: the answer is what
     * follows the longest common prefix of {@code encode(prompt)} and {@code encode(prompt + answer)}.
     * (A tokenizer may merge across the boundary; then the merged token counts as the answer's.)
     */
    static int[][] split(Tokenizer tokenizer, String prompt, String answer) {
        int[] p = tokenizer.encode(prompt), whole = tokenizer.encode(prompt + answer);
        int common = 0;
        while (common < p.length && common < whole.length && p[common] == whole[common]) common++;
        return new int[][] {Arrays.copyOf(whole, common), Arrays.copyOfRange(whole, common, whole.length)};
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
