package gsat2r.datasets;

import gsat2r.core.data.TableFormat;
import gsat2r.core.data.TextInputs;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Parquet files as text inputs ({@code t2r data prepare}, a recipe's raw data, {@code t2r eval --data}): the
 * document of a row is its string column {@code textField}, as in the {@code text} column of the pretraining
 * corpora Hugging Face publishes. Rows are read one at a time through {@link ParquetRows}.
 */
public final class ParquetDocuments implements TableFormat {

    @Override
    public String suffix() {
        return ".parquet";
    }

    @Override
    public void read(Path file, String textField, Consumer<TextInputs.Document> sink) {
        long[] row = {0};
        ParquetRows.forEach(file, r -> sink.accept(new TextInputs.Document(r.string(textField), file, ++row[0])));
    }
}
