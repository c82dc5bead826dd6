package gsat2r.core.data;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.T2rException;
import gsat2r.core.io.AtomicDirectory;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.io.Json;
import gsat2r.core.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Tokenizes text documents into a {@link PreparedDataset} ({@code t2r data prepare}).
 *
 * <p>Every document becomes {@code tokenizer.encode(text)} (so BOS where the tokenizer's post-processor
 * adds it) followed by the tokenizer's first EOS id (unless the encoding already ends with it; no EOS is
 * added when the tokenizer defines none). Empty documents are skipped. Documents are written in input
 * order; with {@code validationFraction f > 0}, a document of the training inputs goes to the
 * validation split when the first 8 bytes of the SHA-256 of its UTF-8 text, read as an unsigned number,
 * fall below {@code f · 2^64}: the choice depends on the text alone, so duplicates always land in the
 * same split and adding inputs never moves a document. Documents of the validation inputs always go to
 * the validation split. The output depends only on the inputs and the options: the same command gives
 * the same bytes. It is written through an {@link AtomicDirectory}: complete, or not there at all.
 *
 * <p>Tokenization runs on all cores, a block of documents at a time; results are written in order.
 */
public final class DataPreparer {

    /** Options of one preparation. {@code shardTokens}: a shard is closed once it holds at least this many tokens. */
    public record Request(Path tokenizer, List<Path> trainInputs, List<Path> validationInputs, String textField,
                          double validationFraction, long shardTokens, Path out, boolean replace) {
        public Request {
            trainInputs = List.copyOf(trainInputs);
            validationInputs = List.copyOf(validationInputs);
            if (!(validationFraction >= 0 && validationFraction < 1)) {
                throw new T2rException("--validation-fraction must be in [0, 1), got " + validationFraction);
            }
            if (shardTokens <= 0) throw new T2rException("--shard-tokens must be positive, got " + shardTokens);
            if (trainInputs.isEmpty() && validationInputs.isEmpty()) throw new T2rException("no input files");
        }
    }

    /** Progress so far: documents and tokens written, seconds since the start, the file being read. */
    public record Progress(long documents, long tokens, double seconds, Path file, boolean done) {}

    /** What was written. */
    public record Summary(Path dir, long trainDocuments, long trainTokens, long validationDocuments, long validationTokens,
                          long skippedEmpty, double seconds) {}

    public interface Listener {
        void progress(Progress p);
    }

    public static final long DEFAULT_SHARD_TOKENS = 1L << 28;
    private static final int BLOCK_DOCUMENTS = 256;
    private static final int BLOCK_CHARS = 4 << 20;
    private static final JsonMapper JSON = Json.PRETTY;

    private DataPreparer() {}

    public static Summary prepare(Request r, Listener listener) {
        List<Path> all = new ArrayList<>(r.trainInputs());
        all.addAll(r.validationInputs());
        TextInputs.check(all);
        for (Path in : all) {
            if (!TextInputs.isStdin(in) && AtomicFiles.isWithin(in, r.out())) {
                throw new T2rException(r.out() + ": holds the input " + in + "; write the dataset somewhere else");
            }
        }
        long t0 = System.nanoTime();
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        try (Tokenizer tokenizer = Tokenizer.load(r.tokenizer());
             AtomicDirectory out = AtomicDirectory.create(r.out(), r.replace(), PreparedDataset.KIND);
             ExecutorService pool = Executors.newFixedThreadPool(threads, runnable -> {
                 Thread t = new Thread(runnable, "t2r-tokenize");
                 t.setDaemon(true);
                 return t;
             })) {
            byte[] tokenizerSha = PreparedDataset.sha256(tokenizerFile(r.tokenizer()));
            int vocab = tokenizer.vocabSize();
            int[] eos = tokenizer.eosIds();
            Integer eosId = eos.length > 0 ? eos[0] : null;
            if (eosId == null && tokenizer.bosId().isEmpty()) {
                throw new T2rException(tokenizerFile(r.tokenizer()) + ": defines neither BOS nor EOS; documents could not be told apart in the packed stream");
            }
            SplitWriter train = new SplitWriter(out.path(), PreparedDataset.TRAIN, vocab, tokenizerSha, r.shardTokens());
            SplitWriter validation = new SplitWriter(out.path(), PreparedDataset.VALIDATION, vocab, tokenizerSha, r.shardTokens());
            Run run = new Run(tokenizer, eosId, pool, threads, listener, t0, r.validationFraction());
            for (Path in : r.trainInputs()) run.file(in, r.textField(), train, validation);
            long fromTrainInputs = run.documents, skippedInTrainInputs = run.skippedEmpty;
            for (Path in : r.validationInputs()) run.file(in, r.textField(), validation, validation);
            train.finish();
            validation.finish();
            if (train.documents == 0) throw new T2rException(noText(r.trainInputs(), fromTrainInputs, skippedInTrainInputs));
            ObjectNode manifest = manifest(r, tokenizer, tokenizerSha, eosId, train, validation, run.skippedEmpty);
            AtomicFiles.write(out.path().resolve(PreparedDataset.MANIFEST), (JSON.writeValueAsString(manifest) + "\n").getBytes(StandardCharsets.UTF_8));
            Path dir = out.commit();
            double seconds = (System.nanoTime() - t0) / 1e9;
            listener.progress(new Progress(run.documents, run.tokens, seconds, null, true));
            return new Summary(dir, train.documents, train.tokens, validation.documents, validation.tokens, run.skippedEmpty, seconds);
        } catch (IOException e) {
            throw new T2rException(r.out() + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /** The one line for training inputs that leave no document to train on. */
    static String noText(List<Path> inputs, long documents, long skippedEmpty) {
        String names = String.join(", ", inputs.stream().map(p -> TextInputs.isStdin(p) ? "- (standard input)" : p.toString()).toList());
        if (documents > 0) {
            return names + ": every one of the " + documents + " documents went to the validation split; give more text or a smaller "
                    + "--validation-fraction";
        }
        return names + ": no text to train on" + (inputs.size() > 1 ? " in any of them" : "")
                + (skippedEmpty > 0 ? " (" + skippedEmpty + " empty documents skipped)" : "");
    }

    private static Path tokenizerFile(Path tokenizer) {
        return Files.isDirectory(tokenizer) ? tokenizer.resolve("tokenizer.json") : tokenizer;
    }

    /** Reading, tokenizing in blocks, and routing documents to the splits. */
    private static final class Run {
        final Tokenizer tokenizer;
        final Integer eosId;
        final ExecutorService pool;
        final int threads;
        final Listener listener;
        final long t0;
        final long validationThreshold;       // unsigned: validation when hash < threshold
        final boolean anyValidation;
        final List<String> block = new ArrayList<>();
        int blockChars;
        long documents, tokens, skippedEmpty;
        Path currentFile;

        Run(Tokenizer tokenizer, Integer eosId, ExecutorService pool, int threads, Listener listener, long t0, double fraction) {
            this.tokenizer = tokenizer;
            this.eosId = eosId;
            this.pool = pool;
            this.threads = threads;
            this.listener = listener;
            this.t0 = t0;
            this.anyValidation = fraction > 0;
            // fraction · 2^64 as an unsigned long (fraction < 1, so it fits).
            this.validationThreshold = fraction <= 0 ? 0 : new java.math.BigDecimal(fraction)
                    .multiply(new java.math.BigDecimal(java.math.BigInteger.ONE.shiftLeft(64))).toBigInteger().longValue();
        }

        void file(Path in, String textField, SplitWriter main, SplitWriter held) {
            currentFile = in;
            TextInputs.read(in, textField, doc -> {
                if (doc.text().isEmpty()) {
                    skippedEmpty++;
                    return;
                }
                block.add(doc.text());
                blockChars += doc.text().length();
                if (block.size() >= BLOCK_DOCUMENTS || blockChars >= BLOCK_CHARS) flush(main, held);
            });
            flush(main, held);
        }

        void flush(SplitWriter main, SplitWriter held) {
            if (block.isEmpty()) return;
            List<String> texts = List.copyOf(block);
            block.clear();
            blockChars = 0;
            int[][] encoded = new int[texts.size()][];
            List<Future<?>> parts = new ArrayList<>();
            int per = (texts.size() + threads - 1) / threads;
            for (int start = 0; start < texts.size(); start += per) {
                int s = start, e = Math.min(texts.size(), start + per);
                parts.add(pool.submit(() -> {
                    for (int i = s; i < e; i++) encoded[i] = withEos(tokenizer.encode(texts.get(i)));
                }));
            }
            for (Future<?> f : parts) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    throw new T2rException(currentFile + ": tokenization failed (" + e.getCause() + ")", e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new T2rException("interrupted", e);
                }
            }
            for (int i = 0; i < texts.size(); i++) {
                SplitWriter to = main;
                if (anyValidation && main != held && Long.compareUnsigned(textHash(texts.get(i)), validationThreshold) < 0) to = held;
                to.append(encoded[i]);
                documents++;
                tokens += encoded[i].length;
            }
            listener.progress(new Progress(documents, tokens, (System.nanoTime() - t0) / 1e9, currentFile, false));
        }

        int[] withEos(int[] ids) {
            if (eosId == null || (ids.length > 0 && ids[ids.length - 1] == eosId)) return ids;
            int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
            out[ids.length] = eosId;
            return out;
        }
    }

    /** The first 8 bytes of SHA-256(UTF-8 text), big-endian, as an unsigned 64-bit number. */
    static long textHash(String text) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            long h = 0;
            for (int i = 0; i < 8; i++) h = (h << 8) | (d[i] & 0xFF);
            return h;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The shards of one split, rolled over at document borders once a shard reaches the size limit. */
    private static final class SplitWriter {
        final Path dir;
        final String name;
        final int vocab;
        final byte[] sha;
        final long shardTokens;
        final List<ObjectNode> shards = new ArrayList<>();
        TokenShardWriter current;
        String currentName;
        long documents, tokens;

        SplitWriter(Path dir, String name, int vocab, byte[] sha, long shardTokens) {
            this.dir = dir;
            this.name = name;
            this.vocab = vocab;
            this.sha = sha;
            this.shardTokens = shardTokens;
        }

        void append(int[] ids) {
            if (current == null) {
                currentName = String.format("%s-%05d.tokens", name, shards.size());
                current = TokenShardWriter.create(dir.resolve(currentName), vocab, sha);
            }
            current.append(ids);
            documents++;
            tokens += ids.length;
            if (current.tokens() >= shardTokens) closeShard();
        }

        void finish() {
            if (current != null) closeShard();
        }

        private void closeShard() {
            TokenShard.Header h = current.finish();
            ObjectNode s = JSON.createObjectNode();
            s.put("file", currentName);
            s.put("documents", h.documents());
            s.put("tokens", h.tokens());
            shards.add(s);
            current = null;
        }

        ObjectNode describe() {
            ObjectNode n = JSON.createObjectNode();
            n.put("documents", documents);
            n.put("tokens", tokens);
            ArrayNode a = n.putArray("shards");
            shards.forEach(a::add);
            return n;
        }
    }

    /** An input's name, split and size as stored (null for standard input, whose size is not known up front). */
    private static void describeInput(ObjectNode o, Path in, String split) throws IOException {
        o.put("file", in.toString()).put("split", split);
        if (TextInputs.isStdin(in) || !Files.isRegularFile(in)) o.putNull("bytes");
        else o.put("bytes", Files.size(in));
    }

    private static ObjectNode manifest(Request r, Tokenizer tokenizer, byte[] sha, Integer eosId, SplitWriter train,
                                       SplitWriter validation, long skippedEmpty) throws IOException {
        ObjectNode m = JSON.createObjectNode();
        m.put("format", PreparedDataset.FORMAT);
        m.put("version", PreparedDataset.VERSION);
        ObjectNode t = m.putObject("tokenizer");
        t.put("sha256", HexFormat.of().formatHex(sha));
        t.put("vocab_size", tokenizer.vocabSize());
        if (tokenizer.bosId().isPresent()) t.put("bos_id", tokenizer.bosId().getAsInt());
        else t.putNull("bos_id");
        if (eosId != null) t.put("eos_id", eosId);
        else t.putNull("eos_id");
        m.put("token_bytes", TokenShard.tokenBytesFor(tokenizer.vocabSize()));
        m.put("text_field", r.textField());
        m.put("validation_fraction", r.validationFraction());
        m.put("packing", "documents concatenated in input order, each encoded with the tokenizer's special tokens (BOS) and ended by EOS");
        ArrayNode inputs = m.putArray("inputs");
        for (Path in : r.trainInputs()) describeInput(inputs.addObject(), in, PreparedDataset.TRAIN);
        for (Path in : r.validationInputs()) describeInput(inputs.addObject(), in, PreparedDataset.VALIDATION);
        m.put("skipped_empty_documents", skippedEmpty);
        ObjectNode splits = m.putObject("splits");
        splits.set(PreparedDataset.TRAIN, train.describe());
        splits.set(PreparedDataset.VALIDATION, validation.describe());
        return m;
    }
}
