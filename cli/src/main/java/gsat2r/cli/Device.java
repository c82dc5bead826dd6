package gsat2r.cli;

/** Where a command runs its models ({@code --device}): the CPU reference, or the GPU through the CUDA engine. */
enum Device { cpu, cuda }
