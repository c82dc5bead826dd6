// Vocabulary losses fused with their softmax: the loss and the gradient of the logits in one
// kernel, one block per row of V logits. Pass 1 reads the row once and keeps an online
// (max, sum) normaliser per thread; the block merges them; pass 2 reads the row again (from L2 for
// rows up to several MB) and writes the gradient. The [rows, V] probabilities never reach memory.
// The gradient may overwrite the logits in place (dlogits == logits): every value a thread reads
// before the first __syncthreads of the block merge is all that is read from another thread.
#include "common.cuh"

// Merge a per-thread state over the block; every thread gets the merged state.
__device__ void block_lse_merge(float& m, float& s) {
    __shared__ float sm_m[32], sm_s[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) { sm_m[warp] = m; sm_s[warp] = s; }
    __syncthreads();
    m = lane < warps ? sm_m[lane] : -INFINITY;
    s = lane < warps ? sm_s[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
}

// Adds x to the state (m, s). Values of -inf contribute nothing.
__device__ __forceinline__ void lse_add(float& m, float& s, float x) {
    if (x > m) {
        s *= expf(m - x);  // m = -inf: exp gives 0, and 0 * NaN stays NaN
        m = x;
    }
    if (m != -INFINITY) s += expf(x - m);
    else if (x != x) s = x;  // NaN keeps itself visible
}

// Adds N values with one rescale: the pack's max first, then one exp per value.
template <int N>
__device__ __forceinline__ void lse_add_pack(float& m, float& s, const float (&v)[N]) {
    float pm = v[0];
#pragma unroll
    for (int j = 1; j < N; j++) pm = fmaxf(pm, v[j]);  // fmaxf drops NaN; the sum below keeps it
    if (pm > m) {
        s *= expf(m - pm);
        m = pm;
    }
    if (m == -INFINITY) {
#pragma unroll
        for (int j = 0; j < N; j++) if (v[j] != v[j]) s = v[j];
        return;
    }
#pragma unroll
    for (int j = 0; j < N; j++) s += expf(v[j] - m);
}

// Softmax cross-entropy. loss[row] = logsumexp(x) - x[target] (fp32, one per row);
// dlogits = grad_scale * (softmax(x) - onehot(target)) when dlogits != null.
// target < 0 ignores the row (loss 0, gradient 0); target >= V gives a NaN loss.
template <typename T>
__device__ void cross_entropy(float* loss, T* dlogits, const T* logits, const int* targets, int rows, int V, float grad_scale) {
    const int row = blockIdx.x;
    if (row >= rows) return;
    const T* x = logits + (long long)row * V;
    T* dx = dlogits != nullptr ? dlogits + (long long)row * V : nullptr;
    const int target = targets[row];
    if (target < 0) {
        if (threadIdx.x == 0) loss[row] = 0.f;
        if (dx != nullptr) for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = from_float<T>(0.f);
        return;
    }
    const float x_target = target < V ? to_float(x[target]) : NAN;  // read before pass 2 writes

    constexpr int N = Pack<T>::N;
    const int packs = (V % N == 0 && aligned16(logits) && (dx == nullptr || aligned16(dlogits))) ? V / N : 0;
    float m = -INFINITY, s = 0.f;
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        const Pack<T> a = Pack<T>::load(x + p * N);
        float v[N];
#pragma unroll
        for (int j = 0; j < N; j++) v[j] = to_float(a.v[j]);
        lse_add_pack<N>(m, s, v);
    }
    for (int i = packs * N + threadIdx.x; i < V; i += blockDim.x) lse_add(m, s, to_float(x[i]));
    block_lse_merge(m, s);
    const float lse = m + logf(s);
    if (threadIdx.x == 0) loss[row] = lse - x_target;
    if (dx == nullptr) return;

    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        const Pack<T> a = Pack<T>::load(x + p * N);
        Pack<T> d;
#pragma unroll
        for (int j = 0; j < N; j++) {
            const int i = p * N + j;
            d.v[j] = from_float<T>(grad_scale * (expf(to_float(a.v[j]) - lse) - (i == target ? 1.f : 0.f)));
        }
        d.store(dx + p * N);
    }
    for (int i = packs * N + threadIdx.x; i < V; i += blockDim.x) {
        dx[i] = from_float<T>(grad_scale * (expf(to_float(x[i]) - lse) - (i == target ? 1.f : 0.f)));
    }
}

// Teacher state for KL: a = teacher / T. (ma, za) is the normaliser of a and
// wa = sum_i exp(a_i - ma) * (a_i - b_i), so that sum_i p_i (a_i - b_i) = wa / za.
struct KlState {
    float ma, za, wa, mb, zb;
};

__device__ __forceinline__ void kl_add(KlState& st, float a, float b) {
    if (a > st.ma) {
        const float f = expf(st.ma - a);
        st.za *= f;
        st.wa *= f;
        st.ma = a;
    }
    if (st.ma != -INFINITY) {
        const float e = expf(a - st.ma);
        if (e != 0.f) {  // p_i = 0 adds nothing, even where b_i = -inf; NaN still passes
            st.za += e;
            st.wa += e * (a - b);
        }
    } else if (a != a) {
        st.za = a;
    }
    lse_add(st.mb, st.zb, b);
}

// N values of teacher and student with one rescale each (see lse_add_pack).
template <int N>
__device__ __forceinline__ void kl_add_pack(KlState& st, const float (&a)[N], const float (&b)[N]) {
    float pm = a[0];
#pragma unroll
    for (int j = 1; j < N; j++) pm = fmaxf(pm, a[j]);
    if (pm > st.ma) {
        const float f = expf(st.ma - pm);
        st.za *= f;
        st.wa *= f;
        st.ma = pm;
    }
    if (st.ma == -INFINITY) {
#pragma unroll
        for (int j = 0; j < N; j++) if (a[j] != a[j]) st.za = a[j];
    } else {
#pragma unroll
        for (int j = 0; j < N; j++) {
            const float e = expf(a[j] - st.ma);
            if (e != 0.f) {  // p_i = 0 adds nothing, even where b_i = -inf; NaN still passes
                st.za += e;
                st.wa += e * (a[j] - b[j]);
            }
        }
    }
    lse_add_pack<N>(st.mb, st.zb, b);
}

__device__ __forceinline__ void kl_merge(KlState& st, const KlState& o) {
    const float mn = fmaxf(st.ma, o.ma);
    if (mn == -INFINITY) {  // both empty, or NaN (which must stay visible)
        st.za += o.za;
        st.wa += o.wa;
    } else {
        const float f1 = expf(st.ma - mn), f2 = expf(o.ma - mn);
        st.za = st.za * f1 + o.za * f2;
        st.wa = st.wa * f1 + o.wa * f2;
        st.ma = mn;
    }
    lse_merge(st.mb, st.zb, o.mb, o.zb);
}

__device__ __forceinline__ KlState kl_shfl(const KlState& st, int o) {
    KlState r;
    r.ma = __shfl_xor_sync(0xffffffffu, st.ma, o);
    r.za = __shfl_xor_sync(0xffffffffu, st.za, o);
    r.wa = __shfl_xor_sync(0xffffffffu, st.wa, o);
    r.mb = __shfl_xor_sync(0xffffffffu, st.mb, o);
    r.zb = __shfl_xor_sync(0xffffffffu, st.zb, o);
    return r;
}

__device__ void block_kl_merge(KlState& st) {
    __shared__ KlState sm[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) kl_merge(st, kl_shfl(st, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) sm[warp] = st;
    __syncthreads();
    if (lane < warps) st = sm[lane];
    else st = KlState{-INFINITY, 0.f, 0.f, -INFINITY, 0.f};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) kl_merge(st, kl_shfl(st, o));
}

// Distillation loss KL(p || q) with p = softmax(teacher / T), q = softmax(student / T):
//   loss[row] = sum_i p_i (log p_i - log q_i)
//   dstudent  = grad_scale / T * (q - p)          when dstudent != null
// (grad_scale is typically T^2 / n_rows, Hinton's scaling). mask[row] == 0 (mask may be null)
// skips the row: loss 0, gradient 0. dstudent may alias student.
template <typename T>
__device__ void kl_div(float* loss, T* dstudent, const T* student, const T* teacher, const int* mask,
                       int rows, int V, float inv_temp, float grad_scale) {
    const int row = blockIdx.x;
    if (row >= rows) return;
    const T* sx = student + (long long)row * V;
    const T* tx = teacher + (long long)row * V;
    T* dx = dstudent != nullptr ? dstudent + (long long)row * V : nullptr;
    if (mask != nullptr && mask[row] == 0) {
        if (threadIdx.x == 0) loss[row] = 0.f;
        if (dx != nullptr) for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = from_float<T>(0.f);
        return;
    }
    constexpr int N = Pack<T>::N;
    const bool vec = V % N == 0 && aligned16(student) && aligned16(teacher) && (dx == nullptr || aligned16(dstudent));
    const int packs = vec ? V / N : 0;
    KlState st{-INFINITY, 0.f, 0.f, -INFINITY, 0.f};
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        const Pack<T> a = Pack<T>::load(tx + p * N), b = Pack<T>::load(sx + p * N);
        float av[N], bv[N];
#pragma unroll
        for (int j = 0; j < N; j++) {
            av[j] = to_float(a.v[j]) * inv_temp;
            bv[j] = to_float(b.v[j]) * inv_temp;
        }
        kl_add_pack<N>(st, av, bv);
    }
    for (int i = packs * N + threadIdx.x; i < V; i += blockDim.x) kl_add(st, to_float(tx[i]) * inv_temp, to_float(sx[i]) * inv_temp);
    block_kl_merge(st);
    const float lse_a = st.ma + logf(st.za), lse_b = st.mb + logf(st.zb);
    // KL = sum p (a - b) - (lse_a - lse_b), with lse_a - lse_b formed as (ma - mb) + log(za / zb):
    // the two log-sum-exps are large and close, and their plain difference would lose digits.
    if (threadIdx.x == 0) loss[row] = st.wa / st.za - (st.ma - st.mb) - logf(st.za / st.zb);
    if (dx == nullptr) return;

    const float scale = grad_scale * inv_temp;
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        const Pack<T> a = Pack<T>::load(tx + p * N), b = Pack<T>::load(sx + p * N);
        Pack<T> d;
#pragma unroll
        for (int j = 0; j < N; j++) {
            const float q = expf(to_float(b.v[j]) * inv_temp - lse_b), pt = expf(to_float(a.v[j]) * inv_temp - lse_a);
            d.v[j] = from_float<T>(scale * (q - pt));
        }
        d.store(dx + p * N);
    }
    for (int i = packs * N + threadIdx.x; i < V; i += blockDim.x) {
        const float q = expf(to_float(sx[i]) * inv_temp - lse_b), pt = expf(to_float(tx[i]) * inv_temp - lse_a);
        dx[i] = from_float<T>(scale * (q - pt));
    }
}

extern "C" __global__ void cross_entropy_f32(float* loss, float* dlogits, const float* logits, const int* targets, int rows, int V, float grad_scale) {
    cross_entropy(loss, dlogits, logits, targets, rows, V, grad_scale);
}
extern "C" __global__ void cross_entropy_bf16(float* loss, bf16* dlogits, const bf16* logits, const int* targets, int rows, int V, float grad_scale) {
    cross_entropy(loss, dlogits, logits, targets, rows, V, grad_scale);
}
extern "C" __global__ void kl_div_f32(float* loss, float* dstudent, const float* student, const float* teacher, const int* mask,
                                      int rows, int V, float inv_temp, float grad_scale) {
    kl_div(loss, dstudent, student, teacher, mask, rows, V, inv_temp, grad_scale);
}
extern "C" __global__ void kl_div_bf16(float* loss, bf16* dstudent, const bf16* student, const bf16* teacher, const int* mask,
                                       int rows, int V, float inv_temp, float grad_scale) {
    kl_div(loss, dstudent, student, teacher, mask, rows, V, inv_temp, grad_scale);
}
