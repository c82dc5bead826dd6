package gsat2r.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import gsat2r.gpu.cuda.Cuda;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The fatbin that the build made with nvcc is on the classpath and holds every kernel the launchers name. */
class KernelImageTest {
    static final List<String> KERNELS = new ArrayList<>();

    static {
        for (String base : List.of("embedding_fwd", "rmsnorm_fwd", "rope_fwd", "rope_bwd",
                "swiglu_fwd", "swiglu_bwd", "silu_fwd", "silu_bwd", "cross_entropy", "kl_div", "embedding_bwd_sorted",
                "rmsnorm_bwd_det", "gsa_ogate_bwd_det", "mse_rows", "add", "argmax_agree")) {
            KERNELS.add(base + "_f32");
            KERNELS.add(base + "_bf16");
        }
        KERNELS.addAll(List.of("adamw_f32", "cast_f32_to_bf16", "fill_f32", "copy_16b",
                "colsum_add_f32", "sum_partials_f64", "sum_finalize_f64"));
        // The decode step (DecodeLinear, GsaDecode, AttentionDecode) and the continuation scores (Scoring).
        for (String pro : List.of("rms_store", "gate_add", "plain_add", "rms_swiglu")) {
            KERNELS.add("decode_linear_" + pro + "_b8");
            KERNELS.add("decode_linear_" + pro + "_b16");
        }
        for (String t : List.of("f32", "bf16")) {
            KERNELS.add("gsa_decode_step_" + t);
            KERNELS.add("score_continuations_" + t);
            for (int d : new int[] {64, 128}) for (int g : new int[] {1, 2, 4}) KERNELS.add("attention_decode_d" + d + "_g" + g + "_" + t);
        }
    }

    @Test
    void fatbinHoldsMachineCodeForAmpereAndHopperAndPtx() {
        assumeTrue(Cuda.hasKernels(), "built without nvcc (.ci/run checks that its build has the fatbin)");
        byte[] image = Gpu.kernelImage();
        int magic = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        assertEquals(0xBA55ED50, magic, "fatbin magic");
        String text = new String(image, StandardCharsets.ISO_8859_1);
        // The compute_90 PTX is stored as text: one .entry per kernel.
        Matcher m = Pattern.compile("\\.entry (\\w+)\\(").matcher(text);
        List<String> entries = new ArrayList<>();
        while (m.find()) entries.add(m.group(1));
        for (String k : KERNELS) assertTrue(entries.contains(k), "PTX entry " + k + " missing; entries: " + entries);
        assertTrue(text.contains(".target sm_90"), "compute_90 PTX");
    }
}
