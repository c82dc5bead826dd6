package gsat2r.core.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class TokenizerFilesTest {

    @TempDir
    Path tmp;

    @Test
    void copiesEveryTokenizerFileFromTheFirstDirectoryThatHasIt() throws IOException {
        Path student = Files.createDirectories(tmp.resolve("student")), teacher = Files.createDirectories(tmp.resolve("teacher"));
        Path out = Files.createDirectories(tmp.resolve("out"));
        for (String f : TokenizerFiles.FILES) Files.writeString(teacher.resolve(f), "teacher " + f);
        Files.writeString(teacher.resolve("model.safetensors"), "not a tokenizer file");
        Files.writeString(student.resolve("tokenizer.json"), "student tokenizer.json");
        Files.createDirectories(teacher.resolve(TokenizerFiles.EXTRA_TEMPLATES));
        Files.writeString(teacher.resolve(TokenizerFiles.EXTRA_TEMPLATES).resolve("tool_use.jinja"), "{{ tools }}");
        Files.writeString(teacher.resolve(TokenizerFiles.EXTRA_TEMPLATES).resolve("notes.txt"), "not a template");
        Files.writeString(out.resolve("generation_config.json"), "already there");

        TokenizerFiles.copy(out, student, teacher);

        assertEquals("student tokenizer.json", Files.readString(out.resolve("tokenizer.json")), "the first directory wins");
        assertEquals("already there", Files.readString(out.resolve("generation_config.json")), "never overwritten");
        for (String f : TokenizerFiles.FILES) {
            if (!f.equals("tokenizer.json") && !f.equals("generation_config.json")) {
                assertEquals("teacher " + f, Files.readString(out.resolve(f)), f);
            }
        }
        assertEquals("{{ tools }}", Files.readString(out.resolve(TokenizerFiles.EXTRA_TEMPLATES).resolve("tool_use.jinja")));
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        assertFalse(Files.exists(out.resolve(TokenizerFiles.EXTRA_TEMPLATES).resolve("notes.txt")));
    }

    @Test
    void missingFilesAreSkipped() throws IOException {
        Path teacher = Files.createDirectories(tmp.resolve("t")), out = Files.createDirectories(tmp.resolve("o"));
        Files.writeString(teacher.resolve("tokenizer.json"), "{}");
        TokenizerFiles.copy(out, teacher, tmp.resolve("missing"));
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of("tokenizer.json"), s.map(p -> p.getFileName().toString()).toList());
        }
    }
}
