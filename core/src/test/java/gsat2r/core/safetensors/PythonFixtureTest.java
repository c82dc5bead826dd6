package gsat2r.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A file written by an independent (numpy) writer, {@code scripts/make-safetensors-fixture.py},
 * read back exactly; its bf16/f16 values also check our narrowing against numpy's.
 */
class PythonFixtureTest {

    static Path resource(String name) {
        try {
            return Path.of(PythonFixtureTest.class.getResource("python/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void readsTheNumpyWrittenFileExactly() throws Exception {
        JsonNode expected = SafeTensors.JSON.readTree(resource("expected.json").toFile());
        try (SafeTensors st = SafeTensors.open(resource("numpy-writer.safetensors"))) {
            checkTensors(st, expected.get("tensors"), null);
            Map<String, String> meta = new java.util.LinkedHashMap<>();
            expected.get("metadata").properties().forEach(e -> meta.put(e.getKey(), e.getValue().asText()));
            assertEquals(meta, st.metadata());
        }
    }

    @Test
    void readsTheNumpyWrittenShardedCheckpoint() throws Exception {
        JsonNode expected = SafeTensors.JSON.readTree(resource("expected.json").toFile());
        try (SafeTensors st = SafeTensors.open(resource("sharded"))) {
            assertEquals(2, st.files().size());
            assertEquals(6, st.tensors().size());
            checkTensors(st, expected.get("tensors"), st.tensors().keySet());
        }
    }

    private static void checkTensors(SafeTensors st, JsonNode tensors, java.util.Set<String> only) {
        int checked = 0;
        for (var e : tensors.properties()) {
            String name = e.getKey();
            if (only != null && !only.contains(name)) continue;
            JsonNode t = e.getValue();
            TensorInfo info = st.info(name);
            assertEquals(t.get("dtype").asText(), info.dtype().headerName(), name);
            long[] shape = new long[t.get("shape").size()];
            for (int i = 0; i < shape.length; i++) shape[i] = t.get("shape").get(i).asLong();
            assertArrayEquals(shape, info.shape(), name);
            assertArrayEquals(HexFormat.of().parseHex(t.get("hex").asText()), st.bytes(name).toArray(ValueLayout.JAVA_BYTE), name);
            JsonNode values = t.get("values");
            if (info.dtype().isFloating()) {
                double[] d = st.doubles(name);
                float[] f = st.floats(name);
                assertEquals(values.size(), d.length, name);
                for (int i = 0; i < d.length; i++) {
                    double want = value(values.get(i));
                    assertEquals(want, d[i], 0.0, name + "[" + i + "]");
                    if (info.dtype() != DType.F64) assertEquals((float) want, f[i], 0f, name + "[" + i + "] as float");
                }
            } else {
                long[] l = st.longs(name);
                assertEquals(values.size(), l.length, name);
                for (int i = 0; i < l.length; i++) assertEquals(values.get(i).asLong(), l[i], name + "[" + i + "]");
            }
            // numpy rounded these from float32 sources; our converters must give the same bits.
            if (t.has("source_f32_bits")) {
                var raw = st.bytes(name);
                JsonNode src = t.get("source_f32_bits");
                for (int i = 0; i < src.size(); i++) {
                    float source = Float.intBitsToFloat((int) src.get(i).asLong());
                    short ours = info.dtype() == DType.BF16 ? Floats.toBF16(source) : Floats.toF16(source);
                    assertEquals(raw.get(Floats.LE_SHORT, 2L * i), ours, name + "[" + i + "] from " + source);
                }
            }
            checked++;
        }
        assertTrue(checked >= 6, "checked " + checked);
    }

    private static double value(JsonNode v) {
        if (v.isTextual()) {
            return switch (v.asText()) {
                case "nan" -> Double.NaN;
                case "inf" -> Double.POSITIVE_INFINITY;
                case "-inf" -> Double.NEGATIVE_INFINITY;
                default -> throw new AssertionError("bad value " + v);
            };
        }
        return v.asDouble();
    }
}
