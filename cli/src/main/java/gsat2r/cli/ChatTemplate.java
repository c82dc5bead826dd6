package gsat2r.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A model's Hugging Face chat template: Jinja2 source from {@code chat_template.jinja},
 * {@code chat_template.json} or {@code tokenizer_config.json}'s {@code chat_template} (the order in which
 * transformers looks), rendered as transformers' {@code apply_chat_template} renders it: Jinja2 with
 * {@code trim_blocks} and {@code lstrip_blocks}, one trailing newline of the source dropped, the
 * messages, {@code add_generation_prompt}, the special tokens of tokenizer_config.json
 * ({@code bos_token}, {@code eos_token}, ...), and the functions {@code raise_exception} and
 * {@code strftime_now}.
 *
 * <p>The engine is HubSpot's Jinjava, set to Jinja2's semantics where its defaults differ (whitespace
 * control on expressions, operator precedence of filters, Python-style output of values); it renders
 * the Llama 3, Llama 3.1 and Mistral templates as Jinja2 does (ChatTemplateTest). Tool calling is not
 * offered: messages have a role and a content.
 */
public final class ChatTemplate {

    public record Message(String role, String content) {}

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final List<String> SPECIAL_TOKENS = List.of("bos_token", "eos_token", "unk_token", "pad_token", "sep_token",
            "cls_token", "mask_token");

    private final Path source;
    private final String text;
    private final String template;
    private final Map<String, String> specialTokens;
    private final Jinjava jinja;

    private ChatTemplate(Path source, String template, Map<String, String> specialTokens) {
        this.source = source;
        this.text = template;
        this.template = lstripBlocks(template.endsWith("\n") ? template.substring(0, template.length() - 1) : template);
        this.specialTokens = specialTokens;
        this.jinja = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(false)                   // done by lstripBlocks: Jinjava's strips mid-line spaces too
                .withFailOnUnknownTokens(false)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withAllowAdjacentTextNodes(true)
                        .withKeepNullableLoopValues(true)
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .build())
                .build());
        jinja.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", Functions.class, "raiseException", String.class));
        jinja.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", Functions.class, "strftimeNow", String.class));
    }

    /** The template of the model in {@code dir}, or a one-line error when it has none. */
    public static ChatTemplate load(Path dir) {
        return find(dir).orElseThrow(() -> noTemplate(dir));
    }

    /**
     * The template of the model in {@code dir}, or empty when it has none: no {@code chat_template.jinja}, no
     * {@code chat_template.json} and no {@code chat_template} in {@code tokenizer_config.json}. One there that
     * cannot be used is a one-line error.
     */
    public static Optional<ChatTemplate> find(Path dir) {
        Path config = dir.resolve("tokenizer_config.json");
        JsonNode tokenizerConfig = Files.isRegularFile(config) ? readJson(config) : JSON.createObjectNode();
        Map<String, String> special = new LinkedHashMap<>();
        for (String name : SPECIAL_TOKENS) {
            JsonNode t = tokenizerConfig.path(name);
            String text = t.isTextual() ? t.textValue() : t.path("content").isTextual() ? t.path("content").textValue() : null;
            if (text != null) special.put(name, text);
        }
        Path jinjaFile = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinjaFile)) return Optional.of(new ChatTemplate(jinjaFile, readString(jinjaFile), special));
        Path jsonFile = dir.resolve("chat_template.json");
        if (Files.isRegularFile(jsonFile)) {
            JsonNode t = readJson(jsonFile).path("chat_template");
            if (!t.isTextual()) throw new T2rException(jsonFile + ": no \"chat_template\" string");
            return Optional.of(new ChatTemplate(jsonFile, t.textValue(), special));
        }
        JsonNode t = tokenizerConfig.path("chat_template");
        if (t.isMissingNode() || t.isNull()) return Optional.empty();
        if (t.isTextual()) return Optional.of(new ChatTemplate(config, t.textValue(), special));
        if (t.isArray()) {                        // named templates: [{"name": "default", "template": "..."}, ...]
            for (JsonNode named : t) {
                if (named.path("name").asText().equals("default") && named.path("template").isTextual()) {
                    return Optional.of(new ChatTemplate(config, named.path("template").textValue(), special));
                }
            }
        }
        throw noTemplate(dir);
    }

    private static T2rException noTemplate(Path dir) {
        return new T2rException(dir + ": the model has no chat template (chat_template.jinja, or chat_template in tokenizer_config.json);"
                + " drop --chat to continue plain text");
    }

    /** Spaces and tabs that start a line before a block or comment tag ({@code {%}, {@code {#}, not {@code {%+}), removed. */
    private static final java.util.regex.Pattern LINE_START_BEFORE_TAG = java.util.regex.Pattern.compile("(?m)^[ \t]+(?=\\{[%#](?!\\+))");

    /**
     * Jinja2's {@code lstrip_blocks}: whitespace is removed before a tag only when nothing else precedes it on
     * its line ({@code "a {% if x %}"} keeps its space), which Jinjava's own option does not respect.
     */
    static String lstripBlocks(String template) {
        return LINE_START_BEFORE_TAG.matcher(template).replaceAll("");
    }

    /** Where the template came from. */
    public Path source() {
        return source;
    }

    /** The template's Jinja source as the model gives it. */
    public String text() {
        return text;
    }

    /** The conversation as the model saw such conversations in training, ending where the assistant is to answer. */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("role", m.role());
            o.put("content", m.content());
            list.add(o);
        }
        Map<String, Object> context = new HashMap<>(specialTokens);
        context.put("messages", list);
        context.put("add_generation_prompt", addGenerationPrompt);
        RenderResult r = jinja.renderForResult(template, context);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new T2rException(source + ": chat template" + (e.getLineno() > 0 ? " line " + e.getLineno() : "") + ": " + reason(e));
            }
        }
        return r.getOutput();
    }

    /** The innermost message: a raise_exception's own text rather than Jinjava's wrapper. */
    private static String reason(TemplateError e) {
        Throwable t = e.getException();
        String message = e.getMessage();
        while (t != null) {
            if (t.getMessage() != null && !(t.getCause() != null && t.getCause().getMessage() != null)) message = t.getMessage();
            t = t.getCause();
        }
        return message.lines().findFirst().orElse(message).strip();
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new T2rException(file + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
    }

    private static String readString(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    /** The functions transformers gives templates. Public: Jinjava calls them by reflection. */
    public static final class Functions {
        private Functions() {}

        public static Object raiseException(String message) {
            throw new IllegalStateException(message);
        }

        /** Python's {@code datetime.now().strftime(format)} for the directives chat templates use. */
        public static String strftimeNow(String format) {
            return strftime(ZonedDateTime.now(), format);
        }

        static String strftime(ZonedDateTime t, String format) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < format.length(); i++) {
                char c = format.charAt(i);
                if (c != '%' || i + 1 == format.length()) {
                    sb.append(c);
                    continue;
                }
                char d = format.charAt(++i);
                sb.append(switch (d) {
                    case 'd' -> String.format(Locale.ROOT, "%02d", t.getDayOfMonth());
                    case 'e' -> String.format(Locale.ROOT, "%2d", t.getDayOfMonth());
                    case 'm' -> String.format(Locale.ROOT, "%02d", t.getMonthValue());
                    case 'Y' -> String.valueOf(t.getYear());
                    case 'y' -> String.format(Locale.ROOT, "%02d", t.getYear() % 100);
                    case 'b' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                    case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                    case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                    case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                    case 'H' -> String.format(Locale.ROOT, "%02d", t.getHour());
                    case 'I' -> String.format(Locale.ROOT, "%02d", (t.getHour() + 11) % 12 + 1);
                    case 'M' -> String.format(Locale.ROOT, "%02d", t.getMinute());
                    case 'S' -> String.format(Locale.ROOT, "%02d", t.getSecond());
                    case 'p' -> t.getHour() < 12 ? "AM" : "PM";
                    case 'j' -> String.format(Locale.ROOT, "%03d", t.getDayOfYear());
                    case '%' -> "%";
                    default -> "%" + d;
                });
            }
            return sb.toString();
        }
    }
}
