package gsat2r.cli;

import gsat2r.serve.ChatFormat;
import gsat2r.serve.ChatMessage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** t2r serve's model-specific request defaults: the chat template's rendering and refusals, and generation_config.json's sampling. */
class TemplateChatFormatTest {
    @TempDir
    Path tmp;

    /** The model's generation_config.json sampling becomes the defaults of requests, as vLLM serves it. */
    @Test
    void samplingDefaultsComeFromTheModelsGenerationConfig() throws Exception {
        assertEquals(gsat2r.serve.SamplingDefaults.OPENAI, ServeCommand.samplingDefaults(tmp), "no file");
        assertEquals(gsat2r.serve.SamplingDefaults.OPENAI, ServeCommand.samplingDefaults(Path.of("..", "models", "kjv-llama")),
                "a file transformers derived from config.json sets no sampling");
        Files.writeString(tmp.resolve("generation_config.json"), "{\"do_sample\": true, \"temperature\": 0.6, \"top_p\": 0.9}");
        assertEquals(new gsat2r.serve.SamplingDefaults(0.6, 0.9, 0, 1, "generation_config.json"), ServeCommand.samplingDefaults(tmp));
        Files.writeString(tmp.resolve("generation_config.json"), "{\"do_sample\": false, \"temperature\": 0.6, \"top_k\": 20,"
                + " \"repetition_penalty\": 1.1}");
        assertEquals(new gsat2r.serve.SamplingDefaults(0, 1, 20, 1.1, "generation_config.json"), ServeCommand.samplingDefaults(tmp));
    }

    @Test
    void rendersAsTheTemplateAndRefusesWhatItRefuses() throws Exception {
        Files.writeString(tmp.resolve("chat_template.jinja"), ChatTemplateTest.MISTRAL01);
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
        ChatFormat format = new TemplateChatFormat(ChatTemplate.load(tmp));
        ChatFormat.Prompt p = format.render(List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello"),
                new ChatMessage("user", "Who made the light?")));
        assertEquals("<s>[INST] Hi [/INST]Hello</s>[INST] Who made the light? [/INST]", p.text());
        assertFalse(p.addSpecialTokens(), "the template writes BOS itself");
        assertTrue(p.stops().isEmpty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> format.render(List.of(new ChatMessage("user", "a"), new ChatMessage("user", "b"))));
        assertTrue(e.getMessage().endsWith("Conversation roles must alternate user/assistant/user/assistant/..."), e.getMessage());
        assertEquals("the model's chat template (chat_template.jinja)", format.describe());
        assertEquals(ChatTemplateTest.MISTRAL01, format.template(), "the source as given, for /tokenizer_info");
    }
}
