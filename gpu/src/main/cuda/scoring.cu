// Log-likelihoods of continuations from their rows of logits, on the device (the CPU twin is
// gsat2r.core.model.ContinuationScorer): for continuation c, rows [first[c], first[c+1]) of logits
// [R, V] are the model's predictions of its tokens targets[row]; the kernel writes
//   sums[c]   = Σ_rows log softmax(row)[target]      (double; lse = max + log Σ exp(x − max))
//   greedy[c] = 1 when every target is the row's argmax (the first index of the largest logit, as
//               torch.argmax), else 0
// so that only two numbers per continuation come back to the host. One CTA per continuation, rows in
// order; a NaN logit gives a NaN sum.
#include "common.cuh"

namespace scoring {

constexpr int THREADS = 256;

// The larger of two (value, index) candidates; the lower index on ties, NaN wins (so it shows).
__device__ __forceinline__ void best(float& v, int& i, float v2, int i2) {
    if (v2 > v || (v2 == v && i2 < i) || (v2 != v2 && v == v)) {
        v = v2;
        i = i2;
    }
}

template <typename T>
__device__ void score(double* sums, int* greedy, const T* logits, const int* targets, const int* first, int V) {
    __shared__ float sv[THREADS / 32];
    __shared__ int si[THREADS / 32];
    __shared__ double sd[THREADS / 32];
    const int c = blockIdx.x, tid = threadIdx.x, w = tid >> 5, l = tid & 31;
    double total = 0.0;
    int all = 1;
    for (int row = first[c]; row < first[c + 1]; row++) {
        const T* x = logits + (long long)row * V;
        float mv = -INFINITY;
        int mi = V;
        for (int j = tid; j < V; j += THREADS) best(mv, mi, to_float(x[j]), j);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) best(mv, mi, __shfl_xor_sync(0xffffffffu, mv, o), __shfl_xor_sync(0xffffffffu, mi, o));
        __syncthreads();  // the shared slots may still be read for the previous row
        if (l == 0) {
            sv[w] = mv;
            si[w] = mi;
        }
        __syncthreads();
        mv = sv[0];
        mi = si[0];
        for (int x2 = 1; x2 < THREADS / 32; x2++) best(mv, mi, sv[x2], si[x2]);
        double s = 0.0;
        for (int j = tid; j < V; j += THREADS) s += (double)expf(to_float(x[j]) - mv);
        s = warp_sum(s);
        if (l == 0) sd[w] = s;
        __syncthreads();
        if (tid == 0) {
            double z = 0.0;
            for (int x2 = 0; x2 < THREADS / 32; x2++) z += sd[x2];
            const int t = targets[row];
            total += (double)to_float(x[t]) - ((double)mv + log(z));
            all &= mi == t;
        }
    }
    if (tid == 0) {
        sums[c] = total;
        greedy[c] = all;
    }
}

}  // namespace scoring

extern "C" __global__ void __launch_bounds__(scoring::THREADS) score_continuations_f32(double* sums, int* greedy, const float* logits,
                                                                                     const int* targets, const int* first, int V) {
    scoring::score<float>(sums, greedy, logits, targets, first, V);
}
extern "C" __global__ void __launch_bounds__(scoring::THREADS) score_continuations_bf16(double* sums, int* greedy, const bf16* logits,
                                                                                      const int* targets, const int* first, int V) {
    scoring::score<bf16>(sums, greedy, logits, targets, first, V);
}
