package gsat2r.core.data;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A columnar file format whose rows are documents (Parquet, in the {@code datasets} module), found by
 * {@link java.util.ServiceLoader} so that core needs no reader of it: {@link TextInputs} reads a file whose
 * name ends in {@link #suffix} through it. The document of a row is its string column {@code textField}.
 */
public interface TableFormat {

    /** The file-name ending this format reads, lower case, e.g. {@code .parquet}. */
    String suffix();

    /**
     * Calls {@code sink} with the document of every row of {@code file}, in order ({@link TextInputs.Document#line}
     * is the row's number from 1); a row without the string column {@code textField}, or an unreadable file, is
     * a one-line {@link gsat2r.core.T2rException} that names the file (and the row).
     */
    void read(Path file, String textField, Consumer<TextInputs.Document> sink);
}
