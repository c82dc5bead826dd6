package gsat2r.core.model;

import gsat2r.core.T2rException;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.model.llama.LlamaModel;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.TreeMap;

/**
 * The fingerprint of a model loaded from a directory by a model that keeps its weights elsewhere (the GPU models):
 * the CPU model's fingerprint of the same directory ({@link GsaModel#fingerprintOf}, {@link LlamaModel#fingerprintOf}),
 * so decoding states move between the two. Hashing reads every weight, so it is done on first use, once; the files are
 * noted when the model is loaded, and a directory changed on disk since then is refused rather than hashed, since its
 * fingerprint would no longer be the loaded model's.
 */
public final class DirectoryFingerprint {
    private final ModelDirectory dir;
    private final Map<String, String> loaded;
    private ModelFingerprint value;

    private DirectoryFingerprint(ModelDirectory dir) {
        this.dir = dir;
        this.loaded = stamps(dir.path());
    }

    /** Notes {@code dir}'s files as the model is loaded from them. */
    public static DirectoryFingerprint of(ModelDirectory dir) {
        return new DirectoryFingerprint(dir);
    }

    /** The fingerprint, computed on the first call. */
    public synchronized ModelFingerprint get() {
        if (value == null) {
            if (!stamps(dir.path()).equals(loaded)) {
                throw new T2rException(dir.path() + ": its config or weights changed on disk after the model was loaded from it;"
                        + " load the model again to save or restore decoding states");
            }
            value = dir.isStudent() ? GsaModel.fingerprintOf(dir) : LlamaModel.fingerprintOf(dir);
        }
        return value;
    }

    /** Size and modification time of each file the model is read from (config and weights). */
    private static Map<String, String> stamps(Path dir) {
        Map<String, String> out = new TreeMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "{config.json,*.safetensors,*.safetensors.index.json}")) {
            for (Path f : files) {
                BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                out.put(f.getFileName().toString(), a.size() + "@" + a.lastModifiedTime().toMillis() + "#" + a.fileKey());
            }
        } catch (IOException e) {
            throw new T2rException(dir + ": cannot list the model's files (" + gsat2r.core.io.AtomicFiles.oneLine(e) + ")", e);
        }
        return out;
    }
}
