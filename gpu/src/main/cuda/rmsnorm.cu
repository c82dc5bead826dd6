// RMSNorm as in Llama: y = w * x * rstd, rstd = 1 / sqrt(mean(x^2) + eps), per row of `dim`.
// The forward pass saves rstd (fp32, one per row) for the backward pass.
//
// Hugging Face rounds x * rstd to the storage type before multiplying by w; here the product is
// formed in fp32 and rounded once, which differs from it by at most one bf16 rounding.
#include "common.cuh"

// One warp per row; a block of W warps handles W consecutive rows. Out may alias x.
template <typename T>
__device__ void rmsnorm_fwd(T* out, float* rstd, const T* x, const T* w, int rows, int dim, float eps) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    const T* xr = x + (long long)row * dim;
    T* yr = out + (long long)row * dim;
    // 16-byte packs when rows are 16-byte aligned; the second pass re-reads x from L1.
    constexpr int N = Pack<T>::N;
    const int packs = (dim % N == 0 && aligned16(x) && aligned16(w) && aligned16(out)) ? dim / N : 0;
    float ss = 0.f;
    for (int p = lane; p < packs; p += 32) {
        const Pack<T> a = Pack<T>::load(xr + p * N);
#pragma unroll
        for (int j = 0; j < N; j++) {
            const float v = to_float(a.v[j]);
            ss += v * v;
        }
    }
    for (int i = packs * N + lane; i < dim; i += 32) {
        const float v = to_float(xr[i]);
        ss += v * v;
    }
    ss = warp_sum(ss);
    const float r = rsqrtf(ss / dim + eps);
    for (int p = lane; p < packs; p += 32) {
        const Pack<T> a = Pack<T>::load(xr + p * N), g = Pack<T>::load(w + p * N);
        Pack<T> y;
#pragma unroll
        for (int j = 0; j < N; j++) y.v[j] = from_float<T>(to_float(a.v[j]) * r * to_float(g.v[j]));
        y.store(yr + p * N);
    }
    for (int i = packs * N + lane; i < dim; i += 32) yr[i] = from_float<T>(to_float(xr[i]) * r * to_float(w[i]));
    if (lane == 0 && rstd != nullptr) rstd[row] = r;
}

// With xh = x * rstd and dy = g * w:
//   dx = rstd * (dy - xh * mean(dy * xh))      (overwritten, or added when accumulate != 0)
//   dw += sum over rows of g * xh              (fp32)
// Warps stride over rows; each block sums dw in shared memory (dim floats, dynamic) and adds it
// to the global dw once, so the global atomics are gridDim.x * dim, independent of the rows.
template <typename T>
__device__ void rmsnorm_bwd(T* dx, float* dw, const T* dout, const T* x, const T* w, const float* rstd,
                            int rows, int dim, int accumulate) {
    extern __shared__ float dw_block[];
    for (int i = threadIdx.x; i < dim; i += blockDim.x) dw_block[i] = 0.f;
    __syncthreads();
    const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < rows; row += gridDim.x * warps) {
        const long long base = (long long)row * dim;
        const float r = rstd[row];
        float dot = 0.f;
        for (int i = lane; i < dim; i += 32) {
            const float xh = to_float(x[base + i]) * r;
            dot += to_float(dout[base + i]) * to_float(w[i]) * xh;
        }
        dot = warp_sum(dot) / dim;
        for (int i = lane; i < dim; i += 32) {
            const float g = to_float(dout[base + i]);
            const float xh = to_float(x[base + i]) * r;
            float d = r * (g * to_float(w[i]) - xh * dot);
            if (accumulate) d += to_float(dx[base + i]);
            dx[base + i] = from_float<T>(d);
            atomicAdd(&dw_block[i], g * xh);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < dim; i += blockDim.x) atomicAdd(&dw[i], dw_block[i]);
}

extern "C" __global__ void rmsnorm_fwd_f32(float* out, float* rstd, const float* x, const float* w, int rows, int dim, float eps) {
    rmsnorm_fwd(out, rstd, x, w, rows, dim, eps);
}
extern "C" __global__ void rmsnorm_fwd_bf16(bf16* out, float* rstd, const bf16* x, const bf16* w, int rows, int dim, float eps) {
    rmsnorm_fwd(out, rstd, x, w, rows, dim, eps);
}
extern "C" __global__ void rmsnorm_bwd_f32(float* dx, float* dw, const float* dout, const float* x, const float* w,
                                           const float* rstd, int rows, int dim, int accumulate) {
    rmsnorm_bwd(dx, dw, dout, x, w, rstd, rows, dim, accumulate);
}
extern "C" __global__ void rmsnorm_bwd_bf16(bf16* dx, float* dw, const bf16* dout, const bf16* x, const bf16* w,
                                            const float* rstd, int rows, int dim, int accumulate) {
    rmsnorm_bwd(dx, dw, dout, x, w, rstd, rows, dim, accumulate);
}
