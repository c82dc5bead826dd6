package gsat2r.serve;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The load generator of docs/benchmarks.md (scripts/serve-load/ServeLoad.java) keeps working: a small bounded run, nothing lost. */
class ServeLoadScriptTest {
    @TempDir
    Path tmp;

    @Test
    void aSmallLoadLosesNothing() throws Exception {
        DemoStudent demo = new DemoStudent(tmp);
        try (OpenAiServer server = OpenAiServer.start(demo.model, demo.tokenizer, TranscriptChatFormat.INSTANCE,
                ServeOptions.defaults("kjv-student", 2048), line -> { })) {
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    Path.of("..", "scripts", "serve-load", "ServeLoad.java").toString(), "--url", server.uri().toString(),
                    "--clients", "4", "--rounds", "2", "--requests", "2", "--max-tokens", "8", "--timeout", "120")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(180, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            assertTrue(out.contains("| all | 16 | 0 |"), out);
            assertTrue(out.contains("\"running_sequences\":0"), out);
        }
    }
}
