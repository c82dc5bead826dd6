// Optimizer kernels: AdamW on fp32 master weights with an optional bf16 copy out, and global-norm
// gradient clipping in two passes (deterministic sum of squares, then one scale factor that the
// AdamW step or scale_f32 applies).
#include "common.cuh"

// AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias corrections folded into the
// step size and the denominator):
//   g = grad * clip                       (clip = *grad_scale, or 1 when grad_scale is null)
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
//   p = p * (1 - lr wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps),   bc = 1 - b^t
// and, when param_bf16 is not null, param_bf16 = bf16(p) (round to nearest even).
extern "C" __global__ void adamw_f32(float* param, bf16* param_bf16, const float* grad, float* m, float* v, long long n,
                                     float lr, float beta1, float beta2, float bias_correction1, float bias_correction2,
                                     float eps, float weight_decay, const float* grad_scale) {
    const float clip = grad_scale != nullptr ? *grad_scale : 1.f;
    const float step = lr / bias_correction1;
    const float sqrt_bc2 = sqrtf(bias_correction2);
    const float decay = 1.f - lr * weight_decay;
    for (long long i = global_thread(); i < n; i += grid_threads()) {
        const float g = grad[i] * clip;
        const float mi = beta1 * m[i] + (1.f - beta1) * g;
        const float vi = beta2 * v[i] + (1.f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        const float p = param[i] * decay - step * mi / (sqrtf(vi) / sqrt_bc2 + eps);
        param[i] = p;
        if (param_bf16 != nullptr) param_bf16[i] = __float2bfloat16_rn(p);
    }
}

// Pass 1 of the global norm: block b of this launch writes sum(x^2) over its grid-stride slice to
// partials[b]. Launch each gradient tensor with its own slice of `partials`; the result depends
// only on the grid sizes, never on timing.
extern "C" __global__ void sumsq_partials_f32(float* partials, const float* x, long long n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (long long i = global_thread(); i < n; i += grid_threads()) {
        const float v = x[i];
        acc += (double)v * v;
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = (float)acc;
}

// Pass 1, end: one block sums the partials in fp64, in a fixed order, and writes
//   out[0] = the global norm,   out[1] = min(1, max_norm / (norm + 1e-6))   (torch's clip factor)
// max_norm <= 0 means no clipping (factor 1). A non-finite norm gives a non-finite factor, so a bad
// step shows up in the weights rather than passing silently; the trainer checks out[0].
extern "C" __global__ void norm_finalize_f32(float* out, const float* partials, int n_partials, float max_norm) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < n_partials; i += blockDim.x) acc += (double)partials[i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        const float norm = (float)sqrt(acc);
        float factor = 1.f;
        if (max_norm > 0.f) factor = fminf(1.f, max_norm / (norm + 1e-6f));
        if (!isfinite(norm)) factor = norm;
        out[0] = norm;
        out[1] = factor;
    }
}

// Pass 2 when the optimizer does not fold the factor in: x *= *factor.
extern "C" __global__ void scale_f32(float* x, long long n, const float* factor) {
    const float f = *factor;
    for (long long i = global_thread(); i < n; i += grid_threads()) x[i] *= f;
}

// Sum of a vector (for example the per-row losses) into out[0], one block, fixed order, fp64.
extern "C" __global__ void sum_f32(float* out, const float* x, long long n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) acc += (double)x[i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[0] = (float)acc;
}
