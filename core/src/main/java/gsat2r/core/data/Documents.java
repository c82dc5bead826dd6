package gsat2r.core.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Reads the documents of an input file, in file order, by its name:
 * <ul>
 * <li>{@code .jsonl}, {@code .jsonl.xz}: one JSON object a line; the document is the string field
 *     {@code textField} (blank lines are skipped; a line without that string field is an error that
 *     names the file and line);</li>
 * <li>{@code .txt}, {@code .txt.xz}: the whole file is one document.</li>
 * </ul>
 * Text must be UTF-8; malformed bytes are an error rather than silently replaced characters.
 */
public final class Documents {
    private Documents() {}

    private static final JsonMapper JSON = JsonMapper.builder().build();

    public enum Format { JSONL, TEXT }

    /** The format of an input file by its name, or a one-line error. */
    public static Format formatOf(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".xz")) name = name.substring(0, name.length() - 3);
        if (name.endsWith(".jsonl")) return Format.JSONL;
        if (name.endsWith(".txt")) return Format.TEXT;
        throw new T2rException(file + ": unknown input format (expected .jsonl, .jsonl.xz, .txt or .txt.xz)");
    }

    /** One document: its text and where it came from (for error messages). */
    public record Document(String text, Path file, long line) {}

    /** Calls {@code sink} with every document of {@code file}, in order. */
    public static void read(Path file, String textField, Consumer<Document> sink) {
        Format format = formatOf(file);
        try (InputStream raw = open(file); BufferedReader in = reader(raw)) {
            if (format == Format.TEXT) {
                StringBuilder sb = new StringBuilder();
                char[] buf = new char[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) sb.append(buf, 0, n);
                sink.accept(new Document(sb.toString(), file, 1));
                return;
            }
            long lineNo = 0;
            for (String line; (line = in.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                sink.accept(new Document(field(file, lineNo, line, textField), file, lineNo));
            }
        } catch (CharacterCodingException e) {
            throw new T2rException(file + ": not valid UTF-8 text", e);
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static String field(Path file, long lineNo, String line, String textField) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new T2rException(file + ":" + lineNo + ": not a JSON object (" + e.getOriginalMessage() + ")", e);
        }
        if (node == null || !node.isObject()) throw new T2rException(file + ":" + lineNo + ": not a JSON object");
        JsonNode text = node.get(textField);
        if (text == null) throw new T2rException(file + ":" + lineNo + ": no field \"" + textField + "\" (set --text-field)");
        if (!text.isTextual()) throw new T2rException(file + ":" + lineNo + ": field \"" + textField + "\" is not a string");
        return text.textValue();
    }

    private static InputStream open(Path file) throws IOException {
        InputStream in = Files.newInputStream(file);
        if (!file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".xz")) return in;
        try {
            return new XZInputStream(new BufferedInputStream(in, 1 << 16));
        } catch (IOException e) {
            in.close();
            throw new IOException("not an xz file: " + e.getMessage(), e);
        }
    }

    private static BufferedReader reader(InputStream in) {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        return new BufferedReader(new InputStreamReader(in, decoder), 1 << 16);
    }
}
