package gsat2r.cli;

import gsat2r.core.T2rException;
import gsat2r.core.gsa.GsaState;
import gsat2r.core.model.DecoderState;
import gsat2r.core.state.StateFile;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What {@code t2r inspect FILE} reports about a decoding-state file ({@code generate --save-state}):
 * read whole and checked (magic, version, sizes, CRC32C) by {@link StateFile#read}.
 */
record StateSummary(String file, long bytes, int formatVersion, String modelKind, String configSha256,
                    String weightsSha256, int position, int[] firstTokens, int[] lastTokens, List<String> layers,
                    long stateBytes, Integer topNextToken, Float topNextLogit, String createdBy) {

    static StateSummary read(Path file) {
        StateFile.Contents c = StateFile.read(file);
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read its size: " + ErrorMessages.oneLine(e), e);
        }
        int[] t = c.tokens();
        List<String> layers = new ArrayList<>();
        for (DecoderState.LayerState s : c.state().layers()) {
            layers.add(switch (s) {
                case DecoderState.Recurrent r -> {
                    GsaState g = r.state();
                    yield "layer " + r.layer() + ": GSA, Hk [" + g.kvHeads() + ", " + g.keyDim() + ", " + g.slots() + "] + Hv ["
                            + g.kvHeads() + ", " + g.slots() + ", " + g.valueDim() + "] fp32";
                }
                case DecoderState.KeyValue kv -> "layer " + kv.layer() + ": attention, keys and values of the last "
                        + kv.rows() + " positions, rows of " + kv.rowWidth() + " fp32";
            });
        }
        Integer top = null;
        Float topLogit = null;
        if (c.logits() != null) {
            int best = 0;
            for (int i = 1; i < c.logits().length; i++) if (c.logits()[i] > c.logits()[best]) best = i;
            top = best;
            topLogit = c.logits()[best];
        }
        return new StateSummary(file.toString(), size, StateFile.VERSION, c.model().kind(), c.model().configSha256(),
                c.model().weightsSha256(), t.length, Arrays.copyOf(t, Math.min(8, t.length)),
                Arrays.copyOfRange(t, Math.max(Math.min(8, t.length), t.length - 8), t.length), layers,
                c.state().bytes(), top, topLogit, c.createdBy());
    }

    void print(PrintWriter out) {
        row(out, "state file", file + " (" + String.format(Locale.ROOT, "%,d", bytes) + " bytes, format " + formatVersion
                + ", CRC32C ok)");
        row(out, "model", modelKind + " (as hashed: config sha256 " + configSha256 + ", weights sha256 " + weightsSha256 + ")");
        row(out, "position", position + " tokens consumed");
        if (position > 0) {
            String ids = join(firstTokens) + (lastTokens.length > 0 ? (position > 16 ? ", ..., " : ", ") + join(lastTokens) : "");
            row(out, "tokens", ids);
        }
        row(out, "layers", layers.size() + ", " + String.format(Locale.ROOT, "%,d", stateBytes) + " bytes of state");
        for (String l : layers) row(out, "", l);
        if (topNextToken != null) row(out, "next token", "most likely id " + topNextToken + " (logit " + topNextLogit + ")");
        if (createdBy != null) row(out, "created by", createdBy);
    }

    private static String join(int[] ids) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) b.append(b.isEmpty() ? "" : ", ").append(id);
        return b.toString();
    }

    private static void row(PrintWriter out, String key, String value) {
        out.printf(Locale.ROOT, "%-16s %s%n", key, value);
    }
}
