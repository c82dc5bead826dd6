package gsat2r.core.tokenizer;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * What this project needs to know about a Hugging Face {@code tokenizer.json} beyond what the native
 * tokenizer exposes: the token string of every id, which ids are special (added tokens marked
 * special) or byte-fallback pieces ({@code <0xNN>}), the vocabulary size, the leading special token
 * of the post-processor's template, and a short human description of the algorithm.
 *
 * <p>Reading it needs no native library, so {@code t2r inspect} can describe a tokenizer cheaply.
 */
public final class TokenizerJson {

    static final ObjectMapper JSON = Json.COMPACT;

    static {
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxStringLength(Integer.MAX_VALUE).maxNestingDepth(256).build());
    }

    private final Path file;
    private final String modelType;
    private final String kind;
    private final String[] tokens;
    private final Map<String, Integer> ids;
    private final BitSet specialIds;
    private final BitSet byteFallbackIds;
    private final BitSet addedIds;
    private final boolean byteLevel;
    private final boolean sentencepiece;
    private final boolean hasPostProcessor;
    private final String templateFirstSpecialToken;

    private TokenizerJson(Path file, String modelType, String kind, String[] tokens, BitSet specialIds,
                          BitSet byteFallbackIds, BitSet addedIds, boolean byteLevel, boolean sentencepiece,
                          boolean hasPostProcessor, String templateFirstSpecialToken) {
        this.file = file;
        this.modelType = modelType;
        this.kind = kind;
        this.tokens = tokens;
        this.specialIds = specialIds;
        this.byteFallbackIds = byteFallbackIds;
        this.addedIds = addedIds;
        this.byteLevel = byteLevel;
        this.sentencepiece = sentencepiece;
        this.hasPostProcessor = hasPostProcessor;
        this.templateFirstSpecialToken = templateFirstSpecialToken;
        this.ids = new HashMap<>(tokens.length * 2);
        for (int i = tokens.length - 1; i >= 0; i--) {      // the lowest id wins for a duplicated string
            if (tokens[i] != null) ids.put(tokens[i], i);
        }
    }

    public Path file() {
        return file;
    }

    /** The model's algorithm as tokenizer.json names it: BPE, Unigram, WordPiece, WordLevel. */
    public String modelType() {
        return modelType;
    }

    /** A short human description, e.g. "BPE byte-level" or "BPE with byte fallback (sentencepiece-style)". */
    public String kind() {
        return kind;
    }

    /** One more than the largest id of the vocabulary and the added tokens. */
    public int vocabSize() {
        return tokens.length;
    }

    /** Whether tokenizer.json has a post-processor (which decides the special tokens that encoding adds). */
    public boolean hasPostProcessor() {
        return hasPostProcessor;
    }

    /** The special token the post-processor's single-sequence template starts with (the BOS), or null. */
    public String templateFirstSpecialToken() {
        return templateFirstSpecialToken;
    }

    /** The token string of {@code id} (as stored in the vocabulary, e.g. {@code "Ġthe"}), or null for a hole. */
    public String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    /** The id of a token string in the vocabulary or the added tokens, or -1. */
    public int idOf(String token) {
        return ids.getOrDefault(token, -1);
    }

    public boolean isSpecial(int id) {
        return specialIds.get(id);
    }

    public boolean isByteFallback(int id) {
        return byteFallbackIds.get(id);
    }

    /**
     * The bytes token {@code id} stands for in text (null for a hole): a byte-fallback piece {@code <0xNN>} its byte,
     * a byte-level BPE token its characters mapped back through GPT-2's byte-to-character table ({@code "Ġthe"} is
     * {@code " the"}), a sentencepiece token its text with {@code ▁} as a space ({@code "▁the"} is {@code " the"}), an
     * added token (special or not) its content as UTF-8. A token's bytes may end inside a character; the tokens of a
     * text, concatenated, give its UTF-8 bytes (sentencepiece: with the leading space its normalizer prepended).
     */
    public byte[] tokenBytes(int id) {
        String t = token(id);
        if (t == null) return null;
        if (byteFallbackIds.get(id)) return new byte[] {(byte) Integer.parseInt(t.substring(3, 5), 16)};
        if (!addedIds.get(id)) {
            if (byteLevel) {
                byte[] b = ByteLevelAlphabet.bytes(t);
                if (b != null) return b;
            }
            if (sentencepiece) t = t.replace('\u2581', ' ');
        }
        return t.getBytes(StandardCharsets.UTF_8);
    }

    /** Reads {@code tokenizer.json}: a directory holding one, or the file itself. */
    public static TokenizerJson read(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        JsonNode root = readJson(file);
        JsonNode model = root.path("model");
        if (!model.isObject()) {
            throw new T2rException(file + ": no \"model\" object; not a Hugging Face tokenizer.json");
        }
        String modelType = model.path("type").asText(guessModelType(model));

        Map<Integer, String> byId = new HashMap<>();
        JsonNode vocab = model.path("vocab");
        if (vocab.isObject()) {                       // BPE, WordPiece, WordLevel: {"token": id}
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getValue().canConvertToInt()) {
                    throw new T2rException(file + ": vocabulary entry \"" + e.getKey() + "\" has no integer id");
                }
                byId.put(e.getValue().asInt(), e.getKey());
            }
        } else if (vocab.isArray()) {                 // Unigram: [["piece", score], ...], id = index
            for (int i = 0; i < vocab.size(); i++) byId.put(i, vocab.get(i).path(0).asText());
        } else {
            throw new T2rException(file + ": model has no \"vocab\"");
        }

        BitSet special = new BitSet(), added = new BitSet();
        for (JsonNode t : root.path("added_tokens")) {
            int id = t.path("id").asInt(-1);
            String content = t.path("content").asText(null);
            if (id < 0 || content == null) {
                throw new T2rException(file + ": an added token lacks \"id\" or \"content\"");
            }
            byId.put(id, content);
            added.set(id);
            if (t.path("special").asBoolean(false)) special.set(id);
        }

        int size = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        if (size <= 0) throw new T2rException(file + ": empty vocabulary");
        String[] tokens = new String[size];
        byId.forEach((id, tok) -> {
            if (id < 0) throw new T2rException(file + ": negative token id " + id);
            tokens[id] = tok;
        });

        boolean byteFallback = model.path("byte_fallback").asBoolean(false);
        BitSet byteIds = new BitSet();
        if (byteFallback) {
            for (int i = 0; i < size; i++) {
                if (isByteToken(tokens[i]) && !special.get(i)) byteIds.set(i);
            }
        }

        JsonNode post = root.path("post_processor");
        boolean hasPost = !post.isMissingNode() && !post.isNull();
        List<String> components = components(root);
        boolean byteLevel = components.contains("ByteLevel");
        boolean sentencepiece = components.contains("Metaspace") || mentionsMetaspaceChar(root.path("normalizer"))
                || mentionsMetaspaceChar(root.path("decoder"));
        String kind = modelType + (byteLevel ? " byte-level" : "") + (byteFallback ? " with byte fallback" : "")
                + (sentencepiece ? " (sentencepiece-style)" : "");
        return new TokenizerJson(file, modelType, kind, tokens, special, byteIds, added, byteLevel, sentencepiece,
                hasPost, firstTemplateSpecial(post));
    }

    /** A one-phrase description of the algorithm, e.g. {@code "BPE byte-level"}. */
    public static String describe(Path tokenizerJson) {
        return read(tokenizerJson).kind();
    }

    /** The type names of the pre-tokenizer, decoder and normalizer, nested ones included. */
    private static List<String> components(JsonNode root) {
        List<String> components = new ArrayList<>();
        collectTypes(root.path("pre_tokenizer"), components);
        collectTypes(root.path("decoder"), components);
        collectTypes(root.path("normalizer"), components);
        return components;
    }

    /** The type names of a (possibly nested Sequence) normalizer, pre-tokenizer or decoder. */
    private static void collectTypes(JsonNode node, List<String> out) {
        if (node == null || !node.isObject()) return;
        String type = node.path("type").asText("");
        if (!type.isEmpty()) out.add(type);
        for (String key : List.of("pretokenizers", "decoders", "normalizers", "processors")) {
            for (JsonNode child : node.path(key)) collectTypes(child, out);
        }
    }

    /** Llama 2 "legacy" tokenizers spell sentencepiece as Prepend/Replace("▁") steps instead of Metaspace. */
    private static boolean mentionsMetaspaceChar(JsonNode node) {
        return node != null && node.toString().contains("\u2581");
    }

    private static String firstTemplateSpecial(JsonNode post) {
        if (post == null || !post.isObject()) return null;
        if ("Sequence".equals(post.path("type").asText())) {
            for (JsonNode p : post.path("processors")) {
                String s = firstTemplateSpecial(p);
                if (s != null) return s;
            }
            return null;
        }
        if (!"TemplateProcessing".equals(post.path("type").asText())) return null;
        JsonNode first = post.path("single").path(0);
        JsonNode special = first.path("SpecialToken");
        if (!special.isObject()) return null;
        String name = special.path("id").asText(null);
        JsonNode ids = post.path("special_tokens").path(name).path("tokens");
        return ids.isArray() && ids.size() == 1 ? ids.get(0).asText() : name;
    }

    private static String guessModelType(JsonNode model) {
        if (model.has("merges")) return "BPE";
        if (model.path("vocab").isArray()) return "Unigram";
        if (model.has("continuing_subword_prefix")) return "WordPiece";
        return "WordLevel";
    }

    static boolean isByteToken(String t) {
        return t != null && t.length() == 6 && t.startsWith("<0x") && t.endsWith(">")
                && Character.digit(t.charAt(3), 16) >= 0 && Character.digit(t.charAt(4), 16) >= 0;
    }

    /** Reads a JSON file; a missing or malformed file is a one-line {@link T2rException} naming it. */
    static JsonNode readJson(Path file) {
        gsat2r.core.io.InputFiles.requireFile(file, "a JSON file");
        try (InputStream in = Files.newInputStream(file)) {
            JsonNode node = JSON.readTree(in);
            if (node == null || !node.isObject()) throw new T2rException(file + ": not a JSON object");
            return node;
        } catch (JacksonException e) {
            String where = e.getLocation() == null ? ""
                    : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
            throw new T2rException(file + ": not valid JSON" + where + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new T2rException(file + ": permission denied");
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read: " + e.getMessage());
        }
    }
}
