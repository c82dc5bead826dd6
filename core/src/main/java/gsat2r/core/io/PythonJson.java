package gsat2r.core.io;

import com.fasterxml.jackson.databind.JsonNode;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * JSON text exactly as Python's {@code json.dumps(obj, indent=2, sort_keys=True)} writes it, which is
 * how transformers writes {@code config.json} and {@code model.safetensors.index.json}: two-space
 * indents, {@code ", "}-free line ends, {@code ": "} after keys, keys sorted by code point, only
 * printable ASCII left unescaped, floats in Python's {@code repr} ({@code 1e-05}, {@code 500000.0}).
 * Files we write then diff cleanly against the ones Python writes.
 */
public final class PythonJson {
    private PythonJson() {}

    /** The text of {@code json.dumps(node, indent=2, sort_keys=True)} (no final newline, as Python). */
    public static String dumps(JsonNode node) {
        StringBuilder b = new StringBuilder();
        write(node, b, 0);
        return b.toString();
    }

    private static void write(JsonNode n, StringBuilder b, int depth) {
        switch (n.getNodeType()) {
            case OBJECT -> {
                if (n.isEmpty()) {
                    b.append("{}");
                    return;
                }
                List<Map.Entry<String, JsonNode>> entries = new ArrayList<>(n.properties());
                entries.sort((x, y) -> compareCodePoints(x.getKey(), y.getKey()));
                b.append("{\n");
                for (int i = 0; i < entries.size(); i++) {
                    indent(b, depth + 1);
                    b.append(string(entries.get(i).getKey())).append(": ");
                    write(entries.get(i).getValue(), b, depth + 1);
                    b.append(i + 1 < entries.size() ? ",\n" : "\n");
                }
                indent(b, depth);
                b.append('}');
            }
            case ARRAY -> {
                if (n.isEmpty()) {
                    b.append("[]");
                    return;
                }
                b.append("[\n");
                for (int i = 0; i < n.size(); i++) {
                    indent(b, depth + 1);
                    write(n.get(i), b, depth + 1);
                    b.append(i + 1 < n.size() ? ",\n" : "\n");
                }
                indent(b, depth);
                b.append(']');
            }
            case STRING -> b.append(string(n.asText()));
            case BOOLEAN -> b.append(n.asBoolean() ? "true" : "false");
            case NULL, MISSING -> b.append("null");
            case NUMBER -> {
                if (n.isIntegralNumber()) b.append(n.bigIntegerValue());
                else b.append(floatRepr(n.doubleValue()));
            }
            default -> throw new IllegalArgumentException("cannot write JSON node of type " + n.getNodeType());
        }
    }

    private static void indent(StringBuilder b, int depth) {
        b.repeat(' ', 2 * depth);
    }

    /** Python sorts str keys by code point; Java's String order is by UTF-16 unit. */
    public static int compareCodePoints(String a, String b) {
        return Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
    }

    /** A JSON string as json.dumps writes it with ensure_ascii=True. */
    public static String string(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    /**
     * Python's {@code repr(float)}: the shortest digits that read back to the same double (Java's
     * {@link Double#toString} finds the same ones, except that it never writes fewer than two),
     * in positional notation when the decimal exponent is in [-4, 16), else {@code d.ddde±XX}.
     */
    public static String floatRepr(double x) {
        if (Double.isNaN(x)) return "NaN";
        if (Double.isInfinite(x)) return x > 0 ? "Infinity" : "-Infinity";
        if (x == 0) return (Double.doubleToRawLongBits(x) < 0) ? "-0.0" : "0.0";
        BigDecimal d = new BigDecimal(Double.toString(Math.abs(x))).stripTrailingZeros();
        // Java writes at least two significant digits (4.9E-324) where one may do (5e-324).
        if (d.precision() == 2) {
            BigDecimal one = d.round(new MathContext(1, RoundingMode.HALF_EVEN));
            if (one.doubleValue() == Math.abs(x)) d = one.stripTrailingZeros();
        }
        String digits = d.unscaledValue().toString();
        int decpt = digits.length() - d.scale();        // x = 0.digits × 10^decpt
        StringBuilder b = new StringBuilder();
        if (x < 0) b.append('-');
        if (-4 < decpt && decpt <= 16) {
            if (decpt <= 0) {
                b.append("0.").repeat('0', -decpt).append(digits);
            } else if (decpt >= digits.length()) {
                b.append(digits).repeat('0', decpt - digits.length()).append(".0");
            } else {
                b.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
            }
        } else {
            b.append(digits.charAt(0));
            if (digits.length() > 1) b.append('.').append(digits, 1, digits.length());
            int exp = decpt - 1;
            b.append('e').append(exp < 0 ? '-' : '+');
            String e = Integer.toString(Math.abs(exp));
            if (e.length() < 2) b.append('0');
            b.append(e);
        }
        return b.toString();
    }
}
