package gsat2r.gpu.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * (Public so that the NCCL bindings of {@code gsat2r.gpu.nccl} open theirs the same way.)
 * A shared library opened through {@link SymbolLookup#libraryLookup}, with downcall handles for
 * its functions. Opening tries each candidate (a soname the dynamic loader resolves, then absolute
 * paths) and remembers why each failed, so that "not found" can be reported in one line.
 */
@SuppressWarnings("restricted")  // FFM: binding native symbols and sizing native pointers is the point of this class
public final class NativeLibrary {
    public static final Linker LINKER = Linker.nativeLinker();

    private final String name;
    private final SymbolLookup lookup;

    private NativeLibrary(String name, SymbolLookup lookup) {
        this.name = name;
        this.lookup = lookup;
    }

    /** The outcome of {@link #open}: the library, or the reason none of the candidates loaded. */
    public record Opened(NativeLibrary library, String failure) {}

    public static Opened open(List<String> candidates) {
        List<String> failures = new ArrayList<>();
        for (String candidate : candidates) {
            try {
                return new Opened(new NativeLibrary(candidate, SymbolLookup.libraryLookup(candidate, Arena.global())), null);
            } catch (IllegalArgumentException | IllegalCallerException e) {
                failures.add(candidate);
            }
        }
        return new Opened(null, "could not load " + String.join(" or ", failures));
    }

    public String name() {
        return name;
    }

    public Optional<MethodHandle> find(String symbol, FunctionDescriptor descriptor) {
        return lookup.find(symbol).map(address -> LINKER.downcallHandle(address, descriptor));
    }

    /** The first of the given symbols that the library exports (versioned names first). */
    public MethodHandle bind(FunctionDescriptor descriptor, String... symbols) {
        for (String symbol : symbols) {
            Optional<MethodHandle> handle = find(symbol, descriptor);
            if (handle.isPresent()) return handle.get();
        }
        throw new CudaException(name + " exports none of " + String.join(", ", symbols)
                + " (a driver or library older than this program supports?)");
    }
}
