package gsat2r.core.data;

import gsat2r.core.io.InputFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.github.luben.zstd.ZstdInputStream;
import gsat2r.core.T2rException;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;

/**
 * The text inputs of {@code t2r data prepare}, a recipe's raw data and {@code t2r eval --data}: the one
 * place that turns a file name into documents.
 * <ul>
 * <li>Format by the name: {@code .jsonl} (one JSON object a line; the document is the string field
 *     {@code textField}; blank lines are skipped; a line without it is an error naming file and line) or
 *     {@code .txt} (the whole file is one document).</li>
 * <li>Compression by a further suffix: {@code .gz}, {@code .xz}, {@code .zst}; concatenated members,
 *     streams and frames are read through, as {@code zcat}, {@code xzcat} and {@code zstdcat} do.</li>
 * <li>{@code -} is standard input, JSONL, its compression told by the first bytes (magic numbers).</li>
 * <li>Columnar files ({@code .parquet}) through a {@link TableFormat} on the class path (the {@code datasets}
 *     module's); the document is the row's string column {@code textField}.</li>
 * </ul>
 * Text must be UTF-8; malformed bytes are an error rather than silently replaced characters.
 *
 * <p>Another line-oriented format is one more {@link Format} constant with its suffix and one more case in
 * {@link #read}; another columnar one, one more {@link TableFormat}.
 */
public final class TextInputs {
    private TextInputs() {}

    /** Standard input, as a path. */
    public static final Path STDIN = Path.of("-");

    private static final JsonMapper JSON = JsonMapper.builder().build();

    public enum Format {
        JSONL(".jsonl"), TEXT(".txt"),
        /** Read by a {@link TableFormat}; its suffix is the format's own. */
        TABLE("");

        final String suffix;

        Format(String suffix) {
            this.suffix = suffix;
        }
    }

    public enum Compression {
        NONE("", "", new byte[0]),
        GZIP(".gz", "gzip", new byte[] {0x1f, (byte) 0x8b}),
        XZ(".xz", "xz", new byte[] {(byte) 0xfd, '7', 'z', 'X', 'Z', 0}),
        ZSTD(".zst", "zstd", new byte[] {0x28, (byte) 0xb5, 0x2f, (byte) 0xfd});

        final String suffix;
        final String label;
        private final byte[] magic;

        Compression(String suffix, String label, byte[] magic) {
            this.suffix = suffix;
            this.label = label;
            this.magic = magic;
        }

        /** The compression whose magic number {@code head} starts with; NONE for anything else. */
        static Compression sniff(byte[] head, int length) {
            for (Compression c : values()) {
                if (c != NONE && length >= c.magic.length && Arrays.equals(head, 0, c.magic.length, c.magic, 0, c.magic.length)) return c;
            }
            return NONE;
        }

        InputStream wrap(InputStream in) throws IOException {
            return switch (this) {
                case NONE -> in;
                case GZIP -> new GZIPInputStream(in, 1 << 16);
                case XZ -> new XZInputStream(in);
                case ZSTD -> new ZstdInputStream(in);
            };
        }
    }

    /** How an input is read; {@code compression} null means: told by the first bytes (standard input). */
    public record Kind(Format format, Compression compression) {}

    /** One document: its text and where it came from (for error messages). */
    public record Document(String text, Path file, long line) {}

    /** Every name this class reads, for messages. */
    public static final String KNOWN = ".jsonl or .txt, plain or with .gz, .xz or .zst, .parquet, or - (JSONL on standard input)";

    /** The columnar formats on the class path, by suffix. */
    private static final List<TableFormat> TABLES = ServiceLoader.load(TableFormat.class, TextInputs.class.getClassLoader())
            .stream().map(ServiceLoader.Provider::get).toList();

    public static boolean isStdin(Path file) {
        return file.toString().equals("-");
    }

    /** The kind of an input by its name, or a one-line error. */
    public static Kind kindOf(Path file) {
        if (isStdin(file)) return new Kind(Format.JSONL, null);
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".parquet") || table(name) != null) {
            if (table(name) == null) throw new T2rException(file + ": reading Parquet needs the gsa-t2r-datasets module on the class path");
            return new Kind(Format.TABLE, Compression.NONE);
        }
        Compression compression = Compression.NONE;
        for (Compression c : Compression.values()) {
            if (c != Compression.NONE && name.endsWith(c.suffix)) {
                compression = c;
                name = name.substring(0, name.length() - c.suffix.length());
            }
        }
        for (Format f : Format.values()) {
            if (f != Format.TABLE && name.endsWith(f.suffix)) return new Kind(f, compression);
        }
        throw new T2rException(file + ": unknown input format (expected " + KNOWN + ")");
    }

    /** Whether {@link #kindOf} knows the name. */
    public static boolean isKnown(Path file) {
        try {
            kindOf(file);
            return true;
        } catch (T2rException e) {
            return false;
        }
    }

    /** Checks a list of inputs before any is read: known names, existing files, standard input at most once. */
    public static void check(List<Path> inputs) {
        long stdin = inputs.stream().filter(TextInputs::isStdin).count();
        if (stdin > 1) throw new T2rException("- (standard input) is given " + stdin + " times; it can be read once");
        for (Path in : inputs) {
            if (!isStdin(in)) InputFiles.requireFile(in, "a text file (give the files in it, e.g. " + in + "/*.jsonl)");
            kindOf(in);
        }
    }

    /** Calls {@code sink} with every document of {@code file} (or standard input for {@code -}), in order. */
    public static void read(Path file, String textField, Consumer<Document> sink) {
        if (isStdin(file)) {
            read(file, nonClosing(System.in), textField, sink);
            return;
        }
        if (kindOf(file).format() == Format.TABLE) {
            if (!Files.isRegularFile(file)) throw new T2rException(file + ": no such file");
            table(file.getFileName().toString().toLowerCase(Locale.ROOT)).read(file, textField, sink);
            return;
        }
        InputStream in;
        try {
            in = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        read(file, in, textField, sink);
    }

    /** Reads {@code raw}, the bytes of {@code file} as stored (compressed or not), and closes it. */
    static void read(Path file, InputStream raw, String textField, Consumer<Document> sink) {
        Kind kind = kindOf(file);
        Compression compression = kind.compression();
        try (InputStream buffered = new BufferedInputStream(raw, 1 << 16)) {
            Compression found = sniff(buffered);
            if (compression == null) compression = found;
            else if (compression != Compression.NONE && found != compression) {
                throw new T2rException(file + ": not " + compression.label + " data (the name ends in " + compression.suffix + ")");
            }
            try (BufferedReader in = reader(compression.wrap(buffered))) {
                switch (kind.format()) {
                    case JSONL -> jsonl(file, in, textField, sink);
                    case TEXT -> text(file, in, sink);
                    case TABLE -> throw new IllegalStateException("a table is read by its TableFormat");
                }
            }
        } catch (CharacterCodingException e) {
            throw new T2rException(file + ": not valid UTF-8 text", e);
        } catch (IOException e) {
            String what = compression == null || compression == Compression.NONE ? "cannot read" : "cannot decompress " + compression.label + " data";
            throw new T2rException(file + ": " + what + " (" + message(e) + ")", e);
        }
    }

    /** The table format for a lower-case file name, or null. */
    private static TableFormat table(String name) {
        for (TableFormat t : TABLES) if (name.endsWith(t.suffix())) return t;
        return null;
    }

    private static void jsonl(Path file, BufferedReader in, String textField, Consumer<Document> sink) throws IOException {
        long lineNo = 0;
        for (String line; (line = in.readLine()) != null; ) {
            lineNo++;
            if (line.isBlank()) continue;
            sink.accept(new Document(field(file, lineNo, line, textField), file, lineNo));
        }
    }

    private static void text(Path file, BufferedReader in, Consumer<Document> sink) throws IOException {
        StringBuilder sb = new StringBuilder();
        char[] buf = new char[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) sb.append(buf, 0, n);
        sink.accept(new Document(sb.toString(), file, 1));
    }

    private static String field(Path file, long lineNo, String line, String textField) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new T2rException(file + ":" + lineNo + ": not a JSON object (a JSON-lines file has one a line)"
                    + gsat2r.core.io.Json.problem(e).replaceFirst("^ \\(line 1, column ", " (column "), e);
        }
        if (node == null || !node.isObject()) throw new T2rException(file + ":" + lineNo + ": not a JSON object");
        JsonNode text = node.get(textField);
        if (text == null) throw new T2rException(file + ":" + lineNo + ": no field \"" + textField + "\"");
        if (!text.isTextual()) throw new T2rException(file + ":" + lineNo + ": field \"" + textField + "\" is not a string");
        return text.textValue();
    }

    /** The compression that the first bytes of {@code in} announce; the stream is left where it was. */
    private static Compression sniff(InputStream in) throws IOException {
        byte[] head = new byte[6];
        in.mark(head.length);
        int n = in.readNBytes(head, 0, head.length);
        in.reset();
        return Compression.sniff(head, n);
    }

    private static BufferedReader reader(InputStream in) {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        return new BufferedReader(new InputStreamReader(in, decoder), 1 << 16);
    }

    private static String message(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
    }

    /** Standard input stays open for the rest of the program (e.g. a second read gets end of file, not an error). */
    private static InputStream nonClosing(InputStream in) {
        return new FilterInputStream(in) {
            @Override
            public void close() {}
        };
    }
}
