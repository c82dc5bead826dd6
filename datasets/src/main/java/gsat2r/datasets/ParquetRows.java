package gsat2r.datasets;

import dev.hardwood.InputFile;
import dev.hardwood.reader.ParquetFileReader;
import dev.hardwood.reader.RowReader;
import dev.hardwood.row.PqList;
import dev.hardwood.row.PqMap;
import dev.hardwood.row.PqStruct;
import dev.hardwood.row.StructAccessor;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Rows of a Parquet file, read by Hardwood (a Parquet reader without Hadoop): every column, nested lists and
 * structs included, as a {@link Row} per record. Reads what pyarrow and Hugging Face {@code datasets} write
 * (dictionary and plain encodings, data pages v1 and v2, Snappy or gzip compression, content-defined
 * chunking). Other codecs (ZSTD, LZ4, Brotli) need their library on the class path; without it the error
 * names the codec.
 */
public final class ParquetRows {
    private ParquetRows() {}

    /** Hardwood notes its SIMD support and thread pools at INFO on stderr; a command line wants only its own lines. */
    private static final java.util.logging.Logger HARDWOOD_LOG = java.util.logging.Logger.getLogger("dev.hardwood");

    static {
        HARDWOOD_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    public static List<Row> read(Path file) {
        List<Row> rows = new ArrayList<>();
        forEach(file, rows::add);
        return rows;
    }

    public static void forEach(Path file, Consumer<Row> sink) {
        long index = 0;
        try (ParquetFileReader reader = ParquetFileReader.open(InputFile.of(file));
             RowReader rows = reader.rowReader()) {
            while (rows.hasNext()) {
                rows.next();
                String where = file + ": row " + index;
                sink.accept(new Row(where, fields(where, rows)));
                index++;
            }
        } catch (T2rException e) {
            throw e;
        } catch (IOException | RuntimeException | LinkageError e) {
            throw new T2rException(file + ": cannot read it as Parquet" + (index > 0 ? " (at row " + index + ")" : "")
                    + ": " + oneLine(e), e);
        }
    }

    private static Map<String, Object> fields(String where, StructAccessor s) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < s.getFieldCount(); i++) {
            String name = s.getFieldName(i);
            out.put(name, s.isNull(i) ? null : value(where + ", field " + name, s.getValue(i)));
        }
        return out;
    }

    /** Hardwood's values as {@link Row}'s: integers as Long, floats as Double, lists, structs as rows. */
    private static Object value(String where, Object v) {
        return switch (v) {
            case null -> null;
            case Integer i -> (long) i;
            case Short s -> (long) s;
            case Byte b -> (long) b;
            case Float f -> (double) f;
            case Long l -> l;
            case Double d -> d;
            case String s -> s;
            case Boolean b -> b;
            case byte[] b -> b;
            case PqStruct s -> new Row(where, fields(where, s));
            case PqList l -> list(where, l);
            case PqMap m -> map(where, m);
            default -> v.toString();                        // dates, times, decimals, UUIDs: their text
        };
    }

    private static List<Object> list(String where, PqList l) {
        List<Object> out = new ArrayList<>(l.size());
        for (int i = 0; i < l.size(); i++) out.add(l.isNull(i) ? null : value(where, l.get(i)));
        return Collections.unmodifiableList(out);
    }

    private static Row map(String where, PqMap m) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (PqMap.Entry e : m.getEntries()) out.put(String.valueOf(value(where, e.getKey())), value(where, e.getValue()));
        return new Row(where, out);
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().map(String::strip).filter(s -> !s.isEmpty()).findFirst().orElse(m);
    }
}
