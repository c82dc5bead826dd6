// Warp-level 16x8x16 matrix products with fp32 accumulation, shared by the attention and GSA kernels.
//
// bf16 storage: operands come from shared memory through ldmatrix (optionally transposed) and
// multiply on the tensor cores with mma.sync.m16n8k16 (sm_80 and later). fp32 storage: the same
// fragments hold fp32 pairs and the product is computed exactly in fp32 by the warp (shuffles and
// FMAs, no tf32 rounding): slow, but the fp32 path is the accuracy reference, and one code path
// serves both storage types.
//
// Fragment layouts (PTX ISA, "mma.m16n8k16"), lane = 4*g + q:
//   A 16x16:  r[0] = A[g][2q..2q+1]   r[1] = A[g+8][2q..]   r[2] = A[g][2q+8..]   r[3] = A[g+8][2q+8..]
//   B 16x8:   r[0] = B[2q..2q+1][g]   r[1] = B[2q+8..2q+9][g]
//   C 16x8:   c[0], c[1] = C[g][2q..2q+1]   c[2], c[3] = C[g+8][2q..2q+1]
// Two C tiles side by side (columns 0-7 and 8-15) are, element for element, the A fragment of
// that 16x16 block (a_from_acc): a product's result feeds the next product without shared memory.
//
// Shared-memory tiles are row-major with a padded row stride (ld): rows of 16 bytes more than the
// data, so that the 8 rows an ldmatrix reads fall in 8 different bank groups.
#pragma once

#include "common.cuh"

#ifdef GSAT2R_SIM
#define TILES_DYNAMIC_SMEM(name) unsigned char* name = sim::dynamic_shared()
#else
#define TILES_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace tiles {

// Padding of a shared-memory row, in elements: 16 bytes.
template <typename T> __host__ __device__ constexpr int pad() { return 16 / (int)sizeof(T); }

__device__ __forceinline__ int lane_id() { return threadIdx.x & 31; }
__device__ __forceinline__ int warp_id() { return threadIdx.x >> 5; }

// Bytes of dynamic shared memory this launch received (checked against a kernel's layout).
__device__ __forceinline__ unsigned dynamic_smem_bytes() {
#ifdef GSAT2R_SIM
    return (unsigned)sim::dynamic_bytes;
#else
    unsigned r;
    asm volatile("mov.u32 %0, %%dynamic_smem_size;" : "=r"(r));
    return r;
#endif
}

// A bump allocator over the dynamic shared memory; every piece is 16-byte aligned.
struct SmemCarver {
    unsigned char* base;
    unsigned used = 0;
    template <typename X>
    __device__ X* take(long long count) {
        X* p = reinterpret_cast<X*>(base + used);
        used += (unsigned)((count * (long long)sizeof(X) + 15) & ~15LL);
        return p;
    }
    // Stops the kernel when the launcher passed less shared memory than this layout needs
    // (a launcher/kernel mismatch is a bug; trapping makes it loud).
    __device__ void check() const {
        if (used > dynamic_smem_bytes()) {
#ifdef GSAT2R_SIM
            std::fprintf(stderr, "sim: kernel needs %u bytes of shared memory, launched with %u\n", used, dynamic_smem_bytes());
            std::abort();
#else
            __trap();
#endif
        }
    }
};

template <typename T> struct FragA;
template <> struct FragA<bf16> { uint32_t r[4]; };
template <> struct FragA<float> { float2 r[4]; };
template <typename T> struct FragB;
template <> struct FragB<bf16> { uint32_t r[2]; };
template <> struct FragB<float> { float2 r[2]; };

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

// ---- PTX wrappers ----

__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void* p) {
#ifdef GSAT2R_SIM
    sim::ldmatrix_x4(r, p, false);
#else
    const unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}

__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void* p) {
#ifdef GSAT2R_SIM
    sim::ldmatrix_x4(r, p, true);
#else
    const unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}

__device__ __forceinline__ void mma(float d[4], const FragA<bf16>& a, const FragB<bf16>& b) {
#ifdef GSAT2R_SIM
    sim::mma_bf16(d, a.r, b.r);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b.r[0]), "r"(b.r[1]));
#endif
}

// The same product in exact fp32: lane (g, q) gathers row g (and g+8) of A from the four lanes
// of its group and columns 2q, 2q+1 of B from the lanes holding them, 4 k values per round. The
// rounds stay a loop (unrolled at every call site they made the fp32 kernels most of the module's
// image). Not out of line: as a called function it gave wrong fp32 GSA gradients on the H100 at
// M = 32 (which the CPU simulator of the same code did not), so it stays inline.
__device__ __forceinline__ void mma(float d[4], const FragA<float>& a, const FragB<float>& b) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
#pragma unroll 1
    for (int s = 0; s < 4; s++) {
        const int srcA = (g << 2) | s, srcB0 = ((2 * q) << 2) | s, srcB1 = ((2 * q + 1) << 2) | s;
        const float a0x = __shfl_sync(0xffffffffu, a.r[0].x, srcA), a0y = __shfl_sync(0xffffffffu, a.r[0].y, srcA);
        const float a1x = __shfl_sync(0xffffffffu, a.r[1].x, srcA), a1y = __shfl_sync(0xffffffffu, a.r[1].y, srcA);
        const float a2x = __shfl_sync(0xffffffffu, a.r[2].x, srcA), a2y = __shfl_sync(0xffffffffu, a.r[2].y, srcA);
        const float a3x = __shfl_sync(0xffffffffu, a.r[3].x, srcA), a3y = __shfl_sync(0xffffffffu, a.r[3].y, srcA);
        const float b00x = __shfl_sync(0xffffffffu, b.r[0].x, srcB0), b00y = __shfl_sync(0xffffffffu, b.r[0].y, srcB0);
        const float b01x = __shfl_sync(0xffffffffu, b.r[1].x, srcB0), b01y = __shfl_sync(0xffffffffu, b.r[1].y, srcB0);
        const float b10x = __shfl_sync(0xffffffffu, b.r[0].x, srcB1), b10y = __shfl_sync(0xffffffffu, b.r[0].y, srcB1);
        const float b11x = __shfl_sync(0xffffffffu, b.r[1].x, srcB1), b11y = __shfl_sync(0xffffffffu, b.r[1].y, srcB1);
        // k = 2s, 2s+1 (from r[0], r[1]) and 2s+8, 2s+9 (from r[2], r[3]).
        d[0] += a0x * b00x + a0y * b00y + a2x * b01x + a2y * b01y;
        d[1] += a0x * b10x + a0y * b10y + a2x * b11x + a2y * b11y;
        d[2] += a1x * b00x + a1y * b00y + a3x * b01x + a3y * b01y;
        d[3] += a1x * b10x + a1y * b10y + a3x * b11x + a3y * b11y;
    }
}

// ---- asynchronous copies, global -> shared (cp.async, sm_80 and later) ----

// 16 bytes from src to dst (shared), or 16 zero bytes when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
#ifdef GSAT2R_SIM
    sim::cp_async16(dst, src, valid ? 16u : 0u);
#else
    const unsigned a = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(valid ? 16 : 0) : "memory");
#endif
}

// Closes the group of the copies this thread issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#ifdef GSAT2R_SIM
    sim::cp_async_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed groups are in flight (the newest ones). Other
// threads' copies are visible only after a barrier that follows their wait.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef GSAT2R_SIM
    sim::cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// Issues (does not commit) the copies of a rows x width tile as load_tile lays it out: rows >=
// valid zero-filled. No registers hold the data, so a tile can be in flight for a whole iteration.
template <typename T>
__device__ __forceinline__ void load_tile_async(T* dst, int ld, const T* src, long long gld, int rows, int width, int valid) {
    constexpr int N = 16 / (int)sizeof(T);
    const int per_row = width / N, total = rows * per_row;
    for (int i = threadIdx.x; i < total; i += blockDim.x) {
        const int r = i / per_row, c = (i - r * per_row) * N;
        const bool in = r < valid;
        cp_async16(dst + r * ld + c, in ? src + (long long)r * gld + c : src, in);
    }
}

// ---- fragment loads from shared memory ----

// A (16x16) at p: A[r][k] = COL ? p[k*ld + r] : p[r*ld + k].
template <bool COL>
__device__ __forceinline__ void load_a(FragA<bf16>& f, const bf16* p, int ld) {
    const int l = lane_id(), i = l >> 3, rr = l & 7;
    if (!COL) ldsm_x4(f.r, p + ((i & 1) * 8 + rr) * ld + (i >> 1) * 8);
    else ldsm_x4_trans(f.r, p + ((i >> 1) * 8 + rr) * ld + (i & 1) * 8);
}

template <bool COL>
__device__ __forceinline__ void load_a(FragA<float>& f, const float* p, int ld) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
    auto at = [&](int r, int k) { return COL ? p[k * ld + r] : p[r * ld + k]; };
    f.r[0] = make_float2(at(g, 2 * q), at(g, 2 * q + 1));
    f.r[1] = make_float2(at(g + 8, 2 * q), at(g + 8, 2 * q + 1));
    f.r[2] = make_float2(at(g, 2 * q + 8), at(g, 2 * q + 9));
    f.r[3] = make_float2(at(g + 8, 2 * q + 8), at(g + 8, 2 * q + 9));
}

// B (16 k x 16 n) at p, as two 8-column fragments (b0: n 0-7, b1: n 8-15):
// B[k][n] = NMAJ ? p[n*ld + k] : p[k*ld + n].
template <bool NMAJ>
__device__ __forceinline__ void load_b2(FragB<bf16>& b0, FragB<bf16>& b1, const bf16* p, int ld) {
    const int l = lane_id(), i = l >> 3, rr = l & 7;
    uint32_t r[4];
    if (NMAJ) ldsm_x4(r, p + ((i >> 1) * 8 + rr) * ld + (i & 1) * 8);
    else ldsm_x4_trans(r, p + ((i & 1) * 8 + rr) * ld + (i >> 1) * 8);
    b0.r[0] = r[0];
    b0.r[1] = r[1];
    b1.r[0] = r[2];
    b1.r[1] = r[3];
}

template <bool NMAJ>
__device__ __forceinline__ void load_b2(FragB<float>& b0, FragB<float>& b1, const float* p, int ld) {
    const int l = lane_id(), g = l >> 2, q = l & 3;
    auto at = [&](int k, int n) { return NMAJ ? p[n * ld + k] : p[k * ld + n]; };
    b0.r[0] = make_float2(at(2 * q, g), at(2 * q + 1, g));
    b0.r[1] = make_float2(at(2 * q + 8, g), at(2 * q + 9, g));
    b1.r[0] = make_float2(at(2 * q, g + 8), at(2 * q + 1, g + 8));
    b1.r[1] = make_float2(at(2 * q + 8, g + 8), at(2 * q + 9, g + 8));
}

// The A fragment of a 16x16 block held as two accumulator tiles (columns 0-7 in c0, 8-15 in c1).
template <typename T> __device__ __forceinline__ FragA<T> a_from_acc(const float c0[4], const float c1[4]);
template <> __device__ __forceinline__ FragA<bf16> a_from_acc<bf16>(const float c0[4], const float c1[4]) {
    FragA<bf16> f;
    f.r[0] = pack_bf16(c0[0], c0[1]);
    f.r[1] = pack_bf16(c0[2], c0[3]);
    f.r[2] = pack_bf16(c1[0], c1[1]);
    f.r[3] = pack_bf16(c1[2], c1[3]);
    return f;
}
template <> __device__ __forceinline__ FragA<float> a_from_acc<float>(const float c0[4], const float c1[4]) {
    FragA<float> f;
    f.r[0] = make_float2(c0[0], c0[1]);
    f.r[1] = make_float2(c0[2], c0[3]);
    f.r[2] = make_float2(c1[0], c1[1]);
    f.r[3] = make_float2(c1[2], c1[3]);
    return f;
}

// acc[n] (8 columns each, NT of them, NT even) += A (16 x 16*ksteps) * B (16*ksteps x 8*NT),
// A and B in shared memory as described at load_a / load_b2.
template <bool ACOL, bool BNMAJ, int NT, typename T>
__device__ __forceinline__ void warp_mma(float (&acc)[NT][4], const T* a, int lda, const T* b, int ldb, int ksteps) {
    static_assert(NT % 2 == 0, "two n-tiles per B load");
    for (int ks = 0; ks < ksteps; ks++) {
        FragA<T> fa;
        load_a<ACOL>(fa, a + (ACOL ? ks * 16 * lda : ks * 16), lda);
#pragma unroll
        for (int n2 = 0; n2 < NT / 2; n2++) {
            FragB<T> b0, b1;
            load_b2<BNMAJ>(b0, b1, b + (BNMAJ ? n2 * 16 * ldb + ks * 16 : ks * 16 * ldb + n2 * 16), ldb);
            mma(acc[2 * n2], fa, b0);
            mma(acc[2 * n2 + 1], fa, b1);
        }
    }
}

// acc[n] += A * B where A is a 16x16 fragment already in registers and B (16 x 8*NT) in shared memory.
template <bool BNMAJ, int NT, typename T>
__device__ __forceinline__ void warp_mma_a(float (&acc)[NT][4], const FragA<T>& fa, const T* b, int ldb) {
#pragma unroll
    for (int n2 = 0; n2 < NT / 2; n2++) {
        FragB<T> b0, b1;
        load_b2<BNMAJ>(b0, b1, b + (BNMAJ ? n2 * 16 * ldb : n2 * 16), ldb);
        mma(acc[2 * n2], fa, b0);
        mma(acc[2 * n2 + 1], fa, b1);
    }
}

template <int NT>
__device__ __forceinline__ void zero(float (&acc)[NT][4]) {
#pragma unroll
    for (int n = 0; n < NT; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
}

// Copies a rows x width tile (width a multiple of 16 bytes) from global memory (row stride gld
// elements) into shared memory (row stride ld); rows >= valid are zero-filled. All threads of the
// block take part; the caller synchronizes. Each thread issues up to 8 independent 16-byte loads
// before its first store, so the global latency is paid once per batch, not once per vector (the
// compiler cannot reorder a global load past a store through a generic pointer).
template <typename T>
__device__ __forceinline__ void load_tile(T* dst, int ld, const T* src, long long gld, int rows, int width, int valid) {
    constexpr int N = 16 / (int)sizeof(T), BATCH = 8;
    const int per_row = width / N, total = rows * per_row, step = blockDim.x;
    for (int base = threadIdx.x; base < total; base += BATCH * step) {
        int4 v[BATCH];
#pragma unroll
        for (int u = 0; u < BATCH; u++) {
            const int i = base + u * step, r = i / per_row, c = (i - r * per_row) * N;
            v[u] = make_int4(0, 0, 0, 0);
            if (i < total && r < valid) v[u] = *reinterpret_cast<const int4*>(src + (long long)r * gld + c);
        }
#pragma unroll
        for (int u = 0; u < BATCH; u++) {
            const int i = base + u * step, r = i / per_row, c = (i - r * per_row) * N;
            if (i < total) *reinterpret_cast<int4*>(dst + r * ld + c) = v[u];
        }
    }
}

// One tile for load_tiles: rows x width elements of T from src (row stride gld) into dst (row
// stride ld); rows >= valid are zero-filled. A tile with rows == 0 is skipped.
template <typename T>
struct TileCopy {
    T* dst;
    int ld;
    const T* src;
    long long gld;
    int rows, width, valid;
};

// Several tiles with one round of loads: each thread issues up to 8 16-byte loads (over all the
// tiles) before its first store, so that the tiles of a loop iteration cost one global latency.
// (The tile of a vector is found by unrolled comparisons, so that the descriptors stay in registers.)
template <typename T, int NT>
__device__ __forceinline__ void load_tiles(const TileCopy<T> (&tiles)[NT]) {
    constexpr int N = 16 / (int)sizeof(T), BATCH = 8;
    int ends[NT];
    int total = 0;
#pragma unroll
    for (int k = 0; k < NT; k++) {
        total += tiles[k].rows * (tiles[k].width / N);
        ends[k] = total;
    }
    const int step = blockDim.x;
    for (int base = threadIdx.x; base < total; base += BATCH * step) {
        int4 v[BATCH];
#pragma unroll
        for (int u = 0; u < BATCH; u++) {
            const int i = base + u * step;
            v[u] = make_int4(0, 0, 0, 0);
            int start = 0, which = 0;
#pragma unroll
            for (int x = 1; x < NT; x++) {
                if (i >= ends[x - 1]) {
                    start = ends[x - 1];
                    which = x;
                }
            }
#pragma unroll
            for (int x = 0; x < NT; x++) {
                if (x == which && i < total) {
                    const int per_row = tiles[x].width / N, j = i - start, r = j / per_row, c = (j - r * per_row) * N;
                    if (r < tiles[x].valid) v[u] = *reinterpret_cast<const int4*>(tiles[x].src + (long long)r * tiles[x].gld + c);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < BATCH; u++) {
            const int i = base + u * step;
            int start = 0, which = 0;
#pragma unroll
            for (int x = 1; x < NT; x++) {
                if (i >= ends[x - 1]) {
                    start = ends[x - 1];
                    which = x;
                }
            }
#pragma unroll
            for (int x = 0; x < NT; x++) {
                if (x == which && i < total) {
                    const int per_row = tiles[x].width / N, j = i - start, r = j / per_row, c = (j - r * per_row) * N;
                    *reinterpret_cast<int4*>(tiles[x].dst + r * tiles[x].ld + c) = v[u];
                }
            }
        }
    }
}

// A tile fetched into registers now and stored into shared memory later, so that the next
// chunk's loads are in flight while the current chunk computes. MAXV 16-byte vectors per thread
// must cover the tile (rows * width * sizeof(T) / 16 <= MAXV * blockDim.x).
template <typename T, int MAXV>
struct TileFetch {
    int4 v[MAXV];
    int per_row = 1, total = 0;

    __device__ __forceinline__ void fetch(const T* src, long long gld, int rows, int width, int valid) {
        constexpr int N = 16 / (int)sizeof(T);
        per_row = width / N;
        total = rows * per_row;
#pragma unroll
        for (int u = 0; u < MAXV; u++) {
            const int i = threadIdx.x + u * blockDim.x, r = i / per_row, c = (i - r * per_row) * N;
            v[u] = make_int4(0, 0, 0, 0);
            if (i < total && r < valid) v[u] = *reinterpret_cast<const int4*>(src + (long long)r * gld + c);
        }
    }

    __device__ __forceinline__ void commit(T* dst, int ld) const {
        constexpr int N = 16 / (int)sizeof(T);
#pragma unroll
        for (int u = 0; u < MAXV; u++) {
            const int i = threadIdx.x + u * blockDim.x, r = i / per_row, c = (i - r * per_row) * N;
            if (i < total) *reinterpret_cast<int4*>(dst + r * ld + c) = v[u];
        }
    }
};

// Stores the two elements (c, c+1) of a row.
__device__ __forceinline__ void store2(float* p, float a, float b) { *reinterpret_cast<float2*>(p) = make_float2(a, b); }
__device__ __forceinline__ void store2(bf16* p, float a, float b) { *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b); }
__device__ __forceinline__ float2 load2(const float* p) { return *reinterpret_cast<const float2*>(p); }
__device__ __forceinline__ float2 load2(const bf16* p) {
    const __nv_bfloat162 v = *reinterpret_cast<const __nv_bfloat162*>(p);
    return make_float2(__low2float(v), __high2float(v));
}

}  // namespace tiles
