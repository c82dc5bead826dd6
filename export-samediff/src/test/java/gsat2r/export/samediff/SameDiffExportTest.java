package gsat2r.export.samediff;

import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.export.Exporter;
import gsat2r.core.generate.Generator;
import gsat2r.core.generate.Sampler;
import gsat2r.core.model.LanguageModel;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.testing.Fixtures;
import gsat2r.core.testing.Students;
import gsat2r.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ServiceLoader;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exported decode step, loaded from its file into a fresh SameDiff and fed token by token, gives the
 * Java student's logits (within 1e-4 of the largest logit) and, decoding greedily, the tokens of
 * {@code t2r generate --greedy} (core's Generator, the loop behind the command).
 */
class SameDiffExportTest {
    static final double TOLERANCE = 1e-4;

    @TempDir
    Path tmp;

    private static Exporter exporter() {
        return ServiceLoader.load(Exporter.class).stream().map(ServiceLoader.Provider::get)
                .filter(e -> e.format().equals("samediff")).findFirst().orElseThrow();
    }

    /** Prompt then greedy generation through the graph, checked step by step against the Java decoder. */
    private SameDiffStudent check(GsaConfig config, long seed, int maxContext, int promptLength, int newTokens) {
        Path dir = Students.write(config, seed, tmp.resolve("student-" + seed));
        Path out = tmp.resolve("exports/student-" + seed + ".sd");            // its directory made on the way
        String summary = exporter().export(new Exporter.Request(dir, out, maxContext, false), note -> { });
        assertTrue(summary.startsWith("wrote " + out), summary);
        assertTrue(Files.isRegularFile(out.resolveSibling(out.getFileName() + ".json")));

        GsaModel java = GsaModel.load(dir);
        int[] prompt = Students.ids(promptLength, seed + 1);
        int[] expected;
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            expected = new Generator(java, tokenizer).generate(prompt, newTokens, Sampler.greedy(), x -> { }).newIds();
        }
        SameDiffStudent graph = SameDiffStudent.load(out);
        LanguageModel.Decoder decoder = java.newDecoder();
        double worst = 0;
        int[] generated = new int[expected.length];
        float[] logits = null;
        for (int t = 0; t < prompt.length + expected.length - 1; t++) {
            int id = t < prompt.length ? prompt[t] : generated[t - prompt.length];
            logits = graph.step(id);
            float[] reference = decoder.next(id);
            worst = Math.max(worst, relativeError(logits, reference));
            if (t >= prompt.length - 1) generated[t - prompt.length + 1] = argmax(logits);
        }
        assertArrayEquals(expected, generated, "greedy tokens through the SameDiff graph");
        assertTrue(worst <= TOLERANCE, "max |Δlogit| / max |logit| = " + worst);
        System.out.printf("samediff export %s: %d steps, worst relative logit error %.2e%n", config.layerPlan(),
                prompt.length + expected.length - 1, worst);
        return graph;
    }

    @Test
    void gsaStudentMatchesTheJavaDecoder() {
        check(Students.gsaConfig(), 41, 0, 10, 14);
    }

    @Test
    void hybridStudentWithWindowAndFullAttention() {
        // Window 6 wraps its ring three times; full attention holds max-context 20 positions.
        assertEquals(Integer.MAX_VALUE, check(Students.hybridConfig(6), 42, 0, 8, 12).maxPositions());
        SameDiffStudent full = check(Students.hybridConfig(null), 43, 20, 8, 12);      // 19 tokens fed
        assertEquals(20, full.maxPositions());
        full.step(5);
        T2rException e = assertThrows(T2rException.class, () -> full.step(5));
        assertTrue(e.getMessage().startsWith("the exported graph holds 20 positions"), e.getMessage());
    }

    @Test
    void refusals() throws java.io.IOException {
        Path teacher = Fixtures.copy("hf-tiny-llama", tmp.resolve("teacher"));
        T2rException e = assertThrows(T2rException.class,
                () -> exporter().export(new Exporter.Request(teacher, tmp.resolve("new/t.sd"), 0, false), x -> { }));
        assertTrue(e.getMessage().startsWith(teacher + ": not a GSA student"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("new")), "a refused export creates no directory");
        Path existing = Files.writeString(tmp.resolve("exists.sd"), "x");
        e = assertThrows(T2rException.class,
                () -> exporter().export(new Exporter.Request(teacher, existing, 0, false), x -> { }));
        assertEquals(existing + ": exists (use --force to replace it)", e.getMessage());
        Path directory = Files.createDirectories(tmp.resolve("dir.sd"));
        for (boolean force : new boolean[] {false, true}) {
            e = assertThrows(T2rException.class, () -> exporter().export(new Exporter.Request(teacher, directory, 0, force), x -> { }));
            assertEquals(directory + ": is a directory; --out names the graph file to write (e.g. student.sd)", e.getMessage());
        }
    }

    static double relativeError(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }

    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
