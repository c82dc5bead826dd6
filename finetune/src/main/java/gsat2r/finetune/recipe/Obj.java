package gsat2r.finetune.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.finetune.recipe.RecipeReader.Problems;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.DoublePredicate;

/** A JSON object being read: records which fields were used, so that the rest can be reported as unknown. */
final class Obj {
    final ObjectNode node;
    final String path;
    final Problems problems;
    final Set<String> known = new LinkedHashSet<>();

    Obj(ObjectNode node, String path, Problems problems) {
        this.node = node;
        this.path = path;
        this.problems = problems;
    }

    String at(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    JsonNode get(String key) {
        known.add(key);
        JsonNode n = node.get(key);
        return n == null || n.isNull() ? null : n;
    }

    boolean has(String key) {
        known.add(key);
        return get(key) != null;
    }

    void problem(String key, String message) {
        problems.add(at(key), message);
    }

    String string(String key, String dflt, boolean required) {
        JsonNode n = get(key);
        if (n == null) {
            if (required) problem(key, "required");
            return dflt;
        }
        if (!n.isTextual() || n.textValue().isBlank()) {
            problem(key, "must be a non-empty string");
            return dflt;
        }
        return n.textValue();
    }

    String choice(String key, List<String> choices, String dflt, boolean required) {
        String s = string(key, dflt, required);
        if (s != null && !choices.contains(s) && get(key) != null) {
            problem(key, "must be one of " + String.join(", ", choices) + " (got \"" + s + "\")");
            return dflt;
        }
        return s;
    }

    Long integer(String key, long min, Long dflt, boolean required) {
        JsonNode n = get(key);
        if (n == null) {
            if (required) problem(key, "required");
            return dflt;
        }
        if (!n.isNumber() || !isIntegral(n)) {
            problem(key, "must be an integer" + (min > Long.MIN_VALUE ? " >= " + min : ""));
            return dflt;
        }
        long v = n.asLong();
        if (v < min) {
            problem(key, "must be >= " + min + " (got " + v + ")");
            return dflt;
        }
        return v;
    }

    /** As {@link #integer}, for a field that holds an int: refused above {@link Integer#MAX_VALUE} instead of wrapping. */
    Integer intValue(String key, int min, Integer dflt, boolean required) {
        Long v = integer(key, min, dflt == null ? null : (long) dflt, required);
        if (v != null && v > Integer.MAX_VALUE) {
            problem(key, "must be at most " + Integer.MAX_VALUE + " (got " + v + ")");
            return dflt;
        }
        return v == null ? null : (int) (long) v;
    }

    Double number(String key, DoublePredicate valid, String rule, Double dflt, boolean required) {
        JsonNode n = get(key);
        if (n == null) {
            if (required) problem(key, "required");
            return dflt;
        }
        if (!n.isNumber()) {
            problem(key, "must be a number " + rule);
            return dflt;
        }
        double v = n.asDouble();
        if (!Double.isFinite(v) || !valid.test(v)) {
            problem(key, "must be " + rule + " (got " + n.asText() + ")");
            return dflt;
        }
        return v;
    }

    Boolean bool(String key, boolean dflt) {
        JsonNode n = get(key);
        if (n == null) return dflt;
        if (!n.isBoolean()) {
            problem(key, "must be true or false");
            return dflt;
        }
        return n.booleanValue();
    }

    Obj object(String key, boolean required) {
        JsonNode n = get(key);
        if (n == null) {
            if (required) problem(key, "required");
            return null;
        }
        if (!n.isObject()) {
            problem(key, "must be an object");
            return null;
        }
        return new Obj((ObjectNode) n, at(key), problems);
    }

    /** A string or an array of strings. */
    List<String> strings(String key, boolean required) {
        JsonNode n = get(key);
        if (n == null) {
            if (required) problem(key, "required");
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (n.isTextual()) {
            out.add(n.textValue());
        } else if (n.isArray() && !n.isEmpty()) {
            for (int i = 0; i < n.size(); i++) {
                if (!n.get(i).isTextual() || n.get(i).textValue().isBlank()) {
                    problems.add(at(key) + "[" + i + "]", "must be a non-empty string");
                } else {
                    out.add(n.get(i).textValue());
                }
            }
        } else {
            problem(key, "must be a file name or a non-empty array of file names");
        }
        return out;
    }

    /** Reports the fields nobody asked for. */
    void finish() {
        var names = node.fieldNames();
        while (names.hasNext()) {
            String name = names.next();
            if (known.contains(name) || name.equals("$schema") || name.equals("$comment")) continue;
            String hint = closest(name, known);
            problem(name, "unknown field" + (hint == null ? "" : " (did you mean " + hint + "?)"));
        }
    }

    private static boolean isIntegral(JsonNode n) {
        if (n.isIntegralNumber()) return n.canConvertToLong();
        double d = n.asDouble();
        return Double.isFinite(d) && d == Math.rint(d) && Math.abs(d) < 0x1p63;
    }

    /** The known field within edit distance 2 of {@code name}, if one. */
    static String closest(String name, Set<String> known) {
        String best = null;
        int bestDistance = 3;
        for (String k : known) {
            int d = distance(name, k);
            if (d < bestDistance) {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
