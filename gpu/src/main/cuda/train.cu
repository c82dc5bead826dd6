// Kernels of the model-level training step (module gpu-models) that the op families above lack:
//  - the backward passes of the embedding, RMSNorm and the GSA output gate, whose weight gradients
//    are reduced without atomics (an atomic summation order, and so the last bits, would vary from
//    run to run): a training step must give the same bits every time for exact resume;
//  - the attention-transfer loss (per-row MSE and its gradient), a residual add, the top-1
//    agreement of two rows of logits, and sums in fp64 (losses and the gradient norm).
#include "tiles.cuh"

namespace train {

// ---- token embedding, backward: one block per distinct id -------------------------------------
// The host sorts the positions of a batch by id (stably): order[j] is the j-th position in that
// order, positions starts[u] .. starts[u+1]-1 of it hold id ids[u]. Block u adds the rows of its id
// in position order into a register and then once into dtable[id]: one writer per table row, the
// same order every run.
template <typename T>
__device__ void embedding_bwd_sorted(float* dtable, const int* order, const int* starts, const int* ids, const T* dout,
                                     int n_unique, int dim) {
    const int u = blockIdx.x;
    if (u >= n_unique) return;
    const int id = ids[u], j0 = starts[u], j1 = starts[u + 1];
    float* d = dtable + (long long)id * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float acc = 0.f;
        for (int j = j0; j < j1; j++) acc += to_float(dout[(long long)order[j] * dim + i]);
        d[i] += acc;
    }
}

// ---- row norms, backward, without atomics --------------------------------------------------------
// RMSNorm (SILU = false: the norm's input is x) and the GSA output gate (SILU = true: the input is
// silu(x), fla's g_norm(swish(o))):
//   x̂ = input·rstd,  dx = rstd·(dy⊙w − x̂·mean(dy⊙w⊙x̂))  (times silu'(x) for the gate)
// dx is overwritten, or added when accumulate != 0; it may alias dy. The weight gradient
// Σ_rows dy⊙x̂ is not added anywhere: block b writes its share to partials[b·dim ..] and
// colsum_add_f32 adds the blocks in order. Inside a block, warp w sums its rows into its own slice
// of shared memory (lane l owns the columns ≡ l mod 32), then the slices are added in warp order.
template <typename T, bool SILU>
__device__ void norm_bwd_det(T* dx, float* partials, const T* dy, const T* x, const T* w, const float* rstd, int rows,
                             int dim, int accumulate) {
    TILES_DYNAMIC_SMEM(raw);
    float* slices = reinterpret_cast<float*>(raw);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float* mine = slices + (long long)warp * dim;
    for (int i = lane; i < dim; i += 32) mine[i] = 0.f;
    for (int row = blockIdx.x * warps + warp; row < rows; row += gridDim.x * warps) {
        const long long base = (long long)row * dim;
        const float r = rstd[row];
        float dot = 0.f;
        for (int i = lane; i < dim; i += 32) {
            const float xv = to_float(x[base + i]);
            const float xh = (SILU ? gates::silu(xv) : xv) * r;
            dot += to_float(dy[base + i]) * to_float(w[i]) * xh;
        }
        dot = warp_sum(dot) / dim;
        for (int i = lane; i < dim; i += 32) {
            const float xv = to_float(x[base + i]);
            const float g = to_float(dy[base + i]);
            float xh, d;
            if (SILU) {
                const float sg = gates::sigmoid(xv);
                xh = xv * sg * r;
                d = r * (g * to_float(w[i]) - xh * dot) * (sg * (1.f + xv * (1.f - sg)));
            } else {
                xh = xv * r;
                d = r * (g * to_float(w[i]) - xh * dot);
            }
            if (accumulate) d += to_float(dx[base + i]);
            mine[i] += g * xh;
            dx[base + i] = from_float<T>(d);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float acc = 0.f;
        for (int v = 0; v < warps; v++) acc += slices[(long long)v * dim + i];
        partials[(long long)blockIdx.x * dim + i] = acc;
    }
}

// ---- attention transfer ------------------------------------------------------------------------
// One warp per row: loss[r] = Σ_j (y − a)² / dim (the difference in fp32, the sum in fp64, as the
// CPU backend) and, when dy is not null, dy = scale·(y − a) (scale = 2·gradScale/dim).
template <typename T>
__device__ void mse_rows(float* loss, T* dy, const T* y, const T* a, int rows, int dim, float scale) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    const long long base = (long long)row * dim;
    double e = 0.0;
    for (int i = lane; i < dim; i += 32) {
        const float diff = to_float(y[base + i]) - to_float(a[base + i]);
        e += (double)diff * diff;
        if (dy != nullptr) dy[base + i] = from_float<T>(scale * diff);
    }
    e = warp_sum(e);
    if (lane == 0) loss[row] = (float)(e / dim);
}

// out = a + b elementwise (out may alias a or b).
// x[r, :] *= w[r] over rows of `cols` values (the per-position weights of a loss: its rows of logits'
// gradient, or its per-row losses with cols = 1); the product in fp32, rounded once.
template <typename T>
__device__ void scale_rows(T* x, const float* w, long long rows, int cols) {
    const long long n = rows * cols;
    for (long long i = global_thread(); i < n; i += grid_threads()) x[i] = from_float<T>(to_float(x[i]) * w[i / cols]);
}

template <typename T>
__device__ void add(T* out, const T* a, const T* b, long long n) {
    constexpr int N = Pack<T>::N;
    if (aligned16(out) && aligned16(a) && aligned16(b)) {
        const long long packs = n / N;
        for (long long p = global_thread(); p < packs; p += grid_threads()) {
            const Pack<T> x = Pack<T>::load(a + p * N), y = Pack<T>::load(b + p * N);
            Pack<T> z;
#pragma unroll
            for (int j = 0; j < N; j++) z.v[j] = from_float<T>(to_float(x.v[j]) + to_float(y.v[j]));
            z.store(out + p * N);
        }
        for (long long i = packs * N + global_thread(); i < n; i += grid_threads()) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
    } else {
        for (long long i = global_thread(); i < n; i += grid_threads()) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
    }
}

// The first index of the largest value of a row (as a CPU loop with `>` finds it), by one block.
template <typename T>
__device__ int argmax_row(const T* z, int V, float* sval, int* sidx) {
    float best = -INFINITY;
    int at = 0x7fffffff;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const float v = to_float(z[i]);
        if (v > best) {  // strided: a thread meets its indices in increasing order, so `>` keeps the first
            best = v;
            at = i;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, at, o);
        if (ov > best || (ov == best && oi < at)) {
            best = ov;
            at = oi;
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) {
        sval[warp] = best;
        sidx[warp] = at;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int v = 1; v < warps; v++) {
            if (sval[v] > best || (sval[v] == best && sidx[v] < at)) {
                best = sval[v];
                at = sidx[v];
            }
        }
        if (at == 0x7fffffff) at = 0;  // a row of NaN: index 0, as the CPU loop leaves it
        sidx[0] = at;
    }
    __syncthreads();
    return sidx[0];
}

// agree[r] = 1 when the most likely token of student row r is the teacher's, else 0. One block per row.
template <typename T>
__device__ void argmax_agree(float* agree, const T* zs, const T* zt, int rows, int V) {
    __shared__ float sval[32];
    __shared__ int sidx[32];
    const int r = blockIdx.x;
    if (r >= rows) return;
    const int a = argmax_row(zs + (long long)r * V, V, sval, sidx);
    const int b = argmax_row(zt + (long long)r * V, V, sval, sidx);
    if (threadIdx.x == 0) agree[r] = a == b ? 1.f : 0.f;
}

}  // namespace train

extern "C" __global__ void embedding_bwd_sorted_f32(float* dtable, const int* order, const int* starts, const int* ids,
                                                    const float* dout, int n_unique, int dim) {
    train::embedding_bwd_sorted(dtable, order, starts, ids, dout, n_unique, dim);
}
extern "C" __global__ void embedding_bwd_sorted_bf16(float* dtable, const int* order, const int* starts, const int* ids,
                                                     const bf16* dout, int n_unique, int dim) {
    train::embedding_bwd_sorted(dtable, order, starts, ids, dout, n_unique, dim);
}
extern "C" __global__ void rmsnorm_bwd_det_f32(float* dx, float* partials, const float* dy, const float* x, const float* w,
                                               const float* rstd, int rows, int dim, int accumulate) {
    train::norm_bwd_det<float, false>(dx, partials, dy, x, w, rstd, rows, dim, accumulate);
}
extern "C" __global__ void rmsnorm_bwd_det_bf16(bf16* dx, float* partials, const bf16* dy, const bf16* x, const bf16* w,
                                                const float* rstd, int rows, int dim, int accumulate) {
    train::norm_bwd_det<bf16, false>(dx, partials, dy, x, w, rstd, rows, dim, accumulate);
}
extern "C" __global__ void gsa_ogate_bwd_det_f32(float* dx, float* partials, const float* dy, const float* o, const float* w,
                                                 const float* rstd, int rows, int dim, int accumulate) {
    train::norm_bwd_det<float, true>(dx, partials, dy, o, w, rstd, rows, dim, accumulate);
}
extern "C" __global__ void gsa_ogate_bwd_det_bf16(bf16* dx, float* partials, const bf16* dy, const bf16* o, const bf16* w,
                                                  const float* rstd, int rows, int dim, int accumulate) {
    train::norm_bwd_det<bf16, true>(dx, partials, dy, o, w, rstd, rows, dim, accumulate);
}

// dw[i] += Σ_b partials[b·dim + i], the blocks in order.
extern "C" __global__ void colsum_add_f32(float* dw, const float* partials, int parts, int dim) {
    for (long long i = global_thread(); i < dim; i += grid_threads()) {
        float acc = 0.f;
        for (int b = 0; b < parts; b++) acc += partials[(long long)b * dim + i];
        dw[i] += acc;
    }
}

extern "C" __global__ void mse_rows_f32(float* loss, float* dy, const float* y, const float* a, int rows, int dim, float scale) {
    train::mse_rows(loss, dy, y, a, rows, dim, scale);
}
extern "C" __global__ void mse_rows_bf16(float* loss, bf16* dy, const bf16* y, const bf16* a, int rows, int dim, float scale) {
    train::mse_rows(loss, dy, y, a, rows, dim, scale);
}
extern "C" __global__ void scale_rows_f32(float* x, const float* w, long long rows, int cols) { train::scale_rows(x, w, rows, cols); }
extern "C" __global__ void scale_rows_bf16(bf16* x, const float* w, long long rows, int cols) { train::scale_rows(x, w, rows, cols); }
extern "C" __global__ void add_f32(float* out, const float* a, const float* b, long long n) { train::add(out, a, b, n); }
extern "C" __global__ void add_bf16(bf16* out, const bf16* a, const bf16* b, long long n) { train::add(out, a, b, n); }
extern "C" __global__ void argmax_agree_f32(float* agree, const float* zs, const float* zt, int rows, int V) {
    train::argmax_agree(agree, zs, zt, rows, V);
}
extern "C" __global__ void argmax_agree_bf16(float* agree, const bf16* zs, const bf16* zt, int rows, int V) {
    train::argmax_agree(agree, zs, zt, rows, V);
}

// Sums in fp64 over a set of fp32 vectors (one launch per vector, each writing its blocks' partial
// sums of x, or of x² when squares != 0, to its own slice of `partials`), then sum_finalize_f64
// adds all partials in a fixed order into out[0]. The grid of each launch is fixed by the host, so
// the result is the same bits every run.
extern "C" __global__ void sum_partials_f64(double* partials, const float* x, long long n, int squares) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (long long i = global_thread(); i < n; i += grid_threads()) {
        const double v = x[i];
        acc += squares ? v * v : v;
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}
extern "C" __global__ void sum_finalize_f64(double* out, const double* partials, int n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += partials[i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[0] = acc;
}
