package gsat2r.cli;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chat templates in the forms Llama 3, Llama 3.1 and Mistral (v0.1 and v0.3) instruct models ship,
 * rendered to what Jinja2 gives with transformers' settings (trim_blocks, lstrip_blocks). The expected
 * strings are written by hand from the templates' meaning; they were also compared with Python's
 * jinja2 3.1 (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)) when written.
 */
class ChatTemplateTest {

    @TempDir
    Path tmp;

    /** Llama 3 (8B Instruct): one line, headers, trimmed contents, BOS before the first message. */
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
            + "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
            + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    /** Llama 3.1's structure (without its tool branches): whitespace control, slicing, defined tests, a dated system header. */
    static final String LLAMA31 = """
            {{- bos_token }}
            {%- if not date_string is defined %}
                {%- set date_string = "26 Jul 2024" %}
            {%- endif %}
            {%- if not tools is defined %}
                {%- set tools = none %}
            {%- endif %}

            {#- This block extracts the system message. #}
            {%- if messages[0]['role'] == 'system' %}
                {%- set system_message = messages[0]['content']|trim %}
                {%- set messages = messages[1:] %}
            {%- else %}
                {%- set system_message = "" %}
            {%- endif %}

            {{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
            {%- if tools is not none %}
                {{- "Environment: ipython\\n" }}
            {%- endif %}
            {{- "Cutting Knowledge Date: December 2023\\n" }}
            {{- "Today Date: " + date_string + "\\n\\n" }}
            {{- system_message }}
            {{- "<|eot_id|>" }}

            {%- for message in messages %}
                {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
                    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
                {%- endif %}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
            {%- endif %}
            """;

    /** Mistral 7B Instruct v0.1: [INST] turns, roles must alternate (raise_exception). */
    static final String MISTRAL01 = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    /** Mistral v0.3's structure: namespace counters, selectattr, negative indices, the system message in the last user turn. */
    static final String MISTRAL03 = """
            {%- if messages[0]["role"] == "system" %}
                {%- set system_message = messages[0]["content"] %}
                {%- set loop_messages = messages[1:] %}
            {%- else %}
                {%- set loop_messages = messages %}
            {%- endif %}
            {%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}
            {%- set ns = namespace() %}
            {%- set ns.index = 0 %}
            {%- for message in loop_messages %}
                {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
                    {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
                {%- endif %}
                {%- set ns.index = ns.index + 1 %}
            {%- endfor %}
            {{- bos_token }}
            {%- for message in loop_messages %}
                {%- if message["role"] == "user" %}
                    {%- if loop.last and system_message is defined and message == user_messages[-1] %}
                        {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
                    {%- else %}
                        {{- "[INST] " + message["content"] + "[/INST]" }}
                    {%- endif %}
                {%- elif message["role"] == "assistant" %}
                    {{- " " + message["content"]|trim + eos_token}}
                {%- else %}
                    {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
                {%- endif %}
            {%- endfor %}
            """;

    static final List<ChatTemplate.Message> SYSTEM_USER = List.of(new ChatTemplate.Message("system", "  Be brief. "),
            new ChatTemplate.Message("user", "What is a slot?\n"));

    ChatTemplate template(String source, String bos, String eos) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m" + source.hashCode()));
        Files.writeString(dir.resolve("chat_template.jinja"), source);
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": "%s", "eos_token": {"content": "%s", "special": true}}""".formatted(bos, eos));
        return ChatTemplate.load(dir);
    }

    @Test
    void llama3() throws IOException {
        ChatTemplate t = template(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nWhat is a slot?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(SYSTEM_USER, true));
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
                t.render(List.of(new ChatTemplate.Message("user", "Hi")), false));
    }

    @Test
    void llama31() throws IOException {
        ChatTemplate t = template(LLAMA31, "<|begin_of_text|>", "<|eot_id|>");
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                + "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is a slot?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(SYSTEM_USER, true));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                + "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(List.of(new ChatTemplate.Message("user", "Hi")), true));
    }

    @Test
    void mistral() throws IOException {
        ChatTemplate v1 = template(MISTRAL01, "<s>", "</s>");
        List<ChatTemplate.Message> turns = List.of(new ChatTemplate.Message("user", "Hi"), new ChatTemplate.Message("assistant", "Hello."),
                new ChatTemplate.Message("user", "Bye"));
        assertEquals("<s>[INST] Hi [/INST]Hello.</s>[INST] Bye [/INST]", v1.render(turns, true));
        T2rException e = assertThrows(T2rException.class, () -> v1.render(SYSTEM_USER, true));
        assertEquals(v1.source() + ": chat template line 1: Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());

        ChatTemplate v3 = template(MISTRAL03, "<s>", "</s>");
        assertEquals("<s>[INST]   Be brief. \n\nWhat is a slot?\n[/INST]", v3.render(SYSTEM_USER, true));
        assertEquals("<s>[INST] Hi[/INST] Hello.</s>[INST] Bye[/INST]", v3.render(turns, true));
    }

    @Test
    void templateSourcesInTransformersOrder() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("sources"));
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": "<s>", "chat_template": [{"name": "tool_use", "template": "tools"},
                                                       {"name": "default", "template": "{{ bos_token }}config"}]}""");
        assertEquals("<s>config", ChatTemplate.load(dir).render(List.of(), true));
        Files.writeString(dir.resolve("chat_template.json"), "{\"chat_template\": \"json\"}");
        assertEquals("json", ChatTemplate.load(dir).render(List.of(), true));
        Files.writeString(dir.resolve("chat_template.jinja"), "jinja\n");
        assertEquals("jinja", ChatTemplate.load(dir).render(List.of(), true), "one trailing newline dropped, as Jinja2 does");
        Path none = Files.createDirectories(tmp.resolve("none"));
        assertEquals(none + ": the model has no chat template (chat_template.jinja, or chat_template in tokenizer_config.json);"
                + " drop --chat to continue plain text", assertThrows(T2rException.class, () -> ChatTemplate.load(none)).getMessage());
        Path broken = Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(broken.resolve("chat_template.jinja"), "{{ messages[0 }}");
        String m = assertThrows(T2rException.class, () -> ChatTemplate.load(broken).render(List.of(), true)).getMessage();
        assertTrue(m.startsWith(broken.resolve("chat_template.jinja") + ": chat template line 1: "), m);
    }

    @Test
    void whitespaceControlAsJinja2() throws IOException {
        // Expected values from Python's jinja2 with trim_blocks and lstrip_blocks.
        ChatTemplate t = template("a {% if true %}b {% endif %}c\n  {% if true %}d{% endif %}\n  {%+ if true %}e{% endif %}\n{# note #}\n  {{ 'f' }}\n",
                "<s>", "</s>");
        assertEquals("a b c\nd  e  f", t.render(List.of(), true));
    }

    @Test
    void strftimeNowFollowsPythonsDirectives() {
        ZonedDateTime t = ZonedDateTime.of(2024, 7, 6, 15, 4, 5, 0, ZoneOffset.UTC);
        assertEquals("06 Jul 2024", ChatTemplate.Functions.strftime(t, "%d %b %Y"));
        assertEquals("Saturday, July 06 2024 03:04:05 PM 188 %", ChatTemplate.Functions.strftime(t, "%A, %B %d %Y %I:%M:%S %p %j %%"));
    }
}
