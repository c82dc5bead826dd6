package gsat2r.cli;

import java.io.PrintWriter;

/**
 * Writes the large numeric JSON documents of the CLI straight to the output, without a tree.
 *
 * <p>Floats use {@link Float#toString}: the shortest decimal that reads back to the same fp32 value
 * (in Java, and with numpy's {@code float32(float(s))}). Non-finite values, which JSON cannot express,
 * are written {@code NaN}, {@code Infinity}, {@code -Infinity}, as Python's json module does.
 */
final class JsonWriter {

    private JsonWriter() {}

    /** {@code {"ids": [...], "logits": [[...], ...]}} with the rows {@code from..logits.length-1}. */
    static void logits(PrintWriter out, int[] ids, float[][] logits, int from) {
        StringBuilder sb = new StringBuilder(1 << 16);
        sb.append("{\"ids\": ");
        ints(sb, ids);
        sb.append(", \"logits\": [");
        for (int r = from; r < logits.length; r++) {
            if (r > from) sb.append(", ");
            floats(sb, logits[r]);
            out.append(sb);
            sb.setLength(0);
        }
        sb.append("]}");
        out.append(sb).println();
    }

    static void ints(StringBuilder sb, int[] values) {
        sb.append('[');
        for (int i = 0; i < values.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(values[i]);
        }
        sb.append(']');
    }

    static void floats(StringBuilder sb, float[] values) {
        sb.append('[');
        for (int i = 0; i < values.length; i++) {
            if (i > 0) sb.append(", ");
            float v = values[i];
            if (Float.isNaN(v)) sb.append("NaN");
            else if (Float.isInfinite(v)) sb.append(v > 0 ? "Infinity" : "-Infinity");
            else sb.append(Float.toString(v));
        }
        sb.append(']');
    }
}
