package gsat2r.core.io;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.function.Predicate;

/**
 * What an output directory is, and how to tell one: the CLI's {@code --force} replaces an existing non-empty directory
 * only when it is of the kind the command writes, so that a mistyped {@code --out} never deletes a user's own files
 * (or a teacher).
 *
 * @param name what the directory is, as a message names it ("prepared dataset")
 * @param sign what marks one, as a message says it is missing ("dataset.json")
 * @param is   whether an existing directory is one
 */
public record OutputKind(String name, String sign, Predicate<Path> is) {

    /** A kind known by a regular file it always holds. */
    public static OutputKind holding(String name, String file) {
        return new OutputKind(name, file, dir -> Files.isRegularFile(dir.resolve(file), LinkOption.NOFOLLOW_LINKS));
    }

    /** Any directory at a place inside an output this program owns (a run's checkpoint), where replacing is the intent. */
    public static OutputKind owned(String name) {
        return new OutputKind(name, name, dir -> true);
    }
}
