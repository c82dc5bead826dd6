package gsat2r.finetune;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What changed between the recipe a run started with and the one given to {@code --resume}, field by
 * field. Some fields may change on a resume: they steer how the remaining steps are taken (learning
 * rate and schedule, optimizer constants, clipping, evaluation and checkpoint cadence, micro-batching,
 * device), typically after a NaN stop. The rest define what has already been computed (teacher,
 * student, data, sequence length, batch, seed, the stages' names, types, lengths and trainable sets):
 * changing them would make the checkpoint meaningless, so a resume refuses. A resume is bit-exact only
 * when nothing changed.
 */
record RecipeChanges(List<String> adjustable, List<String> fixed) {

    private static final List<Pattern> ADJUSTABLE = List.of(
            Pattern.compile("description|checkpoint_interval|keep_checkpoints|eval_tokens|recompute|device|precision|output_dtype|micro_batch|grad_accum"),
            Pattern.compile("stages\\[\\d+]\\.(lr|warmup_steps|min_lr_ratio|weight_decay|betas(\\[\\d])?|eps|grad_clip|eval_interval|temperature|ce_weight|recall_weight|answer_weight|answer_weights(\\.[a-z-]+)?)"));

    static RecipeChanges between(JsonNode before, JsonNode after) {
        List<String> diffs = new ArrayList<>();
        diff("", before, after, diffs);
        List<String> adjustable = new ArrayList<>(), fixed = new ArrayList<>();
        for (String d : diffs) {
            String path = d.substring(0, d.indexOf(':'));
            (ADJUSTABLE.stream().anyMatch(p -> p.matcher(path).matches()) ? adjustable : fixed).add(d);
        }
        return new RecipeChanges(adjustable, fixed);
    }

    boolean none() {
        return adjustable.isEmpty() && fixed.isEmpty();
    }

    private static void diff(String path, JsonNode a, JsonNode b, List<String> out) {
        if (a == null || b == null || a.getNodeType() != b.getNodeType()) {
            if (!(a == null && b == null)) out.add(path + ": " + text(a) + " -> " + text(b));
            return;
        }
        if (a.isObject()) {
            Set<String> keys = new LinkedHashSet<>();
            for (Iterator<String> it = a.fieldNames(); it.hasNext(); ) keys.add(it.next());
            for (Iterator<String> it = b.fieldNames(); it.hasNext(); ) keys.add(it.next());
            for (String k : keys) diff(path.isEmpty() ? k : path + "." + k, a.get(k), b.get(k), out);
        } else if (a.isArray()) {
            if (a.size() != b.size()) {
                out.add(path + ": " + a.size() + " entries -> " + b.size());
                return;
            }
            for (int i = 0; i < a.size(); i++) diff(path + "[" + i + "]", a.get(i), b.get(i), out);
        } else if (a.isNumber()) {
            boolean same = a.isIntegralNumber() && b.isIntegralNumber() ? a.asLong() == b.asLong()
                    : Double.compare(a.asDouble(), b.asDouble()) == 0;
            if (!same) out.add(path + ": " + text(a) + " -> " + text(b));
        } else if (!a.equals(b)) {
            out.add(path + ": " + text(a) + " -> " + text(b));
        }
    }

    private static String text(JsonNode n) {
        return n == null ? "(absent)" : n.toString();
    }
}
