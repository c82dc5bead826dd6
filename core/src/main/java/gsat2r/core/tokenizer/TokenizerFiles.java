package gsat2r.core.tokenizer;

import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The files of a Hugging Face model directory that describe its tokenizer, chat format and generation
 * defaults. A student is used exactly as its teacher (the same tokens, the same chat template, the same
 * sampling defaults), so conversion and training carry every one of them into their output.
 */
public final class TokenizerFiles {
    private TokenizerFiles() {}

    /** The files, copied when present: what transformers' tokenizers and GenerationConfig save. */
    public static final List<String> FILES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json",
            "generation_config.json");

    /** transformers (4.51 and later) saves named extra chat templates as {@code NAME.jinja} files in this directory. */
    public static final String EXTRA_TEMPLATES = "additional_chat_templates";

    /**
     * Copies into {@code to} each of {@link #FILES} (and {@link #EXTRA_TEMPLATES}) not already there, taking
     * it from the first of {@code from} that has it.
     */
    public static void copy(Path to, Path... from) {
        for (String name : FILES) {
            for (Path dir : from) {
                if (copyFile(dir.resolve(name), to.resolve(name))) break;
            }
        }
        for (Path dir : from) {
            Path templates = dir.resolve(EXTRA_TEMPLATES);
            if (!Files.isDirectory(templates)) continue;
            try (Stream<Path> list = Files.list(templates)) {
                for (Path f : list.filter(p -> p.getFileName().toString().endsWith(".jinja")).sorted().toList()) {
                    Files.createDirectories(to.resolve(EXTRA_TEMPLATES));
                    copyFile(f, to.resolve(EXTRA_TEMPLATES).resolve(f.getFileName().toString()));
                }
            } catch (IOException e) {
                throw new T2rException(templates + ": cannot copy (" + e.getMessage() + ")", e);
            }
        }
    }

    /** Copies {@code src} when it is a file and {@code dst} does not exist yet; whether {@code dst} is there now. */
    private static boolean copyFile(Path src, Path dst) {
        if (Files.exists(dst)) return true;
        if (!Files.isRegularFile(src)) return false;
        try {
            Files.copy(src, dst);
            return true;
        } catch (IOException e) {
            throw new T2rException(src + ": cannot copy to " + dst.getParent() + " (" + e.getMessage() + ")", e);
        }
    }
}
