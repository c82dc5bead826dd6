// The linear layers of a decode step at small batch (B <= 16 rows: one token of each of B sequences):
// y = x Wᵀ with bf16 weights W [N, K] (nn.Linear layout) streamed once through the tensor cores
// (mma.sync m16n8k16, fp32 accumulation), and the elementwise pieces around each projection fused in,
// so that a decode step is a few launches per layer instead of a dozen:
//
//   prologue (what x is)                                     epilogue (what happens to y)
//   PLAIN  x as stored (bf16 [B, K])                          STORE   out = y (fp32 [B, ldo])
//   RMS    bf16(x · rstd(x) · w)   (rmsnorm_fwd's arithmetic)  ADD     h = bf16(h + bf16(y))   (the residual)
//   GATE   bf16(silu(x) · rstd(silu(x)) · w)   (ogate_fwd's)   SWIGLU  act = bf16(silu(bf16(y_gate)) · bf16(y_up))
//
// Work split. One CTA per 16 output rows, 8 warps; warp w takes the 32-wide k-steps w, w+8, w+16, ...
// of the whole K, so the CTA streams its 16 × K weights once and the 8 partial sums of every output are
// added in a fixed order: the result of a row does not depend on B or on the other rows (a sequence's
// logits are the same alone or in a batch).
//
// Streaming. Each warp keeps its weights coming through a ring of 8 k-steps in shared memory (4 when it
// streams SwiGLU's two matrices; 8 KiB a warp, 64 KiB a CTA): cp.async (16 bytes, L2 only) of the first
// 8 (4) k-steps at the start, then, as each k-step's weights are taken into registers and multiplied, the
// k-step 8 (4) further on into the freed slot, so that a warp keeps its next 7 (3) k-steps in flight
// while it multiplies one, instead of waiting for a whole batch of loads before it requests the next.
// A lane reads back only the bytes it copied (its cp.async.wait_group orders them; no barrier), one
// commit group per k-step (empty past the warp's last). x (and the norm's weights) are loaded into
// registers two k-steps ahead of the products. The partial sums of the 8 warps meet in the same shared
// memory after the loop.
//
// Fragments without a shared tile. Lane (g, q) = (lane / 4, lane % 4) loads 8 consecutive weights
// [8q, 8q + 8) of rows g and g + 8 of the tile, and the same 8 values of x of batch row g (+ 8 per
// n-tile). The dot product does not care in which order k is summed, so the logical k of the MMA
// fragments is a permutation of the physical k, the same for W and x: elements (0,1), (2,3) of a lane
// are the logical pairs (2q, 2q+1), (2q+8, 2q+9) of the first MMA, elements (4,5), (6,7) those of the
// second. Each 16-row × 64-byte piece of W is read as 8 rows × 64 contiguous bytes: full sectors.
//
// RMS and GATE compute each row's rstd in the CTA (B rows of K from L2, all 256 threads, after the weights of
// the first k-steps are already in flight), then transform x as its fragments go into the products.
//
// Registers: __launch_bounds__(256, 2) (at most 128 a thread; without the bound ptxas chose 64 for gate_add_b8 and
// spilled).
//
// Programmatic dependent launch: the weights do not depend on the previous kernel, so the first
// k-steps' weights (the whole ring) are requested before griddepcontrol.wait; nothing the previous
// kernel wrote is read before it.
#include "tiles.cuh"

namespace dl {
using namespace tiles;

constexpr int WARPS = 8, THREADS = 32 * WARPS;
// Slots of a warp's ring of weights in shared memory, one k-step each: 8 (1 KiB a step: 16 rows × 64 bytes), 4 when
// the warp streams two matrices (SwiGLU's gate and up). A ring is 8 KiB, the CTA's 64 KiB (dynamic shared memory; the
// partial sums reuse it at the end). At K = 2048 all 8 k-steps of a one-matrix warp go out at once, before the kernel
// waits for the previous one (programmatic launch).
template <int NA> struct Stages { static constexpr int value = NA == 1 ? 8 : 4; };
constexpr int SHARED_BYTES = WARPS * 8 * 1024;
enum Prologue { PLAIN = 0, RMS = 1, GATE = 2 };
enum Epilogue { STORE = 0, ADD = 1, SWIGLU = 2 };

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
__device__ __forceinline__ float silu(float x) { return x * sigmoid(x); }

__device__ __forceinline__ uint4 ld16(const bf16* p) { return *reinterpret_cast<const uint4*>(p); }

// bf16 to fp32 is exact: the bf16 bits are the high half of the float's.
__device__ __forceinline__ float bits_to_float(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

__device__ __forceinline__ void unpack8(const uint4& u, float f[8]) {
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        f[2 * i] = bits_to_float(w[i] << 16);
        f[2 * i + 1] = bits_to_float(w[i] & 0xffff0000u);
    }
}

__device__ __forceinline__ uint4 pack8(const float f[8]) {
    return make_uint4(pack_bf16(f[0], f[1]), pack_bf16(f[2], f[3]), pack_bf16(f[4], f[5]), pack_bf16(f[6], f[7]));
}

__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// The input value whose square the row's norm sums.
template <int PRO>
__device__ __forceinline__ float norm_input(float x) { return PRO == GATE ? silu(x) : x; }

// rstd of batch rows b < B into rstd[]: thread t sums the squares of 16-byte packs t, t + 256, ... of every row (all
// of its loads in flight together), then each warp's sums (xor tree) and the 8 warps' in warp order. The order does
// not depend on B. `part` holds 8 x 16 floats.
template <int PRO, int NT>
__device__ void row_rstd(float* rstd, float (*part)[16], const bf16* x, int B, int K, float eps) {
    constexpr int R = 8 * NT;
    const int w = warp_id(), l = lane_id();
    float ss[R];
#pragma unroll
    for (int b = 0; b < R; b++) ss[b] = 0.f;
    for (int p = threadIdx.x; p < K / 8; p += THREADS) {
        uint4 raw[R];
#pragma unroll
        for (int b = 0; b < R; b++) raw[b] = b < B ? ld16(x + (long long)b * K + 8 * p) : make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
        for (int b = 0; b < R; b++) {
            float f[8];
            unpack8(raw[b], f);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const float v = norm_input<PRO>(f[j]);
                ss[b] += v * v;
            }
        }
    }
#pragma unroll
    for (int b = 0; b < R; b++) {
        const float s = warp_sum(ss[b]);
        if (l == 0) part[w][b] = s;
    }
    __syncthreads();
    if (threadIdx.x < B) {
        float s = 0.f;
        for (int v = 0; v < WARPS; v++) s += part[v][threadIdx.x];
        rstd[threadIdx.x] = rsqrtf(s / K + eps);
    }
}

// The prologue applied to 8 values of x of batch row b at k (raw: as loaded; nwr: the norm weights at k); zeros past
// the batch.
template <int PRO>
__device__ __forceinline__ uint4 x_prologue(const uint4& raw, const uint4& nwr, const float* rstd, int b, int B) {
    if (PRO == PLAIN || b >= B) return raw;  // raw is zeros past the batch
    float f[8], g[8];
    unpack8(raw, f);
    unpack8(nwr, g);
    const float r = rstd[b];
#pragma unroll
    for (int j = 0; j < 8; j++) f[j] = norm_input<PRO>(f[j]) * r * g[j];
    return pack8(f);
}

// Trap (in the simulator: abort) when the launch gave less dynamic shared memory than the kernel lays out.
__device__ __forceinline__ void require_smem(unsigned bytes) {
    if (dynamic_smem_bytes() < bytes) {
#ifdef GSAT2R_SIM
        std::fprintf(stderr, "sim: kernel needs %u bytes of shared memory, launched with %u\n", bytes, dynamic_smem_bytes());
        std::abort();
#else
        __trap();
#endif
    }
}

// y = x Wᵀ over one 16-row tile, NT n-tiles of 8 batch rows; NA = 2 for SWIGLU (gate and up rows).
// Weights: rows [0, e0) from w0, [e0, e1) from w1, [e1, e2) from w2, [e2, e3) from w3 (SWIGLU: gate
// rows from w0, up rows from w1, e0 of each).
template <int PRO, int EPI, int NT>
__device__ void linear(void* out, int ldo, const bf16* x, const bf16* nw, float eps, const bf16* w0, const bf16* w1,
                       const bf16* w2, const bf16* w3, int e0, int e1, int e2, int e3, int B, int K) {
    constexpr int NA = EPI == SWIGLU ? 2 : 1;
    constexpr int S = Stages<NA>::value;
    constexpr int ACC = NA * NT * 4;
    static_assert(WARPS * S * NA * 2 * 32 * 16 == SHARED_BYTES, "the ring fills the dynamic shared memory");
    static_assert(WARPS * ACC * 32 * 4 <= SHARED_BYTES, "the partial sums fit where the ring was");
    TILES_DYNAMIC_SMEM(smem);
    __shared__ float rstd[16];
    __shared__ float part[WARPS][16];
    require_smem(SHARED_BYTES);
    grid_dependents_launch();
    const int l = lane_id(), w = warp_id(), g = l >> 2, q = l & 3;
    const int tile = blockIdx.x, N = EPI == SWIGLU ? e0 : e3;
    const int ks = K / 32, steps = w < ks ? (ks - w + WARPS - 1) / WARPS : 0;

    // The weight rows of this lane: g and g + 8 of the tile, for each of the NA matrices.
    const bf16* wr[NA][2];
#pragma unroll
    for (int a = 0; a < NA; a++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = 16 * tile + g + 8 * h;
            const bf16* p = nullptr;
            if (r < N) {
                if (EPI == SWIGLU) p = (a == 0 ? w0 : w1) + (long long)r * K;
                else if (r < e0) p = w0 + (long long)r * K;
                else if (r < e1) p = w1 + (long long)(r - e0) * K;
                else if (r < e2) p = w2 + (long long)(r - e1) * K;
                else p = w3 + (long long)(r - e2) * K;
            }
            wr[a][h] = p;
        }
    }
    // The warp's ring: S slots of one k-step, each NA × 2 chunks (matrix a, row g + 8h) of 32 lanes × 16 bytes. A lane
    // reads back only what it copied itself, so its cp.async.wait_group is all the ordering it needs.
    uint4* ring = reinterpret_cast<uint4*>(smem) + w * (S * NA * 2 * 32) + l;
    // Step t's weights into slot t % S: one commit group per call (empty past the warp's last step, so that the
    // group of step t is always the t-th); rows past N are zero-filled.
    auto request = [&](int t) {
        if (t < steps) {
            const int k = 32 * (w + WARPS * t) + 8 * q;
            uint4* slot = ring + (t % S) * (NA * 2 * 32);
#pragma unroll
            for (int a = 0; a < NA; a++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const bf16* p = wr[a][h];
                    cp_async16(slot + (a * 2 + h) * 32, p != nullptr ? p + k : w0, p != nullptr);
                }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int t = 0; t < S; t++) request(t);
    grid_dependency_wait();  // x (and h, for ADD) come from the previous kernel
    if (PRO != PLAIN) {
        row_rstd<PRO, NT>(rstd, part, x, B, K, eps);
        __syncthreads();
    }

    // x (and the norm weights) of step t, as loaded: two steps ahead of the products (L2 hits, when the weights have
    // all landed: PLAIN's x has not been read by this SM before).
    auto load_x = [&](int t, uint4 (&xr)[NT], uint4& nr) {
        const int k = 32 * (w + WARPS * t) + 8 * q;
        const bool in = t < steps;
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const int b = g + 8 * n;
            xr[n] = in && b < B ? ld16(x + (long long)b * K + k) : make_uint4(0u, 0u, 0u, 0u);
        }
        nr = PRO != PLAIN && in ? ld16(nw + k) : make_uint4(0u, 0u, 0u, 0u);
    };
    float acc[NA][NT][4];
#pragma unroll
    for (int a = 0; a < NA; a++)
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[a][n][e] = 0.f;
    uint4 xr[NT], nr, xs[NT], ns;  // steps t and t + 1
    load_x(0, xr, nr);
    load_x(1, xs, ns);
    for (int t = 0; t < steps; t++) {
        cp_async_wait<S - 1>();  // the group of step t has landed (S groups were in flight)
        const uint4* slot = ring + (t % S) * (NA * 2 * 32);
        uint4 wf[NA][2];
#pragma unroll
        for (int a = 0; a < NA; a++)
#pragma unroll
            for (int h = 0; h < 2; h++) wf[a][h] = slot[(a * 2 + h) * 32];
        uint4 xn[NT], nn;
        load_x(t + 2, xn, nn);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            const uint4 xf = x_prologue<PRO>(xr[n], nr, rstd, g + 8 * n, B);
            FragB<bf16> blo, bhi;
            blo.r[0] = xf.x;
            blo.r[1] = xf.y;
            bhi.r[0] = xf.z;
            bhi.r[1] = xf.w;
#pragma unroll
            for (int a = 0; a < NA; a++) {
                FragA<bf16> lo, hi;  // the two 16-wide halves of the 32-wide k-step
                lo.r[0] = wf[a][0].x;
                lo.r[1] = wf[a][1].x;
                lo.r[2] = wf[a][0].y;
                lo.r[3] = wf[a][1].y;
                hi.r[0] = wf[a][0].z;
                hi.r[1] = wf[a][1].z;
                hi.r[2] = wf[a][0].w;
                hi.r[3] = wf[a][1].w;
                mma(acc[a][n], lo, blo);
                mma(acc[a][n], hi, bhi);
            }
        }
        // The slot is free again (its values went into the products above): step t + S into it.
        request(t + S);
#pragma unroll
        for (int n = 0; n < NT; n++) {
            xr[n] = xs[n];
            xs[n] = xn[n];
        }
        nr = ns;
        ns = nn;
    }

    // The 8 warps' partial sums, added in warp order, where the rings were.
    cp_async_wait<0>();
    __syncthreads();
    float (*red)[ACC][32] = reinterpret_cast<float (*)[ACC][32]>(smem);
#pragma unroll
    for (int a = 0; a < NA; a++)
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) red[w][(a * NT + n) * 4 + e][l] = acc[a][n][e];
    __syncthreads();
    for (int e = threadIdx.x; e < 16 * 8 * NT; e += THREADS) {
        const int row = e & 15, col = e >> 4, b = col, n = 16 * tile + row;
        if (b >= B || n >= N) continue;
        const int nt = col >> 3, cc = col & 7, lane = 4 * (row & 7) + (cc >> 1), slot = nt * 4 + (row >= 8 ? 2 : 0) + (cc & 1);
        float y[NA];
#pragma unroll
        for (int a = 0; a < NA; a++) {
            float s = 0.f;
#pragma unroll
            for (int v = 0; v < WARPS; v++) s += red[v][a * NT * 4 + slot][lane];
            y[a] = s;
        }
        const long long at = (long long)b * ldo + n;
        if (EPI == STORE) {
            static_cast<float*>(out)[at] = y[0];
        } else if (EPI == ADD) {
            bf16* h = static_cast<bf16*>(out);
            h[at] = __float2bfloat16_rn(__bfloat162float(h[at]) + round_bf16(y[0]));
        } else {
            const float gate = round_bf16(y[0]), up = round_bf16(y[NA - 1]);
            static_cast<bf16*>(out)[at] = __float2bfloat16_rn(gate * sigmoid(gate) * up);
        }
    }
}

}  // namespace dl

#define DL_KERNEL(PRO, EPI, NT, NAME)                                                                                      \
    extern "C" __global__ void __launch_bounds__(dl::THREADS, 2) NAME(                                                        \
        void* out, int ldo, const bf16* x, const bf16* nw, float eps, const bf16* w0, const bf16* w1, const bf16* w2,     \
        const bf16* w3, int e0, int e1, int e2, int e3, int B, int K) {                                                   \
        dl::linear<dl::PRO, dl::EPI, NT>(out, ldo, x, nw, eps, w0, w1, w2, w3, e0, e1, e2, e3, B, K);                     \
    }

// Entry points: decode_linear_<prologue>_<epilogue>_b<8·NT>, all bf16.
DL_KERNEL(RMS, STORE, 1, decode_linear_rms_store_b8)
DL_KERNEL(RMS, STORE, 2, decode_linear_rms_store_b16)
DL_KERNEL(GATE, ADD, 1, decode_linear_gate_add_b8)
DL_KERNEL(GATE, ADD, 2, decode_linear_gate_add_b16)
DL_KERNEL(PLAIN, ADD, 1, decode_linear_plain_add_b8)
DL_KERNEL(PLAIN, ADD, 2, decode_linear_plain_add_b16)
DL_KERNEL(RMS, SWIGLU, 1, decode_linear_rms_swiglu_b8)
DL_KERNEL(RMS, SWIGLU, 2, decode_linear_rms_swiglu_b16)
