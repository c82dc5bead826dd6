package gsat2r.api;

import gsat2r.core.T2rException;
import gsat2r.core.generate.Generator;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.ContinuationScorer;
import gsat2r.core.model.Continuations;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.state.StateFile;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * One sequence decoded by a {@link T2rModel}: the tokens so far, the decoder's state after them (a
 * constant-size recurrent state per GSA layer, a KV cache per attention layer) and the next-token
 * logits. Feed text or ids with {@link #append}, sample with {@link #generate}, weigh continuations with
 * {@link #score}, keep the state with {@link #save} (a file any process with the same model can
 * {@link T2rModel#restore}) or {@link #fork} (a copy in memory). Not thread-safe; open one session per sequence.
 *
 * <p>Restoring a saved state into the same model on the same device and precision continues bit for bit as this
 * session would have: the same logits, so the same
 * tokens with greedy decoding, or with a seeded {@link Sampler} in the same state as this session's (a sampler's
 * draws so far are not part of the saved state: a new one with the same seed draws as a new one would here).
 * Appending {@code A} then {@code B} equals appending {@code A+B} up to fp32 rounding (the chunked GSA form splits
 * them into other chunks).
 *
 * <p>Every method refuses bad arguments ({@code null} included) with a {@link T2rException}, and so does every method
 * that decodes or saves when the model or the session is closed ({@link #tokens} and {@link #length} stay readable). Close a session when done with it ({@code try}-with-resources) to give its state back at once:
 * on a GPU model that is device memory.
 */
public final class Session implements AutoCloseable {
    private final T2rModel owner;
    private final LanguageModel.Decoder decoder;
    private int[] tokens;
    private int length;
    private float[] logits;
    /** Whether the last token is sampled but not yet fed to the decoder (it is fed before anything else). */
    private boolean pending;
    private boolean closed;

    Session(T2rModel owner, LanguageModel.Decoder decoder, int[] tokens, float[] logits) {
        this.owner = owner;
        this.decoder = decoder;
        this.tokens = Arrays.copyOf(tokens, Math.max(16, tokens.length * 2));
        this.length = tokens.length;
        this.logits = logits;
    }

    /** The token ids of the sequence so far (fed and sampled). */
    public int[] tokens() {
        return Arrays.copyOf(tokens, length);
    }

    /** Number of tokens in the sequence. */
    public int length() {
        return length;
    }

    /**
     * Feeds {@code text}: encoded with the tokenizer's special tokens (BOS) when the session is empty,
     * as plain text after that. Returns the next-token logits (a copy).
     */
    public float[] append(String text) {
        requireOpen();
        T2rModel.requireArgument(text, "text");
        int[] ids = length == 0 ? owner.encode(text) : owner.encodeContinuation(text);
        if (ids.length == 0) throw new T2rException("the text encodes to no tokens");
        return append(ids);
    }

    /** Feeds token ids; returns the next-token logits (a copy). */
    public float[] append(int... ids) {
        requireOpen();
        T2rModel.requireArgument(ids, "ids");
        if (ids.length == 0) throw new T2rException("no tokens to append");
        requireIds(ids);
        flush();
        logits = decoder.prefill(ids);
        add(ids);
        return logits.clone();
    }

    /** The next-token logits after the last token (a copy); the session must not be empty. */
    public float[] logits() {
        requireOpen();
        requireTokens();
        flush();
        return logits.clone();
    }

    /**
     * Samples up to {@code maxNewTokens} tokens (stopping after an end-of-sequence token, which is kept),
     * appending them to the session; the text streams to {@code onText} (null: none) in whole characters. To stop
     * early, throw from {@code onText}: the session then holds every token sampled so far, text streamed or not, and
     * goes on from there. An interrupt of the calling thread stops it before the next token and returns (the result's
     * stop {@code INTERRUPTED}, the thread's interrupt flag left set): run it on an executor and {@code
     * Future.cancel(true)} to cancel it from another thread. {@code cancel} returns at once, while the generating thread
     * may still be inside the model for one token: wait for that thread (the executor's {@code awaitTermination}, or a
     * latch the task counts down when {@code generate} returns) before using or closing the session.
     */
    public Generator.Result generate(int maxNewTokens, Sampler sampler, Consumer<String> onText) {
        return generate(maxNewTokens, sampler, List.of(), onText);
    }

    /**
     * {@link #generate(int, Sampler, Consumer)}, also stopping at the first of {@code stops} (non-empty strings) in the
     * new text: the result's text and {@code onText} end just before it (text that may begin one is held back until it
     * cannot), and the session holds every token sampled, those of the stop string included.
     */
    public Generator.Result generate(int maxNewTokens, Sampler sampler, List<String> stops, Consumer<String> onText) {
        requireOpen();
        T2rModel.requireArgument(sampler, "sampler");
        T2rModel.requireArgument(stops, "stops");
        if (maxNewTokens < 0) throw new T2rException("maxNewTokens must be 0 or more, not " + maxNewTokens);
        for (String s : stops) {
            T2rModel.requireArgument(s, "a stop string");
            if (s.isEmpty()) throw new T2rException("a stop string is empty");
        }
        requireTokens();
        flush();
        // Each sampled token joins the session at once: continueFrom feeds every new token but the last.
        return new Generator(owner.model(), owner.requireTokenizer()).continueFrom(decoder, tokens(), logits, maxNewTokens, sampler,
                List.copyOf(stops), onText == null ? piece -> { } : onText, id -> {
                    add(new int[] {id});
                    pending = true;
                });
    }

    /** Samples one token from the current logits (with the sampler's repetition penalty over the session) and appends it; no tokenizer needed. */
    public int step(Sampler sampler) {
        requireOpen();
        T2rModel.requireArgument(sampler, "sampler");
        requireTokens();
        flush();
        int id = sampler.sample(logits, tokens, length);
        add(new int[] {id});
        pending = true;
        return id;
    }

    /**
     * Writes the session's state to {@code file} atomically (see {@link StateFile} for the format), creating its
     * directory when missing.
     */
    public void save(Path file) {
        requireOpen();
        T2rModel.requireArgument(file, "file");
        flush();
        StateFile.write(file, new StateFile.Contents(owner.fingerprint(), tokens(), length == 0 ? null : logits.clone(),
                owner.vocabSize(), decoder.saveState(), "t2r"));
    }

    /**
     * How likely each continuation is after the session's tokens: its log-likelihood (natural log, summed over its
     * tokens) and whether greedy decoding would produce it, as multiple-choice evaluation scores a choice. Each
     * text is encoded as plain text continuing the sequence. The session is left as it was.
     */
    public Continuations.Score[] score(String... continuations) {
        requireOpen();
        T2rModel.requireArgument(continuations, "continuations");
        int[][] ids = new int[continuations.length][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = owner.encodeContinuation(T2rModel.requireArgument(continuations[i], "continuations[" + i + "]"));
            if (ids[i].length == 0) throw new T2rException("continuations[" + i + "] encodes to no tokens");
        }
        return score(ids);
    }

    /** {@link #score(String...)} of token ids; each continuation at least one id. The session is left as it was. */
    public Continuations.Score[] score(int[]... continuations) {
        requireOpen();
        T2rModel.requireArgument(continuations, "continuations");
        requireTokens();
        if (continuations.length == 0) throw new T2rException("no continuation to score");
        for (int i = 0; i < continuations.length; i++) {
            int[] c = T2rModel.requireArgument(continuations[i], "continuations[" + i + "]");
            if (c.length == 0) throw new T2rException("continuations[" + i + "] has no tokens");
            requireIds(c);
        }
        flush();
        DecoderState saved = decoder.saveState();
        Continuations.Score[] scores = new Continuations.Score[continuations.length];
        Throwable failure = null;
        try {
            for (int i = 0; i < scores.length; i++) {
                if (i > 0) decoder.restoreState(saved);
                scores[i] = ContinuationScorer.along(decoder, logits, continuations[i]);
            }
        } catch (RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            putBack(saved, failure);
        }
        return scores;
    }

    /** An independent copy of this session (e.g. to answer several questions after one cached prompt). */
    public Session fork() {
        requireOpen();
        flush();
        LanguageModel.Decoder copy = owner.model().newDecoder();
        try {
            copy.restoreState(decoder.saveState());
        } catch (RuntimeException e) {
            copy.release();
            throw e;
        }
        return new Session(owner, copy, tokens(), logits == null ? null : logits.clone());
    }

    /**
     * Gives back the session's decoding state now: on a GPU model its device memory, which otherwise goes back only
     * after the session is collected. Appending, generating, scoring, saving and forking are refused after it
     * ({@link #tokens} stays readable); a second call does nothing; the model and its other sessions go on.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (!owner.isClosed()) decoder.release();   // a closed model has given back its decoders' memory with its own
    }

    /**
     * Restores the state saved before scoring. Should that fail, the decoder no longer matches the session's tokens:
     * the session is closed, and the failure joins the one that stopped scoring, if any.
     */
    private void putBack(DecoderState saved, Throwable failure) {
        try {
            decoder.restoreState(saved);
        } catch (RuntimeException e) {
            close();
            if (failure == null) throw e;
            failure.addSuppressed(e);
        }
    }

    private void requireOpen() {
        owner.requireOpen();
        if (closed) throw new T2rException("the session is closed");
    }

    private void flush() {
        if (pending) {
            pending = false;
            logits = decoder.next(tokens[length - 1]);
        }
    }

    private void add(int[] ids) {
        if (length + ids.length > tokens.length) tokens = Arrays.copyOf(tokens, Math.max(2 * tokens.length, length + ids.length));
        System.arraycopy(ids, 0, tokens, length, ids.length);
        length += ids.length;
    }

    private void requireIds(int[] ids) {
        int vocab = owner.vocabSize();
        for (int id : ids) {
            if (id < 0 || id >= vocab) throw new T2rException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
        }
    }

    private void requireTokens() {
        if (length == 0) throw new T2rException("the session is empty: append a prompt first");
    }
}
