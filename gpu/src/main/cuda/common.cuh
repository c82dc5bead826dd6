// Shared device helpers: storage types, 16-byte packs, warp and block reductions.
//
// Conventions of every kernel in this module:
//  - storage is fp32 (float) or bf16 (__nv_bfloat16); arithmetic and accumulation are fp32;
//  - extern "C" entry points are named <op>_<fwd|bwd>_<f32|bf16> so that the Java launchers find
//    them by name in the one fatbin;
//  - weight gradients are fp32 and ACCUMULATED (+=), so that micro-batches add up; input gradients
//    are overwritten unless the kernel takes an `accumulate` flag;
//  - sizes that can exceed 2^31 elements are long long; indices into them are computed in 64 bits.
#pragma once

#include <cuda_bf16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) { return __float2bfloat16_rn(x); }

// 16 bytes of T, moved with one vector load or store (LDG.128 / STG.128).
template <typename T> struct Pack {
    static constexpr int N = 16 / sizeof(T);
    alignas(16) T v[N];

    __device__ __forceinline__ static Pack load(const T* p) {
        Pack r;
        *reinterpret_cast<int4*>(r.v) = *reinterpret_cast<const int4*>(p);
        return r;
    }
    __device__ __forceinline__ void store(T* p) const {
        *reinterpret_cast<int4*>(p) = *reinterpret_cast<const int4*>(v);
    }
};

__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the sum.
// `scratch` holds at least 32 values; the function may be called repeatedly with the same scratch.
template <typename F> __device__ __forceinline__ F block_sum(F v, F* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : F(0);
    return warp_sum(v);
}

// Online softmax normaliser: the pair (m, s) stands for sum_i exp(x_i) = s * exp(m).
// Empty state is (-inf, 0).
__device__ __forceinline__ void lse_merge(float& m, float& s, float m2, float s2) {
    const float mn = fmaxf(m, m2);
    if (mn == -INFINITY) {  // both empty (exp(-inf - -inf) would be NaN); a NaN sum stays NaN
        s += s2;
        return;
    }
    s = s * expf(m - mn) + s2 * expf(m2 - mn);  // exp(-inf) = 0 for an empty side
    m = mn;
}

// Programmatic dependent launch (sm_90): a kernel launched with the programmatic-serialization
// attribute may start while the previous kernel of the stream still runs; it must not read what that
// kernel writes before grid_dependency_wait() returns. grid_dependents_launch() lets the next kernel
// of the stream start early. Both are no-ops for a plain launch and below sm_90.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void grid_dependents_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Grid-stride helpers.
__device__ __forceinline__ long long global_thread() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long grid_threads() {
    return (long long)gridDim.x * blockDim.x;
}
