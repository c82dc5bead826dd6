// The decode-step kernels on the CPU simulator: the small-batch fused linear layers (decode_linear.cu),
// the batched recurrent GSA step (gsa_decode.cu), split-KV attention over per-sequence KV rings
// (attention_decode.cu) and the continuation scores (scoring.cu), against float64 references; where the
// kernel's fp32 arithmetic is replicable (its sums run in a fixed order) also against a float mirror,
// which must agree bit for bit. Built and run by scripts/cuda-sim-test.sh; exit status 0 when every
// check passes.
#include "cuda_sim.h"

#include "../../main/cuda/decode_linear.cu"
#include "../../main/cuda/gsa_decode.cu"
#include "../../main/cuda/attention_decode.cu"
#include "../../main/cuda/scoring.cu"

#include <string>

using sim::DeviceArray;

static int failures = 0;

static float bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
static float fsilu(float x) { return x * (1.f / (1.f + expf(-x))); }

static void report(bool ok, const std::string& name, const char* fmt, double v, double tol) {
    if (!ok) failures++;
    std::printf("%s %-62s ", ok ? "ok  " : "FAIL", name.c_str());
    std::printf(fmt, v, tol);
    std::printf("\n");
}

// Relative L2 error of got against ref (non-finite values fail).
static void check(const std::string& name, const std::vector<double>& got, const std::vector<double>& ref, double tol) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); i++) {
        if (!std::isfinite(got[i])) {
            report(false, name, "non-finite value (%g, tol %g)", got[i], tol);
            return;
        }
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    const double err = den == 0 ? std::sqrt(num) : std::sqrt(num / den);
    report(err <= tol, name, "%.3e (tol %.0e)", err, tol);
}

// Bit-for-bit agreement with a float mirror of the kernel's arithmetic.
static void exact(const std::string& name, const std::vector<float>& got, const std::vector<float>& ref) {
    size_t diff = 0;
    for (size_t i = 0; i < got.size(); i++) diff += std::memcmp(&got[i], &ref[i], 4) != 0;
    report(diff == 0, name + " (bitwise)", "%.0f differing values (tol %.0f)", (double)diff, 0.0);
}

static std::vector<float> randn(size_t n, double sd, std::mt19937& rng, bool round = true) {
    std::normal_distribution<double> nd(0, sd);
    std::vector<float> x(n);
    for (auto& e : x) e = round ? bf((float)nd(rng)) : (float)nd(rng);
    return x;
}

template <typename T>
static void put(DeviceArray<T>& d, const std::vector<float>& x) {
    for (size_t i = 0; i < x.size(); i++) d[i] = (T)x[i];
}
static void put(DeviceArray<bf16>& d, const std::vector<float>& x) {
    for (size_t i = 0; i < x.size(); i++) d[i] = __float2bfloat16_rn(x[i]);
}
static std::vector<float> get(DeviceArray<bf16>& d) {
    std::vector<float> r(d.n);
    for (size_t i = 0; i < d.n; i++) r[i] = __bfloat162float(d[i]);
    return r;
}
static std::vector<float> get(DeviceArray<float>& d) {
    std::vector<float> r(d.n);
    for (size_t i = 0; i < d.n; i++) r[i] = d[i];
    return r;
}
static std::vector<double> dbl(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

// ---------------------------------------------------------------- decode_linear

// The kernel's rstd: thread t sums the squares of packs t, t + 256, ... in order, each warp's 32 sums go through
// warp_sum's xor tree, and the 8 warps' results are added in warp order.
static float mirror_rstd(const float* row, int K, float eps, bool gate) {
    float thread[256];
    for (int t = 0; t < 256; t++) {
        float ss = 0.f;
        for (int p = t; p < K / 8; p += 256)
            for (int j = 0; j < 8; j++) {
                const float v = gate ? fsilu(row[8 * p + j]) : row[8 * p + j];
                ss += v * v;
            }
        thread[t] = ss;
    }
    float total = 0.f;
    for (int w = 0; w < 8; w++) {
        float lane[32];
        std::memcpy(lane, thread + 32 * w, sizeof lane);
        for (int o = 16; o > 0; o >>= 1) {
            float next[32];
            for (int l = 0; l < 32; l++) next[l] = lane[l] + lane[l ^ o];
            std::memcpy(lane, next, sizeof lane);
        }
        total += lane[0];
    }
    return 1.0f / std::sqrt(total / K + eps);
}

template <int PRO, int EPI, int NT>
static void linear_case(int B, int K, std::vector<int> seg, std::mt19937& rng) {
    constexpr bool swiglu = EPI == dl::SWIGLU;
    const int N = swiglu ? seg[0] : seg[0] + seg[1] + seg[2] + seg[3];
    const float eps = 1e-5f;
    char tag[128];
    static const char* pro[] = {"plain", "rms", "gate"};
    static const char* epi[] = {"store", "add", "swiglu"};
    std::snprintf(tag, sizeof tag, "linear %s/%s b%d B%d K%d N%d", pro[PRO], epi[EPI], 8 * NT, B, K, N);
    auto x = randn((size_t)B * K, PRO == dl::GATE ? 2.0 : 1.0, rng), nw = randn(K, 0.5, rng);
    for (auto& e : nw) e = bf(1.f + e);
    // Weights: one matrix per segment (SWIGLU: gate and up, N rows each).
    const int mats = swiglu ? 2 : 4;
    std::vector<std::vector<float>> W(4);
    std::vector<DeviceArray<bf16>*> dW;
    for (int i = 0; i < 4; i++) {
        const int rows = swiglu ? (i < 2 ? N : 0) : seg[i];
        W[i] = randn((size_t)std::max(rows, 1) * K, 0.05, rng);
        dW.push_back(new DeviceArray<bf16>(W[i].size()));
        put(*dW[i], W[i]);
    }
    DeviceArray<bf16> dx(x.size()), dnw(K);
    put(dx, x);
    put(dnw, nw);
    // The prologue's x, as the kernel forms it (bf16).
    std::vector<float> xp(x.size());
    for (int b = 0; b < B; b++) {
        const float r = PRO == dl::PLAIN ? 1.f : mirror_rstd(&x[(size_t)b * K], K, eps, PRO == dl::GATE);
        for (int k = 0; k < K; k++) {
            const float v = x[(size_t)b * K + k];
            xp[(size_t)b * K + k] = PRO == dl::PLAIN ? v : bf((PRO == dl::GATE ? fsilu(v) : v) * r * nw[k]);
        }
    }
    auto row_of = [&](int mat, int n) -> const float* { return &W[mat][(size_t)n * K]; };
    auto y = [&](int b, int mat, int n) {
        double acc = 0;
        for (int k = 0; k < K; k++) acc += (double)xp[(size_t)b * K + k] * row_of(mat, n)[k];
        return acc;
    };
    const int e0 = seg[0], e1 = e0 + seg[1], e2 = e1 + seg[2], e3 = e2 + seg[3];
    const unsigned tiles = (unsigned)((N + 15) / 16);
    auto run = [&](void* out, int ldo) {
        sim::launch({tiles, 1, 1}, {dl::THREADS, 1, 1}, dl::SHARED_BYTES, [&] {
            dl::linear<PRO, EPI, NT>(out, ldo, dx.ptr(), dnw.ptr(), eps, dW[0]->ptr(), dW[1]->ptr(), dW[2]->ptr(), dW[3]->ptr(),
                                     e0, e1, e2, e3, B, K);
        });
    };
    if (EPI == dl::STORE) {
        const int ldo = N + 3;  // a wider row: the kernel writes only its columns
        DeviceArray<float> out((size_t)B * ldo);
        for (size_t i = 0; i < out.n; i++) out[i] = 12345.f;
        run(out.ptr(), ldo);
        out.check("out");
        std::vector<double> got, ref;
        bool untouched = true;
        for (int b = 0; b < B; b++) {
            for (int n = 0; n < N; n++) {
                const int mat = n < e0 ? 0 : n < e1 ? 1 : n < e2 ? 2 : 3, local = n - (mat == 0 ? 0 : mat == 1 ? e0 : mat == 2 ? e1 : e2);
                got.push_back(out[(size_t)b * ldo + n]);
                ref.push_back(y(b, mat, local));
            }
            for (int n = N; n < ldo; n++) untouched &= out[(size_t)b * ldo + n] == 12345.f;
        }
        check(tag, got, ref, 1e-5);
        report(untouched, std::string(tag) + " columns past N untouched", "%.0f (tol %.0f)", untouched ? 0 : 1, 0);
    } else {
        auto h0 = randn((size_t)B * N, 1.0, rng);
        DeviceArray<bf16> out((size_t)B * N);
        put(out, h0);
        run(out.ptr(), N);
        out.check("out");
        std::vector<double> got = dbl(get(out)), ref;
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) {
                if (EPI == dl::ADD) {
                    ref.push_back(bf(h0[(size_t)b * N + n] + bf((float)y(b, 0, n))));
                } else {
                    const float g = bf((float)y(b, 0, n)), u = bf((float)y(b, 1, n));
                    ref.push_back(bf(g * (1.f / (1.f + expf(-g))) * u));
                }
            }
        check(tag, got, ref, 1e-2);
        // bf16 results: at most a rounding apart (the fp32 sums differ from float64 in the last bits).
        double worst = 0;
        for (size_t i = 0; i < got.size(); i++) worst = std::max(worst, std::fabs(got[i] - ref[i]) / std::max(std::fabs(ref[i]), 1e-3));
        report(worst <= 1.0 / 128, std::string(tag) + " worst relative", "%.3e (tol %.0e)", worst, 1.0 / 128);
    }
    for (int i = 0; i < mats; i++) dW[i]->check("w");
    for (auto* d : dW) delete d;
}

// A row's results do not depend on B or on the other rows: rows of a batch of 16 (the b16 kernel), the same rows
// among 8 (b8, in other places) and each row alone (b8, B = 1), bit for bit.
template <int PRO, int EPI>
static void linear_rows_case(int K, int N, std::mt19937& rng) {
    constexpr bool swiglu = EPI == dl::SWIGLU;
    char tag[128];
    static const char* pro[] = {"plain", "rms", "gate"};
    static const char* epi[] = {"store", "add", "swiglu"};
    std::snprintf(tag, sizeof tag, "linear %s/%s K%d N%d row alone = in 8 = in 16", pro[PRO], epi[EPI], K, N);
    const float eps = 1e-5f;
    auto x16 = randn((size_t)16 * K, PRO == dl::GATE ? 2.0 : 1.0, rng), nw = randn(K, 0.5, rng), h16 = randn((size_t)16 * N, 1.0, rng);
    for (auto& e : nw) e = bf(1.f + e);
    DeviceArray<bf16> dnw(K), dw0((size_t)N * K), dw1((size_t)N * K);
    put(dnw, nw);
    put(dw0, randn((size_t)N * K, 0.05, rng));
    put(dw1, randn((size_t)N * K, 0.05, rng));
    // The outputs of rows `rows` of x16 (and h16) run together as one batch.
    auto run = [&](auto nt, const std::vector<int>& rows) {
        constexpr int NT = decltype(nt)::value;
        const int B = (int)rows.size();
        DeviceArray<bf16> dx((size_t)B * K);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++) dx[(size_t)b * K + k] = __float2bfloat16_rn(x16[(size_t)rows[b] * K + k]);
        DeviceArray<float> of((size_t)B * N);
        DeviceArray<bf16> ob((size_t)B * N);
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) ob[(size_t)b * N + n] = __float2bfloat16_rn(h16[(size_t)rows[b] * N + n]);
        void* out = EPI == dl::STORE ? (void*)of.ptr() : (void*)ob.ptr();
        sim::launch({(unsigned)((N + 15) / 16), 1, 1}, {dl::THREADS, 1, 1}, dl::SHARED_BYTES, [&] {
            dl::linear<PRO, EPI, NT>(out, N, dx.ptr(), dnw.ptr(), eps, dw0.ptr(), swiglu ? dw1.ptr() : nullptr, nullptr, nullptr, N,
                                     N, N, N, B, K);
        });
        return EPI == dl::STORE ? get(of) : get(ob);
    };
    std::vector<int> all(16), eight = {9, 3, 14, 0, 7, 12, 5, 10};
    for (int b = 0; b < 16; b++) all[b] = b;
    const auto y16 = run(std::integral_constant<int, 2>{}, all), y8 = run(std::integral_constant<int, 1>{}, eight);
    std::vector<float> got8, ref8, got1, ref1;
    for (int i = 0; i < 8; i++)
        for (int n = 0; n < N; n++) {
            got8.push_back(y8[(size_t)i * N + n]);
            ref8.push_back(y16[(size_t)eight[i] * N + n]);
        }
    for (int r : {0, 6, 15}) {
        const auto y1 = run(std::integral_constant<int, 1>{}, {r});
        for (int n = 0; n < N; n++) {
            got1.push_back(y1[n]);
            ref1.push_back(y16[(size_t)r * N + n]);
        }
    }
    exact(std::string(tag) + ": 8", got8, ref8);
    exact(std::string(tag) + ": 1", got1, ref1);
}

// ---------------------------------------------------------------- gsa_decode

struct GsaShape {
    int B, H, Hkv, K, V, M;
};

static size_t gsa_smem(const GsaShape& s) {
    auto up = [](size_t floats) { return (floats * 4 + 15) / 16 * 16; };
    const int G = s.H / s.Hkv;
    // As gsad::Smem carves it (and GsaDecode.java sizes it): Hk, Hv, q̃, k, v, s, decay, p.
    return up((size_t)s.K * s.M) + up((size_t)s.M * s.V) + up((size_t)G * s.K) + up(s.K) + up(s.V) + 2 * up(s.M) + up((size_t)G * s.M);
}

// One step of GSA for one (row, kv head) in float, in the kernel's order of operations.
struct GsaMirror {
    static float logsigmoid(float f) { return std::fmin(f, 0.f) - log1pf(expf(-std::fabs(f))); }
    static void step(float* Hk, float* Hv, const float* q, const float* k, const float* v, const float* f, int G, int K, int V, int M,
                     float tau, float scale, float* o) {
        std::vector<float> sq(G * K), sk(K), sv(V), ss(M), sd(M), sp(G * M);
        for (int i = 0; i < G * K; i++) sq[i] = scale * fsilu(q[i]);
        for (int i = 0; i < K; i++) sk[i] = fsilu(k[i]);
        for (int i = 0; i < V; i++) sv[i] = fsilu(v[i]);
        for (int m = 0; m < M; m++) {
            const float g = logsigmoid(f[m]) / tau, d = expf(g);
            ss[m] = 1.f - d;
            sd[m] = d;
        }
        for (int a = 0; a < K; a++)
            for (int m = 0; m < M; m++) Hk[a * M + m] = Hk[a * M + m] * sd[m] + sk[a] * ss[m];
        for (int m = 0; m < M; m++)
            for (int c = 0; c < V; c++) Hv[m * V + c] = Hv[m * V + c] * sd[m] + ss[m] * sv[c];
        for (int h = 0; h < G; h++)
            for (int m = 0; m < M; m++) {
                float acc = 0.f;
                for (int a = 0; a < K; a++) acc += sq[h * K + a] * Hk[a * M + m];
                sp[h * M + m] = acc;
            }
        for (int h = 0; h < G; h++) {
            float* row = &sp[h * M];
            float lane[32];
            for (int l = 0; l < 32; l++) {
                float mx = -INFINITY;
                for (int m = l; m < M; m += 32) mx = std::fmax(mx, row[m]);
                lane[l] = mx;
            }
            for (int o2 = 16; o2 > 0; o2 >>= 1) {
                float next[32];
                for (int l = 0; l < 32; l++) next[l] = std::fmax(lane[l], lane[l ^ o2]);
                std::memcpy(lane, next, sizeof lane);
            }
            const float mx = lane[0];
            for (int l = 0; l < 32; l++) {
                float s = 0.f;
                for (int m = l; m < M; m += 32) s += expf(row[m] - mx);
                lane[l] = s;
            }
            for (int o2 = 16; o2 > 0; o2 >>= 1) {
                float next[32];
                for (int l = 0; l < 32; l++) next[l] = lane[l] + lane[l ^ o2];
                std::memcpy(lane, next, sizeof lane);
            }
            for (int m = 0; m < M; m++) row[m] = expf(row[m] - mx) / lane[0];
        }
        for (int h = 0; h < G; h++)
            for (int c = 0; c < V; c++) {
                float acc = 0.f;
                for (int m = 0; m < M; m++) acc += sp[h * M + m] * Hv[m * V + c];
                o[h * V + c] = acc;
            }
    }
};

template <typename T>
static void gsa_case(GsaShape s, std::mt19937& rng) {
    const bool isbf = sizeof(T) == 2;
    const int G = s.H / s.Hkv, steps = 3;
    const float tau = 8.f, scale = 0.9f;
    char tag[128];
    std::snprintf(tag, sizeof tag, "gsa step %s B%d H%d/%d K%d V%d M%d", isbf ? "bf16" : "f32 ", s.B, s.H, s.Hkv, s.K, s.V, s.M);
    // One fused projection row per sequence, as the decode step's linear layer writes it: q | k | v | f.
    const int qo = 0, ko = s.H * s.K, vo = ko + s.Hkv * s.K, fo = vo + s.Hkv * s.V, ld = fo + s.Hkv * s.M + 5;
    // Each row's state lives in its own allocation (as each decoder keeps its own).
    const size_t hkN = (size_t)s.Hkv * s.K * s.M, hvN = (size_t)s.Hkv * s.M * s.V;
    std::vector<DeviceArray<float>*> hk, hv;
    std::vector<std::vector<double>> rhk, rhv;
    std::vector<std::vector<float>> mhk, mhv;
    DeviceArray<long long> table(2 * s.B);
    for (int b = 0; b < s.B; b++) {
        auto a = randn(hkN, 0.5, rng, false), c = randn(hvN, 0.5, rng, false);
        hk.push_back(new DeviceArray<float>(hkN));
        hv.push_back(new DeviceArray<float>(hvN));
        put(*hk[b], a);
        put(*hv[b], c);
        rhk.push_back(dbl(a));
        rhv.push_back(dbl(c));
        mhk.push_back(a);
        mhv.push_back(c);
        table[2 * b] = (long long)hk[b]->ptr();
        table[2 * b + 1] = (long long)hv[b]->ptr();
    }
    std::vector<double> got, ref;
    std::vector<float> gotF, mirror;
    for (int st = 0; st < steps; st++) {
        auto proj = randn((size_t)s.B * ld, 1.5, rng, false);
        std::uniform_real_distribution<float> fd(-4.f, 6.f);
        for (int b = 0; b < s.B; b++)
            for (int i = 0; i < s.Hkv * s.M; i++) proj[(size_t)b * ld + fo + i] = fd(rng);
        DeviceArray<float> dp(proj.size());
        put(dp, proj);
        DeviceArray<T> o((size_t)s.B * s.H * s.V);
        for (size_t i = 0; i < o.n; i++) o[i] = (T)NAN;
        const float* P = dp.ptr();
        sim::launch({(unsigned)s.B, (unsigned)s.Hkv, 1}, {gsad::THREADS, 1, 1}, gsa_smem(s), [&] {
            gsad::step<T>(o.ptr(), table.ptr(), P + qo, ld, P + ko, ld, P + vo, ld, P + fo, ld, s.H, s.Hkv, s.K, s.V, s.M, tau, scale);
        });
        o.check("o");
        auto out = get(o);
        got.insert(got.end(), out.begin(), out.end());
        gotF.insert(gotF.end(), out.begin(), out.end());
        for (int b = 0; b < s.B; b++) {
            const float* row = &proj[(size_t)b * ld];
            for (int kv = 0; kv < s.Hkv; kv++) {
                std::vector<float> om(G * s.V);
                GsaMirror::step(&mhk[b][(size_t)kv * s.K * s.M], &mhv[b][(size_t)kv * s.M * s.V], row + qo + kv * G * s.K,
                                row + ko + kv * s.K, row + vo + kv * s.V, row + fo + kv * s.M, G, s.K, s.V, s.M, tau, scale, om.data());
                for (float x : om) mirror.push_back(isbf ? bf(x) : x);
                // float64: the same operator from the same inputs.
                auto silu = [](double x) { return x / (1 + std::exp(-x)); };
                std::vector<double> decay(s.M), sl(s.M);
                for (int m = 0; m < s.M; m++) {
                    const double f = row[fo + kv * s.M + m], g = (std::min(f, 0.0) - std::log1p(std::exp(-std::fabs(f)))) / tau;
                    decay[m] = std::exp(g);
                    sl[m] = 1 - decay[m];
                }
                double* Hk = &rhk[b][(size_t)kv * s.K * s.M];
                double* Hv = &rhv[b][(size_t)kv * s.M * s.V];
                for (int a = 0; a < s.K; a++)
                    for (int m = 0; m < s.M; m++) Hk[a * s.M + m] = Hk[a * s.M + m] * decay[m] + silu(row[ko + kv * s.K + a]) * sl[m];
                for (int m = 0; m < s.M; m++)
                    for (int c = 0; c < s.V; c++) Hv[m * s.V + c] = Hv[m * s.V + c] * decay[m] + sl[m] * silu(row[vo + kv * s.V + c]);
                for (int hh = 0; hh < G; hh++) {
                    std::vector<double> ok(s.M, 0);
                    double mx = -INFINITY, sum = 0;
                    for (int m = 0; m < s.M; m++) {
                        for (int a = 0; a < s.K; a++) ok[m] += scale * silu(row[qo + (kv * G + hh) * s.K + a]) * Hk[a * s.M + m];
                        mx = std::max(mx, ok[m]);
                    }
                    for (int m = 0; m < s.M; m++) sum += std::exp(ok[m] - mx);
                    for (int c = 0; c < s.V; c++) {
                        double acc = 0;
                        for (int m = 0; m < s.M; m++) acc += std::exp(ok[m] - mx) / sum * Hv[m * s.V + c];
                        ref.push_back(acc);
                    }
                }
            }
        }
    }
    check(std::string(tag) + " o", got, ref, isbf ? 1e-2 : 1e-5);
    std::vector<double> st, sr;
    std::vector<float> stF, smF;
    for (int b = 0; b < s.B; b++) {
        auto a = get(*hk[b]), c = get(*hv[b]);
        hk[b]->check("hk");
        hv[b]->check("hv");
        st.insert(st.end(), a.begin(), a.end());
        st.insert(st.end(), c.begin(), c.end());
        sr.insert(sr.end(), rhk[b].begin(), rhk[b].end());
        sr.insert(sr.end(), rhv[b].begin(), rhv[b].end());
        stF.insert(stF.end(), a.begin(), a.end());
        stF.insert(stF.end(), c.begin(), c.end());
        smF.insert(smF.end(), mhk[b].begin(), mhk[b].end());
        smF.insert(smF.end(), mhv[b].begin(), mhv[b].end());
    }
    check(std::string(tag) + " state", st, sr, 1e-5);
    exact(std::string(tag) + " state", stF, smF);
    exact(std::string(tag) + " o", gotF, mirror);
    for (auto* d : hk) delete d;
    for (auto* d : hv) delete d;
}

// ---------------------------------------------------------------- attention_decode

struct AttShape {
    int B, H, Hkv, window, S, minChunk;
    std::vector<int> pos, cap;  // per row: the new token's position (at the first step), the ring's capacity
};
// Without a window a ring must hold every position (the decoder grows it): cap > the last step's position.

template <typename T, int D, int HG>
static void attention_case(const AttShape& s, std::mt19937& rng) {
    const bool isbf = sizeof(T) == 2;
    const int G = s.H / s.Hkv, HC = (G + HG - 1) / HG, half = D / 2, steps = 2, maxPos = 4096;
    const float scale = 1.f / std::sqrt((float)D);
    char tag[160];
    std::snprintf(tag, sizeof tag, "attention %s D%d g%d B%d H%d/%d W%d S%d min%d", isbf ? "bf16" : "f32 ", D, HG, s.B, s.H, s.Hkv,
                  s.window, s.S, s.minChunk);
    // RoPE tables as core's Rope.tables makes them (θ = 10000), fp32.
    std::vector<float> cosT((size_t)maxPos * half), sinT(cosT.size());
    for (int p = 0; p < maxPos; p++)
        for (int i = 0; i < half; i++) {
            const float inv = (float)std::pow(10000.0, -2.0 * i / D), a = (float)p * inv;
            cosT[(size_t)p * half + i] = (float)std::cos((double)a);
            sinT[(size_t)p * half + i] = (float)std::sin((double)a);
        }
    DeviceArray<float> dcos(cosT.size()), dsin(sinT.size());
    put(dcos, cosT);
    put(dsin, sinT);
    const size_t row = (size_t)s.Hkv * D;
    std::vector<DeviceArray<T>*> kc, vc;
    std::vector<std::vector<float>> rk, rv;  // what the rings hold (storage values)
    DeviceArray<long long> caches(2 * s.B);
    DeviceArray<int> capacity(s.B), positions(s.B);
    for (int b = 0; b < s.B; b++) {
        auto a = randn((size_t)s.cap[b] * row, 1.0, rng, isbf), c = randn((size_t)s.cap[b] * row, 1.0, rng, isbf);
        kc.push_back(new DeviceArray<T>(a.size()));
        vc.push_back(new DeviceArray<T>(c.size()));
        put(*kc[b], a);
        put(*vc[b], c);
        rk.push_back(a);
        rv.push_back(c);
        caches[2 * b] = (long long)kc[b]->ptr();
        caches[2 * b + 1] = (long long)vc[b]->ptr();
        capacity[b] = s.cap[b];
    }
    DeviceArray<float> part((size_t)s.B * s.H * s.S * (D + 2));
    DeviceArray<int> counters((size_t)s.B * s.Hkv * HC);
    for (size_t i = 0; i < counters.n; i++) counters[i] = 0;
    const int ldq = s.H * D + 3, ldk = row + 1, ldv = row + 7;  // strided rows, as views of one projection
    std::vector<double> got, ref;
    bool ringOk = true;
    for (int st = 0; st < steps; st++) {
        auto q = randn((size_t)s.B * ldq, 1.0, rng, false), k = randn((size_t)s.B * ldk, 1.0, rng, false),
             v = randn((size_t)s.B * ldv, 1.0, rng, false);
        DeviceArray<float> dq(q.size()), dk(k.size()), dv(v.size());
        put(dq, q);
        put(dk, k);
        put(dv, v);
        for (size_t i = 0; i < part.n; i++) part[i] = NAN;
        for (int b = 0; b < s.B; b++) positions[b] = s.pos[b] + st;
        DeviceArray<T> o((size_t)s.B * s.H * D);
        for (size_t i = 0; i < o.n; i++) o[i] = (T)NAN;
        sim::launch({(unsigned)s.S, (unsigned)(s.Hkv * HC), (unsigned)s.B}, {attd::THREADS, 1, 1}, attd::SMEM_BYTES, [&] {
            attd::decode<T, D, HG>(o.ptr(), part.ptr(), counters.ptr(), dq.ptr(), ldq, dk.ptr(), ldk, dv.ptr(), ldv, caches.ptr(),
                                   capacity.ptr(), positions.ptr(), dcos.ptr(), dsin.ptr(), maxPos, s.H, s.Hkv, s.window, scale,
                                   s.minChunk);
        });
        o.check("o");
        for (size_t i = 0; i < counters.n; i++) ringOk &= counters[i] == 0;
        auto out = get(o);
        got.insert(got.end(), out.begin(), out.end());
        for (int b = 0; b < s.B; b++) {
            const int p = s.pos[b] + st, cap = s.cap[b], lo = s.window > 0 ? std::max(0, p - s.window + 1) : 0;
            // The new key (rotated) and value, rounded to the ring's type, go to row p % cap.
            auto rope = [&](const float* x, int i) -> double {
                const int j = i % half;
                const double c = cosT[(size_t)p * half + j], sn = sinT[(size_t)p * half + j];
                return i < half ? x[i] * c - x[i + half] * sn : x[i] * c + x[i - half] * sn;
            };
            for (int kv = 0; kv < s.Hkv; kv++)
                for (int i = 0; i < D; i++) {
                    const float kn = (float)rope(&k[(size_t)b * ldk + kv * D], i), vn = v[(size_t)b * ldv + kv * D + i];
                    rk[b][(size_t)(p % cap) * row + kv * D + i] = isbf ? bf(kn) : kn;
                    rv[b][(size_t)(p % cap) * row + kv * D + i] = isbf ? bf(vn) : vn;
                }
            for (int h = 0; h < s.H; h++) {
                const int kv = h / G;
                std::vector<double> sc;
                double mx = -INFINITY;
                for (int j = lo; j <= p; j++) {
                    double dot = 0;
                    for (int i = 0; i < D; i++) dot += rope(&q[(size_t)b * ldq + h * D], i) * scale * rk[b][(size_t)(j % cap) * row + kv * D + i];
                    sc.push_back(dot);
                    mx = std::max(mx, dot);
                }
                double sum = 0;
                for (double x : sc) sum += std::exp(x - mx);
                for (int i = 0; i < D; i++) {
                    double acc = 0;
                    for (int j = lo; j <= p; j++) acc += std::exp(sc[j - lo] - mx) / sum * rv[b][(size_t)(j % cap) * row + kv * D + i];
                    ref.push_back(acc);
                }
            }
        }
    }
    check(std::string(tag) + " o", got, ref, isbf ? 1e-2 : 1e-5);
    size_t ringDiff = 0;
    for (int b = 0; b < s.B; b++) {
        auto a = get(*kc[b]), c = get(*vc[b]);
        kc[b]->check("k ring");
        vc[b]->check("v ring");
        for (size_t i = 0; i < a.size(); i++) {
            ringDiff += std::fabs(a[i] - rk[b][i]) > 1e-6f * (1 + std::fabs(rk[b][i]));
            ringDiff += c[i] != rv[b][i];
        }
    }
    report(ringDiff == 0, std::string(tag) + " rings (new rows stored, others kept)", "%.0f differing (tol %.0f)", (double)ringDiff, 0);
    report(ringOk, std::string(tag) + " counters reset", "%.0f (tol %.0f)", ringOk ? 0 : 1, 0);
    for (auto* d : kc) delete d;
    for (auto* d : vc) delete d;
}

// ---------------------------------------------------------------- scoring

template <typename T>
static void scoring_case(int V, std::vector<int> lengths, std::mt19937& rng) {
    const bool isbf = sizeof(T) == 2;
    const int C = (int)lengths.size();
    std::vector<int> first(C + 1, 0);
    for (int c = 0; c < C; c++) first[c + 1] = first[c] + lengths[c];
    const int R = first[C];
    auto logits = randn((size_t)R * V, 3.0, rng, isbf);
    std::vector<int> targets(R);
    std::uniform_int_distribution<int> id(0, V - 1);
    for (int r = 0; r < R; r++) {
        const float* x = &logits[(size_t)r * V];
        const int am = (int)(std::max_element(x, x + V) - x);
        targets[r] = (r % 3 == 0) ? id(rng) : am;  // mostly greedy, some not
    }
    for (int c = 0; c < C; c += 2)  // every other continuation wholly greedy
        for (int r = first[c]; r < first[c + 1]; r++) targets[r] = (int)(std::max_element(&logits[(size_t)r * V], &logits[(size_t)r * V] + V) - &logits[(size_t)r * V]);
    // A tie for the maximum: the first index is the argmax.
    if (R > 1) {
        float* x = &logits[(size_t)1 * V];
        const int am = (int)(std::max_element(x, x + V) - x);
        x[V - 1] = x[am];
        targets[1] = V - 1;  // not greedy: index am comes first
    }
    DeviceArray<T> dl(logits.size());
    put(dl, logits);
    DeviceArray<int> dt(R), df(C + 1);
    for (int r = 0; r < R; r++) dt[r] = targets[r];
    for (int c = 0; c <= C; c++) df[c] = first[c];
    DeviceArray<double> sums(C);
    DeviceArray<int> greedy(C);
    sim::launch({(unsigned)C, 1, 1}, {scoring::THREADS, 1, 1}, 0, [&] {
        scoring::score<T>(sums.ptr(), greedy.ptr(), dl.ptr(), dt.ptr(), df.ptr(), V);
    });
    double worst = 0;
    size_t flags = 0;
    for (int c = 0; c < C; c++) {
        double total = 0;
        bool all = true;
        for (int r = first[c]; r < first[c + 1]; r++) {
            const float* x = &logits[(size_t)r * V];
            double mx = -INFINITY, z = 0;
            int am = 0;
            for (int j = 0; j < V; j++) {
                if (x[j] > x[am]) am = j;
                mx = std::max(mx, (double)x[j]);
            }
            for (int j = 0; j < V; j++) z += std::exp(x[j] - mx);
            total += x[targets[r]] - (mx + std::log(z));
            all &= am == targets[r];
        }
        worst = std::max(worst, std::fabs(sums[c] - total) / (1 + std::fabs(total)));
        flags += (greedy[c] != 0) != all;
    }
    char tag[96];
    std::snprintf(tag, sizeof tag, "scoring %s V%d C%d R%d", isbf ? "bf16" : "f32 ", V, C, R);
    report(worst <= 1e-6, std::string(tag) + " sums", "%.3e (tol %.0e)", worst, 1e-6);
    report(flags == 0, std::string(tag) + " greedy flags", "%.0f wrong (tol %.0f)", (double)flags, 0);
}

int main(int argc, char** argv) {
    const unsigned seed = argc > 1 ? (unsigned)std::atoi(argv[1]) : 1;
    const std::string only = argc > 2 ? argv[2] : "";
    sim::rng.seed(seed);
    std::mt19937 rng(seed * 6151u + 11);
    auto want = [&](const char* name) { return only.empty() || only == name; };
    if (want("linear")) {
        // Segment boundaries inside 16-row tiles, a last partial tile, K not a multiple of 8 warps' k-steps.
        linear_case<dl::RMS, dl::STORE, 1>(1, 256, {40, 13, 13, 6}, rng);
        linear_case<dl::RMS, dl::STORE, 1>(8, 96, {16, 16, 0, 33}, rng);
        linear_case<dl::RMS, dl::STORE, 2>(11, 320, {32, 8, 8, 8}, rng);
        linear_case<dl::GATE, dl::ADD, 1>(3, 256, {48, 0, 0, 0}, rng);
        linear_case<dl::GATE, dl::ADD, 2>(16, 160, {37, 0, 0, 0}, rng);
        linear_case<dl::PLAIN, dl::ADD, 1>(5, 1024, {32, 0, 0, 0}, rng);
        linear_case<dl::PLAIN, dl::ADD, 2>(9, 64, {20, 0, 0, 0}, rng);
        linear_case<dl::RMS, dl::SWIGLU, 1>(2, 128, {48, 0, 0, 0}, rng);
        linear_case<dl::RMS, dl::SWIGLU, 2>(13, 256, {24, 0, 0, 0}, rng);
        // Warps with more k-steps than their ring has slots (8, SwiGLU 4): the ring wraps, the down projection's K.
        linear_case<dl::PLAIN, dl::ADD, 1>(1, 8192, {40, 0, 0, 0}, rng);
        linear_case<dl::RMS, dl::STORE, 2>(16, 2336, {24, 8, 8, 3}, rng);
        linear_case<dl::RMS, dl::SWIGLU, 1>(1, 2080, {20, 0, 0, 0}, rng);
        linear_case<dl::GATE, dl::ADD, 2>(12, 2848, {18, 0, 0, 0}, rng);
        linear_rows_case<dl::RMS, dl::STORE>(2336, 24, rng);
        linear_rows_case<dl::GATE, dl::ADD>(1312, 16, rng);
        linear_rows_case<dl::PLAIN, dl::ADD>(2592, 20, rng);
        linear_rows_case<dl::RMS, dl::SWIGLU>(2080, 9, rng);
    }
    if (want("gsa")) {
        gsa_case<float>({3, 4, 2, 64, 64, 16}, rng);
        gsa_case<float>({2, 3, 1, 128, 64, 64}, rng);
        gsa_case<bf16>({2, 4, 4, 64, 128, 32}, rng);
        gsa_case<bf16>({1, 8, 2, 64, 64, 64}, rng);
    }
    if (want("attention")) {
        // Several splits with work, empty splits, the new row in the middle split, rings that wrap
        // (window = capacity), grown rings (capacity past the position), G = 3 (a masked head), 8 (two groups).
        attention_case<float, 64, 4>({2, 6, 2, 0, 4, 8, {37, 5}, {64, 16}}, rng);
        attention_case<bf16, 64, 4>({1, 16, 2, 0, 3, 4, {100}, {128}}, rng);
        attention_case<bf16, 64, 2>({2, 4, 2, 24, 5, 2, {70, 10}, {24, 24}}, rng);
        attention_case<float, 128, 1>({1, 2, 2, 0, 8, 64, {40}, {48}}, rng);
        attention_case<bf16, 128, 4>({1, 4, 1, 17, 2, 4, {33}, {17}}, rng);
        attention_case<float, 64, 2>({3, 2, 1, 0, 1, 16, {0, 1, 63}, {16, 16, 80}}, rng);
        // Long rings: many pipeline iterations a warp (every stage reused), splits of different lengths, a ring
        // that wraps many times under a window; many more splits than a short context fills (the empty ones
        // return and the merge counts only the others), rows of one batch with different numbers of active splits.
        attention_case<bf16, 64, 4>({1, 8, 2, 0, 3, 64, {1500}, {2048}}, rng);
        attention_case<bf16, 64, 4>({2, 8, 2, 0, 16, 8, {700, 90}, {1024, 128}}, rng);
        attention_case<float, 128, 2>({1, 4, 2, 0, 2, 64, {900}, {1024}}, rng);
        attention_case<bf16, 128, 1>({1, 2, 2, 300, 6, 16, {1234}, {300}}, rng);
        attention_case<bf16, 64, 4>({3, 12, 4, 0, 64, 64, {100, 5, 300}, {128, 8, 512}}, rng);
        attention_case<float, 64, 4>({2, 6, 2, 0, 64, 64, {1, 130}, {4, 256}}, rng);
        attention_case<bf16, 128, 2>({2, 4, 2, 0, 16, 256, {1000, 40}, {1024, 64}}, rng);  // a multi-wave launch's shortest split
    }
    if (want("scoring")) {
        scoring_case<float>(1000, {1, 3, 5, 30}, rng);
        scoring_case<bf16>(513, {2, 2, 7}, rng);
    }
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
