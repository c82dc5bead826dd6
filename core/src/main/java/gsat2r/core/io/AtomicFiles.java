package gsat2r.core.io;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Small files written whole or not at all: the bytes go to a hidden temp sibling, are flushed to
 * disk, and the temp is renamed over the target (an atomic {@code rename(2)} on one file system), so
 * a reader sees the old file or the new one, never a part.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    private static final Set<Path> DELETE_ON_SHUTDOWN = ConcurrentHashMap.newKeySet();
    private static volatile boolean hookInstalled;

    /**
     * Registers a temp file or directory to be deleted if the JVM shuts down (Ctrl-C, SIGTERM, end
     * of main) before {@link #keepOnShutdown} withdraws it, so an interrupted command leaves no
     * half-written output behind.
     */
    public static void deleteOnShutdown(Path temp) {
        installShutdownHook();
        DELETE_ON_SHUTDOWN.add(temp);
    }

    /** Withdraws a {@link #deleteOnShutdown} registration (the temp was renamed into place or deleted). */
    public static void keepOnShutdown(Path temp) {
        DELETE_ON_SHUTDOWN.remove(temp);
    }

    private static void installShutdownHook() {
        if (hookInstalled) return;
        synchronized (AtomicFiles.class) {
            if (hookInstalled) return;
            try {
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    for (Path p : DELETE_ON_SHUTDOWN) AtomicDirectory.deleteTree(p);
                }, "gsat2r-temp-cleanup"));
            } catch (IllegalStateException shuttingDown) {
                // The JVM is already going down; nothing will be committed either.
            }
            hookInstalled = true;
        }
    }

    /** Writes {@code content} to {@code target} atomically, replacing an existing file. */
    public static void write(Path target, byte[] content) {
        Path dir = parentOf(target);
        createDirectories(dir);
        Path temp = tempSibling(target, "tmp");
        try {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) ch.write(buf);
                ch.force(true);
            }
            moveAtomically(temp, target);
            fsyncDirectory(dir);
        } catch (IOException e) {
            throw new T2rException(target + ": cannot write (" + oneLine(e) + ")", e);
        } finally {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // The temp is hidden and named as ours; nothing better to do than leave it.
            }
        }
    }

    /** Writes {@code content} as UTF-8 to {@code target} atomically. */
    public static void writeString(Path target, String content) {
        write(target, content.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A name for a temp sibling of {@code target} that does not exist yet:
     * {@code .<name>.<kind>-<8 hex digits>} in the same directory (so a rename can be atomic).
     */
    public static Path tempSibling(Path target, String kind) {
        Path dir = parentOf(target);
        String name = target.getFileName().toString();
        while (true) {
            String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
            Path p = dir.resolve("." + name + "." + kind + "-" + suffix);
            if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return p;
        }
    }

    /** Renames {@code from} to {@code to} with one {@code rename(2)}, replacing a file or empty directory. */
    public static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + from.getFileName() + " to " + to
                    + " atomically (different file systems?)", e);
        }
    }

    /**
     * Flushes a directory's entries (a rename is durable only once its directory is). Best effort:
     * some file systems cannot open a directory for this, and the data files are flushed already.
     */
    public static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Not fatal: the rename itself already happened.
        }
    }

    static Path parentOf(Path p) {
        Path parent = p.toAbsolutePath().getParent();
        if (parent == null) throw new T2rException(p + ": has no parent directory");
        return parent;
    }

    public static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            Path file = fileInTheWay(dir);             // says more than errno
            if (file != null) {
                throw new T2rException(file + ": is a file, not a directory" + (file.equals(dir.toAbsolutePath()) ? "" : " (on the way to " + dir + ")"), e);
            }
            throw new T2rException(dir + ": cannot create directory (" + oneLine(e) + ")", e);
        }
    }

    /** The first of {@code dir} and its parents that exists and is not a directory (what creating it would meet), or null. */
    static Path fileInTheWay(Path dir) {
        for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(p)) return p;
        }
        return null;
    }

    /** Whether {@code path} is {@code dir} or lies inside it, by real paths; false when either does not exist. */
    public static boolean isWithin(Path path, Path dir) {
        try {
            return path.toRealPath().startsWith(dir.toRealPath());
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Refuses to let --force replace {@code dir} (named {@code given}) when it is the current directory or holds it
     * (compared by real paths, so that a symbolic link on the way does not hide it): replacing it would pull the ground
     * from under the user's shell.
     */
    public static void refuseToReplaceCurrentDirectory(Path dir, Object given) {
        refuseToReplaceCurrentDirectory(dir, given, Path.of(""));
    }

    /** {@link #refuseToReplaceCurrentDirectory(Path, Object)} as if run from {@code cwd}. */
    static void refuseToReplaceCurrentDirectory(Path dir, Object given, Path cwd) {
        if (isWithin(cwd, dir)) {
            throw new T2rException(given + ": holds the current directory, so --force does not replace it; run from elsewhere");
        }
    }

    /** One line that says what went wrong, for a message that already names the file we meant. */
    public static String oneLine(Throwable e) {
        String m;
        if (e instanceof FileSystemException fse) {
            String why = fse.getReason() != null ? fse.getReason() : switch (fse) {
                case NoSuchFileException x -> "no such file or directory";
                case AccessDeniedException x -> "permission denied";
                case FileAlreadyExistsException x -> "already exists";
                case DirectoryNotEmptyException x -> "directory not empty";
                case NotDirectoryException x -> "not a directory";
                default -> fse.getClass().getSimpleName();
            };
            m = fse.getFile() == null ? why : why + ": " + fse.getFile();
        } else {
            m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        }
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
