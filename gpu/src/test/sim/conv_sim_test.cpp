// The short-convolution kernels (gpu/src/main/cuda/short_conv.cu) on the CPU simulator against float64
// formulas: torch's Conv1d(C, C, K, groups=C, padding=K−1), its first T outputs per sequence, and its
// gradients. Several sequences (no tap may cross a border), T shorter than K, one tap, a channel count that is
// not a multiple of the 32 a weight-gradient block covers, and chunks of rows that end inside a sequence. Built and run by
// scripts/cuda-sim-test.sh.
#include "cuda_sim.h"
#include "sim_check.h"

#include "../../main/cuda/short_conv.cu"

#include <string>

using sim::DeviceArray;

template <typename T>
static void run(const char* type, int B, int Tn, int C, int K, double tol, std::mt19937& rng, int rowsPerChunk = 0) {
    std::normal_distribution<double> nd(0, 1);
    const int n = B * Tn * C;
    DeviceArray<T> x(n), y(n), dy(n), dx(n), w(C * K);
    DeviceArray<float> dw(C * K);
    std::vector<double> X(n), W(C * K), DY(n), DW0(C * K);
    for (int i = 0; i < n; i++) { x[i] = (T)(float)nd(rng); X[i] = (double)(float)x[i]; }
    for (int i = 0; i < n; i++) { dy[i] = (T)(float)nd(rng); DY[i] = (double)(float)dy[i]; }
    for (int i = 0; i < C * K; i++) { w[i] = (T)(float)(0.5 * nd(rng)); W[i] = (double)(float)w[i]; }
    for (int i = 0; i < C * K; i++) { dw[i] = (float)(0.1 * nd(rng)); DW0[i] = dw[i]; }
    for (int i = 0; i < n; i++) dx[i] = (T)(float)nd(rng);          // overwritten (accumulate 0)
    std::vector<double> ry(n, 0), rdx(n, 0), rdw(DW0);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Tn; t++) {
            for (int c = 0; c < C; c++) {
                const long long r = (long long)b * Tn + t;
                for (int i = 0; i < K; i++) {
                    const int src = t - K + 1 + i;
                    if (src < 0) continue;
                    const long long xr = (long long)b * Tn + src;
                    ry[r * C + c] += W[c * K + i] * X[xr * C + c];
                    rdx[xr * C + c] += W[c * K + i] * DY[r * C + c];
                    rdw[c * K + i] += DY[r * C + c] * X[xr * C + c];
                }
            }
        }
    }
    sim::launch({3, 1, 1}, {64, 1, 1}, 0, [&] { conv::fwd<T>(y.ptr(), x.ptr(), w.ptr(), B, Tn, C, K); });
    sim::launch({3, 1, 1}, {64, 1, 1}, 0, [&] { conv::bwd_x<T>(dx.ptr(), dy.ptr(), w.ptr(), B, Tn, C, K, 0); });
    // the launcher's chunks of rows (ShortConv.chunks), or rowsPerChunk rows when given: chunks that end inside a
    // sequence, and a last chunk shorter than the others
    const long long rows = (long long)B * Tn;
    const int per = rowsPerChunk > 0 ? rowsPerChunk : 256;
    const int chunks = (int)((rows + per - 1) / per);
    DeviceArray<float> partial((long long)chunks * C * K);
    sim::launch({(unsigned)((C + 31) / 32), (unsigned)K, (unsigned)chunks}, {256, 1, 1}, 0,
                [&] { conv::bwd_w_partial<T>(partial.ptr(), dy.ptr(), x.ptr(), B, Tn, C, K, per); });
    sim::launch({2, 1, 1}, {64, 1, 1}, 0, [&] { conv::bwd_w_sum(dw.ptr(), partial.ptr(), C, K, chunks); });
    std::vector<double> gy(n), gdx(n), gdw(C * K);
    for (int i = 0; i < n; i++) gy[i] = (double)(float)y[i], gdx[i] = (double)(float)dx[i];
    for (int i = 0; i < C * K; i++) gdw[i] = dw[i] - DW0[i], rdw[i] -= DW0[i];
    const std::string tag = std::string(type) + " B" + std::to_string(B) + " T" + std::to_string(Tn) + " C" + std::to_string(C)
            + " K" + std::to_string(K) + " rows/chunk " + std::to_string(per);
    check("conv fwd " + tag, gy, ry, tol);
    check("conv dx " + tag, gdx, rdx, tol);
    check("conv dw " + tag, gdw, rdw, 1e-5);
}

// The decode kernel, a step at a time over B sequences of T tokens, against the forward kernel over the whole
// sequences (then silu): the same products in the same order, so fp32 agrees to the last bit; in bf16 the inputs
// are rounded alike (the history is kept in T). Row b's history sits at rows[b·stride] + offset, as the batched
// step's table gives it; the projections are columns of wider rows.
template <typename T>
static void decode(const char* type, int B, int Tn, int C, int K, std::mt19937& rng) {
    std::normal_distribution<double> nd(0, 1);
    const int n = B * Tn * C, ldp = C + 5, stride = 3;
    const long long offset = 7;
    DeviceArray<T> x(n), y(n), w(C * K);
    for (int i = 0; i < n; i++) x[i] = (T)(float)nd(rng);
    for (int i = 0; i < C * K; i++) w[i] = (T)(float)(0.5 * nd(rng));
    sim::launch({3, 1, 1}, {64, 1, 1}, 0, [&] { conv::fwd<T>(y.ptr(), x.ptr(), w.ptr(), B, Tn, C, K); });
    std::vector<DeviceArray<T>> hist;
    for (int b = 0; b < B; b++) {
        hist.emplace_back(offset + (long long)(K - 1) * C + 1);
        for (long long i = 0; i < offset + (long long)(K - 1) * C + 1; i++) hist[b][i] = (T)0.f;
    }
    DeviceArray<unsigned long long> rows((long long)B * stride);
    for (int b = 0; b < B; b++) rows[(long long)b * stride] = (unsigned long long)(uintptr_t)hist[b].ptr();
    DeviceArray<float> proj((long long)B * ldp);
    std::vector<double> got(n), want(n);
    for (int t = 0; t < Tn; t++) {
        for (int b = 0; b < B; b++) for (int c = 0; c < C; c++) proj[(long long)b * ldp + c] = (float)x[((long long)b * Tn + t) * C + c];
        sim::launch({2, 1, 1}, {32, 1, 1}, 0, [&] {
            conv::decode<T>(proj.ptr(), ldp, w.ptr(), rows.ptr(), stride, offset, B, C, K);
        });
        for (int b = 0; b < B; b++) {
            for (int c = 0; c < C; c++) {
                const long long e = ((long long)b * Tn + t) * C + c;
                got[e] = proj[(long long)b * ldp + c];
                const double v = (double)(float)y[e];
                want[e] = (double)(float)((float)v / (1.f + expf(-(float)v)));
            }
        }
    }
    const std::string tag = std::string(type) + " B" + std::to_string(B) + " T" + std::to_string(Tn) + " C" + std::to_string(C)
            + " K" + std::to_string(K);
    // fp32: bit for bit; bf16: fwd rounds its output to bf16 before the silu here, decode does not
    check("conv decode " + tag, got, want, sizeof(T) == 4 ? 0.0 : 1e-2);
    bool untouched = true;                          // the history's neighbours stay as they were
    for (int b = 0; b < B; b++) {
        for (long long i = 0; i < offset; i++) untouched &= (float)hist[b][i] == 0.f;
        untouched &= (float)hist[b][offset + (long long)(K - 1) * C] == 0.f;
    }
    check("conv decode " + tag + " writes only its rows", std::vector<double>{untouched ? 0.0 : 1.0}, std::vector<double>{0.0}, 0.0);
}

int main(int argc, char** argv) {
    sim::rng.seed(argc > 1 ? std::atoi(argv[1]) : 1);
    std::mt19937 rng(7);
    run<float>("f32", 2, 9, 37, 4, 1e-6, rng);
    run<float>("f32", 3, 2, 5, 4, 1e-6, rng);
    run<float>("f32", 1, 7, 3, 1, 1e-6, rng);
    run<bf16>("bf16", 2, 11, 40, 4, 1e-2, rng);
    run<float>("f32", 3, 9, 37, 4, 1e-6, rng, 5);       // 27 rows in chunks of 5: borders inside chunks, a short last chunk
    run<float>("f32", 2, 300, 33, 3, 1e-6, rng);        // 600 rows: two full chunks of 256 and one of 88
    run<bf16>("bf16", 4, 7, 64, 2, 1e-2, rng, 3);
    decode<float>("f32", 3, 9, 37, 4, rng);
    decode<float>("f32", 2, 3, 5, 4, rng);              // fewer tokens than taps
    decode<float>("f32", 2, 5, 8, 1, rng);              // one tap: no history
    decode<float>("f32", 1, 6, 33, 2, rng);
    decode<bf16>("bf16", 2, 11, 40, 4, rng);
    std::printf("%s\n", failures == 0 ? "all ok" : "FAILURES");
    return failures == 0 ? 0 : 1;
}
