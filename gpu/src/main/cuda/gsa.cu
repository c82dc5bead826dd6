// Gated Slot Attention, chunked (training) and recurrent (decoding), forward and backward.
// The math, with its derivation, is docs/gsa-math.md; the CPU oracle is gsat2r.core.gsa.GsaChunked.
//
// Layouts (fla's, batch leading): q [B,T,H,K], k [B,T,Hkv,K], v [B,T,Hkv,V], s, g [B,T,Hkv,M],
// o [B,T,H,V]; states hk [B,Hkv,K,M], hv [B,Hkv,M,V] fp32. Query head h reads kv head h / (H/Hkv);
// the state is per kv head. Saved for the backward pass: the state entering every chunk
// ([B,Hkv,N+1,K,M] and [B,Hkv,N+1,M,V] in the storage type, entry N the final state), and
// ok, p = softmax(ok) (fp32 [B,T,H,M]).
//
// Chunk of C = 64 tokens, t and j counted from its start, G_t = Σ_{i≤t} g_i (fp32 cumulative sum,
// itself a product with a triangular matrix of ones), E_t = exp(G_t), D_tj = exp(G_t − G_j). Inside
// a chunk the 64 rows are cut into four 16-row blocks, and a product between row block i and an
// earlier column block uses the reference G_{16i} (the first row of block i), which lies between them:
//   D_tj = exp(G_t − G_{16i}) · exp(G_{16i} − G_j),   t ≥ 16i > j,
// so both factors are ≤ 1 (g ≤ 0) and the product is a matrix product on the tensor cores. The
// diagonal 16x16 blocks: in bf16 the same factorisation through their first row (the second factor
// is then ≥ 1, bounded by e^60, see fast_diagonal) with operands split into bf16 pairs; in fp32, or
// when a block decays faster than that, element by element with exp(G_t − G_j) itself.
//
// Kernels (each 4 warps; warp w owns rows 16w..16w+15 of the chunk):
//   gsa_fwd_states  sequential over chunks, one (sequence, kv head, 64-row block of Hk or 64-column
//                   block of Hv) per CTA: saves the state entering every chunk, and the final state;
//   gsa_fwd_out     one (sequence, query head, chunk) per CTA: ok, p, o (pass 1 and pass 2);
//   gsa_bwd_dp      one (sequence, query head, chunk) per CTA: dp, dok = softmax'(dp) and the
//                   read-side gate term ok⊙dok + p⊙dp;
//   gsa_bwd_states  reverse over chunks: the gradient of the state leaving every chunk, the
//                   gradient of the initial state, and the leaving-state gate term;
//   gsa_bwd_chunk   one (sequence, kv head, chunk) per CTA, over the query heads of its group in
//                   order (deterministic sums): dq, dk, dv, ds, dg;
//   gsa_step        one decode token on the fp32 state.
#include "tiles.cuh"

namespace gsa {
using namespace tiles;

constexpr int C = 64;  // tokens per chunk; every kernel runs 4 warps (128 threads)

template <typename T, int M_>
struct Cfg {
    static constexpr int M = M_;
    static constexpr int KB = sizeof(T) == 2 ? 64 : 32;  // width of the K / V blocks streamed through shared memory
    static constexpr int P = pad<T>();
    static constexpr int LDM = M + P, LDC = C + P, LDK = KB + P, LDG = M + 4, LDA = 16 + 4;
    static constexpr int MT = M / 8, MK = M / 16, KT = KB / 8, KK = KB / 16;
    static constexpr int STATE_TILE = (KB * LDM > M * LDK) ? KB * LDM : M * LDK;
    // bf16: the diagonal 16x16 blocks go through the tensor cores too, factorised through the
    // block's first row (see fast_diagonal); fp32 keeps exact element-by-element diagonal sums.
    static constexpr bool FAST = sizeof(T) == 2;
    static constexpr int ST_ROWS = 96;  // S̃ of warps 1, 2, 3 (off-diagonal rows): 16 + 32 + 48
    static constexpr int SB = 64;       // rows of Hk / columns of Hv per CTA of the state kernels (4 warps x 16)
    static constexpr int LDS = SB + P;
};

// Where warp w's S̃_w (rows j < 16w) starts in the shared S̃ area.
__device__ __forceinline__ int st_row0(int w) { return 8 * w * (w - 1); }

// A diagonal block may be factorised like the off-diagonal ones, D_tj = exp(G_t − G_{16w}) ·
// exp(G_{16w} − G_j), when the second factor (≥ 1 inside the block) cannot overflow: the block's
// log-decay range max_m (G_{16w} − G_{16w+15}) stays under FAST_RANGE (e^60 ≈ 1e26, far from fp32's
// 3e38). Only gates that decay by more than e^-60 within 16 tokens take the exact element path.
// The diagonal block dominates under strong gates, and the gate gradient's chunk identity cancels
// (docs/gsa-math.md), so its products use operands split into bf16 pairs, x ≈ hi + lo (about 16
// significant bits), and three MMAs (hi·hi + lo·hi + hi·lo): the same accuracy as the element path.
constexpr float FAST_RANGE = 60.f;

template <typename T, int M>
__device__ __forceinline__ bool fast_diagonal(const float* sG);



template <typename T> struct AElem;
template <> struct AElem<bf16> {
    typedef uint32_t type;
    __device__ static uint32_t make(float a, float b) { return pack_bf16(a, b); }
};
template <> struct AElem<float> {
    typedef float2 type;
    __device__ static float2 make(float a, float b) { return make_float2(a, b); }
};

// A fragment of the 16x16 lower-triangular block of ones (the diagonal included), or all ones.
template <typename T>
__device__ __forceinline__ FragA<T> ones_block(bool lower) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
    auto v = [&](int r, int k) { return (!lower || k <= r) ? 1.f : 0.f; };
    FragA<T> a;
    a.r[0] = AElem<T>::make(v(g, 2 * q), v(g, 2 * q + 1));
    a.r[1] = AElem<T>::make(v(g + 8, 2 * q), v(g + 8, 2 * q + 1));
    a.r[2] = AElem<T>::make(v(g, 2 * q + 8), v(g, 2 * q + 9));
    a.r[3] = AElem<T>::make(v(g + 8, 2 * q + 8), v(g + 8, 2 * q + 9));
    return a;
}

// (x0, x1) ≈ hi + lo in the storage type (fp32: lo = 0).
__device__ __forceinline__ void split2(float x0, float x1, uint32_t& hi, uint32_t& lo) {
    const bf16 h0 = __float2bfloat16_rn(x0), h1 = __float2bfloat16_rn(x1);
    hi = pack_bf16(__bfloat162float(h0), __bfloat162float(h1));
    lo = pack_bf16(x0 - __bfloat162float(h0), x1 - __bfloat162float(h1));
}
__device__ __forceinline__ void split2(float x0, float x1, float2& hi, float2& lo) {
    hi = make_float2(x0, x1);
    lo = make_float2(0.f, 0.f);
}

// Split A fragment of the 16x16 matrix f(r, k).
template <typename T, typename Fn>
__device__ __forceinline__ void split_a(FragA<T>& hi, FragA<T>& lo, Fn f) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
    split2(f(g, 2 * q), f(g, 2 * q + 1), hi.r[0], lo.r[0]);
    split2(f(g + 8, 2 * q), f(g + 8, 2 * q + 1), hi.r[1], lo.r[1]);
    split2(f(g, 2 * q + 8), f(g, 2 * q + 9), hi.r[2], lo.r[2]);
    split2(f(g + 8, 2 * q + 8), f(g + 8, 2 * q + 9), hi.r[3], lo.r[3]);
}

// Split B fragment (16 k x 8 n) of f(k, n).
template <typename T, typename Fn>
__device__ __forceinline__ void split_b(FragB<T>& hi, FragB<T>& lo, Fn f) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
    split2(f(2 * q, g), f(2 * q + 1, g), hi.r[0], lo.r[0]);
    split2(f(2 * q + 8, g), f(2 * q + 9, g), hi.r[1], lo.r[1]);
}

// Split A fragment of a 16x16 block held as two accumulator tiles (as a_from_acc).
template <typename T>
__device__ __forceinline__ void split_a_from_acc(FragA<T>& hi, FragA<T>& lo, const float c0[4], const float c1[4]) {
    split2(c0[0], c0[1], hi.r[0], lo.r[0]);
    split2(c0[2], c0[3], hi.r[1], lo.r[1]);
    split2(c1[0], c1[1], hi.r[2], lo.r[2]);
    split2(c1[2], c1[3], hi.r[3], lo.r[3]);
}

// d += A·B with both split: hi·hi + lo·hi + hi·lo.
template <typename T>
__device__ __forceinline__ void mma3(float d[4], const FragA<T>& ah, const FragA<T>& al, const FragB<T>& bh, const FragB<T>& bl) {
    mma(d, ah, bh);
    mma(d, al, bh);
    mma(d, ah, bl);
}

// c0, c1 ← acc[2w], acc[2w+1] and back. A switch, not `if (nt == 2w)` over an unrolled loop, which
// the compiler folds into a run-time index that moves the whole array to local memory.
__device__ __forceinline__ void get_pair(const float (&acc)[8][4], int w, float c0[4], float c1[4]) {
#define GSA_GET(i)                                      \
    for (int e = 0; e < 4; e++) {                       \
        c0[e] = acc[2 * (i)][e];                        \
        c1[e] = acc[2 * (i) + 1][e];                    \
    }
    switch (w) {
        case 0: GSA_GET(0) break;
        case 1: GSA_GET(1) break;
        case 2: GSA_GET(2) break;
        default: GSA_GET(3) break;
    }
#undef GSA_GET
}
__device__ __forceinline__ void set_pair(float (&acc)[8][4], int w, const float c0[4], const float c1[4]) {
#define GSA_SET(i)                                      \
    for (int e = 0; e < 4; e++) {                       \
        acc[2 * (i)][e] = c0[e];                        \
        acc[2 * (i) + 1][e] = c1[e];                    \
    }
    switch (w) {
        case 0: GSA_SET(0) break;
        case 1: GSA_SET(1) break;
        case 2: GSA_SET(2) break;
        default: GSA_SET(3) break;
    }
#undef GSA_SET
}

// One k-step (slots 16ks..16ks+15) of warp w's diagonal block of slot scores,
// d[tile][.] += Σ_m X_t[m] S̃_j[m] with X given as the fp32 A tiles (x0, x1: slots +0..7, +8..15)
// already scaled by exp(G_t − G_{16w}), and S̃_j[m] = s_j[m] exp(G_{16w}[m] − G_j[m]) for the
// block's tokens j (tile 0: j = 16w..16w+7, tile 1: the next 8), both split (mma3).
template <typename T, int M>
__device__ __forceinline__ void diagonal_slot_scores(float (&d)[2][4], const float x0[4], const float x1[4], const T* sS,
                                                     const float* sG, int ks) {
    using F = Cfg<T, M>;
    const int w = warp_id();
    FragA<T> ah, al;
    split_a_from_acc<T>(ah, al, x0, x1);
#pragma unroll
    for (int tile = 0; tile < 2; tile++) {
        FragB<T> bh, bl;
        split_b<T>(bh, bl, [&](int kk, int n) {
            const int m = 16 * ks + kk, j = 16 * w + 8 * tile + n;
            return to_float(sS[j * F::LDM + m]) * __expf(sG[16 * w * F::LDG + m] - sG[j * F::LDG + m]);
        });
        mma3(d[tile], ah, al, bh, bl);
    }
}

// The A fragment (16x16) of X[r0 + r][k0 + k] * exp(G[r0 + r][k0 + k]).
template <typename T, typename X_>
__device__ __forceinline__ FragA<T> frag_times_exp(const X_* X, int ldx, const float* G, int ldg, int r0, int k0) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
    auto f = [&](int r, int k) { return to_float(X[(r0 + r) * ldx + k0 + k]) * __expf(G[(r0 + r) * ldg + k0 + k]); };
    FragA<T> a;
    a.r[0] = AElem<T>::make(f(g, 2 * q), f(g, 2 * q + 1));
    a.r[1] = AElem<T>::make(f(g + 8, 2 * q), f(g + 8, 2 * q + 1));
    a.r[2] = AElem<T>::make(f(g, 2 * q + 8), f(g, 2 * q + 9));
    a.r[3] = AElem<T>::make(f(g + 8, 2 * q + 8), f(g + 8, 2 * q + 9));
    return a;
}

template <typename T, int M>
__device__ void cumsum_stage(float* sG, const T* stage);

// Loads the chunk's log-gates (rows >= len are 0, so G stays flat past the end) through `stage`
// and writes their cumulative sums G[t][m]. Synchronizes the block before and after.
template <typename T, int M>
__device__ void chunk_cumsum(float* sG, T* stage, const T* g, long long gld, int len) {
    using F = Cfg<T, M>;
    __syncthreads();
    load_tile(stage, F::LDM, g, gld, C, M, len);
    __syncthreads();
    cumsum_stage<T, M>(sG, stage);
}

// G = L g from the log-gates already in `stage`, L the lower-triangular ones: warp w's 16 rows on
// the tensor cores (exact in fp32). Synchronizes the block at the end.
template <typename T, int M>
__device__ void cumsum_stage(float* sG, const T* stage) {
    using F = Cfg<T, M>;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
    float acc[F::MT][4];
    zero(acc);
    for (int ks = 0; ks <= w; ks++) warp_mma_a<false, F::MT>(acc, ones_block<T>(ks == w), stage + 16 * ks * F::LDM, F::LDM);
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        const int m = 8 * nt + 2 * q;
        store2(sG + (16 * w + g8) * F::LDG + m, acc[nt][0], acc[nt][1]);
        store2(sG + (16 * w + g8 + 8) * F::LDG + m, acc[nt][2], acc[nt][3]);
    }
    __syncthreads();
}

template <typename T, int M>
__device__ __forceinline__ bool fast_diagonal(const float* sG) {
    using F = Cfg<T, M>;
    if (!F::FAST) return false;
    const int w = warp_id(), l = lane_id();
    float r = 0.f;
    for (int m = l; m < M; m += 32) r = fmaxf(r, sG[16 * w * F::LDG + m] - sG[(16 * w + 15) * F::LDG + m]);
    r = warp_max(r);
    return r <= FAST_RANGE;  // false for NaN
}

// dst[j][m] = s[j][m] * exp(G[ref][m] − G[j][m]) for j < rows, by the threads [first, first+count).
template <typename T, int M>
__device__ __forceinline__ void scaled_slots(T* dst, const T* sS, const float* sG, int ref, int rows, int first, int count) {
    using F = Cfg<T, M>;
    for (int i = (int)threadIdx.x - first; i < rows * M; i += count) {
        const int j = i / M, m = i - j * M;
        dst[j * F::LDM + m] = from_float<T>(to_float(sS[j * F::LDM + m]) * __expf(sG[ref * F::LDG + m] - sG[j * F::LDG + m]));
    }
}

// For the chunk's rows t < C and slots m < M (4 consecutive slots at a time): put(t, m, a, b) with
// a = A[t][m..m+3], b = B[t][m..m+3] (float4; rows t >= valid read as zeros; B may be null), A and B
// fp32 with row stride `stride`. All the block's threads; each issues its loads (at most 8 + 8
// vectors) before its first put, so that the global latency is paid once.
template <int M, typename Put>
__device__ __forceinline__ void load_slot_rows(const float* A, const float* B, long long stride, int valid, Put put) {
    constexpr int PER_ROW = M / 4, TOTAL = C * PER_ROW, BATCH = 8;
    for (int base = threadIdx.x; base < TOTAL; base += BATCH * blockDim.x) {
        float4 a[BATCH], b[BATCH];
#pragma unroll
        for (int u = 0; u < BATCH; u++) {
            const int i = base + u * blockDim.x, t = i / PER_ROW, m = (i - t * PER_ROW) * 4;
            a[u] = b[u] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (i < TOTAL && t < valid) {
                a[u] = *reinterpret_cast<const float4*>(A + t * stride + m);
                if (B != nullptr) b[u] = *reinterpret_cast<const float4*>(B + t * stride + m);
            }
        }
#pragma unroll
        for (int u = 0; u < BATCH; u++) {
            const int i = base + u * blockDim.x, t = i / PER_ROW, m = (i - t * PER_ROW) * 4;
            if (i < TOTAL) put(t, m, a[u], b[u]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pass-1 rows (shared by the forward's ok and the backward's dp). For warp w, rows t of block w:
//   out[t][m] = scale · ( E_t[m] (X_t · Hs)[m] + Σ_{j≤t} (X_t · Y_j) s_j[m] D_tj[m] )
// X rows (queries or dO) and Y rows (keys or values) stream over their D columns in KB blocks;
// Hs is the D x M state entering the chunk, stored [D][M] (Hk) or, with HT, [M][D] (Hv).
// Leaves S̃_w (this warp's off-diagonal slots) in sStw for pass 2.
// ---------------------------------------------------------------------------------------------
template <typename T, int M, bool HT>
__device__ void rows_pass1(float (&out)[M / 8][4], const T* X, long long xld, const T* Y, long long yld, const T* Hs, int D,
                           int len, float scale, T* sX, T* sY, T* sH, const float* sG, const T* sS, T* sStw, float* sAd) {
    using F = Cfg<T, M>;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
    float accA[8][4];
    zero(out);
    zero(accA);
    for (int d0 = 0; d0 < D; d0 += F::KB) {
        __syncthreads();
        // Hs: [D][M] (KB rows of M) or, with HT, [M][D] (M rows of KB columns).
        const TileCopy<T> tc[3] = {{sX, F::LDK, X + d0, xld, C, F::KB, len},
                                   {sY, F::LDK, Y + d0, yld, C, F::KB, len},
                                   {sH, HT ? F::LDK : F::LDM, HT ? Hs + d0 : Hs + (long long)d0 * M, HT ? (long long)D : (long long)M,
                                    HT ? M : F::KB, HT ? F::KB : M, HT ? M : F::KB}};
        load_tiles(tc);
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < F::KK; ks++) {
            FragA<T> fa;
            load_a<false>(fa, sX + 16 * w * F::LDK + 16 * ks, F::LDK);
            if (!HT) warp_mma_a<false, F::MT>(out, fa, sH + 16 * ks * F::LDM, F::LDM);
            else warp_mma_a<true, F::MT>(out, fa, sH + 16 * ks, F::LDK);
#pragma unroll
            for (int n2 = 0; n2 < 4; n2++) {
                if (n2 <= w) {
                    FragB<T> b0, b1;
                    load_b2<true>(b0, b1, sY + 16 * n2 * F::LDK + 16 * ks, F::LDK);
                    mma(accA[2 * n2], fa, b0);
                    mma(accA[2 * n2 + 1], fa, b1);
                }
            }
        }
    }
    __syncthreads();  // sAd lies over the tiles sX, sY (RowsSmem)
    // Inter-chunk part: scale · E_t ⊙ (X_t Hs).
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int t = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
            out[nt][e] *= scale * __expf(sG[t * F::LDG + m]);
        }
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) accA[nt][e] *= scale;
    }
    // Off-diagonal blocks (and, when fast, the causally masked diagonal one):
    // exp(G_t − G_{16w}) ⊙ (A[t, j] S̃_w), S̃_w[j][m] = s_j[m] exp(G_{16w}[m] − G_j[m]).
    const bool fast = fast_diagonal<T, M>(sG);
    if (w > 0 || fast) {
        float tmp[F::MT][4];
        zero(tmp);
        if (w > 0) {
            scaled_slots<T, M>(sStw, sS, sG, 16 * w, 16 * w, 32 * w, 32);
            __syncwarp();
#pragma unroll
            for (int ks = 0; ks < 3; ks++) {
                if (ks < w) {
                    const FragA<T> fa = a_from_acc<T>(accA[2 * ks], accA[2 * ks + 1]);
                    warp_mma_a<false, F::MT>(tmp, fa, sStw + 16 * ks * F::LDM, F::LDM);
                }
            }
        }
        if (fast) {
            float c0[4], c1[4];
            get_pair(accA, w, c0, c1);
#pragma unroll
            for (int e = 0; e < 4; e++) {  // causal mask: column 2q+(e&1) (+8 for c1) ≤ row g8 + 8(e>>1)
                if (2 * q + (e & 1) > g8 + 8 * (e >> 1)) c0[e] = 0.f;
                if (8 + 2 * q + (e & 1) > g8 + 8 * (e >> 1)) c1[e] = 0.f;
            }
            FragA<T> ah, al;
            split_a_from_acc<T>(ah, al, c0, c1);
#pragma unroll
            for (int nt = 0; nt < F::MT; nt++) {
                FragB<T> bh, bl;
                split_b<T>(bh, bl, [&](int jj, int n) {
                    const int j = 16 * w + jj, m = 8 * nt + n;
                    return to_float(sS[j * F::LDM + m]) * __expf(sG[16 * w * F::LDG + m] - sG[j * F::LDG + m]);
                });
                mma3(tmp[nt], ah, al, bh, bl);
            }
        }
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int t = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
                out[nt][e] += tmp[nt][e] * __expf(sG[t * F::LDG + m] - sG[16 * w * F::LDG + m]);
            }
        }
    }
    // Otherwise the diagonal block element by element: Σ_{16w ≤ j ≤ t} A_tj s_j[m] exp(G_t[m] − G_j[m]).
    if (fast) {
        __syncwarp();
        return;
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        if (nt == 2 * w || nt == 2 * w + 1) {
            const int c0 = (nt - 2 * w) * 8 + 2 * q;
            sAd[g8 * F::LDA + c0] = accA[nt][0];
            sAd[g8 * F::LDA + c0 + 1] = accA[nt][1];
            sAd[(g8 + 8) * F::LDA + c0] = accA[nt][2];
            sAd[(g8 + 8) * F::LDA + c0 + 1] = accA[nt][3];
        }
    }
    __syncwarp();
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int r = g8 + 8 * (e >> 1), t = 16 * w + r, m = 8 * nt + 2 * q + (e & 1);
            const float gt = sG[t * F::LDG + m];
            float acc = 0.f;
            for (int jj = 0; jj <= r; jj++) {
                const int j = 16 * w + jj;
                acc += sAd[r * F::LDA + jj] * to_float(sS[j * F::LDM + m]) * __expf(gt - sG[j * F::LDG + m]);
            }
            out[nt][e] += acc;
        }
    }
    __syncwarp();
}

// ---------------------------------------------------------------------------------------------
// Forward, kernel 1: the state entering every chunk. One CTA per (sequence, kv head, block), where
// block is 64 rows a of Hk [K][M] or 64 columns c of Hv [M][V]; both are a [64][M] matrix X
// (X = Hk rows, or X = Hvᵀ) with the same update per chunk:
//   X ← X ⊙ E_last[None,:] + Yᵀ S̃,   S̃[j][m] = s_j[m] exp(G_last[m] − G_j[m]),   Y = k or v columns.
// ---------------------------------------------------------------------------------------------
template <typename T, int M>
struct StatesSmem {
    T* y;
    T* z;
    T* s;
    float* G;
    T* xo;
    float* red;
    __device__ void carve(SmemCarver& c) {
        using F = Cfg<T, M>;
        y = c.take<T>(C * F::LDS);
        z = c.take<T>(C * F::LDM);
        s = c.take<T>(C * F::LDM);
        G = c.take<float>(C * F::LDG);
        xo = c.take<T>(F::SB * F::LDM);
        red = c.take<float>(4 * M);
    }
};

// Writes this CTA's block of X (accumulators of the 4 warps) into a state buffer in the storage
// type: Hk rows [r0, r0+64) of a [K][M] matrix, or Hv columns [r0, r0+64) of a [M][V] matrix.
template <typename T, int M>
__device__ void save_state_block(const float (&X)[M / 8][4], T* xo, T* dst, bool isK, int r0, int V) {
    using F = Cfg<T, M>;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        const int m = 8 * nt + 2 * q, r = 16 * w + g8;
        store2(xo + r * F::LDM + m, X[nt][0], X[nt][1]);
        store2(xo + (r + 8) * F::LDM + m, X[nt][2], X[nt][3]);
    }
    __syncthreads();
    if (isK) {
        constexpr int N = 16 / (int)sizeof(T);
        constexpr int PER_ROW = M / N;
        T* base = dst + (long long)r0 * M;
        for (int i = threadIdx.x; i < F::SB * PER_ROW; i += blockDim.x) {
            const int r = i / PER_ROW, c = (i - r * PER_ROW) * N;
            *reinterpret_cast<int4*>(base + (long long)r * M + c) = *reinterpret_cast<const int4*>(xo + r * F::LDM + c);
        }
    } else {
        for (int i = threadIdx.x; i < F::SB * M; i += blockDim.x) {
            const int m = i / F::SB, r = i - m * F::SB;
            dst[(long long)m * V + r0 + r] = xo[r * F::LDM + m];
        }
    }
    __syncthreads();
}

template <typename T, int M>
__device__ void gsa_fwd_states(T* hkS, T* hvS, float* hkFinal, float* hvFinal, const float* hk0, const float* hv0,
                               const T* k, const T* v, const T* s, const T* g, int T_, int Hkv, int K, int V) {
    using F = Cfg<T, M>;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    StatesSmem<T, M> sm;
    sm.carve(carver);
    carver.check();
    const int bk = blockIdx.x, b = bk / Hkv, kv = bk - b * Hkv, blk = blockIdx.y;
    const int nK = K / F::SB;
    const bool isK = blk < nK;
    const int r0 = (isK ? blk : blk - nK) * F::SB, D = isK ? K : V;
    const int N = (T_ + C - 1) / C;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
    const T* Y = isK ? k : v;
    const float* init = isK ? hk0 : hv0;
    T* saved = isK ? hkS + (long long)bk * (N + 1) * K * M : hvS + (long long)bk * (N + 1) * M * V;
    const long long savedStride = isK ? (long long)K * M : (long long)M * V;

    float X[F::MT][4];
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int r = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
            X[nt][e] = init == nullptr ? 0.f
                     : isK ? init[((long long)bk * K + r0 + r) * M + m] : init[((long long)bk * M + m) * V + r0 + r];
        }
    }
    // The next chunk's k or v columns, s and g are fetched into registers while this one computes.
    constexpr int VY = C * Cfg<T, M>::SB * (int)sizeof(T) / 16 / 128, VS = (C * M * (int)sizeof(T) / 16 + 127) / 128;
    TileFetch<T, VY> fy;
    TileFetch<T, VS> fs, fg;
    auto fetch = [&](int n) {
        const int t0 = n * C, len = min(C, T_ - t0);
        const long long row = ((long long)b * T_ + t0) * Hkv + kv;
        fy.fetch(Y + row * D + r0, (long long)Hkv * D, C, F::SB, len);
        fs.fetch(s + row * M, (long long)Hkv * M, C, M, len);
        fg.fetch(g + row * M, (long long)Hkv * M, C, M, len);
    };
    fetch(0);
    for (int n = 0; n < N; n++) {
        save_state_block<T, M>(X, sm.xo, saved + n * savedStride, isK, r0, V);  // ends with a barrier
        fy.commit(sm.y, F::LDS);
        fs.commit(sm.s, F::LDM);
        fg.commit(sm.z, F::LDM);
        if (n + 1 < N) fetch(n + 1);
        __syncthreads();
        cumsum_stage<T, M>(sm.G, sm.z);
        scaled_slots<T, M>(sm.z, sm.s, sm.G, C - 1, C, 0, blockDim.x);
        __syncthreads();
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) X[nt][e] *= __expf(sm.G[(C - 1) * F::LDG + 8 * nt + 2 * q + (e & 1)]);
        }
        warp_mma<true, false, F::MT>(X, sm.y + 16 * w, F::LDS, sm.z, F::LDM, C / 16);
    }
    save_state_block<T, M>(X, sm.xo, saved + N * savedStride, isK, r0, V);
    float* fin = isK ? hkFinal : hvFinal;
    if (fin != nullptr) {
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
                if (isK) fin[((long long)bk * K + r0 + r) * M + m] = X[nt][e];
                else fin[((long long)bk * M + m) * V + r0 + r] = X[nt][e];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Forward, kernel 2: outputs of one (sequence, query head, chunk).
//   ok = pass 1 with (q, k, Hk⁰);  p = softmax(ok);
//   o_t = Σ_m (p_t ⊙ E_t)[m] Hv⁰[m] + Σ_{j≤t} B_tj v_j,   B_tj = Σ_m p_t[m] s_j[m] D_tj[m].
// ---------------------------------------------------------------------------------------------
template <typename T, int M>
struct RowsSmem {
    T* s;
    float* G;
    T* st;
    T* x;
    T* y;
    T* h;
    float* pw;
    __device__ void carve(SmemCarver& c) {
        using F = Cfg<T, M>;
        s = c.take<T>(C * F::LDM);
        G = c.take<float>(C * F::LDG);
        st = c.take<T>(F::ST_ROWS * F::LDM);
        x = c.take<T>(C * F::LDK);
        y = c.take<T>(C * F::LDK);
        h = c.take<T>(F::STATE_TILE);
        // The warps' fp32 rows (after pass 1's loop, before the next tiles) lie over x and y: 68 KB
        // in bf16 at M = 64, three CTAs per H100 SM.
        static_assert(2 * C * F::LDK * (int)sizeof(T) >= 4 * 16 * F::LDG * (int)sizeof(float), "pw must fit in x, y");
        pw = reinterpret_cast<float*>(x);
    }
};

template <typename T, int M>
__device__ void gsa_fwd_out(T* o, float* okOut, float* pOut, const T* q, const T* k, const T* v, const T* s, const T* g,
                            const T* hkS, const T* hvS, int T_, int H, int Hkv, int K, int V, float scale) {
    using F = Cfg<T, M>;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    RowsSmem<T, M> sm;
    sm.carve(carver);
    carver.check();
    const int n = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kv = h / (H / Hkv);
    const int N = (T_ + C - 1) / C, t0 = n * C, len = min(C, T_ - t0);
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowQ = ((long long)b * T_ + t0) * H + h, rowK = ((long long)b * T_ + t0) * Hkv + kv;
    const long long bk = (long long)b * Hkv + kv;
    T* sStw = sm.st + st_row0(w) * F::LDM;
    float* sPw = sm.pw + w * 16 * F::LDG;

    load_tile(sm.s, F::LDM, s + rowK * M, (long long)Hkv * M, C, M, len);
    chunk_cumsum<T, M>(sm.G, sm.st, g + rowK * M, (long long)Hkv * M, len);

    float ok[F::MT][4];
    rows_pass1<T, M, false>(ok, q + rowQ * K, (long long)H * K, k + rowK * K, (long long)Hkv * K,
                            hkS + (bk * (N + 1) + n) * K * M, K, len, scale, sm.x, sm.y, sm.h, sm.G, sm.s, sStw, sPw);

    // p = softmax over the M slots; a row's M values are spread over the 4 lanes of a group.
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        mx0 = fmaxf(mx0, fmaxf(ok[nt][0], ok[nt][1]));
        mx1 = fmaxf(mx1, fmaxf(ok[nt][2], ok[nt][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    float p[F::MT][4], sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        p[nt][0] = __expf(ok[nt][0] - mx0);
        p[nt][1] = __expf(ok[nt][1] - mx0);
        p[nt][2] = __expf(ok[nt][2] - mx1);
        p[nt][3] = __expf(ok[nt][3] - mx1);
        sum0 += p[nt][0] + p[nt][1];
        sum1 += p[nt][2] + p[nt][3];
    }
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, 1);
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, 2);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, 1);
    sum1 += __shfl_xor_sync(0xffffffffu, sum1, 2);
    const float inv0 = 1.f / sum0, inv1 = 1.f / sum1;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        p[nt][0] *= inv0;
        p[nt][1] *= inv0;
        p[nt][2] *= inv1;
        p[nt][3] *= inv1;
    }
    const int ta = 16 * w + g8, tb = ta + 8;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        const int m = 8 * nt + 2 * qq;
        if (okOut != nullptr) {
            if (ta < len) store2(okOut + (rowQ + (long long)ta * H) * M + m, ok[nt][0], ok[nt][1]);
            if (tb < len) store2(okOut + (rowQ + (long long)tb * H) * M + m, ok[nt][2], ok[nt][3]);
        }
        if (pOut != nullptr) {
            if (ta < len) store2(pOut + (rowQ + (long long)ta * H) * M + m, p[nt][0], p[nt][1]);
            if (tb < len) store2(pOut + (rowQ + (long long)tb * H) * M + m, p[nt][2], p[nt][3]);
        }
        // p in fp32 for the diagonal block below (this warp's rows only).
        store2(sPw + g8 * F::LDG + m, p[nt][0], p[nt][1]);
        store2(sPw + (g8 + 8) * F::LDG + m, p[nt][2], p[nt][3]);
    }
    __syncwarp();

    // B_tj for j ≤ t: off-diagonal (P̂_w S̃_wᵀ, P̂ = p ⊙ exp(G_t − G_{16w})), diagonal element by element.
    float accB[8][4];
    zero(accB);
    const bool fast = fast_diagonal<T, M>(sm.G);
    if (w > 0 || fast) {
        float dB[2][4];
        zero(dB);
#pragma unroll
        for (int ks = 0; ks < F::MK; ks++) {
            float c0[4], c1[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int t = 16 * w + g8 + 8 * (e >> 1);
                const int m0 = 16 * ks + 2 * qq + (e & 1), m1 = m0 + 8;
                c0[e] = p[2 * ks][e] * __expf(sm.G[t * F::LDG + m0] - sm.G[16 * w * F::LDG + m0]);
                c1[e] = p[2 * ks + 1][e] * __expf(sm.G[t * F::LDG + m1] - sm.G[16 * w * F::LDG + m1]);
            }
            const FragA<T> fa = a_from_acc<T>(c0, c1);
#pragma unroll
            for (int n2 = 0; n2 < 3; n2++) {
                if (n2 < w) {
                    FragB<T> b0, b1;
                    load_b2<true>(b0, b1, sStw + 16 * n2 * F::LDM + 16 * ks, F::LDM);
                    mma(accB[2 * n2], fa, b0);
                    mma(accB[2 * n2 + 1], fa, b1);
                }
            }
            if (fast) diagonal_slot_scores<T, M>(dB, c0, c1, sm.s, sm.G, ks);
        }
        if (fast) {
#pragma unroll
            for (int e = 0; e < 4; e++) {  // causal mask of the diagonal block
                if (2 * qq + (e & 1) > g8 + 8 * (e >> 1)) dB[0][e] = 0.f;
                if (8 + 2 * qq + (e & 1) > g8 + 8 * (e >> 1)) dB[1][e] = 0.f;
            }
            set_pair(accB, w, dB[0], dB[1]);
        }
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        if (!fast && (nt == 2 * w || nt == 2 * w + 1)) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = g8 + 8 * (e >> 1), jj = (nt - 2 * w) * 8 + 2 * qq + (e & 1);
                const int t = 16 * w + r, j = 16 * w + jj;
                float acc = 0.f;
                if (jj <= r) {
                    for (int m = 0; m < M; m++) {
                        acc += sPw[r * F::LDG + m] * to_float(sm.s[j * F::LDM + m]) *
                               __expf(sm.G[t * F::LDG + m] - sm.G[j * F::LDG + m]);
                    }
                }
                accB[nt][e] = acc;
            }
        }
    }
    // P̃ = p ⊙ E, the A operand of the inter-chunk product.
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int t = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * qq + (e & 1);
            p[nt][e] *= __expf(sm.G[t * F::LDG + m]);
        }
    }
    const T* hv = hvS + (bk * (N + 1) + n) * M * V;
    for (int c0 = 0; c0 < V; c0 += F::KB) {
        __syncthreads();
        const TileCopy<T> tc[2] = {{sm.y, F::LDK, v + rowK * V + c0, (long long)Hkv * V, C, F::KB, len},
                                   {sm.h, F::LDK, hv + c0, V, M, F::KB, M}};
        load_tiles(tc);
        __syncthreads();
        float acc[F::KT][4];
        zero(acc);
#pragma unroll
        for (int ks = 0; ks < F::MK; ks++) {
            const FragA<T> fa = a_from_acc<T>(p[2 * ks], p[2 * ks + 1]);
            warp_mma_a<false, F::KT>(acc, fa, sm.h + 16 * ks * F::LDK, F::LDK);
        }
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
            if (ks <= w) {
                const FragA<T> fa = a_from_acc<T>(accB[2 * ks], accB[2 * ks + 1]);
                warp_mma_a<false, F::KT>(acc, fa, sm.y + 16 * ks * F::LDK, F::LDK);
            }
        }
#pragma unroll
        for (int nt = 0; nt < F::KT; nt++) {
            const int c = c0 + 8 * nt + 2 * qq;
            if (ta < len) store2(o + (rowQ + (long long)ta * H) * V + c, acc[nt][0], acc[nt][1]);
            if (tb < len) store2(o + (rowQ + (long long)tb * H) * V + c, acc[nt][2], acc[nt][3]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backward, kernel 1: per (sequence, query head, chunk)
//   dp_t = E_t ⊙ (Hv⁰ dO_t) + Σ_{j≤t} (dO_t·v_j) s_j ⊙ D_tj     (pass 1's form with dO, v, Hv⁰ᵀ)
//   dok  = p ⊙ (dp − ⟨p, dp⟩),   gq = ok ⊙ dok + p ⊙ dp (this head's share of dL/dG).
// ---------------------------------------------------------------------------------------------
template <typename T, int M>
__device__ void gsa_bwd_dp(float* dokOut, float* gqOut, const float* pIn, const float* okIn, const T* dO, const T* v,
                           const T* s, const T* g, const T* hvS, int T_, int H, int Hkv, int V) {
    using F = Cfg<T, M>;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    RowsSmem<T, M> sm;
    sm.carve(carver);
    carver.check();
    const int n = blockIdx.x, h = blockIdx.y, b = blockIdx.z, kv = h / (H / Hkv);
    const int N = (T_ + C - 1) / C, t0 = n * C, len = min(C, T_ - t0);
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowQ = ((long long)b * T_ + t0) * H + h, rowK = ((long long)b * T_ + t0) * Hkv + kv;
    const long long bk = (long long)b * Hkv + kv;

    load_tile(sm.s, F::LDM, s + rowK * M, (long long)Hkv * M, C, M, len);
    chunk_cumsum<T, M>(sm.G, sm.st, g + rowK * M, (long long)Hkv * M, len);
    float dp[F::MT][4];
    rows_pass1<T, M, true>(dp, dO + rowQ * V, (long long)H * V, v + rowK * V, (long long)Hkv * V,
                           hvS + (bk * (N + 1) + n) * M * V, V, len, 1.f, sm.x, sm.y, sm.h, sm.G, sm.s,
                           sm.st + st_row0(w) * F::LDM, sm.pw + w * 16 * F::LDG);

    const int ta = 16 * w + g8, tb = ta + 8;
    float p[F::MT][4], ok[F::MT][4];
    float dot0 = 0.f, dot1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        const int m = 8 * nt + 2 * qq;
        const float2 pa = ta < len ? load2(pIn + (rowQ + (long long)ta * H) * M + m) : make_float2(0.f, 0.f);
        const float2 pb = tb < len ? load2(pIn + (rowQ + (long long)tb * H) * M + m) : make_float2(0.f, 0.f);
        const float2 oa = ta < len ? load2(okIn + (rowQ + (long long)ta * H) * M + m) : make_float2(0.f, 0.f);
        const float2 ob = tb < len ? load2(okIn + (rowQ + (long long)tb * H) * M + m) : make_float2(0.f, 0.f);
        p[nt][0] = pa.x; p[nt][1] = pa.y; p[nt][2] = pb.x; p[nt][3] = pb.y;
        ok[nt][0] = oa.x; ok[nt][1] = oa.y; ok[nt][2] = ob.x; ok[nt][3] = ob.y;
        dot0 += p[nt][0] * dp[nt][0] + p[nt][1] * dp[nt][1];
        dot1 += p[nt][2] * dp[nt][2] + p[nt][3] * dp[nt][3];
    }
    dot0 += __shfl_xor_sync(0xffffffffu, dot0, 1);
    dot0 += __shfl_xor_sync(0xffffffffu, dot0, 2);
    dot1 += __shfl_xor_sync(0xffffffffu, dot1, 1);
    dot1 += __shfl_xor_sync(0xffffffffu, dot1, 2);
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        const int m = 8 * nt + 2 * qq;
        float d[4], gq[4];
#pragma unroll
        for (int e = 0; e < 4; e++) {
            d[e] = p[nt][e] * (dp[nt][e] - (e < 2 ? dot0 : dot1));
            gq[e] = ok[nt][e] * d[e] + p[nt][e] * dp[nt][e];
        }
        if (ta < len) {
            store2(dokOut + (rowQ + (long long)ta * H) * M + m, d[0], d[1]);
            store2(gqOut + (rowQ + (long long)ta * H) * M + m, gq[0], gq[1]);
        }
        if (tb < len) {
            store2(dokOut + (rowQ + (long long)tb * H) * M + m, d[2], d[3]);
            store2(gqOut + (rowQ + (long long)tb * H) * M + m, gq[2], gq[3]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backward, kernel 2: gradients of the chunk-border states, from the last chunk to the first.
// X = dL/d(state leaving chunk n) for this CTA's block; per chunk, from the last:
//   save X;  end[m] = Σ_rows X ⊙ (state leaving chunk n)  (this block's share of the dG end term);
//   X ← X ⊙ E_last + Σ_h Yᵀ Z,  Hk: Y = q_h, Z = scale·dok_h ⊙ E;  Hv (as Hvᵀ): Y = dO_h, Z = p_h ⊙ E.
// After the first chunk X is dL/d(initial state).
// ---------------------------------------------------------------------------------------------
template <typename T, int M>
__device__ void gsa_bwd_states(T* dhkS, T* dhvS, float* dHk0, float* dHv0, float* endPart, const float* dHkT,
                               const float* dHvT, const T* hkS, const T* hvS, const T* q, const T* dO, const float* dok,
                               const float* p, const T* g, int T_, int H, int Hkv, int K, int V, float scale) {
    using F = Cfg<T, M>;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    StatesSmem<T, M> sm;
    sm.carve(carver);
    carver.check();
    const int bk = blockIdx.x, b = bk / Hkv, kv = bk - b * Hkv, blk = blockIdx.y;
    const int nK = K / F::SB, nblk = gridDim.y;
    const bool isK = blk < nK;
    const int r0 = (isK ? blk : blk - nK) * F::SB, D = isK ? K : V, G = H / Hkv;
    const int N = (T_ + C - 1) / C;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const float* fin = isK ? dHkT : dHvT;
    T* saved = isK ? dhkS + (long long)bk * N * K * M : dhvS + (long long)bk * N * M * V;
    const T* states = isK ? hkS + (long long)bk * (N + 1) * K * M : hvS + (long long)bk * (N + 1) * M * V;
    const long long stride = isK ? (long long)K * M : (long long)M * V;

    float X[F::MT][4];
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int r = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * qq + (e & 1);
            X[nt][e] = fin == nullptr ? 0.f
                     : isK ? fin[((long long)bk * K + r0 + r) * M + m] : fin[((long long)bk * M + m) * V + r0 + r];
        }
    }
    for (int n = N - 1; n >= 0; n--) {
        const int t0 = n * C, len = min(C, T_ - t0);
        save_state_block<T, M>(X, sm.xo, saved + n * stride, isK, r0, V);
        // This block's share of Σ (state leaving chunk n) ⊙ X, per slot, summed in a fixed order.
        const T* end = states + (n + 1) * stride;
        float part[F::MT][2];
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int c = 0; c < 2; c++) {
                const int m = 8 * nt + 2 * qq + c;
                float acc = 0.f;
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    const int r = 16 * w + g8 + 8 * half;
                    const float hend = to_float(isK ? end[(long long)(r0 + r) * M + m] : end[(long long)m * V + r0 + r]);
                    acc += X[nt][2 * half + c] * hend;
                }
                acc += __shfl_xor_sync(0xffffffffu, acc, 4);
                acc += __shfl_xor_sync(0xffffffffu, acc, 8);
                acc += __shfl_xor_sync(0xffffffffu, acc, 16);
                part[nt][c] = acc;
            }
        }
        if (g8 == 0) {
#pragma unroll
            for (int nt = 0; nt < F::MT; nt++) {
                sm.red[w * M + 8 * nt + 2 * qq] = part[nt][0];
                sm.red[w * M + 8 * nt + 2 * qq + 1] = part[nt][1];
            }
        }
        chunk_cumsum<T, M>(sm.G, sm.z, g + (((long long)b * T_ + t0) * Hkv + kv) * M, (long long)Hkv * M, len);
        for (int m = threadIdx.x; m < M; m += blockDim.x) {
            endPart[(((long long)bk * N + n) * nblk + blk) * M + m] = sm.red[m] + sm.red[M + m] + sm.red[2 * M + m] + sm.red[3 * M + m];
        }
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) X[nt][e] *= __expf(sm.G[(C - 1) * F::LDG + 8 * nt + 2 * qq + (e & 1)]);
        }
        for (int hh = 0; hh < G; hh++) {
            const int h = kv * G + hh;
            const long long rowQ = ((long long)b * T_ + t0) * H + h;
            __syncthreads();
            load_tile(sm.y, F::LDS, (isK ? q : dO) + rowQ * D + r0, (long long)H * D, C, F::SB, len);
            const float zs = isK ? scale : 1.f;
            load_slot_rows<M>((isK ? dok : p) + rowQ * M, nullptr, (long long)H * M, len,
                              [&](int t, int m, float4 a, float4) {
                                  const float* G = sm.G + t * F::LDG + m;
                                  T* z = sm.z + t * F::LDM + m;
                                  z[0] = from_float<T>(a.x * zs * __expf(G[0]));
                                  z[1] = from_float<T>(a.y * zs * __expf(G[1]));
                                  z[2] = from_float<T>(a.z * zs * __expf(G[2]));
                                  z[3] = from_float<T>(a.w * zs * __expf(G[3]));
                              });
            __syncthreads();
            warp_mma<true, false, F::MT>(X, sm.y + 16 * w, F::LDS, sm.z, F::LDM, C / 16);
        }
    }
    float* init = isK ? dHk0 : dHv0;
    if (init != nullptr) {
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * qq + (e & 1);
                if (isK) init[((long long)bk * K + r0 + r) * M + m] = X[nt][e];
                else init[((long long)bk * M + m) * V + r0 + r] = X[nt][e];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backward, kernel 3: per (sequence, kv head, chunk), the query heads of the group in order.
// Per head (A = q̃kᵀ, W = dO vᵀ, B_tj = ⟨p_t, s_j ⊙ D_tj⟩, dA_tj = ⟨dok_t, s_j ⊙ D_tj⟩, all j ≤ t):
//   dq̃ = (dok ⊙ E) Hk⁰ᵀ + dA k                        dq = scale · dq̃
//   dk += dAᵀ q̃                                        dv += Bᵀ dO
//   ds_j += Σ_{t≥j} (W_tj p_t + A_tj dok_t) ⊙ D_tj
// once per kv head (leaving-state terms, dHk, dHv the leaving-state gradients):
//   dk += S̃_last dHkᵀ,  dv += S̃_last dHv,  ds += D_last ⊙ (k dHk + v dHvᵀ)
// then dG_t = Σ_h gq_h − s ⊙ ds + [t = last] end, dg = suffix sums of dG inside the chunk (double).
// Column-side products (dk, dv, ds: warp w owns rows j) use the transposed score matrices,
// held in shared memory: R1 (W, then A) and R2 (B, then dA).
// ---------------------------------------------------------------------------------------------
// Shared memory of gsa_bwd_chunk, with buffers shared between phases so that two CTAs fit an
// H100 SM (bf16, M = 64: 113 KB; 228 KB per SM, 1 KB reserved per CTA):
//   X / Xh   the raw (fp32) and block-scaled rows of p, then of dok (p is dead once its column
//            product is done, before dok is loaded);
//   R1       S̃_last during the V and K loops of the first head, W and A after them;
//   t4       the dHk tile (K loop, first head) lies in Xh, which is refilled from X afterwards;
//   Sd       the fp32 diagonal blocks of W and A, between the loops, in the tile t2.
template <typename T, int M>
struct ChunkBwdSmem {
    T* s;
    float* G;
    T* R1;
    T* R2;
    T* Xh;
    float* X;
    float* Sd;
    T* st;
    T* t1;
    T* t2;
    T* t3;
    T* t4;
    __device__ void carve(SmemCarver& c) {
        using F = Cfg<T, M>;
        static_assert(C * F::LDK * (int)sizeof(T) >= 4 * 16 * F::LDA * (int)sizeof(float), "Sd must fit in t2");
        static_assert(C * F::LDM >= F::STATE_TILE, "t4 must fit in Xh");
        static_assert(F::LDC >= F::LDM, "S̃_last must fit in R1");
        static_assert(2 * C * F::LDK * (int)sizeof(T) >= C * F::LDG * (int)sizeof(float), "ds (fp32) must fit in t1, t2");
        s = c.take<T>(C * F::LDM);
        G = c.take<float>(C * F::LDG);
        R1 = c.take<T>(C * F::LDC);
        R2 = c.take<T>(C * F::LDC);
        Xh = c.take<T>(C * F::LDM);
        X = c.take<float>(C * F::LDG);
        st = c.take<T>(F::ST_ROWS * F::LDM);
        t1 = c.take<T>(C * F::LDK);
        t2 = c.take<T>(C * F::LDK);
        t3 = c.take<T>(F::STATE_TILE);
        t4 = Xh;
        Sd = reinterpret_cast<float*>(t2);
    }
};

// dst (rows 16w.., 64 columns) ← scale·acc, with the upper triangle of the diagonal block zeroed;
// the diagonal block also in fp32 into diag ([16][LDA], this warp's), when given.
template <typename T, int LD, int LDA>
__device__ __forceinline__ void store_scores(T* dst, const float (&acc)[8][4], float scale, float* diag) {
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        const int j = 8 * nt + 2 * q, ta = 16 * w + g8, tb = ta + 8;
        const float a0 = j <= ta ? acc[nt][0] * scale : 0.f, a1 = j + 1 <= ta ? acc[nt][1] * scale : 0.f;
        const float b0 = j <= tb ? acc[nt][2] * scale : 0.f, b1 = j + 1 <= tb ? acc[nt][3] * scale : 0.f;
        store2(dst + ta * LD + j, a0, a1);
        store2(dst + tb * LD + j, b0, b1);
        if (diag != nullptr && (nt == 2 * w || nt == 2 * w + 1)) {
            const int jj = j - 16 * w;
            diag[g8 * LDA + jj] = a0;
            diag[g8 * LDA + jj + 1] = a1;
            diag[(g8 + 8) * LDA + jj] = b0;
            diag[(g8 + 8) * LDA + jj + 1] = b1;
        }
    }
    __syncwarp();
}

// Row-side gated scores of warp w: acc[t][j] = Σ_m Xr_t[m] s_j[m] D_tj[m] for j ≤ t, from the
// scaled rows Xh (X ⊙ exp(G_t − G_{16w})) for the off-diagonal blocks and the raw rows Xr on the diagonal.
template <typename T, int M>
__device__ void gated_scores(float (&acc)[8][4], const T* Xh, const float* Xr, const T* sStw, const T* sS, const float* sG,
                             bool fast) {
    using F = Cfg<T, M>;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
    zero(acc);
    if (w > 0 || fast) {
        float dB[2][4];
        zero(dB);
#pragma unroll
        for (int ks = 0; ks < F::MK; ks++) {
            if (w > 0) {
                FragA<T> fa;
                load_a<false>(fa, Xh + 16 * w * F::LDM + 16 * ks, F::LDM);
#pragma unroll
                for (int n2 = 0; n2 < 3; n2++) {
                    if (n2 < w) {
                        FragB<T> b0, b1;
                        load_b2<true>(b0, b1, sStw + 16 * n2 * F::LDM + 16 * ks, F::LDM);
                        mma(acc[2 * n2], fa, b0);
                        mma(acc[2 * n2 + 1], fa, b1);
                    }
                }
            }
            if (fast) {
                float x0[4], x1[4];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int t = 16 * w + g8 + 8 * (e >> 1), m0 = 16 * ks + 2 * q + (e & 1), m1 = m0 + 8;
                    x0[e] = Xr[t * F::LDG + m0] * __expf(sG[t * F::LDG + m0] - sG[16 * w * F::LDG + m0]);
                    x1[e] = Xr[t * F::LDG + m1] * __expf(sG[t * F::LDG + m1] - sG[16 * w * F::LDG + m1]);
                }
                diagonal_slot_scores<T, M>(dB, x0, x1, sS, sG, ks);
            }
        }
        if (fast) {
#pragma unroll
            for (int e = 0; e < 4; e++) {  // causal mask of the diagonal block
                if (2 * q + (e & 1) > g8 + 8 * (e >> 1)) dB[0][e] = 0.f;
                if (8 + 2 * q + (e & 1) > g8 + 8 * (e >> 1)) dB[1][e] = 0.f;
            }
            set_pair(acc, w, dB[0], dB[1]);
        }
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        if (!fast && (nt == 2 * w || nt == 2 * w + 1)) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = g8 + 8 * (e >> 1), jj = (nt - 2 * w) * 8 + 2 * q + (e & 1);
                const int t = 16 * w + r, j = 16 * w + jj;
                float a = 0.f;
                if (jj <= r) {
                    for (int m = 0; m < M; m++) {
                        a += Xr[t * F::LDG + m] * to_float(sS[j * F::LDM + m]) *
                             __expf(sG[t * F::LDG + m] - sG[j * F::LDG + m]);
                    }
                }
                acc[nt][e] = a;
            }
        }
    }
}

// Column-side gate product of warp w (rows j): ds[j][m] += Σ_{t ≥ j} S[t][j] Xr_t[m] D_tj[m], with
// S the score matrix in shared memory (R, [t][j]; its diagonal block in fp32 in Sd), Xh the
// block-scaled rows and Xr the raw rows (fp32).
template <typename T, int M>
__device__ void column_gated(float (&ds)[M / 8][4], const T* R, const float* Sd, const T* Xh, const float* Xr, const float* sG,
                             bool fast) {
    using F = Cfg<T, M>;
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, q = l & 3;
    if (fast) {  // the diagonal block, factorised through its first row, split operands (mma3)
        float tmp[F::MT][4];
        zero(tmp);
        FragA<T> ah, al;
        split_a<T>(ah, al, [&](int j, int t) { return t >= j ? Sd[t * F::LDA + j] : 0.f; });
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
            FragB<T> bh, bl;
            split_b<T>(bh, bl, [&](int tt, int n) {
                const int t = 16 * w + tt, m = 8 * nt + n;
                return Xr[t * F::LDG + m] * __expf(sG[t * F::LDG + m] - sG[16 * w * F::LDG + m]);
            });
            mma3(tmp[nt], ah, al, bh, bl);
        }
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int j = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
                ds[nt][e] += tmp[nt][e] * __expf(sG[16 * w * F::LDG + m] - sG[j * F::LDG + m]);
            }
        }
    }
#pragma unroll
    for (int i = 1; i < 4; i++) {
        if (i > w) {
            float tmp[F::MT][4];
            zero(tmp);
            FragA<T> fa;
            load_a<true>(fa, R + 16 * i * F::LDC + 16 * w, F::LDC);
            warp_mma_a<false, F::MT>(tmp, fa, Xh + 16 * i * F::LDM, F::LDM);
#pragma unroll
            for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int j = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
                    ds[nt][e] += tmp[nt][e] * __expf(sG[16 * i * F::LDG + m] - sG[j * F::LDG + m]);
                }
            }
        }
    }
    if (fast) return;
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int j = 16 * w + g8 + 8 * (e >> 1), m = 8 * nt + 2 * q + (e & 1);
            const float gj = sG[j * F::LDG + m];
            float acc = 0.f;
            for (int t = j; t < 16 * w + 16; t++) {
                acc += Sd[(t - 16 * w) * F::LDA + (j - 16 * w)] * Xr[t * F::LDG + m] * __expf(sG[t * F::LDG + m] - gj);
            }
            ds[nt][e] += acc;
        }
    }
}

// out ← value for a single query head, or the sum over the group's heads through an fp32
// workspace (first head stores, later heads add, the last converts to the output).
template <typename T>
__device__ __forceinline__ void store_group_sum(T* out, float* ws, long long idx, float a, float b, bool first, bool last) {
    if (ws == nullptr) {
        store2(out + idx, a, b);
        return;
    }
    if (!first) {
        const float2 prev = load2(ws + idx);
        a += prev.x;
        b += prev.y;
    }
    if (last) store2(out + idx, a, b);
    else store2(ws + idx, a, b);
}

template <typename T, int M>
__device__ void gsa_bwd_chunk(T* dq, T* dk, T* dv, T* ds, T* dg, float* wsK, float* wsV, const T* q, const T* k,
                              const T* v, const T* s, const T* g, const T* dO, const float* p, const float* dok,
                              const float* gq, const T* hkS, const T* dhkS, const T* dhvS, const float* endPart, int T_,
                              int H, int Hkv, int K, int V, float scale) {
    using F = Cfg<T, M>;
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    ChunkBwdSmem<T, M> sm;
    sm.carve(carver);
    carver.check();
    const int n = blockIdx.x, kv = blockIdx.y, b = blockIdx.z, G = H / Hkv;
    const int N = (T_ + C - 1) / C, t0 = n * C, len = min(C, T_ - t0);
    const int w = warp_id(), l = lane_id(), g8 = l >> 2, qq = l & 3;
    const long long rowK = ((long long)b * T_ + t0) * Hkv + kv, bk = (long long)b * Hkv + kv;
    const int ja = 16 * w + g8, jb = ja + 8;  // this lane's rows (t on the row side, j on the column side)
    T* sStw = sm.st + st_row0(w) * F::LDM;
    float* sDw = sm.Sd + w * 16 * F::LDA;
    const T* hk0 = hkS + (bk * (N + 1) + n) * K * M;
    const T* dHk = dhkS + (bk * N + n) * K * M;
    const T* dHv = dhvS + (bk * N + n) * M * V;

    load_tile(sm.s, F::LDM, s + rowK * M, (long long)Hkv * M, C, M, len);
    chunk_cumsum<T, M>(sm.G, sm.st, g + rowK * M, (long long)Hkv * M, len);
    const bool fast = fast_diagonal<T, M>(sm.G);
    if (w > 0) scaled_slots<T, M>(sStw, sm.s, sm.G, 16 * w, 16 * w, 32 * w, 32);

    float dsAcc[F::MT][4];
    zero(dsAcc);
    // Adds exp(G_last − G_j) ⊙ tmp to ds (the leaving-state terms).
    auto add_last = [&](const float (&tmp)[F::MT][4]) {
#pragma unroll
        for (int nt = 0; nt < F::MT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int j = ja + 8 * (e >> 1), m = 8 * nt + 2 * qq + (e & 1);
                dsAcc[nt][e] += tmp[nt][e] * __expf(sm.G[(C - 1) * F::LDG + m] - sm.G[j * F::LDG + m]);
            }
        }
    };

    T* sl = sm.R1;  // S̃_last (row stride LDM), the leaving-state terms of the first head
    // X ← rows of src (p or dok, fp32 [C][M], row stride H·M), Xh ← X scaled to its row block's reference.
    auto load_rows = [&](const float* src) {
        load_slot_rows<M>(src, nullptr, (long long)H * M, len, [&](int t, int m, float4 a, float4) {
            const float xv[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const float f = __expf(sm.G[t * F::LDG + m + c] - sm.G[(t & ~15) * F::LDG + m + c]);
                sm.X[t * F::LDG + m + c] = xv[c];
                sm.Xh[t * F::LDM + m + c] = from_float<T>(xv[c] * f);
            }
        });
    };
    // Xh ← X scaled, as load_rows writes it (the same values, bit for bit).
    auto scale_rows = [&]() {
        for (int i = threadIdx.x; i < C * M; i += blockDim.x) {
            const int t = i / M, m = i - t * M;
            const float f = __expf(sm.G[t * F::LDG + m] - sm.G[(t & ~15) * F::LDG + m]);
            sm.Xh[t * F::LDM + m] = from_float<T>(sm.X[t * F::LDG + m] * f);
        }
    };

    for (int hh = 0; hh < G; hh++) {
        const int h = kv * G + hh;
        const bool first = hh == 0, last = hh == G - 1;
        const long long rowQ = ((long long)b * T_ + t0) * H + h;
        // p: raw (X), and scaled to its row block's reference (P̂, Xh); S̃_last in R1 (first head).
        __syncthreads();
        load_rows(p + rowQ * M);
        if (first) scaled_slots<T, M>(sl, sm.s, sm.G, C - 1, C, 0, blockDim.x);
        __syncthreads();
        {
            float accB[8][4];
            gated_scores<T, M>(accB, sm.Xh, sm.X, sStw, sm.s, sm.G, fast);
            store_scores<T, F::LDC, F::LDA>(sm.R2, accB, 1.f, nullptr);
        }
        // V blocks: W = dO vᵀ (rows t), dv = Bᵀ dO (rows j) [+ S̃_last dHv, ds += v dHvᵀ at the first head].
        float accW[8][4];
        zero(accW);
        for (int c0 = 0; c0 < V; c0 += F::KB) {
            __syncthreads();
            const TileCopy<T> tc[3] = {{sm.t1, F::LDK, dO + rowQ * V + c0, (long long)H * V, C, F::KB, len},
                                       {sm.t2, F::LDK, v + rowK * V + c0, (long long)Hkv * V, C, F::KB, len},
                                       {sm.t3, F::LDK, dHv + c0, V, first ? M : 0, F::KB, M}};
            load_tiles(tc);
            __syncthreads();
#pragma unroll
            for (int ks = 0; ks < F::KK; ks++) {
                FragA<T> fa;
                load_a<false>(fa, sm.t1 + 16 * w * F::LDK + 16 * ks, F::LDK);
#pragma unroll
                for (int n2 = 0; n2 < 4; n2++) {
                    if (n2 <= w) {
                        FragB<T> b0, b1;
                        load_b2<true>(b0, b1, sm.t2 + 16 * n2 * F::LDK + 16 * ks, F::LDK);
                        mma(accW[2 * n2], fa, b0);
                        mma(accW[2 * n2 + 1], fa, b1);
                    }
                }
            }
            float acc[F::KT][4];
            zero(acc);
#pragma unroll
            for (int ks = 0; ks < 4; ks++) {
                if (ks >= w) {
                    FragA<T> fa;
                    load_a<true>(fa, sm.R2 + 16 * ks * F::LDC + 16 * w, F::LDC);
                    warp_mma_a<false, F::KT>(acc, fa, sm.t1 + 16 * ks * F::LDK, F::LDK);
                }
            }
            if (first) {
#pragma unroll
                for (int ks = 0; ks < F::MK; ks++) {
                    FragA<T> fa;
                    load_a<false>(fa, sl + 16 * w * F::LDM + 16 * ks, F::LDM);
                    warp_mma_a<false, F::KT>(acc, fa, sm.t3 + 16 * ks * F::LDK, F::LDK);
                }
                float tmp[F::MT][4];
                zero(tmp);
#pragma unroll
                for (int ks = 0; ks < F::KK; ks++) {
                    FragA<T> fa;
                    load_a<false>(fa, sm.t2 + 16 * w * F::LDK + 16 * ks, F::LDK);
                    warp_mma_a<true, F::MT>(tmp, fa, sm.t3 + 16 * ks, F::LDK);
                }
                add_last(tmp);
            }
#pragma unroll
            for (int nt = 0; nt < F::KT; nt++) {
                const int c = c0 + 8 * nt + 2 * qq;
                if (ja < len) store_group_sum(dv, wsV, (rowK + (long long)ja * Hkv) * V + c, acc[nt][0], acc[nt][1], first, last);
                if (jb < len) store_group_sum(dv, wsV, (rowK + (long long)jb * Hkv) * V + c, acc[nt][2], acc[nt][3], first, last);
            }
        }
        __syncthreads();
        store_scores<T, F::LDC, F::LDA>(sm.R1, accW, 1.f, sDw);
        __syncthreads();
        column_gated<T, M>(dsAcc, sm.R1, sDw, sm.Xh, sm.X, sm.G, fast);
        // dok in place of p (raw in X, scaled dÔK in Xh); S̃_last in R1 again (first head).
        __syncthreads();
        load_rows(dok + rowQ * M);
        if (first) scaled_slots<T, M>(sl, sm.s, sm.G, C - 1, C, 0, blockDim.x);
        __syncthreads();
        {
            float accD[8][4];
            gated_scores<T, M>(accD, sm.Xh, sm.X, sStw, sm.s, sm.G, fast);
            store_scores<T, F::LDC, F::LDA>(sm.R2, accD, 1.f, nullptr);
        }

        // K blocks: A = q̃kᵀ (rows t), dq (rows t), dk = dAᵀ q̃ (rows j) [+ S̃_last dHkᵀ, ds += k dHk at the first head].
        float accA[8][4];
        zero(accA);
        for (int a0 = 0; a0 < K; a0 += F::KB) {
            __syncthreads();
            const TileCopy<T> tc[4] = {{sm.t1, F::LDK, q + rowQ * K + a0, (long long)H * K, C, F::KB, len},
                                       {sm.t2, F::LDK, k + rowK * K + a0, (long long)Hkv * K, C, F::KB, len},
                                       {sm.t3, F::LDM, hk0 + (long long)a0 * M, M, F::KB, M, F::KB},
                                       {sm.t4, F::LDM, dHk + (long long)a0 * M, M, first ? F::KB : 0, M, F::KB}};
            load_tiles(tc);
            __syncthreads();
#pragma unroll
            for (int ks = 0; ks < F::KK; ks++) {
                FragA<T> fa;
                load_a<false>(fa, sm.t1 + 16 * w * F::LDK + 16 * ks, F::LDK);
#pragma unroll
                for (int n2 = 0; n2 < 4; n2++) {
                    if (n2 <= w) {
                        FragB<T> b0, b1;
                        load_b2<true>(b0, b1, sm.t2 + 16 * n2 * F::LDK + 16 * ks, F::LDK);
                        mma(accA[2 * n2], fa, b0);
                        mma(accA[2 * n2 + 1], fa, b1);
                    }
                }
            }
            {  // dq̃ = dA k + (dok ⊙ E) Hk⁰ᵀ
                float acc[F::KT][4];
                zero(acc);
#pragma unroll
                for (int ks = 0; ks < 4; ks++) {
                    if (ks <= w) {
                        FragA<T> fa;
                        load_a<false>(fa, sm.R2 + 16 * w * F::LDC + 16 * ks, F::LDC);
                        warp_mma_a<false, F::KT>(acc, fa, sm.t2 + 16 * ks * F::LDK, F::LDK);
                    }
                }
#pragma unroll
                for (int ks = 0; ks < F::MK; ks++) {
                    const FragA<T> fa = frag_times_exp<T>(sm.X, F::LDG, sm.G, F::LDG, 16 * w, 16 * ks);
                    warp_mma_a<true, F::KT>(acc, fa, sm.t3 + 16 * ks, F::LDM);
                }
#pragma unroll
                for (int nt = 0; nt < F::KT; nt++) {
                    const int c = a0 + 8 * nt + 2 * qq;
                    if (ja < len) store2(dq + (rowQ + (long long)ja * H) * K + c, acc[nt][0] * scale, acc[nt][1] * scale);
                    if (jb < len) store2(dq + (rowQ + (long long)jb * H) * K + c, acc[nt][2] * scale, acc[nt][3] * scale);
                }
            }
            {  // dk = dAᵀ q̃ [+ S̃_last dHkᵀ]
                float acc[F::KT][4];
                zero(acc);
#pragma unroll
                for (int ks = 0; ks < 4; ks++) {
                    if (ks >= w) {
                        FragA<T> fa;
                        load_a<true>(fa, sm.R2 + 16 * ks * F::LDC + 16 * w, F::LDC);
                        warp_mma_a<false, F::KT>(acc, fa, sm.t1 + 16 * ks * F::LDK, F::LDK);
                    }
                }
#pragma unroll
                for (int nt = 0; nt < F::KT; nt++) {
#pragma unroll
                    for (int e = 0; e < 4; e++) acc[nt][e] *= scale;
                }
                if (first) {
#pragma unroll
                    for (int ks = 0; ks < F::MK; ks++) {
                        FragA<T> fa;
                        load_a<false>(fa, sl + 16 * w * F::LDM + 16 * ks, F::LDM);
                        warp_mma_a<true, F::KT>(acc, fa, sm.t4 + 16 * ks, F::LDM);
                    }
                    float tmp[F::MT][4];
                    zero(tmp);
#pragma unroll
                    for (int ks = 0; ks < F::KK; ks++) {
                        FragA<T> fa;
                        load_a<false>(fa, sm.t2 + 16 * w * F::LDK + 16 * ks, F::LDK);
                        warp_mma_a<false, F::MT>(tmp, fa, sm.t4 + 16 * ks * F::LDM, F::LDM);
                    }
                    add_last(tmp);
                }
#pragma unroll
                for (int nt = 0; nt < F::KT; nt++) {
                    const int c = a0 + 8 * nt + 2 * qq;
                    if (ja < len) store_group_sum(dk, wsK, (rowK + (long long)ja * Hkv) * K + c, acc[nt][0], acc[nt][1], first, last);
                    if (jb < len) store_group_sum(dk, wsK, (rowK + (long long)jb * Hkv) * K + c, acc[nt][2], acc[nt][3], first, last);
                }
            }
        }
        __syncthreads();
        store_scores<T, F::LDC, F::LDA>(sm.R1, accA, scale, sDw);
        if (first) scale_rows();  // the dHk tiles (t4) overwrote dÔK in Xh
        __syncthreads();
        column_gated<T, M>(dsAcc, sm.R1, sDw, sm.Xh, sm.X, sm.G, fast);
    }

    // ds is complete: dG_t = Σ_h gq_h − s ⊙ ds + [t = C−1] end (rows past the end are zero, so
    // the end term may sit at row C−1), and dg = suffix sums inside the chunk, in double.
    __syncthreads();
    float* dsF = reinterpret_cast<float*>(sm.t1);  // [C][LDG], spans t1 and t2
#pragma unroll
    for (int nt = 0; nt < F::MT; nt++) {
        const int m = 8 * nt + 2 * qq;
        store2(dsF + ja * F::LDG + m, dsAcc[nt][0], dsAcc[nt][1]);
        store2(dsF + jb * F::LDG + m, dsAcc[nt][2], dsAcc[nt][3]);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < len * M; i += blockDim.x) {
        const int t = i / M, m = i - t * M;
        ds[(rowK + (long long)t * Hkv) * M + m] = from_float<T>(dsF[t * F::LDG + m]);
    }
    // Σ_h gq_h − s ⊙ ds, in fp32 [C][LDG] over R1..R2 (free now), loads batched.
    float* dG = reinterpret_cast<float*>(sm.R1);
    for (int hh = 0; hh < G; hh++) {
        const long long rowQ = ((long long)b * T_ + t0) * H + kv * G + hh;
        load_slot_rows<M>(gq + rowQ * M, nullptr, (long long)H * M, len, [&](int t, int m, float4 a, float4) {
            const float v4[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
            for (int c = 0; c < 4; c++) {
                float prev = hh == 0 ? -to_float(sm.s[t * F::LDM + m + c]) * dsF[t * F::LDG + m + c] : dG[t * F::LDG + m + c];
                dG[t * F::LDG + m + c] = prev + v4[c];
            }
        });
    }
    __syncthreads();
    const int nblk = K / F::SB + V / F::SB;
    for (int m = threadIdx.x; m < M; m += blockDim.x) {
        double end = 0.0;
        for (int blk = 0; blk < nblk; blk++) end += endPart[((bk * N + n) * nblk + blk) * M + m];
        double acc = end;
        for (int t = len - 1; t >= 0; t--) {
            acc += dG[t * F::LDG + m];
            dg[(rowK + (long long)t * Hkv) * M + m] = from_float<T>((float)acc);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding: one token for every sequence, on the fp32 state (updated in place). One CTA per
// (sequence, kv head): Hk ← Hk ⊙ exp(g) + k ⊗ s, Hv ← Hv ⊙ exp(g) + s ⊗ v, then per query head of
// the group ok = (scale q)ᵀ Hk, p = softmax(ok), o = pᵀ Hv. q [B,H,K], k [B,Hkv,K], v [B,Hkv,V],
// s, g [B,Hkv,M], o [B,H,V].
// ---------------------------------------------------------------------------------------------
template <typename T, int M>
__device__ void gsa_step(T* o, float* hk, float* hv, const T* q, const T* k, const T* v, const T* s, const T* g, int H,
                         int Hkv, int K, int V, float scale) {
    TILES_DYNAMIC_SMEM(smem);
    SmemCarver carver{smem};
    float* sk = carver.take<float>(K);
    float* sv = carver.take<float>(V);
    float* sq = carver.take<float>(K);
    float* ss = carver.take<float>(M);
    float* se = carver.take<float>(M);
    float* sp = carver.take<float>(M);
    float* part = carver.take<float>(blockDim.x);
    carver.check();
    const int bk = blockIdx.x, b = bk / Hkv, kv = bk - b * Hkv, G = H / Hkv;
    for (int i = threadIdx.x; i < K; i += blockDim.x) sk[i] = to_float(k[(long long)bk * K + i]);
    for (int i = threadIdx.x; i < V; i += blockDim.x) sv[i] = to_float(v[(long long)bk * V + i]);
    for (int i = threadIdx.x; i < M; i += blockDim.x) {
        ss[i] = to_float(s[(long long)bk * M + i]);
        se[i] = __expf(to_float(g[(long long)bk * M + i]));
    }
    __syncthreads();
    float* Hk = hk + (long long)bk * K * M;
    float* Hv = hv + (long long)bk * M * V;
    for (int i = threadIdx.x; i < K * M; i += blockDim.x) {
        const int a = i / M, m = i - a * M;
        Hk[i] = Hk[i] * se[m] + sk[a] * ss[m];
    }
    for (int i = threadIdx.x; i < M * V; i += blockDim.x) {
        const int m = i / V, c = i - m * V;
        Hv[i] = Hv[i] * se[m] + ss[m] * sv[c];
    }
    __syncthreads();
    const int parts = blockDim.x / M;  // threads per slot in the ok reduction
    for (int hh = 0; hh < G; hh++) {
        const int h = kv * G + hh;
        for (int i = threadIdx.x; i < K; i += blockDim.x) sq[i] = scale * to_float(q[((long long)b * H + h) * K + i]);
        __syncthreads();
        {
            const int m = threadIdx.x % M, part_i = threadIdx.x / M;
            float acc = 0.f;
            if (part_i < parts) {
                for (int a = part_i; a < K; a += parts) acc += sq[a] * Hk[(long long)a * M + m];
            }
            part[threadIdx.x] = acc;
        }
        __syncthreads();
        if (threadIdx.x < 32) {
            float okv[2], mx = -INFINITY;
            for (int c = 0; c < 2; c++) {
                const int m = threadIdx.x + 32 * c;
                float acc = -INFINITY;
                if (m < M) {
                    acc = 0.f;
                    for (int pi = 0; pi < parts; pi++) acc += part[pi * M + m];
                }
                okv[c] = acc;
                mx = fmaxf(mx, acc);
            }
            mx = warp_max(mx);
            float e[2], sum = 0.f;
            for (int c = 0; c < 2; c++) {
                e[c] = threadIdx.x + 32 * c < M ? __expf(okv[c] - mx) : 0.f;
                sum += e[c];
            }
            sum = warp_sum(sum);
            for (int c = 0; c < 2; c++) {
                const int m = threadIdx.x + 32 * c;
                if (m < M) sp[m] = e[c] / sum;
            }
        }
        __syncthreads();
        for (int c = threadIdx.x; c < V; c += blockDim.x) {
            float acc = 0.f;
            for (int m = 0; m < M; m++) acc += sp[m] * Hv[(long long)m * V + c];
            o[((long long)b * H + h) * V + c] = from_float<T>(acc);
        }
        __syncthreads();
    }
}

// Shared-memory bytes of each chunk kernel, written by gsa_smem_sizes (the launchers ask once).
template <typename T, int M>
__device__ void smem_sizes(int* out) {
    {
        SmemCarver c{nullptr};
        StatesSmem<T, M> s;
        s.carve(c);
        out[0] = (int)c.used;
    }
    {
        SmemCarver c{nullptr};
        RowsSmem<T, M> s;
        s.carve(c);
        out[1] = (int)c.used;
    }
    {
        SmemCarver c{nullptr};
        ChunkBwdSmem<T, M> s;
        s.carve(c);
        out[2] = (int)c.used;
    }
    out[3] = Cfg<T, M>::KB;
}

}  // namespace gsa

#define GSA_KERNELS(M, T, SUFFIX)                                                                                              \
    extern "C" __global__ void __launch_bounds__(128) gsa_fwd_states_m##M##_##SUFFIX(                                      \
        T* hkS, T* hvS, float* hkFinal, float* hvFinal, const float* hk0, const float* hv0, const T* k, const T* v,         \
        const T* s, const T* g, int T_, int Hkv, int K, int V) {                                                            \
        gsa::gsa_fwd_states<T, M>(hkS, hvS, hkFinal, hvFinal, hk0, hv0, k, v, s, g, T_, Hkv, K, V);                        \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) gsa_fwd_out_m##M##_##SUFFIX(                                         \
        T* o, float* okOut, float* pOut, const T* q, const T* k, const T* v, const T* s, const T* g, const T* hkS,          \
        const T* hvS, int T_, int H, int Hkv, int K, int V, float scale) {                                                  \
        gsa::gsa_fwd_out<T, M>(o, okOut, pOut, q, k, v, s, g, hkS, hvS, T_, H, Hkv, K, V, scale);                          \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) gsa_bwd_dp_m##M##_##SUFFIX(                                          \
        float* dokOut, float* gqOut, const float* p, const float* ok, const T* dO, const T* v, const T* s, const T* g,      \
        const T* hvS, int T_, int H, int Hkv, int V) {                                                                      \
        gsa::gsa_bwd_dp<T, M>(dokOut, gqOut, p, ok, dO, v, s, g, hvS, T_, H, Hkv, V);                                      \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) gsa_bwd_states_m##M##_##SUFFIX(                                      \
        T* dhkS, T* dhvS, float* dHk0, float* dHv0, float* endPart, const float* dHkT, const float* dHvT, const T* hkS,     \
        const T* hvS, const T* q, const T* dO, const float* dok, const float* p, const T* g, int T_, int H, int Hkv, int K, \
        int V, float scale) {                                                                                               \
        gsa::gsa_bwd_states<T, M>(dhkS, dhvS, dHk0, dHv0, endPart, dHkT, dHvT, hkS, hvS, q, dO, dok, p, g, T_, H, Hkv, K,  \
                                  V, scale);                                                                                \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) gsa_bwd_chunk_m##M##_##SUFFIX(                                       \
        T* dq, T* dk, T* dv, T* ds, T* dg, float* wsK, float* wsV, const T* q, const T* k, const T* v, const T* s,          \
        const T* g, const T* dO, const float* p, const float* dok, const float* gq, const T* hkS, const T* dhkS,            \
        const T* dhvS, const float* endPart, int T_, int H, int Hkv, int K, int V, float scale) {                           \
        gsa::gsa_bwd_chunk<T, M>(dq, dk, dv, ds, dg, wsK, wsV, q, k, v, s, g, dO, p, dok, gq, hkS, dhkS, dhvS, endPart, T_, \
                                 H, Hkv, K, V, scale);                                                                      \
    }                                                                                                                      \
    extern "C" __global__ void gsa_step_m##M##_##SUFFIX(T* o, float* hk, float* hv, const T* q, const T* k, const T* v,    \
                                                         const T* s, const T* g, int H, int Hkv, int K, int V,              \
                                                         float scale) {                                                     \
        gsa::gsa_step<T, M>(o, hk, hv, q, k, v, s, g, H, Hkv, K, V, scale);                                                \
    }                                                                                                                      \
    extern "C" __global__ void gsa_smem_sizes_m##M##_##SUFFIX(int* out) {                                                   \
        if (threadIdx.x == 0) gsa::smem_sizes<T, M>(out);                                                                  \
    }

GSA_KERNELS(16, float, f32)
GSA_KERNELS(32, float, f32)
GSA_KERNELS(64, float, f32)
GSA_KERNELS(16, bf16, bf16)
GSA_KERNELS(32, bf16, bf16)
GSA_KERNELS(64, bf16, bf16)
