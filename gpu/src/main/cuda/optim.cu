// The optimizer kernel: AdamW on fp32 master weights with an optional bf16 copy out, the gradient
// scaled first by a clip factor read on the device.
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
