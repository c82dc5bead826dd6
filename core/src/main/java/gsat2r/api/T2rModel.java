package gsat2r.api;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.state.StateFile;
import gsat2r.core.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model ready to embed in an application: a GSA student (or a Llama/Mistral teacher) with its
 * tokenizer. Open {@link Session}s on it to feed text or token ids, generate, and save or restore the
 * decoding state. With a CPU model, thread-safe for concurrent sessions (each session is one sequence and is not
 * itself thread-safe; nor is a {@link Sampler}: give each thread its own); a GPU model (wrapped with {@link #of}) is
 * driven from one thread at a time, all its sessions included; the weights must not change while sessions use
 * them. Bad arguments ({@code null} included), and any use after {@link #close}, are refused with a one-line
 * {@link T2rException}.
 *
 * <p>The tokenizer is a native library (through JNA): embedders run the JVM with
 * {@code --enable-native-access=ALL-UNNAMED}, as the {@code t2r} launcher does, or Java warns on first use.
 *
 * <pre>{@code
 * try (T2rModel model = T2rModel.load(Path.of("student"))) {
 *     Session s = model.newSession();
 *     s.append("In the beginning");
 *     System.out.println(s.generate(40, Sampler.greedy(), piece -> { }).text());
 * }
 * }</pre>
 */
public final class T2rModel implements AutoCloseable {
    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private volatile ModelFingerprint fingerprint;
    private volatile boolean closed;

    private T2rModel(LanguageModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /**
     * Loads a model directory: {@code config.json} ({@code model_type "gsa"}: a GSA student in fla's
     * layout; otherwise a Llama/Mistral teacher), its safetensors weights and, when present, its
     * {@code tokenizer.json} (without one, only the token-id methods work).
     */
    public static T2rModel load(Path dir) {
        requireArgument(dir, "dir");
        LanguageModel m = loadLanguageModel(dir);
        Tokenizer t = Files.isRegularFile(dir.resolve("tokenizer.json")) ? Tokenizer.load(dir) : null;
        return new T2rModel(m, t);
    }

    /** Wraps a model already in memory (e.g. one being trained); {@code tokenizer} may be null. */
    public static T2rModel of(LanguageModel model, Tokenizer tokenizer) {
        requireArgument(model, "model");
        return new T2rModel(model, tokenizer);
    }

    /** The model of a directory on the CPU: a GSA student or a Llama/Mistral teacher, as {@link ModelDirectory} tells. */
    public static LanguageModel loadLanguageModel(Path dir) {
        ModelDirectory md = ModelDirectory.open(dir);
        return md.isStudent() ? GsaModel.load(md) : LlamaModel.load(md, null);
    }

    /** The model itself (for what sessions do not offer, such as {@link LanguageModel#scoreContinuations}). */
    public LanguageModel model() {
        requireOpen();
        return model;
    }

    /** The tokenizer, or null when the model directory has none. */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** Number of token ids the model knows (ids are 0 to {@code vocabSize() - 1}). */
    public int vocabSize() {
        return model.vocabSize();
    }

    /** What a saved state is checked against (hashed once, on first use). */
    public ModelFingerprint fingerprint() {
        ModelFingerprint f = fingerprint;
        if (f == null) fingerprint = f = model.fingerprint();
        return f;
    }

    /** A new, empty sequence. */
    public Session newSession() {
        requireOpen();
        return new Session(this, model.newDecoder(), new int[0], null);
    }

    /**
     * A session continuing the state saved in {@code stateFile} (by {@link Session#save} or
     * {@code t2r generate --save-state}); refused with one line naming the file when the file is damaged
     * or was saved by another model.
     */
    public Session restore(Path stateFile) {
        requireOpen();
        requireArgument(stateFile, "stateFile");
        StateFile.Contents c = StateFile.read(stateFile);
        c.requireModel(fingerprint(), stateFile);
        if (c.vocabSize() != vocabSize()) {
            throw new T2rException(stateFile + ": saved with a vocabulary of " + c.vocabSize() + ", this model has " + vocabSize());
        }
        LanguageModel.Decoder decoder = model.newDecoder();
        try {
            decoder.restoreState(c.state());
        } catch (RuntimeException e) {
            decoder.release();
            if (e instanceof T2rException) throw new T2rException(stateFile + ": does not fit this model: " + e.getMessage(), e);
            throw e;
        }
        return new Session(this, decoder, c.tokens(), c.logits());
    }

    /** Token ids of {@code text} with the tokenizer's special tokens (BOS), as at the start of a sequence. */
    public int[] encode(String text) {
        requireArgument(text, "text");
        return requireTokenizer().encode(text);
    }

    /** Token ids of {@code text} alone (no special tokens), as when text continues a sequence. */
    public int[] encodeContinuation(String text) {
        requireArgument(text, "text");
        return requireTokenizer().encodePlain(text);
    }

    /** The text of token ids (special tokens included as the tokenizer writes them). */
    public String decode(int[] ids) {
        requireArgument(ids, "ids");
        return requireTokenizer().decode(ids);
    }

    Tokenizer requireTokenizer() {
        requireOpen();
        if (tokenizer == null) throw new T2rException("this model has no tokenizer.json: use token ids");
        return tokenizer;
    }

    /** Whether {@link #close} was called. */
    boolean isClosed() {
        return closed;
    }

    void requireOpen() {
        if (closed) throw new T2rException("the model is closed");
    }

    static <T> T requireArgument(T value, String name) {
        if (value == null) throw new T2rException(name + " is null");
        return value;
    }

    /** Frees the model and its tokenizer; every later use of it or its sessions is refused. Harmless twice. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            model.close();
        } finally {
            if (tokenizer != null) tokenizer.close();
        }
    }
}
