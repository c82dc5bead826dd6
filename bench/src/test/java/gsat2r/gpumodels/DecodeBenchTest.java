package gsat2r.gpumodels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.gpu.ops.KernelTimes.Launch;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DecodeBenchTest {

    /** Two steps of a two-layer fused step: embedding, per layer in_proj, mixer, o_proj, gate_up, down; head. */
    private static List<Launch> twoSteps() {
        List<Launch> l = new ArrayList<>();
        for (int s = 0; s < 2; s++) {
            l.add(new Launch("embedding_fwd", 0.001));
            for (int layer = 0; layer < 2; layer++) {
                l.add(new Launch("decode_linear_rms_store_b8", 0.010));
                l.add(new Launch("gsa_decode_step_bf16", 0.020));
                l.add(new Launch("decode_linear_gate_add_b8", 0.004));
                l.add(new Launch("decode_linear_rms_swiglu_b8", 0.030));
                l.add(new Launch("decode_linear_plain_add_b8", 0.015));
            }
            l.add(new Launch("decode_linear_rms_store_b8", 0.005));
        }
        return l;
    }

    private static final List<String> ROLES = List.of("in_proj", "o_proj", "gate_up", "down", "in_proj", "o_proj", "gate_up", "down", "head");
    private static final List<Double> BYTES = List.of(1e6, 2e6, 3e6, 4e6, 1e6, 2e6, 3e6, 4e6, 10e6);

    @Test
    void linearKernelsAreSplitByRolePerStep() {
        List<String> lines = DecodeBench.breakdownLines("X", twoSteps(), 2, ROLES, BYTES);
        assertEquals(List.of("X kernel=embedding_fwd launches=1", "X kernel=decode_linear_rms_store_b8 role=in_proj launches=2",
                "X kernel=gsa_decode_step_bf16 launches=2", "X kernel=decode_linear_gate_add_b8 role=o_proj launches=2",
                "X kernel=decode_linear_rms_swiglu_b8 role=gate_up launches=2", "X kernel=decode_linear_plain_add_b8 role=down launches=2",
                "X kernel=decode_linear_rms_store_b8 role=head launches=1"),
                lines.stream().map(s -> s.substring(0, s.indexOf(" ms="))).toList());
        // in_proj: 2 launches of 0.010 ms a step reading 1 MB each: 2 MB in 0.02 ms = 100 GB/s
        String in = lines.get(1);
        assertTrue(in.contains(" ms=0.0200 us_per_launch=10.00 "), in);
        assertTrue(in.contains(" weights_MB=2.0 GB_per_s=100 "), in);
        assertTrue(lines.get(2).endsWith("%"), "no bytes for a mixer: " + lines.get(2));
        // head: 10 MB in 0.005 ms = 2000 GB/s
        assertTrue(lines.get(6).contains(" weights_MB=10.0 GB_per_s=2000 "), lines.get(6));
    }

    @Test
    void byNameWhenTheLinearLaunchesDoNotMatchTheRoles() {
        List<String> lines = DecodeBench.breakdownLines("X", twoSteps(), 2, ROLES.subList(0, 5), BYTES.subList(0, 5));
        assertEquals(6, lines.size());   // embedding, rms_store (layers and head together), the mixer, gate_add, rms_swiglu, plain_add
        assertTrue(lines.get(1).startsWith("X kernel=decode_linear_rms_store_b8 launches=3 "), lines.get(1));
        assertTrue(lines.stream().noneMatch(s -> s.contains("role=") || s.contains("GB_per_s")), String.join("\n", lines));
    }
}
