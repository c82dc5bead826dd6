package gsat2r.gpu.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import gsat2r.gpu.Gpu;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import gsat2r.gpu.cuda.Cuda;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The fatbin holds every attention and GSA kernel that the launchers of this package name (runs without a GPU). */
class TileKernelImageTest {
    static List<String> expected() {
        List<String> names = new ArrayList<>();
        for (String t : List.of("f32", "bf16")) {
            for (int d : new int[] {64, 128}) {
                for (String base : List.of("attn_fwd", "attn_bwd_dq", "attn_bwd_dkdv", "attn_decode")) names.add(base + "_d" + d + "_" + t);
            }
            names.add("attn_bwd_delta_" + t);
            for (int m : new int[] {16, 32, 64}) {
                for (String base : List.of("gsa_fwd_states", "gsa_fwd_out", "gsa_bwd_dp", "gsa_bwd_states", "gsa_bwd_chunk", "gsa_step",
                        "gsa_smem_sizes")) {
                    names.add(base + "_m" + m + "_" + t);
                }
            }
            for (String base : List.of("gsa_gate_fwd", "gsa_gate_bwd", "gsa_ogate_fwd")) names.add(base + "_" + t);
        }
        return names;
    }

    @Test
    void everyLaunchedKernelIsInTheImage() {
        assumeTrue(Cuda.hasKernels(), "built without nvcc (.ci/run checks that its build has the fatbin)");
        String text = new String(Gpu.kernelImage(), StandardCharsets.ISO_8859_1);
        Matcher m = Pattern.compile("\\.entry (\\w+)\\(").matcher(text);
        Set<String> entries = new HashSet<>();
        while (m.find()) entries.add(m.group(1));
        for (String k : expected()) assertTrue(entries.contains(k), "PTX entry " + k + " missing");
    }
}
