package gsat2r.cli;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/** The one-line text of an error, as the CLI prints it after {@code error: }. */
final class ErrorMessages {

    private ErrorMessages() {}

    static String oneLine(Throwable e) {
        return flatten(describe(unwrap(e)));
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof UncheckedIOException || e instanceof InvocationTargetException
                || e instanceof picocli.CommandLine.ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private static String describe(Throwable e) {
        if (e instanceof T2rException) return e.getMessage();                       // already written for the user
        if (e instanceof NoSuchFileException f) return f.getFile() + ": no such file or directory";
        if (e instanceof AccessDeniedException f) return f.getFile() + ": permission denied";
        if (e instanceof FileAlreadyExistsException f) return f.getFile() + ": already exists";
        if (e instanceof DirectoryNotEmptyException f) return f.getFile() + ": directory not empty";
        if (e instanceof NotDirectoryException f) return f.getFile() + ": not a directory";
        if (e instanceof FileSystemException f) {
            String reason = f.getReason() == null ? "file system error" : f.getReason();
            return (f.getFile() == null ? "" : f.getFile() + ": ") + reason;
        }
        if (e instanceof IOException) return "I/O error: " + message(e);
        if (e instanceof OutOfMemoryError) {
            return "out of memory (" + message(e) + "); give Java more with T2R_JAVA_OPTS=-Xmx<size>";
        }
        if (e instanceof StackOverflowError) return "stack overflow (internal error; rerun with --verbose and report it)";
        // A bug or an unexpected library failure: name its type so that a report can point at it.
        String type = e.getClass().getSimpleName();
        return e.getMessage() == null ? "internal error: " + type + " (rerun with --verbose for details)"
                : "internal error: " + type + ": " + e.getMessage();
    }

    private static String message(Throwable e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Joins the lines of a multi-line message so that the error stays one line. */
    private static String flatten(String s) {
        String[] lines = s.strip().split("\\s*\\R\\s*");
        return String.join("; ", lines);
    }
}
