// The elementwise pieces of the GSA layer around the operator (docs/gsa-math.md, "What the layer
// adds"), forward and backward:
//   gates:        g = logsigmoid(f) / τ,  s = 1 − exp(g)          (f = x W_fᵀ, τ the gate-logit normaliser)
//                 df = (dg − ds·exp(g)) · sigmoid(−f) / τ
//   output gate:  y = RMSNorm(silu(o)) ⊙ w over rows of H·dv        (fla's g_norm(swish(o)))
//                 with a = silu(o), â = a·rstd:  da = rstd·(dy⊙w − â·mean(dy⊙w⊙â)),
//                 do = da · silu'(o),  dw += Σ_rows dy ⊙ â   (gsa_ogate_bwd_det, train.cu)
// logsigmoid(f) = min(f, 0) − log1p(exp(−|f|)) and s = −expm1(g) keep full relative precision for
// large |f| and for g near 0.
#include "tiles.cuh"

namespace gates {

__device__ __forceinline__ float logsigmoid(float f) { return fminf(f, 0.f) - log1pf(expf(-fabsf(f))); }
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

template <typename T>
__device__ void gate_fwd(T* g, T* s, const T* f, long long n, float invTau) {
    for (long long i = global_thread(); i < n; i += grid_threads()) {
        const float gv = logsigmoid(to_float(f[i])) * invTau;
        g[i] = from_float<T>(gv);
        s[i] = from_float<T>(-expm1f(gv));
    }
}

template <typename T>
__device__ void gate_bwd(T* df, const T* dg, const T* ds, const T* f, long long n, float invTau, int accumulate) {
    for (long long i = global_thread(); i < n; i += grid_threads()) {
        const float fv = to_float(f[i]);
        const float gv = logsigmoid(fv) * invTau;
        float d = (to_float(dg[i]) - to_float(ds[i]) * expf(gv)) * sigmoid(-fv) * invTau;
        if (accumulate) d += to_float(df[i]);
        df[i] = from_float<T>(d);
    }
}

__device__ __forceinline__ float silu(float x) { return x * sigmoid(x); }

// One warp per row; rstd saved for the backward pass when not null. y may alias o.
template <typename T>
__device__ void ogate_fwd(T* y, float* rstd, const T* o, const T* w, int rows, int dim, float eps) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    const T* orow = o + (long long)row * dim;
    T* yrow = y + (long long)row * dim;
    float ss = 0.f;
    for (int i = lane; i < dim; i += 32) {
        const float a = silu(to_float(orow[i]));
        ss += a * a;
    }
    ss = warp_sum(ss);
    const float r = rsqrtf(ss / dim + eps);
    for (int i = lane; i < dim; i += 32) yrow[i] = from_float<T>(silu(to_float(orow[i])) * r * to_float(w[i]));
    if (lane == 0 && rstd != nullptr) rstd[row] = r;
}

}  // namespace gates

extern "C" __global__ void gsa_gate_fwd_f32(float* g, float* s, const float* f, long long n, float invTau) {
    gates::gate_fwd(g, s, f, n, invTau);
}
extern "C" __global__ void gsa_gate_fwd_bf16(bf16* g, bf16* s, const bf16* f, long long n, float invTau) {
    gates::gate_fwd(g, s, f, n, invTau);
}
extern "C" __global__ void gsa_gate_bwd_f32(float* df, const float* dg, const float* ds, const float* f, long long n,
                                            float invTau, int accumulate) {
    gates::gate_bwd(df, dg, ds, f, n, invTau, accumulate);
}
extern "C" __global__ void gsa_gate_bwd_bf16(bf16* df, const bf16* dg, const bf16* ds, const bf16* f, long long n,
                                             float invTau, int accumulate) {
    gates::gate_bwd(df, dg, ds, f, n, invTau, accumulate);
}
extern "C" __global__ void gsa_ogate_fwd_f32(float* y, float* rstd, const float* o, const float* w, int rows, int dim, float eps) {
    gates::ogate_fwd(y, rstd, o, w, rows, dim, eps);
}
extern "C" __global__ void gsa_ogate_fwd_bf16(bf16* y, float* rstd, const bf16* o, const bf16* w, int rows, int dim, float eps) {
    gates::ogate_fwd(y, rstd, o, w, rows, dim, eps);
}
