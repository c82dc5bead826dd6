// Token embedding, forward: gathers rows of the table. The backward pass, which must give the same
// bits every run, is embedding_bwd_sorted (train.cu).
#include "common.cuh"

// out[t, :] = table[ids[t], :]. One block per token. An id outside [0, vocab) writes a NaN row:
// a bad id must never pass silently as some other token's embedding.
template <typename T>
__device__ void embedding_fwd(T* out, const int* ids, const T* table, int n_tokens, int dim, int vocab) {
    const int t = blockIdx.x;
    if (t >= n_tokens) return;
    const int id = ids[t];
    T* o = out + (long long)t * dim;
    if (id < 0 || id >= vocab) {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = from_float<T>(NAN);
        return;
    }
    const T* row = table + (long long)id * dim;
    constexpr int N = Pack<T>::N;
    if (dim % N == 0 && aligned16(out) && aligned16(table)) {
        for (int i = threadIdx.x * N; i < dim; i += blockDim.x * N) Pack<T>::load(row + i).store(o + i);
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = row[i];
    }
}

extern "C" __global__ void embedding_fwd_f32(float* out, const int* ids, const float* table, int n_tokens, int dim, int vocab) {
    embedding_fwd(out, ids, table, n_tokens, dim, vocab);
}
extern "C" __global__ void embedding_fwd_bf16(bf16* out, const int* ids, const bf16* table, int n_tokens, int dim, int vocab) {
    embedding_fwd(out, ids, table, n_tokens, dim, vocab);
}
