package gsat2r.core.state;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.model.DecoderState;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decoder states through a file: a fresh model instance loaded from disk, restored from the file,
 * continues bit for bit as the decoder that saved it; damaged files and other models are refused with
 * one line naming the file.
 */
class StateFileTest {
    @TempDir
    Path tmp;

    /** Feeds {@code prompt}, saves, and checks that a fresh model from disk continues identically. */
    private void roundTrip(LanguageModel original, Path dir, java.util.function.Function<Path, LanguageModel> loader,
                           int[] prompt, int vocab) {
        LanguageModel.Decoder d = original.newDecoder();
        float[] logits = d.prefill(prompt);
        Path file = tmp.resolve("s.state");
        StateFile.write(file, new StateFile.Contents(original.fingerprint(), prompt, logits, vocab, d.saveState(), "test"));

        try (LanguageModel fresh = loader.apply(dir)) {
            StateFile.Contents c = StateFile.read(file);
            c.requireModel(fresh.fingerprint(), file);
            assertArrayEquals(prompt, c.tokens());
            assertArrayEquals(logits, c.logits());
            LanguageModel.Decoder r = fresh.newDecoder();
            r.restoreState(c.state());
            assertEquals(prompt.length, r.position());
            // A few single steps, then a multi-token prefill (chunked / batched path from a warm state).
            int[] more = Students.ids(40, 77);
            for (int i = 0; i < 30; i++) assertArrayEquals(d.next(more[i]), r.next(more[i]), "step " + i);
            assertArrayEquals(d.prefill(Arrays.copyOfRange(more, 30, 40)), r.prefill(Arrays.copyOfRange(more, 30, 40)));
        }
    }

    @Test
    void hybridStudentContinuesBitForBitAfterAFileAndAFreshLoad() {
        // 150 tokens: three GSA chunks of 64, and far past the attention layer's window of 24.
        Path dir = Students.write(Students.hybridConfig(24), 3, tmp.resolve("hybrid"));
        roundTrip(GsaModel.load(dir), dir, GsaModel::load, Students.ids(150, 1), Students.VOCAB);
        Path full = Students.write(Students.hybridConfig(null), 4, tmp.resolve("full"));
        roundTrip(GsaModel.load(full), full, GsaModel::load, Students.ids(150, 2), Students.VOCAB);
    }

    /** Short convolutions: their last rows travel in the file ("conv_floats") and the continuation is bit for bit. */
    @Test
    void shortConvolutionRowsTravelInTheFile() throws IOException {
        Path dir = Students.write(Students.hybridConfig(24).withShortConv(4), 9, tmp.resolve("conv"));
        roundTrip(GsaModel.load(dir), dir, GsaModel::load, Students.ids(150, 10), Students.VOCAB);
        GsaModel m = GsaModel.load(dir);
        LanguageModel.Decoder d = m.newDecoder();
        int[] ids = Students.ids(5, 11);
        float[] logits = d.prefill(ids);
        DecoderState s = d.saveState();
        // per GSA layer: Hk + Hv as without, and 3 rows of q (64), k (32) and v (32)
        assertEquals(2 * ((2 * 16 * 16 + 2 * 16 * 16) + 3 * (64 + 32 + 32)) * 4 + 5 * 32 * 2 * 4, s.bytes());
        Path file = tmp.resolve("conv.state");
        StateFile.write(file, new StateFile.Contents(m.fingerprint(), ids, logits, 384, s, "test"));
        assertTrue(new String(Files.readAllBytes(file), java.nio.charset.StandardCharsets.UTF_8).contains("\"conv_floats\":384"));
        // An earlier state file is replaced; any other file, or a directory, is left alone.
        StateFile.Contents again = new StateFile.Contents(m.fingerprint(), ids, logits, 384, s, "test");
        StateFile.write(file, again);
        Path weights = Files.writeString(tmp.resolve("model.safetensors"), "precious");
        assertEquals(weights + ": exists and is not a t2r state file; not overwriting it",
                assertThrows(T2rException.class, () -> StateFile.write(weights, again)).getMessage());
        assertEquals("precious", Files.readString(weights));
        assertEquals(tmp + ": is a directory; give the state file's name",
                assertThrows(T2rException.class, () -> StateFile.write(tmp, again)).getMessage());
    }

    @Test
    void teacherWithASlidingWindowContinuesBitForBit() {
        Path dir = Fixtures.copy("hf-tiny-mistral", tmp.resolve("mistral"));      // window 16
        roundTrip(LlamaModel.load(dir), dir, LlamaModel::load, Students.ids(100, 3), 384);
    }

    @Test
    void stateSizesAndHeader() throws IOException {
        GsaModel m = Students.random(Students.hybridConfig(24), 5);
        LanguageModel.Decoder d = m.newDecoder();
        int[] ids = Students.ids(70, 6);
        float[] logits = d.prefill(ids);
        DecoderState s = d.saveState();
        assertEquals(70, s.position());
        // GSA layers: Hk [2,16,16] + Hv [2,16,16] fp32; attention layer: the last 24 of 70 rows of 2·16 keys and values.
        assertEquals(2 * (2 * 16 * 16 + 2 * 16 * 16) * 4 + 24 * 32 * 2 * 4, s.bytes());
        Path file = tmp.resolve("x.state");
        StateFile.write(file, new StateFile.Contents(m.fingerprint(), ids, logits, 384, s, "test"));
        byte[] bytes = Files.readAllBytes(file);
        assertEquals("T2RSTATE", new String(bytes, 0, 8, java.nio.charset.StandardCharsets.US_ASCII));
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, b.getInt(8));
        int h = b.getInt(12);
        assertEquals(0, (16 + h) % 8);
        assertEquals(16 + h + 4 * 70 + 4 * 384 + s.bytes() + 4, bytes.length);
        String header = new String(bytes, 16, h, java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(header.contains("\"layers\":[{\"type\":\"gsa\",\"kv_heads\":2,\"key_dim\":16,\"slots\":16,\"value_dim\":16},"
                + "{\"type\":\"kv\",\"rows\":24,\"row_width\":32},{\"type\":\"gsa\""), header);
        // No file is left beside it (atomic write through a temp sibling).
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count());
        }
    }

    @Test
    void damagedFilesAreRefusedNamingTheFile() throws IOException {
        GsaModel m = Students.random(Students.gsaConfig(), 7);
        LanguageModel.Decoder d = m.newDecoder();
        int[] ids = Students.ids(20, 8);
        float[] logits = d.prefill(ids);
        Path file = tmp.resolve("good.state");
        StateFile.write(file, new StateFile.Contents(m.fingerprint(), ids, logits, 384, d.saveState(), null));
        byte[] good = Files.readAllBytes(file);

        byte[] flipped = good.clone();
        flipped[good.length / 2] ^= 0x10;
        Path flippedFile = file("flipped", flipped);
        assertTrue(message(flippedFile).startsWith(flippedFile + ": corrupt (CRC32C "), message(flippedFile));
        assertTrue(message(file("short", Arrays.copyOf(good, good.length - 100))).contains(": corrupt (CRC32C"));
        assertEquals(tmp.resolve("empty") + ": not a t2r state file (it does not start with \"T2RSTATE\")",
                message(file("empty", new byte[0])));
        byte[] newer = good.clone();
        newer[8] = 2;
        assertEquals(tmp.resolve("newer") + ": state file format version 2 is newer than this t2r reads (1)",
                message(file("newer", newer)));
        assertEquals(tmp.resolve("none") + ": no such file", message(tmp.resolve("none")));
        assertEquals(tmp + ": is a directory, expected a state file (t2r generate --save-state)", message(tmp));
    }

    @Test
    void anotherModelIsRefused() {
        GsaModel a = Students.random(Students.gsaConfig(), 7);
        GsaModel finetuned = Students.random(Students.gsaConfig(), 7);
        finetuned.parameters()[123] += 1e-3f;                       // same config and shapes, one weight moved
        ModelFingerprint fa = a.fingerprint(), fb = finetuned.fingerprint();
        assertEquals(fa.configSha256(), fb.configSha256());
        assertNotEquals(fa.weightsSha256(), fb.weightsSha256());
        assertEquals(fa, Students.random(Students.gsaConfig(), 7).fingerprint());

        LanguageModel.Decoder d = a.newDecoder();
        int[] ids = Students.ids(5, 1);
        float[] logits = d.prefill(ids);
        Path file = tmp.resolve("a.state");
        StateFile.write(file, new StateFile.Contents(fa, ids, logits, 384, d.saveState(), null));
        StateFile.Contents c = StateFile.read(file);
        T2rException e = assertThrows(T2rException.class, () -> c.requireModel(fb, file));
        assertTrue(e.getMessage().startsWith(file + ": saved by a model with other weights (state: gsa config "), e.getMessage());
        GsaConfig other = Students.hybridConfig(24);
        e = assertThrows(T2rException.class, () -> c.requireModel(Students.random(other, 7).fingerprint(), file));
        assertTrue(e.getMessage().startsWith(file + ": saved by a model with another configuration"), e.getMessage());

        // A decoder refuses a state of other layers before changing anything.
        LanguageModel.Decoder hybrid = Students.random(other, 7).newDecoder();
        e = assertThrows(T2rException.class, () -> hybrid.restoreState(c.state()));
        assertEquals("the state has 2 layers, this GSA student 3", e.getMessage());
        assertEquals(0, hybrid.position());
    }

    private Path file(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static String message(Path file) {
        return assertThrows(T2rException.class, () -> StateFile.read(file)).getMessage();
    }
}
