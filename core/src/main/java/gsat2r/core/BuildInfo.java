package gsat2r.core;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * What this build of t2r is: the project version and the git commit it was built from, written into
 * the core jar by the Maven build ({@code gsat2r/core/build-info.properties}, see core/pom.xml).
 *
 * @param commit   the full commit hash, or {@code "unknown"} when the build did not run in a git checkout
 *                 (a source tarball, a machine without git)
 * @param modified whether tracked files differed from that commit when it was built
 */
public record BuildInfo(String version, String commit, boolean modified) {

    public static final String UNKNOWN = "unknown";
    static final String RESOURCE = "build-info.properties";

    private static final BuildInfo CURRENT = load();

    /** This build's information; every field {@code "unknown"} when the resource is missing (classes run from an IDE). */
    public static BuildInfo current() {
        return CURRENT;
    }

    /** e.g. {@code 0.1.0-SNAPSHOT (commit 1fe9060a1b2c, modified)}. */
    public String describe() {
        if (commit.equals(UNKNOWN)) return version + " (commit unknown)";
        return version + " (commit " + commit.substring(0, Math.min(12, commit.length())) + (modified ? ", modified" : "") + ")";
    }

    static BuildInfo parse(Properties p) {
        String version = p.getProperty("version", UNKNOWN).strip();
        String commit = p.getProperty("commit", UNKNOWN).strip();
        if (!commit.matches("[0-9a-f]{40,64}")) commit = UNKNOWN;
        return new BuildInfo(version.isEmpty() ? UNKNOWN : version, commit, Boolean.parseBoolean(p.getProperty("modified", "false").strip()));
    }

    private static BuildInfo load() {
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream(RESOURCE)) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return parse(p);
    }
}
