package gsat2r.export.samediff;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.config.GsaConfig;
import gsat2r.core.export.Exporter;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.model.ModelDirectory;
import gsat2r.core.model.ModelFingerprint;
import gsat2r.core.model.gsa.GsaModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * {@code t2r export --format samediff}: writes a GSA student's decode step as a SameDiff graph
 * ({@link StepGraph}; ND4J {@code SameDiff.save} format, loadable with {@code SameDiff.load(file, false)})
 * and, beside it, {@code FILE.json}: the inputs, outputs and state shapes, the vocabulary, BOS/EOS ids and
 * the model's fingerprint. Both are written atomically.
 */
public final class SameDiffExporter implements Exporter {

    @Override
    public String format() {
        return "samediff";
    }

    @Override
    public String export(Request r, Consumer<String> notes) {
        Path manifest = r.out().resolveSibling(r.out().getFileName() + ".json");
        for (Path p : new Path[] {r.out(), manifest}) {
            if (Files.isDirectory(p)) throw new T2rException(p + ": is a directory; --out names the graph file to write (e.g. student.sd)");
            if (Files.exists(p) && !r.force()) throw new T2rException(p + ": exists (use --force to replace it)");
        }
        ModelDirectory dir = ModelDirectory.open(r.modelDir());
        if (!dir.isStudent()) {
            throw new T2rException(r.modelDir() + ": not a GSA student (model_type is not \"gsa\"); only students have a "
                    + "recurrent decode step to export");
        }
        GsaModel model = GsaModel.load(dir);
        GsaConfig c = model.config();
        if (c.shortConv() > 0) {
            throw new T2rException(r.modelDir() + ": short convolutions (use_short_conv) have no decode step to export yet");
        }
        int maxContext = r.maxContext() > 0 ? r.maxContext() : c.maxPositionEmbeddings();
        notes.accept("building the decode step of " + c.describe());
        StepGraph graph = StepGraph.build(model, maxContext);

        Path parent = r.out().toAbsolutePath().getParent();
        if (parent != null) AtomicFiles.createDirectories(parent);
        Path temp = AtomicFiles.tempSibling(r.out(), "tmp");
        AtomicFiles.deleteOnShutdown(temp);
        try {
            graph.sameDiff().save(temp.toFile(), false);
            AtomicFiles.moveAtomically(temp, r.out());
        } catch (IOException | RuntimeException e) {
            throw new T2rException(r.out() + ": cannot write the graph (" + AtomicFiles.oneLine(e) + ")", e);
        } finally {
            AtomicFiles.keepOnShutdown(temp);
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // hidden temp sibling; nothing better to do
            }
        }
        AtomicFiles.writeString(manifest, manifest(model, graph, maxContext));
        long stateBytes = 0;
        for (StepGraph.StateTensor s : graph.states()) {
            long n = 4;
            for (long dim : s.shape()) n *= dim;
            stateBytes += n;
        }
        long size;
        try {
            size = Files.size(r.out());
        } catch (IOException e) {
            size = -1;
        }
        return String.format(Locale.ROOT, "wrote %s (%.1f MiB, SameDiff) and %s: decode step of %d layers (%s), "
                        + "state %,d bytes in %d tensors", r.out(), size / 1048576.0, manifest.getFileName(),
                c.numHiddenLayers(), c.layerPlan(), stateBytes, graph.states().size());
    }

    private static String manifest(GsaModel model, StepGraph graph, int maxContext) {
        GsaConfig c = model.config();
        JsonMapper json = Json.COMPACT;
        ObjectNode m = json.createObjectNode();
        m.put("format", "t2r samediff decode step");
        m.put("version", 1);
        m.put("load", "SameDiff.load(file, false)");
        ObjectNode inputs = m.putObject("inputs");
        inputs.putObject(StepGraph.TOKEN).put("dtype", "int32").putArray("shape").add(1);
        if (!c.attn().isEmpty()) {
            inputs.putObject(StepGraph.POSITION).put("dtype", "int32").put("note", "0-based position of the token")
                    .putArray("shape").add(1);
        }
        ObjectNode outputs = m.putObject("outputs");
        outputs.putObject(StepGraph.LOGITS).put("dtype", "float32").putArray("shape").add(1).add(c.vocabSize());
        ArrayNode states = m.putArray("states");
        for (StepGraph.StateTensor s : graph.states()) {
            ObjectNode o = states.addObject().put("input", s.input()).put("output", s.output()).put("dtype", "float32")
                    .put("initial", "zeros");
            ArrayNode shape = o.putArray("shape");
            for (long dim : s.shape()) shape.add(dim);
        }
        if (!c.attn().isEmpty()) m.put("max_context", maxContext);
        m.put("vocab_size", c.vocabSize());
        ArrayNode bos = m.putArray("bos_token_id"), eos = m.putArray("eos_token_id");
        c.bosTokenIds().forEach(bos::add);
        c.eosTokenIds().forEach(eos::add);
        ModelFingerprint f = model.fingerprint();
        m.putObject("model").put("kind", f.kind()).put("config_sha256", f.configSha256()).put("weights_sha256", f.weightsSha256());
        return m.toPrettyString() + "\n";
    }
}
