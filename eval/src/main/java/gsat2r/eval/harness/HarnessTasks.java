package gsat2r.eval.harness;

import gsat2r.core.T2rException;
import gsat2r.eval.harness.HarnessTask.OutputType;
import gsat2r.eval.harness.HarnessTask.Shots;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SequencedSet;

/**
 * The lm-evaluation-harness tasks {@code t2r eval} knows, under the harness's names, with the datasets,
 * splits, prompts and metrics of the harness's configurations at {@link #HARNESS_COMMIT}: hellaswag,
 * arc_easy, arc_challenge, piqa, winogrande, lambada_openai, wikitext, and mmlu (57 subjects in four
 * categories; {@code mmlu_stem}, {@code mmlu_anatomy}, … name parts of it).
 */
public final class HarnessTasks {
    private HarnessTasks() {}

    /** The commit of EleutherAI/lm-evaluation-harness whose task rules these follow. */
    public static final String HARNESS_COMMIT = "4e7e0d47f33bc71070c1d38394bafbb52b117163";

    private static final List<String> ACC = List.of("acc"), ACC_NORM = List.of("acc", "acc_norm");


    /** MMLU's subjects and their categories, as the harness's per-subject configurations tag them. */
    static final Map<String, String> MMLU_SUBJECTS = mmluSubjects();
    static final List<String> MMLU_CATEGORIES = List.of("stem", "other", "social_sciences", "humanities");

    private static Map<String, String> mmluSubjects() {
        String spec = "abstract_algebra:stem anatomy:stem astronomy:stem business_ethics:other clinical_knowledge:other "
                + "college_biology:stem college_chemistry:stem college_computer_science:stem college_mathematics:stem "
                + "college_medicine:other college_physics:stem computer_security:stem conceptual_physics:stem "
                + "econometrics:social_sciences electrical_engineering:stem elementary_mathematics:stem formal_logic:humanities "
                + "global_facts:other high_school_biology:stem high_school_chemistry:stem high_school_computer_science:stem "
                + "high_school_european_history:humanities high_school_geography:social_sciences "
                + "high_school_government_and_politics:social_sciences high_school_macroeconomics:social_sciences "
                + "high_school_mathematics:stem high_school_microeconomics:social_sciences high_school_physics:stem "
                + "high_school_psychology:social_sciences high_school_statistics:stem high_school_us_history:humanities "
                + "high_school_world_history:humanities human_aging:other human_sexuality:social_sciences "
                + "international_law:humanities jurisprudence:humanities logical_fallacies:humanities machine_learning:stem "
                + "management:other marketing:other medical_genetics:other miscellaneous:other moral_disputes:humanities "
                + "moral_scenarios:humanities nutrition:other philosophy:humanities prehistory:humanities "
                + "professional_accounting:other professional_law:humanities professional_medicine:other "
                + "professional_psychology:social_sciences public_relations:social_sciences security_studies:social_sciences "
                + "sociology:social_sciences us_foreign_policy:social_sciences virology:other world_religions:humanities";
        Map<String, String> m = new LinkedHashMap<>();
        for (String pair : spec.split(" ")) m.put(pair.substring(0, pair.indexOf(':')), pair.substring(pair.indexOf(':') + 1));
        return java.util.Collections.unmodifiableMap(m);
    }

    /** Every task name and group name accepted by {@link #select}, for messages. */
    public static final String KNOWN = "hellaswag, arc_easy, arc_challenge, piqa, winogrande, lambada_openai, wikitext, "
            + "mmlu, mmlu_stem, mmlu_other, mmlu_social_sciences, mmlu_humanities, mmlu_<subject>";

    public static boolean isHarnessName(String name) {
        return task(name) != null || group(name) != null;
    }

    /** The tasks and groups that the requested names stand for, tasks in order and without repeats. */
    public record Selection(List<HarnessTask> tasks, List<HarnessTask.Group> groups) {}

    public static Selection select(List<String> names) {
        SequencedSet<String> tasks = new LinkedHashSet<>();
        SequencedSet<String> groups = new LinkedHashSet<>();
        for (String n : names) expand(n, tasks, groups);
        List<HarnessTask> t = tasks.stream().map(HarnessTasks::task).toList();
        // Children before parents: the categories before mmlu.
        List<HarnessTask.Group> g = new ArrayList<>(groups.stream().map(HarnessTasks::group).toList());
        g.sort(java.util.Comparator.comparing((HarnessTask.Group x) -> x.name().equals("mmlu")));
        return new Selection(t, g);
    }

    private static void expand(String name, SequencedSet<String> tasks, SequencedSet<String> groups) {
        HarnessTask.Group g = group(name);
        if (g != null) {
            for (String c : g.children()) expand(c, tasks, groups);
            groups.add(name);
            return;
        }
        if (task(name) == null) throw new T2rException("--tasks: unknown task '" + name + "' (known: " + KNOWN + ", and lm, recall, passkey, mc:FILE, speed)");
        tasks.add(name);
    }

    static HarnessTask.Group group(String name) {
        if (name.equals("mmlu")) {
            return new HarnessTask.Group("mmlu", "mmlu", MMLU_CATEGORIES.stream().map(c -> "mmlu_" + c).toList(), 2);
        }
        for (String c : MMLU_CATEGORIES) {
            if (name.equals("mmlu_" + c)) {
                List<String> subjects = MMLU_SUBJECTS.entrySet().stream().filter(e -> e.getValue().equals(c))
                        .map(e -> "mmlu_" + e.getKey()).toList();
                return new HarnessTask.Group(name, c, subjects, 2);
            }
        }
        return null;
    }

    static HarnessTask task(String name) {
        return switch (name) {
            case "hellaswag" -> make(name, name, "Rowan/hellaswag", null, "validation", new Shots.Drawn("train", true), "", 1.0,
                    OutputType.MULTIPLE_CHOICE, ACC_NORM, Prompts::hellaswag,
                    cfg("{{query}}", "{{label}}", "choices", "utils.process_docs"));
            case "arc_easy", "arc_challenge" -> make(name, name, "allenai/ai2_arc", name.equals("arc_easy") ? "ARC-Easy" : "ARC-Challenge",
                    "test", new Shots.Drawn("train", false), "", 1.0, OutputType.MULTIPLE_CHOICE, ACC_NORM, Prompts::arc,
                    cfg("Question: {{question}}\nAnswer:", "{{choices.label.index(answerKey)}}", "{{choices.text}}", null));
            case "piqa" -> make(name, name, "baber/piqa", null, "validation", new Shots.Drawn("train", true), "", 1.0, OutputType.MULTIPLE_CHOICE,
                    ACC_NORM, Prompts::piqa, cfg("Question: {{goal}}\nAnswer:", "label", "{{[sol1, sol2]}}", null));
            case "winogrande" -> make(name, name, "allenai/winogrande", "winogrande_xl", "validation", new Shots.Drawn("train", true), "", 1.0,
                    OutputType.MULTIPLE_CHOICE, ACC, Prompts::winogrande,
                    cfg("preprocess_winogrande.doc_to_text", "preprocess_winogrande.doc_to_target",
                            "preprocess_winogrande.doc_to_choice", null));
            case "lambada_openai" -> make(name, name, "EleutherAI/lambada_openai", "default", "test", new Shots.Drawn("test", false), "", 1.0,
                    OutputType.LOGLIKELIHOOD, List.of("perplexity", "acc"), Prompts::lambada,
                    cfg("{{text.split(' ')[:-1]|join(' ')}}", "{{' '+text.split(' ')[-1]}}", null, null));
            case "wikitext" -> make(name, name, "EleutherAI/wikitext_document_level", "wikitext-2-raw-v1", "test",
                    new Shots.Unsupported("a rolling log-likelihood scores each page alone, zero-shot"), "", 2.0,
                    OutputType.LOGLIKELIHOOD_ROLLING, List.of("word_perplexity", "byte_perplexity", "bits_per_byte"),
                    Prompts::wikitext, cfg("", "preprocess_wikitext.wikitext_detokenizer", null, null));
            default -> mmluSubject(name);
        };
    }

    private static HarnessTask mmluSubject(String name) {
        if (!name.startsWith("mmlu_")) return null;
        String subject = name.substring(5);
        if (!MMLU_SUBJECTS.containsKey(subject)) return null;
        String description = "The following are multiple choice questions (with answers) about " + subject.replace('_', ' ') + ".\n\n";
        Map<String, Object> c = cfg("{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
                "answer", Prompts.MMLU_LETTERS, null);
        c.put("tag", "mmlu_" + MMLU_SUBJECTS.get(subject) + "_tasks");
        c.put("fewshot_config", Map.of("sampler", "first_n"));
        return make(name, subject, "cais/mmlu", subject, "test", new Shots.FirstN("dev"), description, 1.0, OutputType.MULTIPLE_CHOICE, ACC,
                Prompts::mmlu, c);
    }

    private static Map<String, Object> cfg(String docToText, String docToTarget, Object docToChoice, String processDocs) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("doc_to_text", docToText);
        c.put("doc_to_target", docToTarget);
        if (docToChoice != null) c.put("doc_to_choice", docToChoice);
        if (processDocs != null) c.put("process_docs", processDocs);
        return c;
    }

    private static HarnessTask make(String name, String alias, String path, String config, String split, Shots shots,
                                    String description, Number version, OutputType type, List<String> metrics,
                                    java.util.function.Function<gsat2r.datasets.Row, Doc> toDoc, Map<String, Object> prompt) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("task", name);
        if (!alias.equals(name)) c.put("task_alias", alias);
        if (prompt.containsKey("tag")) c.put("tag", prompt.remove("tag"));
        c.put("dataset_path", path);
        if (config != null) c.put("dataset_name", config);
        c.put(split.equals("test") ? "test_split" : "validation_split", split);
        if (shots instanceof Shots.FirstN f) c.put("fewshot_split", f.split());
        c.putAll(prompt);
        c.put("description", description);
        c.put("target_delimiter", " ");
        c.put("fewshot_delimiter", "\n\n");
        c.put("output_type", type.harnessName);
        List<Map<String, Object>> list = new ArrayList<>();
        for (String m : metrics) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("metric", m);
            e.put("aggregation", switch (m) {
                case "acc", "acc_norm" -> "mean";
                case "perplexity" -> "perplexity";
                case "bits_per_byte" -> "bits_per_byte";
                default -> "weighted_perplexity";
            });
            e.put("higher_is_better", HarnessTask.higherIsBetter(m));
            list.add(e);
        }
        c.put("metric_list", list);
        c.put("repeats", 1);
        c.put("metadata", Map.of("version", version));
        return new HarnessTask(name, alias, path, config, split, shots, description, version, type, metrics, toDoc, c);
    }
}
