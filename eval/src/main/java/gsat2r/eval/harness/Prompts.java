package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import gsat2r.datasets.Row;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How each task turns a dataset row into a {@link Doc}, following the prompt rules of the harness's task
 * configurations (doc_to_text, doc_to_choice, doc_to_target and their preprocessing functions).
 */
final class Prompts {
    private Prompts() {}

    static Doc hellaswag(Row r) {
        String ctx = r.string("ctx_a") + " " + Py.capitalize(r.string("ctx_b"));
        String query = hellaswagClean(r.string("activity_label") + ": " + ctx);
        List<String> choices = r.strings("endings").stream().map(Prompts::hellaswagClean).toList();
        int gold = index(r, "label");
        Map<String, Object> fields = new LinkedHashMap<>(r.fields());
        fields.put("query", query);
        fields.put("choices", choices);
        fields.put("gold", (long) gold);
        return new Doc.Choices(fields, query, choices, checkGold(r, gold, choices.size()), (long) gold);
    }

    private static final Pattern BRACKETED = Pattern.compile("\\[.*?\\]", Pattern.UNIX_LINES);

    /** HellaSwag's cleaning of WikiHow artefacts: trimmed, " [title]" as a sentence end, other [tags] dropped. */
    static String hellaswagClean(String text) {
        String t = Py.strip(text).replace(" [title]", ". ");
        t = BRACKETED.matcher(t).replaceAll("");
        return t.replace("  ", " ");
    }

    static Doc arc(Row r) {
        Row choices = r.struct("choices");
        List<String> texts = choices.strings("text"), labels = choices.strings("label");
        int gold = labels.indexOf(r.string("answerKey"));
        if (gold < 0) throw new T2rException(r.where() + ": answerKey \"" + r.string("answerKey") + "\" is not among the labels " + labels);
        return new Doc.Choices(r.fields(), "Question: " + r.string("question") + "\nAnswer:", texts, checkGold(r, gold, texts.size()), (long) gold);
    }

    static Doc piqa(Row r) {
        List<String> choices = List.of(r.string("sol1"), r.string("sol2"));
        int gold = index(r, "label");
        return new Doc.Choices(r.fields(), "Question: " + r.string("goal") + "\nAnswer:", choices, checkGold(r, gold, 2), (long) gold);
    }

    /** WinoGrande's partial scoring: the sentence up to the blank, filled by each option; the rest is scored after it. */
    static Doc winogrande(Row r) {
        String sentence = r.string("sentence");
        int blank = sentence.indexOf('_');
        if (blank < 0) throw new T2rException(r.where() + ": the sentence has no blank \"_\"");
        String before = sentence.substring(0, blank);
        List<String> contexts = List.of(before + r.string("option1"), before + r.string("option2"));
        String answer = String.valueOf(r.get("answer"));
        int gold = switch (answer) {
            case "1" -> 0;
            case "2" -> 1;
            default -> throw new T2rException(r.where() + ": field \"answer\" must be \"1\" or \"2\", not \"" + answer + "\"");
        };
        return new Doc.Inputs(r.fields(), contexts, " " + Py.strip(sentence.substring(blank + 1)), gold);
    }

    /** LAMBADA: everything up to the last space-separated word is the context; the last word, after a space, is scored. */
    static Doc lambada(Row r) {
        String text = r.string("text");
        int last = text.lastIndexOf(' ');
        if (last < 0) throw new T2rException(r.where() + ": the text has no space before its last word");
        return new Doc.Target(r.fields(), text.substring(0, last), " " + text.substring(last + 1));
    }

    static final List<String> MMLU_LETTERS = List.of("A", "B", "C", "D");

    static Doc mmlu(Row r) {
        List<String> c = r.strings("choices");
        if (c.size() != 4) throw new T2rException(r.where() + ": field \"choices\" must hold 4 answers, not " + c.size());
        String query = Py.strip(r.string("question")) + "\nA. " + c.get(0) + "\nB. " + c.get(1) + "\nC. " + c.get(2)
                + "\nD. " + c.get(3) + "\nAnswer:";
        int gold = index(r, "answer");
        return new Doc.Choices(r.fields(), query, MMLU_LETTERS, checkGold(r, gold, 4), (long) gold);
    }

    static Doc wikitext(Row r) {
        String page = r.string("page");
        return new Doc.Rolling(r.fields(), wikitextDetokenize(page), Py.wordCount(page), Py.utf8Length(page));
    }

    private record Sub(Pattern pattern, String replacement) {
        Sub(String regex, String replacement) {
            this(Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS), replacement);
        }
    }

    private static final Sub[] BRACKETS = {
            new Sub("\\(\\s*([^)]*?)\\s*\\)", "($1)"), new Sub("\\[\\s*([^\\]]*?)\\s*\\]", "[$1]"),
            new Sub("\\{\\s*([^}]*?)\\s*\\}", "{$1}"), new Sub("\"\\s*([^\"]*?)\\s*\"", "\"$1\""),
            new Sub("'\\s*([^']*?)\\s*'", "'$1'")};

    /** The harness's undoing of wikitext's tokenization (" @-@ " for "-", spaced punctuation, spaced brackets, "= = ="). */
    static String wikitextDetokenize(String page) {
        String s = page.replace("s '", "s'");
        s = Pattern.compile("/' [0-9]/").matcher(s).replaceAll(Matcher.quoteReplacement("/'[0-9]/"));
        s = s.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".");
        s = s.replace(" : ", ": ").replace(" ; ", "; ").replace(" . ", ". ").replace(" ! ", "! ").replace(" ? ", "? ")
                .replace(" , ", ", ");
        for (Sub sub : BRACKETS) s = sub.pattern().matcher(s).replaceAll(sub.replacement());
        s = s.replace("= = = =", "====").replace("= = =", "===").replace("= =", "==");
        s = s.replace(" \u00b0 ", "\u00b0").replace(" \n", "\n").replace("\n ", "\n");
        return s.replace(" N ", " 1 ").replace(" 's", "'s");
    }

    /** An integer label that datasets store as an integer or as its digits in a string (HellaSwag). */
    private static int index(Row r, String field) {
        Object v = r.get(field);
        if (v instanceof Long l) return Math.toIntExact(l);
        if (v instanceof String s && !s.isEmpty() && s.chars().allMatch(Character::isDigit)) return Integer.parseInt(s);
        throw new T2rException(r.where() + ": field \"" + field + "\" must be an answer index, not " + (v instanceof String ? "\"" + v + "\"" : v));
    }

    private static int checkGold(Row r, int gold, int choices) {
        if (gold < 0 || gold >= choices) throw new T2rException(r.where() + ": answer index " + gold + " is not one of the " + choices + " choices");
        return gold;
    }

    static List<String> list(String... s) {
        return new ArrayList<>(List.of(s));
    }
}
