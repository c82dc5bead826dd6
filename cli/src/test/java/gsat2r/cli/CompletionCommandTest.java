package gsat2r.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code t2r completion}: a script that bash really completes with (run here when bash is installed). */
class CompletionCommandTest {

    @TempDir
    Path tmp;

    CliRun t2r(String... args) {
        return CliRun.run(DataPrepareCommandTest.NO_MODELS, tmp.resolve("cache"), args);
    }

    @Test
    void printsAScriptForTheWholeCommandTree() {
        CliRun r = t2r("completion", "bash");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("complete -F _complete_t2r"), r.out());
        for (String word : List.of("finetune", "generate", "prepare", "--recipe", "--set", "--max-new-tokens")) {
            assertTrue(r.out().contains(word), word);
        }
        assertEquals(r.out(), t2r("completion").out(), "bash is the default");
        assertEquals(r.out(), t2r("completion", "zsh").out(), "zsh runs the bash script through bashcompinit");
        assertEquals(2, t2r("completion", "fish").exit());
    }

    @Test
    void bashCompletesCommandsAndOptions() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/bin/bash")), "bash is not installed");
        Path script = tmp.resolve("t2r.bash");
        Files.writeString(script, t2r("completion", "bash").out());
        assertEquals(List.of("finetune"), complete(script, "t2r", "fin"));
        assertEquals(List.of("--recipe", "--resume"), complete(script, "t2r", "finetune", "--re").stream().sorted().toList());
        assertEquals(List.of("prepare"), complete(script, "t2r", "data", "pr"));
    }

    /** What bash's completion function offers for the last word of {@code words}. */
    private List<String> complete(Path script, String... words) throws IOException, InterruptedException {
        String line = String.join(" ", words);
        String program = "source '" + script + "'; COMP_WORDS=(" + line + "); COMP_CWORD=" + (words.length - 1)
                + "; COMP_LINE='" + line + "'; COMP_POINT=" + line.length() + "; _complete_t2r; printf '%s\\n' \"${COMPREPLY[@]}\"";
        // compopt only works inside a completion bash itself started; stubbed here (it only tunes how bash shows results)
        Process p = new ProcessBuilder("/bin/bash", "-c", "compopt() { :; }; " + program)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out.lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
    }
}
