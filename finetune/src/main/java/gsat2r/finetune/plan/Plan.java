package gsat2r.finetune.plan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A plan and everything measured for it ({@code plan.json}, {@code plan.md}).
 *
 * @param restoreOne   the all-GSA student with one layer restored to attention, per layer
 * @param linearizeOne the teacher with one layer replaced by its trained GSA layer, per layer
 * @param elimination  the candidates of each step of backward elimination (the first is {@code linearizeOne}, the only
 *                     one when every set is measured)
 * @param patterns     the teacher's induction and previous-token heads
 * @param circuit      the layers of its retrieval circuit under the budget (empty: none; the probes decided)
 * @param everySet     every set of {@code budget} layers kept, from the teacher's side (empty when there are too many)
 * @param probesChoice what the probes alone chose (elimination, or the best of every set)
 * @param windowTrials sliding windows tried on the chosen layers
 * @param plan         the chosen layers and windows, measured
 * @param naive        the first and last layers at the same budget, measured
 */
public record Plan(Path recipe, int budget, long atTokens, String device, int probes, long probeTokens, AtLosses at,
                   AttentionPatterns patterns, List<Integer> circuit,
                   RecallProbes.Score teacher, HybridPlanner.Candidate allGsa, List<HybridPlanner.Candidate> restoreOne,
                   List<HybridPlanner.Candidate> linearizeOne, List<List<HybridPlanner.Candidate>> elimination,
                   List<HybridPlanner.Candidate> everySet, HybridPlanner.Candidate probesChoice, List<HybridPlanner.Candidate> windowTrials,
                   HybridPlanner.Candidate plan, HybridPlanner.Candidate naive, double seconds) {

    /** How the layers were chosen: by the teacher's retrieval circuit, or by the probes alone. */
    public String rule() {
        return circuit.isEmpty() ? "probes" : "attention circuit";
    }

    public List<Integer> layers() {
        return plan.attention();
    }

    public SortedMap<Integer, Integer> windows() {
        return new TreeMap<>(plan.windows());
    }

    /** The plan as {@code --keep-attention} writes it, e.g. {@code 3,5:256}. */
    public String spelling() {
        return spelling(plan);
    }

    static String spelling(HybridPlanner.Candidate c) {
        return String.join(",", c.attention().stream().map(l -> c.windows().containsKey(l) ? l + ":" + c.windows().get(l) : String.valueOf(l)).toList());
    }

    /** Share of the teacher's lead over the all-GSA student (in probe log-probability) that a candidate wins back. */
    public double gapClosed(HybridPlanner.Candidate c) {
        double gap = teacher.logProb() - allGsa.score().logProb();
        return gap <= 0 ? Double.NaN : (c.score().logProb() - allGsa.score().logProb()) / gap;
    }

    /** The per-layer validation MSE of the short attention transfer's last evaluation. */
    public record AtLosses(List<Double> mse) {
        static AtLosses read(Path metrics) {
            try {
                JsonNode last = null;
                for (String line : Files.readAllLines(metrics)) {
                    JsonNode n = HybridPlanner.JSON.readTree(line);
                    if ("eval".equals(n.path("type").asText())) last = n;
                }
                if (last == null) throw new T2rException(metrics + ": the attention transfer wrote no evaluation");
                java.util.ArrayList<Double> mse = new java.util.ArrayList<>();
                for (int l = 0; last.has("val_mse." + l); l++) mse.add(last.get("val_mse." + l).asDouble());
                return new AtLosses(List.copyOf(mse));
            } catch (IOException e) {
                throw new T2rException(metrics + ": cannot read (" + e.getMessage() + ")", e);
            }
        }
    }

    public ObjectNode toJson() {
        ObjectNode o = HybridPlanner.JSON.createObjectNode();
        o.put("format", "t2r plan");
        o.put("recipe", recipe.toAbsolutePath().normalize().toString());
        o.put("budget", budget);
        o.put("at_tokens", atTokens);
        o.put("device", device);
        o.put("probes", probes);
        o.put("probe_tokens", probeTokens);
        o.put("seconds", seconds);
        o.put("rule", rule());
        o.set("attention_patterns", patterns.toJson());
        ArrayNode circuitLayers = o.putArray("circuit");
        circuit.forEach(circuitLayers::add);
        ArrayNode mse = o.putArray("at_val_mse");
        at.mse().forEach(mse::add);
        o.set("teacher", score(teacher));
        o.set("all_gsa", candidate(allGsa));
        o.set("restore_one", candidates(restoreOne));
        o.set("linearize_one", candidates(linearizeOne));
        ArrayNode steps = o.putArray("elimination");
        for (List<HybridPlanner.Candidate> step : elimination) steps.add(candidates(step));
        o.set("every_set", candidates(everySet));
        o.set("probes_choice", candidate(probesChoice));
        o.set("window_trials", candidates(windowTrials));
        o.set("plan", candidate(plan));
        o.set("naive", candidate(naive));
        return o;
    }

    private ArrayNode candidates(List<HybridPlanner.Candidate> cs) {
        ArrayNode a = HybridPlanner.JSON.createArrayNode();
        cs.forEach(c -> a.add(candidate(c)));
        return a;
    }

    private ObjectNode candidate(HybridPlanner.Candidate c) {
        ObjectNode o = HybridPlanner.JSON.createObjectNode();
        o.put("name", c.name());
        o.put("keep_attention", spelling(c));
        o.setAll(score(c.score()));
        double closed = gapClosed(c);
        if (Double.isFinite(closed)) o.put("gap_closed", closed);
        return o;
    }

    private static ObjectNode score(RecallProbes.Score s) {
        ObjectNode o = HybridPlanner.JSON.createObjectNode();
        o.put("log_prob", s.logProb());
        o.put("exact", s.exact());
        ObjectNode kinds = o.putObject("by_kind");
        s.byKind().forEach((k, v) -> kinds.putObject(k).put("log_prob", v[0]).put("exact", v[1]));
        return o;
    }

    public String markdown() {
        StringBuilder md = new StringBuilder("# t2r plan\n\n");
        md.append(String.format(Locale.ROOT, "Recipe `%s`, budget %d layers, attention transfer on %,d tokens, %d probes (%,d tokens) on %s, %.0f s.%n%n",
                recipe, budget, atTokens, probes, probeTokens, device, seconds));
        md.append(String.format(Locale.ROOT, "**Plan: keep attention at %s** (probes %.3f nats/token, %.0f%% exact, %.0f%% of the gap closed); "
                        + "naive %s: %.3f nats/token, %.0f%% exact, %.0f%% of the gap closed. Teacher %.3f / %.0f%%, all-GSA %.3f / %.0f%%.%n%n",
                spelling(), plan.score().logProb(), 100 * plan.score().exact(), 100 * gapClosed(plan), spelling(naive),
                naive.score().logProb(), 100 * naive.score().exact(), 100 * gapClosed(naive), teacher.logProb(), 100 * teacher.exact(),
                allGsa.score().logProb(), 100 * allGsa.score().exact()));
        md.append(circuit.isEmpty()
                ? "Chosen by the probes: the teacher has no induction head.\n\n"
                : String.format(Locale.ROOT, "Chosen by the teacher's retrieval circuit (layers %s; induction heads, then previous-token heads "
                        + "before them); the probes alone chose %s (%.3f nats/token).%n%n", circuit, spelling(probesChoice),
                        probesChoice.score().logProb()));
        md.append(patterns.markdown()).append('\n');
        md.append("| layer | AT val MSE | student + this layer as attention | teacher with this layer GSA |\n|---:|---:|---:|---:|\n");
        for (int l = 0; l < restoreOne.size(); l++) {
            md.append(String.format(Locale.ROOT, "| %d | %s | %.3f (%.0f%%) | %.3f (%.0f%%) |%n", l,
                    l < at.mse().size() ? String.format(Locale.ROOT, "%.4f", at.mse().get(l)) : "",
                    restoreOne.get(l).score().logProb(), 100 * restoreOne.get(l).score().exact(),
                    linearizeOne.get(l).score().logProb(), 100 * linearizeOne.get(l).score().exact()));
        }
        md.append("\nProbe scores: mean log-probability of the answer's tokens (nats/token) and the share answered exactly.\n");
        md.append(everySet.isEmpty() ? "\nBackward elimination from the teacher (attention kept at; probe log-probability):\n"
                : "\nOne layer linearized in the teacher (attention kept at; probe log-probability):\n");
        for (int i = 0; i < elimination.size(); i++) {
            HybridPlanner.Candidate best = HybridPlanner.Measurer.best(elimination.get(i));
            md.append(String.format(Locale.ROOT, "%n- step %d:", i + 1));
            for (HybridPlanner.Candidate c : elimination.get(i)) {
                md.append(String.format(Locale.ROOT, " %s%s %.3f%s;", c == best ? "**" : "", spelling(c), c.score().logProb(), c == best ? "**" : ""));
            }
        }
        md.append('\n');
        if (!everySet.isEmpty()) {
            HybridPlanner.Candidate best = HybridPlanner.Measurer.best(everySet);
            md.append(String.format(Locale.ROOT, "%nEvery set of %d layers kept (teacher side; the probes' choice is the best):", budget));
            everySet.stream().sorted(java.util.Comparator.comparingDouble((HybridPlanner.Candidate c) -> -c.score().logProb()))
                    .forEach(c -> md.append(String.format(Locale.ROOT, " %s%s %.3f%s;", c == best ? "**" : "", spelling(c),
                            c.score().logProb(), c == best ? "**" : "")));
            md.append('\n');
        }
        if (windowTrials.isEmpty() && plan.score().exact() <= 0) {
            md.append("\nNo window tried: the plan with full attention answers no probe exactly, so the probes cannot tell what a window loses.\n");
        }
        for (HybridPlanner.Candidate c : windowTrials) {
            md.append(String.format(Locale.ROOT, "%nWindow trial %s: %.3f nats/token, %.0f%% exact", spelling(c), c.score().logProb(), 100 * c.score().exact()));
        }
        return md.append('\n').toString();
    }
}
