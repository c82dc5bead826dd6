package gsat2r.eval;

import gsat2r.core.T2rException;
import gsat2r.core.data.TextInputs;

import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The held-out text of {@code --data}: what {@link TextInputs} reads (JSONL with a {@code "text"} string
 * per line, as {@code data/kjv/validation.jsonl}, or text; plain, {@code .gz}, {@code .xz} or {@code .zst};
 * {@code -} for JSONL on standard input), and any other file whole as one UTF-8 document.
 */
public final class Documents {
    private Documents() {}

    static final String FIELD = "text";

    public static List<String> read(Path file) {
        if (!TextInputs.isKnown(file)) return List.of(whole(file));
        TextInputs.check(List.of(file));
        List<String> docs = new ArrayList<>();
        TextInputs.read(file, FIELD, d -> docs.add(d.text()));
        if (docs.isEmpty()) throw new T2rException(file + ": no documents (one JSON object with \"text\" a line)");
        return docs;
    }

    private static String whole(Path file) {
        if (!Files.isRegularFile(file)) throw new T2rException(file + ": no such file");
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (MalformedInputException e) {
            throw new T2rException(file + ": not UTF-8 text", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }
}
