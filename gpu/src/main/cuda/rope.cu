// Rotary position embedding, Hugging Face "rotate_half" convention: within a head of size D the
// pairs are (i, i + D/2), i < D/2, and
//   out[i]       = x[i] * cos(p, i) - x[i + D/2] * sin(p, i)
//   out[i + D/2] = x[i + D/2] * cos(p, i) + x[i] * sin(p, i)
// cos/sin are [max_pos, D/2] fp32 tables computed on the host (core's Rope.tables, the same float32
// arithmetic as transformers). The backward pass applies the transposed rotation (sin -> -sin).
//
// x and out are [n_tokens, n_heads, head_dim] with rows `token_stride` elements apart, so that q
// and k can be rotated inside a fused qkv buffer. out may alias x. A position outside the table
// [0, max_pos) gives NaN.
#include "common.cuh"

template <typename T>
__device__ void rope_apply(T* out, const T* x, const float* cos_t, const float* sin_t, const int* pos,
                           int n_tokens, int n_heads, int head_dim, long long token_stride, int max_pos, float sin_sign) {
    const int half = head_dim >> 1;
    const long long total = (long long)n_tokens * n_heads * half;
    for (long long idx = global_thread(); idx < total; idx += grid_threads()) {
        const int i = (int)(idx % half);
        const long long th = idx / half;
        const int h = (int)(th % n_heads);
        const long long t = th / n_heads;
        const long long p = pos[t];
        const long long base = t * token_stride + (long long)h * head_dim;
        if (p < 0 || p >= max_pos) {  // outside the table: NaN, never a wrong angle
            out[base + i] = from_float<T>(NAN);
            out[base + i + half] = from_float<T>(NAN);
            continue;
        }
        const float c = cos_t[p * half + i];
        const float s = sin_sign * sin_t[p * half + i];
        const float x1 = to_float(x[base + i]);
        const float x2 = to_float(x[base + i + half]);
        out[base + i] = from_float<T>(x1 * c - x2 * s);
        out[base + i + half] = from_float<T>(x2 * c + x1 * s);
    }
}

extern "C" __global__ void rope_fwd_f32(float* out, const float* x, const float* cos_t, const float* sin_t, const int* pos,
                                        int n_tokens, int n_heads, int head_dim, long long token_stride, int max_pos) {
    rope_apply(out, x, cos_t, sin_t, pos, n_tokens, n_heads, head_dim, token_stride, max_pos, 1.f);
}
extern "C" __global__ void rope_fwd_bf16(bf16* out, const bf16* x, const float* cos_t, const float* sin_t, const int* pos,
                                         int n_tokens, int n_heads, int head_dim, long long token_stride, int max_pos) {
    rope_apply(out, x, cos_t, sin_t, pos, n_tokens, n_heads, head_dim, token_stride, max_pos, 1.f);
}
extern "C" __global__ void rope_bwd_f32(float* dx, const float* dout, const float* cos_t, const float* sin_t, const int* pos,
                                        int n_tokens, int n_heads, int head_dim, long long token_stride, int max_pos) {
    rope_apply(dx, dout, cos_t, sin_t, pos, n_tokens, n_heads, head_dim, token_stride, max_pos, -1.f);
}
extern "C" __global__ void rope_bwd_bf16(bf16* dx, const bf16* dout, const float* cos_t, const float* sin_t, const int* pos,
                                         int n_tokens, int n_heads, int head_dim, long long token_stride, int max_pos) {
    rope_apply(dx, dout, cos_t, sin_t, pos, n_tokens, n_heads, head_dim, token_stride, max_pos, -1.f);
}
