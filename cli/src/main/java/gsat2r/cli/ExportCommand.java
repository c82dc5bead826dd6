package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.export.Exporter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

/**
 * {@code t2r export --format samediff --model DIR --out FILE}: export formats live in modules of their own
 * and are found with {@link ServiceLoader}; the samediff one ({@code export-samediff}, ND4J) is not inside
 * t2r.jar: {@code ./t2r} adds {@code export-samediff/target/t2r-samediff/*} to the class path when that
 * folder has been built.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Export a GSA student (samediff: its decode step as a SameDiff graph for DL4J).",
                "--format samediff writes the recurrent decode step (token and state in, logits and new state out)",
                "as a SameDiff graph, plus FILE.json describing its inputs, outputs and state shapes."})
final class ExportCommand implements Callable<Integer> {

    @ParentCommand
    T2r t2r;

    @Option(names = "--format", paramLabel = "FORMAT", required = true, description = "samediff")
    String format;

    @Option(names = "--model", paramLabel = "DIR", required = true, description = "The student directory.")
    String model;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "The file to write (atomically).")
    Path out;

    @Option(names = "--max-context", paramLabel = "N", defaultValue = "0",
            description = "Positions a full-attention layer of a hybrid student keeps (a fixed-size state; default: max_position_embeddings).")
    int maxContext;

    @Option(names = "--force", description = "Replace FILE if it exists.")
    boolean force;

    @Override
    public Integer call() {
        if (maxContext < 0) throw new picocli.CommandLine.ParameterException(t2r.spec.commandLine(), "--max-context must be >= 0");
        List<Exporter> found = ServiceLoader.load(Exporter.class).stream().map(ServiceLoader.Provider::get).toList();
        Exporter exporter = found.stream().filter(e -> e.format().equals(format)).findFirst().orElse(null);
        if (exporter == null) throw new T2rException(missing(format, found));
        Path dir = t2r.modelDir(model);
        String summary = exporter.export(new Exporter.Request(dir, out, maxContext, force), t2r::note);
        PrintWriter o = t2r.spec.commandLine().getOut();
        o.println(summary);
        o.flush();
        return 0;
    }

    static String missing(String format, List<Exporter> found) {
        if (format.equals("samediff")) {
            return "the SameDiff exporter (--format samediff) is not on the class path; build it with "
                    + "'mvn -q -B -pl export-samediff -am package -DskipTests' and run ./t2r, which adds "
                    + "export-samediff/target/t2r-samediff/ to the class path (see docs/deploy.md)";
        }
        return "--format " + format + ": unknown export format (available: "
                + (found.isEmpty() ? "none; samediff needs the export-samediff module" : String.join(", ",
                found.stream().map(Exporter::format).toList())) + ")";
    }
}
