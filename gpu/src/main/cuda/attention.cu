// Causal softmax attention with grouped kv heads and an optional sliding window, flash-style: no
// T x T matrix in memory. The CPU oracle is gsat2r.core.cpu.Attention: query i sees keys j with
// 0 ≤ i − j < window (every j ≤ i when window is 0), query head h reads kv head h / (H/Hkv).
//
// Layouts, batch leading: q, o, dq [B,T,H,D], k, v, dk, dv [B,T,Hkv,D], lse and delta [B,T,H]
// (fp32), D = 64 or 128. The forward saves the log-sum-exp of every query's scaled scores; the
// backward recomputes the probabilities from it:
//   delta_i = Σ_d dO_i ⊙ O_i,  dS_ij = P_ij (dO_i·v_j − delta_i),
//   dq_i = scale Σ_j dS_ij k_j,  dk_j = scale Σ_i dS_ij q_i,  dv_j = Σ_i P_ij dO_i,
// in two kernels (one per query block for dq, one per key block for dk and dv, the latter summing
// the query heads of its group in order), so that no gradient needs atomics: bitwise reproducible.
// Gradients are overwritten.
//
// Blocks of 64 queries (or keys) per CTA, 4 warps of 16 rows; products on the tensor cores through
// tiles.cuh (exact fp32 in fp32 storage).
#include "tiles.cuh"

namespace attn {
using namespace tiles;

constexpr int BLK = 64;

__device__ __forceinline__ bool visible(int i, int j, int T_, int window) {
    return j <= i && j < T_ && (window <= 0 || i - j < window);
}

// The K and V tiles of key block kb: in bf16 fetched into registers one block ahead (the loads of
// block kb+1 are in flight while block kb computes); in fp32 (the accuracy reference, short of
// registers) loaded when needed.
template <typename T, int D, bool AHEAD_ = sizeof(T) == 2>
struct KvPrefetch {
    static constexpr bool AHEAD = AHEAD_;
    static constexpr int V = AHEAD ? BLK * D * (int)sizeof(T) / 16 / 128 : 1;
    static constexpr int LD = D + pad<T>();
    TileFetch<T, V> fk, fv;

    __device__ __forceinline__ void fetch(const T* k, const T* v, int b, int kb, int T_, int Hkv, int kv) {
        if (!AHEAD) return;
        const int j0 = kb * BLK;
        const long long rowK = ((long long)b * T_ + j0) * Hkv + kv;
        fk.fetch(k + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
        fv.fetch(v + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
    }

    __device__ __forceinline__ void commit(T* sK, T* sV, const T* k, const T* v, int b, int kb, int T_, int Hkv, int kv) {
        if (AHEAD) {
            fk.commit(sK, LD);
            fv.commit(sV, LD);
            return;
        }
        const int j0 = kb * BLK;
        const long long rowK = ((long long)b * T_ + j0) * Hkv + kv;
        load_tile(sK, LD, k + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
        load_tile(sV, LD, v + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
    }
};

template <typename T, int D>
__device__ void attn_fwd(T* o, float* lse, const T* q, const T* k, const T* v, int T_, int H, int Hkv, int window,
                         float scale) {
    constexpr int LD = D + pad<T>(), DT = D / 8, DK = D / 16;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    T* sQ = carver.take<T>(BLK * LD);
    T* sK = carver.take<T>(BLK * LD);
    T* sV = carver.take<T>(BLK * LD);
    carver.check();
    const int qb = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kv = h / (H / Hkv);
    const int i0 = qb * BLK;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowQ = ((long long)b * T_ + i0) * H + h;
    load_tile(sQ, LD, q + rowQ * D, (long long)H * D, BLK, D, min(BLK, T_ - i0));
    const int lo = window > 0 ? max(0, i0 - window + 1) : 0;
    const int ia = i0 + 16 * w + g8, ib = ia + 8;

    float acc[DT][4];
    zero(acc);
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    KvPrefetch<T, D> next;
    next.fetch(k, v, b, lo / BLK, T_, Hkv, kv);
    for (int kb = lo / BLK; kb <= qb; kb++) {
        const int j0 = kb * BLK;
        __syncthreads();
        next.commit(sK, sV, k, v, b, kb, T_, Hkv, kv);
        if (kb < qb) next.fetch(k, v, b, kb + 1, T_, Hkv, kv);
        __syncthreads();
        float s[8][4];
        zero(s);
        warp_mma<false, true, 8>(s, sQ + 16 * w * LD, LD, sK, LD, DK);
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = e < 2 ? ia : ib, j = j0 + 8 * nt + 2 * qq + (e & 1);
                s[nt][e] = visible(i, j, T_, window) ? s[nt][e] * scale : -INFINITY;
            }
            mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
            mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        // A row that has seen no key yet keeps (−inf, 0); exp against 0 then gives 0, never NaN.
        const float r0 = n0 == -INFINITY ? 0.f : n0, r1 = n1 == -INFINITY ? 0.f : n1;
        const float c0 = __expf(m0 - r0), c1 = __expf(m1 - r1);
        float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            s[nt][0] = __expf(s[nt][0] - r0);
            s[nt][1] = __expf(s[nt][1] - r0);
            s[nt][2] = __expf(s[nt][2] - r1);
            s[nt][3] = __expf(s[nt][3] - r1);
            sum0 += s[nt][0] + s[nt][1];
            sum1 += s[nt][2] + s[nt][3];
        }
        sum0 += __shfl_xor_sync(0xffffffffu, sum0, 1);
        sum0 += __shfl_xor_sync(0xffffffffu, sum0, 2);
        sum1 += __shfl_xor_sync(0xffffffffu, sum1, 1);
        sum1 += __shfl_xor_sync(0xffffffffu, sum1, 2);
        l0 = l0 * c0 + sum0;
        l1 = l1 * c1 + sum1;
        m0 = n0;
        m1 = n1;
#pragma unroll
        for (int nt = 0; nt < DT; nt++) {
            acc[nt][0] *= c0;
            acc[nt][1] *= c0;
            acc[nt][2] *= c1;
            acc[nt][3] *= c1;
        }
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
            const FragA<T> fa = a_from_acc<T>(s[2 * ks], s[2 * ks + 1]);
            warp_mma_a<false, DT>(acc, fa, sV + 16 * ks * LD, LD);
        }
    }
    const float inv0 = 1.f / l0, inv1 = 1.f / l1;
#pragma unroll
    for (int nt = 0; nt < DT; nt++) {
        const int d = 8 * nt + 2 * qq;
        if (ia < T_) store2(o + (rowQ + (long long)(ia - i0) * H) * D + d, acc[nt][0] * inv0, acc[nt][1] * inv0);
        if (ib < T_) store2(o + (rowQ + (long long)(ib - i0) * H) * D + d, acc[nt][2] * inv1, acc[nt][3] * inv1);
    }
    if (lse != nullptr && qq == 0) {
        if (ia < T_) lse[rowQ + (long long)(ia - i0) * H] = m0 + logf(l0);
        if (ib < T_) lse[rowQ + (long long)(ib - i0) * H] = m1 + logf(l1);
    }
}

// delta[row] = Σ_d dO[row][d] O[row][d], one warp per row (rows = B·T·H).
template <typename T>
__device__ void attn_bwd_delta(float* delta, const T* dO, const T* O, long long rows, int D) {
    const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    float acc = 0.f;
    for (int d = lane_id(); d < D; d += 32) acc += to_float(dO[row * D + d]) * to_float(O[row * D + d]);
    acc = warp_sum(acc);
    if (lane_id() == 0) delta[row] = acc;
}

template <typename T, int D>
__device__ void attn_bwd_dq(T* dq, const T* q, const T* k, const T* v, const T* dO, const float* lse, const float* delta,
                            int T_, int H, int Hkv, int window, float scale) {
    constexpr int LD = D + pad<T>(), DT = D / 8, DK = D / 16;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    T* sQ = carver.take<T>(BLK * LD);
    T* sO = carver.take<T>(BLK * LD);
    T* sK = carver.take<T>(BLK * LD);
    T* sV = carver.take<T>(BLK * LD);
    carver.check();
    const int qb = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kv = h / (H / Hkv);
    const int i0 = qb * BLK;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowQ = ((long long)b * T_ + i0) * H + h;
    load_tile(sQ, LD, q + rowQ * D, (long long)H * D, BLK, D, min(BLK, T_ - i0));
    load_tile(sO, LD, dO + rowQ * D, (long long)H * D, BLK, D, min(BLK, T_ - i0));
    const int ia = i0 + 16 * w + g8, ib = ia + 8;
    const float la = ia < T_ ? lse[rowQ + (long long)(ia - i0) * H] : INFINITY;
    const float lb = ib < T_ ? lse[rowQ + (long long)(ib - i0) * H] : INFINITY;
    const float da = ia < T_ ? delta[rowQ + (long long)(ia - i0) * H] : 0.f;
    const float db = ib < T_ ? delta[rowQ + (long long)(ib - i0) * H] : 0.f;
    const int lo = window > 0 ? max(0, i0 - window + 1) : 0;

    float acc[DT][4];
    zero(acc);
    KvPrefetch<T, D> next;
    next.fetch(k, v, b, lo / BLK, T_, Hkv, kv);
    for (int kb = lo / BLK; kb <= qb; kb++) {
        const int j0 = kb * BLK;
        __syncthreads();
        next.commit(sK, sV, k, v, b, kb, T_, Hkv, kv);
        if (kb < qb) next.fetch(k, v, b, kb + 1, T_, Hkv, kv);
        __syncthreads();
        float s[8][4], dp[8][4];
        zero(s);
        zero(dp);
        warp_mma<false, true, 8>(s, sQ + 16 * w * LD, LD, sK, LD, DK);
        warp_mma<false, true, 8>(dp, sO + 16 * w * LD, LD, sV, LD, DK);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = e < 2 ? ia : ib, j = j0 + 8 * nt + 2 * qq + (e & 1);
                const float p = visible(i, j, T_, window) ? __expf(s[nt][e] * scale - (e < 2 ? la : lb)) : 0.f;
                s[nt][e] = p * (dp[nt][e] - (e < 2 ? da : db));
            }
        }
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
            const FragA<T> fa = a_from_acc<T>(s[2 * ks], s[2 * ks + 1]);
            warp_mma_a<false, DT>(acc, fa, sK + 16 * ks * LD, LD);
        }
    }
#pragma unroll
    for (int nt = 0; nt < DT; nt++) {
        const int d = 8 * nt + 2 * qq;
        if (ia < T_) store2(dq + (rowQ + (long long)(ia - i0) * H) * D + d, acc[nt][0] * scale, acc[nt][1] * scale);
        if (ib < T_) store2(dq + (rowQ + (long long)(ib - i0) * H) * D + d, acc[nt][2] * scale, acc[nt][3] * scale);
    }
}

template <typename T, int D>
__device__ void attn_bwd_dkdv(T* dk, T* dv, const T* q, const T* k, const T* v, const T* dO, const float* lse,
                              const float* delta, int T_, int H, int Hkv, int window, float scale) {
    constexpr int LD = D + pad<T>(), DT = D / 8, DK = D / 16;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    T* sK = carver.take<T>(BLK * LD);
    T* sV = carver.take<T>(BLK * LD);
    T* sQ = carver.take<T>(BLK * LD);
    T* sO = carver.take<T>(BLK * LD);
    float* sL = carver.take<float>(BLK);
    float* sD = carver.take<float>(BLK);
    carver.check();
    const int kb = blockIdx.x, kv = blockIdx.y, b = blockIdx.z, G = H / Hkv;
    const int j0 = kb * BLK, nqb = (T_ + BLK - 1) / BLK;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowK = ((long long)b * T_ + j0) * Hkv + kv;
    load_tile(sK, LD, k + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
    load_tile(sV, LD, v + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
    const int ja = j0 + 16 * w + g8, jb = ja + 8;
    // The last query that sees a key of this block: i ≤ j + window − 1.
    const int qbHi = window > 0 ? min(nqb - 1, (j0 + BLK - 1 + window - 1) / BLK) : nqb - 1;

    float accK[DT][4], accV[DT][4];
    zero(accK);
    zero(accV);
    // (head, query block) pairs in order; the next pair's q and dO tiles are fetched ahead (bf16).
    const int perHead = qbHi - kb + 1, pairs = G * perHead;
    // here: q and dO rows of query head h (the same [B,T,heads,D] layout); not ahead at D = 128,
    // where the dk and dv accumulators leave no registers for it.
    KvPrefetch<T, D, sizeof(T) == 2 && D <= 64> next;
    next.fetch(q, dO, b, kb, T_, H, kv * G);
    for (int pi = 0; pi < pairs; pi++) {
        const int hh = pi / perHead, qb = kb + pi % perHead;
        {
            const int h = kv * G + hh;
            const int i0 = qb * BLK;
            const long long rowQ = ((long long)b * T_ + i0) * H + h;
            __syncthreads();
            next.commit(sQ, sO, q, dO, b, qb, T_, H, h);
            if (pi + 1 < pairs) next.fetch(q, dO, b, kb + (pi + 1) % perHead, T_, H, kv * G + (pi + 1) / perHead);
            for (int r = threadIdx.x; r < BLK; r += blockDim.x) {
                const bool in = i0 + r < T_;
                sL[r] = in ? lse[rowQ + (long long)r * H] : INFINITY;
                sD[r] = in ? delta[rowQ + (long long)r * H] : 0.f;
            }
            __syncthreads();
            // Transposed scores: rows j (this warp's keys), columns i (the block's queries).
            float s[8][4], dp[8][4];
            zero(s);
            zero(dp);
            warp_mma<false, true, 8>(s, sK + 16 * w * LD, LD, sQ, LD, DK);
            warp_mma<false, true, 8>(dp, sV + 16 * w * LD, LD, sO, LD, DK);
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int ii = 8 * nt + 2 * qq + (e & 1), i = i0 + ii, j = e < 2 ? ja : jb;
                    const float p = visible(i, j, T_, window) ? __expf(s[nt][e] * scale - sL[ii]) : 0.f;
                    s[nt][e] = p;
                    dp[nt][e] = p * (dp[nt][e] - sD[ii]);
                }
            }
#pragma unroll
            for (int ks = 0; ks < 4; ks++) {
                const FragA<T> fp = a_from_acc<T>(s[2 * ks], s[2 * ks + 1]);
                warp_mma_a<false, DT>(accV, fp, sO + 16 * ks * LD, LD);
                const FragA<T> fs = a_from_acc<T>(dp[2 * ks], dp[2 * ks + 1]);
                warp_mma_a<false, DT>(accK, fs, sQ + 16 * ks * LD, LD);
            }
        }
    }
#pragma unroll
    for (int nt = 0; nt < DT; nt++) {
        const int d = 8 * nt + 2 * qq;
        if (ja < T_) {
            store2(dk + (rowK + (long long)(ja - j0) * Hkv) * D + d, accK[nt][0] * scale, accK[nt][1] * scale);
            store2(dv + (rowK + (long long)(ja - j0) * Hkv) * D + d, accV[nt][0], accV[nt][1]);
        }
        if (jb < T_) {
            store2(dk + (rowK + (long long)(jb - j0) * Hkv) * D + d, accK[nt][2] * scale, accK[nt][3] * scale);
            store2(dv + (rowK + (long long)(jb - j0) * Hkv) * D + d, accV[nt][2], accV[nt][3]);
        }
    }
}

// One query per sequence at `position` against a KV cache [B, capacity, Hkv, D] in which position
// p lives in row p % capacity (a ring buffer when a window bounds what is kept). One CTA per
// (query head, sequence); each warp takes every 4th key with an online softmax, then the warps merge.
template <typename T, int D>
__device__ void attn_decode(T* o, const T* q, const T* kc, const T* vc, int capacity, int position, int H, int Hkv,
                            int window, float scale) {
    constexpr int E = D / 32;  // elements of a row per lane
    __shared__ float sm[4], sl[4], sacc[4][D];
    const int h = blockIdx.x, b = blockIdx.y, kv = h / (H / Hkv);
    const int w = warp_id(), l = lane_id();
    const int lo = window > 0 ? max(0, position - window + 1) : 0;
    float qv[E], acc[E];
    for (int e = 0; e < E; e++) {
        qv[e] = scale * to_float(q[((long long)b * H + h) * D + l * E + e]);
        acc[e] = 0.f;
    }
    float m = -INFINITY, sum = 0.f;
    for (int j = lo + w; j <= position; j += 4) {
        const long long row = (((long long)b * capacity + j % capacity) * Hkv + kv) * D + l * E;
        float dot = 0.f;
        for (int e = 0; e < E; e++) dot += qv[e] * to_float(kc[row + e]);
        dot = warp_sum(dot);
        const float n = fmaxf(m, dot), c = __expf(m - n), p = __expf(dot - n);
        sum = sum * c + p;
        for (int e = 0; e < E; e++) acc[e] = acc[e] * c + p * to_float(vc[row + e]);
        m = n;
    }
    if (l == 0) {
        sm[w] = m;
        sl[w] = sum;
    }
    for (int e = 0; e < E; e++) sacc[w][l * E + e] = acc[e];
    __syncthreads();
    if (w == 0) {
        float mx = -INFINITY;
        for (int i = 0; i < 4; i++) mx = fmaxf(mx, sm[i]);
        float total = 0.f, f[4];
        for (int i = 0; i < 4; i++) {
            f[i] = sm[i] == -INFINITY ? 0.f : __expf(sm[i] - mx);
            total += sl[i] * f[i];
        }
        for (int e = 0; e < E; e++) {
            const int d = l * E + e;
            float r = 0.f;
            for (int i = 0; i < 4; i++) r += sacc[i][d] * f[i];
            o[((long long)b * H + h) * D + d] = from_float<T>(r / total);
        }
    }
}

}  // namespace attn

#define ATTN_KERNELS(D, T, SUFFIX)                                                                                             \
    extern "C" __global__ void __launch_bounds__(128) attn_fwd_d##D##_##SUFFIX(T* o, float* lse, const T* q, const T* k,   \
                                                                               const T* v, int T_, int H, int Hkv,            \
                                                                               int window, float scale) {                     \
        attn::attn_fwd<T, D>(o, lse, q, k, v, T_, H, Hkv, window, scale);                                                  \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) attn_bwd_dq_d##D##_##SUFFIX(                                         \
        T* dq, const T* q, const T* k, const T* v, const T* dO, const float* lse, const float* delta, int T_, int H,        \
        int Hkv, int window, float scale) {                                                                                 \
        attn::attn_bwd_dq<T, D>(dq, q, k, v, dO, lse, delta, T_, H, Hkv, window, scale);                                   \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) attn_bwd_dkdv_d##D##_##SUFFIX(                                       \
        T* dk, T* dv, const T* q, const T* k, const T* v, const T* dO, const float* lse, const float* delta, int T_, int H, \
        int Hkv, int window, float scale) {                                                                                 \
        attn::attn_bwd_dkdv<T, D>(dk, dv, q, k, v, dO, lse, delta, T_, H, Hkv, window, scale);                             \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) attn_decode_d##D##_##SUFFIX(                                         \
        T* o, const T* q, const T* kc, const T* vc, int capacity, int position, int H, int Hkv, int window, float scale) {  \
        attn::attn_decode<T, D>(o, q, kc, vc, capacity, position, H, Hkv, window, scale);                                  \
    }

ATTN_KERNELS(64, float, f32)
ATTN_KERNELS(128, float, f32)
ATTN_KERNELS(64, bf16, bf16)
ATTN_KERNELS(128, bf16, bf16)

extern "C" __global__ void attn_bwd_delta_f32(float* delta, const float* dO, const float* O, long long rows, int D) {
    attn::attn_bwd_delta(delta, dO, O, rows, D);
}
extern "C" __global__ void attn_bwd_delta_bf16(float* delta, const bf16* dO, const bf16* O, long long rows, int D) {
    attn::attn_bwd_delta(delta, dO, O, rows, D);
}
