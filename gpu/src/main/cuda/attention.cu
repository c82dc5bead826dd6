// Causal softmax attention with grouped kv heads and an optional sliding window, flash-style: no
// T x T matrix in memory. The CPU oracle is gsat2r.core.cpu.Attention: query i sees keys j with
// 0 ≤ i − j < window (every j ≤ i when window is 0), query head h reads kv head h / (H/Hkv).
//
// Layouts, batch leading: q, o, dq [B,T,H,D], k, v, dk, dv [B,T,Hkv,D], lse and delta [B,T,H]
// (fp32), D = 64 or 128. The forward also runs T queries after `past` earlier positions (a prompt
// continued from a KV cache): q, o [B,T,H,D] are positions past.., k, v [B,past+T,Hkv,D] every
// position from 0, and query t is position past + t; past is a multiple of the block (64), so the
// queries' blocks, the keys' blocks and every mask decision are those of one pass over past + T. The forward saves the log-sum-exp of every query's scaled scores; the
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

// Whether every query of block [i0, i0+BLK) sees every key of block [j0, j0+BLK): the block below
// the diagonal, inside the sequence and the window. Such blocks (most of them at long T) skip the
// per-element mask. (Query rows past T_ are never stored, and their lse of +inf zeroes their
// probabilities in the backward.)
__device__ __forceinline__ bool block_visible(int i0, int j0, int T_, int window) {
    return j0 + BLK - 1 <= i0 && j0 + BLK <= T_ && (window <= 0 || i0 + BLK - 1 - j0 < window);
}

// The (block, head, sequence) of this CTA over a grid of (blocks, heads, sequences), with the block
// index varying slowest: the hardware hands CTAs out roughly in linear order, so under the causal
// mask the heavy blocks of every head and sequence start first and the light ones fill the tail
// (with blockIdx.x as the block, each wave mixed all weights and the heaviest came last).
// heavyLast: the block with the largest index is the heaviest (a query block); otherwise the
// smallest (a key block).
__device__ __forceinline__ void heavy_first(int& blk, int& head, int& seq, bool heavyLast) {
    const int nb = gridDim.x, heads = gridDim.y, hs = heads * gridDim.z;
    const int lin = blockIdx.x + nb * (blockIdx.y + heads * blockIdx.z);
    const int r = lin / hs, rest = lin - r * hs;
    blk = heavyLast ? nb - 1 - r : r;
    head = rest % heads;
    seq = rest / heads;
}

// The two tiles of a block that a loop walks (K and V of key block kb; q and dO of a query block in
// dk/dv): in bf16 copied asynchronously (cp.async) into the other of two shared buffers while the
// current block computes, so that no registers hold them in flight (the register prefetch this
// replaces cost 32 registers a thread); in fp32 (the accuracy reference) loaded when needed into one
// buffer. Layout: [a0, b0, a1, b1] tiles of BLK x (D + pad) elements.
template <typename T, int D>
struct TileStage {
    static constexpr bool ASYNC = sizeof(T) == 2;
    static constexpr int BUFS = ASYNC ? 2 : 1;
    static constexpr int LD = D + pad<T>();
    T* base;

    __device__ __forceinline__ explicit TileStage(SmemCarver& c) : base(c.take<T>(2 * BUFS * BLK * LD)) {}
    __device__ __forceinline__ T* a(int buf) const { return base + (ASYNC ? 2 * buf : 0) * BLK * LD; }
    __device__ __forceinline__ T* b(int buf) const { return base + ((ASYNC ? 2 * buf : 0) + 1) * BLK * LD; }

    // Rows blk*BLK.. of head `head` of x and y ([B,T,heads,D]) into buffer buf: bf16 issued and
    // committed as one group (cp_async_wait before use), fp32 loaded now.
    __device__ __forceinline__ void load(int buf, const T* x, const T* y, int seq, int blk, int T_, int heads, int head) {
        const int r0 = blk * BLK;
        const long long row = ((long long)seq * T_ + r0) * heads + head;
        if (ASYNC) {
            load_tile_async(a(buf), LD, x + row * D, (long long)heads * D, BLK, D, min(BLK, T_ - r0));
            load_tile_async(b(buf), LD, y + row * D, (long long)heads * D, BLK, D, min(BLK, T_ - r0));
            cp_async_commit();
        } else {
            load_tile(a(buf), LD, x + row * D, (long long)heads * D, BLK, D, min(BLK, T_ - r0));
            load_tile(b(buf), LD, y + row * D, (long long)heads * D, BLK, D, min(BLK, T_ - r0));
        }
    }

    // Called between the loop's two barriers (the first: every warp is done with the buffers of the
    // previous step): makes step `it`'s tiles (block blk, buffer it & 1) ready after the second barrier,
    // and starts the copies of the next step's block (nextBlk/nextHead, nextBlk < 0: none).
    __device__ __forceinline__ int step(int it, const T* x, const T* y, int seq, int blk, int head, int nextBlk,
                                        int nextHead, int T_, int heads) {
        if (!ASYNC) {
            load(0, x, y, seq, blk, T_, heads, head);
            return 0;
        }
        const int cur = it & 1;
        if (nextBlk >= 0) {
            load(cur ^ 1, x, y, seq, nextBlk, T_, heads, nextHead);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        return cur;
    }
};

template <typename T, int D>
__device__ void attn_fwd(T* o, float* lse, const T* q, const T* k, const T* v, int T_, int past, int H, int Hkv,
                         int window, float scale) {
    constexpr int LD = D + pad<T>(), DT = D / 8, DK = D / 16;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    T* sQ = carver.take<T>(BLK * LD);
    TileStage<T, D> kvs(carver);
    carver.check();
    int lqb, h, b;
    heavy_first(lqb, h, b, true);
    const int kv = h / (H / Hkv);
    // Positions: the keys run to Tk = past + T_; this CTA's queries are block qb = past/BLK + lqb of them.
    const int Tk = past + T_, qb = past / BLK + lqb;
    const int i0 = qb * BLK;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowQ = ((long long)b * T_ + lqb * BLK) * H + h;
    const int lo = window > 0 ? max(0, i0 - window + 1) : 0;
    if (kvs.ASYNC) kvs.load(0, k, v, b, lo / BLK, Tk, Hkv, kv);
    load_tile(sQ, LD, q + rowQ * D, (long long)H * D, BLK, D, min(BLK, Tk - i0));
    const int ia = i0 + 16 * w + g8, ib = ia + 8;

    float acc[DT][4];
    zero(acc);
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    for (int kb = lo / BLK, it = 0; kb <= qb; kb++, it++) {
        const int j0 = kb * BLK;
        __syncthreads();
        const int cur = kvs.step(it, k, v, b, kb, kv, kb < qb ? kb + 1 : -1, kv, Tk, Hkv);
        const T* sK = kvs.a(cur);
        const T* sV = kvs.b(cur);
        __syncthreads();
        float s[8][4];
        zero(s);
        warp_mma<false, true, 8>(s, sQ + 16 * w * LD, LD, sK, LD, DK);
        float mx0 = -INFINITY, mx1 = -INFINITY;
        const bool full = block_visible(i0, j0, Tk, window);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) s[nt][e] *= scale;
            if (!full) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int i = e < 2 ? ia : ib, j = j0 + 8 * nt + 2 * qq + (e & 1);
                    if (!visible(i, j, Tk, window)) s[nt][e] = -INFINITY;
                }
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
        if (ia < Tk) store2(o + (rowQ + (long long)(ia - i0) * H) * D + d, acc[nt][0] * inv0, acc[nt][1] * inv0);
        if (ib < Tk) store2(o + (rowQ + (long long)(ib - i0) * H) * D + d, acc[nt][2] * inv1, acc[nt][3] * inv1);
    }
    if (lse != nullptr && qq == 0) {
        if (ia < Tk) lse[rowQ + (long long)(ia - i0) * H] = m0 + logf(l0);
        if (ib < Tk) lse[rowQ + (long long)(ib - i0) * H] = m1 + logf(l1);
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
    TileStage<T, D> kvs(carver);
    carver.check();
    int qb, h, b;
    heavy_first(qb, h, b, true);
    const int kv = h / (H / Hkv);
    const int i0 = qb * BLK;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowQ = ((long long)b * T_ + i0) * H + h;
    const int lo = window > 0 ? max(0, i0 - window + 1) : 0;
    if (kvs.ASYNC) kvs.load(0, k, v, b, lo / BLK, T_, Hkv, kv);
    load_tile(sQ, LD, q + rowQ * D, (long long)H * D, BLK, D, min(BLK, T_ - i0));
    load_tile(sO, LD, dO + rowQ * D, (long long)H * D, BLK, D, min(BLK, T_ - i0));
    const int ia = i0 + 16 * w + g8, ib = ia + 8;
    const float la = ia < T_ ? lse[rowQ + (long long)(ia - i0) * H] : INFINITY;
    const float lb = ib < T_ ? lse[rowQ + (long long)(ib - i0) * H] : INFINITY;
    const float da = ia < T_ ? delta[rowQ + (long long)(ia - i0) * H] : 0.f;
    const float db = ib < T_ ? delta[rowQ + (long long)(ib - i0) * H] : 0.f;

    float acc[DT][4];
    zero(acc);
    for (int kb = lo / BLK, it = 0; kb <= qb; kb++, it++) {
        const int j0 = kb * BLK;
        __syncthreads();
        const int cur = kvs.step(it, k, v, b, kb, kv, kb < qb ? kb + 1 : -1, kv, T_, Hkv);
        const T* sK = kvs.a(cur);
        const T* sV = kvs.b(cur);
        __syncthreads();
        float s[8][4], dp[8][4];
        zero(s);
        zero(dp);
        warp_mma<false, true, 8>(s, sQ + 16 * w * LD, LD, sK, LD, DK);
        warp_mma<false, true, 8>(dp, sO + 16 * w * LD, LD, sV, LD, DK);
        const bool full = block_visible(i0, j0, T_, window);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = e < 2 ? ia : ib, j = j0 + 8 * nt + 2 * qq + (e & 1);
                const float p = full || visible(i, j, T_, window) ? __expf(s[nt][e] * scale - (e < 2 ? la : lb)) : 0.f;
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
    TileStage<T, D> qos(carver);
    float* sL = carver.take<float>(BLK);
    float* sD = carver.take<float>(BLK);
    carver.check();
    int kb, kv, b;
    heavy_first(kb, kv, b, false);
    const int G = H / Hkv;
    const int j0 = kb * BLK, nqb = (T_ + BLK - 1) / BLK;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowK = ((long long)b * T_ + j0) * Hkv + kv;
    if (qos.ASYNC) qos.load(0, q, dO, b, kb, T_, H, kv * G);  // the first pair's tiles, behind K and V
    load_tile(sK, LD, k + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
    load_tile(sV, LD, v + rowK * D, (long long)Hkv * D, BLK, D, min(BLK, T_ - j0));
    const int ja = j0 + 16 * w + g8, jb = ja + 8;
    // The last query that sees a key of this block: i ≤ j + window − 1.
    const int qbHi = window > 0 ? min(nqb - 1, (j0 + BLK - 1 + window - 1) / BLK) : nqb - 1;

    float accK[DT][4], accV[DT][4];
    zero(accK);
    zero(accV);
    // (head, query block) pairs in order; the next pair's q and dO tiles are copied ahead (bf16).
    const int perHead = qbHi - kb + 1, pairs = G * perHead;
    for (int pi = 0; pi < pairs; pi++) {
        const int hh = pi / perHead, qb = kb + pi % perHead;
        {
            const int h = kv * G + hh;
            const int i0 = qb * BLK;
            const long long rowQ = ((long long)b * T_ + i0) * H + h;
            __syncthreads();
            const bool more = pi + 1 < pairs;
            const int cur = qos.step(pi, q, dO, b, qb, h, more ? kb + (pi + 1) % perHead : -1,
                                     kv * G + (pi + 1) / perHead, T_, H);
            const T* sQ = qos.a(cur);
            const T* sO = qos.b(cur);
            for (int r = threadIdx.x; r < BLK; r += blockDim.x) {
                const bool in = i0 + r < T_;
                sL[r] = in ? lse[rowQ + (long long)r * H] : INFINITY;
                sD[r] = in ? delta[rowQ + (long long)r * H] : 0.f;
            }
            __syncthreads();
            // Transposed scores, rows j (this warp's keys), columns i (the block's queries), in two
            // halves of 32 queries: P and dS of a half are live beside the dk and dv accumulators,
            // not of the whole block (three CTAs per SM in bf16 at D = 64, without spilling).
            const bool full = block_visible(i0, j0, T_, window);
#pragma unroll 1
            for (int half = 0; half < 2; half++) {
                float s[4][4], dp[4][4];
                zero(s);
                zero(dp);
                warp_mma<false, true, 4>(s, sK + 16 * w * LD, LD, sQ + 32 * half * LD, LD, DK);
                warp_mma<false, true, 4>(dp, sV + 16 * w * LD, LD, sO + 32 * half * LD, LD, DK);
#pragma unroll
                for (int nt = 0; nt < 4; nt++) {
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int ii = 32 * half + 8 * nt + 2 * qq + (e & 1), i = i0 + ii, j = e < 2 ? ja : jb;
                        const float p = full || visible(i, j, T_, window) ? __expf(s[nt][e] * scale - sL[ii]) : 0.f;
                        s[nt][e] = p;
                        dp[nt][e] = p * (dp[nt][e] - sD[ii]);
                    }
                }
#pragma unroll
                for (int ks = 0; ks < 2; ks++) {
                    const FragA<T> fp = a_from_acc<T>(s[2 * ks], s[2 * ks + 1]);
                    warp_mma_a<false, DT>(accV, fp, sO + (32 * half + 16 * ks) * LD, LD);
                    const FragA<T> fs = a_from_acc<T>(dp[2 * ks], dp[2 * ks + 1]);
                    warp_mma_a<false, DT>(accK, fs, sQ + (32 * half + 16 * ks) * LD, LD);
                }
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

#define ATTN_KERNELS(D, T, SUFFIX, FWD_CTAS, DQ_CTAS, DKDV_CTAS)                                                                                           \
    extern "C" __global__ void __launch_bounds__(128, FWD_CTAS) attn_fwd_d##D##_##SUFFIX(T* o, float* lse, const T* q, const T* k,   \
                                                                               const T* v, int T_, int past, int H, int Hkv,  \
                                                                               int window, float scale) {                     \
        attn::attn_fwd<T, D>(o, lse, q, k, v, T_, past, H, Hkv, window, scale);                                            \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128, DQ_CTAS) attn_bwd_dq_d##D##_##SUFFIX(                                         \
        T* dq, const T* q, const T* k, const T* v, const T* dO, const float* lse, const float* delta, int T_, int H,        \
        int Hkv, int window, float scale) {                                                                                 \
        attn::attn_bwd_dq<T, D>(dq, q, k, v, dO, lse, delta, T_, H, Hkv, window, scale);                                   \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128, DKDV_CTAS) attn_bwd_dkdv_d##D##_##SUFFIX(                                       \
        T* dk, T* dv, const T* q, const T* k, const T* v, const T* dO, const float* lse, const float* delta, int T_, int H, \
        int Hkv, int window, float scale) {                                                                                 \
        attn::attn_bwd_dkdv<T, D>(dk, dv, q, k, v, dO, lse, delta, T_, H, Hkv, window, scale);                             \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) attn_decode_d##D##_##SUFFIX(                                         \
        T* o, const T* q, const T* kc, const T* vc, int capacity, int position, int H, int Hkv, int window, float scale) {  \
        attn::attn_decode<T, D>(o, q, kc, vc, capacity, position, H, Hkv, window, scale);                                  \
    }

// Minimum resident CTAs per SM (__launch_bounds__) of the bf16 D = 64 tile kernels, which caps their
// registers: on Hopper (228 KB of shared memory per SM) attn_fwd 4 (45 KB, <= 128 registers),
// attn_bwd_dq 4 (54 KB, 128), attn_bwd_dkdv 3 (54.5 KB, 168). The A100's 164 KB hold fewer of these
// layouts (3, 2, 2), so sm_80 asks for no more than fit rather than spilling for CTAs that cannot run.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
#define ATTN_BF16_D64_CTAS 4, 4, 3
#else
#define ATTN_BF16_D64_CTAS 3, 2, 2
#endif
#define ATTN_KERNELS_(...) ATTN_KERNELS(__VA_ARGS__)

// The fp32 forward at D = 64 fits 4 CTAs on either GPU by its shared memory (52 KB) and needs no more than 128
// registers (127 on sm_90, 117 on sm_80, no spills); left free, ptxas took 157 once the forward learnt past positions.
ATTN_KERNELS(64, float, f32, 4, 1, 1)
ATTN_KERNELS(128, float, f32, 1, 1, 1)
ATTN_KERNELS_(64, bf16, bf16, ATTN_BF16_D64_CTAS)
ATTN_KERNELS(128, bf16, bf16, 1, 1, 1)

extern "C" __global__ void attn_bwd_delta_f32(float* delta, const float* dO, const float* O, long long rows, int D) {
    attn::attn_bwd_delta(delta, dO, O, rows, D);
}
extern "C" __global__ void attn_bwd_delta_bf16(float* delta, const bf16* dO, const bf16* O, long long rows, int D) {
    attn::attn_bwd_delta(delta, dO, O, rows, D);
}
