// Split-KV attention of a decode step (flash-decoding): one new token of each of B sequences against
// that sequence's own KV ring, at its own position, GQA, optional sliding window, fp32 accumulation.
//
// Per row b (a decoder): position p = pos[b]; caches[2b], caches[2b + 1] = device addresses of its K and
// V rings [cap, Hkv, D] in T (position j in row j % cap, cap = cap[b]); q, k, v = the token's projections
// (fp32, before RoPE; query head h at column h·D of q's row, kv head κ at κ·D of k's and v's).
// The kernel applies RoPE (the [max_pos, D/2] fp32 cos/sin tables of rope.cu, rotate_half) to q and to
// the new key, stores the new key (rotated) and value into the ring at row p % cap, and attends to the
// visible positions lo..p (lo = max(0, p − window + 1) with a window, else 0): o [B, H·D] in T.
//
// Grid (S, Hkv·HC, B): the visible positions are cut into S contiguous splits of at least minChunk
// rows (a short context leaves the last splits empty: those CTAs return at once and the merge does
// not wait for them); one CTA per (split, kv head, group of HG query heads, row). Each CTA reads
// every K/V row of its split once for its HG query heads (4 warps; a lane holds 8 dims of a row:
// D/8 lanes per row, 32·8/D rows per warp at a time). The rows stream through a ring of STAGES
// stages in dynamic shared memory by cp.async, STAGES − 1 stages in flight while the lane computes
// on one: each lane copies exactly the 16-byte pieces it later reads, so the pipeline needs no
// barrier. A lane keeps an online softmax per query head (rescaled when a stage raises the
// maximum), the lane groups and warps are merged at the end; the CTA's partial (max, sum,
// unnormalised output per head; scores in base 2 for bf16, base e for fp32: see Base) goes to the
// workspace. The last CTA of a (row, kv head, head group) to finish (a counter, reset by it for the
// next step) merges the partials in split order, so the result does not depend on which CTA
// finishes last. p is the last visible position, so it closes its split: the CTAs of that split
// take the new key and value from the projections rather than the ring (one of them stores them),
// and no other CTA reads row p % cap (with a window, the position it held before is no longer
// visible).
#include "tiles.cuh"

namespace attd {
using namespace tiles;

constexpr int WARPS = 4, THREADS = 32 * WARPS;
// The CTAs per SM the register budget must allow (AttentionDecode.CTAS_PER_SM): 3 (12 warps) keeps
// four query heads' q and accumulators in registers without spilling (4 CTAs would cap a thread at
// 128 registers; the four-head variants use about 148).
constexpr int MIN_CTAS = 3;
// The K/V pipeline: a stage is, per lane, UR rows of 8 dims of K and of V, PER 16-byte copies each
// (bf16: 2 rows of one copy, fp32: 1 row of two), 8 KB a CTA whatever the type; STAGES − 1 = 3 of
// them in flight a CTA (24 KB, 72 KB a SM at 3 CTAs) while the lane computes on the fourth.
constexpr int STAGES = 4, PER = 2;
template <typename T> struct Pipe {
    static constexpr int CP = (int)sizeof(T) / 2;  // 16-byte copies per 8 dims
    static constexpr int UR = PER / CP;              // rows a lane takes per stage
};
constexpr int STAGE_INT4 = 2 * PER * THREADS;       // a stage: [K, V][PER][THREADS] 16-byte pieces
constexpr int SMEM_BYTES = STAGES * STAGE_INT4 * 16; // 32 KB; AttentionDecode.SHARED_BYTES

template <typename T> __device__ __forceinline__ void store8(T* p, const float f[8]) {
    Pack<T> a;
#pragma unroll
    for (int i = 0; i < Pack<T>::N; i++) a.v[i] = from_float<T>(f[i]);
    a.store(p);
    if (Pack<T>::N < 8) {
#pragma unroll
        for (int i = 0; i < Pack<T>::N; i++) a.v[i] = from_float<T>(f[Pack<T>::N + i]);
        a.store(p + Pack<T>::N);
    }
}

// Dims [d0, d0 + 8) of a head of fp32 x (D wide, at x) after RoPE at position p (NaN outside the table).
template <int D>
__device__ __forceinline__ void rope8(float out[8], const float* x, int d0, const float* cosT, const float* sinT, int p, int maxPos) {
    constexpr int HALF = D / 2;
    const bool first = d0 < HALF;
    const int i0 = first ? d0 : d0 - HALF, partner = first ? d0 + HALF : d0 - HALF;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        if (p < 0 || p >= maxPos) {
            out[i] = NAN;
            continue;
        }
        const float c = cosT[(long long)p * HALF + i0 + i], s = sinT[(long long)p * HALF + i0 + i];
        const float a = x[d0 + i], b = x[partner + i];
        out[i] = first ? a * c - b * s : a * c + b * s;
    }
}

// The base of the scores' exponentials. bf16 (the speed path): base 2, log2 e folded into q's scale,
// so that each weight is one exp2f (the hardware's ex2) rather than expf's range reduction around it;
// its error (2 ulp) is far below the bf16 output's rounding. fp32 (the accuracy reference): base e.
template <typename T> struct Base {
    static constexpr float LOG2 = 1.4426950408889634f;  // scores are multiplied by this
    __device__ __forceinline__ static float exp(float x) { return exp2f(x); }
};
template <> struct Base<float> {
    static constexpr float LOG2 = 1.f;
    __device__ __forceinline__ static float exp(float x) { return expf(x); }
};

// q·k over a row held by LPR lanes (8 dims each); every lane of the group gets the sum.
template <int LPR>
__device__ __forceinline__ float row_dot(const float q[8], const float k[8]) {
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) dot += q[i] * k[i];
#pragma unroll
    for (int off = LPR / 2; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    return dot;
}

template <typename T>
__device__ __forceinline__ void softmax_add(float& m, float& l, float acc[8], float s, const float v[8]) {
    const float n = fmaxf(m, s);
    const float c = m == -INFINITY ? 0.f : Base<T>::exp(m - n), e = Base<T>::exp(s - n);
    l = l * c + e;
#pragma unroll
    for (int i = 0; i < 8; i++) acc[i] = acc[i] * c + e * v[i];
    m = n;
}

// (m, l, acc) += (m2, l2, acc2), both relative to their own maximum.
template <typename T>
__device__ __forceinline__ void merge(float& m, float& l, float acc[8], float m2, float l2, const float acc2[8]) {
    const float n = fmaxf(m, m2);
    if (n == -INFINITY) return;
    const float c1 = m == -INFINITY ? 0.f : Base<T>::exp(m - n), c2 = m2 == -INFINITY ? 0.f : Base<T>::exp(m2 - n);
    l = l * c1 + l2 * c2;
#pragma unroll
    for (int i = 0; i < 8; i++) acc[i] = acc[i] * c1 + acc2[i] * c2;
    m = n;
}

// The rows of this lane's next stage: positions j + u·WARPS·RPW (u < UR), at ring rows at[u] (the
// position mod cap, kept by additions: one division a lane rather than one a row).
template <typename T, int RPW>
struct Cursor {
    static constexpr int UR = Pipe<T>::UR, STEP = UR * WARPS * RPW;
    int j, step, cap;
    int at[UR];
    __device__ __forceinline__ Cursor(int j0, int cap_) : j(j0), step(STEP % cap_), cap(cap_) {
#pragma unroll
        for (int u = 0; u < UR; u++) at[u] = (j0 + u * WARPS * RPW) % cap;
    }
    __device__ __forceinline__ void advance() {
        j += STEP;
#pragma unroll
        for (int u = 0; u < UR; u++) {
            at[u] += step;
            if (at[u] >= cap) at[u] -= cap;
        }
    }
};

// Issues this lane's copies of the cursor's stage and advances it; rows past ringEnd are zero-filled
// (their scores are masked). Piece c of row u goes to [K|V][u·CP + c][lane of the CTA], so a warp's
// reads of a stage hit distinct banks.
template <typename T, int RPW>
__device__ __forceinline__ void issue_stage(int4* stage, Cursor<T, RPW>& cur, const T* kc, const T* vc, int ringEnd,
                                            long long rowStride, long long headOff) {
    constexpr int CP = Pipe<T>::CP, UR = Pipe<T>::UR, N = 16 / (int)sizeof(T);
#pragma unroll
    for (int u = 0; u < UR; u++) {
        const bool in = cur.j + u * WARPS * RPW < ringEnd;
        const long long at = in ? (long long)cur.at[u] * rowStride + headOff : 0;
#pragma unroll
        for (int c = 0; c < CP; c++) {
            cp_async16(stage + (u * CP + c) * THREADS + threadIdx.x, kc + at + c * N, in);
            cp_async16(stage + (PER + u * CP + c) * THREADS + threadIdx.x, vc + at + c * N, in);
        }
    }
    cur.advance();
}

// The 8 dims of row u of K (kv = 0) or V (kv = 1) this lane copied into a stage.
template <typename T>
__device__ __forceinline__ void unpack8(const int4* stage, int kv, int u, float f[8]) {
    constexpr int CP = Pipe<T>::CP, N = 16 / (int)sizeof(T);
#pragma unroll
    for (int c = 0; c < CP; c++) {
        const int4 x = stage[(kv * PER + u * CP + c) * THREADS + threadIdx.x];
        const T* e = reinterpret_cast<const T*>(&x);
#pragma unroll
        for (int i = 0; i < N; i++) f[c * N + i] = to_float(e[i]);
    }
}

// Adds UR rows (scores s, −∞ for masked rows; values v) to (m, l, acc). The sums are rescaled only
// when the maximum grows (rarely, once a split is under way): with an unchanged maximum the factor
// would be exp(0) = 1 exactly, so skipping it changes no bit.
template <typename T, int UR>
__device__ __forceinline__ void softmax_add_rows(float& m, float& l, float acc[8], const float s[UR], const float (&v)[UR][8]) {
    float n = m;
#pragma unroll
    for (int u = 0; u < UR; u++) n = fmaxf(n, s[u]);
    if (n > m) {
        const float c = m == -INFINITY ? 0.f : Base<T>::exp(m - n);
        l *= c;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[i] *= c;
        m = n;
    }
    if (m == -INFINITY) return;  // nothing visible yet
#pragma unroll
    for (int u = 0; u < UR; u++) {
        const float e = Base<T>::exp(s[u] - m);
        l += e;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[i] += e * v[u][i];
    }
}

template <typename T, int D, int HG>
__device__ void decode(T* o, float* part, int* counters, const float* q, int ldq, const float* k, int ldk, const float* v, int ldv,
                       const long long* caches, const int* capacity, const int* positions, const float* cosT, const float* sinT,
                       int maxPos, int H, int Hkv, int window, float scale, int minChunk) {
    constexpr int LPR = D / 8, RPW = 32 / LPR;  // lanes per row, rows per warp at a time
    constexpr int W = D + 2;                    // floats of one partial: max, sum, D outputs
    __shared__ float sm[WARPS][HG][2];
    __shared__ float sacc[WARPS][HG][D];
    __shared__ int last;
    grid_dependents_launch();
    const int S = gridDim.x, split = blockIdx.x, b = blockIdx.z, G = H / Hkv, HC = (G + HG - 1) / HG;
    const int kv = blockIdx.y / HC, hc = blockIdx.y - kv * HC;
    const int w = warp_id(), l = lane_id(), r = l / LPR, d0 = 8 * (l % LPR);
    const int p = positions[b], cap = capacity[b];
    const T* kc = reinterpret_cast<const T*>(caches[2 * b]);
    const T* vc = reinterpret_cast<const T*>(caches[2 * b + 1]);
    const long long rowStride = (long long)Hkv * D, headOff = (long long)kv * D + d0;
    const int lo = window > 0 ? max(0, p - window + 1) : 0, len = p - lo + 1;
    const int chunk = max((len + S - 1) / S, minChunk), active = min(S, (len + chunk - 1) / chunk);
    if (split >= active) return;  // an empty split: no partial, and the merge counts only the active ones
    const int start = lo + split * chunk, end = min(start + chunk, p + 1);  // [start, end) of this split

    // Rows start .. min(end, p) - 1 from the ring, iteration i of warp w taking rows start + i·STEP +
    // w·RPW + u·WARPS·RPW + r. The iteration count is the warp's (lanes of other rows must stay for the
    // shuffles); rows past ringEnd are zero-filled and masked. Every iteration commits a group (empty
    // ones too), so waiting for all but the newest STAGES − 2 groups always means stage i has landed.
    // The first stages are requested before the dependency wait: the previous kernel does not write
    // the rings (only this kernel does, at a row no CTA of the same launch reads).
    constexpr int UR = Pipe<T>::UR, STEP = UR * WARPS * RPW;
    TILES_DYNAMIC_SMEM(raw);
    SmemCarver carve{raw};
    int4* pipe = reinterpret_cast<int4*>(carve.take<unsigned char>(SMEM_BYTES));
    carve.check();
    const int ringEnd = min(end, p), first = start + w * RPW, row0 = first + r;
    const int iters = ringEnd > first ? (ringEnd - first + STEP - 1) / STEP : 0;
    Cursor<T, RPW> cur(row0, cap);
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) {
        if (i < iters) issue_stage<T, RPW>(pipe + i * STAGE_INT4, cur, kc, vc, ringEnd, rowStride, headOff);
        cp_async_commit();
    }

    grid_dependency_wait();  // q, k, v come from the previous kernel
    float qv[HG][8];
#pragma unroll
    for (int hh = 0; hh < HG; hh++) {
        const int gi = hc * HG + hh;
        if (gi < G) {
            rope8<D>(qv[hh], q + (long long)b * ldq + (long long)(kv * G + gi) * D, d0, cosT, sinT, p, maxPos);
#pragma unroll
            for (int i = 0; i < 8; i++) qv[hh][i] *= scale * Base<T>::LOG2;
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++) qv[hh][i] = 0.f;
        }
    }
    float m[HG], sum[HG], acc[HG][8];
#pragma unroll
    for (int hh = 0; hh < HG; hh++) {
        m[hh] = -INFINITY;
        sum[hh] = 0.f;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[hh][i] = 0.f;
    }
    for (int i = 0; i < iters; i++) {
        cp_async_wait<STAGES - 2>();
        const int4* stage = pipe + (i % STAGES) * STAGE_INT4;
        float kr[UR][8], vr[UR][8];
#pragma unroll
        for (int u = 0; u < UR; u++) {
            unpack8<T>(stage, 0, u, kr[u]);
            unpack8<T>(stage, 1, u, vr[u]);
        }
        // Refills the stage read in the previous iteration (its values are in registers and used).
        const int next = i + STAGES - 1;
        if (next < iters) issue_stage<T, RPW>(pipe + (next % STAGES) * STAGE_INT4, cur, kc, vc, ringEnd, rowStride, headOff);
        cp_async_commit();
#pragma unroll
        for (int hh = 0; hh < HG; hh++) {
            float s[UR];
#pragma unroll
            for (int u = 0; u < UR; u++) {
                s[u] = row_dot<LPR>(qv[hh], kr[u]);
                if (row0 + i * STEP + u * WARPS * RPW >= ringEnd) s[u] = -INFINITY;
            }
            softmax_add_rows<T, UR>(m[hh], sum[hh], acc[hh], s, vr);
        }
    }
    cp_async_wait<0>();  // only empty groups are left
    // Position p, the last one visible, closes the split that holds it: its key (rotated) and value
    // come from the projections, rounded to the ring's type as every later step reads them; lane group
    // 0 of warp 0 takes it, and of head group 0 stores it in the ring.
    if (start <= p && p < end && w == 0) {
        float kn[8], vn[8];
        rope8<D>(kn, k + (long long)b * ldk + (long long)kv * D, d0, cosT, sinT, p, maxPos);
        const float* vsrc = v + (long long)b * ldv + (long long)kv * D + d0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            kn[i] = to_float(from_float<T>(kn[i]));
            vn[i] = to_float(from_float<T>(vsrc[i]));
        }
        float s[HG];
#pragma unroll
        for (int hh = 0; hh < HG; hh++) s[hh] = row_dot<LPR>(qv[hh], kn);
        if (r == 0) {
#pragma unroll
            for (int hh = 0; hh < HG; hh++) softmax_add<T>(m[hh], sum[hh], acc[hh], s[hh], vn);
            if (hc == 0) {
                const long long at = (long long)(p % cap) * rowStride + headOff;
                store8(const_cast<T*>(kc) + at, kn);
                store8(const_cast<T*>(vc) + at, vn);
            }
        }
    }
    // Merge the lane groups of a warp (rows r), then the warps.
#pragma unroll
    for (int off = LPR; off < 32; off <<= 1) {
#pragma unroll
        for (int hh = 0; hh < HG; hh++) {
            float acc2[8];
            const float m2 = __shfl_xor_sync(0xffffffffu, m[hh], off), l2 = __shfl_xor_sync(0xffffffffu, sum[hh], off);
#pragma unroll
            for (int i = 0; i < 8; i++) acc2[i] = __shfl_xor_sync(0xffffffffu, acc[hh][i], off);
            merge<T>(m[hh], sum[hh], acc[hh], m2, l2, acc2);
        }
    }
    if (r == 0) {
#pragma unroll
        for (int hh = 0; hh < HG; hh++) {
            if (d0 == 0) {
                sm[w][hh][0] = m[hh];
                sm[w][hh][1] = sum[hh];
            }
#pragma unroll
            for (int i = 0; i < 8; i++) sacc[w][hh][d0 + i] = acc[hh][i];
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < HG * D; e += THREADS) {
        const int hh = e / D, d = e - hh * D, gi = hc * HG + hh;
        if (gi >= G) continue;
        float mx = -INFINITY;
        for (int x = 0; x < WARPS; x++) mx = fmaxf(mx, sm[x][hh][0]);
        float L = 0.f, O = 0.f;
        for (int x = 0; x < WARPS; x++) {
            const float c = sm[x][hh][0] == -INFINITY ? 0.f : Base<T>::exp(sm[x][hh][0] - mx);
            L += sm[x][hh][1] * c;
            O += sacc[x][hh][d] * c;
        }
        float* pp = part + (((long long)b * H + kv * G + gi) * S + split) * W;
        if (d == 0) {
            pp[0] = mx;
            pp[1] = L;
        }
        pp[2 + d] = O;
    }

    // The last CTA of (row, kv head, head group) merges the active splits' partials in split order.
    __threadfence();
    __syncthreads();
    int* counter = counters + ((long long)b * Hkv + kv) * HC + hc;
    if (threadIdx.x == 0) last = atomicAdd(counter, 1) == active - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int e = threadIdx.x; e < HG * D; e += THREADS) {
        const int hh = e / D, d = e - hh * D, gi = hc * HG + hh;
        if (gi >= G) continue;
        const float* pp = part + ((long long)b * H + kv * G + gi) * S * W;
        float mx = -INFINITY;
        for (int s = 0; s < active; s++) mx = fmaxf(mx, __ldcg(pp + s * W));
        float L = 0.f, O = 0.f;
        for (int s = 0; s < active; s++) {
            const float ms = __ldcg(pp + s * W);
            if (ms == -INFINITY) continue;
            const float c = Base<T>::exp(ms - mx);
            L += __ldcg(pp + s * W + 1) * c;
            O += __ldcg(pp + s * W + 2 + d) * c;
        }
        o[(long long)b * H * D + (long long)(kv * G + gi) * D + d] = from_float<T>(O / L);
    }
    if (threadIdx.x == 0) *counter = 0;
}

}  // namespace attd

#define ATTD_KERNEL(T, SUFFIX, D, HG)                                                                                     \
    extern "C" __global__ void __launch_bounds__(attd::THREADS, attd::MIN_CTAS) attention_decode_d##D##_g##HG##_##SUFFIX(              \
        T* o, float* part, int* counters, const float* q, int ldq, const float* k, int ldk, const float* v, int ldv,   \
        const long long* caches, const int* capacity, const int* positions, const float* cosT, const float* sinT,      \
        int maxPos, int H, int Hkv, int window, float scale, int minChunk) {                                           \
        attd::decode<T, D, HG>(o, part, counters, q, ldq, k, ldk, v, ldv, caches, capacity, positions, cosT, sinT,     \
                               maxPos, H, Hkv, window, scale, minChunk);                                               \
    }
#define ATTD_KERNELS(T, SUFFIX)      \
    ATTD_KERNEL(T, SUFFIX, 64, 1)    \
    ATTD_KERNEL(T, SUFFIX, 64, 2)    \
    ATTD_KERNEL(T, SUFFIX, 64, 4)    \
    ATTD_KERNEL(T, SUFFIX, 128, 1)   \
    ATTD_KERNEL(T, SUFFIX, 128, 2)   \
    ATTD_KERNEL(T, SUFFIX, 128, 4)

ATTD_KERNELS(float, f32)
ATTD_KERNELS(bf16, bf16)
