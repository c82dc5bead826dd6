/*
 * A stand-in libnccl.so.2 for testing the Java bindings (gsat2r.gpu.nccl) on machines without a GPU:
 * the same C prototypes as nccl.h, host memory instead of device memory, and arithmetic that shows
 * which argument landed where. NcclBindingsTest compiles it with the C compiler and loads it through
 * T2R_NCCL in a child JVM (FakeNcclCheck). Not NCCL: no communication happens.
 *
 *   ncclCommInitRank  checks that the 128-byte unique id arrived BY VALUE with the pattern of
 *                     ncclGetUniqueId (byte i = 7i + 3), else ncclInvalidArgument "fake: unique id garbled"
 *   ncclAllReduce     recv[i] = send[i] * nranks        (fp32, sum only; count 42: ncclInvalidArgument)
 *   ncclReduceScatter recv[i] = send[rank*count + i] * nranks
 *   ncclAllGather     recv[r*count + i] = send[i] + r
 *   ncclBroadcast     recv[i] = send[i] + 1000 * root
 * Each collective also checks that the stream is the fake stream value 0x5eed and the comm is ours.
 */
#include <stddef.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef enum { ncclSuccess = 0, ncclInvalidArgument = 4, ncclInvalidUsage = 5, ncclRemoteError = 6 } ncclResult_t;
typedef struct ncclComm { int nranks, rank, alive; } *ncclComm_t;
typedef void *cudaStream_t;
typedef int ncclDataType_t;
typedef int ncclRedOp_t;

static struct ncclComm comms[16];
static char last_error[256];
static int async_error;
static int group_depth;

static ncclResult_t fail(const char *why) {
    strncpy(last_error, why, sizeof(last_error) - 1);
    return ncclInvalidArgument;
}

static int bad_call(ncclComm_t c, cudaStream_t s) {
    return c < comms || c >= comms + 16 || !c->alive || s != (cudaStream_t) 0x5eed;
}

ncclResult_t ncclGetVersion(int *version) { *version = 22703; return ncclSuccess; }

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    for (int i = 0; i < 128; i++) id->internal[i] = (char) (7 * i + 3);
    return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
        case ncclSuccess: return "no error";
        case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
        case ncclRemoteError: return "remote process exited or there was a network error";
        default: return "unknown result code";
    }
}

const char *ncclGetLastError(ncclComm_t comm) { (void) comm; return last_error; }

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    for (int i = 0; i < 128; i++) if (id.internal[i] != (char) (7 * i + 3)) return fail("fake: unique id garbled");
    if (rank < 0 || rank >= nranks || rank >= 16) return fail("fake: rank out of range");
    comms[rank].nranks = nranks;
    comms[rank].rank = rank;
    comms[rank].alive = 1;
    *comm = &comms[rank];
    last_error[0] = 0;
    return ncclSuccess;
}

ncclResult_t ncclCommInitAll(ncclComm_t *comm, int ndev, const int *devlist) {
    for (int i = 0; i < ndev; i++) {
        comms[i].nranks = ndev;
        comms[i].rank = devlist ? devlist[i] : i;
        comms[i].alive = 1;
        comm[i] = &comms[i];
    }
    return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t c, int *count) { *count = c->nranks; return ncclSuccess; }
ncclResult_t ncclCommCuDevice(const ncclComm_t c, int *device) { *device = 10 + c->rank; return ncclSuccess; }
ncclResult_t ncclCommUserRank(const ncclComm_t c, int *rank) { *rank = c->rank; return ncclSuccess; }

ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *e) { (void) c; *e = (ncclResult_t) async_error; return ncclSuccess; }
ncclResult_t ncclCommAbort(ncclComm_t c) { c->alive = 0; return ncclSuccess; }
ncclResult_t ncclCommDestroy(ncclComm_t c) { if (!c->alive) return fail("fake: destroyed twice"); c->alive = 0; return ncclSuccess; }

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op, ncclComm_t c, cudaStream_t s) {
    if (bad_call(c, s)) return fail("fake: wrong comm or stream");
    if (count == 42) return fail("fake: count 42");
    if (type != 7 || op != 0) return fail("fake: only fp32 sums");
    for (size_t i = 0; i < count; i++) ((float *) recv)[i] = ((const float *) send)[i] * (float) c->nranks;
    return ncclSuccess;
}

ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op, ncclComm_t c, cudaStream_t s) {
    if (bad_call(c, s) || type != 7 || op != 0) return fail("fake: bad reduce-scatter");
    for (size_t i = 0; i < count; i++) ((float *) recv)[i] = ((const float *) send)[c->rank * count + i] * (float) c->nranks;
    return ncclSuccess;
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t count, ncclDataType_t type, ncclComm_t c, cudaStream_t s) {
    if (bad_call(c, s) || type != 7) return fail("fake: bad all-gather");
    for (int r = 0; r < c->nranks; r++)
        for (size_t i = 0; i < count; i++) ((float *) recv)[r * count + i] = ((const float *) send)[i] + (float) r;
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t type, int root, ncclComm_t c, cudaStream_t s) {
    if (bad_call(c, s) || type != 7) return fail("fake: bad broadcast");
    if (root < 0 || root >= c->nranks) return fail("fake: root out of range");
    for (size_t i = 0; i < count; i++) ((float *) recv)[i] = ((const float *) send)[i] + 1000.0f * (float) root;
    return ncclSuccess;
}

ncclResult_t ncclGroupStart(void) { group_depth++; return ncclSuccess; }
ncclResult_t ncclGroupEnd(void) { if (group_depth == 0) return ncclInvalidUsage; group_depth--; return ncclSuccess; }

/* Test controls, not NCCL. */
void fake_set_async_error(int r) { async_error = r; }
int fake_group_depth(void) { return group_depth; }
