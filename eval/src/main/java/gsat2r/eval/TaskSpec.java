package gsat2r.eval;

import gsat2r.core.T2rException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * One task of {@code --tasks lm,recall,passkey,mc:FILE,speed,niah_single,niah_multikey,niah_multivalue,vt};
 * {@code file} is the task file of {@code mc}. {@link #key} names its cached result and its part of the report.
 */
public record TaskSpec(Kind kind, Path file) {

    public enum Kind {
        LM, RECALL, PASSKEY, MC, SPEED, NIAH_SINGLE, NIAH_MULTIKEY, NIAH_MULTIVALUE, VT;

        /** Whether this is one of the RULER-style retrieval tasks ({@link NeedleTask}). */
        public boolean isNeedle() {
            return this == NIAH_SINGLE || this == NIAH_MULTIKEY || this == NIAH_MULTIVALUE || this == VT;
        }
    }

    public static final String DEFAULT = "lm,recall,passkey,speed";

    public static TaskSpec of(Kind kind) {
        return new TaskSpec(kind, null);
    }

    /** A comma-separated list; duplicates are dropped, the order is kept. */
    public static List<TaskSpec> parse(String list) {
        LinkedHashSet<TaskSpec> out = new LinkedHashSet<>();
        for (String part : list.split(",")) {
            String p = part.strip();
            if (p.isEmpty()) continue;
            if (p.startsWith("mc:")) {
                if (p.length() == 3) throw new T2rException("--tasks: mc needs a task file: mc:FILE");
                out.add(new TaskSpec(Kind.MC, Path.of(p.substring(3))));
                continue;
            }
            Kind kind = switch (p) {
                case "lm" -> Kind.LM;
                case "recall" -> Kind.RECALL;
                case "passkey" -> Kind.PASSKEY;
                case "speed" -> Kind.SPEED;
                case "niah_single" -> Kind.NIAH_SINGLE;
                case "niah_multikey" -> Kind.NIAH_MULTIKEY;
                case "niah_multivalue" -> Kind.NIAH_MULTIVALUE;
                case "vt" -> Kind.VT;
                case "mc" -> throw new T2rException("--tasks: mc needs a task file: mc:FILE");
                default -> throw new T2rException("--tasks: unknown task '" + p + "' (known: lm, recall, passkey, mc:FILE, speed, "
                        + "niah_single, niah_multikey, niah_multivalue, vt; lm-evaluation-harness's: "
                        + gsat2r.eval.harness.HarnessTasks.KNOWN + ")");
            };
            out.add(of(kind));
        }
        if (out.isEmpty()) throw new T2rException("--tasks: no task given (known: lm, recall, passkey, mc:FILE, speed, niah_single, "
                + "niah_multikey, niah_multivalue, vt)");
        return new ArrayList<>(out);
    }

    /** {@code lm}, {@code recall}, …, {@code mc-<file name>-<8 hex digits of its path>}. */
    public String key() {
        if (kind != Kind.MC) return kind.name().toLowerCase(java.util.Locale.ROOT);
        String name = file.getFileName().toString().replaceAll("\\.jsonl$", "").replaceAll("[^A-Za-z0-9._-]", "_");
        return "mc-" + name + "-" + String.format("%08x", file.toAbsolutePath().normalize().toString().hashCode());
    }

    @Override
    public String toString() {
        return kind == Kind.MC ? "mc:" + file : key();
    }
}
