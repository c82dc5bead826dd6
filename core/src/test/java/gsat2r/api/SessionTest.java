package gsat2r.api;

import gsat2r.core.T2rException;
import gsat2r.core.generate.Generator;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.ContinuationScorer;
import gsat2r.core.model.Continuations;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
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

    /** A generation stopped by throwing from its text callback leaves a session that goes on as one fed those tokens. */
    @Test
    void stoppingAGenerationEarlyKeepsTheSessionWhole() {
        Path dir = Students.write(Students.gsaConfig(), 17, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session s = model.newSession();
            s.append("In the beginning");
            int[] pieces = {0};
            assertThrows(IllegalStateException.class, () -> s.generate(20, Sampler.greedy(), piece -> {
                if (++pieces[0] == 3) throw new IllegalStateException("enough");
            }));
            int[] tokens = s.tokens();
            assertTrue(tokens.length > model.encode("In the beginning").length, "the sampled tokens are kept");
            float[] after = s.append(7);
            int prompt = model.encode("In the beginning").length;
            LanguageModel.Decoder d = model.model().newDecoder();
            d.prefill(Arrays.copyOf(tokens, prompt));
            for (int i = prompt; i < tokens.length; i++) d.next(tokens[i]);
            assertArrayEquals(d.next(7), after, "as a decoder fed exactly the session's tokens");
            s.save(tmp.resolve("stopped.state"));
            assertEquals(tokens.length + 1, model.restore(tmp.resolve("stopped.state")).length());
        }
    }

    @Test
    void aStopStringEndsTheTextAndTheSessionKeepsItsTokens() {
        Path dir = Students.write(Students.gsaConfig(), 19, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session whole = model.newSession(), stopped = model.newSession();
            whole.append("In the beginning");
            stopped.append("In the beginning");
            String text = whole.generate(30, Sampler.greedy(), null).text();
            String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
            StringBuilder streamed = new StringBuilder();
            var r = stopped.generate(30, Sampler.greedy(), java.util.List.of(stop), streamed::append);
            assertEquals(text.substring(0, text.indexOf(stop)), r.text());
            assertEquals(r.text(), streamed.toString());
            assertEquals(gsat2r.core.generate.Generator.Stop.STOP_STRING, r.stop());
            assertArrayEquals(r.allIds(), stopped.tokens(), "the stop string's tokens stay in the session");
            assertArrayEquals(Arrays.copyOf(whole.tokens(), stopped.length()), stopped.tokens());
            assertThrows(gsat2r.core.T2rException.class, () -> stopped.generate(3, Sampler.greedy(), java.util.List.of(""), null));
        }
    }

    @Test
    void anInterruptStopsAGenerationBeforeTheNextToken() throws Exception {
        Path dir = Students.write(Students.gsaConfig(), 20, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session s = model.newSession();
            s.append("In the beginning");
            int before = s.length();
            var r = s.generate(40, Sampler.greedy(), piece -> Thread.currentThread().interrupt());
            assertTrue(Thread.interrupted(), "the interrupt flag is left set (and cleared here)");
            assertEquals(gsat2r.core.generate.Generator.Stop.INTERRUPTED, r.stop());
            assertTrue(r.newIds().length < 40, r.newIds().length + " tokens");
            assertEquals(before + r.newIds().length, s.length(), "the session holds the tokens sampled");

            // From another thread: Future.cancel(true) interrupts the generating thread.
            Session t = model.newSession();
            t.append("In the beginning");
            var started = new java.util.concurrent.CountDownLatch(1);
            var release = new java.util.concurrent.CountDownLatch(1);
            var pool = java.util.concurrent.Executors.newSingleThreadExecutor();
            var future = pool.submit(() -> t.generate(1000, Sampler.greedy(), piece -> {
                started.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();      // keep the flag for the generator to see
                }
            }));
            started.await();
            future.cancel(true);
            pool.shutdown();
            assertTrue(pool.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS), "the generation ends soon after");
            assertTrue(t.length() - before <= 8, "it stopped at the first piece of text: " + (t.length() - before) + " tokens");
            t.append(7);                                      // and the session goes on
        }
    }

    @Test
    void stepAppliesTheRepetitionPenaltyAsGenerateDoes() {
        Path dir = Students.write(Students.gsaConfig(), 18, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session a = model.newSession(), b = model.newSession();
            a.append(Students.ids(12, 19));
            b.append(Students.ids(12, 19));
            int[] stepped = new int[8];
            for (int i = 0; i < stepped.length; i++) stepped[i] = a.step(Sampler.greedy(1e6));
            assertArrayEquals(b.generate(8, Sampler.greedy(1e6), null).newIds(), stepped);
            assertEquals(8, Arrays.stream(stepped).distinct().count(), "a huge penalty never repeats a token");
        }
    }

    /** Scoring agrees with the evaluator's scorer and with full forward passes, and leaves the session as it was. */
    @Test
    void scoringWeighsContinuationsAndLeavesTheSessionAsItWas() {
        Path dir = Students.write(Students.hybridConfig(24), 21, tmp.resolve("student"));
        try (T2rModel model = T2rModel.load(dir)) {
            Session s = model.newSession();
            int[] prompt = Students.ids(40, 22);
            s.append(prompt);
            Session untouched = s.fork();
            int[][] choices = {Students.ids(5, 23), Students.ids(1, 24), Students.ids(9, 25)};
            Continuations.Score[] got = s.score(choices);

            Continuations c = new Continuations(prompt, java.util.List.of(choices));
            Continuations.Score[] scorer = model.model().scoreContinuations(java.util.List.of(c)).getFirst();
            Continuations.Score[] forward = ContinuationScorer.byForward(model.model(), c);
            for (int i = 0; i < choices.length; i++) {
                assertEquals(scorer[i], got[i], "the same decoder path, bit for bit");
                assertEquals(forward[i].logLikelihood(), got[i].logLikelihood(), 1e-4 * Math.abs(forward[i].logLikelihood()));
                assertEquals(forward[i].greedy(), got[i].greedy());
            }
            assertArrayEquals(untouched.logits(), s.logits());
            assertArrayEquals(untouched.append(3, 4), s.append(3, 4), "the state is restored after scoring");
            assertEquals(prompt.length + 2, s.length());

            Session u = s.fork();
            u.append(s.step(Sampler.greedy()));
            assertArrayEquals(u.score(choices), s.score(choices), "the sampled token not yet fed is fed before scoring");

            s.generate(2, Sampler.greedy(), null);
            Session t = s.fork();
            Continuations.Score[] text = s.score(" the", " and the");
            assertEquals(t.score(model.encodeContinuation(" the"), model.encodeContinuation(" and the"))[1], text[1],
                    "text is encoded as a continuation; the pending sampled token is fed first");
            assertArrayEquals(t.logits(), s.logits());

            assertEquals("continuations[1] has no tokens", assertThrows(T2rException.class, () -> s.score(new int[] {1}, new int[0])).getMessage());
            assertEquals("no continuation to score", assertThrows(T2rException.class, () -> s.score(new int[0][])).getMessage());
            assertEquals("token id 999 is outside the vocabulary (0..383)",
                    assertThrows(T2rException.class, () -> s.score(new int[] {999})).getMessage());
            assertEquals("continuations[0] is null", assertThrows(T2rException.class, () -> s.score((String) null)).getMessage());
            assertEquals("the session is empty: append a prompt first",
                    assertThrows(T2rException.class, () -> model.newSession().score(new int[] {1})).getMessage());
        }
    }

    /** Closing a session releases its decoder once and refuses what would decode; the model's other sessions go on. */
    @Test
    void aClosedSessionReleasesItsDecoderAndRefusesFurtherUse() {
        LanguageModel student = GsaModel.load(Students.write(Students.gsaConfig(), 26, tmp.resolve("student")));
        int[] released = {0};
        LanguageModel counting = new LanguageModel() {
            public int vocabSize() { return student.vocabSize(); }
            public float[][] forward(int[] ids) { return student.forward(ids); }
            public LanguageModel.Decoder newDecoder() {
                LanguageModel.Decoder d = student.newDecoder();
                return new LanguageModel.Decoder() {
                    public float[] prefill(int[] ids) { return d.prefill(ids); }
                    public float[] next(int id) { return d.next(id); }
                    public int position() { return d.position(); }
                    public void release() { released[0]++; }
                };
            }
        };
        try (T2rModel model = T2rModel.of(counting, null)) {
            Session other = model.newSession();
            other.append(1, 2, 3);
            Session s = model.newSession();
            s.append(4, 5);
            s.step(Sampler.greedy());
            s.close();
            s.close();
            assertEquals(1, released[0], "released once");
            for (org.junit.jupiter.api.function.Executable use : java.util.List.<org.junit.jupiter.api.function.Executable>of(
                    () -> s.append(4), s::logits, () -> s.step(Sampler.greedy()), () -> s.generate(2, Sampler.greedy(), null),
                    () -> s.score(new int[] {1}), () -> s.save(tmp.resolve("x.state")), s::fork)) {
                assertEquals("the session is closed", assertThrows(T2rException.class, use).getMessage());
            }
            assertEquals(3, s.tokens().length, "its tokens stay readable");
            LanguageModel.Decoder ref = student.newDecoder();
            ref.prefill(new int[] {1, 2, 3});
            assertArrayEquals(ref.prefill(new int[] {6}), other.append(6), "other sessions go on");
            Session last = model.newSession();
            last.append(7);
            model.close();
            last.close();
            assertEquals(1, released[0], "a session closed after its model releases nothing: the model gave it all back");
        }
    }

    @Test
    void aClosedModelAndNullArgumentsAreRefusedInOneLine() {
        Path dir = Students.write(Students.gsaConfig(), 20, tmp.resolve("student"));
        T2rModel model = T2rModel.load(dir);
        Session s = model.newSession();
        s.append(1, 2, 3);
        assertEquals("text is null", assertThrows(T2rException.class, () -> s.append((String) null)).getMessage());
        assertEquals("ids is null", assertThrows(T2rException.class, () -> s.append((int[]) null)).getMessage());
        assertEquals("sampler is null", assertThrows(T2rException.class, () -> s.step(null)).getMessage());
        assertEquals("maxNewTokens must be 0 or more, not -1",
                assertThrows(T2rException.class, () -> s.generate(-1, Sampler.greedy(), null)).getMessage());
        assertEquals("file is null", assertThrows(T2rException.class, () -> s.save(null)).getMessage());
        assertEquals("stateFile is null", assertThrows(T2rException.class, () -> model.restore(null)).getMessage());
        assertEquals("dir is null", assertThrows(T2rException.class, () -> T2rModel.load(null)).getMessage());
        model.close();
        model.close();
        for (org.junit.jupiter.api.function.Executable use : java.util.List.<org.junit.jupiter.api.function.Executable>of(
                model::newSession, () -> model.encode("x"), () -> s.append(4), () -> s.step(Sampler.greedy()),
                () -> s.generate(2, Sampler.greedy(), null), () -> s.save(tmp.resolve("x.state")), s::fork, () -> s.score(new int[] {1}))) {
            assertEquals("the model is closed", assertThrows(T2rException.class, use).getMessage());
        }
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
