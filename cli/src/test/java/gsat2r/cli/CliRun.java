package gsat2r.cli;

import gsat2r.core.model.LanguageModel;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;

/** Runs {@code t2r} in-process and captures its exit status, stdout and stderr. */
record CliRun(int exit, String out, String err) {

    static CliRun run(Function<Path, LanguageModel> loader, Path cacheRoot, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = T2r.execute(new T2r(loader, cacheRoot), args, new PrintWriter(out), new PrintWriter(err));
        return new CliRun(exit, out.toString(), err.toString());
    }

    List<String> errLines() {
        return err.lines().toList();
    }

    @Override
    public String toString() {
        return "exit " + exit + "\n--- stdout\n" + out + "\n--- stderr\n" + err;
    }
}
