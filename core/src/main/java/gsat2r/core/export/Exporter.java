package gsat2r.core.export;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * An export format that lives in a module of its own (e.g. {@code export-samediff}, whose ND4J jars must
 * not reach core or {@code t2r.jar}), found at run time with {@link java.util.ServiceLoader}:
 * {@code t2r export --format NAME} picks the provider whose {@link #format()} is NAME. A provider's
 * constructor must be cheap and touch no heavy library; the work happens in {@link #export}.
 */
public interface Exporter {

    /** The {@code --format} name, e.g. {@code "samediff"}. */
    String format();

    /**
     * What to export.
     *
     * @param modelDir   the model directory (a GSA student in fla's layout)
     * @param out        the file to write (atomically)
     * @param maxContext the positions a full-attention layer of a hybrid student can hold (its KV cache
     *                   becomes a fixed-size state); 0 means the model's {@code max_position_embeddings}
     * @param force      replace {@code out} if it exists
     */
    record Request(Path modelDir, Path out, int maxContext, boolean force) {}

    /** Writes the export; progress notes go to {@code notes}; returns a short summary for the user. */
    String export(Request request, Consumer<String> notes);
}
