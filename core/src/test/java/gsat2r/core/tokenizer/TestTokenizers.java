package gsat2r.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The two small real tokenizers of the test resources (written by
 * {@code core/src/test/scripts/make_test_tokenizers.py}) and their reference ids.
 */
public final class TestTokenizers {
    private TestTokenizers() {}

    /** Llama 3 style: byte-level BPE, BOS {@code <|begin_of_text|>}. */
    public static final String BYTE_LEVEL = "byte-level-bpe";
    /** Llama 2 / Mistral style: Metaspace + BPE with byte fallback, BOS {@code <s>}. */
    public static final String SENTENCEPIECE = "sentencepiece-bpe";

    private static final List<String> FILES = List.of("tokenizer.json", "tokenizer_config.json", "expected.json");
    private static final Map<String, Path> UNPACKED = new ConcurrentHashMap<>();

    /**
     * The directory holding the named tokenizer's tokenizer.json, tokenizer_config.json, expected.json.
     * Other modules see these resources inside core's test jar; then they are copied once to a
     * temporary directory.
     */
    public static Path dir(String name) {
        String base = "/gsat2r/core/tokenizer/" + name + "/";
        URL url = TestTokenizers.class.getResource(base + "tokenizer.json");
        if (url == null) throw new IllegalStateException("test resource missing: " + base);
        if (url.getProtocol().equals("file")) {
            try {
                return Path.of(url.toURI()).getParent();
            } catch (URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }
        return UNPACKED.computeIfAbsent(name, n -> {
            try {
                Path dir = Files.createTempDirectory("t2r-test-tokenizer-");
                for (String f : FILES) {
                    try (InputStream in = TestTokenizers.class.getResourceAsStream(base + f)) {
                        Files.copy(in, dir.resolve(f));
                    }
                    dir.resolve(f).toFile().deleteOnExit();
                }
                dir.toFile().deleteOnExit();
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    public record Case(String text, int[] ids, int[] plainIds) {}

    /** Ids computed by the independent Python BPE encoder of the generator script. */
    public static List<Case> expected(String name) {
        try {
            JsonNode root = JsonMapper.builder().build().readTree(dir(name).resolve("expected.json").toFile());
            List<Case> cases = new ArrayList<>();
            for (JsonNode c : root) {
                cases.add(new Case(c.get("text").asText(), ints(c.get("ids")), ints(c.get("plain_ids"))));
            }
            return cases;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }
}
