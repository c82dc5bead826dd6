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
// of the whole K, so the CTA streams its 16 × K weights once (16-byte loads, no L1 allocation) and
// the 8 partial sums of every output are added in a fixed order: the result of a row does not depend
// on B or on the other rows (a sequence's logits are the same alone or in a batch).
//
// Fragments without shared memory. Lane (g, q) = (lane / 4, lane % 4) loads 8 consecutive weights
// [8q, 8q + 8) of rows g and g + 8 of the tile, and the same 8 values of x of batch row g (+ 8 per
// n-tile). The dot product does not care in which order k is summed, so the logical k of the MMA
// fragments is a permutation of the physical k, the same for W and x: elements (0,1), (2,3) of a lane
// are the logical pairs (2q, 2q+1), (2q+8, 2q+9) of the first MMA, elements (4,5), (6,7) those of the
// second. Each 16-row × 64-byte piece of W is read as 8 rows × 64 contiguous bytes: full sectors.
//
// RMS and GATE compute each row's rstd in the CTA (B rows of K from L2, all 256 threads, after the weights of
// the first k-steps are already in flight), then transform x as its fragments are loaded.
//
// Programmatic dependent launch: the weights do not depend on the previous kernel, so the first
// k-steps' weights are requested before griddepcontrol.wait; nothing the previous kernel wrote is
// read before it.
#include "tiles.cuh"

namespace dl {
using namespace tiles;

constexpr int WARPS = 8, THREADS = 32 * WARPS;
// k-steps whose weights a warp requests together: 8 (16 loads of 16 bytes per lane in flight), 4 when the warp
// streams two matrices (SwiGLU's gate and up: the same 16 loads). At K = 2048 a warp's 8 k-steps then go out at once,
// before the kernel waits for the previous one (programmatic launch).
template <int NA> struct Unroll { static constexpr int value = NA == 1 ? 8 : 4; };
enum Prologue { PLAIN = 0, RMS = 1, GATE = 2 };
enum Epilogue { STORE = 0, ADD = 1, SWIGLU = 2 };

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
__device__ __forceinline__ float silu(float x) { return x * sigmoid(x); }

// 16 bytes of a weight row: read once, so not kept in L1.
__device__ __forceinline__ uint4 ld_stream(const bf16* p) {
#ifdef GSAT2R_SIM
    uint4 r;
    std::memcpy(&r, p, 16);
    return r;
#else
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
#endif
}

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

// The x fragment of batch row b at k: 8 bf16 values, after the prologue (zeros past the batch).
template <int PRO>
__device__ __forceinline__ uint4 x_frag(const bf16* x, const bf16* nw, const float* rstd, int b, int B, int K, int k) {
    if (b >= B) return make_uint4(0u, 0u, 0u, 0u);
    const uint4 raw = ld16(x + (long long)b * K + k);
    if (PRO == PLAIN) return raw;
    float f[8], g[8];
    unpack8(raw, f);
    unpack8(ld16(nw + k), g);
    const float r = rstd[b];
#pragma unroll
    for (int j = 0; j < 8; j++) f[j] = norm_input<PRO>(f[j]) * r * g[j];
    return pack8(f);
}

// y = x Wᵀ over one 16-row tile, NT n-tiles of 8 batch rows; NA = 2 for SWIGLU (gate and up rows).
// Weights: rows [0, e0) from w0, [e0, e1) from w1, [e1, e2) from w2, [e2, e3) from w3 (SWIGLU: gate
// rows from w0, up rows from w1, e0 of each).
template <int PRO, int EPI, int NT>
__device__ void linear(void* out, int ldo, const bf16* x, const bf16* nw, float eps, const bf16* w0, const bf16* w1,
                       const bf16* w2, const bf16* w3, int e0, int e1, int e2, int e3, int B, int K) {
    constexpr int NA = EPI == SWIGLU ? 2 : 1;
    constexpr int U = Unroll<NA>::value;
    constexpr int ACC = NA * NT * 4;
    __shared__ float red[WARPS][ACC][32];
    __shared__ float rstd[16];
    __shared__ float part[WARPS][16];
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
    uint4 wf[U][NA][2];
    auto load_weights = [&](int t0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int k = 32 * (w + WARPS * (t0 + u)) + 8 * q;
#pragma unroll
            for (int a = 0; a < NA; a++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    wf[u][a][h] = (t0 + u < steps && wr[a][h] != nullptr) ? ld_stream(wr[a][h] + k) : make_uint4(0u, 0u, 0u, 0u);
        }
    };
    load_weights(0);
    grid_dependency_wait();  // x (and h, for ADD) come from the previous kernel
    if (PRO != PLAIN) {
        row_rstd<PRO, NT>(rstd, part, x, B, K, eps);
        __syncthreads();
    }

    float acc[NA][NT][4];
#pragma unroll
    for (int a = 0; a < NA; a++)
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[a][n][e] = 0.f;
    for (int t0 = 0; t0 < steps; t0 += U) {
        if (t0 > 0) load_weights(t0);
        uint4 xf[U][NT];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int k = 32 * (w + WARPS * (t0 + u)) + 8 * q;
#pragma unroll
            for (int n = 0; n < NT; n++)
                xf[u][n] = t0 + u < steps ? x_frag<PRO>(x, nw, rstd, g + 8 * n, B, K, k) : make_uint4(0u, 0u, 0u, 0u);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
#pragma unroll
            for (int a = 0; a < NA; a++) {
                FragA<bf16> lo, hi;  // the two 16-wide halves of the 32-wide k-step
                lo.r[0] = wf[u][a][0].x;
                lo.r[1] = wf[u][a][1].x;
                lo.r[2] = wf[u][a][0].y;
                lo.r[3] = wf[u][a][1].y;
                hi.r[0] = wf[u][a][0].z;
                hi.r[1] = wf[u][a][1].z;
                hi.r[2] = wf[u][a][0].w;
                hi.r[3] = wf[u][a][1].w;
#pragma unroll
                for (int n = 0; n < NT; n++) {
                    FragB<bf16> blo, bhi;
                    blo.r[0] = xf[u][n].x;
                    blo.r[1] = xf[u][n].y;
                    bhi.r[0] = xf[u][n].z;
                    bhi.r[1] = xf[u][n].w;
                    mma(acc[a][n], lo, blo);
                    mma(acc[a][n], hi, bhi);
                }
            }
        }
    }

    // The 8 warps' partial sums, added in warp order.
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
    extern "C" __global__ void __launch_bounds__(dl::THREADS) NAME(                                                        \
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
