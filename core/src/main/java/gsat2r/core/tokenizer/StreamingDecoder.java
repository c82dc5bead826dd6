package gsat2r.core.tokenizer;

import java.util.Arrays;

/**
 * Turns token ids, one at a time, into text increments whose concatenation (with {@link #finish()})
 * is exactly the decoded text: {@code decode(all ids)}, or with a context (the prompt) the part of
 * {@code decode(context + ids)} after {@code decode(context)}.
 *
 * <p>A token's text can depend on its neighbours: byte-level BPE splits a character's UTF-8 bytes
 * over tokens, byte fallback spells a character as {@code <0xNN>} pieces that are decoded as one
 * group, and sentencepiece decoders drop the leading space of the first token only. So each step
 * decodes a short window twice, with and without the new tokens, and emits the difference (the
 * method of Hugging Face's text-generation-inference). Text is held back while the window's
 * decoding ends in U+FFFD (an unfinished character) or the last non-special token is a byte-fallback piece
 * (the group's bytes are decoded together, and a later invalid byte would turn the whole group into
 * U+FFFD). The window start only moves to where an increment was cut, so both decodings see the
 * same first token and its leading space is treated alike.
 */
public final class StreamingDecoder {

    private static final char REPLACEMENT = '\uFFFD';
    /** How many context tokens to decode before the first new one (enough for any merge window). */
    private static final int CONTEXT_WINDOW = 8;

    private final Tokenizer tokenizer;
    private final int contextLength;
    private int[] ids;
    private int size;
    /** The window [prefixOffset, size) is decoded; [prefixOffset, readOffset) was emitted already. */
    private int prefixOffset;
    private int readOffset;
    /** Whether the last non-special token is a byte-fallback piece (its group may go on). */
    private boolean lastContentIsByte;
    private final StringBuilder emitted = new StringBuilder();

    /** Decodes ids from the start of a text. */
    public StreamingDecoder(Tokenizer tokenizer) {
        this(tokenizer, new int[0]);
    }

    /** Decodes ids that continue {@code context} (e.g. the prompt); the context itself is not emitted. */
    public StreamingDecoder(Tokenizer tokenizer, int[] context) {
        this.tokenizer = tokenizer;
        this.ids = Arrays.copyOf(context, Math.max(16, context.length * 2));
        this.size = context.length;
        this.contextLength = context.length;
        this.readOffset = context.length;
        this.prefixOffset = windowStart(context);
    }

    /** Feeds one id; returns the text it completes (often empty while a character is unfinished). */
    public String push(int id) {
        if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
        ids[size++] = id;
        // Special tokens are dropped before decoding, so bytes on both sides of one join a group.
        if (!tokenizer.isSpecial(id)) lastContentIsByte = tokenizer.isByteFallback(id);
        if (lastContentIsByte) return "";
        String before = decode(prefixOffset, readOffset);
        String after = decode(prefixOffset, size);
        if (after.length() <= before.length() || after.charAt(after.length() - 1) == REPLACEMENT) return "";
        return emit(after.substring(before.length()));
    }

    /** Emits whatever is held back (an unfinished character decodes to U+FFFD); the decoder can go on after. */
    public String finish() {
        if (readOffset == size) return "";
        String before = decode(prefixOffset, readOffset);
        String after = decode(prefixOffset, size);
        return after.length() > before.length() ? emit(after.substring(before.length())) : "";
    }

    /** All the text emitted so far. */
    public String text() {
        return emitted.toString();
    }

    /** How many ids were fed after the context. */
    public int tokenCount() {
        return size - contextLength;
    }

    private String emit(String increment) {
        prefixOffset = readOffset;
        readOffset = size;
        emitted.append(increment);
        return increment;
    }

    private String decode(int from, int to) {
        return from == to ? "" : tokenizer.decode(Arrays.copyOfRange(ids, from, to));
    }

    /**
     * Where to start decoding in the context: a few tokens back, at a token that starts cleanly, so
     * that the window decodes like the whole text from there on: not special (it would be skipped,
     * and the decoder would treat the next token as the first), not a byte-fallback piece, not the
     * tail bytes of a character.
     */
    private int windowStart(int[] context) {
        int start = Math.max(0, context.length - CONTEXT_WINDOW);
        while (start > 0 && !startsCleanly(context[start])) start--;
        return start;
    }

    private boolean startsCleanly(int id) {
        if (tokenizer.isSpecial(id) || tokenizer.isByteFallback(id)) return false;
        String text = tokenizer.decode(new int[] {id}, false);
        return !text.isEmpty() && text.charAt(0) != REPLACEMENT;
    }
}
