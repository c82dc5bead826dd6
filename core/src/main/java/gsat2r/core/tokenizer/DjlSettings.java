package gsat2r.core.tokenizer;

import java.nio.file.Path;

/**
 * System properties that make DJL's tokenizer library behave as this project needs, set once before
 * DJL's classes first run. Each one is left alone when the user has set it (environment or -D).
 *
 * <ul>
 *   <li>{@code ai.djl.offline=true} and {@code OPT_OUT_TRACKING=true}: without them, the first tokenizer
 *       load sends telemetry, which starts with HTTP requests to the EC2 metadata service
 *       (169.254.169.254, seen with strace) and waits up to seconds for them to time out.</li>
 *   <li>{@code ENGINE_CACHE_DIR}: where DJL unpacks its native library (otherwise {@code ~/.djl.ai});
 *       we keep it under {@code ${XDG_CACHE_HOME:-~/.cache}/gsa-t2r/djl}, beside the demo model.</li>
 * </ul>
 */
final class DjlSettings {

    private DjlSettings() {}

    static void apply() {
        setUnlessGiven("ai.djl.offline", "DJL_OFFLINE", "true");
        setUnlessGiven("OPT_OUT_TRACKING", "OPT_OUT_TRACKING", "true");
        if (given("DJL_CACHE_DIR", "DJL_CACHE_DIR") == null) {
            setUnlessGiven("ENGINE_CACHE_DIR", "ENGINE_CACHE_DIR", cacheRoot().resolve("djl").toString());
        }
    }

    /** {@code ${XDG_CACHE_HOME:-~/.cache}/gsa-t2r}: this project's cache directory. */
    static Path cacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()
                ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("gsa-t2r");
    }

    private static String given(String property, String env) {
        String v = System.getProperty(property);
        return v != null ? v : System.getenv(env);
    }

    private static void setUnlessGiven(String property, String env, String value) {
        if (given(property, env) == null) System.setProperty(property, value);
    }
}
