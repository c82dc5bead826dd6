package gsat2r.core.data;

import gsat2r.core.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import gsat2r.core.T2rException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A directory written by {@link DataPreparer} ({@code t2r data prepare}): {@code dataset.json} (the
 * manifest) and the token shards of each split ({@code train-00000.tokens}, ...,
 * {@code validation-00000.tokens}, ...). Opening it checks every shard against the manifest.
 */
public final class PreparedDataset implements AutoCloseable {

    public static final String MANIFEST = "dataset.json";
    /** What {@code t2r data prepare --force} may replace: a directory holding a manifest. */
    public static final gsat2r.core.io.OutputKind KIND = gsat2r.core.io.OutputKind.holding("prepared dataset", MANIFEST);
    public static final String FORMAT = "gsa-t2r token shards";
    public static final int VERSION = 1;
    public static final String TRAIN = "train";
    public static final String VALIDATION = "validation";

    private static final JsonMapper JSON = Json.COMPACT;

    private final Path dir;
    private final JsonNode manifest;
    private final String tokenizerHash;
    private final int vocabSize;
    private final Map<String, Split> splits;

    private PreparedDataset(Path dir, JsonNode manifest, String tokenizerHash, int vocabSize, Map<String, Split> splits) {
        this.dir = dir;
        this.manifest = manifest;
        this.tokenizerHash = tokenizerHash;
        this.vocabSize = vocabSize;
        this.splits = splits;
    }

    /** Whether {@code dir} looks like a prepared dataset (has a manifest). */
    public static boolean isPrepared(Path dir) {
        return Files.isRegularFile(dir.resolve(MANIFEST));
    }

    public static PreparedDataset open(Path dir) {
        Path file = dir.resolve(MANIFEST);
        JsonNode m;
        try {
            m = JSON.readTree(file.toFile());
        } catch (IOException e) {
            if (!Files.exists(file)) {
                throw new T2rException(file + ": no such file (not a prepared dataset; make one with t2r data prepare)", e);
            }
            throw new T2rException(file + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
        if (!FORMAT.equals(m.path("format").asText()) || m.path("version").asInt(-1) != VERSION) {
            throw new T2rException(file + ": not a version-" + VERSION + " token dataset (format \"" + m.path("format").asText()
                    + "\", version " + m.path("version") + ")");
        }
        String hash = m.path("tokenizer").path("sha256").asText("");
        int vocab = m.path("tokenizer").path("vocab_size").asInt(0);
        Map<String, Split> splits = new LinkedHashMap<>();
        List<TokenShard> opened = new ArrayList<>();
        try {
            for (String name : List.of(TRAIN, VALIDATION)) {
                JsonNode s = m.path("splits").path(name);
                List<TokenShard> shards = new ArrayList<>();
                for (JsonNode sh : s.path("shards")) {
                    Path f = dir.resolve(sh.path("file").asText());
                    TokenShard shard = TokenShard.open(f);
                    opened.add(shard);
                    if (!shard.header().tokenizerHash().equals(hash)) {
                        throw new T2rException(f + ": made with another tokenizer than " + file + " says");
                    }
                    if (shard.tokens() != sh.path("tokens").asLong(-1) || shard.documents() != sh.path("documents").asLong(-1)) {
                        throw new T2rException(f + ": holds " + shard.tokens() + " tokens / " + shard.documents()
                                + " documents, but " + file + " says " + sh.path("tokens") + " / " + sh.path("documents"));
                    }
                    shards.add(shard);
                }
                splits.put(name, new Split(name, shards));
            }
        } catch (RuntimeException e) {
            opened.forEach(TokenShard::close);
            throw e;
        }
        return new PreparedDataset(dir, m, hash, vocab, splits);
    }

    public Path dir() {
        return dir;
    }

    /** The parsed {@code dataset.json}. */
    public JsonNode manifest() {
        return manifest;
    }

    /** Hex SHA-256 of the tokenizer.json the tokens were made with. */
    public String tokenizerHash() {
        return tokenizerHash;
    }

    public int vocabSize() {
        return vocabSize;
    }

    public Split train() {
        return splits.get(TRAIN);
    }

    public Split validation() {
        return splits.get(VALIDATION);
    }

    @Override
    public void close() {
        for (Split s : splits.values()) s.shards().forEach(TokenShard::close);
    }

    /** Hex SHA-256 of {@code tokenizer.json} in a model directory (or of the file itself). */
    public static String tokenizerHash(Path dirOrFile) {
        Path file = Files.isDirectory(dirOrFile) ? dirOrFile.resolve("tokenizer.json") : dirOrFile;
        return HexFormat.of().formatHex(sha256(file));
    }

    static byte[] sha256(Path file) {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return ((DigestInputStream) in).getMessageDigest().digest();
        } catch (NoSuchFileException e) {
            throw new T2rException(file + ": no such file", e);
        } catch (IOException e) {
            throw new T2rException(file + ": cannot read (" + e.getMessage() + ")", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The documents of one split as one stream of tokens: the shards one after another (a shard holds
     * whole documents, so a shard border is a document border).
     */
    public static final class Split {
        private final String name;
        private final List<TokenShard> shards;
        private final long[] starts;          // token offset of each shard in the stream, and the total last
        private final long documents;

        Split(String name, List<TokenShard> shards) {
            this.name = name;
            this.shards = List.copyOf(shards);
            this.starts = new long[shards.size() + 1];
            long docs = 0;
            for (int i = 0; i < shards.size(); i++) {
                starts[i + 1] = starts[i] + shards.get(i).tokens();
                docs += shards.get(i).documents();
            }
            this.documents = docs;
        }

        public String name() {
            return name;
        }

        public List<TokenShard> shards() {
            return shards;
        }

        public long tokens() {
            return starts[starts.length - 1];
        }

        public long documents() {
            return documents;
        }

        /** Copies tokens {@code [start, start + count)} of the stream into {@code dst[off ..]}. */
        public void read(long start, int[] dst, int off, int count) {
            if (start < 0 || count < 0 || start + count > tokens()) {
                throw new IndexOutOfBoundsException(name + ": tokens [" + start + ", " + (start + count) + ") of " + tokens());
            }
            int s = shardOf(start);
            while (count > 0) {
                long inShard = start - starts[s];
                int n = (int) Math.min(count, shards.get(s).tokens() - inShard);
                shards.get(s).read(inShard, dst, off, n);
                start += n;
                off += n;
                count -= n;
                s++;
            }
        }

        /** The shard holding stream position {@code pos} (empty shards are skipped). */
        private int shardOf(long pos) {
            int lo = 0, hi = shards.size() - 1;
            while (lo < hi) {                      // last shard whose start is <= pos and that is not empty
                int mid = (lo + hi + 1) >>> 1;
                if (starts[mid] <= pos) lo = mid;
                else hi = mid - 1;
            }
            while (lo < shards.size() - 1 && starts[lo + 1] <= pos) lo++;
            return lo;
        }
    }
}
