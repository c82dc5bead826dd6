package gsat2r.core.io;

import gsat2r.core.T2rException;

import java.nio.file.Files;
import java.nio.file.Path;

/** Checks an input file before it is read, so that what is wrong with it is said in one line that names it. */
public final class InputFiles {
    private InputFiles() {}

    /**
     * Refuses a missing file ({@code FILE: no such file}) and a directory ({@code FILE: is a directory, expected
     * WHAT}); anything else is for the reader to open (a pipe such as {@code <(zcat x)} included).
     */
    public static void requireFile(Path file, String what) {
        if (Files.isDirectory(file)) throw new T2rException(file + ": is a directory, expected " + what);
        if (!Files.exists(file)) throw new T2rException(file + ": no such file");
    }

    /** {@link #requireFile}, and refuses a pipe or a device too: for a reader that reads the file more than once. */
    public static void requireRegularFile(Path file, String what) {
        requireFile(file, what);
        if (!Files.isRegularFile(file)) throw new T2rException(file + ": not a regular file (a pipe?), expected " + what + " (it is read twice)");
    }
}
