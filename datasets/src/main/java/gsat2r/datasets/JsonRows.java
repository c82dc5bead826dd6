package gsat2r.datasets;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.T2rException;
import gsat2r.core.io.Json;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PushbackReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;

/**
 * JSON rows: one JSON object a line (what {@code datasets} writes with {@code to_json}, and the {@code .jsonl}
 * files many datasets ship), or a file that is one JSON array of objects. Blank lines are skipped. Numbers
 * without a fraction or exponent are integers ({@link Long}), others {@link Double}; objects become nested
 * {@link Row}s.
 */
public final class JsonRows {
    private JsonRows() {}

    private static final ObjectMapper JSON = Json.COMPACT;

    public static List<Row> read(Path file) {
        List<Row> rows = new ArrayList<>();
        forEach(file, rows::add);
        return rows;
    }

    public static void forEach(Path file, Consumer<Row> sink) {
        try (InputStream raw = Files.newInputStream(file);
             InputStream in = file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw;
             PushbackReader reader = new PushbackReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            int first = firstNonBlank(reader);
            if (first == '[') readArray(file, reader, sink);
            else readLines(file, new BufferedReader(reader), sink);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new T2rException(file + ": not UTF-8 text", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static int firstNonBlank(PushbackReader reader) throws IOException {
        int c;
        do {
            c = reader.read();
        } while (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\uFEFF');
        if (c >= 0) reader.unread(c);
        return c;
    }

    private static void readLines(Path file, BufferedReader in, Consumer<Row> sink) throws IOException {
        int lineNo = 0;
        for (String line; (line = in.readLine()) != null; ) {
            lineNo++;
            if (line.isBlank()) continue;
            String where = file + ":" + lineNo;
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JacksonException e) {
                throw new T2rException(where + ": not valid JSON (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
            }
            sink.accept(row(where, node));
        }
    }

    private static void readArray(Path file, PushbackReader in, Consumer<Row> sink) throws IOException {
        try (JsonParser p = JSON.createParser(in)) {
            p.nextToken();                                        // [
            int index = 0;
            while (p.nextToken() == JsonToken.START_OBJECT) {
                sink.accept(row(file + ": item " + index++, JSON.readTree(p)));
            }
            if (p.currentToken() != JsonToken.END_ARRAY) {
                throw new T2rException(file + ": item " + index + ": expected a JSON object");
            }
        } catch (JacksonException e) {
            throw new T2rException(file + ": not valid JSON (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        }
    }

    static Row row(String where, JsonNode node) {
        if (node == null || !node.isObject()) throw new T2rException(where + ": expected a JSON object");
        Map<String, Object> fields = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            fields.put(e.getKey(), value(where, e.getValue()));
        }
        return new Row(where, fields);
    }

    private static Object value(String where, JsonNode v) {
        if (v.isNull()) return null;
        if (v.isTextual()) return v.asText();
        if (v.isBoolean()) return v.asBoolean();
        if (v.isIntegralNumber()) {
            if (!v.canConvertToLong()) throw new T2rException(where + ": integer " + v + " does not fit 64 bits");
            return v.asLong();
        }
        if (v.isNumber()) return v.asDouble();
        if (v.isArray()) {
            List<Object> list = new ArrayList<>(v.size());
            for (JsonNode e : v) list.add(value(where, e));
            return java.util.Collections.unmodifiableList(list);
        }
        return row(where, v);
    }
}
