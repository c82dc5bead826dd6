package gsat2r.finetune.recipe;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import gsat2r.core.T2rException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Command-line changes to a recipe ({@code t2r finetune --set PATH=VALUE}), applied to the recipe's JSON
 * tree before it is read, so that the result is checked, resolved, stored in run.json and compared on
 * {@code --resume} exactly as if the file had said it.
 *
 * <p>PATH names a field as error messages do: {@code seq_len}, {@code data.train},
 * {@code stages.1.lr} or {@code stages[1].lr}; missing objects on the way are created, array elements
 * must exist. VALUE is JSON when it parses as JSON ({@code 1e-4}, {@code true}, {@code null},
 * {@code [0, 7]}, {@code "text"}), else the text itself. Path fields (teacher, student, data.*) given
 * this way are relative to the current directory, as command-line paths are, not to the recipe file.
 */
public record RecipeOverrides(List<Change> list) {

    /** One {@code --set}: its text, the field path (names and indices), the new value. */
    public record Change(String text, List<Object> segments, JsonNode value) {
        /** The field as error messages name it: {@code stages[1].lr}. */
        public String path() {
            StringBuilder sb = new StringBuilder();
            for (Object s : segments) {
                if (s instanceof Integer i) sb.append('[').append(i).append(']');
                else sb.append(sb.isEmpty() ? "" : ".").append(s);
            }
            return sb.toString();
        }
    }

    public static final RecipeOverrides NONE = new RecipeOverrides(List.of());

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern KEY = Pattern.compile("[A-Za-z_$][A-Za-z0-9_$-]*");
    private static final Set<String> PATH_FIELDS = Set.of("teacher", "student", "data.prepared", "data.train", "data.validation");

    public RecipeOverrides {
        list = List.copyOf(list);
    }

    /** Parses {@code PATH=VALUE} arguments; a malformed one is a one-line error naming it. */
    public static RecipeOverrides parse(List<String> args) {
        List<Change> out = new ArrayList<>();
        for (String arg : args) out.add(parseOne(arg));
        return new RecipeOverrides(out);
    }

    public boolean isEmpty() {
        return list.isEmpty();
    }

    /** The {@code --set} arguments again, for a child process. */
    public List<String> texts() {
        return list.stream().map(Change::text).toList();
    }

    private static Change parseOne(String arg) {
        int eq = arg.indexOf('=');
        if (eq <= 0) throw new T2rException("--set " + arg + ": expected PATH=VALUE, e.g. stages.1.lr=1e-4");
        String path = arg.substring(0, eq).strip();
        String text = arg.substring(eq + 1);
        List<Object> segments = segments(arg, path);
        JsonNode value = value(text);
        String field = fieldPattern(segments);
        if (PATH_FIELDS.contains(field)) {
            try {
                value = absolute(value);
            } catch (java.nio.file.InvalidPathException e) {
                throw new T2rException("--set " + arg.replace("\0", "\\0") + ": not a valid path (" + e.getReason() + ")", e);
            }
        }
        return new Change(arg, segments, value);
    }

    private static List<Object> segments(String arg, String path) {
        List<Object> out = new ArrayList<>();
        for (String part : path.replace("[", ".").replace("]", "").split("\\.", -1)) {
            if (part.matches("\\d{1,9}")) out.add(Integer.parseInt(part));
            else if (KEY.matcher(part).matches()) out.add(part);
            else throw new T2rException("--set " + arg + ": '" + path + "' is not a field path (e.g. seq_len, data.train, stages.1.lr)");
        }
        if (!(out.getFirst() instanceof String)) throw new T2rException("--set " + arg + ": a path starts with a field name, not an index");
        return out;
    }

    /** JSON when the text parses as JSON (numbers, true, [..], "quoted"), else the text as a string. */
    private static JsonNode value(String text) {
        try {
            JsonNode n = JSON.readTree(text);
            if (n != null && !n.isMissingNode()) return n;
        } catch (JsonProcessingException e) {
            // not JSON: a plain string such as a path or a stage type
        }
        return TextNode.valueOf(text);
    }

    /** e.g. data.train for data.train[0]: which kind of field is set. */
    private static String fieldPattern(List<Object> segments) {
        StringBuilder sb = new StringBuilder();
        for (Object s : segments) {
            if (s instanceof String k) sb.append(sb.isEmpty() ? "" : ".").append(k);
        }
        return sb.toString();
    }

    private static JsonNode absolute(JsonNode value) {
        if (value.isTextual() && value.textValue().equals("-")) return value;       // standard input, refused by the reader
        if (value.isTextual()) return TextNode.valueOf(Path.of(value.textValue()).toAbsolutePath().normalize().toString());
        if (value.isArray()) {
            ArrayNode a = JsonNodeFactory.instance.arrayNode();
            for (JsonNode e : value) a.add(absolute(e));
            return a;
        }
        return value;
    }

    /** The fields changed, as error messages name them. */
    public Set<String> paths() {
        return list.stream().map(Change::path).collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** Applies every change to {@code root} in order; a path that cannot be followed is a one-line error. */
    public void applyTo(ObjectNode root, Path file) {
        for (Change o : list) apply(root, o, file);
    }

    private static void apply(ObjectNode root, Change o, Path file) {
        JsonNode node = root;
        List<Object> seg = o.segments();
        StringBuilder at = new StringBuilder();
        for (int i = 0; i < seg.size(); i++) {
            Object s = seg.get(i);
            boolean last = i == seg.size() - 1;
            if (s instanceof String key) {
                if (!(node instanceof ObjectNode obj)) throw failure(file, o, at + " is " + kind(node) + ", not an object");
                if (last) {
                    obj.set(key, o.value().deepCopy());
                    return;
                }
                JsonNode next = obj.get(key);
                if (next == null || next.isNull()) next = seg.get(i + 1) instanceof Integer ? null : obj.putObject(key);
                if (next == null) throw failure(file, o, (at.isEmpty() ? "" : at + ".") + key + " is not there, so it has no elements");
                at.append(at.isEmpty() ? "" : ".").append(key);
                node = next;
            } else {
                int index = (Integer) s;
                if (!(node instanceof ArrayNode arr)) throw failure(file, o, at + " is " + kind(node) + ", not an array");
                if (index >= arr.size()) {
                    throw failure(file, o, at + " has " + arr.size() + " element" + (arr.size() == 1 ? "" : "s")
                            + (arr.isEmpty() ? "" : " (indices 0 to " + (arr.size() - 1) + ")"));
                }
                if (last) {
                    arr.set(index, o.value().deepCopy());
                    return;
                }
                at.append('[').append(index).append(']');
                node = arr.get(index);
            }
        }
    }

    private static String kind(JsonNode n) {
        if (n.isTextual()) return "a string";
        if (n.isNumber()) return "a number";
        if (n.isBoolean()) return "a boolean";
        if (n.isArray()) return "an array";
        return n.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
    }

    private static T2rException failure(Path file, Change o, String why) {
        return new T2rException("--set " + o.text() + ": " + file + ": " + why);
    }
}
