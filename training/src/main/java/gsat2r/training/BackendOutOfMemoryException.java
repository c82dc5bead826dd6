package gsat2r.training;

import gsat2r.core.T2rException;

/**
 * How a backend reports that the device ran out of memory: what it was allocating, how much, and the
 * device's free and total memory at that moment (−1 where unknown). The trainer adds the stage, step,
 * micro-batch and sequence length and says what to change.
 */
public class BackendOutOfMemoryException extends T2rException {

    private final String device;
    private final String what;
    private final long requestedBytes;
    private final long freeBytes;
    private final long totalBytes;

    public BackendOutOfMemoryException(String device, String what, long requestedBytes, long freeBytes, long totalBytes,
                                       Throwable cause) {
        super(device + ": out of memory allocating " + gib(requestedBytes) + " for " + what
                + " (free " + gib(freeBytes) + " of " + gib(totalBytes) + ")", cause);
        this.device = device;
        this.what = what;
        this.requestedBytes = requestedBytes;
        this.freeBytes = freeBytes;
        this.totalBytes = totalBytes;
    }

    public String device() {
        return device;
    }

    public String what() {
        return what;
    }

    public long requestedBytes() {
        return requestedBytes;
    }

    public long freeBytes() {
        return freeBytes;
    }

    public long totalBytes() {
        return totalBytes;
    }

    /** e.g. {@code "1.50 GiB"}, or {@code "?"} for an unknown size. */
    public static String gib(long bytes) {
        if (bytes < 0) return "?";
        if (bytes < (1L << 20)) return bytes + " B";
        if (bytes < (1L << 30)) return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        return String.format(java.util.Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
