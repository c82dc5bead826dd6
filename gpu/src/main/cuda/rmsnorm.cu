// RMSNorm as in Llama: y = w * x * rstd, rstd = 1 / sqrt(mean(x^2) + eps), per row of `dim`.
// The forward pass saves rstd (fp32, one per row) for the backward pass, rmsnorm_bwd_det (train.cu).
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

extern "C" __global__ void rmsnorm_fwd_f32(float* out, float* rstd, const float* x, const float* w, int rows, int dim, float eps) {
    rmsnorm_fwd(out, rstd, x, w, rows, dim, eps);
}
extern "C" __global__ void rmsnorm_fwd_bf16(bf16* out, float* rstd, const bf16* x, const bf16* w, int rows, int dim, float eps) {
    rmsnorm_fwd(out, rstd, x, w, rows, dim, eps);
}
