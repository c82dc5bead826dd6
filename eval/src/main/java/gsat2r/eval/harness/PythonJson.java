package gsat2r.eval.harness;

import gsat2r.datasets.Row;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps(value, indent=2, ensure_ascii=False)}, so that the per-document {@code doc_hash} of a
 * samples log is the SHA-256 the harness computes for the same document.
 */
final class PythonJson {
    private PythonJson() {}

    static String dumps(Object v) {
        StringBuilder s = new StringBuilder();
        write(s, v, 0);
        return s.toString();
    }

    private static void write(StringBuilder s, Object v, int depth) {
        switch (v) {
            case null -> s.append("null");
            case String str -> string(s, str);
            case Boolean b -> s.append(b ? "true" : "false");
            case Long l -> s.append(l);
            case Integer i -> s.append(i);
            case Double d -> s.append(floatRepr(d));
            case Row r -> map(s, r.fields(), depth);
            case Map<?, ?> m -> map(s, m, depth);
            case List<?> l -> list(s, l, depth);
            case Object[] a -> list(s, List.of(a), depth);
            default -> string(s, v.toString());
        }
    }

    private static void map(StringBuilder s, Map<?, ?> m, int depth) {
        if (m.isEmpty()) {
            s.append("{}");
            return;
        }
        s.append("{\n");
        int i = 0;
        for (Map.Entry<?, ?> e : m.entrySet()) {
            s.append("  ".repeat(depth + 1));
            string(s, String.valueOf(e.getKey()));
            s.append(": ");
            write(s, e.getValue(), depth + 1);
            s.append(++i < m.size() ? ",\n" : "\n");
        }
        s.append("  ".repeat(depth)).append('}');
    }

    private static void list(StringBuilder s, List<?> l, int depth) {
        if (l.isEmpty()) {
            s.append("[]");
            return;
        }
        s.append("[\n");
        for (int i = 0; i < l.size(); i++) {
            s.append("  ".repeat(depth + 1));
            write(s, l.get(i), depth + 1);
            s.append(i + 1 < l.size() ? ",\n" : "\n");
        }
        s.append("  ".repeat(depth)).append(']');
    }

    private static void string(StringBuilder s, String str) {
        s.append('"');
        for (int i = 0; i < str.length(); i++) {
            char c = str.charAt(i);
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                case '\b' -> s.append("\\b");
                case '\f' -> s.append("\\f");
                default -> {
                    if (c < 0x20) s.append(String.format("\\u%04x", (int) c));
                    else s.append(c);
                }
            }
        }
        s.append('"');
    }

    /** Python's {@code repr(float)}: the shortest digits that read back, exponent form below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        BigDecimal b = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        int exponent = b.precision() - b.scale() - 1;                 // of the first significant digit
        if (exponent < -4 || exponent >= 16) {
            String digits = b.unscaledValue().abs().toString();
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return (d < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
        }
        String plain = b.toPlainString();
        return plain.contains(".") ? plain : plain + ".0";
    }
}
