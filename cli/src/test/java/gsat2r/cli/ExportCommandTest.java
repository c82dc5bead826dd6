package gsat2r.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Without the export-samediff module on the class path (as in t2r.jar alone), export says how to get it. */
class ExportCommandTest {
    @TempDir
    Path tmp;

    @Test
    void missingExporterIsOneLineSayingHowToBuildIt() {
        CliRun r = CliRun.run(ModelLoader::load, tmp, "export", "--format", "samediff", "--model", tmp.toString(),
                "--out", tmp.resolve("x.sd").toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertEquals("error: the SameDiff exporter (--format samediff) is not on the class path; build it with "
                + "'mvn -q -B -pl export-samediff -am package -DskipTests' and run ./t2r, which adds "
                + "export-samediff/target/t2r-samediff/ to the class path (see docs/deploy.md)", r.err().strip());
        CliRun other = CliRun.run(ModelLoader::load, tmp, "export", "--format", "onnx", "--model", tmp.toString(),
                "--out", tmp.resolve("x.onnx").toString());
        assertEquals(2, other.exit(), other.toString());
        assertEquals(List.of("--format onnx: unknown export format (available: none; samediff needs the export-samediff module)",
                "Try 't2r export --help' for more information."), other.errLines());
        assertEquals(2, CliRun.run(ModelLoader::load, tmp, "export", "--model", tmp.toString()).exit());
    }
}
