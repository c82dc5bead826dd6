package gsat2r.core.generate;

import java.util.List;

/**
 * Applies stop strings to a text as it streams: text is released only once no stop string can still begin in it, and
 * the first stop string found ends the text just before it (the stop text itself is never returned, as OpenAI
 * specifies). No stop strings: every piece passes at once.
 */
public final class StopText {
    private final List<String> stops;
    private final int longest;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    public StopText(List<String> stops) {
        this.stops = List.copyOf(stops);
        this.longest = stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /** Feeds new text; returns what can be sent now (possibly empty). After a stop matched, {@link #stopped()} is true. */
    public String push(String text) {
        if (stopped) return "";
        if (stops.isEmpty()) return text;
        held.append(text);
        int at = firstStop();
        if (at >= 0) {
            stopped = true;
            String out = held.substring(0, at);
            held.setLength(0);
            return out;
        }
        int keep = Math.min(held.length(), Math.max(0, longest - 1));
        while (keep > 0 && !isPrefixOfAStop(held.length() - keep)) keep--;
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /**
     * The end of the text: {@code last} (what the decoder itself still held back) fed, then all that is held here
     * released; {@link #stopped()} then says whether a stop string completed, in {@code last} or before.
     */
    public String end(String last) {
        String out = push(last);
        return out + finish();
    }

    /** The text still held back (the generation ended without a stop string completing). */
    public String finish() {
        if (stopped) return "";
        String out = held.toString();
        held.setLength(0);
        return out;
    }

    public boolean stopped() {
        return stopped;
    }

    private int firstStop() {
        int best = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    /** Whether the held text from {@code from} on is the beginning of some stop string. */
    private boolean isPrefixOfAStop(int from) {
        String tail = held.substring(from);
        for (String s : stops) {
            if (s.length() > tail.length() && s.startsWith(tail)) return true;
        }
        return false;
    }
}
