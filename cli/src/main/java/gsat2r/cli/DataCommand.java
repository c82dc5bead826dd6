package gsat2r.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code t2r data}: data preparation commands. */
@Command(name = "data", mixinStandardHelpOptions = true, description = "Prepare training data.",
        subcommands = {DataPrepareCommand.class})
final class DataCommand implements Runnable {

    @ParentCommand
    T2r t2r;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "Missing required subcommand");
    }
}
