package gsat2r.eval;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress of the evaluation on the terminal (stderr), one line per update:
 * {@code eval lm: 4,096/23,362 tokens (18%), 5,210 tok/s, ETA 0:00:37}. Lines are written at most
 * every {@code interval} and when a task finishes, so that a log file stays readable. The token rate
 * counts every token a model ran over (teacher and student together); the ETA assumes the rest goes
 * at the average pace so far.
 */
public final class Progress {

    private final PrintWriter out;
    private final LongSupplier nanoClock;
    private final long intervalNanos;

    /** @param out where lines go (null: nowhere) */
    public Progress(PrintWriter out, LongSupplier nanoClock, long intervalNanos) {
        this.out = out;
        this.nanoClock = nanoClock;
        this.intervalNanos = intervalNanos;
    }

    /** Lines on {@code out} at most every two seconds. */
    public static Progress to(PrintWriter out) {
        return new Progress(out, System::nanoTime, 2_000_000_000L);
    }

    public static Progress silent() {
        return new Progress(null, System::nanoTime, Long.MAX_VALUE);
    }

    /** A note of its own line ({@code eval: ...}). */
    public void note(String message) {
        if (out == null) return;
        out.println("eval: " + message);
        out.flush();
    }

    /** Starts counting a task of {@code total} units (e.g. tokens, prompts) named {@code unit}. */
    public Task start(String task, long total, String unit) {
        return new Task(task, total, unit, 0);
    }

    /**
     * As {@link #start(String, long, String)}, for a task whose units differ in cost: the ETA then
     * follows the {@code totalTokens} tokens the models will run over, not the units.
     */
    public Task start(String task, long total, String unit, long totalTokens) {
        return new Task(task, total, unit, totalTokens);
    }

    /** The progress of one task. */
    public final class Task {
        private final String name, unit;
        private final long total, totalTokens, started;
        private long done, tokens, lastLine;

        private Task(String name, long total, String unit, long totalTokens) {
            this.name = name;
            this.total = total;
            this.unit = unit;
            this.totalTokens = totalTokens;
            this.started = nanoClock.getAsLong();
            this.lastLine = started;
        }

        /** {@code units} more done, after running the models over {@code tokens} tokens. */
        public void advance(long units, long tokens) {
            done += units;
            this.tokens += tokens;
            long now = nanoClock.getAsLong();
            if (now - lastLine >= intervalNanos && done < total) {
                lastLine = now;
                line(now, false);
            }
        }

        /** The closing line of the task, with its time. */
        public void finish() {
            line(nanoClock.getAsLong(), true);
        }

        public long done() {
            return done;
        }

        private void line(long now, boolean finished) {
            if (out == null) return;
            double seconds = (now - started) / 1e9;
            StringBuilder s = new StringBuilder("eval ").append(name).append(": ");
            s.append(String.format(Locale.ROOT, "%,d/%,d %s", done, total, unit));
            if (total > 0 && !finished) s.append(String.format(Locale.ROOT, " (%d%%)", Math.round(100.0 * done / total)));
            if (seconds > 0 && tokens > 0) s.append(String.format(Locale.ROOT, ", %,.0f tok/s", tokens / seconds));
            if (finished) {
                s.append(", done in ").append(clock(seconds));
            } else if (totalTokens > 0 && tokens > 0) {
                s.append(", ETA ").append(clock(seconds / tokens * Math.max(0, totalTokens - tokens)));
            } else if (done > 0) {
                s.append(", ETA ").append(clock(seconds / done * (total - done)));
            }
            out.println(s);
            out.flush();
        }
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
