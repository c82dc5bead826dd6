package gsat2r.core.safetensors;

import gsat2r.core.T2rException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each way a checkpoint can be broken gives one T2rException whose message names the file and the problem. */
class SafeTensorsMalformedTest {

    @TempDir
    Path tmp;

    private static final String T = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    // ---------------------------------------------------------------- the length field

    @Test
    void tooShortFile() throws IOException {
        expectError(write("short.safetensors", new byte[]{1, 2, 3}), "too short");
        expectError(write("empty.safetensors", new byte[0]), "too short");
    }

    @Test
    void hugeHeaderLength() throws IOException {
        expectError(write("huge.safetensors", raw(1L << 40, "{}", 0)), "header length 1099511627776 is not plausible");
        expectError(write("negative.safetensors", raw(-1, "{}", 0)), "header length 18446744073709551615 is not plausible");
        expectError(write("zero.safetensors", raw(0, "{}", 0)), "header length 0 is not plausible");
    }

    @Test
    void headerLengthPastEndOfFile() throws IOException {
        expectError(write("past.safetensors", raw(1000, "{}", 0)), "header length 1000 runs past the end of the file (10 bytes)");
    }

    // ---------------------------------------------------------------- the JSON

    @Test
    void badJson() throws IOException {
        expectError(file("badjson", "{\"t\":{\"dtype\":", 0), "header is not valid JSON");
        expectError(file("trailing", "{} x", 0), "header is not valid JSON");
        expectError(file("comment", "{/* c */}", 0), "header is not valid JSON");
        expectError(file("nan", "{\"t\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,0]}}", 0), "not valid JSON");
    }

    @Test
    void headerNotAnObject() throws IOException {
        expectError(file("array", "[1, 2, 3]", 0), "header is not a JSON object");
        expectError(file("string", "\"abc\"", 0), "header is not a JSON object");
    }

    @Test
    void duplicateKeys() throws IOException {
        expectError(file("dup", "{" + T + "," + T + "}", 8), "duplicate key 't'");
        expectError(file("dupmeta", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0), "duplicate key 'a'");
    }

    @Test
    void nonUtf8Header() throws IOException {
        byte[] header = "{\"t\u00ff\":{}}".getBytes(StandardCharsets.ISO_8859_1);     // 0xff alone is not UTF-8
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(le(header.length));
        b.writeBytes(header);
        expectError(write("latin1.safetensors", b.toByteArray()), "header is not valid UTF-8");
    }

    @Test
    void badMetadata() throws IOException {
        expectError(file("metaarray", "{\"__metadata__\":[1]}", 0), "__metadata__ is not an object");
        expectError(file("metanum", "{\"__metadata__\":{\"k\":1}}", 0), "__metadata__ value 'k' is not a string");
        // null metadata is what the reference writes for "none": accepted.
        try (SafeTensors st = SafeTensors.open(file("metanull", "{\"__metadata__\":null}", 0))) {
            assertTrue(st.metadata().isEmpty());
        }
    }

    // ---------------------------------------------------------------- tensor entries

    @Test
    void unknownDtype() throws IOException {
        expectError(file("dtype", "{\"t\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "tensor 't' has unknown dtype 'Q4'");
        expectError(file("nodtype", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 't' has no dtype");
    }

    @Test
    void negativeOrNonIntegerShape() throws IOException {
        expectError(file("neg", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "tensor 't' has a bad shape [-2]");
        expectError(file("frac", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8), "bad shape [2.5]");
        expectError(file("str", "{\"t\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8), "bad shape");
        expectError(file("big", "{\"t\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8), "bad shape");
        expectError(file("overflow", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8),
                "shape too large");
        expectError(file("noshape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "no shape array");
        expectError(file("entry", "{\"t\":[1]}", 0), "tensor 't' is not a JSON object");
    }

    @Test
    void badDataOffsets() throws IOException {
        expectError(file("offs1", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8), "bad data_offsets [0]");
        expectError(file("offs2", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8), "must be 0 <= begin <= end");
        expectError(file("offs3", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8), "bad data_offsets");
    }

    @Test
    void offsetsPastTheEndMeanATruncatedFile() throws IOException {
        expectError(file("trunc", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
                "tensor 't' data_offsets [0,16] run past the end of the file (data area 8 bytes)");
    }

    @Test
    void shapeTimesDtypeMustMatchTheByteRange() throws IOException {
        expectError(file("size", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
                "tensor 't' shape [3] x F32 needs 12 bytes but data_offsets [0,8] hold 8");
    }

    @Test
    void overlappingRanges() throws IOException {
        expectError(file("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "tensor 'b' overlaps tensor 'a'");
    }

    @Test
    void aHoleBetweenTensors() throws IOException {
        expectError(file("hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "4 unindexed bytes (a hole) before tensor 'b'");
        expectError(file("leading", "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
                "4 unindexed bytes (a hole) before tensor 'b'");
    }

    @Test
    void trailingUnindexedBytes() throws IOException {
        expectError(file("trailing-data", "{" + T + "}", 11), "3 bytes after the last tensor are not indexed");
        expectError(file("data-no-tensors", "{}", 1), "1 bytes after the last tensor are not indexed");
    }

    @Test
    void emptyTensorsMayShareAnOffset() throws IOException {
        Path f = file("empties", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,0],\"data_offsets\":[0,0]}," + T.replace("\"t\"", "\"c\"") + "}", 8);
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(3, st.tensors().size());
            assertEquals(0, st.floats("a").length);
        }
    }

    @Test
    void whitespacePaddingIsAccepted() throws IOException {
        try (SafeTensors st = SafeTensors.open(file("padded", "{" + T + "}  \n\t ", 8))) {
            assertArrayEquals(new float[]{0, 0}, st.floats("t"));
        }
    }

    // ---------------------------------------------------------------- sharded checkpoints

    @Test
    void indexWithMissingShard() throws IOException {
        Path dir = shardedCheckpoint("missing");
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        expectError(dir, dir.resolve("model-00002-of-00002.safetensors").toString(), "missing shard");
    }

    @Test
    void indexNamingATensorNotInItsShard() throws IOException {
        Path dir = shardedCheckpoint("wrongshard");
        Path index = dir.resolve(SafeTensors.INDEX_FILE);
        String good = Files.readString(index);
        Files.writeString(index, good.replace("00001-of", "0000X-of").replace("00002-of", "00001-of").replace("0000X-of", "00002-of"));
        expectError(dir, dir.resolve("model-00002-of-00002.safetensors").toString(),
                "tensor 'a' listed in model.safetensors.index.json is not in this shard (it is in model-00001-of-00002.safetensors)");
        Files.writeString(index, good.replace("\"b\": \"model-00002", "\"b\": \"model-00001"));
        expectError(dir, dir.resolve("model-00001-of-00002.safetensors").toString(),
                "tensor 'b' listed in model.safetensors.index.json is not in this shard");
        Files.writeString(index, good.replace("\"b\":", "\"nope\":"));
        expectError(dir, "model-00002-of-00002.safetensors", "tensor 'nope' listed in");
    }

    @Test
    void indexPathTraversal() throws IOException {
        Path dir = shardedCheckpoint("traversal");
        Path index = dir.resolve(SafeTensors.INDEX_FILE);
        String good = Files.readString(index);
        for (String evil : new String[]{"../x.safetensors", "/etc/passwd", "sub/x.safetensors", "..", "a\\\\b", "."}) {
            Files.writeString(index, good.replace("model-00002-of-00002.safetensors", evil));
            expectError(index, index.toString(), "which is not a file name in this directory");
        }
    }

    @Test
    void badIndexFiles() throws IOException {
        Path dir = shardedCheckpoint("badindex");
        Path index = dir.resolve(SafeTensors.INDEX_FILE);
        Files.writeString(index, "{\"weight_map\": ");
        expectError(dir, index.toString(), "not valid JSON");
        Files.writeString(index, "{\"metadata\": {}}");
        expectError(dir, index.toString(), "missing the \"weight_map\" object");
        Files.writeString(index, "{\"weight_map\": {}}");
        expectError(dir, index.toString(), "weight_map is empty");
        Files.writeString(index, "{\"weight_map\": {\"a\": 3}}");
        expectError(dir, index.toString(), "weight_map entry 'a' is not a file name");
    }

    @Test
    void aTensorInTwoShards() throws IOException {
        Path dir = tmp.resolve("twice");
        SafeTensorsWriter.write(dir.resolve("s1.safetensors"), Map.of("a", HeapTensor.f32(new float[1], 1)));
        SafeTensorsWriter.write(dir.resolve("s2.safetensors"), Map.of("a", HeapTensor.f32(new float[1], 1)));
        Files.writeString(dir.resolve(SafeTensors.INDEX_FILE), "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}");
        expectError(dir, dir.resolve("s2.safetensors").toString(), "tensor 'a' is also in");
    }

    @Test
    void missingPaths() {
        expectError(tmp.resolve("nothing.safetensors"), tmp.resolve("nothing.safetensors").toString(), "no such file");
        expectError(tmp, tmp.toString(), "no model.safetensors.index.json or model.safetensors in this directory");
    }

    @Test
    void unprintableNamesAreEscapedInMessages() throws IOException {
        Path f = file("ctrl", "{\"a\\nb\\u0007\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", 0);
        T2rException e = assertThrows(T2rException.class, () -> SafeTensors.open(f));
        assertTrue(e.getMessage().contains("tensor 'a\\u000ab\\u0007'"), e.getMessage());
        assertTrue(e.getMessage().lines().count() == 1);
    }

    // ---------------------------------------------------------------- helpers

    /** Opening {@code path} fails with one line that names the file and contains {@code problem}. */
    private void expectError(Path path, String problem) {
        expectError(path, path.toString(), problem);
    }

    private void expectError(Path path, String fileInMessage, String problem) {
        T2rException e = assertThrows(T2rException.class, () -> {
            try (SafeTensors st = SafeTensors.open(path)) {
                st.tensors();
            }
        }, "opening " + path);
        String m = e.getMessage();
        assertTrue(m.contains(fileInMessage), "message does not name " + fileInMessage + ": " + m);
        assertTrue(m.contains(problem), "message does not say '" + problem + "': " + m);
        assertEquals(1, m.lines().count(), "one line: " + m);
    }

    /** A file with header text {@code header} (its exact bytes, length field to match) and {@code dataBytes} zero bytes. */
    private Path file(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return write(name + ".safetensors", raw(h.length, header, dataBytes));
    }

    private static byte[] raw(long lengthField, String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(le(lengthField));
        b.writeBytes(h);
        b.writeBytes(new byte[dataBytes]);
        return b.toByteArray();
    }

    private static byte[] le(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** A valid two-shard checkpoint: a in shard 1, b in shard 2. */
    private Path shardedCheckpoint(String name) {
        Path dir = tmp.resolve(name);
        var tensors = new java.util.LinkedHashMap<String, HeapTensor>();
        tensors.put("a", HeapTensor.f32(new float[]{1, 2}, 2));
        tensors.put("b", HeapTensor.f32(new float[]{3, 4}, 2));
        ShardedSafeTensorsWriter.write(dir, tensors, 8);
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertEquals(2, st.files().size());
        }
        return dir;
    }
}
