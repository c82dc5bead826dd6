// One decode step of the GSA layer for B sequences, each with its own fp32 recurrent state wherever its
// decoder keeps it (states[2b], states[2b + 1] = device addresses of Hk [Hkv,K,M] and Hv [Hkv,M,V] of row b):
// the feature map and the gates from the projections' fp32 pre-activations, both recurrences, the slot
// softmax and the read, in one kernel (docs/gsa-math.md; the CPU twin is GsaRecurrent.step with the
// layer's activations, gsat2r.core.model.gsa.GsaMixer):
//
//   q̃ = scale·silu(q)   k = silu(k)   v = silu(v)   g = logsigmoid(f)/τ   s = 1 − exp(g)
//   Hk ← Hk ⊙ exp(g)[None,:] + k ⊗ s        Hv ← Hv ⊙ exp(g)[:,None] + s ⊗ v
//   per query head h of the kv head's group:  p = softmax(q̃_hᵀ Hk),  o_h = pᵀ Hv
//
// One CTA per (row, kv head), 256 threads. The state does not depend on the previous kernel (the
// projections), so it is copied into shared memory (cp.async) before griddepcontrol.wait; the
// activations are formed after it. The updated state goes back to where it came from;
// ok and o are sums over a and m in index order (the same arithmetic for a sequence alone or in a batch).
//
// Inputs q [B, ldq] (query head h at column h·K), k [B, ldk], v [B, ldv], f [B, ldf] (kv head κ at
// κ·K, κ·V, κ·M) fp32: views into one fused projection output or separate buffers. o [B, H·V] in T.
#include "tiles.cuh"

namespace gsad {
using namespace tiles;

constexpr int THREADS = 256;

__device__ __forceinline__ float silu(float x) { return x * (1.f / (1.f + expf(-x))); }
__device__ __forceinline__ float logsigmoid(float f) { return fminf(f, 0.f) - log1pf(expf(-fabsf(f))); }

// Shared-memory layout (floats): Hk [K·M], Hv [M·V], q̃ [G·K], k [K], v [V], s [M], decay [M], p [G·M].
struct Smem {
    float *hk, *hv, *q, *k, *v, *s, *decay, *p;
    __device__ void carve(SmemCarver& c, int G, int K, int V, int M) {
        hk = c.take<float>((long long)K * M);
        hv = c.take<float>((long long)M * V);
        q = c.take<float>((long long)G * K);
        k = c.take<float>(K);
        v = c.take<float>(V);
        s = c.take<float>(M);
        decay = c.take<float>(M);
        p = c.take<float>((long long)G * M);
    }
};

template <typename T>
__device__ void step(T* o, const long long* states, const float* q, int ldq, const float* k, int ldk, const float* v, int ldv,
                     const float* f, int ldf, int H, int Hkv, int K, int V, int M, float tau, float scale) {
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    Smem sm;
    const int G = H / Hkv;
    sm.carve(carver, G, K, V, M);
    carver.check();
    grid_dependents_launch();
    const int b = blockIdx.x, kv = blockIdx.y, tid = threadIdx.x;
    float* Hk = reinterpret_cast<float*>(states[2 * b]) + (long long)kv * K * M;
    float* Hv = reinterpret_cast<float*>(states[2 * b + 1]) + (long long)kv * M * V;
    for (int i = 4 * tid; i < K * M; i += 4 * THREADS) cp_async16(sm.hk + i, Hk + i, true);
    for (int i = 4 * tid; i < M * V; i += 4 * THREADS) cp_async16(sm.hv + i, Hv + i, true);
    cp_async_commit();

    grid_dependency_wait();  // the pre-activations come from the previous kernel
    const float* qr = q + (long long)b * ldq + (long long)kv * G * K;
    for (int i = tid; i < G * K; i += THREADS) sm.q[i] = scale * silu(qr[i]);
    for (int i = tid; i < K; i += THREADS) sm.k[i] = silu(k[(long long)b * ldk + (long long)kv * K + i]);
    for (int i = tid; i < V; i += THREADS) sm.v[i] = silu(v[(long long)b * ldv + (long long)kv * V + i]);
    for (int i = tid; i < M; i += THREADS) {
        const float g = logsigmoid(f[(long long)b * ldf + (long long)kv * M + i]) / tau, decay = expf(g);
        sm.s[i] = 1.f - decay;  // as the CPU layer (and torch) form s
        sm.decay[i] = decay;
    }
    cp_async_wait<0>();
    __syncthreads();

    for (int i = tid; i < K * M; i += THREADS) {
        const int a = i / M, m = i - a * M;
        sm.hk[i] = sm.hk[i] * sm.decay[m] + sm.k[a] * sm.s[m];
    }
    for (int i = tid; i < M * V; i += THREADS) {
        const int m = i / V;
        sm.hv[i] = sm.hv[i] * sm.decay[m] + sm.s[m] * sm.v[i - m * V];
    }
    __syncthreads();
    for (int i = 4 * tid; i < K * M; i += 4 * THREADS) *reinterpret_cast<float4*>(Hk + i) = *reinterpret_cast<const float4*>(sm.hk + i);
    for (int i = 4 * tid; i < M * V; i += 4 * THREADS) *reinterpret_cast<float4*>(Hv + i) = *reinterpret_cast<const float4*>(sm.hv + i);

    // Pass 1: ok[h][m] = Σ_a q̃[h][a] Hk[a][m] (into p), then the softmax over m, one warp per head.
    for (int i = tid; i < G * M; i += THREADS) {
        const int h = i / M, m = i - h * M;
        float acc = 0.f;
        for (int a = 0; a < K; a++) acc += sm.q[h * K + a] * sm.hk[a * M + m];
        sm.p[i] = acc;
    }
    __syncthreads();
    const int w = warp_id(), l = lane_id();
    for (int h = w; h < G; h += THREADS / 32) {
        float* row = sm.p + h * M;
        float mx = -INFINITY;
        for (int m = l; m < M; m += 32) mx = fmaxf(mx, row[m]);
        mx = warp_max(mx);
        float sum = 0.f;
        for (int m = l; m < M; m += 32) sum += expf(row[m] - mx);
        sum = warp_sum(sum);
        __syncwarp();
        for (int m = l; m < M; m += 32) row[m] = expf(row[m] - mx) / sum;
    }
    __syncthreads();
    // Pass 2: o[h][c] = Σ_m p[h][m] Hv[m][c].
    T* orow = o + (long long)b * H * V + (long long)kv * G * V;
    for (int i = tid; i < G * V; i += THREADS) {
        const int h = i / V, c = i - h * V;
        float acc = 0.f;
        for (int m = 0; m < M; m++) acc += sm.p[h * M + m] * sm.hv[m * V + c];
        orow[i] = from_float<T>(acc);
    }
}

}  // namespace gsad

#define GSA_DECODE_KERNEL(T, SUFFIX)                                                                                      \
    extern "C" __global__ void __launch_bounds__(gsad::THREADS) gsa_decode_step_##SUFFIX(                               \
        T* o, const long long* states, const float* q, int ldq, const float* k, int ldk, const float* v, int ldv,     \
        const float* f, int ldf, int H, int Hkv, int K, int V, int M, float tau, float scale) {                    \
        gsad::step<T>(o, states, q, ldq, k, ldk, v, ldv, f, ldf, H, Hkv, K, V, M, tau, scale);                     \
    }

GSA_DECODE_KERNEL(float, f32)
GSA_DECODE_KERNEL(bf16, bf16)
