package gsat2r.gpu.ops;

import gsat2r.gpu.Gpu;
import gsat2r.gpu.cuda.CudaFunction;
import gsat2r.gpu.cuda.Dim3;

/** How the decode kernels are launched. */
final class Launches {
    private Launches() {}

    /**
     * A launch of a kernel that waits (griddepcontrol.wait) before it reads what the previous kernel wrote:
     * programmatic when the engine says so ({@link Gpu#programmaticLaunches()}), else plain.
     */
    static void decode(Gpu gpu, CudaFunction f, Dim3 grid, Dim3 block, int shared, Object... args) {
        if (gpu.programmaticLaunches()) f.launchProgrammatic(gpu.stream(), grid, block, shared, args);
        else f.launch(gpu.stream(), grid, block, shared, args);
    }
}
