package gsat2r.eval;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import gsat2r.core.T2rException;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The held-out text of {@code --data}: a {@code .jsonl} file of one JSON object a line with a
 * {@code "text"} string (the layout of {@code data/kjv/validation.jsonl}; other fields are ignored), or
 * any other file read whole as one UTF-8 document.
 */
final class Documents {
    private Documents() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    static List<String> read(Path file) {
        if (!Files.isRegularFile(file)) throw new T2rException(file + ": no such file");
        try {
            if (!file.getFileName().toString().endsWith(".jsonl")) return List.of(Files.readString(file, StandardCharsets.UTF_8));
            List<String> docs = new ArrayList<>();
            try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                int lineNo = 0;
                for (String line; (line = in.readLine()) != null; ) {
                    lineNo++;
                    if (line.isBlank()) continue;
                    JsonNode o;
                    try {
                        o = JSON.readTree(line);
                    } catch (JacksonException e) {
                        throw new T2rException(file + ":" + lineNo + ": not valid JSON ("
                                + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
                    }
                    if (o == null || !o.path("text").isTextual()) {
                        throw new T2rException(file + ":" + lineNo + ": expected a JSON object with a \"text\" string");
                    }
                    docs.add(o.get("text").asText());
                }
            }
            if (docs.isEmpty()) throw new T2rException(file + ": no documents (one JSON object with \"text\" a line)");
            return docs;
        } catch (java.nio.charset.MalformedInputException e) {
            throw new T2rException(file + ": not UTF-8 text", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }
}
