package gsat2r.core.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SequencedSet;

/**
 * A model's Hugging Face tokenizer ({@code tokenizer.json}), run by the same Rust code as
 * transformers through DJL's bundled native library, offline.
 *
 * <p>Encoding never truncates or pads: DJL would otherwise cut every text at 512 tokens. DJL's
 * telemetry call (an HTTP request to the EC2 metadata address on every first load) is switched off,
 * and its native library is unpacked under this project's cache directory.
 *
 * <p>{@link #encode} adds special tokens exactly as the tokenizer's post-processor says (BOS for
 * Llama 3, Llama 2 and Mistral). One addition, as transformers' Llama tokenizer does it: a
 * tokenizer.json with no post-processor whose {@code tokenizer_config.json} says
 * {@code add_bos_token} / {@code add_eos_token} gets those tokens added.
 */
public final class Tokenizer implements AutoCloseable {

    static {
        DjlSettings.apply();
    }

    private final Path dir;
    private final TokenizerJson json;
    private final HuggingFaceTokenizer hf;
    private final OptionalInt bosId;
    private final int[] eosIds;
    private final boolean prependBos;
    private final boolean appendEos;
    /** tokenizer_config.json's bos_token and eos_token texts, null when it names none. */
    private final String bosToken, eosToken;

    private Tokenizer(Path dir, TokenizerJson json, HuggingFaceTokenizer tokenizer, OptionalInt bosId, int[] eosIds,
                      boolean prependBos, boolean appendEos, String bosToken, String eosToken) {
        this.dir = dir;
        this.json = json;
        this.hf = tokenizer;
        this.bosId = bosId;
        this.eosIds = eosIds;
        this.prependBos = prependBos;
        this.appendEos = appendEos;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
    }

    /**
     * Loads {@code tokenizer.json} from a model directory (or the file itself), with
     * {@code tokenizer_config.json}, {@code config.json} and {@code generation_config.json} beside it
     * when present for the BOS and EOS ids.
     */
    public static Tokenizer load(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        Path dir = file.toAbsolutePath().getParent();
        if (!Files.isRegularFile(file)) {
            throw new T2rException(file + ": no such file (the model directory needs its tokenizer.json)");
        }
        TokenizerJson json = TokenizerJson.read(file);
        JsonNode tokenizerConfig = optionalJson(dir.resolve("tokenizer_config.json"));
        JsonNode config = optionalJson(dir.resolve("config.json"));
        JsonNode generationConfig = optionalJson(dir.resolve("generation_config.json"));

        OptionalInt bos = firstId(json, config.path("bos_token_id"), generationConfig.path("bos_token_id"),
                tokenizerConfig.path("bos_token"));
        if (bos.isEmpty() && json.templateFirstSpecialToken() != null) {
            int id = json.idOf(json.templateFirstSpecialToken());
            if (id >= 0) bos = OptionalInt.of(id);
        }
        int[] eos = allIds(json, generationConfig.path("eos_token_id"));
        if (eos.length == 0) eos = allIds(json, config.path("eos_token_id"));
        if (eos.length == 0) eos = allIds(json, tokenizerConfig.path("eos_token"));

        boolean prependBos = !json.hasPostProcessor() && tokenizerConfig.path("add_bos_token").asBoolean(false);
        boolean appendEos = !json.hasPostProcessor() && tokenizerConfig.path("add_eos_token").asBoolean(false);
        if (prependBos && bos.isEmpty()) {
            throw new T2rException(dir.resolve("tokenizer_config.json") + ": add_bos_token is true but no BOS token is defined");
        }
        if (appendEos && eos.length == 0) {
            throw new T2rException(dir.resolve("tokenizer_config.json") + ": add_eos_token is true but no EOS token is defined");
        }

        HuggingFaceTokenizer tokenizer;
        try (InputStream in = Files.newInputStream(file)) {
            tokenizer = HuggingFaceTokenizer.newInstance(in, Map.of(
                    "addSpecialTokens", "true",
                    "truncation", "false",
                    "padding", "false"));
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            if (isNativeLibraryFailure(e)) throw new T2rException(nativeLibraryProblem(e), e);
            throw new T2rException(file + ": the tokenizers library cannot load it: " + oneLine(e), e);
        }
        return new Tokenizer(dir, json, tokenizer, bos, eos, prependBos, appendEos, tokenText(tokenizerConfig.path("bos_token")),
                tokenText(tokenizerConfig.path("eos_token")));
    }

    /** Whether loading failed for want of the tokenizers' native library, not because of the file. */
    static boolean isNativeLibraryFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnsatisfiedLinkError || String.valueOf(t.getMessage()).contains("native library")) return true;
        }
        return false;
    }

    /**
     * The one line for a native library that cannot be loaded. DJL unpacks it on first use into a cache directory
     * (ENGINE_CACHE_DIR or DJL_CACHE_DIR, this project's cache by default, a temp directory when the home is not
     * writable), so the usual cause is a cache that cannot be written; the other is a platform with no build of it.
     */
    static String nativeLibraryProblem(Throwable e) {
        return "cannot load the tokenizers native library (" + oneLine(e) + "): DJL unpacks it on first use into a cache directory "
                + "that must be writable (set DJL_CACHE_DIR to one); a platform it has no build for (such as musl Linux) cannot load it";
    }

    /** Token ids of {@code text}, with the special tokens the tokenizer adds to a single sequence (BOS). */
    public int[] encode(String text) {
        int[] ids = toInts(hf.encode(text, true, false));
        if (!prependBos && !appendEos) return ids;
        int[] out = new int[ids.length + (prependBos ? 1 : 0) + (appendEos ? 1 : 0)];
        int n = 0;
        if (prependBos) out[n++] = bosId.getAsInt();
        System.arraycopy(ids, 0, out, n, ids.length);
        if (appendEos) out[out.length - 1] = eosIds[0];
        return out;
    }

    /** Token ids of {@code text} alone, without any special token added. */
    public int[] encodePlain(String text) {
        return toInts(hf.encode(text, false, false));
    }

    /** The text of {@code ids}, leaving out special tokens (BOS, EOS, ...). */
    public String decode(int[] ids) {
        return decode(ids, true);
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            checkId(ids[i]);
            longs[i] = ids[i];
        }
        return hf.decode(longs, skipSpecialTokens);
    }

    /** The token string of one id as the vocabulary stores it (e.g. {@code "Ġthe"}, {@code "<0xE4>"}). */
    public String token(int id) {
        checkId(id);
        return json.token(id);
    }

    /** The bytes one id stands for in text (see {@link TokenizerJson#tokenBytes}); special tokens give their content. */
    public byte[] tokenBytes(int id) {
        checkId(id);
        return json.tokenBytes(id);
    }

    /**
     * The BOS token's text as Hugging Face's {@code tokenizer.bos_token} gives it: tokenizer_config.json's
     * {@code bos_token}, else the token of {@link #bosId}; null when there is none.
     */
    public String bosToken() {
        return bosToken != null ? bosToken : bosId.isPresent() ? json.token(bosId.getAsInt()) : null;
    }

    /**
     * The EOS token's text as Hugging Face's {@code tokenizer.eos_token} gives it: tokenizer_config.json's
     * {@code eos_token} (Llama 3.1 Instruct's {@code <|eot_id|>}, where generation_config.json lists several ids),
     * else the token of the first of {@link #eosIds}; null when there is none.
     */
    public String eosToken() {
        return eosToken != null ? eosToken : eosIds.length > 0 ? json.token(eosIds[0]) : null;
    }

    public OptionalInt bosId() {
        return bosId;
    }

    /**
     * The ids that end generation: {@code generation_config.json}'s {@code eos_token_id} (one id or a
     * list), else {@code config.json}'s, else {@code tokenizer_config.json}'s {@code eos_token}. May be empty.
     */
    public int[] eosIds() {
        return eosIds.clone();
    }

    public boolean isEos(int id) {
        for (int e : eosIds) if (e == id) return true;
        return false;
    }

    /** One more than the largest token id (vocabulary and added tokens). */
    public int vocabSize() {
        return json.vocabSize();
    }

    /** e.g. "BPE byte-level" or "BPE with byte fallback (sentencepiece-style)". */
    public String kind() {
        return json.kind();
    }

    public boolean isSpecial(int id) {
        return json.isSpecial(id);
    }

    /** Whether {@code id} is a byte-fallback piece {@code <0xNN>}: its text depends on its neighbours. */
    public boolean isByteFallback(int id) {
        return json.isByteFallback(id);
    }

    /** The directory the tokenizer was loaded from. */
    public Path dir() {
        return dir;
    }

    @Override
    public void close() {
        hf.close();
    }

    private void checkId(int id) {
        if (id < 0 || id >= json.vocabSize() || json.token(id) == null) {
            throw new T2rException("token id " + id + " is not in the vocabulary of " + json.file()
                    + " (size " + json.vocabSize() + ")");
        }
    }

    private static int[] toInts(Encoding encoding) {
        long[] ids = encoding.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    private static JsonNode optionalJson(Path file) {
        return Files.isRegularFile(file) ? TokenizerJson.readJson(file) : MissingNode.getInstance();
    }

    /** The first of the candidates that names a token: an id, or a token string / {"content": ...} object. */
    private static OptionalInt firstId(TokenizerJson json, JsonNode... candidates) {
        for (JsonNode c : candidates) {
            int[] ids = allIds(json, c);
            if (ids.length > 0) return OptionalInt.of(ids[0]);
        }
        return OptionalInt.empty();
    }

    private static int[] allIds(TokenizerJson json, JsonNode node) {
        SequencedSet<Integer> ids = new LinkedHashSet<>();
        if (node.isArray()) {
            for (JsonNode n : node) ids.addAll(Arrays.stream(allIds(json, n)).boxed().toList());
        } else if (node.canConvertToInt() && node.isIntegralNumber()) {
            int id = node.asInt();
            if (id >= 0 && id < json.vocabSize()) ids.add(id);
        } else if (node.isTextual() || node.isObject()) {
            String token = tokenText(node);
            int id = token == null ? -1 : json.idOf(token);
            if (id >= 0) ids.add(id);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** A special token as tokenizer_config.json gives it: a string, or an object with its content; null otherwise. */
    private static String tokenText(JsonNode node) {
        return node.isTextual() ? node.asText() : node.isObject() ? node.path("content").asText(null) : null;
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().map(String::strip).filter(s -> !s.isEmpty()).findFirst().orElse(m);
    }
}
