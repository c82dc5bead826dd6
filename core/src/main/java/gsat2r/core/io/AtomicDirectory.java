package gsat2r.core.io;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * An output directory that appears whole or not at all. Everything is written into a hidden temp
 * sibling {@code .<name>.tmp-<random>}; {@link #commit} renames it to the final name. Closing
 * without a commit, an exception, or the JVM shutting down (Ctrl-C) deletes the temp tree, so a
 * failed command leaves no half output behind.
 *
 * <p>An existing target is left alone unless it is an empty directory, or {@code replace} was asked
 * for (the CLI's {@code --force}) and it is of the {@link OutputKind} being written (never a directory
 * that holds the current directory): then the old directory is renamed aside, the new one renamed in,
 * and the old one deleted. (Between those two renames the target name is briefly absent; if the
 * second rename fails the old directory is put back.) A {@code kill -9} can leave a temp sibling
 * behind; its name says what it is.
 *
 * <pre>{@code
 * try (AtomicDirectory out = AtomicDirectory.create(dir, force, PreparedDataset.KIND)) {
 *     write(out.path().resolve("config.json"), ...);
 *     out.commit();
 * }
 * }</pre>
 */
public final class AtomicDirectory implements AutoCloseable {

    private final Path target;
    private final Path temp;
    private final boolean replace;
    private final OutputKind kind;
    /** The current directory, which is never replaced (a parameter for the tests: the JVM's cannot change). */
    private final Path cwd;
    private boolean committed;
    private boolean closed;

    private AtomicDirectory(Path target, Path temp, boolean replace, OutputKind kind, Path cwd) {
        this.cwd = cwd;
        this.target = target;
        this.temp = temp;
        this.replace = replace;
        this.kind = kind;
    }

    /** {@link #create(Path, boolean, OutputKind)} of a directory that must not exist or be empty. */
    public static AtomicDirectory create(Path target) {
        return create(target, false, null);
    }

    /**
     * Starts writing the directory {@code target}, a {@code kind} (its parents are created). Fails at
     * once, before anything is written, when {@code target} is a file or a symbolic link, or a non-empty
     * directory and {@code replace} is false or it is not a {@code kind}, or it holds the current directory
     * (empty or not).
     */
    public static AtomicDirectory create(Path target, boolean replace, OutputKind kind) {
        return create(target, replace, kind, Path.of(""));
    }

    /**
     * Refuses {@code target} as {@link #create(Path, boolean, OutputKind)} would, writing nothing: for a command that
     * has long work to do before its output is written, so that a bad output path is said first.
     */
    public static void check(Path target, boolean replace, OutputKind kind) {
        Path file = AtomicFiles.fileInTheWay(checkOutput(target, replace, kind, Path.of("")).getParent());
        if (file != null) throw new T2rException(file + ": is a file, not a directory (on the way to " + target + ")");
    }

    /** The checks of {@link #create}; the target's absolute path. */
    private static Path checkOutput(Path target, boolean replace, OutputKind kind, Path cwd) {
        if (replace && kind == null) throw new IllegalArgumentException("replace needs the kind of directory it may replace");
        Path abs = target.toAbsolutePath().normalize();
        if (abs.getFileName() == null) throw new T2rException(target + ": cannot write a file system root");
        checkTarget(target, abs, replace, kind, cwd);
        return abs;
    }

    /** {@link #create(Path, boolean, OutputKind)} as if run from {@code cwd}. */
    static AtomicDirectory create(Path target, boolean replace, OutputKind kind, Path cwd) {
        Path abs = checkOutput(target, replace, kind, cwd);
        AtomicFiles.createDirectories(abs.getParent());
        for (int attempt = 0; ; attempt++) {
            Path temp = AtomicFiles.tempSibling(abs, "tmp");
            try {
                Files.createDirectory(temp);
                AtomicFiles.deleteOnShutdown(temp);
                return new AtomicDirectory(abs, temp, replace, kind, cwd);
            } catch (IOException e) {
                if (attempt >= 3) {
                    throw new T2rException(target + ": cannot create a temp directory beside it ("
                            + AtomicFiles.oneLine(e) + ")", e);
                }
            }
        }
    }

    /** The directory to write into (the temp one until {@link #commit}). */
    public Path path() {
        return temp;
    }

    /** The final directory. */
    public Path target() {
        return target;
    }

    /** Renames the temp directory to the target; returns the target. */
    public synchronized Path commit() {
        if (committed) return target;
        if (closed) throw new IllegalStateException(target + ": already closed without a commit");
        if (!Files.isDirectory(temp, LinkOption.NOFOLLOW_LINKS)) {
            throw new T2rException(temp + ": the temp directory is gone (deleted during shutdown?)");
        }
        checkTarget(target, target, replace, kind, cwd);
        AtomicFiles.fsyncDirectory(temp);
        try {
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS) && !isEmptyDirectory(target)) {
                replaceNonEmpty();
            } else {
                // rename(2) onto an empty directory replaces it; onto nothing creates it.
                AtomicFiles.moveAtomically(temp, target);
            }
        } catch (IOException e) {
            throw new T2rException(target + ": cannot move the finished output into place ("
                    + AtomicFiles.oneLine(e) + "); it is still in " + temp, e);
        }
        committed = true;
        AtomicFiles.keepOnShutdown(temp);
        AtomicFiles.fsyncDirectory(target.getParent());
        return target;
    }

    private void replaceNonEmpty() throws IOException {
        Path old = AtomicFiles.tempSibling(target, "old");
        AtomicFiles.moveAtomically(target, old);
        try {
            AtomicFiles.moveAtomically(temp, target);
        } catch (IOException e) {
            try {
                AtomicFiles.moveAtomically(old, target);
            } catch (IOException restore) {
                e.addSuppressed(restore);
                throw new IOException(e.getMessage() + "; the old directory is now " + old, e);
            }
            throw e;
        }
        deleteTree(old);
    }

    /** Without a commit, deletes the temp directory and all in it. Harmless twice, and after a commit. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        if (!committed) {
            deleteTree(temp);
            AtomicFiles.keepOnShutdown(temp);
        }
    }

    private static void checkTarget(Path given, Path abs, boolean replace, OutputKind kind, Path cwd) {
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) return;
        if (Files.isSymbolicLink(abs)) {
            throw new T2rException(given + ": is a symbolic link; give the real directory to write");
        }
        if (!Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS)) {
            throw new T2rException(given + ": exists and is not a directory");
        }
        if (isEmptyDirectory(abs)) {
            refuseToRenameOntoCurrentDirectory(abs, given, cwd);
            return;
        }
        boolean ours = kind != null && kind.is().test(abs);
        if (!replace) {
            throw new T2rException(given + ": directory exists and is not empty" + (kind == null || ours ? " (use --force to replace it)"
                    : " and is not a " + kind.name() + " (no " + kind.sign() + "); give a new or empty directory"));
        }
        if (!ours) {
            throw new T2rException(given + ": is not a " + kind.name() + " (no " + kind.sign()
                    + "), so --force does not replace it; give a new or empty directory");
        }
        AtomicFiles.refuseToReplaceCurrentDirectory(abs, given, cwd);
    }

    /**
     * The finished output is renamed onto an empty target, which would leave a shell whose current directory it is
     * in a deleted directory: refused before anything is written.
     */
    private static void refuseToRenameOntoCurrentDirectory(Path emptyDir, Object given, Path cwd) {
        if (AtomicFiles.isWithin(cwd, emptyDir)) {
            throw new T2rException(given + ": is the current directory, which the finished output would replace; give a new directory (e.g. "
                    + "a name inside it) or run from elsewhere");
        }
    }

    private static boolean isEmptyDirectory(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (NoSuchFileException e) {
            return true;
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list directory (" + AtomicFiles.oneLine(e) + ")", e);
        }
    }

    /**
     * Deletes a tree without following symbolic links out of it. Best effort: what cannot be deleted
     * is left (a failure here must not hide the error that made us clean up).
     */
    static void deleteTree(Path root) {
        // A few passes: during shutdown another thread may still be creating files in the tree.
        for (int pass = 0; pass < 5 && Files.exists(root, LinkOption.NOFOLLOW_LINKS); pass++) deleteTreeOnce(root);
    }

    private static void deleteTreeOnce(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    deleteQuietly(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException e) {
                    deleteQuietly(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException ignored) {
            // Best effort, see above.
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // Best effort, see deleteTree.
        }
    }
}
