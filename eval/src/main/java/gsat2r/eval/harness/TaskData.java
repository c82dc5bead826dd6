package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import gsat2r.datasets.Row;
import gsat2r.datasets.RowFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds a dataset's published files under {@code --task-data DIR}, laid out as the Hugging Face hub holds
 * them (what {@code huggingface-cli download REPO --repo-type dataset --local-dir DIR/REPO} leaves):
 * {@code DIR/<owner>/<name>} (or {@code DIR/<name>}), then the configuration's folder when there is one
 * ({@code ARC-Easy/}, {@code anatomy/}; else {@code data/}, else the dataset folder itself), and in it the
 * split's files: Parquet or JSON lines whose name has the split as a word ({@code test-00000-of-00001.parquet},
 * {@code validation.jsonl}, {@code lambada_test.jsonl}), read in name order.
 */
public final class TaskData {
    private final Path root;

    public TaskData(Path root) {
        this.root = root;
    }

    public Path root() {
        return root;
    }

    /** The rows of a dataset's split. */
    public List<Row> rows(String datasetPath, String config, String split) {
        List<Row> rows = new ArrayList<>();
        for (Path f : files(datasetPath, config, split)) rows.addAll(RowFiles.read(f));
        if (rows.isEmpty()) throw new T2rException(files(datasetPath, config, split).getFirst() + ": no rows");
        return rows;
    }

    public List<Path> files(String datasetPath, String config, String split) {
        Path dataset = datasetDir(datasetPath);
        Path dir = config != null && Files.isDirectory(dataset.resolve(config)) ? dataset.resolve(config)
                : Files.isDirectory(dataset.resolve("data")) ? dataset.resolve("data") : dataset;
        if (config != null && !config.equals("default") && !dir.equals(dataset.resolve(config))) {
            throw new T2rException(dataset.resolve(config) + ": no such directory (the " + config + " configuration of " + datasetPath + ")");
        }
        Pattern word = Pattern.compile("(^|[-_.])" + Pattern.quote(split) + "([-_.]|$)");
        List<Path> found;
        try (Stream<Path> s = Files.walk(dir, dir.equals(dataset) ? 1 : 3)) {
            found = s.filter(Files::isRegularFile).filter(RowFiles::isDatasetFile)
                    .filter(p -> word.matcher(p.getFileName().toString()).find()).sorted().toList();
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
        if (found.isEmpty()) {
            throw new T2rException(dir + ": no " + split + " file of " + datasetPath
                    + " (expected e.g. " + split + "-00000-of-00001.parquet or " + split + ".jsonl)");
        }
        return found;
    }

    private Path datasetDir(String datasetPath) {
        Path full = root.resolve(datasetPath), bare = root.resolve(datasetPath.substring(datasetPath.indexOf('/') + 1));
        if (Files.isDirectory(full)) return full;
        if (Files.isDirectory(bare)) return bare;
        throw new T2rException(full + ": no such directory (put the files of the dataset " + datasetPath + " there)");
    }
}
