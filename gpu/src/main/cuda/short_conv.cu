// fla's ShortConvolution before its activation (core/cpu/ShortConv is the reference, docs/gsa-math.md): a
// causal depthwise convolution over time of K taps per channel, no bias, on rows x [B·T, C]:
//   forward   y[b,t,c]  = Σ_{i<K} w[c,i] · x[b, t−K+1+i, c]          (x is 0 before the sequence)
//   backward  dx[b,s,c] = Σ_{i<K} w[c,i] · dy[b, s+K−1−i, c]         (dy is 0 after the sequence)
//             dw[c,i]  += Σ_{b,t} dy[b,t,c] · x[b, t−K+1+i, c]
// The weight w [C, 1, K] is fla's layout. Sums in fp32 in tap order; dw is reduced in a fixed order
// (a block per 32 channels and tap, rows strided over its 8 warps' lanes, then the 8 partial sums in
// order), so it has the same bits every run.
#include "common.cuh"

namespace conv {

template <typename T>
__device__ void fwd(T* y, const T* x, const T* w, int batch, int seqLen, int channels, int taps) {
    const long long n = (long long)batch * seqLen * channels;
    for (long long e = global_thread(); e < n; e += grid_threads()) {
        const long long r = e / channels;
        const int c = (int)(e - r * channels), t = (int)(r % seqLen);
        float acc = 0.f;
        for (int i = taps - 1 - min(taps - 1, t); i < taps; i++) {
            acc += to_float(w[(long long)c * taps + i]) * to_float(x[(r - taps + 1 + i) * channels + c]);
        }
        y[e] = from_float<T>(acc);
    }
}

template <typename T>
__device__ void bwd_x(T* dx, const T* dy, const T* w, int batch, int seqLen, int channels, int taps, int accumulate) {
    const long long n = (long long)batch * seqLen * channels;
    for (long long e = global_thread(); e < n; e += grid_threads()) {
        const long long r = e / channels;
        const int c = (int)(e - r * channels), s = (int)(r % seqLen);
        float acc = 0.f;
        for (int i = taps - 1 - min(taps - 1, seqLen - 1 - s); i < taps; i++) {
            acc += to_float(w[(long long)c * taps + i]) * to_float(dy[(r + taps - 1 - i) * channels + c]);
        }
        if (accumulate) acc += to_float(dx[e]);
        dx[e] = from_float<T>(acc);
    }
}

// Block (channel chunk of 32, tap i), 256 threads: lane = channel in the chunk, warp = row phase.
template <typename T>
__device__ void bwd_w(float* dw, const T* dy, const T* x, int batch, int seqLen, int channels, int taps) {
    __shared__ float partial[8][32];
    const int lane = threadIdx.x & 31, phase = threadIdx.x >> 5, i = blockIdx.y;
    const int c = blockIdx.x * 32 + lane;
    float acc = 0.f;
    if (c < channels) {
        const long long rows = (long long)batch * seqLen;
        for (long long r = phase; r < rows; r += 8) {
            const int t = (int)(r % seqLen);
            if (t < taps - 1 - i) continue;
            acc += to_float(dy[r * channels + c]) * to_float(x[(r - taps + 1 + i) * channels + c]);
        }
    }
    partial[phase][lane] = acc;
    __syncthreads();
    if (phase == 0 && c < channels) {
        float sum = 0.f;
        for (int p = 0; p < 8; p++) sum += partial[p][lane];
        dw[(long long)c * taps + i] += sum;
    }
}

}  // namespace conv

extern "C" __global__ void short_conv_fwd_f32(float* y, const float* x, const float* w, int batch, int seqLen, int channels,
                                              int taps) {
    conv::fwd(y, x, w, batch, seqLen, channels, taps);
}
extern "C" __global__ void short_conv_fwd_bf16(bf16* y, const bf16* x, const bf16* w, int batch, int seqLen, int channels,
                                               int taps) {
    conv::fwd(y, x, w, batch, seqLen, channels, taps);
}
extern "C" __global__ void short_conv_bwd_x_f32(float* dx, const float* dy, const float* w, int batch, int seqLen, int channels,
                                                int taps, int accumulate) {
    conv::bwd_x(dx, dy, w, batch, seqLen, channels, taps, accumulate);
}
extern "C" __global__ void short_conv_bwd_x_bf16(bf16* dx, const bf16* dy, const bf16* w, int batch, int seqLen, int channels,
                                                 int taps, int accumulate) {
    conv::bwd_x(dx, dy, w, batch, seqLen, channels, taps, accumulate);
}
extern "C" __global__ void __launch_bounds__(256) short_conv_bwd_w_f32(float* dw, const float* dy, const float* x, int batch,
                                                                      int seqLen, int channels, int taps) {
    conv::bwd_w(dw, dy, x, batch, seqLen, channels, taps);
}
extern "C" __global__ void __launch_bounds__(256) short_conv_bwd_w_bf16(float* dw, const bf16* dy, const bf16* x, int batch,
                                                                       int seqLen, int channels, int taps) {
    conv::bwd_w(dw, dy, x, batch, seqLen, channels, taps);
}
