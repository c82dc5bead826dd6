package gsat2r.cli;

import gsat2r.gpu.cuda.Cuda;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code --device cuda} on a machine without a usable CUDA driver (CI, laptops): every command that takes
 * it fails with exit 1 and the one line of {@link Cuda#requireAvailable()}, and writes nothing.
 */
class DeviceCudaTest {

    static final String KJV = Path.of("..", "models", "kjv-llama").toString();

    @TempDir
    Path tmp;

    @Test
    void withoutADriverDeviceCudaFailsWithOneLine() throws Exception {
        assumeFalse(Cuda.available(), "this machine has a usable CUDA driver: the GPU tests cover --device cuda");
        String expected = "error: " + Cuda.unavailableReason();
        Path data = tmp.resolve("data.jsonl");
        Files.writeString(data, "{\"text\": \"In the beginning God created the heaven and the earth.\"}\n");
        Path out = tmp.resolve("report");
        List<String[]> commands = List.of(
                new String[] {"logits", "--model", KJV, "--ids", "1,2,3", "--device", "cuda"},
                new String[] {"logits", "--model", KJV, "--text", "And God said", "--device", "cuda", "--all-positions"},
                new String[] {"generate", "--model", KJV, "--ids", "1,2", "--max-new-tokens", "3", "--greedy", "--device", "cuda"},
                new String[] {"eval", "--teacher", KJV, "--student", KJV, "--data", data.toString(), "--tasks", "lm",
                        "--out", out.toString(), "--device", "cuda"});
        for (String[] args : commands) {
            CliRun r = CliRun.run(ModelLoader::load, tmp.resolve("cache"), args);
            assertEquals(1, r.exit(), r.toString());
            assertEquals("", r.out(), r.toString());
            assertEquals(List.of(expected), r.errLines(), String.join(" ", args) + "\n" + r);
        }
        assertFalse(Files.exists(out));
    }
}
