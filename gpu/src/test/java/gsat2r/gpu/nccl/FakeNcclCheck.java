package gsat2r.gpu.nccl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import gsat2r.gpu.cuda.DevicePointer;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;

/**
 * Run by {@link NcclBindingsTest} in a child JVM whose T2R_NCCL names the fake libnccl
 * ({@code gpu/src/test/c/fake_nccl.c}): drives every binding and checks, from what the fake computed,
 * that each argument arrived where nccl.h puts it. Prints {@code fake-nccl: N checks passed} or
 * the first failure (exit status 1).
 */
@SuppressWarnings("restricted")
public final class FakeNcclCheck {
    private static int checks;

    static void expect(Object expected, Object actual, String what) {
        boolean same = expected instanceof float[] e && actual instanceof float[] a ? Arrays.equals(e, a) : expected.equals(actual);
        if (!same) {
            System.out.println("fake-nccl: " + what + ": expected <" + show(expected) + "> but was <" + show(actual) + ">");
            System.exit(1);
        }
        checks++;
    }

    static String show(Object o) {
        return o instanceof float[] f ? Arrays.toString(f) : String.valueOf(o);
    }

    static String failure(Runnable r) {
        try {
            r.run();
            return "no exception";
        } catch (NcclException e) {
            return e.getMessage();
        }
    }

    record Host(MemorySegment segment) implements DevicePointer {
        @Override
        public long address() {
            return segment.address();
        }

        float[] floats() {
            return segment.toArray(JAVA_FLOAT);
        }
    }

    public static void main(String[] args) throws Throwable {
        expect(true, Nccl.available(), "available: " + Nccl.unavailableReason());
        expect(22703, Nccl.version(), "ncclGetVersion");
        expect("2.27.3", Nccl.versionString(), "version string");
        NcclUniqueId id = Nccl.uniqueId();
        for (int i = 0; i < NcclUniqueId.BYTES; i++) expect((byte) (7 * i + 3), id.bytes()[i], "unique id byte " + i);
        expect("invalid argument (run with NCCL_DEBUG=WARN for details)", Nccl.errorString(4), "ncclGetErrorString");

        // The id passed by value: a wrong one is refused by the fake, with its last-error text in our message.
        expect("ncclCommInitRank(rank 2 of 4, device -): ncclInvalidArgument (invalid argument (run with NCCL_DEBUG=WARN for details);"
                + " last: fake: unique id garbled)",
                failure(() -> NcclCommunicator.createWithoutContext(4, 2, new NcclUniqueId(new byte[128]))), "garbled id");
        NcclCommunicator comm = NcclCommunicator.createWithoutContext(4, 2, id);
        expect(4, comm.count(), "ncclCommCount");
        expect(2, comm.userRank(), "ncclCommUserRank");
        expect(12, comm.device(), "ncclCommCuDevice");

        MemorySegment stream = MemorySegment.ofAddress(0x5eed);
        try (Arena arena = Arena.ofConfined()) {
            Host send = new Host(arena.allocateFrom(JAVA_FLOAT, 1, 2, 3, 4, 5, 6, 7, 8));
            Host recv = new Host(arena.allocate(JAVA_FLOAT, 8));
            comm.allReduce(send, recv, 3, NcclDataType.FLOAT32, NcclRedOp.SUM, stream);
            expect(new float[] {4, 8, 12, 0, 0, 0, 0, 0}, recv.floats(), "ncclAllReduce: send, recv, count, type, op, comm, stream");
            comm.reduceScatter(send, recv, 2, NcclDataType.FLOAT32, NcclRedOp.SUM, stream);
            expect(new float[] {20, 24, 12, 0, 0, 0, 0, 0}, recv.floats(), "ncclReduceScatter: rank 2's block of 2, times 4");
            comm.allGather(send, recv, 2, NcclDataType.FLOAT32, stream);
            expect(new float[] {1, 2, 2, 3, 3, 4, 4, 5}, recv.floats(), "ncclAllGather: 4 blocks of 2");
            comm.broadcast(send, recv, 2, NcclDataType.FLOAT32, 3, stream);
            expect(new float[] {3001, 3002, 2, 3, 3, 4, 4, 5}, recv.floats(), "ncclBroadcast from root 3: only its 2 elements");

            expect("ncclAllReduce(42 x ncclFloat32, SUM, rank 2 of 4, device -): ncclInvalidArgument (invalid argument (run with NCCL_DEBUG=WARN"
                    + " for details); last: fake: count 42)",
                    failure(() -> comm.allReduce(send, recv, 42, NcclDataType.FLOAT32, NcclRedOp.SUM, stream)), "a failing collective");
            expect("ncclBroadcast(1 x ncclFloat32 from rank 9, rank 2 of 4, device -): ncclInvalidArgument (invalid argument (run with"
                    + " NCCL_DEBUG=WARN for details); last: fake: root out of range)",
                    failure(() -> comm.broadcast(send, recv, 1, NcclDataType.FLOAT32, 9, stream)), "a bad root");
            expect("ncclAllReduce(1 x ncclFloat32, SUM, rank 2 of 4, device -): ncclInvalidArgument (invalid argument (run with NCCL_DEBUG=WARN"
                    + " for details); last: fake: wrong comm or stream)",
                    failure(() -> comm.allReduce(send, recv, 1, NcclDataType.FLOAT32, NcclRedOp.SUM, MemorySegment.ofAddress(1))), "stream");
        }

        Linker linker = Linker.nativeLinker();
        SymbolLookup fake = SymbolLookup.libraryLookup(System.getenv("T2R_NCCL"), Arena.global());
        MethodHandle setAsync = linker.downcallHandle(fake.find("fake_set_async_error").orElseThrow(), FunctionDescriptor.ofVoid(JAVA_INT));
        MethodHandle depth = linker.downcallHandle(fake.find("fake_group_depth").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
        expect("null", String.valueOf(comm.asyncError()), "no async error");
        setAsync.invokeExact(6);
        expect("NCCL communicator (rank 2 of 4, device -): ncclRemoteError (remote process exited or there was a network error;"
                + " last: fake: wrong comm or stream)", failure(comm::checkAsyncError), "ncclCommGetAsyncError");
        setAsync.invokeExact(0);

        int[] inside = new int[1];
        Nccl.group(() -> {
            try {
                inside[0] = (int) depth.invokeExact();
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        });
        expect(1, inside[0], "inside ncclGroupStart/End");
        expect(0, (int) depth.invokeExact(), "after ncclGroupEnd");
        expect("boom", groupFailure(), "a failing group body still ends the group");
        expect(0, (int) depth.invokeExact(), "ended");

        comm.close();
        comm.close();                                   // idempotent: destroyed once
        NcclCommunicator other = NcclCommunicator.createWithoutContext(4, 1, id);
        other.abort();
        expect("the NCCL communicator of rank 1 of 4, device - is closed",
                assertIllegalState(() -> other.count()), "use after abort");
        System.out.println("fake-nccl: " + checks + " checks passed");
        System.out.flush();
        if (ADDRESS.byteSize() != 8) System.exit(1);
    }

    static String groupFailure() {
        try {
            Nccl.group(() -> {
                throw new IllegalStateException("boom");
            });
            return "no exception";
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }

    static String assertIllegalState(Runnable r) {
        try {
            r.run();
            return "no exception";
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }
}
