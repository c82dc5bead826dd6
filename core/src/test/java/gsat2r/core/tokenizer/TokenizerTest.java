package gsat2r.core.tokenizer;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.URL;
import java.net.URLConnection;
import java.net.URLStreamHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static gsat2r.core.tokenizer.TestTokenizers.BYTE_LEVEL;
import static gsat2r.core.tokenizer.TestTokenizers.SENTENCEPIECE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTest {

    /** Every http(s) connection this JVM tries after the tokenizer tests start (none may happen). */
    private static final List<String> NETWORK_ATTEMPTS = new CopyOnWriteArrayList<>();
    private static boolean guardInstalled;

    @BeforeAll
    static void refuseNetwork() {
        // Any http/https URL opened from now on (DJL's telemetry, a hub download) is recorded and fails.
        try {
            URL.setURLStreamHandlerFactory(protocol -> protocol.equals("http") || protocol.equals("https")
                    ? new URLStreamHandler() {
                        @Override
                        protected URLConnection openConnection(URL u) throws IOException {
                            NETWORK_ATTEMPTS.add(u.toString());
                            throw new IOException("network access refused by the test: " + u);
                        }
                    }
                    : null);
            guardInstalled = true;
        } catch (Error alreadySet) {
            guardInstalled = false;   // another test set a factory first; the DJL settings check below still runs
        }
    }

    @AfterAll
    static void noNetworkWasTried() {
        assertEquals(List.of(), NETWORK_ATTEMPTS, "the tokenizer must work offline");
    }

    @Test
    void djlIsOfflineAndDoesNotPhoneHome() {
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(BYTE_LEVEL))) {
            assertTrue(t.vocabSize() > 0);
        }
        assertTrue(ai.djl.util.Utils.isOfflineMode(), "DJL offline mode");
        assertEquals("true", ai.djl.util.Utils.getEnvOrSystemProperty("OPT_OUT_TRACKING"));
        if (guardInstalled) assertEquals(List.of(), NETWORK_ATTEMPTS);
    }

    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void idsMatchTheIndependentReferenceEncoder(String name) {
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(name))) {
            for (TestTokenizers.Case c : TestTokenizers.expected(name)) {
                assertArrayEquals(c.ids(), t.encode(c.text()), name + " encode: " + c.text());
                assertArrayEquals(c.plainIds(), t.encodePlain(c.text()), name + " encodePlain: " + c.text());
            }
        }
    }

    @Test
    void llama3StyleAddsBeginOfTextFromThePostProcessor() {
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(BYTE_LEVEL))) {
            int bos = t.bosId().orElseThrow();
            assertEquals("<|begin_of_text|>", t.token(bos));
            assertArrayEquals(new int[] {t.vocabSize() - 1}, t.eosIds());
            assertEquals("<|end_of_text|>", t.token(t.eosIds()[0]));
            int[] ids = t.encode("In the beginning");
            assertEquals(bos, ids[0]);
            assertEquals(1, Arrays.stream(ids).filter(i -> i == bos).count());
            assertArrayEquals(t.encodePlain("In the beginning"), Arrays.copyOfRange(ids, 1, ids.length));
            assertArrayEquals(new int[] {bos}, t.encode(""));
            assertEquals("BPE byte-level", t.kind());
            assertEquals(364, t.vocabSize());
        }
    }

    @Test
    void sentencepieceStyleAddsBosAndFallsBackToBytes() {
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(SENTENCEPIECE))) {
            assertEquals(1, t.bosId().orElseThrow());
            assertEquals("<s>", t.token(1));
            assertArrayEquals(new int[] {2}, t.eosIds());
            assertEquals(1, t.encode("And God said")[0]);
            assertEquals("BPE with byte fallback (sentencepiece-style)", t.kind());
            // 😀 is not in the vocabulary: four byte pieces <0xF0><0x9F><0x98><0x80>
            int[] ids = t.encodePlain("\uD83D\uDE00");
            List<String> tokens = Arrays.stream(ids).mapToObj(t::token).toList();
            assertEquals(List.of("\u2581", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"), tokens);
            assertTrue(Arrays.stream(ids).skip(1).allMatch(t::isByteFallback));
            assertFalse(t.isByteFallback(ids[0]));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void decodeRoundTripsEnglishAndMultiByteText(String name) {
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(name))) {
            for (String text : List.of("In the beginning God created the heaven and the earth.",
                    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9", "\u4e2d\u6587\u6587\u672c", "emoji \uD83D\uDE00\uD83C\uDF0D!",
                    "tabs\tand\nnewlines\n\n  indented", "")) {
                assertEquals(text, t.decode(t.encode(text)), name + ": " + text);
                assertEquals(text, t.decode(t.encodePlain(text)), name + ": " + text);
            }
            int bos = t.bosId().orElseThrow();
            String withSpecial = t.decode(t.encode("Jesus wept."), false);
            assertTrue(withSpecial.startsWith(t.token(bos)), withSpecial);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {BYTE_LEVEL, SENTENCEPIECE})
    void longTextIsNotTruncated(String name) {
        String text = "And God saw the light, that it was good: and God divided the light from the darkness.\n"
                .repeat(600);
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(name))) {
            int[] plain = t.encodePlain(text);
            int[] ids = t.encode(text);
            assertTrue(plain.length > 10_000, "tokens: " + plain.length);
            assertEquals(plain.length + 1, ids.length);
            assertEquals(text, t.decode(ids), "the whole text comes back, its end included");
        }
    }

    @Test
    void eosAndBosComeFromModelConfigsWhenPresent(@TempDir Path dir) throws IOException {
        Path src = TestTokenizers.dir(SENTENCEPIECE);
        Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("config.json"), "{\"bos_token_id\": 1, \"eos_token_id\": [2, 0]}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertEquals(1, t.bosId().orElseThrow());
            assertArrayEquals(new int[] {2, 0}, t.eosIds());
            assertTrue(t.isEos(0));
        }
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": 2}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertArrayEquals(new int[] {2}, t.eosIds());
            assertEquals(t.token(2), t.eosToken(), "without tokenizer_config.json: the first EOS id's token");
            assertEquals(t.token(1), t.bosToken());
        }
        // As Llama 3.1 Instruct: generation_config.json ends at several ids, tokenizer_config.json names one eos_token.
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, 0]}");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": {\"content\": \"<unk>\"}, \"bos_token\": \"<s>\"}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertArrayEquals(new int[] {2, 0}, t.eosIds());
            assertEquals("<unk>", t.eosToken(), "tokenizer.eos_token is tokenizer_config.json's");
            assertEquals("<s>", t.bosToken());
        }
    }

    @Test
    void withoutPostProcessorTokenizerConfigDecidesBos(@TempDir Path dir) throws IOException {
        String json = Files.readString(TestTokenizers.dir(SENTENCEPIECE).resolve("tokenizer.json"));
        int at = json.indexOf("\"post_processor\"");
        int end = json.indexOf("\"decoder\"");
        Files.writeString(dir.resolve("tokenizer.json"), json.substring(0, at) + "\"post_processor\": null,\n " + json.substring(end));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}, \"add_bos_token\": true}");
        try (Tokenizer t = Tokenizer.load(dir)) {
            assertArrayEquals(new int[] {2}, t.eosIds());
            int[] ids = t.encode("And God");
            assertEquals(1, ids[0]);
            assertArrayEquals(t.encodePlain("And God"), Arrays.copyOfRange(ids, 1, ids.length));
        }
    }

    @Test
    void badFilesAreOneLineErrorsNamingTheFile(@TempDir Path dir) throws IOException {
        T2rException missing = assertThrows(T2rException.class, () -> Tokenizer.load(dir));
        assertTrue(missing.getMessage().contains(dir.resolve("tokenizer.json").toString()), missing.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},");
        T2rException malformed = assertThrows(T2rException.class, () -> Tokenizer.load(dir));
        assertTrue(malformed.getMessage().startsWith(dir.resolve("tokenizer.json") + ": not valid JSON"), malformed.getMessage());
        assertEquals(1, malformed.getMessage().lines().count());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\"}");
        T2rException notTokenizer = assertThrows(T2rException.class, () -> Tokenizer.load(dir));
        assertTrue(notTokenizer.getMessage().contains("no \"model\""), notTokenizer.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"),
                "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", \"b\"]]}}");
        T2rException rejected = assertThrows(T2rException.class, () -> Tokenizer.load(dir));
        assertTrue(rejected.getMessage().contains("tokenizers library cannot load it"), rejected.getMessage());
        assertEquals(1, rejected.getMessage().lines().count());
    }

    @Test
    void idsOutsideTheVocabularyAreRejected() {
        try (Tokenizer t = Tokenizer.load(TestTokenizers.dir(BYTE_LEVEL))) {
            T2rException e = assertThrows(T2rException.class, () -> t.decode(new int[] {5, t.vocabSize()}));
            assertTrue(e.getMessage().contains("token id " + t.vocabSize()), e.getMessage());
            assertThrows(T2rException.class, () -> t.decode(new int[] {-1}));
        }
    }

    @Test
    void kindDescribesTheAlgorithmWithoutTheNativeLibrary() {
        assertEquals("BPE byte-level", TokenizerJson.describe(TestTokenizers.dir(BYTE_LEVEL)));
        assertEquals("BPE with byte fallback (sentencepiece-style)",
                TokenizerJson.describe(TestTokenizers.dir(SENTENCEPIECE).resolve("tokenizer.json")));
    }

    @Test
    void aNativeLibraryThatCannotLoadIsToldApartFromABadFile() {
        RuntimeException e = new RuntimeException("Failed to load Huggingface native library.");
        assertTrue(Tokenizer.isNativeLibraryFailure(new RuntimeException("wrapped", e)));
        assertTrue(Tokenizer.isNativeLibraryFailure(new UnsatisfiedLinkError("no tokenizers in java.library.path")));
        assertFalse(Tokenizer.isNativeLibraryFailure(new RuntimeException("data did not match any variant of untagged enum")));
        assertEquals("cannot load the tokenizers native library (Failed to load Huggingface native library.): DJL unpacks it on first use "
                + "into a cache directory that must be writable (set DJL_CACHE_DIR to one); a platform it has no build for (such as musl Linux) cannot load it",
                Tokenizer.nativeLibraryProblem(e));
    }
}
