// A CPU simulator for this module's CUDA kernels, so that their indexing, fragment layouts and
// barriers can be checked on a machine without a GPU (scripts/cuda-sim-test.sh builds it with g++).
//
// Every CUDA thread of a block is a fiber (its own stack, switched by a few instructions of
// assembly); blocks run one after another. __syncthreads and __syncwarp are barriers among the
// fibers; warp shuffles, ldmatrix and mma.sync are warp collectives: each lane deposits its
// operands, the warp meets at a barrier, each lane computes its result from all deposits, and the
// warp meets again. Fibers run until they block, in a random order that changes every round, so
// a read of shared memory that a missing barrier leaves unordered sees old or new data depending
// on the seed: run the tests with several seeds.
//
// Kernels are compiled unchanged; `GSAT2R_SIM` selects the simulated versions of the inline PTX
// (tiles.cuh). Static __shared__ arrays become function statics (blocks run one at a time), and
// dynamic shared memory is a per-block buffer with a guard zone that is checked after the block.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#define GSAT2R_SIM 1
#undef __shared__
#define __shared__ static
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#define __launch_bounds__(...)
#undef __noinline__
#define __noinline__
#define __restrict__
#undef __align__
#define __align__(n) alignas(n)

extern "C" void sim_switch(void** save_sp, void* to_sp);
asm(R"(
.text
.globl sim_switch
.type sim_switch,@function
sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");

namespace sim {

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};

enum State { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct Fiber {
    void* sp = nullptr;
    std::vector<unsigned char> stack;
    Dim3 tid;
    int linear = 0;
    State state = RUNNABLE;
};

inline Dim3 grid_dim, block_dim, block_idx;
inline std::vector<Fiber> fibers;
inline int current = 0;
inline void* scheduler_sp = nullptr;
inline std::function<void()> body;
inline int waiting_block = 0;
inline std::vector<int> waiting_warp;
inline std::vector<unsigned char> dynamic_smem;
inline size_t dynamic_bytes = 0;
inline std::mt19937 rng(1);
inline constexpr size_t STACK = 512 * 1024;
inline constexpr size_t GUARD = 256;
// Warp exchange buffers: 32 lanes x 64 bytes per warp.
inline std::vector<unsigned char> exchange;

inline int threads() { return (int)(block_dim.x * block_dim.y * block_dim.z); }
inline int warps() { return (threads() + 31) / 32; }
inline Fiber& me() { return fibers[current]; }
inline int lane() { return me().linear & 31; }
inline int warp() { return me().linear >> 5; }
inline int warp_size(int w) { return std::min(32, threads() - 32 * w); }

inline void yield() { sim_switch(&me().sp, scheduler_sp); }

inline int alive_in_block() {
    int n = 0;
    for (auto& f : fibers) n += f.state != DONE;
    return n;
}
inline int alive_in_warp(int w) {
    int n = 0;
    for (int i = 32 * w; i < 32 * w + warp_size(w); i++) n += fibers[i].state != DONE;
    return n;
}
inline void release_block_if_complete() {
    if (waiting_block > 0 && waiting_block == alive_in_block()) {
        for (auto& f : fibers)
            if (f.state == WAIT_BLOCK) f.state = RUNNABLE;
        waiting_block = 0;
    }
}
inline void release_warp_if_complete(int w) {
    if (waiting_warp[w] > 0 && waiting_warp[w] == alive_in_warp(w)) {
        for (int i = 32 * w; i < 32 * w + warp_size(w); i++)
            if (fibers[i].state == WAIT_WARP) fibers[i].state = RUNNABLE;
        waiting_warp[w] = 0;
    }
}

inline void sync_block() {
    me().state = WAIT_BLOCK;
    waiting_block++;
    release_block_if_complete();
    yield();
}
inline void sync_warp() {
    const int w = warp();
    me().state = WAIT_WARP;
    waiting_warp[w]++;
    release_warp_if_complete(w);
    yield();
}

inline unsigned char* lane_slot(int w, int l) { return exchange.data() + ((size_t)w * 32 + l) * 64; }

// Each lane deposits `mine`; after the barrier, `read(slots)` may read every lane's deposit.
template <typename V>
inline V shuffle(V v, int src) {
    static_assert(sizeof(V) <= 64, "exchange slot");
    const int w = warp();
    std::memcpy(lane_slot(w, lane()), &v, sizeof(V));
    sync_warp();
    V r;
    std::memcpy(&r, lane_slot(w, src & 31), sizeof(V));
    sync_warp();
    return r;
}

// ---- simulated cp.async (asynchronous global -> shared copies of 16 bytes) ----
// A copy lands in shared memory only when a cp.async.wait_group of its thread covers its group
// (the latest the hardware may complete it), so a read that a missing wait or barrier leaves
// unordered sees the old (garbage) bytes. The source is read then too (it is read-only here).
struct AsyncCopy {
    void* dst;
    const void* src;
    unsigned bytes;  // 16, or 0: zero-fill
};
struct AsyncState {
    std::vector<AsyncCopy> open;                  // issued since the last commit
    std::vector<std::vector<AsyncCopy>> groups;   // committed, oldest first
};
inline std::vector<AsyncState> async_state;

inline void cp_async16(void* dst, const void* src, unsigned bytes) {
    if (reinterpret_cast<uintptr_t>(dst) & 15 || (bytes && (reinterpret_cast<uintptr_t>(src) & 15))) {
        std::fprintf(stderr, "sim: cp.async address not 16-byte aligned (%p <- %p)\n", dst, src);
        std::abort();
    }
    const unsigned char* d = static_cast<unsigned char*>(dst);
    if (d < dynamic_smem.data() || d + 16 > dynamic_smem.data() + dynamic_bytes) {
        std::fprintf(stderr, "sim: cp.async destination %p outside dynamic shared memory\n", dst);
        std::abort();
    }
    async_state[me().linear].open.push_back({dst, src, bytes});
}
inline void cp_async_commit() {
    AsyncState& a = async_state[me().linear];
    a.groups.push_back(std::move(a.open));
    a.open.clear();
}
inline void cp_async_wait(int pending) {
    AsyncState& a = async_state[me().linear];
    while ((int)a.groups.size() > pending) {
        for (const AsyncCopy& c : a.groups.front()) {
            unsigned char buf[16] = {};
            if (c.bytes) std::memcpy(buf, c.src, 16);
            std::memcpy(c.dst, buf, 16);
        }
        a.groups.erase(a.groups.begin());
    }
}

[[noreturn]] inline void entry() {
    body();
    if (!async_state[me().linear].open.empty() || !async_state[me().linear].groups.empty()) {
        std::fprintf(stderr, "sim: thread %d ended with cp.async copies not waited for\n", me().linear);
        std::abort();
    }
    me().state = DONE;
    release_block_if_complete();
    release_warp_if_complete(warp());
    for (;;) yield();
}

inline void init_fiber(Fiber& f) {
    // Registers start with garbage on the GPU: fill the stack with NaN bytes, so that a variable
    // read before it is written poisons the result instead of reading a harmless zero.
    f.stack.assign(STACK, 0xFF);
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack.data()) + STACK) & ~uintptr_t(15);
    void** p = reinterpret_cast<void**>(top);
    *--p = nullptr;                                   // keeps rsp % 16 == 8 at entry()
    *--p = reinterpret_cast<void*>(&entry);           // return address of sim_switch's ret
    for (int i = 0; i < 6; i++) *--p = nullptr;       // rbp rbx r12 r13 r14 r15
    f.sp = p;
}

inline void run_block() {
    const int n = threads();
    fibers.assign(n, Fiber());
    waiting_block = 0;
    waiting_warp.assign(warps(), 0);
    exchange.assign((size_t)warps() * 32 * 64, 0);
    async_state.assign(n, AsyncState());
    for (int i = 0; i < n; i++) {
        Fiber& f = fibers[i];
        f.linear = i;
        f.tid.x = i % block_dim.x;
        f.tid.y = (i / block_dim.x) % block_dim.y;
        f.tid.z = i / (block_dim.x * block_dim.y);
        init_fiber(f);
    }
    std::vector<int> order(n);
    for (int i = 0; i < n; i++) order[i] = i;
    for (;;) {
        std::shuffle(order.begin(), order.end(), rng);
        bool ran = false, all_done = true;
        for (int i : order) {
            if (fibers[i].state == DONE) continue;
            all_done = false;
            if (fibers[i].state != RUNNABLE) continue;
            current = i;
            ran = true;
            sim_switch(&scheduler_sp, fibers[i].sp);
        }
        if (all_done) break;
        if (!ran) {
            std::fprintf(stderr, "sim: deadlock in block (%u,%u,%u):", block_idx.x, block_idx.y, block_idx.z);
            for (int i = 0; i < n; i++) std::fprintf(stderr, " %d:%d", i, fibers[i].state);
            std::fprintf(stderr, "\n");
            std::abort();
        }
    }
}

// Runs `kernel` (a callable, usually a lambda calling the __global__ function) over the grid.
inline void launch(Dim3 grid, Dim3 block, size_t smem, const std::function<void()>& kernel) {
    grid_dim = grid;
    block_dim = block;
    body = kernel;
    dynamic_bytes = smem;
    dynamic_smem.assign(smem + GUARD, 0);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                block_idx = {x, y, z};
                // Shared memory holds garbage at the start of a block, as on the GPU.
                for (size_t i = 0; i < smem; i++) dynamic_smem[i] = (unsigned char)rng();
                std::memset(dynamic_smem.data() + smem, 0xA5, GUARD);
                run_block();
                for (size_t i = 0; i < GUARD; i++) {
                    if (dynamic_smem[smem + i] != 0xA5) {
                        std::fprintf(stderr, "sim: write past dynamic shared memory (%zu bytes) in block (%u,%u,%u)\n",
                                     smem, x, y, z);
                        std::abort();
                    }
                }
            }
}

inline unsigned char* dynamic_shared() {
    return dynamic_smem.data();
}

// ---- simulated PTX: ldmatrix.x4 (optionally .trans) and mma.m16n8k16 bf16 -> fp32 ----

inline void ldmatrix_x4(uint32_t r[4], const void* row_address, bool trans) {
    const int w = warp(), l = lane();
    const void* mine = row_address;
    std::memcpy(lane_slot(w, l), &mine, sizeof(mine));
    sync_warp();
    auto row = [&](int src) {
        const void* p;
        std::memcpy(&p, lane_slot(w, src), sizeof(p));
        if (reinterpret_cast<uintptr_t>(p) & 15) {
            std::fprintf(stderr, "sim: ldmatrix row address %p is not 16-byte aligned\n", p);
            std::abort();
        }
        return static_cast<const uint16_t*>(p);
    };
    for (int i = 0; i < 4; i++) {
        uint16_t lo, hi;
        if (!trans) {
            const uint16_t* rp = row(8 * i + l / 4);
            lo = rp[2 * (l % 4)];
            hi = rp[2 * (l % 4) + 1];
        } else {
            lo = row(8 * i + 2 * (l % 4))[l / 4];
            hi = row(8 * i + 2 * (l % 4) + 1)[l / 4];
        }
        r[i] = (uint32_t)lo | ((uint32_t)hi << 16);
    }
    sync_warp();
}

inline float bf16_bits_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline void mma_bf16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    const int w = warp(), l = lane();
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    std::memcpy(lane_slot(w, l), mine, sizeof(mine));
    sync_warp();
    float A[16][16], B[16][8];
    for (int L = 0; L < 32; L++) {
        uint32_t f[6];
        std::memcpy(f, lane_slot(w, L), sizeof(f));
        const int g = L / 4, q = L % 4;
        auto lo = [](uint32_t x) { return bf16_bits_to_float((uint16_t)(x & 0xffff)); };
        auto hi = [](uint32_t x) { return bf16_bits_to_float((uint16_t)(x >> 16)); };
        A[g][2 * q] = lo(f[0]);
        A[g][2 * q + 1] = hi(f[0]);
        A[g + 8][2 * q] = lo(f[1]);
        A[g + 8][2 * q + 1] = hi(f[1]);
        A[g][2 * q + 8] = lo(f[2]);
        A[g][2 * q + 9] = hi(f[2]);
        A[g + 8][2 * q + 8] = lo(f[3]);
        A[g + 8][2 * q + 9] = hi(f[3]);
        B[2 * q][g] = lo(f[4]);
        B[2 * q + 1][g] = hi(f[4]);
        B[2 * q + 8][g] = lo(f[5]);
        B[2 * q + 9][g] = hi(f[5]);
    }
    sync_warp();
    const int g = l / 4, q = l % 4;
    for (int e = 0; e < 4; e++) {
        const int r = g + 8 * (e >> 1), c = 2 * q + (e & 1);
        float acc = d[e];
        for (int k = 0; k < 16; k++) acc += A[r][k] * B[k][c];
        d[e] = acc;
    }
}

// ---- the test harness side: device arrays with guard zones ----

template <typename T>
struct DeviceArray {
    std::vector<T> data;
    size_t n;
    static constexpr size_t G = 64;
    explicit DeviceArray(size_t count) : data(count + 2 * G), n(count) {
        unsigned char* b = reinterpret_cast<unsigned char*>(data.data());
        std::memset(b, 0x7F, G * sizeof(T));
        std::memset(b + (G + n) * sizeof(T), 0x7F, G * sizeof(T));
    }
    T* ptr() { return data.data() + G; }
    T& operator[](size_t i) { return data[G + i]; }
    void check(const char* what) const {
        const unsigned char* b = reinterpret_cast<const unsigned char*>(data.data());
        for (size_t i = 0; i < G * sizeof(T); i++) {
            if (b[i] != 0x7F || b[(G + n) * sizeof(T) + i] != 0x7F) {
                std::fprintf(stderr, "sim: %s written out of bounds\n", what);
                std::abort();
            }
        }
    }
};

}  // namespace sim

// ---- CUDA built-ins ----
#define threadIdx (sim::me().tid)
#define blockIdx (sim::block_idx)
#define blockDim (sim::block_dim)
#define gridDim (sim::grid_dim)

inline void __syncthreads() { sim::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { sim::sync_warp(); }
template <typename V>
inline V __shfl_sync(unsigned, V v, int src, int = 32) { return sim::shuffle(v, src); }
template <typename V>
inline V __shfl_xor_sync(unsigned, V v, int m, int = 32) { return sim::shuffle(v, sim::lane() ^ m); }
template <typename V>
inline V __shfl_down_sync(unsigned, V v, unsigned d, int = 32) {
    const int src = sim::lane() + (int)d;
    return sim::shuffle(v, src < 32 ? src : sim::lane());
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float atomicAdd(float* p, float v) {
    float old = *p;
    *p = old + v;
    return old;
}
inline double atomicAdd(double* p, double v) {
    double old = *p;
    *p = old + v;
    return old;
}
inline int atomicAdd(int* p, int v) {
    int old = *p;
    *p = old + v;
    return old;
}
inline void __threadfence() {}
template <typename T>
inline T __ldg(const T* p) { return *p; }
template <typename T>
inline T __ldcg(const T* p) { return *p; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
