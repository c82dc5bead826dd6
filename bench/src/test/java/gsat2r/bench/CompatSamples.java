package gsat2r.bench;

import gsat2r.core.safetensors.DType;
import gsat2r.core.safetensors.HeapTensor;
import gsat2r.core.safetensors.SafeTensorsWriter;
import gsat2r.core.safetensors.SafeTensorsWriterTest;
import gsat2r.core.safetensors.ShardedSafeTensorsWriter;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import gsat2r.core.io.AtomicFiles;
import gsat2r.core.io.PythonJson;

import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes sample files for {@code scripts/check-safetensors-compat.py} (run where torch,
 * safetensors and transformers are installed): every dtype incl. scalars and empty tensors, a
 * sharded checkpoint, and two random Llama checkpoints, plus {@code expected.json} with the raw
 * bytes of every tensor of the first two.
 *
 * <pre>java -cp core/target/classes:core/target/test-classes:DEPS gsat2r.core.safetensors.CompatSamples OUT_DIR
 * python3 scripts/check-safetensors-compat.py --expect OUT_DIR/expected.json --transformers OUT_DIR/*</pre>
 */
public final class CompatSamples {
    private CompatSamples() {}

    public static void main(String[] args) {
        Path out = Path.of(args.length > 0 ? args[0] : "compat-samples");
        SplittableRandom rnd = new SplittableRandom(2024);
        ObjectNode expected = JsonNodeFactory.instance.objectNode();
        ObjectNode tensors = expected.putObject("tensors");

        Map<String, HeapTensor> all = new LinkedHashMap<>();
        for (DType t : DType.values()) {
            all.put(t + ".matrix", SafeTensorsWriterTest.randomTensor(rnd, t, 3, 5));
            all.put(t + ".scalar", SafeTensorsWriterTest.randomTensor(rnd, t));
            all.put(t + ".empty", SafeTensorsWriterTest.randomTensor(rnd, t, 2, 0));
        }
        float[] values = new float[64];
        for (int i = 0; i < values.length; i++) values[i] = (float) (rnd.nextGaussian() * 10);
        values[0] = Float.NaN;
        values[1] = Float.NEGATIVE_INFINITY;
        values[2] = 3.4e38f;                                     // overflows bf16/f16 to inf
        for (DType t : new DType[]{DType.BF16, DType.F16, DType.F32, DType.F64}) {
            all.put("converted." + t, HeapTensor.of(t, values, 8, 8));
        }
        SafeTensorsWriter.write(out.resolve("all-dtypes.safetensors"), all, Map.of("writer", "gsa-t2r"));
        all.forEach((name, t) -> describe(tensors, name, t));

        Map<String, HeapTensor> sharded = new LinkedHashMap<>();
        for (int i = 0; i < 12; i++) {
            DType t = i % 3 == 0 ? DType.BF16 : i % 3 == 1 ? DType.F32 : DType.I64;
            sharded.put("layers." + i + ".w", SafeTensorsWriterTest.randomTensor(rnd, t, 16, 1 + i));
        }
        ShardedSafeTensorsWriter.write(out.resolve("sharded"), sharded, 1500);
        sharded.forEach((name, t) -> describe(tensors, name, t));
        AtomicFiles.writeString(out.resolve("expected.json"), PythonJson.dumps(expected) + "\n");

        var shape = new RandomCheckpoint.LlamaShape(128, 2, 4, 2, 32, 320, 512, false);
        RandomCheckpoint.write(out.resolve("llama-tiny-bf16"), shape,
                RandomCheckpoint.Options.defaults().withMaxShardBytes(300_000).withSeed(1), true);
        var tied = new RandomCheckpoint.LlamaShape(96, 1, 3, 1, 32, 256, 300, true);
        RandomCheckpoint.write(out.resolve("llama-tiny-tied-f32"), tied,
                RandomCheckpoint.Options.defaults().withDtype(DType.F32).withSeed(2), true);
        System.out.println("wrote " + out.toAbsolutePath());
    }

    private static void describe(ObjectNode tensors, String name, HeapTensor t) {
        ObjectNode e = tensors.putObject(name);
        e.put("dtype", t.dtype().headerName());
        var shape = e.putArray("shape");
        for (long d : t.shape()) shape.add(d);
        e.put("hex", HexFormat.of().formatHex(t.toByteArray()));
    }
}
