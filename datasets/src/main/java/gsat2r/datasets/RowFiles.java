package gsat2r.datasets;

import gsat2r.core.T2rException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Reads the rows of a dataset file in one of the forms Hugging Face datasets are published in, chosen by
 * its name: {@code .parquet} ({@link ParquetRows}), {@code .jsonl} / {@code .json} (JSON lines, or one JSON
 * array of objects; {@link JsonRows}), each optionally {@code .gz}.
 * <pre>{@code
 * for (Row r : RowFiles.read(Path.of("ARC-Easy/test-00000-of-00001.parquet"))) r.string("question");
 * }</pre>
 */
public final class RowFiles {
    private RowFiles() {}

    /** Whether {@link #read} knows this file's form by its name. */
    public static boolean isDatasetFile(Path file) {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".gz")) n = n.substring(0, n.length() - 3);
        return n.endsWith(".parquet") || n.endsWith(".jsonl") || n.endsWith(".json");
    }

    public static List<Row> read(Path file) {
        List<Row> rows = new ArrayList<>();
        forEach(file, rows::add);
        return rows;
    }

    /** Hands the rows to {@code sink} one at a time, in file order, without holding them all. */
    public static void forEach(Path file, Consumer<Row> sink) {
        if (!Files.isRegularFile(file)) throw new T2rException(file + ": no such file");
        if (!isDatasetFile(file)) {
            throw new T2rException(file + ": not a dataset file (expected .parquet, .jsonl or .json, optionally .gz)");
        }
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".parquet")) ParquetRows.forEach(file, sink);
        else if (n.endsWith(".parquet.gz")) throw new T2rException(file + ": a gzipped Parquet file; unpack it first");
        else JsonRows.forEach(file, sink);
    }
}
