package gsat2r.core.generate;

import gsat2r.core.T2rException;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.tokenizer.TestTokenizers;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GeneratorTest {

    private static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.load(TestTokenizers.dir(TestTokenizers.SENTENCEPIECE));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /**
     * A deterministic model that "knows" one text: after any prefix of {@code script} it puts a peak
     * of 10 on the script's next token (EOS after the end). It records every call so the test can
     * check how the generator drives the decoder.
     */
    static final class ScriptedModel implements LanguageModel {
        final int vocab;
        final int[] script;
        final List<String> calls = new ArrayList<>();

        ScriptedModel(int vocab, int[] script) {
            this.vocab = vocab;
            this.script = script;
        }

        @Override
        public int vocabSize() {
            return vocab;
        }

        @Override
        public float[][] forward(int[] ids) {
            throw new UnsupportedOperationException("generation must use the decoder");
        }

        float[] logitsAfter(int position) {
            float[] row = new float[vocab];
            for (int i = 0; i < vocab; i++) row[i] = (i * 37 % 11) * 0.1f;   // a fixed, uneven floor
            row[position < script.length ? script[position] : 2] = 10f;
            return row;
        }

        @Override
        public Decoder newDecoder() {
            return new Decoder() {
                int position;

                @Override
                public float[] prefill(int[] ids) {
                    calls.add("prefill" + Arrays.toString(ids));
                    position = ids.length;
                    return logitsAfter(position);
                }

                @Override
                public float[] next(int id) {
                    calls.add("next " + id);
                    position++;
                    return logitsAfter(position);
                }

                @Override
                public int position() {
                    return position;
                }
            };
        }
    }

    @Test
    void greedyFollowsTheModelStreamsWholeCharactersAndStopsAtEos() {
        String full = "And God said, Let there be light: \u4e2d\uD83D\uDE00 and there was light.";
        int[] script = tokenizer.encode(full);
        int[] prompt = tokenizer.encode("And God said,");
        assertArrayEquals(prompt, Arrays.copyOf(script, prompt.length));
        ScriptedModel model = new ScriptedModel(tokenizer.vocabSize(), script);
        List<String> pieces = new ArrayList<>();

        Generator.Result r = new Generator(model, tokenizer).generate(prompt, 100, Sampler.greedy(), pieces::add);

        int[] expectedNew = Arrays.copyOfRange(script, prompt.length, script.length + 1);
        expectedNew[expectedNew.length - 1] = 2;                      // then </s>
        assertArrayEquals(expectedNew, r.newIds());
        assertEquals(Generator.Stop.EOS, r.stop());
        assertEquals(" Let there be light: \u4e2d\uD83D\uDE00 and there was light.", r.text());
        assertEquals(r.text(), String.join("", pieces));
        assertTrue(pieces.stream().noneMatch(s -> s.isEmpty() || s.indexOf('\uFFFD') >= 0), pieces.toString());
        assertTrue(pieces.contains("\uD83D\uDE00") || pieces.stream().anyMatch(s -> s.contains("\uD83D\uDE00")));
        assertArrayEquals(script, Arrays.copyOf(r.allIds(), script.length));

        // one prefill with the prompt, then one next() per sampled token except the last (EOS)
        assertEquals("prefill" + Arrays.toString(prompt), model.calls.get(0));
        assertEquals(r.newIds().length - 1, model.calls.size() - 1);
        for (int k = 1; k < model.calls.size(); k++) assertEquals("next " + r.newIds()[k - 1], model.calls.get(k));
    }

    @Test
    void aStopStringEndsTheTextJustBeforeItAndTheTokensAtTheOneThatCompletesIt() {
        String full = "And God said, Let there be light: \u4e2d\uD83D\uDE00 and there was light.";
        int[] script = tokenizer.encode(full);
        int[] prompt = tokenizer.encode("And God said,");
        ScriptedModel model = new ScriptedModel(tokenizer.vocabSize(), script);
        // extra: tokens sampled after the one that completes the stop string. A character spelled in byte-fallback pieces
        // is known whole only when the next token is not one (the group's bytes decode together), so one more.
        record Case(List<String> stops, String text, int extra) {}
        for (Case c : List.of(new Case(List.of("xyz", "light:"), " Let there be ", 0),
                new Case(List.of("\uD83D\uDE00", "was"), " Let there be light: \u4e2d", 1),
                new Case(List.of("there was light.\n"), " Let there be light: \u4e2d\uD83D\uDE00 and there was light.", 0))) {
            List<String> pieces = new ArrayList<>();
            LanguageModel.Decoder d = model.newDecoder();
            Generator.Result r = new Generator(model, tokenizer).continueFrom(d, prompt, d.prefill(prompt), 100, Sampler.greedy(),
                    c.stops(), pieces::add, id -> { });
            assertEquals(c.text(), r.text(), c.stops().toString());
            assertEquals(r.text(), String.join("", pieces));
            boolean stopped = !c.stops().getFirst().endsWith("\n");
            assertEquals(stopped ? Generator.Stop.STOP_STRING : Generator.Stop.EOS, r.stop());
            if (!stopped) continue;
            int[] ids = r.newIds();
            int[] completing = Arrays.copyOf(r.allIds(), r.allIds().length - c.extra());
            String after = tokenizer.decode(completing).substring(tokenizer.decode(prompt).length());
            String before = tokenizer.decode(Arrays.copyOf(completing, completing.length - 1)).substring(tokenizer.decode(prompt).length());
            assertTrue(c.stops().stream().anyMatch(after::contains), "the last token completes a stop string: " + after);
            assertTrue(c.stops().stream().noneMatch(before::contains), "no earlier token does: " + before);
            assertArrayEquals(Arrays.copyOfRange(script, prompt.length, prompt.length + ids.length), ids);
        }
        // A character held back until EOS flushes it completes the stop string: the text ends before it, EOS says why.
        int[] ending = tokenizer.encode("And God said, Let there be light \uD83D\uDE00");
        ScriptedModel endsInEmoji = new ScriptedModel(tokenizer.vocabSize(), ending);
        LanguageModel.Decoder d = endsInEmoji.newDecoder();
        Generator.Result r = new Generator(endsInEmoji, tokenizer).continueFrom(d, prompt, d.prefill(prompt), 100, Sampler.greedy(),
                List.of("\uD83D\uDE00"), s -> { }, id -> { });
        assertEquals(" Let there be light ", r.text());
        assertEquals(Generator.Stop.EOS, r.stop());
        assertTrue(tokenizer.isEos(r.newIds()[r.newIds().length - 1]));
        assertThrows(T2rException.class, () -> new Generator(model, tokenizer).continueFrom(model.newDecoder(), prompt,
                model.logitsAfter(prompt.length), 5, Sampler.greedy(), List.of(""), s -> { }, id -> { }));
    }

    @Test
    void stopsAtTheTokenBudget() {
        int[] script = tokenizer.encode("In the beginning God created the heaven and the earth.");
        ScriptedModel model = new ScriptedModel(tokenizer.vocabSize(), script);
        Generator.Result r = new Generator(model, tokenizer).generate(Arrays.copyOf(script, 3), 4, Sampler.greedy(), s -> { });
        assertArrayEquals(Arrays.copyOfRange(script, 3, 7), r.newIds());
        assertEquals(Generator.Stop.MAX_NEW_TOKENS, r.stop());
        assertEquals(1 + 3, model.calls.size(), "prefill + 3 next calls for 4 tokens");
        assertEquals(tokenizer.decode(Arrays.copyOf(script, 7)).substring(tokenizer.decode(Arrays.copyOf(script, 3)).length()), r.text());

        Generator.Result none = new Generator(model, tokenizer).generate(Arrays.copyOf(script, 3), 0, Sampler.greedy(), s -> { });
        assertEquals(0, none.newIds().length);
        assertEquals("", none.text());
    }

    @Test
    void seededSamplingIsReproducible() {
        int[] script = tokenizer.encode("And the evening and the morning were the first day.");
        ScriptedModel model = new ScriptedModel(tokenizer.vocabSize(), script);
        int[] prompt = Arrays.copyOf(script, 2);
        // temperature 3 flattens the peak enough that the floor tokens get drawn too
        Generator.Result a = new Generator(model, tokenizer).generate(prompt, 30, Sampler.sampling(3.0, 1.0, 99), s -> { });
        Generator.Result b = new Generator(model, tokenizer).generate(prompt, 30, Sampler.sampling(3.0, 1.0, 99), s -> { });
        assertArrayEquals(a.newIds(), b.newIds());
        assertEquals(a.text(), b.text());
    }

    @Test
    void badPromptsAreErrors() {
        ScriptedModel model = new ScriptedModel(tokenizer.vocabSize(), new int[] {5});
        Generator g = new Generator(model, tokenizer);
        assertThrows(T2rException.class, () -> g.generate(new int[0], 3, Sampler.greedy(), s -> { }));
        assertThrows(T2rException.class, () -> g.generate(new int[] {tokenizer.vocabSize()}, 3, Sampler.greedy(), s -> { }));
    }
}
