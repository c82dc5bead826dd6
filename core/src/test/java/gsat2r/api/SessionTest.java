package gsat2r.api;

import gsat2r.core.T2rException;
import gsat2r.core.generate.Generator;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The embedding API: sessions, generation, state files and forks agree with plain decoding. */
class SessionTest {
    @TempDir
    Path tmp;

    @Test
    void restoredSessionGeneratesWhatTheOriginalWould() {
        Path dir = Students.write(Students.hybridConfig(24), 11, tmp.resolve("student"));
        int[] prompt = Students.ids(140, 12);
        try (T2rModel model = T2rModel.load(dir)) {
            Session s = model.newSession();
            s.append(prompt);
            Path file = tmp.resolve("p.state");
            s.save(file);
            for (Sampler sampler : new Sampler[] {Sampler.greedy(), Sampler.sampling(1.0, 0.9, 5)}) {
                Sampler again = sampler.isGreedy() ? Sampler.greedy() : Sampler.sampling(1.0, 0.9, 5);
                Generator.Result one = s.fork().generate(30, sampler, piece -> { });
                try (T2rModel fresh = T2rModel.load(dir)) {
                    Generator.Result two = fresh.restore(file).generate(30, again, piece -> { });
                    assertArrayEquals(one.newIds(), two.newIds());
                    assertEquals(one.text(), two.text());
                }
                // The same tokens as the plain generator over the prompt.
                Sampler third = sampler.isGreedy() ? Sampler.greedy() : Sampler.sampling(1.0, 0.9, 5);
                assertArrayEquals(one.newIds(), new Generator(model.model(), model.tokenizer())
                        .generate(prompt, 30, third, piece -> { }).newIds());
            }
        }
    }

    @Test
    void generatedTokensAreFedBeforeTheNextAppend() {
        Path dir = Students.write(Students.gsaConfig(), 13, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session s = model.newSession();
            s.append("In the beginning");
            int[] p = s.tokens();
            int[] gen = s.generate(6, Sampler.greedy(), piece -> { }).newIds();
            int[] q = Students.ids(9, 14);
            float[] logits = s.append(q);

            LanguageModel.Decoder d = model.model().newDecoder();
            d.prefill(p);
            for (int id : gen) d.next(id);
            assertArrayEquals(d.prefill(q), logits);
            int[] all = s.tokens();
            assertEquals(p.length + gen.length + q.length, all.length);
            assertArrayEquals(q, Arrays.copyOfRange(all, p.length + gen.length, all.length));
            assertEquals(model.encode("In the beginning").length, p.length);

            // step() without a tokenizer-aware loop, and a save right after it (the sampled token is fed first).
            int id = s.step(Sampler.greedy());
            d.next(argmax(logits));
            assertEquals(argmax(logits), id);
            s.save(tmp.resolve("after-step.state"));
            assertArrayEquals(d.next(7), model.restore(tmp.resolve("after-step.state")).append(7));
        }
    }

    @Test
    void readmeExampleRunsAndStreamsWhatItReturns() {
        Path dir = Students.write(Students.gsaConfig(), 15, tmp.resolve("student"));
        String text = ReadmeExample.run(dir, tmp.resolve("system.state"));
        assertTrue(text.length() > 0);
        assertTrue(java.nio.file.Files.isRegularFile(tmp.resolve("system.state")));
    }

    @Test
    void errorsAreOneLine() throws Exception {
        Path dir = Students.write(Students.gsaConfig(), 16, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session s = model.newSession();
            assertEquals("the session is empty: append a prompt first",
                    assertThrows(T2rException.class, () -> s.generate(3, Sampler.greedy(), x -> { })).getMessage());
            assertEquals("token id 384 is outside the vocabulary (0..383)",
                    assertThrows(T2rException.class, () -> s.append(384)).getMessage());
        }
        assertEquals(tmp.resolve("nope") + ": no such directory",
                assertThrows(T2rException.class, () -> T2rModel.load(tmp.resolve("nope"))).getMessage());
        java.nio.file.Files.createDirectories(tmp.resolve("empty"));
        assertEquals(tmp.resolve("empty").resolve("config.json") + ": no such file (a model directory holds config.json, *.safetensors, tokenizer.json)",
                assertThrows(T2rException.class, () -> T2rModel.load(tmp.resolve("empty"))).getMessage());
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
