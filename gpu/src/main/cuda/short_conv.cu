// fla's ShortConvolution before its activation (core/cpu/ShortConv is the reference, docs/gsa-math.md): a
// causal depthwise convolution over time of K taps per channel, no bias, on rows x [B·T, C]:
//   forward   y[b,t,c]  = Σ_{i<K} w[c,i] · x[b, t−K+1+i, c]          (x is 0 before the sequence)
//   backward  dx[b,s,c] = Σ_{i<K} w[c,i] · dy[b, s+K−1−i, c]         (dy is 0 after the sequence)
//             dw[c,i]  += Σ_{b,t} dy[b,t,c] · x[b, t−K+1+i, c]
// The weight w [C, 1, K] is fla's layout. Sums in fp32 in tap order; dw is reduced in a fixed order, so it
// has the same bits every run: a block per 32 channels, tap and chunk of rows sums its rows over its 8 warps
// (rows strided by 8) and then the 8 warps' sums in order into partial[chunk, c, i]; a second kernel adds the
// chunks' sums in chunk order to dw. The chunks give the weight gradient a block per SM and more at any
// batch (one block per 32 channels and tap looped over every row of the batch: 48 blocks at a 384-wide layer).
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

// Block (32 channels, tap i, chunk of rows), 256 threads: lane = channel in the block, warp = row phase.
template <typename T>
__device__ void bwd_w_partial(float* partial, const T* dy, const T* x, int batch, int seqLen, int channels, int taps,
                              int rowsPerChunk) {
    __shared__ float sums[8][32];
    const int lane = threadIdx.x & 31, phase = threadIdx.x >> 5, i = blockIdx.y, chunk = blockIdx.z;
    const int c = blockIdx.x * 32 + lane;
    const long long rows = (long long)batch * seqLen, begin = (long long)chunk * rowsPerChunk;
    const long long end = begin + rowsPerChunk < rows ? begin + rowsPerChunk : rows;
    float acc = 0.f;
    if (c < channels) {
        for (long long r = begin + phase; r < end; r += 8) {
            const int t = (int)(r % seqLen);
            if (t < taps - 1 - i) continue;
            acc += to_float(dy[r * channels + c]) * to_float(x[(r - taps + 1 + i) * channels + c]);
        }
    }
    sums[phase][lane] = acc;
    __syncthreads();
    if (phase == 0 && c < channels) {
        float sum = 0.f;
        for (int p = 0; p < 8; p++) sum += sums[p][lane];
        partial[((long long)chunk * channels + c) * taps + i] = sum;
    }
}

// dw[e] += Σ_chunk partial[chunk, e], chunks in order.
__device__ void bwd_w_sum(float* dw, const float* partial, int channels, int taps, int chunks) {
    const long long n = (long long)channels * taps;
    for (long long e = global_thread(); e < n; e += grid_threads()) {
        float sum = 0.f;
        for (int k = 0; k < chunks; k++) sum += partial[k * n + e];
        dw[e] += sum;
    }
}

// One decode step of B sequences (the batched decoding step's twin of the forward pass over a whole sequence):
// row b's new projections p = proj[b·ldp + c] (fp32, C channels) and its last K − 1 inputs
// hist_b = rows[b·rowStride] + offset ([K − 1, C] in T, oldest first):
//   y = Σ_{i<K−1} w[c,i] · hist[i,c] + w[c,K−1] · p[c]    (p rounded to T first, the sum in tap order as fwd's)
//   proj ← silu(y)                                        (fla's activation after the convolution)
//   hist ← (hist[1 ..], p)
// A thread owns one (row, channel): it reads its history before it shifts it. Padded rows of a step share one
// history (their results are dropped).
template <typename T>
__device__ void decode(float* proj, int ldp, const T* w, const unsigned long long* rows, int rowStride, long long offset,
                       int batch, int channels, int taps) {
    const long long n = (long long)batch * channels;
    for (long long e = global_thread(); e < n; e += grid_threads()) {
        const long long b = e / channels;
        const int c = (int)(e - b * channels);
        T* hist = reinterpret_cast<T*>(rows[b * rowStride]) + offset;
        float* p = proj + b * ldp + c;
        const T x = from_float<T>(*p);
        float acc = 0.f;
        for (int i = 0; i < taps - 1; i++) acc += to_float(w[(long long)c * taps + i]) * to_float(hist[(long long)i * channels + c]);
        acc += to_float(w[(long long)c * taps + taps - 1]) * to_float(x);
        for (int i = 0; i + 2 < taps; i++) hist[(long long)i * channels + c] = hist[(long long)(i + 1) * channels + c];
        if (taps > 1) hist[(long long)(taps - 2) * channels + c] = x;
        *p = acc / (1.f + expf(-acc));
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
extern "C" __global__ void __launch_bounds__(256) short_conv_bwd_w_f32(float* partial, const float* dy, const float* x,
                                                                      int batch, int seqLen, int channels, int taps,
                                                                      int rowsPerChunk) {
    conv::bwd_w_partial(partial, dy, x, batch, seqLen, channels, taps, rowsPerChunk);
}
extern "C" __global__ void __launch_bounds__(256) short_conv_bwd_w_bf16(float* partial, const bf16* dy, const bf16* x,
                                                                       int batch, int seqLen, int channels, int taps,
                                                                       int rowsPerChunk) {
    conv::bwd_w_partial(partial, dy, x, batch, seqLen, channels, taps, rowsPerChunk);
}
extern "C" __global__ void short_conv_bwd_w_sum(float* dw, const float* partial, int channels, int taps, int chunks) {
    conv::bwd_w_sum(dw, partial, channels, taps, chunks);
}
extern "C" __global__ void short_conv_decode_f32(float* proj, int ldp, const float* w, const unsigned long long* rows, int rowStride,
                                                 long long offset, int batch, int channels, int taps) {
    conv::decode(proj, ldp, w, rows, rowStride, offset, batch, channels, taps);
}
extern "C" __global__ void short_conv_decode_bf16(float* proj, int ldp, const bf16* w, const unsigned long long* rows, int rowStride,
                                                  long long offset, int batch, int channels, int taps) {
    conv::decode(proj, ldp, w, rows, rowStride, offset, batch, channels, taps);
}
