package gsat2r.cli;

import gsat2r.core.model.Precision;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --precision} of the commands that run models. */
final class DeviceOptions {

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu (default: the fp32 reference) or cuda (the GPU).")
    Device device;

    @Option(names = "--precision", paramLabel = "P",
            description = "fp32 or bf16 (default: the device's own: fp32 on cpu, its only one; bf16 on cuda).")
    String precision;

    /** The precision asked for, or null for the device's default. */
    Precision precision() {
        return precision == null ? null : Precision.parse(precision, "--precision");
    }
}
