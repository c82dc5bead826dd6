package gsat2r.cli;

import picocli.AutoComplete;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * {@code t2r completion bash|zsh}: prints the shell completion script that picocli generates from the
 * command tree (commands, options, enum values, file names), e.g. {@code source <(./t2r completion bash)}.
 * One script serves both shells: zsh runs it through {@code bashcompinit}.
 */
@Command(name = "completion", mixinStandardHelpOptions = true,
        description = {"Print a shell completion script for t2r.",
                "bash: source <(t2r completion bash)   (or save it in /etc/bash_completion.d/t2r)",
                "zsh:  autoload -U +X bashcompinit && bashcompinit && source <(t2r completion zsh)"})
final class CompletionCommand implements Callable<Integer> {

    enum Shell { bash, zsh }

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "SHELL", defaultValue = "bash", description = "bash (default) or zsh.")
    Shell shell;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.print(AutoComplete.bash("t2r", spec.root().commandLine()));
        out.flush();
        return 0;
    }
}
