package gsat2r.datasets;

import gsat2r.core.T2rException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One record of a dataset file: named fields in the file's order. A value is a {@link String}, a
 * {@link Long} (every integer type, Hugging Face's {@code ClassLabel} included), a {@link Double} (every
 * floating type), a {@link Boolean}, a {@code byte[]}, a {@link List} of values, a nested {@link Row} (a
 * struct or JSON object), or null. The typed getters fail with one line that names the file, the row and
 * the field, so that a reader of a dataset never needs its own error messages for a wrong schema.
 *
 * @param where  the file and row, for messages ({@code /d/validation.parquet: row 3})
 * @param fields the values by field name, in the file's order
 */
public record Row(String where, Map<String, Object> fields) {

    public Row {
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    public Set<String> names() {
        return fields.keySet();
    }

    public boolean has(String name) {
        return fields.containsKey(name);
    }

    /** The value of a field that must be present (it may be null). */
    public Object get(String name) {
        if (!fields.containsKey(name)) {
            throw new T2rException(where + ": no field \"" + name + "\" (fields: " + String.join(", ", fields.keySet()) + ")");
        }
        return fields.get(name);
    }

    public String string(String name) {
        return as(name, String.class, "a string");
    }

    public long integer(String name) {
        return as(name, Long.class, "an integer");
    }

    public double number(String name) {
        Object v = get(name);
        if (v instanceof Long l) return l;
        if (v instanceof Double d) return d;
        throw wrongType(name, "a number", v);
    }

    public Row struct(String name) {
        return as(name, Row.class, "a struct (JSON object)");
    }

    /** A list of strings (no nulls). */
    public List<String> strings(String name) {
        Object v = get(name);
        if (!(v instanceof List<?> list)) throw wrongType(name, "a list of strings", v);
        List<String> out = new ArrayList<>(list.size());
        for (Object o : list) {
            if (!(o instanceof String s)) throw wrongType(name, "a list of strings", v);
            out.add(s);
        }
        return List.copyOf(out);
    }

    private <T> T as(String name, Class<T> type, String what) {
        Object v = get(name);
        if (!type.isInstance(v)) throw wrongType(name, what, v);
        return type.cast(v);
    }

    private T2rException wrongType(String name, String what, Object v) {
        String found = v == null ? "null" : v instanceof List ? "a list" : v instanceof Row ? "a struct"
                : v instanceof String ? "a string" : v instanceof Long ? "an integer" : v instanceof Double ? "a number"
                : v.getClass().getSimpleName();
        return new T2rException(where + ": field \"" + name + "\" must be " + what + ", not " + found);
    }

    /** Rows are equal when their fields are: where they were read from does not count. */
    @Override
    public boolean equals(Object o) {
        return o instanceof Row r && fields.equals(r.fields);
    }

    @Override
    public int hashCode() {
        return fields.hashCode();
    }

    @Override
    public String toString() {
        return fields.toString();
    }
}
