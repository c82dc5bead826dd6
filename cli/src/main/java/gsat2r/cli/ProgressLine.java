package gsat2r.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A progress display on stderr. On a terminal, one line rewritten in place with a carriage return;
 * otherwise (a log file, a pipe, CI) a plain line at most every {@code intervalSeconds}, so that logs
 * stay readable. Plain {@link #line}s (notes, evaluations) are always printed, on a terminal after
 * clearing the progress line.
 */
final class ProgressLine {

    private final PrintWriter err;
    private final boolean terminal;
    private final LongSupplier nanos;
    private final double intervalSeconds;
    private long lastPrint = Long.MIN_VALUE;
    private int shownWidth;

    ProgressLine(PrintWriter err, boolean terminal, LongSupplier nanos, double intervalSeconds) {
        this.err = err;
        this.terminal = terminal;
        this.nanos = nanos;
        this.intervalSeconds = intervalSeconds;
    }

    /** stderr's progress line: rewritten in place on a terminal, a line every 30 s otherwise. */
    static ProgressLine forStderr(PrintWriter err) {
        java.io.Console console = System.console();
        boolean terminal = console != null && console.isTerminal();
        return new ProgressLine(err, terminal, System::nanoTime, 30);
    }

    boolean terminal() {
        return terminal;
    }

    /** Shows the current progress; {@code force} prints it even between intervals (e.g. the last step). */
    void update(String text, boolean force) {
        long now = nanos.getAsLong();
        if (terminal) {
            String padded = text.length() < shownWidth ? text + " ".repeat(shownWidth - text.length()) : text;
            err.print("\r" + padded);
            shownWidth = text.length();
            err.flush();
            return;
        }
        if (force || lastPrint == Long.MIN_VALUE || (now - lastPrint) / 1e9 >= intervalSeconds) {
            err.println(text);
            err.flush();
            lastPrint = now;
        }
    }

    /** A line of its own (a note, an evaluation). */
    void line(String text) {
        if (terminal && shownWidth > 0) {
            err.print("\r" + " ".repeat(shownWidth) + "\r");
            shownWidth = 0;
        }
        err.println(text);
        err.flush();
    }

    /** Ends the in-place line on a terminal. */
    void finish() {
        if (terminal && shownWidth > 0) {
            err.println();
            shownWidth = 0;
        }
        err.flush();
    }

    /** 1234 → "1234", 12345 → "12.3k", 1234567 → "1.23M". */
    static String count(double n) {
        if (Double.isNaN(n)) return "?";
        if (n < 10_000) return String.format(Locale.ROOT, "%.0f", n);
        if (n < 1_000_000) return String.format(Locale.ROOT, "%.1fk", n / 1e3);
        if (n < 1_000_000_000) return String.format(Locale.ROOT, "%.2fM", n / 1e6);
        return String.format(Locale.ROOT, "%.2fG", n / 1e9);
    }

    /** Seconds as "42s", "4m12s", "3h05m". */
    static String duration(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        if (s < 60) return s + "s";
        if (s < 3600) return (s / 60) + "m" + String.format(Locale.ROOT, "%02d", s % 60) + "s";
        return (s / 3600) + "h" + String.format(Locale.ROOT, "%02d", (s % 3600) / 60) + "m";
    }
}
