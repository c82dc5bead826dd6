// Storage conversions and plain memory kernels: the fp32 -> bf16 cast (round to nearest even, as
// torch's .to(bfloat16)), a fill, and a 16-byte copy used to measure memory bandwidth.
#include "common.cuh"

extern "C" __global__ void cast_f32_to_bf16(bf16* out, const float* in, long long n) {
    // 8 outputs (16 bytes) from two 16-byte loads when both sides are aligned.
    const long long packs = (aligned16(out) && aligned16(in)) ? n / 8 : 0;
    for (long long p = global_thread(); p < packs; p += grid_threads()) {
        const float4 a = reinterpret_cast<const float4*>(in)[2 * p];
        const float4 b = reinterpret_cast<const float4*>(in)[2 * p + 1];
        Pack<bf16> o;
        o.v[0] = __float2bfloat16_rn(a.x); o.v[1] = __float2bfloat16_rn(a.y);
        o.v[2] = __float2bfloat16_rn(a.z); o.v[3] = __float2bfloat16_rn(a.w);
        o.v[4] = __float2bfloat16_rn(b.x); o.v[5] = __float2bfloat16_rn(b.y);
        o.v[6] = __float2bfloat16_rn(b.z); o.v[7] = __float2bfloat16_rn(b.w);
        o.store(out + 8 * p);
    }
    for (long long i = packs * 8 + global_thread(); i < n; i += grid_threads()) out[i] = __float2bfloat16_rn(in[i]);
}

extern "C" __global__ void fill_f32(float* x, long long n, float value) {
    for (long long i = global_thread(); i < n; i += grid_threads()) x[i] = value;
}

// dst[i] = src[i] over n16 16-byte words (both 16-byte aligned): the memory-bandwidth probe.
// Four independent loads per thread are in flight before the first store.
extern "C" __global__ void copy_16b(int4* dst, const int4* src, long long n16) {
    const long long stride = grid_threads();
    long long i = global_thread();
    for (; i + 3 * stride < n16; i += 4 * stride) {
        const int4 a = src[i], b = src[i + stride], c = src[i + 2 * stride], d = src[i + 3 * stride];
        dst[i] = a;
        dst[i + stride] = b;
        dst[i + 2 * stride] = c;
        dst[i + 3 * stride] = d;
    }
    for (; i < n16; i += stride) dst[i] = src[i];
}
