// Gated activations of the MLP (SwiGLU: out = silu(gate) * up) and plain SiLU (the GSA feature
// map), elementwise, forward and backward. silu(g) = g * sigmoid(g),
// silu'(g) = sigmoid(g) * (1 + g * (1 - sigmoid(g))).
//
// Every kernel moves 16-byte packs when all its pointers are 16-byte aligned, then finishes the
// tail element by element. Outputs may alias inputs (each element is read before it is written,
// by the same thread).
#include "common.cuh"

__device__ __forceinline__ float sigmoidf(float g) { return 1.f / (1.f + expf(-g)); }

template <typename T>
__device__ void swiglu_fwd(T* out, const T* gate, const T* up, long long n) {
    constexpr int N = Pack<T>::N;
    const long long packs = (aligned16(out) && aligned16(gate) && aligned16(up)) ? n / N : 0;
    for (long long p = global_thread(); p < packs; p += grid_threads()) {
        const Pack<T> g = Pack<T>::load(gate + p * N), u = Pack<T>::load(up + p * N);
        Pack<T> o;
#pragma unroll
        for (int j = 0; j < N; j++) {
            const float gf = to_float(g.v[j]);
            o.v[j] = from_float<T>(gf * sigmoidf(gf) * to_float(u.v[j]));
        }
        o.store(out + p * N);
    }
    for (long long i = packs * N + global_thread(); i < n; i += grid_threads()) {
        const float gf = to_float(gate[i]);
        out[i] = from_float<T>(gf * sigmoidf(gf) * to_float(up[i]));
    }
}

template <typename T>
__device__ __forceinline__ void swiglu_grad(float g, float u, float d, T& dg, T& du) {
    const float s = sigmoidf(g);
    dg = from_float<T>(d * u * s * (1.f + g * (1.f - s)));
    du = from_float<T>(d * g * s);
}

template <typename T>
__device__ void swiglu_bwd(T* dgate, T* dup, const T* dout, const T* gate, const T* up, long long n) {
    constexpr int N = Pack<T>::N;
    const bool vec = aligned16(dgate) && aligned16(dup) && aligned16(dout) && aligned16(gate) && aligned16(up);
    const long long packs = vec ? n / N : 0;
    for (long long p = global_thread(); p < packs; p += grid_threads()) {
        const Pack<T> g = Pack<T>::load(gate + p * N), u = Pack<T>::load(up + p * N), d = Pack<T>::load(dout + p * N);
        Pack<T> dg, du;
#pragma unroll
        for (int j = 0; j < N; j++) swiglu_grad(to_float(g.v[j]), to_float(u.v[j]), to_float(d.v[j]), dg.v[j], du.v[j]);
        dg.store(dgate + p * N);
        du.store(dup + p * N);
    }
    for (long long i = packs * N + global_thread(); i < n; i += grid_threads()) {
        T dg, du;
        swiglu_grad(to_float(gate[i]), to_float(up[i]), to_float(dout[i]), dg, du);
        dgate[i] = dg;
        dup[i] = du;
    }
}

template <typename T>
__device__ void silu_fwd(T* out, const T* x, long long n) {
    constexpr int N = Pack<T>::N;
    const long long packs = (aligned16(out) && aligned16(x)) ? n / N : 0;
    for (long long p = global_thread(); p < packs; p += grid_threads()) {
        const Pack<T> a = Pack<T>::load(x + p * N);
        Pack<T> o;
#pragma unroll
        for (int j = 0; j < N; j++) {
            const float v = to_float(a.v[j]);
            o.v[j] = from_float<T>(v * sigmoidf(v));
        }
        o.store(out + p * N);
    }
    for (long long i = packs * N + global_thread(); i < n; i += grid_threads()) {
        const float v = to_float(x[i]);
        out[i] = from_float<T>(v * sigmoidf(v));
    }
}

// dx = dout * silu'(x), overwritten or added to dx (accumulate != 0).
template <typename T>
__device__ void silu_bwd(T* dx, const T* dout, const T* x, long long n, int accumulate) {
    constexpr int N = Pack<T>::N;
    const long long packs = (aligned16(dx) && aligned16(dout) && aligned16(x)) ? n / N : 0;
    for (long long p = global_thread(); p < packs; p += grid_threads()) {
        const Pack<T> a = Pack<T>::load(x + p * N), d = Pack<T>::load(dout + p * N);
        Pack<T> prev;
        if (accumulate) prev = Pack<T>::load(dx + p * N);
        Pack<T> o;
#pragma unroll
        for (int j = 0; j < N; j++) {
            const float v = to_float(a.v[j]), s = sigmoidf(v);
            float r = to_float(d.v[j]) * s * (1.f + v * (1.f - s));
            if (accumulate) r += to_float(prev.v[j]);
            o.v[j] = from_float<T>(r);
        }
        o.store(dx + p * N);
    }
    for (long long i = packs * N + global_thread(); i < n; i += grid_threads()) {
        const float v = to_float(x[i]), s = sigmoidf(v);
        float r = to_float(dout[i]) * s * (1.f + v * (1.f - s));
        if (accumulate) r += to_float(dx[i]);
        dx[i] = from_float<T>(r);
    }
}

extern "C" __global__ void swiglu_fwd_f32(float* out, const float* gate, const float* up, long long n) { swiglu_fwd(out, gate, up, n); }
extern "C" __global__ void swiglu_fwd_bf16(bf16* out, const bf16* gate, const bf16* up, long long n) { swiglu_fwd(out, gate, up, n); }
extern "C" __global__ void swiglu_bwd_f32(float* dgate, float* dup, const float* dout, const float* gate, const float* up, long long n) {
    swiglu_bwd(dgate, dup, dout, gate, up, n);
}
extern "C" __global__ void swiglu_bwd_bf16(bf16* dgate, bf16* dup, const bf16* dout, const bf16* gate, const bf16* up, long long n) {
    swiglu_bwd(dgate, dup, dout, gate, up, n);
}
extern "C" __global__ void silu_fwd_f32(float* out, const float* x, long long n) { silu_fwd(out, x, n); }
extern "C" __global__ void silu_fwd_bf16(bf16* out, const bf16* x, long long n) { silu_fwd(out, x, n); }
extern "C" __global__ void silu_bwd_f32(float* dx, const float* dout, const float* x, long long n, int accumulate) {
    silu_bwd(dx, dout, x, n, accumulate);
}
extern "C" __global__ void silu_bwd_bf16(bf16* dx, const bf16* dout, const bf16* x, long long n, int accumulate) {
    silu_bwd(dx, dout, x, n, accumulate);
}
