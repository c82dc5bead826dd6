package gsat2r.core.model;

import gsat2r.core.T2rException;
import gsat2r.core.model.gsa.GsaModel;
import gsat2r.core.safetensors.DType;
import gsat2r.core.testing.Students;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The fingerprint of a directory a model was loaded from: the CPU model's, computed once, refused once the files change. */
class DirectoryFingerprintTest {
    @TempDir
    Path tmp;

    @Test
    void isTheCpuModelsAndIsComputedOnce() {
        Path dir = tmp.resolve("student");
        Students.random(Students.hybridConfig(24), 41).save(dir, DType.BF16, false);
        ModelDirectory md = ModelDirectory.open(dir);
        DirectoryFingerprint f = DirectoryFingerprint.of(md);
        ModelFingerprint first = f.get();
        assertEquals(GsaModel.load(md).fingerprint(), first);
        assertSame(first, f.get());
    }

    @Test
    void weightsChangedOnDiskAfterLoadingAreRefused() throws Exception {
        Path dir = tmp.resolve("student");
        Students.random(Students.gsaConfig(), 42).save(dir, DType.F32, false);
        DirectoryFingerprint f = DirectoryFingerprint.of(ModelDirectory.open(dir));
        // Another run replaces the student (--force): other weights under the same names.
        Path other = tmp.resolve("other");
        Students.random(Students.gsaConfig(), 43).save(other, DType.F32, false);
        Files.copy(other.resolve("model.safetensors"), dir.resolve("model.safetensors"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setLastModifiedTime(dir.resolve("model.safetensors"), FileTime.fromMillis(System.currentTimeMillis() + 5_000));
        T2rException e = assertThrows(T2rException.class, f::get);
        assertEquals(dir + ": its config or weights changed on disk after the model was loaded from it; load the model again"
                + " to save or restore decoding states", e.getMessage());
    }
}
